-- The go/no-go (R1, R8): evaluations of checkpoints, stored with the SHA-256 of their canonical
-- content; each party's decision; and what became of a contract (extension exercised, early
-- end after a no-go). All three are only ever inserted into.

CREATE TABLE contract_events (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    kind TEXT NOT NULL CHECK (kind IN ('EXTENDED', 'ENDED')),
    effective_date DATE NOT NULL,
    detail TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    record_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, kind)
);

CREATE TABLE evaluations (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    checkpoint DATE NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    evaluated_by TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, checkpoint)
);

CREATE TABLE go_no_go_decisions (
    contract_id TEXT NOT NULL,
    checkpoint DATE NOT NULL,
    party TEXT NOT NULL CHECK (party IN ('flextensie', 'gemeente')),
    decision TEXT NOT NULL CHECK (decision IN ('GO', 'NO_GO')),
    reasons TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decide_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, checkpoint, party),
    FOREIGN KEY (contract_id, checkpoint) REFERENCES evaluations (contract_id, checkpoint)
);

CREATE TRIGGER contract_events_refuse_update_and_delete BEFORE UPDATE OR DELETE ON contract_events
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER contract_events_refuse_truncate BEFORE TRUNCATE ON contract_events
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON contract_events FROM PUBLIC;

CREATE TRIGGER evaluations_refuse_update_and_delete BEFORE UPDATE OR DELETE ON evaluations
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER evaluations_refuse_truncate BEFORE TRUNCATE ON evaluations
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON evaluations FROM PUBLIC;

CREATE TRIGGER go_no_go_decisions_refuse_update_and_delete BEFORE UPDATE OR DELETE ON go_no_go_decisions
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER go_no_go_decisions_refuse_truncate BEFORE TRUNCATE ON go_no_go_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON go_no_go_decisions FROM PUBLIC;
