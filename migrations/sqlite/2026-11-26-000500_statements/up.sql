-- Settlement statements, one per contract and period, and the inputs each one took in: the
-- primary key of statement_inputs puts every verified input in at most one statement. Both
-- tables are only ever inserted into: an issued statement is never edited.

CREATE TABLE statements (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    period_start TEXT NOT NULL,
    number TEXT NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    settled_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (contract_id, period_start),
    UNIQUE (contract_id, number)
) STRICT;

CREATE TABLE statement_inputs (
    contract_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('HOURS', 'SAVINGS')),
    input_id TEXT NOT NULL,
    statement_period_start TEXT NOT NULL,
    PRIMARY KEY (contract_id, kind, input_id),
    FOREIGN KEY (contract_id, statement_period_start) REFERENCES statements (contract_id, period_start)
) STRICT;

CREATE TRIGGER statements_refuse_update BEFORE UPDATE ON statements
BEGIN
    SELECT RAISE(ABORT, 'statements is append-only: UPDATE refused');
END;

CREATE TRIGGER statements_refuse_delete BEFORE DELETE ON statements
BEGIN
    SELECT RAISE(ABORT, 'statements is append-only: DELETE refused');
END;

CREATE TRIGGER statement_inputs_refuse_update BEFORE UPDATE ON statement_inputs
BEGIN
    SELECT RAISE(ABORT, 'statement_inputs is append-only: UPDATE refused');
END;

CREATE TRIGGER statement_inputs_refuse_delete BEFORE DELETE ON statement_inputs
BEGIN
    SELECT RAISE(ABORT, 'statement_inputs is append-only: DELETE refused');
END;
