-- Realised savings per contract and settlement period: records (and corrections) that are
-- never edited, and the other party's decisions beside them, one per record (final).

CREATE TABLE savings_records (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    id TEXT NOT NULL,
    period_start DATE NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents <> 0),
    kind TEXT NOT NULL CHECK (kind IN ('FULL_OUTFLOW', 'PARTIAL_OUTFLOW')),
    candidate TEXT,
    certainty TEXT NOT NULL CHECK (certainty IN ('PROVISIONAL', 'DEFINITIVE')),
    note TEXT NOT NULL,
    corrects_id TEXT,
    late BOOLEAN NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_party TEXT NOT NULL CHECK (submitted_party IN ('flextensie', 'gemeente')),
    submit_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, id),
    FOREIGN KEY (contract_id, corrects_id) REFERENCES savings_records (contract_id, id),
    CHECK (corrects_id IS NOT NULL OR amount_cents > 0)
);

CREATE INDEX savings_records_by_period ON savings_records (contract_id, period_start, id);
CREATE INDEX savings_records_by_corrected ON savings_records (contract_id, corrects_id);

CREATE TRIGGER savings_records_refuse_update_and_delete BEFORE UPDATE OR DELETE ON savings_records
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER savings_records_refuse_truncate BEFORE TRUNCATE ON savings_records
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON savings_records FROM PUBLIC;

CREATE TABLE savings_decisions (
    contract_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('VERIFIED', 'REJECTED')),
    decided_by TEXT NOT NULL,
    decide_time TIMESTAMP NOT NULL,
    reason TEXT,
    PRIMARY KEY (contract_id, record_id),
    FOREIGN KEY (contract_id, record_id) REFERENCES savings_records (contract_id, id),
    CHECK (verdict = 'VERIFIED' OR reason IS NOT NULL)
);

CREATE TRIGGER savings_decisions_refuse_update_and_delete BEFORE UPDATE OR DELETE ON savings_decisions
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER savings_decisions_refuse_truncate BEFORE TRUNCATE ON savings_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON savings_decisions FROM PUBLIC;
