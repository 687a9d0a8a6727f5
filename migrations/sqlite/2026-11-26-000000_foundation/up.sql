-- Foundation: sequences, the append-only audit log, idempotency records, contracts,
-- intercedents and hourly rates. STRICT tables: a value of the wrong type is refused, and
-- no column can hold a floating-point number. Money is INTEGER cents; dates are ISO-8601 TEXT.

CREATE TABLE sequences (
    name TEXT PRIMARY KEY NOT NULL,
    last_value INTEGER NOT NULL CHECK (last_value >= 0)
) STRICT;

INSERT INTO sequences (name, last_value) VALUES ('audit_log', 0);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    recorded_at TEXT NOT NULL,
    principal_subject TEXT NOT NULL,
    principal_role TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    request_id TEXT NOT NULL,
    payload TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_log_refuses_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_refuses_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;

CREATE TABLE idempotency_records (
    -- The caller: its role label and subject, e.g. `gemeente:GM0344/alice`. The same subject
    -- in another role is another caller.
    principal TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    -- NULL when the call changed nothing (for example lines that were all recorded before).
    audit_seq INTEGER REFERENCES audit_log (seq),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (principal, request_id)
) STRICT;

CREATE TABLE contracts (
    id TEXT PRIMARY KEY NOT NULL,
    gemeente TEXT NOT NULL CHECK (length(gemeente) = 6 AND gemeente LIKE 'GM%'),
    display_name TEXT NOT NULL,
    start_date TEXT NOT NULL,
    term_months INTEGER NOT NULL CHECK (term_months BETWEEN 1 AND 60),
    extension_option_months INTEGER NOT NULL CHECK (extension_option_months BETWEEN 0 AND 60),
    settlement_period_months INTEGER NOT NULL CHECK (settlement_period_months IN (1, 3, 6)),
    intake_window_months INTEGER NOT NULL CHECK (intake_window_months % settlement_period_months = 0),
    service_fee_per_period_cents INTEGER NOT NULL CHECK (service_fee_per_period_cents >= 0),
    minimum_intake_per_window INTEGER NOT NULL CHECK (minimum_intake_per_window >= 0),
    risk_shift_mode TEXT NOT NULL CHECK (risk_shift_mode IN ('FULL', 'PRO_RATA')),
    target_arrangement_1_percent INTEGER NOT NULL,
    target_arrangement_3_percent INTEGER NOT NULL,
    create_time TEXT NOT NULL,
    CHECK (target_arrangement_1_percent + target_arrangement_3_percent = 100)
) STRICT;

CREATE INDEX contracts_by_gemeente ON contracts (gemeente, id);

CREATE TABLE intercedents (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    id TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, id)
) STRICT;

CREATE TABLE hourly_rates (
    contract_id TEXT NOT NULL,
    intercedent_id TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    rate_per_hour_cents INTEGER NOT NULL CHECK (rate_per_hour_cents > 0),
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, intercedent_id, effective_date),
    FOREIGN KEY (contract_id, intercedent_id) REFERENCES intercedents (contract_id, id)
) STRICT;
