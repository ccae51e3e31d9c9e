-- Brute-force protection counters, shared by every server instance.
CREATE TABLE sign_in_failures (
    user_id               BIGINT PRIMARY KEY REFERENCES users (id),
    window_start_us       BIGINT NOT NULL,
    window_failures       BIGINT NOT NULL,
    consecutive_failures  BIGINT NOT NULL,
    locked_until_us       BIGINT NOT NULL
);

-- Client addresses appear only as a keyed hash.
CREATE TABLE client_throttle (
    client_key     BYTEA  PRIMARY KEY,
    milli_tokens   BIGINT NOT NULL,
    updated_at_us  BIGINT NOT NULL
);
