-- Directives (熔断): a call may carry a control measure its person must carry out and report
-- done (已落实) within a time after answering.
ALTER TABLE calls ADD COLUMN directive TEXT;          -- "<measure>:<text>", e.g. "stop:立即停止户外作业"
ALTER TABLE calls ADD COLUMN done_within BIGINT;     -- milliseconds after the answer
ALTER TABLE calls ADD COLUMN done_at BIGINT;
ALTER TABLE calls ADD COLUMN done_report TEXT;
