-- A fencing token per endpoint lease: incremented on every takeover (a new
-- owner, or the same owner again after the lease lapsed). Every attempt
-- record names the epoch it was sent under and is written only while that
-- epoch holds the lease, so a replica that lost its lease can never record.
ALTER TABLE herald_endpoint_lease ADD COLUMN epoch BIGINT NOT NULL DEFAULT 1;
