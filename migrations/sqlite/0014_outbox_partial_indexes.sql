-- The outbox's queue indexes hold only the rows their searches look for. Every message used to sit
-- in three state-keyed indexes all its life, so each move (queued → sending → sent) rewrote an
-- entry in each; now a message is in the claim indexes while queued, in the lease index while
-- being sent, and in neither once done (ADR 0020).
DROP INDEX messages_due;
DROP INDEX messages_claim;
DROP INDEX messages_claim_any;
-- Claiming one channel's queue, most urgent first, and when its next message falls due.
CREATE INDEX messages_queued ON messages (channel, priority DESC, next_attempt_at) WHERE state = 'queued';
-- Claiming across channels, and the earliest due of all.
CREATE INDEX messages_queued_due ON messages (next_attempt_at) WHERE state = 'queued';
-- Claims whose lease ran out (a sender that stopped mid-send), per channel.
CREATE INDEX messages_leased ON messages (channel, lease_until) WHERE state = 'sending';
-- Receipts find their message by the provider's id, which only a sent message has.
DROP INDEX messages_by_provider;
CREATE INDEX messages_by_provider ON messages (channel, provider_id) WHERE provider_id IS NOT NULL;
