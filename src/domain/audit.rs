//! What the audit log records: the closed set of actions, with stable names, the canonical
//! encoding of a change, and the byte-exact leaf of an entry in the log's Merkle tree
//! (docs/audit-log.md).

use chrono::{DateTime, NaiveDateTime, Utc};
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
    /// A municipality's party data was recorded (a new version).
    PutMunicipality,
    /// A contract's invoicing data was recorded (a new version).
    SetContractInvoicing,
    /// A statement's invoice was issued.
    IssueInvoice,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 20] = [
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
        Action::PutMunicipality,
        Action::SetContractInvoicing,
        Action::IssueInvoice,
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
            Action::PutMunicipality => "municipality.put",
            Action::SetContractInvoicing => "contract_invoicing.set",
            Action::IssueInvoice => "invoice.issue",
        }
    }
}

/// Encodes a value canonically: JSON with object keys sorted, no insignificant white space,
/// integers only (the domain has no floating-point values). Equal values encode to equal bytes,
/// and the bytes read back to the very same value.
///
/// # Errors
/// When the value cannot be represented as JSON (a map with non-string keys), or holds a
/// number that is not an integer: a float has no single spelling that every reader reads back
/// to the same value, so it has no place in a canonical encoding.
pub fn canonical_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    // Written straight from serde where it can be (the common case: no floats, string keys);
    // what that writer leaves alone goes the way that defines the encoding, below.
    match super::canonical::to_string(value) {
        Ok(json) => Ok(json),
        Err(super::canonical::Unsupported) => canonical_json_by_value(value),
    }
}

/// [`canonical_json`] through a `serde_json::Value` tree: the definition of the encoding.
fn canonical_json_by_value(value: &impl Serialize) -> Result<String, serde_json::Error> {
    // serde_json's `Value` keeps object keys in a BTreeMap (the `preserve_order` feature is off),
    // so going through it sorts every object's keys.
    let value = serde_json::to_value(value)?;
    if let Some(number) = first_float(&value) {
        return Err(serde::ser::Error::custom(format!("{number} is not an integer: canonical JSON has integers only")));
    }
    serde_json::to_string(&value)
}

/// The first number in `value` that is not an integer, if any.
fn first_float(value: &serde_json::Value) -> Option<&serde_json::Number> {
    match value {
        serde_json::Value::Number(number) if !number.is_i64() && !number.is_u64() => Some(number),
        serde_json::Value::Array(items) => items.iter().find_map(first_float),
        serde_json::Value::Object(fields) => fields.values().find_map(first_float),
        _ => None,
    }
}

/// One entry of the audit log: who changed what, when, in which call, and the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Gapless sequence number, from 1; entry `seq` is leaf `seq − 1` of the log's tree.
    pub seq: i64,
    /// When the change was made (microseconds; never earlier than the entry before).
    pub recorded_at: DateTime<Utc>,
    /// Who made it.
    pub principal_subject: String,
    /// In which role, e.g. `billing` or `gemeente:GM0344`.
    pub principal_role: String,
    /// What kind of change (an [`Action`]'s stable name).
    pub action: String,
    /// The resource changed.
    pub resource: String,
    /// The request id of the call.
    pub request_id: String,
    /// The change, canonically encoded.
    pub payload: String,
}

/// The leaf format's version: the first byte of every leaf.
pub const LEAF_FORMAT_VERSION: u8 = 1;
/// How a leaf spells a time: UTC, always six fraction digits.
const LEAF_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

impl AuditEntry {
    /// The entry's leaf: its byte-exact canonical encoding (docs/audit-log.md).
    ///
    /// `0x01 ‖ u64be(seq) ‖ text(time) ‖ text(subject) ‖ text(role) ‖ text(action) ‖
    /// text(resource) ‖ text(request id) ‖ text(payload)`, where `text(s) = u32be(len(s)) ‖ s`
    /// (UTF-8) and the time is `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Every field is length-prefixed,
    /// so no two entries share a leaf.
    #[must_use]
    pub fn leaf(&self) -> Vec<u8> {
        let time = self.recorded_at.format(LEAF_TIME_FORMAT).to_string();
        let texts = [
            time.as_str(),
            &self.principal_subject,
            &self.principal_role,
            &self.action,
            &self.resource,
            &self.request_id,
            &self.payload,
        ];
        let mut leaf = Vec::with_capacity(1 + 8 + texts.iter().map(|text| 4 + text.len()).sum::<usize>());
        leaf.push(LEAF_FORMAT_VERSION);
        leaf.extend_from_slice(&self.seq.to_be_bytes());
        for text in texts {
            // A field longer than 4 GiB cannot be stored in the first place; saturating keeps
            // this infallible without ever producing an ambiguous encoding of a real entry.
            leaf.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
            leaf.extend_from_slice(text.as_bytes());
        }
        leaf
    }

    /// Reads an entry back from its leaf: the exact inverse of [`AuditEntry::leaf`].
    ///
    /// # Errors
    /// A description of what is malformed: another version, a short or overlong leaf, text that
    /// is not UTF-8, a time not in the leaf's format.
    pub fn from_leaf(leaf: &[u8]) -> Result<AuditEntry, String> {
        let view = LeafView::parse(leaf)?;
        let recorded_at = NaiveDateTime::parse_from_str(view.time, LEAF_TIME_FORMAT)
            .map_err(|error| format!("time {:?}: {error}", view.time))?
            .and_utc();
        let entry = AuditEntry {
            seq: view.seq,
            recorded_at,
            principal_subject: view.principal_subject.to_owned(),
            principal_role: view.principal_role.to_owned(),
            action: view.action.to_owned(),
            resource: view.resource.to_owned(),
            request_id: view.request_id.to_owned(),
            payload: view.payload.to_owned(),
        };
        if entry.leaf() != leaf {
            return Err("the leaf is not in canonical form".to_owned());
        }
        Ok(entry)
    }
}

/// The fields of a leaf, read in place without copying: what a verifier of millions of
/// entries needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafView<'a> {
    /// Sequence number.
    pub seq: i64,
    /// The time, as the leaf spells it (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    pub time: &'a str,
    /// Principal subject.
    pub principal_subject: &'a str,
    /// Principal role.
    pub principal_role: &'a str,
    /// Action.
    pub action: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Request id.
    pub request_id: &'a str,
    /// The change's canonical JSON.
    pub payload: &'a str,
}

impl<'a> LeafView<'a> {
    /// Reads a leaf's fields in place: the version, the sequence number, seven length-prefixed
    /// UTF-8 texts and nothing after them, the time in the leaf's fixed shape.
    ///
    /// # Errors
    /// A description of what is malformed.
    pub fn parse(leaf: &'a [u8]) -> Result<LeafView<'a>, String> {
        let (&version, rest) = leaf.split_first().ok_or("the leaf is empty")?;
        if version != LEAF_FORMAT_VERSION {
            return Err(format!("leaf format version {version} is not {LEAF_FORMAT_VERSION}"));
        }
        let (seq, mut rest) = rest.split_at_checked(8).ok_or("the leaf ends inside its sequence number")?;
        let seq = i64::from_be_bytes(seq.try_into().map_err(|_| "bad sequence number")?);
        let mut texts = [""; 7];
        for (text, what) in
            texts.iter_mut().zip(["time", "subject", "role", "action", "resource", "request id", "payload"])
        {
            let (length, after) = rest.split_at_checked(4).ok_or_else(|| format!("the leaf ends inside its {what}"))?;
            let length = u32::from_be_bytes(length.try_into().map_err(|_| format!("bad {what} length"))?);
            let length = usize::try_from(length).map_err(|_| format!("{what} too long"))?;
            let (bytes, after) =
                after.split_at_checked(length).ok_or_else(|| format!("the leaf ends inside its {what}"))?;
            *text = std::str::from_utf8(bytes).map_err(|_| format!("the {what} is not UTF-8"))?;
            rest = after;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes follow the payload", rest.len()));
        }
        let [time, principal_subject, principal_role, action, resource, request_id, payload] = texts;
        if !is_leaf_time(time) {
            return Err(format!("time {time:?} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"));
        }
        Ok(LeafView { seq, time, principal_subject, principal_role, action, resource, request_id, payload })
    }
}

/// True for text shaped `YYYY-MM-DDTHH:MM:SS.ffffffZ` (digits where digits go).
fn is_leaf_time(text: &str) -> bool {
    const SHAPE: &[u8; 27] = b"0000-00-00T00:00:00.000000Z";
    text.len() == SHAPE.len()
        && text
            .bytes()
            .zip(SHAPE)
            .all(|(byte, &shape)| if shape == b'0' { byte.is_ascii_digit() } else { byte == shape })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            seq: 3,
            recorded_at: "2027-02-01T09:30:00.000250Z".parse().unwrap(),
            principal_subject: "billing-system".to_owned(),
            principal_role: "billing".to_owned(),
            action: "statement.settle".to_owned(),
            resource: "contracts/utrecht/statements/2027-01-01".to_owned(),
            request_id: "r-1".to_owned(),
            payload: r#"{"a":1}"#.to_owned(),
        }
    }

    #[test]
    fn a_leaf_is_byte_exact_and_reads_back() {
        let leaf = entry().leaf();
        let mut expected = vec![1, 0, 0, 0, 0, 0, 0, 0, 3];
        for text in [
            "2027-02-01T09:30:00.000250Z",
            "billing-system",
            "billing",
            "statement.settle",
            "contracts/utrecht/statements/2027-01-01",
            "r-1",
            r#"{"a":1}"#,
        ] {
            expected.extend_from_slice(&u32::try_from(text.len()).unwrap().to_be_bytes());
            expected.extend_from_slice(text.as_bytes());
        }
        assert_eq!(leaf, expected);
        assert_eq!(AuditEntry::from_leaf(&leaf).unwrap(), entry());
    }

    #[test]
    fn a_malformed_leaf_is_refused() {
        let leaf = entry().leaf();
        assert!(AuditEntry::from_leaf(&leaf[..leaf.len() - 1]).is_err(), "short");
        assert!(AuditEntry::from_leaf(&[leaf.as_slice(), &[0]].concat()).is_err(), "trailing byte");
        let mut version = leaf.clone();
        version[0] = 2;
        assert!(AuditEntry::from_leaf(&version).is_err(), "version");
    }

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
        // A float anywhere has no canonical spelling (found by fuzzing: 5.5555555555555556e32
        // reads back as 5.555555555555555e32).
        let float: serde_json::Value = serde_json::from_str(r#"{"a":[1,{"b":5.5555555555555556e32}]}"#).unwrap();
        assert!(canonical_json(&float).unwrap_err().to_string().contains("not an integer"));
    }

    /// A value of any shape, objects with keys in any order and possibly repeated.
    #[derive(Debug, Clone)]
    enum Tree {
        Null,
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float(f64),
        Text(String),
        List(Vec<Tree>),
        Object(Vec<(String, Tree)>),
    }

    impl Serialize for Tree {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            match self {
                Tree::Null => serializer.serialize_unit(),
                Tree::Bool(value) => serializer.serialize_bool(*value),
                Tree::Int(value) => serializer.serialize_i64(*value),
                Tree::UInt(value) => serializer.serialize_u64(*value),
                Tree::Float(value) => serializer.serialize_f64(*value),
                Tree::Text(value) => serializer.serialize_str(value),
                Tree::List(items) => serializer.collect_seq(items),
                Tree::Object(fields) => {
                    let mut map = serializer.serialize_map(Some(fields.len()))?;
                    for (key, value) in fields {
                        map.serialize_entry(key, value)?;
                    }
                    map.end()
                }
            }
        }
    }

    fn tree() -> impl proptest::strategy::Strategy<Value = Tree> {
        use proptest::prelude::*;
        let text = "[a-c\\\"\u{0}-\u{1f}é€😀]{0,4}";
        let leaf = prop_oneof![
            Just(Tree::Null),
            any::<bool>().prop_map(Tree::Bool),
            any::<i64>().prop_map(Tree::Int),
            any::<u64>().prop_map(Tree::UInt),
            (-1.0e3_f64..1.0e3).prop_map(Tree::Float),
            text.prop_map(Tree::Text),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Tree::List),
                proptest::collection::vec((text, inner), 0..6).prop_map(Tree::Object),
            ]
        })
    }

    fn has_float(tree: &Tree) -> bool {
        match tree {
            Tree::Float(_) => true,
            Tree::List(items) => items.iter().any(has_float),
            Tree::Object(fields) => fields.iter().any(|(_, value)| has_float(value)),
            _ => false,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The direct writer and the `Value` tree that defines the encoding agree byte for
        /// byte: keys sorted at every level, the last of repeated keys kept, strings escaped
        /// alike; floats are refused either way.
        #[test]
        fn canonical_json_written_directly_is_the_value_encoding(value in tree()) {
            let direct = super::super::canonical::to_string(&value);
            let by_value = super::canonical_json_by_value(&value);
            if !has_float(&value) {
                proptest::prop_assert!(direct.is_ok() && by_value.is_ok());
            }
            // A float may still be written and then replaced by a repeated key: the direct
            // writer then leaves the value to the general encoder.
            if let Ok(direct) = direct {
                proptest::prop_assert_eq!(Some(&direct), by_value.as_ref().ok());
            }
            proptest::prop_assert_eq!(canonical_json(&value).ok(), by_value.ok());
        }
    }

    #[derive(Serialize)]
    enum Shapes {
        Unit,
        Newtype(Nested),
        Tuple(i64, &'static str),
        Record { zulu: Option<i64>, alpha: Vec<Shapes> },
    }

    #[derive(Serialize)]
    struct Wrapper(Unsorted);

    #[test]
    fn canonical_json_written_directly_handles_every_shape_of_serde_data() {
        let value = (
            Shapes::Record {
                zulu: None,
                alpha: vec![
                    Shapes::Unit,
                    Shapes::Newtype(Nested { mike: "x\"y", bravo: 3 }),
                    Shapes::Tuple(-1, "t"),
                    Shapes::Record { zulu: Some(9), alpha: vec![] },
                ],
            },
            Wrapper(Unsorted { zulu: 7, alpha: Nested { mike: "", bravo: i64::MIN } }),
            std::collections::HashMap::from([("b", 2_u8), ("a", 1)]),
            'c',
            (),
        );
        let direct = super::super::canonical::to_string(&value).unwrap();
        assert_eq!(direct, super::canonical_json_by_value(&value).unwrap());
        assert_eq!(
            direct,
            concat!(
                r#"[{"Record":{"alpha":["Unit",{"Newtype":{"bravo":3,"mike":"x\"y"}},{"Tuple":[-1,"t"]},"#,
                r#"{"Record":{"alpha":[],"zulu":9}}],"zulu":null}},"#,
                r#"{"alpha":{"bravo":-9223372036854775808,"mike":""},"zulu":7},{"a":1,"b":2},"c",null]"#
            )
        );
        // A map with keys that are not strings is left to the general encoder, which agrees.
        let numbered = std::collections::BTreeMap::from([(2_u8, "b"), (1, "a")]);
        assert!(super::super::canonical::to_string(&numbered).is_err());
        assert_eq!(canonical_json(&numbered).unwrap(), r#"{"1":"a","2":"b"}"#);
    }

    #[test]
    fn action_names_are_distinct() {
        let names = Action::ALL.map(Action::as_str);
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
