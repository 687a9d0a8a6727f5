-- Only corrections name the entry they correct: index those, not every entry. A line recorded
-- then updates three indexes instead of four; lookups by corrected entry (`corrects_id = …`)
-- imply `corrects_id IS NOT NULL`, so both backends still use the index for them.
DROP INDEX hour_entries_by_corrected;
CREATE INDEX hour_entries_by_corrected ON hour_entries (contract_id, corrects_id) WHERE corrects_id IS NOT NULL;
