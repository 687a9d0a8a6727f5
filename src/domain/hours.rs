//! Hours actually worked (DESIGN.md R2, R3, R9): lines the billing system submits, the checks
//! that refuse them, the four-eyes decision, corrections, and the cost of a set of entries —
//! per intercedent, per rate, per period, rounded once per line (§4).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Contract, ContractId, HourlyRate, IntercedentId, Minutes, RateSchedule, RawDate, Violations, parse_date};
use crate::domain::ids::LineReference;
use crate::domain::money::Cents;

/// Most lines in one submission.
pub const HOUR_LINES_PER_BATCH_MAX: usize = 1_000;
/// Most entries decided in one verification call.
pub const DECISIONS_PER_CALL_MAX: usize = 1_000;
/// Minutes in a day: no intercedent works more on one date.
pub const MINUTES_PER_DAY_MAX: i64 = 24 * 60;
/// Longest note or rejection reason, in characters.
pub const NOTE_LEN_MAX: usize = 500;

/// The kind of time a line records. Only work is chargeable: Flextensie carries no employer or
/// sickness risk, so every kind of absence is refused (R2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    /// Hours actually worked.
    Work,
    /// Sick leave.
    Sickness,
    /// Leave (verlof).
    Leave,
    /// A public or personal holiday.
    Holiday,
    /// Any other absence.
    OtherAbsence,
}

impl TimeKind {
    /// Why time of this kind is refused, or `None` for work.
    #[must_use]
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            TimeKind::Work => None,
            TimeKind::Sickness => Some(
                "sickness is not chargeable: Flextensie carries no sickness risk; submit only hours actually worked",
            ),
            TimeKind::Leave => Some("leave is not chargeable: submit only hours actually worked"),
            TimeKind::Holiday => Some("holidays are not chargeable: submit only hours actually worked"),
            TimeKind::OtherAbsence => Some("absence is not chargeable: submit only hours actually worked"),
        }
    }
}

/// A submitted line exactly as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourLineInput {
    /// The intercedent's id within the contract.
    pub intercedent: String,
    /// The day worked.
    pub work_date: Option<RawDate>,
    /// The kind of time; `None` when unspecified.
    pub kind: Option<TimeKind>,
    /// Whole minutes.
    pub minutes: i64,
    /// The billing system's reference of the line.
    pub line_reference: String,
    /// An optional note.
    pub note: String,
}

/// A line checked on its own: work, positive minutes within a day, a real date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourLine {
    /// The intercedent.
    pub intercedent: IntercedentId,
    /// The day worked.
    pub work_date: NaiveDate,
    /// Minutes worked, 1 to [`MINUTES_PER_DAY_MAX`].
    pub minutes: Minutes,
    /// The billing system's reference, the entry's id.
    pub line_reference: LineReference,
    /// Note, at most [`NOTE_LEN_MAX`] characters.
    pub note: String,
}

/// Checks a note or reason: bounded, no control characters but line breaks.
///
/// # Errors
/// A description of the violated bound.
pub fn parse_note(raw: &str) -> Result<String, String> {
    super::text::check_free_text(raw, NOTE_LEN_MAX, super::text::Lines::Many)?;
    Ok(raw.to_owned())
}

/// A note that must say something (a rejection's reason, a decision's reasons): as
/// [`parse_note`], and not blank; `required` says what it must hold.
///
/// # Errors
/// The violated bound, or ``is required: {required}``.
pub fn parse_required_note(raw: &str, required: &str) -> Result<String, String> {
    let note = parse_note(raw)?;
    if note.trim().is_empty() { Err(format!("is required: {required}")) } else { Ok(note) }
}

impl HourLine {
    /// Checks a line on its own; fields are named relative to the line.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(input: &HourLineInput) -> Result<HourLine, Violations> {
        let mut v = Violations::new();
        let intercedent = v.check("intercedent", IntercedentId::parse(&input.intercedent));
        let work_date = v.check("work_date", parse_date(input.work_date));
        match input.kind {
            None => v.add("kind", "is required: TIME_KIND_WORK (only hours actually worked are chargeable)"),
            Some(kind) => {
                if let Some(refusal) = kind.refusal() {
                    v.add("kind", refusal);
                }
            }
        }
        if !(1..=MINUTES_PER_DAY_MAX).contains(&input.minutes) {
            v.add("minutes", format!("must be from 1 to {MINUTES_PER_DAY_MAX} whole minutes, got {}", input.minutes));
        }
        let line_reference = v.check("line_reference", LineReference::parse(&input.line_reference));
        let note = v.check("note", parse_note(&input.note));
        match (intercedent, work_date, line_reference, note) {
            (Some(intercedent), Some(work_date), Some(line_reference), Some(note)) if v.is_empty() => {
                Ok(HourLine { intercedent, work_date, minutes: Minutes::new(input.minutes), line_reference, note })
            }
            _ => Err(v),
        }
    }
}

/// What is already recorded that a submission is checked against.
#[derive(Debug, Clone, Default)]
pub struct RecordedHours {
    /// Rate schedules of the contract's intercedents that the lines name; a name missing here
    /// is not an intercedent of the contract.
    pub rates: HashMap<IntercedentId, RateSchedule>,
    /// Minutes already recorded per intercedent and day, rejected entries left out.
    pub day_minutes: HashMap<(IntercedentId, NaiveDate), i64>,
    /// Entries that already use one of the lines' references.
    pub existing: HashMap<LineReference, HourEntry>,
}

/// What becomes of a checked line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// A new entry to record.
    New(HourLine),
    /// The same line was recorded before: nothing to do, the existing entry is the answer.
    Recorded(Box<HourEntry>),
}

/// Checks lines against the contract and what is recorded (R2, R3): a date not in the future,
/// within the term and on or after the intercedent's first rate; an intercedent of the
/// contract; at most a day's minutes per intercedent and date; a line reference used before
/// only for the same content. Each line comes with its index in the request, and fields are
/// named `entries[index].…`.
///
/// # Errors
/// Every violation of every line.
pub fn check_lines(
    contract: &Contract,
    today: NaiveDate,
    lines: Vec<(usize, HourLine)>,
    recorded: &RecordedHours,
) -> Result<Vec<LineOutcome>, Violations> {
    let mut v = Violations::new();
    let mut day_minutes = recorded.day_minutes.clone();
    let mut seen: HashMap<&LineReference, usize> = HashMap::new();
    let mut outcomes = Vec::with_capacity(lines.len());
    for (index, line) in &lines {
        let index = *index;
        let field = |name: &str| format!("entries[{index}].{name}");
        if let Some(first) = seen.insert(&line.line_reference, index) {
            v.add(field("line_reference"), format!("is used twice in this submission (also by entries[{first}])"));
            continue;
        }
        if let Some(existing) = recorded.existing.get(&line.line_reference) {
            if existing.same_line_as(line) {
                outcomes.push(LineOutcome::Recorded(Box::new(existing.clone())));
            } else {
                v.add(
                    field("line_reference"),
                    format!(
                        "{} was used before for other content; a line reference names one line",
                        line.line_reference.as_str()
                    ),
                );
            }
            continue;
        }
        if line.work_date > today {
            v.add(field("work_date"), format!("{} is in the future; only hours already worked count", line.work_date));
        } else if !contract.covers(line.work_date) {
            v.add(
                field("work_date"),
                format!(
                    "{} is outside the contract ({} to {})",
                    line.work_date,
                    contract.terms.start_date(),
                    contract.end_date().map_or_else(|| "?".to_owned(), |end| end.to_string())
                ),
            );
        }
        match recorded.rates.get(&line.intercedent) {
            None => v.add(
                field("intercedent"),
                format!("{} is not an intercedent of this contract", line.intercedent.as_str()),
            ),
            Some(schedule) if schedule.rate_on(line.work_date).is_none() => {
                v.add(field("work_date"), format!("{} is before the intercedent's first hourly rate", line.work_date))
            }
            Some(_) => {}
        }
        let day = day_minutes.entry((line.intercedent.clone(), line.work_date)).or_insert(0);
        *day += line.minutes.get();
        if *day > MINUTES_PER_DAY_MAX {
            v.add(
                field("minutes"),
                format!(
                    "would bring {} on {} to {} minutes; a day has {MINUTES_PER_DAY_MAX}",
                    line.intercedent.as_str(),
                    line.work_date,
                    *day
                ),
            );
        }
        outcomes.push(LineOutcome::New(line.clone()));
    }
    v.into_result(|| outcomes)
}

/// Who decided an entry, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Verified or rejected.
    pub verdict: Verdict,
    /// The deciding principal's subject.
    pub decided_by: String,
    /// When.
    pub decide_time: DateTime<Utc>,
    /// Why, for a rejection.
    pub reason: Option<String>,
}

/// The outcome of the other party's check (R9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Counts.
    Verified,
    /// Does not count.
    Rejected,
}

impl Verdict {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "VERIFIED",
            Verdict::Rejected => "REJECTED",
        }
    }

    /// Parses a stable name.
    ///
    /// # Errors
    /// A description of the allowed names.
    pub fn parse(raw: &str) -> Result<Verdict, String> {
        match raw {
            "VERIFIED" => Ok(Verdict::Verified),
            "REJECTED" => Ok(Verdict::Rejected),
            other => Err(format!("unknown verdict {other:?}")),
        }
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryState {
    /// Waiting for the other party.
    Submitted,
    /// Verified: chargeable.
    Verified,
    /// Rejected: not chargeable.
    Rejected,
}

impl EntryState {
    /// Every state, in order.
    pub const ALL: [EntryState; 3] = [EntryState::Submitted, EntryState::Verified, EntryState::Rejected];

    /// The state an input is in with this decision's verdict, or none.
    #[must_use]
    pub fn of(verdict: Option<Verdict>) -> EntryState {
        match verdict {
            None => EntryState::Submitted,
            Some(Verdict::Verified) => EntryState::Verified,
            Some(Verdict::Rejected) => EntryState::Rejected,
        }
    }
}

/// A recorded hour entry or correction. Never edited: the decision is recorded beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourEntry {
    /// The contract.
    pub contract_id: ContractId,
    /// The billing system's line reference: the entry's id.
    pub id: LineReference,
    /// The intercedent.
    pub intercedent: IntercedentId,
    /// The day worked.
    pub work_date: NaiveDate,
    /// The first day of the settlement period holding the work date.
    pub period_start: NaiveDate,
    /// Minutes; negative only in a correction that takes hours back.
    pub minutes: Minutes,
    /// Note.
    pub note: String,
    /// For a correction: the entry it corrects.
    pub corrects: Option<LineReference>,
    /// Dated in a period already settled when recorded: the next statement carries it.
    pub late: bool,
    /// The submitting principal's subject.
    pub submitted_by: String,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// The other party's decision, once made.
    pub decision: Option<Decision>,
}

impl HourEntry {
    /// Where the entry stands.
    #[must_use]
    pub fn state(&self) -> EntryState {
        EntryState::of(self.decision.as_ref().map(|decision| decision.verdict))
    }

    /// True when `line` is this entry's content (an idempotent resubmission).
    #[must_use]
    pub fn same_line_as(&self, line: &HourLine) -> bool {
        self.corrects.is_none()
            && self.intercedent == line.intercedent
            && self.work_date == line.work_date
            && self.minutes == line.minutes
            && self.note == line.note
    }
}

/// Why an entry cannot be decided, verified or corrected. Stable names, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// The decider submitted the entry (four-eyes rule, R9).
    SameAsSubmitter,
    /// The entry was verified or rejected already; decisions are final.
    AlreadyDecided,
    /// Only a verified entry can be corrected.
    NotVerified,
    /// A correction corrects an original entry, not another correction.
    CorrectsACorrection,
    /// The correction would take back more minutes than the entry holds.
    NetMinutesNegative,
    /// The correction would take back more money than the record holds.
    NetAmountNegative,
    /// The decider belongs to the party that submitted (R9: the other party verifies).
    SameParty,
    /// The correction would bring the day past 24 hours.
    DayOverfull,
}

impl Refusal {
    /// The stable name, used as the precondition type on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::SameAsSubmitter => "FOUR_EYES",
            Refusal::AlreadyDecided => "ALREADY_DECIDED",
            Refusal::NotVerified => "NOT_VERIFIED",
            Refusal::CorrectsACorrection => "CORRECTS_A_CORRECTION",
            Refusal::NetMinutesNegative => "NET_MINUTES_NEGATIVE",
            Refusal::NetAmountNegative => "NET_AMOUNT_NEGATIVE",
            Refusal::SameParty => "SAME_PARTY",
            Refusal::DayOverfull => "DAY_OVERFULL",
        }
    }
}

/// Checks that `decider` may verify or reject `entry` (R9): not its submitter, not decided yet.
///
/// # Errors
/// The refusal and a description.
pub fn check_decision(entry: &HourEntry, decider: &str) -> Result<(), (Refusal, String)> {
    check_undecided(entry.decision.as_ref(), &entry.submitted_by, decider)
}

/// Checks that an input submitted by `submitted_by` and decided as `decision` may now be
/// decided by `decider`: not decided yet, and not by its submitter (four-eyes, R9).
///
/// # Errors
/// The refusal and a description.
pub fn check_undecided(
    decision: Option<&Decision>,
    submitted_by: &str,
    decider: &str,
) -> Result<(), (Refusal, String)> {
    if let Some(decision) = decision {
        return Err((
            Refusal::AlreadyDecided,
            format!("was {} by {}; a decision is final", decision.verdict.as_str().to_lowercase(), decision.decided_by),
        ));
    }
    if submitted_by == decider {
        return Err((
            Refusal::SameAsSubmitter,
            "was submitted by the same principal; the other party must verify it (four-eyes rule)".to_owned(),
        ));
    }
    Ok(())
}

/// A checked correction: signed minutes against an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionLine {
    /// The corrected entry.
    pub corrects: LineReference,
    /// Signed minutes, not zero; negative takes hours back.
    pub minutes: Minutes,
    /// The billing system's reference of the correction line.
    pub line_reference: LineReference,
    /// Note.
    pub note: String,
}

impl CorrectionLine {
    /// Checks a correction on its own.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(corrects: LineReference, minutes: i64, line_reference: &str, note: &str) -> Result<Self, Violations> {
        let mut v = Violations::new();
        // `unsigned_abs`: `abs` of i64::MIN overflows (and wraps in a release build).
        if minutes == 0 || minutes.unsigned_abs() > MINUTES_PER_DAY_MAX.unsigned_abs() {
            v.add(
                "minutes",
                format!("must be signed whole minutes, not 0, at most {MINUTES_PER_DAY_MAX} either way; got {minutes}"),
            );
        }
        let line_reference = v.check("line_reference", LineReference::parse(line_reference));
        let note = v.check("note", parse_note(note));
        match (line_reference, note) {
            (Some(line_reference), Some(note)) if v.is_empty() => {
                Ok(CorrectionLine { corrects, minutes: Minutes::new(minutes), line_reference, note })
            }
            _ => Err(v),
        }
    }
}

/// Whether minutes count toward an intercedent's day when checking the 24-hour limit: the worst
/// case, since any pending entry or correction may still be rejected — pending positive
/// minutes count, pending negative corrections do not, rejected ones never.
#[must_use]
pub fn counts_toward_day(minutes: i64, verdict: Option<Verdict>) -> bool {
    match verdict {
        Some(Verdict::Rejected) => false,
        Some(Verdict::Verified) => true,
        None => minutes > 0,
    }
}

/// Whether minutes count toward what an entry holds with its corrections when checking that a
/// correction never takes back more than was worked: the worst case again — pending negative
/// corrections count, pending positive ones do not, rejected ones never.
#[must_use]
pub fn counts_toward_net_lower_bound(minutes: i64, verdict: Option<Verdict>) -> bool {
    match verdict {
        Some(Verdict::Rejected) => false,
        Some(Verdict::Verified) => true,
        None => minutes < 0,
    }
}

/// Checks a correction of `original` (R2, §4 "correct, never edit"): only a verified original
/// entry; its minutes with every correction not rejected stay at or above zero; the day stays
/// within 24 hours.
///
/// # Errors
/// The refusal and a description.
pub fn check_correction(
    original: &HourEntry,
    net_minutes: i64,
    day_minutes: i64,
    correction: &CorrectionLine,
) -> Result<(), (Refusal, String)> {
    if original.corrects.is_some() {
        return Err((Refusal::CorrectsACorrection, "is itself a correction; correct the original entry".to_owned()));
    }
    if original.state() != EntryState::Verified {
        return Err((
            Refusal::NotVerified,
            "is not verified; a submitted entry is rejected by the other party instead, a rejected one never counted"
                .to_owned(),
        ));
    }
    let after = net_minutes.saturating_add(correction.minutes.get());
    if after < 0 {
        return Err((
            Refusal::NetMinutesNegative,
            format!(
                "holds {net_minutes} minutes with its corrections; {} would take back more",
                correction.minutes.get()
            ),
        ));
    }
    let day = day_minutes.saturating_add(correction.minutes.get());
    if day > MINUTES_PER_DAY_MAX {
        return Err((
            Refusal::DayOverfull,
            format!("would bring its day to {day} minutes; a day has {MINUTES_PER_DAY_MAX}"),
        ));
    }
    Ok(())
}

/// One line of cost: one intercedent, one rate, one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostLine {
    /// The intercedent.
    pub intercedent: IntercedentId,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// The rate.
    pub rate: HourlyRate,
    /// Minutes at that rate in that period (net of corrections).
    pub minutes: Minutes,
    /// `round(minutes × rate / 60)`, half away from zero.
    pub cost: Cents,
}

/// Minutes at a known rate: the input of [`cost_lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedMinutes {
    /// The intercedent.
    pub intercedent: IntercedentId,
    /// First day of the period of the work date.
    pub period_start: NaiveDate,
    /// The rate in force on the work date.
    pub rate: HourlyRate,
    /// Minutes (signed for corrections).
    pub minutes: Minutes,
}

/// The cost of a set of entries: one line per intercedent, per rate, per period, each rounded
/// once (DESIGN.md §4), ordered by intercedent, period and rate. `None` on overflow.
#[must_use]
pub fn cost_lines(items: impl IntoIterator<Item = RatedMinutes>) -> Option<Vec<CostLine>> {
    let mut sums: BTreeMap<(IntercedentId, NaiveDate, HourlyRate), i64> = BTreeMap::new();
    for item in items {
        let sum = sums.entry((item.intercedent, item.period_start, item.rate)).or_insert(0);
        *sum = sum.checked_add(item.minutes.get())?;
    }
    sums.into_iter()
        .map(|((intercedent, period_start, rate), minutes)| {
            let minutes = Minutes::new(minutes);
            Some(CostLine { intercedent, period_start, rate, minutes, cost: rate.cost_of(minutes)? })
        })
        .collect()
}

/// The total of cost lines, `None` on overflow.
#[must_use]
pub fn total_cost(lines: &[CostLine]) -> Option<Cents> {
    Cents::checked_sum(lines.iter().map(|line| line.cost))
}

/// Which entries a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only this intercedent's.
    pub intercedent: Option<IntercedentId>,
    /// Only this period's (by its first day).
    pub period_start: Option<NaiveDate>,
    /// Only entries in this state.
    pub state: Option<EntryState>,
}

/// Minutes and entry counts per state, statement, intercedent and work date (so the rate in
/// force can be applied per day, and each statement's share priced as it priced it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySum {
    /// The state of the entries.
    pub state: EntryState,
    /// First day of the period whose statement took the entries in; `None` while no statement
    /// has (the next statement takes them in together).
    pub taken_by: Option<NaiveDate>,
    /// The intercedent.
    pub intercedent: IntercedentId,
    /// The day worked.
    pub work_date: NaiveDate,
    /// Net minutes.
    pub minutes: i64,
    /// Number of entries.
    pub entries: i64,
}

/// Minutes and cost of the entries in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateTotals {
    /// The state.
    pub state: EntryState,
    /// Number of entries, corrections included.
    pub entries: i64,
    /// Net minutes.
    pub minutes: i64,
    /// The sum of the lines.
    pub cost: Cents,
    /// Per statement that took the entries in, per intercedent, per rate, rounded once per
    /// line: hours a later statement took in are its correction line, priced on their own.
    pub lines: Vec<CostLine>,
}

/// Totals of one period per state, in the order of [`EntryState::ALL`]. Entries are priced in
/// the groups the statements priced them in (DESIGN.md §4: one truth per figure): those each
/// statement took in apart, and those no statement took in yet together, as the next statement
/// will price them.
///
/// # Errors
/// A description, when a day has no rate in force (which submission prevents) or a sum
/// overflows.
pub fn totals_by_state(
    period_start: NaiveDate,
    sums: &[DaySum],
    rates: &HashMap<IntercedentId, RateSchedule>,
) -> Result<Vec<StateTotals>, String> {
    EntryState::ALL
        .iter()
        .map(|&state| {
            let days: Vec<&DaySum> = sums.iter().filter(|sum| sum.state == state).collect();
            let mut statements: Vec<Option<NaiveDate>> = days.iter().map(|sum| sum.taken_by).collect();
            statements.sort_unstable();
            statements.dedup();
            let mut lines = Vec::new();
            for taken_by in statements {
                let rated = days
                    .iter()
                    .filter(|sum| sum.taken_by == taken_by)
                    .map(|sum| {
                        let rate = rates
                            .get(&sum.intercedent)
                            .and_then(|schedule| schedule.rate_on(sum.work_date))
                            .ok_or_else(|| {
                                format!("no rate in force for {} on {}", sum.intercedent.as_str(), sum.work_date)
                            })?;
                        Ok(RatedMinutes {
                            intercedent: sum.intercedent.clone(),
                            period_start,
                            rate,
                            minutes: Minutes::new(sum.minutes),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                lines.extend(cost_lines(rated).ok_or("cost overflows")?);
            }
            Ok(StateTotals {
                state,
                entries: days.iter().map(|sum| sum.entries).sum(),
                minutes: days.iter().map(|sum| sum.minutes).sum(),
                cost: total_cost(&lines).ok_or("cost overflows")?,
                lines,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contract::tests_support::worked_example_contract;
    use crate::domain::intercedent::RecordedRate;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn intercedent() -> IntercedentId {
        IntercedentId::parse("int-1").unwrap()
    }

    fn schedule() -> RateSchedule {
        let rate = |date: &str, cents| RecordedRate {
            effective_date: day(date),
            rate: HourlyRate::parse(cents).unwrap(),
            create_time: DateTime::UNIX_EPOCH,
        };
        RateSchedule::new(vec![rate("2027-01-01", 4875), rate("2027-03-01", 5020)])
    }

    fn input(date: (i32, i32, i32), minutes: i64, reference: &str) -> HourLineInput {
        HourLineInput {
            intercedent: "int-1".to_owned(),
            work_date: Some(RawDate { year: date.0, month: date.1, day: date.2 }),
            kind: Some(TimeKind::Work),
            minutes,
            line_reference: reference.to_owned(),
            note: String::new(),
        }
    }

    fn recorded() -> RecordedHours {
        RecordedHours { rates: HashMap::from([(intercedent(), schedule())]), ..RecordedHours::default() }
    }

    fn rated(period: &str, minutes: i64, cents: i64) -> RatedMinutes {
        RatedMinutes {
            intercedent: intercedent(),
            period_start: day(period),
            rate: HourlyRate::parse(cents).unwrap(),
            minutes: Minutes::new(minutes),
        }
    }

    #[test]
    fn the_worked_example_costs_each_month_to_the_cent() {
        let mut items = Vec::new();
        // January's 7,230 minutes as 30 days of 241 minutes: rounded once per line, not per entry.
        items.extend((0..30).map(|_| rated("2027-01-01", 241, 4875)));
        items.extend((0..20).map(|_| rated("2027-02-01", 300, 4875)));
        items.extend((0..22).map(|_| rated("2027-03-01", 300, 5020)));
        let lines = cost_lines(items).unwrap();
        let costs: Vec<String> = lines.iter().map(|line| line.cost.to_string()).collect();
        assert_eq!(costs, ["5874.38", "4875.00", "5522.00"]);
        assert_eq!(lines[0].minutes, Minutes::new(7_230));
        assert_eq!(total_cost(&lines).unwrap().to_string(), "16271.38");
        // Rounding per entry would have lost 8 cents in January.
        let per_entry = HourlyRate::parse(4875).unwrap().cost_of(Minutes::new(241)).unwrap().cents() * 30;
        assert_eq!(per_entry, 587_430);
    }

    #[test]
    fn totals_apply_the_rate_of_each_day_and_keep_states_apart() {
        let sum = |state, date: &str, minutes| DaySum {
            state,
            taken_by: None,
            intercedent: intercedent(),
            work_date: day(date),
            minutes,
            entries: 1,
        };
        let sums = [
            sum(EntryState::Verified, "2027-02-27", 60),
            sum(EntryState::Verified, "2027-03-01", 60),
            sum(EntryState::Rejected, "2027-03-02", 30),
        ];
        let rates = HashMap::from([(intercedent(), schedule())]);
        let totals = totals_by_state(day("2027-02-01"), &sums, &rates).unwrap();
        let states: Vec<EntryState> = totals.iter().map(|totals| totals.state).collect();
        assert_eq!(states, EntryState::ALL);
        assert_eq!(totals[0].entries, 0);
        assert_eq!((totals[1].minutes, totals[1].cost.cents(), totals[1].lines.len()), (120, 4875 + 5020, 2));
        assert_eq!((totals[2].minutes, totals[2].cost.cents()), (30, 2510));
    }

    #[test]
    fn hours_a_later_statement_took_in_are_priced_on_their_own() {
        // One minute settled with January, one late minute taken in by February's statement:
        // 0.81 + 0.81, as the statements say — not 1.63 for two minutes priced together.
        let sum = |taken_by: &str| DaySum {
            state: EntryState::Verified,
            taken_by: Some(day(taken_by)),
            intercedent: intercedent(),
            work_date: day("2027-01-04"),
            minutes: 1,
            entries: 1,
        };
        let rates = HashMap::from([(intercedent(), schedule())]);
        let totals = totals_by_state(day("2027-01-01"), &[sum("2027-01-01"), sum("2027-02-01")], &rates).unwrap();
        let verified = &totals[1];
        assert_eq!(verified.state, EntryState::Verified);
        assert_eq!((verified.cost.cents(), verified.lines.len()), (162, 2));
        let together = DaySum { taken_by: None, minutes: 2, ..sum("2027-01-01") };
        let totals = totals_by_state(day("2027-01-01"), &[together], &rates).unwrap();
        assert_eq!(totals[1].cost.cents(), 163);
    }

    #[test]
    fn a_rate_change_inside_a_period_makes_two_lines() {
        let lines = cost_lines(vec![rated("2027-01-01", 60, 4875), rated("2027-01-01", 60, 5020)]).unwrap();
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn corrections_net_within_their_line() {
        let lines = cost_lines(vec![rated("2027-01-01", 600, 4875), rated("2027-01-01", -120, 4875)]).unwrap();
        assert_eq!(lines[0].minutes, Minutes::new(480));
        assert_eq!(lines[0].cost.to_string(), "390.00");
    }

    #[test]
    fn absence_of_every_kind_is_refused_by_name() {
        for (kind, word) in [
            (TimeKind::Sickness, "sickness"),
            (TimeKind::Leave, "leave"),
            (TimeKind::Holiday, "holiday"),
            (TimeKind::OtherAbsence, "absence"),
        ] {
            let line = HourLineInput { kind: Some(kind), ..input((2027, 1, 4), 60, "l-1") };
            let violations = HourLine::parse(&line).unwrap_err();
            assert_eq!(violations.items()[0].field, "kind");
            assert!(violations.items()[0].description.contains(word), "{kind:?}");
        }
    }

    #[test]
    fn a_correction_of_i64_min_minutes_is_refused_not_wrapped() {
        let entry = LineReference::parse("l-1").unwrap();
        for minutes in [i64::MIN, i64::MAX, -(MINUTES_PER_DAY_MAX + 1), 0] {
            let refused = CorrectionLine::parse(entry.clone(), minutes, "c-1", "").unwrap_err();
            assert_eq!(refused.items()[0].field, "minutes", "{minutes}");
        }
        assert!(CorrectionLine::parse(entry, -MINUTES_PER_DAY_MAX, "c-1", "").is_ok());
    }

    #[test]
    fn minutes_must_be_positive_and_within_a_day() {
        for minutes in [0, -5, MINUTES_PER_DAY_MAX + 1] {
            let violations = HourLine::parse(&input((2027, 1, 4), minutes, "l-1")).unwrap_err();
            assert_eq!(violations.items()[0].field, "minutes");
        }
    }

    fn check(inputs: &[HourLineInput], recorded: &RecordedHours) -> Result<Vec<LineOutcome>, Violations> {
        let lines = inputs.iter().map(|line| HourLine::parse(line).unwrap()).enumerate().collect();
        check_lines(&worked_example_contract(), day("2027-06-30"), lines, recorded)
    }

    fn fields(violations: &Violations) -> Vec<&str> {
        violations.items().iter().map(|item| item.field.as_str()).collect()
    }

    #[test]
    fn every_bad_line_of_a_batch_is_named_by_index() {
        let lines = [
            input((2027, 1, 4), 480, "ok-1"),
            input((2027, 7, 1), 60, "future"),
            input((2026, 12, 31), 60, "before-start"),
            input((2027, 1, 5), 1000, "day-1"),
            input((2027, 1, 5), 441, "day-2"),
            input((2027, 1, 6), 60, "ok-1"),
        ];
        let violations = check(&lines, &recorded()).unwrap_err();
        assert_eq!(
            fields(&violations),
            [
                "entries[1].work_date",
                "entries[2].work_date",
                "entries[2].work_date",
                "entries[4].minutes",
                "entries[5].line_reference"
            ]
        );
    }

    #[test]
    fn an_unknown_intercedent_and_a_date_before_the_first_rate_are_refused() {
        let mut stranger = input((2027, 1, 4), 60, "l-1");
        stranger.intercedent = "int-2".to_owned();
        let violations = check(&[stranger], &recorded()).unwrap_err();
        assert_eq!(fields(&violations), ["entries[0].intercedent"]);
        let late_rates = RecordedHours {
            rates: HashMap::from([(intercedent(), RateSchedule::new(vec![]))]),
            ..RecordedHours::default()
        };
        let violations = check(&[input((2027, 1, 4), 60, "l-1")], &late_rates).unwrap_err();
        assert_eq!(fields(&violations), ["entries[0].work_date"]);
    }

    #[test]
    fn recorded_minutes_count_toward_the_day() {
        let mut recorded = recorded();
        recorded.day_minutes.insert((intercedent(), day("2027-01-04")), 1_400);
        let violations = check(&[input((2027, 1, 4), 41, "l-1")], &recorded).unwrap_err();
        assert_eq!(fields(&violations), ["entries[0].minutes"]);
        assert!(check(&[input((2027, 1, 4), 40, "l-1")], &recorded).is_ok());
    }

    fn entry(line: &HourLine, submitted_by: &str) -> HourEntry {
        HourEntry {
            contract_id: ContractId::parse("utrecht").unwrap(),
            id: line.line_reference.clone(),
            intercedent: line.intercedent.clone(),
            work_date: line.work_date,
            period_start: day("2027-01-01"),
            minutes: line.minutes,
            note: line.note.clone(),
            corrects: None,
            late: false,
            submitted_by: submitted_by.to_owned(),
            submit_time: DateTime::UNIX_EPOCH,
            decision: None,
        }
    }

    #[test]
    fn a_line_reference_repeats_only_with_the_same_content() {
        let line = HourLine::parse(&input((2027, 1, 4), 60, "l-1")).unwrap();
        let mut recorded = recorded();
        recorded.existing.insert(line.line_reference.clone(), entry(&line, "billing"));
        let outcomes = check(&[input((2027, 1, 4), 60, "l-1")], &recorded).unwrap();
        assert!(matches!(outcomes[0], LineOutcome::Recorded(_)));
        let violations = check(&[input((2027, 1, 4), 61, "l-1")], &recorded).unwrap_err();
        assert_eq!(fields(&violations), ["entries[0].line_reference"]);
    }

    #[test]
    fn the_submitter_may_not_decide_and_a_decision_is_final() {
        let line = HourLine::parse(&input((2027, 1, 4), 60, "l-1")).unwrap();
        let mut submitted = entry(&line, "alice");
        assert_eq!(check_decision(&submitted, "alice").unwrap_err().0, Refusal::SameAsSubmitter);
        assert!(check_decision(&submitted, "bob").is_ok());
        submitted.decision = Some(Decision {
            verdict: Verdict::Verified,
            decided_by: "bob".to_owned(),
            decide_time: DateTime::UNIX_EPOCH,
            reason: None,
        });
        assert_eq!(check_decision(&submitted, "carol").unwrap_err().0, Refusal::AlreadyDecided);
    }

    #[test]
    fn undecided_corrections_count_against_the_limits_in_the_worst_case() {
        assert!(counts_toward_day(600, None));
        assert!(!counts_toward_day(-600, None));
        assert!(counts_toward_day(-600, Some(Verdict::Verified)));
        assert!(!counts_toward_day(600, Some(Verdict::Rejected)));
        assert!(counts_toward_net_lower_bound(-60, None));
        assert!(!counts_toward_net_lower_bound(60, None));
        assert!(counts_toward_net_lower_bound(60, Some(Verdict::Verified)));
        assert!(!counts_toward_net_lower_bound(-60, Some(Verdict::Rejected)));
    }

    #[test]
    fn a_correction_never_takes_back_more_than_was_worked() {
        let line = HourLine::parse(&input((2027, 1, 4), 60, "l-1")).unwrap();
        let mut original = entry(&line, "alice");
        let correction = |minutes| CorrectionLine::parse(line.line_reference.clone(), minutes, "c-1", "").unwrap();
        assert_eq!(check_correction(&original, 60, 60, &correction(-30)).unwrap_err().0, Refusal::NotVerified);
        original.decision = Some(Decision {
            verdict: Verdict::Verified,
            decided_by: "bob".to_owned(),
            decide_time: DateTime::UNIX_EPOCH,
            reason: None,
        });
        assert!(check_correction(&original, 60, 60, &correction(-60)).is_ok());
        assert_eq!(check_correction(&original, 60, 60, &correction(-61)).unwrap_err().0, Refusal::NetMinutesNegative);
        assert_eq!(check_correction(&original, 60, 1_400, &correction(41)).unwrap_err().0, Refusal::DayOverfull);
        assert!(CorrectionLine::parse(line.line_reference.clone(), 0, "c-1", "").is_err());
    }
}
