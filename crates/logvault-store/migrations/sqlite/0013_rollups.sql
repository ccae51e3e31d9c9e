-- Rollups of the measurements per device, channel and time bucket at three levels — a minute, an hour, a day — kept
-- by ingest in the same transaction as the rows they summarise, so that a bucketed query over a year reads thousands
-- of rollup rows instead of half a million measurements. Derived data: ingest grows a rollup as new values of its
-- bucket arrive (more values, a lower minimum, a higher maximum); nothing may shrink, move or delete one.
CREATE TABLE measurement_rollups (
    device_id       INTEGER NOT NULL REFERENCES devices (id),
    channel         INTEGER NOT NULL,
    level_s         INTEGER NOT NULL CHECK (level_s IN (60, 3600, 86400)),
    bucket_start_s  INTEGER NOT NULL CHECK (bucket_start_s % level_s = 0),
    min_value       INTEGER NOT NULL,
    max_value       INTEGER NOT NULL CHECK (max_value >= min_value),
    sum_value       INTEGER NOT NULL,
    n_values        INTEGER NOT NULL CHECK (n_values > 0),
    PRIMARY KEY (device_id, channel, level_s, bucket_start_s)
) STRICT, WITHOUT ROWID;

-- The measurements kept before this migration. A bucket starts at the floor of the time to its level (also for
-- times before 1970, where `%` alone would round towards zero).
INSERT INTO measurement_rollups
    (device_id, channel, level_s, bucket_start_s, min_value, max_value, sum_value, n_values)
SELECT m.device_id, m.channel, l.level_s, m.t_s - ((m.t_s % l.level_s) + l.level_s) % l.level_s AS bucket_start_s,
       MIN(m.value), MAX(m.value), SUM(m.value), COUNT(*)
FROM measurements m
CROSS JOIN (SELECT 60 AS level_s UNION ALL SELECT 3600 UNION ALL SELECT 86400) l
GROUP BY m.device_id, m.channel, l.level_s, bucket_start_s;

CREATE TRIGGER measurement_rollups_are_kept BEFORE DELETE ON measurement_rollups
BEGIN
    SELECT RAISE(ABORT, 'measurement rollups are kept');
END;
-- A rollup only absorbs more values: its key stays, its count rises, its range widens or stays.
CREATE TRIGGER measurement_rollups_only_grow BEFORE UPDATE ON measurement_rollups
WHEN NEW.device_id <> OLD.device_id OR NEW.channel <> OLD.channel OR NEW.level_s <> OLD.level_s
    OR NEW.bucket_start_s <> OLD.bucket_start_s OR NEW.n_values <= OLD.n_values
    OR NEW.min_value > OLD.min_value OR NEW.max_value < OLD.max_value
BEGIN
    SELECT RAISE(ABORT, 'measurement rollups only grow');
END;
