-- Live replicas, for balancing endpoint leases: each replica renews its row
-- at every outbox sweep; a replica whose row has expired is gone.
CREATE TABLE herald_replica (
    node_id    TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
