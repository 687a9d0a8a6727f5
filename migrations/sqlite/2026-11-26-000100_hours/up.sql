-- Hours actually worked: entries (and corrections) that are never edited, and the other
-- party's decisions recorded beside them, one per entry (a decision is final).

CREATE TABLE hour_entries (
    contract_id TEXT NOT NULL,
    id TEXT NOT NULL,
    intercedent_id TEXT NOT NULL,
    work_date TEXT NOT NULL,
    period_start TEXT NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes <> 0 AND minutes BETWEEN -1440 AND 1440),
    note TEXT NOT NULL,
    corrects_id TEXT,
    late INTEGER NOT NULL CHECK (late IN (0, 1)),
    submitted_by TEXT NOT NULL,
    submit_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, id),
    FOREIGN KEY (contract_id, intercedent_id) REFERENCES intercedents (contract_id, id),
    FOREIGN KEY (contract_id, corrects_id) REFERENCES hour_entries (contract_id, id),
    CHECK (corrects_id IS NOT NULL OR minutes > 0)
) STRICT;

CREATE INDEX hour_entries_by_day ON hour_entries (contract_id, intercedent_id, work_date);
CREATE INDEX hour_entries_by_period ON hour_entries (contract_id, period_start, id);
CREATE INDEX hour_entries_by_corrected ON hour_entries (contract_id, corrects_id);

CREATE TRIGGER hour_entries_refuse_update BEFORE UPDATE ON hour_entries
BEGIN
    SELECT RAISE(ABORT, 'hour_entries is append-only: UPDATE refused');
END;

CREATE TRIGGER hour_entries_refuse_delete BEFORE DELETE ON hour_entries
BEGIN
    SELECT RAISE(ABORT, 'hour_entries is append-only: DELETE refused');
END;

CREATE TABLE hour_decisions (
    contract_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('VERIFIED', 'REJECTED')),
    decided_by TEXT NOT NULL,
    decide_time TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (contract_id, entry_id),
    FOREIGN KEY (contract_id, entry_id) REFERENCES hour_entries (contract_id, id),
    CHECK (verdict = 'VERIFIED' OR reason IS NOT NULL)
) STRICT;

CREATE TRIGGER hour_decisions_refuse_update BEFORE UPDATE ON hour_decisions
BEGIN
    SELECT RAISE(ABORT, 'hour_decisions is append-only: UPDATE refused');
END;

CREATE TRIGGER hour_decisions_refuse_delete BEFORE DELETE ON hour_decisions
BEGIN
    SELECT RAISE(ABORT, 'hour_decisions is append-only: DELETE refused');
END;
