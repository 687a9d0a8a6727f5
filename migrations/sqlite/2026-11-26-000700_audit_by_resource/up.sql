-- A statement's audit entry is found by its resource name (GetStatement, SettlePeriod): an
-- index keeps that lookup from scanning a log that only grows.
CREATE INDEX audit_log_by_resource ON audit_log (resource);
