-- The time of the last audit entry, kept on the counter row that orders the log: a writer
-- takes max(its own time, this) under the write lock, so time never runs backwards along the
-- log, whatever the order in which writers read their clocks.
ALTER TABLE sequences ADD COLUMN last_time TEXT;
UPDATE sequences SET last_time = (SELECT max(recorded_at) FROM audit_log) WHERE name = 'audit_log';
