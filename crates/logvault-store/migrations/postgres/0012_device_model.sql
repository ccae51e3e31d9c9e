-- The logger model a device was registered with (JSON: channels with their resolution tables, memory mode and
-- capacity, sampling interval). Without one, the first accepted block sets the channel layout.
ALTER TABLE devices ADD COLUMN model TEXT;
