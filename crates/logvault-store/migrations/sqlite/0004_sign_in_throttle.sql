-- Brute-force protection counters, shared by every server instance.
CREATE TABLE sign_in_failures (
    user_id               INTEGER PRIMARY KEY REFERENCES users (id),
    window_start_us       INTEGER NOT NULL,
    window_failures       INTEGER NOT NULL,
    consecutive_failures  INTEGER NOT NULL,
    locked_until_us       INTEGER NOT NULL
) STRICT;

-- Client addresses appear only as a keyed hash.
CREATE TABLE client_throttle (
    client_key     BLOB    PRIMARY KEY,
    milli_tokens   INTEGER NOT NULL,
    updated_at_us  INTEGER NOT NULL
) STRICT;
