-- Settlement statements, one per contract and period, and the inputs each one took in: the
-- primary key of statement_inputs puts every verified input in at most one statement. Both
-- tables are only ever inserted into: an issued statement is never edited.

CREATE TABLE statements (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    period_start DATE NOT NULL,
    number TEXT NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    settled_by TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL,
    PRIMARY KEY (contract_id, period_start),
    UNIQUE (contract_id, number)
);

CREATE TABLE statement_inputs (
    contract_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('HOURS', 'SAVINGS')),
    input_id TEXT NOT NULL,
    statement_period_start DATE NOT NULL,
    PRIMARY KEY (contract_id, kind, input_id),
    FOREIGN KEY (contract_id, statement_period_start) REFERENCES statements (contract_id, period_start)
);

CREATE TRIGGER statements_refuse_update_and_delete BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER statements_refuse_truncate BEFORE TRUNCATE ON statements
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON statements FROM PUBLIC;

CREATE TRIGGER statement_inputs_refuse_update_and_delete BEFORE UPDATE OR DELETE ON statement_inputs
    FOR EACH ROW EXECUTE FUNCTION flexsettle_refuse_change();
CREATE TRIGGER statement_inputs_refuse_truncate BEFORE TRUNCATE ON statement_inputs
    FOR EACH STATEMENT EXECUTE FUNCTION flexsettle_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON statement_inputs FROM PUBLIC;
