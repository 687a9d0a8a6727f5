-- A statement's inputs as two bounds instead of one statement_inputs row per input (see
-- src/domain/inputs.rs): every decision records the sequence number of the audit entry that
-- records it (decision_seq), and a statement takes in the verified inputs dated up to the
-- period starting inputs_until and decided in audit entries up to inputs_through that no
-- earlier statement took. Statements are issued in period order and both bounds only grow, so
-- the earlier statements took exactly the inputs within the latest statement's bounds.
--
-- Existing rows are given bounds that name the same inputs as their statement_inputs rows:
-- a statement's inputs_through is the sequence number before its own audit entry, an input it
-- took carries that number, and every other decision the audit counter's current value
-- (after every statement so far, and not after any statement still to come).

ALTER TABLE statements ADD COLUMN inputs_until TEXT NOT NULL DEFAULT '';
ALTER TABLE statements ADD COLUMN inputs_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hour_decisions ADD COLUMN decision_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE savings_decisions ADD COLUMN decision_seq INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER statements_refuse_update;
DROP TRIGGER hour_decisions_refuse_update;
DROP TRIGGER savings_decisions_refuse_update;

UPDATE statements SET inputs_through = COALESCE((
    SELECT MIN(a.seq) FROM audit_log AS a
    WHERE a.resource = 'contracts/' || statements.contract_id || '/statements/' || statements.period_start
), 1) - 1;

-- A run-off statement takes in inputs dated up to the contract's last period: the last
-- period an ordinary statement settled.
UPDATE statements SET inputs_until = CASE
    WHEN json_extract(statements.content, '$.run_off') THEN (
        SELECT MAX(o.period_start) FROM statements AS o
        WHERE o.contract_id = statements.contract_id AND NOT json_extract(o.content, '$.run_off')
    )
    ELSE statements.period_start
END;

UPDATE hour_decisions SET decision_seq = COALESCE(
    (SELECT s.inputs_through FROM statement_inputs AS i
     JOIN statements AS s ON s.contract_id = i.contract_id AND s.period_start = i.statement_period_start
     WHERE i.contract_id = hour_decisions.contract_id AND i.kind = 'HOURS' AND i.input_id = hour_decisions.entry_id),
    (SELECT last_value FROM sequences WHERE name = 'audit_log'),
    0
);

UPDATE savings_decisions SET decision_seq = COALESCE(
    (SELECT s.inputs_through FROM statement_inputs AS i
     JOIN statements AS s ON s.contract_id = i.contract_id AND s.period_start = i.statement_period_start
     WHERE i.contract_id = savings_decisions.contract_id AND i.kind = 'SAVINGS'
       AND i.input_id = savings_decisions.record_id),
    (SELECT last_value FROM sequences WHERE name = 'audit_log'),
    0
);

CREATE TRIGGER statements_refuse_update BEFORE UPDATE ON statements
BEGIN
    SELECT RAISE(ABORT, 'statements is append-only: UPDATE refused');
END;

CREATE TRIGGER hour_decisions_refuse_update BEFORE UPDATE ON hour_decisions
BEGIN
    SELECT RAISE(ABORT, 'hour_decisions is append-only: UPDATE refused');
END;

CREATE TRIGGER savings_decisions_refuse_update BEFORE UPDATE ON savings_decisions
BEGIN
    SELECT RAISE(ABORT, 'savings_decisions is append-only: UPDATE refused');
END;

DROP TABLE statement_inputs;
