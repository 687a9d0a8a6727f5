//! The audit log's Merkle tree and its signed checkpoints, as stored: complete-subtree hashes
//! keyed by (level, index), and one row per published checkpoint. Both are only ever inserted
//! into; the database refuses UPDATE and DELETE.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use super::schema::{audit_checkpoints, audit_tree_nodes};
use super::{AnyConnection, INSERT_CHUNK_ROWS, from_stored_time, to_stored_time};
use crate::domain::tlog::{Hash, NodeId};
use crate::error::{Context, Error};

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Entries in the tree.
    pub tree_size: u64,
    /// The tree's root hash.
    pub root_hash: Hash,
    /// The C2SP signed note.
    pub signed_note: String,
    /// When it was published.
    pub create_time: chrono::DateTime<chrono::Utc>,
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::internal("reading the audit log's tree", detail.into())
}

fn hash_of(bytes: Vec<u8>) -> Result<Hash, Error> {
    Hash::try_from(bytes.as_slice()).map_err(|_| corrupt(format!("a stored hash has {} bytes", bytes.len())))
}

fn size_of(stored: i64) -> Result<u64, Error> {
    u64::try_from(stored).map_err(|_| corrupt("a negative tree size"))
}

fn stored_size(size: u64) -> Result<i64, Error> {
    i64::try_from(size).map_err(|_| Error::internal("storing the audit log's tree", "a tree size beyond i64"))
}

/// How many entries the tree holds: one past the last leaf stored.
///
/// # Errors
/// A storage fault.
pub fn integrated_size(connection: &mut AnyConnection) -> Result<u64, Error> {
    let last: Option<i64> = audit_tree_nodes::table
        .filter(audit_tree_nodes::level.eq(0_i16))
        .select(diesel::dsl::max(audit_tree_nodes::idx))
        .first(connection)
        .context("reading the audit tree's size")?;
    last.map_or(Ok(0), |last| size_of(last).map(|last| last + 1))
}

/// Reads the hashes of `ids` in one query; absent nodes are left out.
///
/// # Errors
/// A storage fault.
pub fn read_nodes(connection: &mut AnyConnection, ids: &BTreeSet<NodeId>) -> Result<HashMap<NodeId, Hash>, Error> {
    let mut found = HashMap::with_capacity(ids.len());
    let wanted: Vec<&NodeId> = ids.iter().collect();
    for chunk in wanted.chunks(INSERT_CHUNK_ROWS) {
        // One level per condition keeps the query index-friendly: (level = L AND idx IN (...)).
        let mut by_level: HashMap<u8, Vec<i64>> = HashMap::new();
        for id in chunk {
            by_level.entry(id.level).or_default().push(stored_size(id.index)?);
        }
        let mut query = audit_tree_nodes::table
            .select((audit_tree_nodes::level, audit_tree_nodes::idx, audit_tree_nodes::hash))
            .into_boxed();
        let mut first = true;
        for (level, indexes) in by_level {
            let condition = audit_tree_nodes::level.eq(i16::from(level)).and(audit_tree_nodes::idx.eq_any(indexes));
            query = if first { query.filter(condition) } else { query.or_filter(condition) };
            first = false;
        }
        let rows: Vec<(i16, i64, Vec<u8>)> = query.load(connection).context("reading audit tree nodes")?;
        for (level, index, hash) in rows {
            let level = u8::try_from(level).map_err(|_| corrupt("a node level out of range"))?;
            found.insert(NodeId { level, index: size_of(index)? }, hash_of(hash)?);
        }
    }
    Ok(found)
}

/// Stores new complete-subtree nodes.
///
/// # Errors
/// A storage fault; a node stored before is refused by the primary key (two integrators never
/// store two trees).
pub fn insert_nodes(connection: &mut AnyConnection, nodes: &[(NodeId, Hash)]) -> Result<(), Error> {
    let rows: Vec<_> = nodes
        .iter()
        .map(|(id, hash)| {
            Ok((
                audit_tree_nodes::level.eq(i16::from(id.level)),
                audit_tree_nodes::idx.eq(stored_size(id.index)?),
                audit_tree_nodes::hash.eq(hash.to_vec()),
            ))
        })
        .collect::<Result<_, Error>>()?;
    for chunk in rows.chunks(INSERT_CHUNK_ROWS) {
        match connection {
            AnyConnection::Postgresql(pg) => diesel::insert_into(audit_tree_nodes::table).values(chunk).execute(pg),
            AnyConnection::Sqlite(sqlite) => diesel::insert_into(audit_tree_nodes::table).values(chunk).execute(sqlite),
        }
        .context("storing audit tree nodes")?;
    }
    Ok(())
}

/// Stores a checkpoint.
///
/// # Errors
/// A storage fault (one checkpoint per size: a second is refused by the primary key).
pub fn insert_checkpoint(connection: &mut AnyConnection, checkpoint: &StoredCheckpoint) -> Result<(), Error> {
    diesel::insert_into(audit_checkpoints::table)
        .values((
            audit_checkpoints::tree_size.eq(stored_size(checkpoint.tree_size)?),
            audit_checkpoints::root_hash.eq(checkpoint.root_hash.to_vec()),
            audit_checkpoints::signed_note.eq(&checkpoint.signed_note),
            audit_checkpoints::create_time.eq(to_stored_time(checkpoint.create_time)),
        ))
        .execute(connection)
        .context("storing a checkpoint")?;
    Ok(())
}

type CheckpointRow = (i64, Vec<u8>, String, chrono::NaiveDateTime);

fn into_checkpoint((size, root, note, time): CheckpointRow) -> Result<StoredCheckpoint, Error> {
    Ok(StoredCheckpoint {
        tree_size: size_of(size)?,
        root_hash: hash_of(root)?,
        signed_note: note,
        create_time: from_stored_time(time),
    })
}

/// The checkpoint of `tree_size`, or the latest one without a size.
///
/// # Errors
/// A storage fault.
pub fn checkpoint(connection: &mut AnyConnection, tree_size: Option<u64>) -> Result<Option<StoredCheckpoint>, Error> {
    let mut query = audit_checkpoints::table
        .select((
            audit_checkpoints::tree_size,
            audit_checkpoints::root_hash,
            audit_checkpoints::signed_note,
            audit_checkpoints::create_time,
        ))
        .order(audit_checkpoints::tree_size.desc())
        .into_boxed();
    if let Some(size) = tree_size {
        query = query.filter(audit_checkpoints::tree_size.eq(stored_size(size)?));
    }
    let row: Option<CheckpointRow> = query.first(connection).optional().context("reading a checkpoint")?;
    row.map(into_checkpoint).transpose()
}
