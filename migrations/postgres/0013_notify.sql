-- Live boards on every instance (issue 8): each statement that adds call events announces it on
-- the channel `jiaoying_events`; every instance LISTENs and wakes its event streams, which then
-- read the log. No payload (the log is the truth) and one notice per statement; PostgreSQL also
-- folds identical notices of one transaction into one, delivered at commit.
CREATE OR REPLACE FUNCTION jiaoying_notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jiaoying_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER call_events_notify
    AFTER INSERT ON call_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION jiaoying_notify_events();
