-- Sites group an organisation's devices (a warehouse, a plant room). A membership may be scoped to one site: such a
-- member sees only that site's devices and data. Owners and admins are never scoped.
CREATE TABLE sites (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         INTEGER NOT NULL REFERENCES organisations (id),
    name           TEXT    NOT NULL,
    created_at_us  INTEGER NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

ALTER TABLE memberships ADD COLUMN site_id INTEGER REFERENCES sites (id);
