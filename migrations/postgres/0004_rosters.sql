-- The duty roster: who is on duty for which area, by date (the day the shift starts, China time)
-- and shift (HH:MM-HH:MM, ending the next day when it ends before it starts).
CREATE TABLE rosters (
    area   TEXT NOT NULL,
    person TEXT NOT NULL,
    date   TEXT NOT NULL,
    shift  TEXT NOT NULL,
    PRIMARY KEY (area, date, shift, person)
);
