-- Sites group an organisation's devices (a warehouse, a plant room). A membership may be scoped to one site: such a
-- member sees only that site's devices and data. Owners and admins are never scoped.
CREATE TABLE sites (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         BIGINT NOT NULL REFERENCES organisations (id),
    name           TEXT   NOT NULL,
    created_at_us  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

ALTER TABLE memberships ADD COLUMN site_id BIGINT REFERENCES sites (id);
