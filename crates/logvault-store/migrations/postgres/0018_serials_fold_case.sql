-- Serials are unique without regard to letter case, so nobody can register `ACME-0001` beside `acme-0001` (a
-- look-alike in another organisation). The display form stays as registered; lookups stay exact (the block's tag
-- covers the serial's bytes as sent). Serials are ASCII, so lower() folds them the same way on both engines. A
-- database that already holds two serials differing only in case refuses this migration until one is renamed.
CREATE UNIQUE INDEX devices_serial_folded ON devices (lower(serial));
CREATE UNIQUE INDEX unclaimed_devices_serial_folded ON unclaimed_devices (lower(serial));
