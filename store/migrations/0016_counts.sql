-- Chunked campaign start (package campaigns, snapshot.go): a start marks the
-- campaign running at once and copies its audience into deliveries in short
-- write transactions, so the writer is never held for the whole audience.
-- snapshot_upto: the highest subscriber id at the start while the copy is
-- under way (NULL once the audience is complete); nobody enrolled after the
-- start is taken. snapshot_until: the lease of the process copying it; after
-- a crash another process (Tick) takes the copy over once it has run out.
ALTER TABLE campaigns ADD COLUMN snapshot_upto INTEGER;
ALTER TABLE campaigns ADD COLUMN snapshot_until INTEGER;
