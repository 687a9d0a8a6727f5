-- The go/no-go (R1, R8): evaluations of checkpoints, stored with the SHA-256 of their canonical
-- content; each party's decision; and what became of a contract (extension exercised, early
-- end after a no-go). All three are only ever inserted into.

CREATE TABLE contract_events (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    kind TEXT NOT NULL CHECK (kind IN ('EXTENDED', 'ENDED')),
    effective_date TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    record_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, kind)
) STRICT;

CREATE TABLE evaluations (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    checkpoint TEXT NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    evaluated_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, checkpoint)
) STRICT;

CREATE TABLE go_no_go_decisions (
    contract_id TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    party TEXT NOT NULL CHECK (party IN ('flextensie', 'gemeente')),
    decision TEXT NOT NULL CHECK (decision IN ('GO', 'NO_GO')),
    reasons TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decide_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, checkpoint, party),
    FOREIGN KEY (contract_id, checkpoint) REFERENCES evaluations (contract_id, checkpoint)
) STRICT;

CREATE TRIGGER contract_events_refuse_update BEFORE UPDATE ON contract_events
BEGIN
    SELECT RAISE(ABORT, 'contract_events is append-only: UPDATE refused');
END;

CREATE TRIGGER contract_events_refuse_delete BEFORE DELETE ON contract_events
BEGIN
    SELECT RAISE(ABORT, 'contract_events is append-only: DELETE refused');
END;

CREATE TRIGGER evaluations_refuse_update BEFORE UPDATE ON evaluations
BEGIN
    SELECT RAISE(ABORT, 'evaluations is append-only: UPDATE refused');
END;

CREATE TRIGGER evaluations_refuse_delete BEFORE DELETE ON evaluations
BEGIN
    SELECT RAISE(ABORT, 'evaluations is append-only: DELETE refused');
END;

CREATE TRIGGER go_no_go_decisions_refuse_update BEFORE UPDATE ON go_no_go_decisions
BEGIN
    SELECT RAISE(ABORT, 'go_no_go_decisions is append-only: UPDATE refused');
END;

CREATE TRIGGER go_no_go_decisions_refuse_delete BEFORE DELETE ON go_no_go_decisions
BEGIN
    SELECT RAISE(ABORT, 'go_no_go_decisions is append-only: DELETE refused');
END;
