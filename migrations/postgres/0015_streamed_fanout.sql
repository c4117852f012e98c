-- A big alert's calls are committed in chunks, so the outbox sends the first while the rest are
-- written (ADR 0020). Until the last chunk commits the alert is marked; a crash in between leaves
-- the mark, and the fan-out is finished at the next start.
ALTER TABLE alerts ADD COLUMN fanout_pending INTEGER NOT NULL DEFAULT 0 CHECK (fanout_pending IN (0, 1));
CREATE INDEX alerts_fanout_pending ON alerts (id) WHERE fanout_pending = 1;
