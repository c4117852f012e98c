-- A call's state moves three or four times in its life (pending, sent, answered, done); the index
-- that finds a person's calls held the state too, so every move rewrote an entry in it. A person
-- has a handful of calls: the state is read from the rows the index finds (ADR 0021).
DROP INDEX calls_by_person;
CREATE INDEX calls_by_person ON calls (person_id);
