-- The audit log's Merkle tree (RFC 9162), built beside the write path by the integrator, and
-- its signed checkpoints. A node is the hash of a complete subtree: level L, index i covers
-- entries i·2^L + 1 … (i+1)·2^L; level 0 holds the leaf hashes. Any proof needs O(log n) point
-- reads. Both tables are only ever inserted into, like the log itself: an integrator that
-- crashed half-way committed nothing, and two that race cannot store two different trees
-- (the primary keys refuse the second).

CREATE TABLE audit_tree_nodes (
    level SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx BIGINT NOT NULL CHECK (idx >= 0),
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BYTEA NOT NULL CHECK (octet_length(root_hash) = 32),
    signed_note TEXT NOT NULL,
    create_time TIMESTAMP NOT NULL
);

CREATE FUNCTION audit_tree_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER audit_tree_nodes_append_only BEFORE UPDATE OR DELETE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_tree_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_tree_refuse_change();
