-- Hours actually worked: entries (and corrections) that are never edited, and the other
-- party's decisions recorded beside them, one per entry (a decision is final).

CREATE TABLE hour_entries (
    contract_id TEXT NOT NULL,
    id TEXT NOT NULL,
    intercedent_id TEXT NOT NULL,
    work_date DATE NOT NULL,
    period_start DATE NOT NULL,
    minutes BIGINT NOT NULL CHECK (minutes <> 0 AND minutes BETWEEN -1440 AND 1440),
    note TEXT NOT NULL,
    corrects_id TEXT,
    late BOOLEAN NOT NULL,
    submitted_by TEXT NOT NULL,
    submit_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, id),
    FOREIGN KEY (contract_id, intercedent_id) REFERENCES intercedents (contract_id, id),
    FOREIGN KEY (contract_id, corrects_id) REFERENCES hour_entries (contract_id, id),
    CHECK (corrects_id IS NOT NULL OR minutes > 0)
);

CREATE INDEX hour_entries_by_day ON hour_entries (contract_id, intercedent_id, work_date);
CREATE INDEX hour_entries_by_period ON hour_entries (contract_id, period_start, id);
CREATE INDEX hour_entries_by_corrected ON hour_entries (contract_id, corrects_id);

CREATE TRIGGER hour_entries_refuse_update_and_delete BEFORE UPDATE OR DELETE ON hour_entries
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER hour_entries_refuse_truncate BEFORE TRUNCATE ON hour_entries
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON hour_entries FROM PUBLIC;

CREATE TABLE hour_decisions (
    contract_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('VERIFIED', 'REJECTED')),
    decided_by TEXT NOT NULL,
    decide_time TIMESTAMP NOT NULL,
    reason TEXT,
    PRIMARY KEY (contract_id, entry_id),
    FOREIGN KEY (contract_id, entry_id) REFERENCES hour_entries (contract_id, id),
    CHECK (verdict = 'VERIFIED' OR reason IS NOT NULL)
);

CREATE TRIGGER hour_decisions_refuse_update_and_delete BEFORE UPDATE OR DELETE ON hour_decisions
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER hour_decisions_refuse_truncate BEFORE TRUNCATE ON hour_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON hour_decisions FROM PUBLIC;
