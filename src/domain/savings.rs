//! Realised savings on benefit payments (DESIGN.md R4, R9): recorded per contract and
//! settlement period by either party, verified by the other; corrected by linked corrections,
//! never edited. Only verified savings count toward the result.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::hours::{Decision, EntryState, Refusal, check_undecided, parse_note};
use super::ids::parse_reference;
use super::money::AMOUNT_CENTS_MAX;
use super::{Cents, Contract, ContractId, LineReference, Period, RawDate, Role, Violations, parse_date};

/// How a candidate's benefit stopped: fully or partly (R8's "leaving benefits fully or partly").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SavingsKind {
    /// The benefit stopped entirely.
    FullOutflow,
    /// The benefit was reduced.
    PartialOutflow,
}

/// How final an amount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Certainty {
    /// An estimate that may be corrected.
    Provisional,
    /// The final amount.
    Definitive,
}

/// The two parties of a contract; each verifies what the other submits (R9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Flextensie (its billing system).
    Flextensie,
    /// The municipality.
    Gemeente,
}

impl Party {
    /// The party a role acts for, if it is one of the two.
    #[must_use]
    pub fn of(role: &Role) -> Option<Party> {
        match role {
            Role::Billing => Some(Party::Flextensie),
            Role::Gemeente(_) => Some(Party::Gemeente),
            Role::Auditor | Role::Admin => None,
        }
    }

    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Flextensie => "flextensie",
            Party::Gemeente => "gemeente",
        }
    }

    /// Parses a stable name.
    ///
    /// # Errors
    /// A description of the allowed names.
    pub fn parse(raw: &str) -> Result<Party, String> {
        match raw {
            "flextensie" => Ok(Party::Flextensie),
            "gemeente" => Ok(Party::Gemeente),
            other => Err(format!("unknown party {other:?}")),
        }
    }
}

/// A savings record exactly as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavingsInput {
    /// First day of the settlement period the savings were realised in.
    pub period_start: Option<RawDate>,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Full or partial outflow; `None` when unspecified.
    pub kind: Option<SavingsKind>,
    /// The source's reference, unique per contract.
    pub source_reference: String,
    /// Optional pseudonymous candidate reference (empty for none).
    pub candidate: String,
    /// Provisional or definitive; `None` when unspecified.
    pub certainty: Option<Certainty>,
    /// Note.
    pub note: String,
}

/// A checked savings record to submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsLine {
    /// First day of its settlement period.
    pub period_start: NaiveDate,
    /// A positive amount.
    pub amount: Cents,
    /// Full or partial outflow.
    pub kind: SavingsKind,
    /// The source's reference: the record's id.
    pub source_reference: LineReference,
    /// The candidate it concerns, if named.
    pub candidate: Option<String>,
    /// Provisional or definitive.
    pub certainty: Certainty,
    /// Note.
    pub note: String,
}

impl SavingsLine {
    /// Checks a record on its own; fields are named relative to the record.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(input: &SavingsInput) -> Result<SavingsLine, Violations> {
        let mut v = Violations::new();
        let period_start = v.check("period_start", parse_date(input.period_start));
        if !(1..=AMOUNT_CENTS_MAX).contains(&input.amount_cents) {
            v.add(
                "amount_cents",
                format!(
                    "must be from 1 to {AMOUNT_CENTS_MAX} cents, got {}; take savings back with a correction",
                    input.amount_cents
                ),
            );
        }
        let kind = v.check("kind", input.kind.ok_or_else(|| "is required: FULL_OUTFLOW or PARTIAL_OUTFLOW".to_owned()));
        let source_reference = v.check("source_reference", LineReference::parse(&input.source_reference));
        let candidate = if input.candidate.is_empty() {
            Some(None)
        } else {
            v.check("candidate", parse_reference(&input.candidate)).map(Some)
        };
        let certainty =
            v.check("certainty", input.certainty.ok_or_else(|| "is required: PROVISIONAL or DEFINITIVE".to_owned()));
        let note = v.check("note", parse_note(&input.note));
        match (period_start, kind, source_reference, candidate, certainty, note) {
            (Some(period_start), Some(kind), Some(source_reference), Some(candidate), Some(certainty), Some(note))
                if v.is_empty() =>
            {
                Ok(SavingsLine {
                    period_start,
                    amount: Cents::from_stored(input.amount_cents),
                    kind,
                    source_reference,
                    candidate,
                    certainty,
                    note,
                })
            }
            _ => Err(v),
        }
    }
}

/// Checks that `period_start` starts a settlement period of the contract that has begun by
/// `today` (savings are realised, not forecast).
///
/// # Errors
/// A description, for the `period_start` field.
pub fn check_savings_period(contract: &Contract, today: NaiveDate, period_start: NaiveDate) -> Result<Period, String> {
    let period = contract
        .terms
        .period_of(period_start)
        .filter(|period| period.start == period_start && contract.covers(period_start))
        .ok_or_else(|| format!("{period_start} does not start a settlement period within the contract's term"))?;
    if period.start > today {
        return Err(format!("the period starting {period_start} has not begun; record savings once realised"));
    }
    Ok(period)
}

/// A recorded savings record or correction. Never edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsRecord {
    /// The contract.
    pub contract_id: ContractId,
    /// The source's reference: the record's id.
    pub id: LineReference,
    /// First day of its settlement period.
    pub period_start: NaiveDate,
    /// Amount; negative only in a correction.
    pub amount: Cents,
    /// Full or partial outflow.
    pub kind: SavingsKind,
    /// The candidate it concerns, if named.
    pub candidate: Option<String>,
    /// Provisional or definitive.
    pub certainty: Certainty,
    /// Note.
    pub note: String,
    /// For a correction: the record it corrects.
    pub corrects: Option<LineReference>,
    /// Dated in a period already settled when recorded: the next statement carries it.
    pub late: bool,
    /// The submitting principal's subject.
    pub submitted_by: String,
    /// The submitting party.
    pub submitted_party: Party,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// The other party's decision, once made.
    pub decision: Option<Decision>,
}

impl SavingsRecord {
    /// Where the record stands.
    #[must_use]
    pub fn state(&self) -> EntryState {
        EntryState::of(self.decision.as_ref().map(|decision| decision.verdict))
    }

    /// True when `line` is this record's content (an idempotent resubmission).
    #[must_use]
    pub fn same_line_as(&self, line: &SavingsLine) -> bool {
        self.corrects.is_none()
            && self.period_start == line.period_start
            && self.amount == line.amount
            && self.kind == line.kind
            && self.candidate == line.candidate
            && self.certainty == line.certainty
            && self.note == line.note
    }
}

/// Checks that a principal of `party` may verify or reject `record` (R9): the other party, not
/// the submitter, and not decided yet.
///
/// # Errors
/// The refusal and a description.
pub fn check_savings_decision(record: &SavingsRecord, decider: &str, party: Party) -> Result<(), (Refusal, String)> {
    check_undecided(record.decision.as_ref(), &record.submitted_by, decider)?;
    if record.submitted_party == party {
        return Err((
            Refusal::SameParty,
            format!("was submitted by {}; the other party verifies it (R9)", party.as_str()),
        ));
    }
    Ok(())
}

/// A checked correction of a savings record: a signed amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsCorrection {
    /// The corrected record.
    pub corrects: LineReference,
    /// Signed amount, not zero.
    pub amount: Cents,
    /// The source's reference of the correction.
    pub source_reference: LineReference,
    /// Note.
    pub note: String,
}

impl SavingsCorrection {
    /// Checks a correction on its own.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(
        corrects: LineReference,
        amount_cents: i64,
        source_reference: &str,
        note: &str,
    ) -> Result<Self, Violations> {
        let mut v = Violations::new();
        if amount_cents == 0 || amount_cents.unsigned_abs() > AMOUNT_CENTS_MAX.unsigned_abs() {
            v.add("amount_cents", format!("must be signed cents, not 0, at most {AMOUNT_CENTS_MAX} either way"));
        }
        let source_reference = v.check("source_reference", LineReference::parse(source_reference));
        let note = v.check("note", parse_note(note));
        match (source_reference, note) {
            (Some(source_reference), Some(note)) if v.is_empty() => {
                Ok(SavingsCorrection { corrects, amount: Cents::from_stored(amount_cents), source_reference, note })
            }
            _ => Err(v),
        }
    }
}

/// Checks a correction of `original`: a verified original record whose amount with its
/// corrections not rejected (`net`) stays at or above zero.
///
/// # Errors
/// The refusal and a description.
pub fn check_savings_correction(
    original: &SavingsRecord,
    net: Cents,
    correction: &SavingsCorrection,
) -> Result<(), (Refusal, String)> {
    if original.corrects.is_some() {
        return Err((Refusal::CorrectsACorrection, "is itself a correction; correct the original record".to_owned()));
    }
    if original.state() != EntryState::Verified {
        return Err((
            Refusal::NotVerified,
            "is not verified; the other party rejects a submitted record instead".to_owned(),
        ));
    }
    match net.checked_add(correction.amount) {
        Some(after) if after >= Cents::ZERO => Ok(()),
        _ => Err((
            Refusal::NetAmountNegative,
            format!("holds {net} with its corrections; {} would take back more", correction.amount),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contract::tests_support::worked_example_contract;
    use crate::domain::hours::Verdict;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn input() -> SavingsInput {
        SavingsInput {
            period_start: Some(RawDate { year: 2027, month: 1, day: 1 }),
            amount_cents: 410_000,
            kind: Some(SavingsKind::FullOutflow),
            source_reference: "uwv-2027-01".to_owned(),
            candidate: String::new(),
            certainty: Some(Certainty::Definitive),
            note: String::new(),
        }
    }

    fn record(party: Party) -> SavingsRecord {
        let line = SavingsLine::parse(&input()).unwrap();
        SavingsRecord {
            contract_id: ContractId::parse("utrecht").unwrap(),
            id: line.source_reference,
            period_start: line.period_start,
            amount: line.amount,
            kind: line.kind,
            candidate: None,
            certainty: line.certainty,
            note: String::new(),
            corrects: None,
            late: false,
            submitted_by: "alice".to_owned(),
            submitted_party: party,
            submit_time: DateTime::UNIX_EPOCH,
            decision: None,
        }
    }

    #[test]
    fn a_record_needs_a_positive_amount_a_kind_and_certainty() {
        let bad =
            SavingsInput { amount_cents: 0, kind: None, certainty: None, candidate: "111222333".to_owned(), ..input() };
        let violations = SavingsLine::parse(&bad).unwrap_err();
        let fields: Vec<&str> = violations.items().iter().map(|item| item.field.as_str()).collect();
        assert_eq!(fields, ["amount_cents", "kind", "candidate", "certainty"]);
    }

    #[test]
    fn savings_belong_to_a_begun_period_of_the_term() {
        let terms = worked_example_contract();
        assert!(check_savings_period(&terms, day("2027-02-15"), day("2027-02-01")).is_ok());
        assert!(check_savings_period(&terms, day("2027-02-15"), day("2027-03-01")).is_err());
        assert!(check_savings_period(&terms, day("2028-02-15"), day("2027-02-15")).is_err());
        assert!(check_savings_period(&terms, day("2029-02-15"), day("2028-01-01")).is_err());
    }

    #[test]
    fn the_other_party_verifies() {
        let by_flextensie = record(Party::Flextensie);
        assert_eq!(check_savings_decision(&by_flextensie, "bob", Party::Flextensie).unwrap_err().0, Refusal::SameParty);
        assert_eq!(
            check_savings_decision(&by_flextensie, "alice", Party::Gemeente).unwrap_err().0,
            Refusal::SameAsSubmitter
        );
        assert!(check_savings_decision(&by_flextensie, "bob", Party::Gemeente).is_ok());
    }

    #[test]
    fn a_correction_never_takes_back_more_than_was_saved() {
        let mut original = record(Party::Gemeente);
        let correction = |cents| SavingsCorrection::parse(original.id.clone(), cents, "fix-1", "").unwrap();
        assert_eq!(
            check_savings_correction(&original, original.amount, &correction(-1)).unwrap_err().0,
            Refusal::NotVerified
        );
        original.decision = Some(Decision {
            verdict: Verdict::Verified,
            decided_by: "bob".to_owned(),
            decide_time: DateTime::UNIX_EPOCH,
            reason: None,
        });
        assert!(check_savings_correction(&original, original.amount, &correction(-410_000)).is_ok());
        assert_eq!(
            check_savings_correction(&original, original.amount, &correction(-410_001)).unwrap_err().0,
            Refusal::NetAmountNegative
        );
    }
}
