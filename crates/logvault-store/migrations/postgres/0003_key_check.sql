-- SHA-256 of a key derived from the master key: lets a server detect a wrong or replaced master key before it
-- reads or writes anything else (SQLCipher already refuses a wrong key; PostgreSQL needs this).
CREATE TABLE instance_key_check (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    key_check  BYTEA    NOT NULL
);
