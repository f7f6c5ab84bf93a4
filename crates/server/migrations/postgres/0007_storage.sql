-- Schema version 7: the tenant storage budget (`--tenant-storage`). What
-- each snapshot holds in the blob pool (the allocated bytes of its distinct
-- blobs: holes are free) and what each workspace was charged when it was
-- made (the bytes restored into it by a fork, or its disk limit).

ALTER TABLE snapshots ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN charged_bytes BIGINT NOT NULL DEFAULT 0;
