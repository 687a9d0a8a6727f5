-- The audit log's Merkle tree (RFC 9162), built beside the write path by the integrator, and
-- its signed checkpoints. A node is the hash of a complete subtree: level L, index i covers
-- entries i·2^L + 1 … (i+1)·2^L; level 0 holds the leaf hashes. Any proof needs O(log n) point
-- reads. Both tables are only ever inserted into, like the log itself.

CREATE TABLE audit_tree_nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx INTEGER NOT NULL CHECK (idx >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT;

CREATE TABLE audit_checkpoints (
    tree_size INTEGER PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    signed_note TEXT NOT NULL,
    create_time TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_tree_nodes_refuse_update BEFORE UPDATE ON audit_tree_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit_tree_nodes is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_tree_nodes_refuse_delete BEFORE DELETE ON audit_tree_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit_tree_nodes is append-only: DELETE refused');
END;
CREATE TRIGGER audit_checkpoints_refuse_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_checkpoints_refuse_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE refused');
END;
