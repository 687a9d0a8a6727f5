//! Diesel's view of the tables. Kept in step with both migration folders by the schema tests,
//! which run every query of the storage layer on SQLite and PostgreSQL.

diesel::table! {
    /// Named gapless counters; the row lock serialises their writers.
    sequences (name) {
        /// Counter name.
        name -> Text,
        /// The last value handed out.
        last_value -> BigInt,
        /// For the audit log's counter: the time of its last entry (never runs backwards).
        last_time -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The append-only audit log.
    audit_log (seq) {
        /// Gapless sequence number, from 1.
        seq -> BigInt,
        /// When the change was committed (UTC).
        recorded_at -> Timestamp,
        /// Who made the change.
        principal_subject -> Text,
        /// In which role.
        principal_role -> Text,
        /// What kind of change (`Action` name).
        action -> Text,
        /// The resource changed.
        resource -> Text,
        /// The request id of the call.
        request_id -> Text,
        /// The change, canonically encoded.
        payload -> Text,
    }
}

diesel::table! {
    /// The audit log's Merkle tree: hashes of complete subtrees (level 0: leaf hashes).
    audit_tree_nodes (level, idx) {
        /// Height of the subtree: it covers 2^level leaves.
        level -> SmallInt,
        /// Its position among the subtrees of its level.
        idx -> BigInt,
        /// Its RFC 9162 hash.
        hash -> Binary,
    }
}

diesel::table! {
    /// Signed checkpoints of the audit log's tree, one per published size.
    audit_checkpoints (tree_size) {
        /// Entries in the tree.
        tree_size -> BigInt,
        /// The tree's root hash.
        root_hash -> Binary,
        /// The C2SP signed note.
        signed_note -> Text,
        /// When published (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// First answers of mutating calls, for idempotent replays.
    idempotency_records (principal, request_id) {
        /// The caller: role label and subject.
        principal -> Text,
        /// The caller's request id.
        request_id -> Text,
        /// The action of the first call.
        action -> Text,
        /// SHA-256 of the first call's canonical payload, hex.
        fingerprint -> Text,
        /// The first answer, canonically encoded.
        response -> Text,
        /// The audit entry of the first call; NULL when it changed nothing.
        audit_seq -> Nullable<BigInt>,
        /// When the first call committed (UTC).
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    /// Contracts and their terms.
    contracts (id) {
        /// Contract id.
        id -> Text,
        /// CBS code of the municipality.
        gemeente -> Text,
        /// Title.
        display_name -> Text,
        /// First day.
        start_date -> Date,
        /// Term in months.
        term_months -> Integer,
        /// Extension option in months.
        extension_option_months -> Integer,
        /// Settlement period in months.
        settlement_period_months -> Integer,
        /// Intake window in months.
        intake_window_months -> Integer,
        /// Fee per period in cents.
        service_fee_per_period_cents -> BigInt,
        /// Minimum intake per window.
        minimum_intake_per_window -> Integer,
        /// `FULL` or `PRO_RATA`.
        risk_shift_mode -> Text,
        /// Target share of arrangement 1, percent.
        target_arrangement_1_percent -> Integer,
        /// Target share of arrangement 3, percent.
        target_arrangement_3_percent -> Integer,
        /// Creation instant (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// Intercedents attached to contracts.
    intercedents (contract_id, id) {
        /// The contract.
        contract_id -> Text,
        /// Pseudonymous reference.
        id -> Text,
        /// Creation instant (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// Effective-dated hourly cost rates.
    hourly_rates (contract_id, intercedent_id, effective_date) {
        /// The contract.
        contract_id -> Text,
        /// The intercedent.
        intercedent_id -> Text,
        /// First day the rate applies.
        effective_date -> Date,
        /// Cents per hour.
        rate_per_hour_cents -> BigInt,
        /// Creation instant (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// Hour entries and corrections; never edited.
    hour_entries (contract_id, id) {
        /// The contract.
        contract_id -> Text,
        /// The billing system's line reference.
        id -> Text,
        /// The intercedent.
        intercedent_id -> Text,
        /// The day worked.
        work_date -> Date,
        /// First day of the settlement period of the work date.
        period_start -> Date,
        /// Minutes, negative only in a correction.
        minutes -> BigInt,
        /// Note.
        note -> Text,
        /// For a correction: the corrected entry.
        corrects_id -> Nullable<Text>,
        /// Dated in a period already settled when recorded.
        late -> Bool,
        /// Subject of the submitter.
        submitted_by -> Text,
        /// When submitted (UTC).
        submit_time -> Timestamp,
    }
}

diesel::table! {
    /// The other party's decision on an hour entry; one per entry, final.
    hour_decisions (contract_id, entry_id) {
        /// The contract.
        contract_id -> Text,
        /// The entry.
        entry_id -> Text,
        /// `VERIFIED` or `REJECTED`.
        verdict -> Text,
        /// Subject of the decider.
        decided_by -> Text,
        /// When decided (UTC).
        decide_time -> Timestamp,
        /// Why, for a rejection.
        reason -> Nullable<Text>,
        /// The sequence number of the audit entry that records the decision.
        decision_seq -> BigInt,
    }
}

diesel::table! {
    /// Savings records and corrections; never edited.
    savings_records (contract_id, id) {
        /// The contract.
        contract_id -> Text,
        /// The source's reference.
        id -> Text,
        /// First day of the settlement period.
        period_start -> Date,
        /// Amount in cents, negative only in a correction.
        amount_cents -> BigInt,
        /// `FULL_OUTFLOW` or `PARTIAL_OUTFLOW`.
        kind -> Text,
        /// Pseudonymous candidate reference.
        candidate -> Nullable<Text>,
        /// `PROVISIONAL` or `DEFINITIVE`.
        certainty -> Text,
        /// Note.
        note -> Text,
        /// For a correction: the corrected record.
        corrects_id -> Nullable<Text>,
        /// Dated in a period already settled when recorded.
        late -> Bool,
        /// Subject of the submitter.
        submitted_by -> Text,
        /// `flextensie` or `gemeente`.
        submitted_party -> Text,
        /// When submitted (UTC).
        submit_time -> Timestamp,
    }
}

diesel::table! {
    /// The other party's decision on a savings record; one per record, final.
    savings_decisions (contract_id, record_id) {
        /// The contract.
        contract_id -> Text,
        /// The record.
        record_id -> Text,
        /// `VERIFIED` or `REJECTED`.
        verdict -> Text,
        /// Subject of the decider.
        decided_by -> Text,
        /// When decided (UTC).
        decide_time -> Timestamp,
        /// Why, for a rejection.
        reason -> Nullable<Text>,
        /// The sequence number of the audit entry that records the decision.
        decision_seq -> BigInt,
    }
}

diesel::table! {
    /// Candidates registered into the pool.
    candidates (contract_id, id) {
        /// The contract.
        contract_id -> Text,
        /// Pseudonymous reference.
        id -> Text,
        /// 1 or 3 at registration.
        arrangement -> Integer,
        /// Registration date.
        registration_date -> Date,
        /// Subject of the registering principal.
        registered_by -> Text,
        /// When registered (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// What happened to candidates, numbered per candidate.
    candidate_events (contract_id, candidate_id, seq) {
        /// The contract.
        contract_id -> Text,
        /// The candidate.
        candidate_id -> Text,
        /// Number within the candidate, from 1.
        seq -> Integer,
        /// `EventKind` name.
        kind -> Text,
        /// The day it happened.
        event_date -> Date,
        /// Who checked, or why the candidate left.
        detail -> Text,
        /// Subject of the recording principal.
        recorded_by -> Text,
        /// When recorded (UTC).
        record_time -> Timestamp,
    }
}

diesel::table! {
    /// What became of contracts: extension exercised, early end.
    contract_events (contract_id, kind) {
        /// The contract.
        contract_id -> Text,
        /// `EXTENDED` or `ENDED`.
        kind -> Text,
        /// From when it holds (for `ENDED`: the contract's last day).
        effective_date -> Date,
        /// Why.
        detail -> Text,
        /// Subject of the recording principal.
        recorded_by -> Text,
        /// When recorded (UTC).
        record_time -> Timestamp,
    }
}

diesel::table! {
    /// Go/no-go evaluations of checkpoints.
    evaluations (contract_id, checkpoint) {
        /// The contract.
        contract_id -> Text,
        /// The checkpoint.
        checkpoint -> Date,
        /// The evaluation, canonically encoded.
        content -> Text,
        /// SHA-256 of `content`, hex.
        content_sha256 -> Text,
        /// Subject of the evaluating principal.
        evaluated_by -> Text,
        /// When evaluated (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// Each party's go/no-go decision on an evaluated checkpoint.
    go_no_go_decisions (contract_id, checkpoint, party) {
        /// The contract.
        contract_id -> Text,
        /// The checkpoint.
        checkpoint -> Date,
        /// `flextensie` or `gemeente`.
        party -> Text,
        /// `GO` or `NO_GO`.
        decision -> Text,
        /// Why.
        reasons -> Text,
        /// Subject of the deciding principal.
        decided_by -> Text,
        /// When decided (UTC).
        decide_time -> Timestamp,
    }
}

diesel::table! {
    /// Settlement statements; never edited.
    statements (contract_id, period_start) {
        /// The contract.
        contract_id -> Text,
        /// First day of the settled period.
        period_start -> Date,
        /// Statement number, gapless per contract and year.
        number -> Text,
        /// The statement, canonically encoded.
        content -> Text,
        /// SHA-256 of `content`, hex.
        content_sha256 -> Text,
        /// Subject of the settling principal.
        settled_by -> Text,
        /// When settled (UTC).
        create_time -> Timestamp,
        /// First day of the last period whose inputs it took in (`domain::inputs`).
        inputs_until -> Date,
        /// The last audit entry whose decisions it took in (`domain::inputs`).
        inputs_through -> BigInt,
    }
}

diesel::table! {
    /// Municipalities' party data, one row per version; never edited.
    municipalities (gemeente, version) {
        /// CBS code.
        gemeente -> Text,
        /// 1, 2, 3, … per municipality.
        version -> BigInt,
        /// `domain::invoice::Buyer`, canonically encoded.
        content -> Text,
        /// When recorded (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// Contracts' invoicing data, effective-dated, one row per version; never edited.
    contract_invoicing (contract_id, effective_from, version) {
        /// The contract.
        contract_id -> Text,
        /// First day it applies to.
        effective_from -> Date,
        /// 1, 2, 3, … per contract and day.
        version -> BigInt,
        /// `domain::invoice::InvoicingTerms`, canonically encoded.
        content -> Text,
        /// When recorded (UTC).
        create_time -> Timestamp,
    }
}

diesel::table! {
    /// Issued invoice documents of statements; never edited.
    invoices (contract_id, period_start, position) {
        /// The contract.
        contract_id -> Text,
        /// The statement's period.
        period_start -> Date,
        /// 1 for the statement's document, 2 for its document of lines not subject to VAT.
        position -> Integer,
        /// The document's number.
        number -> Text,
        /// `STATEMENT` or `NOT_SUBJECT`.
        series -> Text,
        /// Its `cbc:CustomizationID`.
        customization_id -> Text,
        /// Its issue date.
        issue_date -> Date,
        /// The UBL XML.
        content -> Text,
        /// SHA-256 of `content`, hex.
        content_sha256 -> Text,
        /// Sum of its lines, in cents.
        line_total_cents -> BigInt,
        /// Its VAT, in cents.
        vat_cents -> BigInt,
        /// Payable, in cents.
        payable_cents -> BigInt,
        /// Subject of the principal whose call issued it.
        issued_by -> Text,
        /// When issued (UTC).
        create_time -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    statements,
    municipalities,
    contract_invoicing,
    invoices,
    contract_events,
    evaluations,
    go_no_go_decisions,
    candidates,
    candidate_events,
    savings_records,
    savings_decisions,
    hour_entries,
    hour_decisions,
    sequences,
    audit_log,
    audit_tree_nodes,
    audit_checkpoints,
    idempotency_records,
    contracts,
    intercedents,
    hourly_rates,
);

diesel::allow_columns_to_appear_in_same_group_by_clause!(savings_decisions::verdict, savings_records::period_start,);

diesel::allow_columns_to_appear_in_same_group_by_clause!(
    hour_decisions::verdict,
    hour_decisions::decision_seq,
    hour_entries::intercedent_id,
    hour_entries::work_date,
);
