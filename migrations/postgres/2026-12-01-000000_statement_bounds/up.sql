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

ALTER TABLE statements ADD COLUMN inputs_until DATE;
ALTER TABLE statements ADD COLUMN inputs_through BIGINT;
ALTER TABLE hour_decisions ADD COLUMN decision_seq BIGINT;
ALTER TABLE savings_decisions ADD COLUMN decision_seq BIGINT;

ALTER TABLE statements DISABLE TRIGGER statements_refuse_update_and_delete;
ALTER TABLE hour_decisions DISABLE TRIGGER hour_decisions_refuse_update_and_delete;
ALTER TABLE savings_decisions DISABLE TRIGGER savings_decisions_refuse_update_and_delete;

UPDATE statements AS s SET inputs_through = COALESCE((
    SELECT MIN(a.seq) FROM audit_log AS a
    WHERE a.resource = 'contracts/' || s.contract_id || '/statements/' || to_char(s.period_start, 'YYYY-MM-DD')
), 1) - 1;

-- A run-off statement takes in inputs dated up to the contract's last period: the last
-- period an ordinary statement settled.
UPDATE statements AS s SET inputs_until = CASE
    WHEN (s.content::jsonb ->> 'run_off')::boolean THEN (
        SELECT MAX(o.period_start) FROM statements AS o
        WHERE o.contract_id = s.contract_id AND NOT (o.content::jsonb ->> 'run_off')::boolean
    )
    ELSE s.period_start
END;

UPDATE hour_decisions AS d SET decision_seq = COALESCE(
    (SELECT s.inputs_through FROM statement_inputs AS i
     JOIN statements AS s ON s.contract_id = i.contract_id AND s.period_start = i.statement_period_start
     WHERE i.contract_id = d.contract_id AND i.kind = 'HOURS' AND i.input_id = d.entry_id),
    (SELECT last_value FROM sequences WHERE name = 'audit_log'),
    0
);

UPDATE savings_decisions AS d SET decision_seq = COALESCE(
    (SELECT s.inputs_through FROM statement_inputs AS i
     JOIN statements AS s ON s.contract_id = i.contract_id AND s.period_start = i.statement_period_start
     WHERE i.contract_id = d.contract_id AND i.kind = 'SAVINGS' AND i.input_id = d.record_id),
    (SELECT last_value FROM sequences WHERE name = 'audit_log'),
    0
);

ALTER TABLE statements ENABLE TRIGGER statements_refuse_update_and_delete;
ALTER TABLE hour_decisions ENABLE TRIGGER hour_decisions_refuse_update_and_delete;
ALTER TABLE savings_decisions ENABLE TRIGGER savings_decisions_refuse_update_and_delete;

ALTER TABLE statements ALTER COLUMN inputs_until SET NOT NULL;
ALTER TABLE statements ALTER COLUMN inputs_through SET NOT NULL;
ALTER TABLE hour_decisions ALTER COLUMN decision_seq SET NOT NULL;
ALTER TABLE savings_decisions ALTER COLUMN decision_seq SET NOT NULL;

DROP TABLE statement_inputs;
