-- Foundation: sequences, the append-only audit log, idempotency records, contracts,
-- intercedents and hourly rates. Money is BIGINT cents; no column holds a floating-point number.

CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    last_value BIGINT NOT NULL CHECK (last_value >= 0)
);

INSERT INTO sequences (name, last_value) VALUES ('audit_log', 0);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY CHECK (seq >= 1),
    recorded_at TIMESTAMP NOT NULL,
    principal_subject TEXT NOT NULL,
    principal_role TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    request_id TEXT NOT NULL,
    payload TEXT NOT NULL
);

-- Refuses any change to a row of an append-only table, and TRUNCATE of the table.
CREATE FUNCTION flexsettle_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_refuses_update_and_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();

CREATE TRIGGER audit_log_refuses_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();

-- No role but the owner may change the log; the triggers stop the owner too.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

CREATE TABLE idempotency_records (
    -- The caller: its role label and subject, e.g. `gemeente:GM0344/alice`. The same subject
    -- in another role is another caller.
    principal TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    -- NULL when the call changed nothing (for example lines that were all recorded before).
    audit_seq BIGINT REFERENCES audit_log (seq),
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, request_id)
);

CREATE TABLE contracts (
    id TEXT PRIMARY KEY,
    gemeente TEXT NOT NULL CHECK (gemeente ~ '^GM[0-9]{4}$'),
    display_name TEXT NOT NULL,
    start_date DATE NOT NULL,
    term_months INTEGER NOT NULL CHECK (term_months BETWEEN 1 AND 60),
    extension_option_months INTEGER NOT NULL CHECK (extension_option_months BETWEEN 0 AND 60),
    settlement_period_months INTEGER NOT NULL CHECK (settlement_period_months IN (1, 3, 6)),
    intake_window_months INTEGER NOT NULL CHECK (intake_window_months % settlement_period_months = 0),
    service_fee_per_period_cents BIGINT NOT NULL CHECK (service_fee_per_period_cents >= 0),
    minimum_intake_per_window INTEGER NOT NULL CHECK (minimum_intake_per_window >= 0),
    risk_shift_mode TEXT NOT NULL CHECK (risk_shift_mode IN ('FULL', 'PRO_RATA')),
    target_arrangement_1_percent INTEGER NOT NULL,
    target_arrangement_3_percent INTEGER NOT NULL,
    create_time TIMESTAMP NOT NULL,
    CHECK (target_arrangement_1_percent + target_arrangement_3_percent = 100)
);

CREATE INDEX contracts_by_gemeente ON contracts (gemeente, id);

CREATE TABLE intercedents (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    id TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, id)
);

CREATE TABLE hourly_rates (
    contract_id TEXT NOT NULL,
    intercedent_id TEXT NOT NULL,
    effective_date DATE NOT NULL,
    rate_per_hour_cents BIGINT NOT NULL CHECK (rate_per_hour_cents > 0),
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, intercedent_id, effective_date),
    FOREIGN KEY (contract_id, intercedent_id) REFERENCES intercedents (contract_id, id)
);
