-- Receipts that name the provider's id (Tencent `sid`, Twilio `MessageSid`) find our message by it.
CREATE INDEX messages_by_provider ON messages (channel, provider_id);

-- The outbox sends the most urgent first: red before blue, a first call before a repeat. Higher
-- sends sooner; the claim reads this index in order.
ALTER TABLE messages ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_claim ON messages (channel, state, priority DESC, next_attempt_at);
CREATE INDEX messages_claim_any ON messages (state, priority DESC, next_attempt_at);

-- Channels a message has already been through (comma-separated) when it fails over to a
-- fallback channel, so that fallbacks pointing at each other cannot loop.
ALTER TABLE messages ADD COLUMN tried_channels TEXT NOT NULL DEFAULT '';
