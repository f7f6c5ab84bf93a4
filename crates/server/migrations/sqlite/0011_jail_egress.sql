-- Schema version 11: the egress log of a jail (allowlist mode), kept with
-- its ledger row: JSON of the first 100 connection attempts through the
-- egress proxy, allowed, denied or failed. NULL for rows without one.

ALTER TABLE jails ADD COLUMN egress TEXT;
