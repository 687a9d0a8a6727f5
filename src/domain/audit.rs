//! What the audit log records: the closed set of actions, with stable names, and the canonical
//! encoding of a change.

use serde::Serialize;

/// Every kind of change the service makes. The names are stable: they are stored in the
/// audit log and in idempotency records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A contract was created.
    CreateContract,
    /// An intercedent was attached to a contract.
    CreateIntercedent,
    /// An hourly rate was added to an intercedent.
    CreateHourlyRate,
    /// Lines of hours were submitted.
    SubmitHours,
    /// A verified entry was corrected.
    CorrectHours,
    /// Entries were verified.
    VerifyHours,
    /// An entry was rejected.
    RejectHours,
    /// Savings were recorded.
    SubmitSavings,
    /// A verified savings record was corrected.
    CorrectSavings,
    /// Savings records were verified.
    VerifySavings,
    /// A savings record was rejected.
    RejectSavings,
    /// A candidate was registered into the pool.
    RegisterCandidate,
    /// Something that happened to a candidate was recorded.
    RecordCandidateEvent,
    /// A go/no-go checkpoint was evaluated.
    EvaluateCheckpoint,
    /// A party decided go or no-go.
    RecordGoNoGoDecision,
    /// The extension option was exercised.
    ExerciseExtension,
    /// A period was settled and its statement issued.
    SettlePeriod,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 17] = [
        Action::CreateContract,
        Action::CreateIntercedent,
        Action::CreateHourlyRate,
        Action::SubmitHours,
        Action::CorrectHours,
        Action::VerifyHours,
        Action::RejectHours,
        Action::SubmitSavings,
        Action::CorrectSavings,
        Action::VerifySavings,
        Action::RejectSavings,
        Action::RegisterCandidate,
        Action::RecordCandidateEvent,
        Action::EvaluateCheckpoint,
        Action::RecordGoNoGoDecision,
        Action::ExerciseExtension,
        Action::SettlePeriod,
    ];
}

impl Action {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateContract => "contract.create",
            Action::CreateIntercedent => "intercedent.create",
            Action::CreateHourlyRate => "hourly_rate.create",
            Action::SubmitHours => "hours.submit",
            Action::CorrectHours => "hours.correct",
            Action::VerifyHours => "hours.verify",
            Action::RejectHours => "hours.reject",
            Action::SubmitSavings => "savings.submit",
            Action::CorrectSavings => "savings.correct",
            Action::VerifySavings => "savings.verify",
            Action::RejectSavings => "savings.reject",
            Action::RegisterCandidate => "candidate.register",
            Action::RecordCandidateEvent => "candidate.event",
            Action::EvaluateCheckpoint => "go_no_go.evaluate",
            Action::RecordGoNoGoDecision => "go_no_go.decide",
            Action::ExerciseExtension => "contract.extend",
            Action::SettlePeriod => "statement.settle",
        }
    }
}

/// Encodes a value canonically: JSON with object keys sorted, no insignificant white space,
/// integers only (the domain has no floating-point values). Equal values encode to equal bytes.
///
/// # Errors
/// When the value cannot be represented as JSON (a map with non-string keys).
pub fn canonical_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    // serde_json's `Value` keeps object keys in a BTreeMap (the `preserve_order` feature is off),
    // so going through it sorts every object's keys.
    serde_json::to_value(value).and_then(|value| serde_json::to_string(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Unsorted {
        zulu: u8,
        alpha: Nested,
    }

    #[derive(Serialize)]
    struct Nested {
        mike: &'static str,
        bravo: i64,
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = Unsorted { zulu: 1, alpha: Nested { mike: "m", bravo: -2 } };
        assert_eq!(canonical_json(&value).unwrap(), r#"{"alpha":{"bravo":-2,"mike":"m"},"zulu":1}"#);
    }

    #[test]
    fn action_names_are_distinct() {
        let names = Action::ALL.map(Action::as_str);
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
