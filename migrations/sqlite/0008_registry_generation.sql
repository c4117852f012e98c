-- A counter bumped by every registry change, in the same transaction. Instances keep the
-- registry in memory and reload it only when the counter moved (one tiny read instead of
-- reading every person, unit and area per alert and per timer step).
CREATE TABLE registry_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO registry_generation (id, generation) VALUES (1, 0);
