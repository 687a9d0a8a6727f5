//! The flexpool: candidates the municipality registers (intake), their motivation check,
//! transitions from arrangement 3 to 1, outflow from benefits and leaving the pool
//! (DESIGN.md R5–R8); and the queries over them: motivated intake in a window, composition on
//! a date, social results over a span.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::parse_reference;
use super::{ContractId, RawDate, Violations, parse_date};
use crate::domain::hours::parse_note;

/// Candidate categories: 1 is close to the labour market, 3 further from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Arrangement {
    /// Arrangement 1.
    One,
    /// Arrangement 3.
    Three,
}

impl Arrangement {
    /// Parses 1 or 3.
    ///
    /// # Errors
    /// A description of the allowed values.
    pub fn parse(raw: i64) -> Result<Arrangement, String> {
        match raw {
            1 => Ok(Arrangement::One),
            3 => Ok(Arrangement::Three),
            other => Err(format!("must be 1 (close to the labour market) or 3 (further from it), got {other}")),
        }
    }

    /// 1 or 3.
    #[must_use]
    pub fn number(self) -> i32 {
        match self {
            Arrangement::One => 1,
            Arrangement::Three => 3,
        }
    }
}

/// What happened to a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// The municipality checked the candidate's motivation: only then does the intake count.
    MotivationCheck,
    /// The candidate moved from arrangement 3 to arrangement 1.
    TransitionTo1,
    /// The candidate left benefits fully.
    FullOutflow,
    /// The candidate left benefits partly.
    PartialOutflow,
    /// The candidate left the pool.
    Left,
}

impl EventKind {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MotivationCheck => "MOTIVATION_CHECK",
            EventKind::TransitionTo1 => "TRANSITION_TO_1",
            EventKind::FullOutflow => "FULL_OUTFLOW",
            EventKind::PartialOutflow => "PARTIAL_OUTFLOW",
            EventKind::Left => "LEFT",
        }
    }

    /// Parses a stable name.
    ///
    /// # Errors
    /// A description of the allowed names.
    pub fn parse(raw: &str) -> Result<EventKind, String> {
        [
            EventKind::MotivationCheck,
            EventKind::TransitionTo1,
            EventKind::FullOutflow,
            EventKind::PartialOutflow,
            EventKind::Left,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
        .ok_or_else(|| format!("unknown candidate event {raw:?}"))
    }
}

/// A checked registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCandidate {
    /// Pseudonymous reference.
    pub id: String,
    /// Arrangement at registration.
    pub arrangement: Arrangement,
    /// Registration date.
    pub registration_date: NaiveDate,
}

impl NewCandidate {
    /// Checks a registration.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(id: &str, arrangement: i64, registration_date: Option<RawDate>) -> Result<NewCandidate, Violations> {
        let mut v = Violations::new();
        let id = v.check("candidate_id", parse_reference(id));
        let arrangement = v.check("candidate.arrangement", Arrangement::parse(arrangement));
        let registration_date = v.check("candidate.registration_date", parse_date(registration_date));
        match (id, arrangement, registration_date) {
            (Some(id), Some(arrangement), Some(registration_date)) if v.is_empty() => {
                Ok(NewCandidate { id, arrangement, registration_date })
            }
            _ => Err(v),
        }
    }
}

/// A checked event to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// What happened.
    pub kind: EventKind,
    /// On which day.
    pub date: NaiveDate,
    /// Who checked the motivation, or why the candidate left (required for those two kinds).
    pub detail: String,
}

impl NewEvent {
    /// Checks an event on its own.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(kind: EventKind, date: Option<RawDate>, detail: &str) -> Result<NewEvent, Violations> {
        let mut v = Violations::new();
        let date = v.check("date", parse_date(date));
        let detail = v.check("detail", parse_note(detail));
        if let Some(detail) = &detail
            && detail.trim().is_empty()
        {
            match kind {
                EventKind::MotivationCheck => v.add("detail", "is required: who checked the motivation"),
                EventKind::Left => v.add("detail", "is required: why the candidate left the pool"),
                EventKind::TransitionTo1 | EventKind::FullOutflow | EventKind::PartialOutflow => {}
            }
        }
        match (date, detail) {
            (Some(date), Some(detail)) if v.is_empty() => Ok(NewEvent { kind, date, detail }),
            _ => Err(v),
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateEvent {
    /// What happened.
    pub kind: EventKind,
    /// On which day.
    pub date: NaiveDate,
    /// Who checked, or why the candidate left.
    pub detail: String,
    /// The recording principal's subject.
    pub recorded_by: String,
    /// When it was recorded.
    pub record_time: DateTime<Utc>,
}

/// A candidate in the pool with everything that happened to them, in date order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The contract.
    pub contract_id: ContractId,
    /// Pseudonymous reference.
    pub id: String,
    /// Arrangement at registration.
    pub arrangement: Arrangement,
    /// Registration date.
    pub registration_date: NaiveDate,
    /// The registering principal's subject.
    pub registered_by: String,
    /// When registered.
    pub create_time: DateTime<Utc>,
    /// Events in date order.
    pub events: Vec<CandidateEvent>,
}

impl Candidate {
    fn event(&self, kind: EventKind) -> Option<&CandidateEvent> {
        self.events.iter().find(|event| event.kind == kind)
    }

    /// True when the motivation check is recorded and dated no later than `date` (R6).
    #[must_use]
    pub fn motivated_by(&self, date: NaiveDate) -> bool {
        self.event(EventKind::MotivationCheck).is_some_and(|check| check.date <= date)
    }

    /// The day the candidate left the pool, if they did; from that day on they are not in it.
    #[must_use]
    pub fn left_on(&self) -> Option<NaiveDate> {
        self.event(EventKind::Left).map(|event| event.date)
    }

    /// The candidate's arrangement on `date`, or `None` when not in the pool that day.
    #[must_use]
    pub fn arrangement_on(&self, date: NaiveDate) -> Option<Arrangement> {
        if date < self.registration_date || self.left_on().is_some_and(|left| left <= date) {
            return None;
        }
        let moved = self.event(EventKind::TransitionTo1).is_some_and(|event| event.date <= date);
        Some(if moved { Arrangement::One } else { self.arrangement })
    }

    /// Checks that `event` may be recorded for this candidate by `today`.
    ///
    /// # Errors
    /// A description of the rule it breaks.
    pub fn check_event(&self, event: &NewEvent, today: NaiveDate) -> Result<(), String> {
        if event.date < self.registration_date {
            return Err(format!("{} is before the registration on {}", event.date, self.registration_date));
        }
        if event.date > today {
            return Err(format!("{} is in the future", event.date));
        }
        if let Some(left) = self.left_on() {
            return Err(format!("the candidate left the pool on {left}; nothing more is recorded"));
        }
        let once = matches!(
            event.kind,
            EventKind::MotivationCheck | EventKind::TransitionTo1 | EventKind::FullOutflow | EventKind::Left
        );
        if once && self.event(event.kind).is_some() {
            return Err(format!("{} is recorded already; it happens once", event.kind.as_str()));
        }
        if event.kind == EventKind::TransitionTo1 && self.arrangement_on(event.date) != Some(Arrangement::Three) {
            return Err("only a candidate in arrangement 3 moves to arrangement 1".to_owned());
        }
        Ok(())
    }
}

/// The minimum intake of a window, pro-rated by days when the contract's end cuts it short,
/// rounded up (R6): `ceil(minimum × days within the term / days of the full window)`.
#[must_use]
pub fn prorated_minimum(
    minimum: u32,
    window_start: NaiveDate,
    full_window_end: NaiveDate,
    contract_end: NaiveDate,
) -> u32 {
    if contract_end >= full_window_end {
        return minimum;
    }
    let days = |end: NaiveDate| u64::try_from((end - window_start).num_days() + 1).unwrap_or(0);
    let (within, full) = (days(contract_end), days(full_window_end).max(1));
    let scaled = u64::from(minimum) * within;
    u32::try_from(scaled.div_ceil(full)).unwrap_or(minimum)
}

/// Motivated intake: candidates registered from `from` to `to` whose motivation check is
/// recorded and dated no later than `to` (R6). Registrations without a check, or checked only
/// after the span, do not count in it.
#[must_use]
pub fn motivated_intake(candidates: &[Candidate], from: NaiveDate, to: NaiveDate) -> u32 {
    let count = candidates
        .iter()
        .filter(|candidate| (from..=to).contains(&candidate.registration_date) && candidate.motivated_by(to))
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The pool on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Composition {
    /// Active candidates in arrangement 1.
    pub arrangement_1: u32,
    /// Active candidates in arrangement 3.
    pub arrangement_3: u32,
    /// Share of arrangement 1 in basis points (1/100 %), rounded down; 0 for an empty pool.
    pub arrangement_1_bps: u32,
    /// Share of arrangement 3 in basis points, the rest of 10,000; 0 for an empty pool.
    pub arrangement_3_bps: u32,
    /// True when arrangement 3 makes up at least its target share (and the pool is not empty).
    pub target_met: bool,
}

/// The composition of the pool on `date` against a target share of arrangement 3 (R7).
#[must_use]
pub fn composition(candidates: &[Candidate], date: NaiveDate, target_arrangement_3_percent: u32) -> Composition {
    let (mut one, mut three) = (0_u32, 0_u32);
    for candidate in candidates {
        match candidate.arrangement_on(date) {
            Some(Arrangement::One) => one += 1,
            Some(Arrangement::Three) => three += 1,
            None => {}
        }
    }
    let total = u64::from(one) + u64::from(three);
    let bps_1 = (u64::from(one) * 10_000).checked_div(total).and_then(|bps| u32::try_from(bps).ok()).unwrap_or(0);
    Composition {
        arrangement_1: one,
        arrangement_3: three,
        arrangement_1_bps: bps_1,
        arrangement_3_bps: if total == 0 { 0 } else { 10_000 - bps_1 },
        target_met: total > 0 && u64::from(three) * 100 >= u64::from(target_arrangement_3_percent) * total,
    }
}

/// Social results over a span (R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SocialResults {
    /// Candidates who moved from arrangement 3 to 1.
    pub transitions_3_to_1: u32,
    /// Candidates who left benefits fully.
    pub full_outflow: u32,
    /// Partial outflows from benefits.
    pub partial_outflow: u32,
}

/// Counts the social results dated from `from` to `to`.
#[must_use]
pub fn social_results(candidates: &[Candidate], from: NaiveDate, to: NaiveDate) -> SocialResults {
    let mut results = SocialResults::default();
    for event in
        candidates.iter().flat_map(|candidate| &candidate.events).filter(|event| (from..=to).contains(&event.date))
    {
        match event.kind {
            EventKind::TransitionTo1 => results.transitions_3_to_1 += 1,
            EventKind::FullOutflow => results.full_outflow += 1,
            EventKind::PartialOutflow => results.partial_outflow += 1,
            EventKind::MotivationCheck | EventKind::Left => {}
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn event(kind: EventKind, date: &str) -> CandidateEvent {
        CandidateEvent {
            kind,
            date: day(date),
            detail: "x".to_owned(),
            recorded_by: "gm".to_owned(),
            record_time: DateTime::UNIX_EPOCH,
        }
    }

    fn candidate(id: &str, arrangement: Arrangement, registered: &str, events: Vec<CandidateEvent>) -> Candidate {
        Candidate {
            contract_id: ContractId::parse("utrecht").unwrap(),
            id: id.to_owned(),
            arrangement,
            registration_date: day(registered),
            registered_by: "gm".to_owned(),
            create_time: DateTime::UNIX_EPOCH,
            events,
        }
    }

    /// Five candidates: two motivated in January, one registered but never checked, one
    /// motivated in February who moves to arrangement 1 in March, and one who leaves in March.
    fn fixture() -> Vec<Candidate> {
        vec![
            candidate("a", Arrangement::Three, "2027-01-05", vec![event(EventKind::MotivationCheck, "2027-01-06")]),
            candidate("b", Arrangement::One, "2027-01-20", vec![event(EventKind::MotivationCheck, "2027-01-21")]),
            candidate("c", Arrangement::Three, "2027-01-25", vec![]),
            candidate(
                "d",
                Arrangement::Three,
                "2027-02-10",
                vec![
                    event(EventKind::MotivationCheck, "2027-02-11"),
                    event(EventKind::TransitionTo1, "2027-03-15"),
                    event(EventKind::PartialOutflow, "2027-03-20"),
                ],
            ),
            candidate(
                "e",
                Arrangement::Three,
                "2027-02-15",
                vec![
                    event(EventKind::MotivationCheck, "2027-02-16"),
                    event(EventKind::FullOutflow, "2027-03-01"),
                    event(EventKind::Left, "2027-03-10"),
                ],
            ),
        ]
    }

    #[test]
    fn intake_counts_only_motivated_registrations_in_the_window() {
        let pool = fixture();
        assert_eq!(motivated_intake(&pool, day("2027-01-01"), day("2027-01-31")), 2);
        assert_eq!(motivated_intake(&pool, day("2027-01-01"), day("2027-03-31")), 4);
        assert_eq!(motivated_intake(&pool, day("2027-02-01"), day("2027-02-28")), 2);
    }

    #[test]
    fn a_motivation_check_dated_after_the_window_does_not_count_in_it() {
        // Registered on 31 January, checked on 1 February: not in January's intake, though
        // the check is recorded; in January–February's it counts.
        let late =
            candidate("f", Arrangement::Three, "2027-01-31", vec![event(EventKind::MotivationCheck, "2027-02-01")]);
        let pool = [late];
        assert_eq!(motivated_intake(&pool, day("2027-01-01"), day("2027-01-31")), 0);
        assert_eq!(motivated_intake(&pool, day("2027-01-01"), day("2027-02-28")), 1);
    }

    #[test]
    fn composition_follows_registrations_transitions_and_leavers() {
        let pool = fixture();
        // 2027-02-20: a, c, d, e in arrangement 3; b in 1 → 1 of 5 = 20.00 %.
        let february = composition(&pool, day("2027-02-20"), 85);
        assert_eq!((february.arrangement_1, february.arrangement_3, february.arrangement_1_bps), (1, 4, 2_000));
        assert!(!february.target_met, "80 % arrangement 3 is short of 85 %");
        // 2027-03-31: e left, d moved to 1 → b, d in 1; a, c in 3 → 50 %.
        let march = composition(&pool, day("2027-03-31"), 85);
        assert_eq!((march.arrangement_1, march.arrangement_3, march.arrangement_3_bps), (2, 2, 5_000));
        let empty = composition(&pool, day("2026-12-31"), 85);
        assert_eq!((empty.arrangement_1 + empty.arrangement_3, empty.target_met), (0, false));
        let three_only = composition(&pool[..1], day("2027-02-01"), 85);
        assert!(three_only.target_met);
    }

    #[test]
    fn social_results_count_what_happened_in_the_span() {
        let pool = fixture();
        let results = social_results(&pool, day("2027-03-01"), day("2027-03-31"));
        assert_eq!(results, SocialResults { transitions_3_to_1: 1, full_outflow: 1, partial_outflow: 1 });
        assert_eq!(social_results(&pool, day("2027-01-01"), day("2027-02-28")), SocialResults::default());
    }

    #[test]
    fn a_window_cut_short_prorates_its_minimum_by_days_rounded_up() {
        // A window 2027-10-01 .. 2028-03-31 (183 days) cut at 2027-12-31 (92 days): 30 × 92 / 183 = 15.08 → 16.
        assert_eq!(prorated_minimum(30, day("2027-10-01"), day("2028-03-31"), day("2027-12-31")), 16);
        assert_eq!(prorated_minimum(30, day("2027-01-01"), day("2027-03-31"), day("2027-12-31")), 30);
        assert_eq!(prorated_minimum(0, day("2027-10-01"), day("2028-03-31"), day("2027-12-31")), 0);
    }

    #[test]
    fn events_follow_the_candidates_story() {
        let pool = fixture();
        let today = day("2027-06-30");
        let new = |kind, date: &str| NewEvent { kind, date: day(date), detail: "reason".to_owned() };
        assert!(pool[2].check_event(&new(EventKind::MotivationCheck, "2027-01-26"), today).is_ok());
        assert!(pool[0].check_event(&new(EventKind::MotivationCheck, "2027-01-07"), today).is_err(), "once");
        assert!(pool[1].check_event(&new(EventKind::TransitionTo1, "2027-02-01"), today).is_err(), "already in 1");
        assert!(pool[4].check_event(&new(EventKind::PartialOutflow, "2027-03-20"), today).is_err(), "left");
        assert!(
            pool[2].check_event(&new(EventKind::PartialOutflow, "2027-01-01"), today).is_err(),
            "before registration"
        );
        assert!(pool[2].check_event(&new(EventKind::PartialOutflow, "2027-07-01"), today).is_err(), "future");
        assert!(NewEvent::parse(EventKind::Left, Some(RawDate { year: 2027, month: 3, day: 1 }), " ").is_err());
    }

    #[test]
    fn a_citizen_number_is_never_a_candidate_reference() {
        let date = Some(RawDate { year: 2027, month: 1, day: 5 });
        // 111222333 passes the 11-check; 111222334 does not.
        assert!(NewCandidate::parse("111222333", 3, date).is_err());
        assert!(NewCandidate::parse("111222334", 3, date).is_ok());
        assert!(NewCandidate::parse("cand-7", 2, date).is_err());
    }
}
