-- The flexpool: candidates the municipality registers, and what happens to them (motivation
-- check, transition from arrangement 3 to 1, outflow from benefits, leaving). Both tables are
-- only ever inserted into.

CREATE TABLE candidates (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    id TEXT NOT NULL,
    arrangement INTEGER NOT NULL CHECK (arrangement IN (1, 3)),
    registration_date TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, id)
) STRICT;

CREATE INDEX candidates_by_registration ON candidates (contract_id, registration_date);

CREATE TABLE candidate_events (
    contract_id TEXT NOT NULL,
    candidate_id TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    kind TEXT NOT NULL CHECK (kind IN ('MOTIVATION_CHECK', 'TRANSITION_TO_1', 'FULL_OUTFLOW', 'PARTIAL_OUTFLOW', 'LEFT')),
    event_date TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    record_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, candidate_id, seq),
    FOREIGN KEY (contract_id, candidate_id) REFERENCES candidates (contract_id, id)
) STRICT;

CREATE TRIGGER candidates_refuse_update BEFORE UPDATE ON candidates
BEGIN
    SELECT RAISE(ABORT, 'candidates is append-only: UPDATE refused');
END;

CREATE TRIGGER candidates_refuse_delete BEFORE DELETE ON candidates
BEGIN
    SELECT RAISE(ABORT, 'candidates is append-only: DELETE refused');
END;

CREATE TRIGGER candidate_events_refuse_update BEFORE UPDATE ON candidate_events
BEGIN
    SELECT RAISE(ABORT, 'candidate_events is append-only: UPDATE refused');
END;

CREATE TRIGGER candidate_events_refuse_delete BEFORE DELETE ON candidate_events
BEGIN
    SELECT RAISE(ABORT, 'candidate_events is append-only: DELETE refused');
END;
