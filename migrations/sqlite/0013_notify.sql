-- The PostgreSQL migration of this number adds a NOTIFY trigger so that several instances learn
-- of each other's call events at once. A SQLite file serves one instance, whose event streams
-- poll the log: nothing to do here; the file keeps the two migration lists in step.
SELECT 1;
