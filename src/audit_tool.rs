//! `flexsettle audit`: export the log, verify it, and prove a statement — offline, with nothing
//! but the log's public key (DESIGN.md §5, docs/audit-log.md).
//!
//! An export is JSON Lines: a header with the log's latest signed checkpoint, then one line per
//! entry in sequence order with its leaf (base64) and, when exported from the database, the
//! leaf hash the log's own tree stored for it. Verification recomputes the whole tree from the
//! leaves and needs no server.

use std::io::{BufRead, Write};

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::audit::{Action, AuditEntry};
use crate::domain::tlog::{self, Checkpoint, Hash, NoteVerifier};
use crate::storage::hex;

/// The format name of an export's header.
pub const EXPORT_FORMAT: &str = "flexsettle-audit-export/v1";

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    /// The latest signed checkpoint (a C2SP signed note).
    pub checkpoint: String,
}

/// One entry of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportLine {
    /// The entry's sequence number.
    pub seq: i64,
    /// The entry's leaf, base64.
    pub leaf: String,
    /// The leaf hash the log's tree stored for this entry, hex (exports from the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_leaf_hash: Option<String>,
}

/// A statement's evidence bundle as a file: everything `audit prove` checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    /// The statement's name.
    pub statement: String,
    /// Its canonical content.
    pub content: String,
    /// SHA-256 of the content, hex.
    pub content_sha256: String,
    /// Its audit entry's leaf, base64.
    pub leaf: String,
    /// The entry's leaf index.
    pub leaf_index: u64,
    /// The tree size of the proof and the checkpoint.
    pub tree_size: u64,
    /// The inclusion proof, hex hashes from the leaf up.
    pub proof: Vec<String>,
    /// The checkpoint (a C2SP signed note).
    pub checkpoint: String,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The checkpoint verified against.
    pub checkpoint: Checkpoint,
    /// Entries recomputed into the tree.
    pub entries: u64,
    /// Statements whose content hash was checked against their entry.
    pub statements: u64,
}

/// Why a verification failed, naming the first bad entry where one can be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct VerifyFailure {
    /// The first entry found bad, if the failure is one entry's.
    pub first_bad_seq: Option<i64>,
    /// What is wrong.
    pub reason: String,
}

fn fail(first_bad_seq: Option<i64>, reason: impl Into<String>) -> VerifyFailure {
    VerifyFailure { first_bad_seq, reason: reason.into() }
}

fn hash_from_hex(text: &str) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut hash = [0_u8; 32];
    for (index, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    Some(hash)
}

/// Checks a signed checkpoint with the log's key and reads its body.
///
/// # Errors
/// A signature that does not verify, or a body that is not a checkpoint.
pub fn open_checkpoint(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, VerifyFailure> {
    let body = verifier.verify(note).map_err(|error| fail(None, format!("the checkpoint's signature: {error}")))?;
    let checkpoint = Checkpoint::parse_body(&body).map_err(|error| fail(None, format!("the checkpoint: {error}")))?;
    if checkpoint.origin != verifier.name() {
        return Err(fail(None, format!("the checkpoint is of log {:?}, not {:?}", checkpoint.origin, verifier.name())));
    }
    Ok(checkpoint)
}

/// The statement a `statement.settle` entry issued, checked: the SHA-256 of the statement as
/// the entry holds it equals the `content_sha256` the entry names. Gives that hash.
fn settled_statement_hash(entry: &AuditEntry) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Settled<'a> {
        #[serde(borrow)]
        statement: &'a serde_json::value::RawValue,
        content_sha256: String,
    }
    let settled: Settled<'_> = serde_json::from_str(&entry.payload)
        .map_err(|error| format!("its payload is not a settled statement: {error}"))?;
    let computed = hex(&Sha256::digest(settled.statement.get().as_bytes()));
    if computed != settled.content_sha256 {
        return Err(format!(
            "its statement hashes to {computed}, not to the content_sha256 {}",
            settled.content_sha256
        ));
    }
    Ok(settled.content_sha256)
}

/// Verifies an export: the checkpoint's signature, the whole tree recomputed from the leaves
/// against the checkpoint's root, every entry's encoding and sequence, every statement's
/// `content_sha256` against its entry, and — given the checkpoint an earlier run saved — that
/// the log only grew since.
///
/// # Errors
/// The first failure, naming the first bad sequence number where one entry is to blame.
pub fn verify_export(
    export: impl BufRead,
    verifier: &NoteVerifier,
    previous: Option<&str>,
) -> Result<Verified, VerifyFailure> {
    let mut lines = export.lines();
    let header = lines
        .next()
        .ok_or_else(|| fail(None, "the export is empty"))?
        .map_err(|error| fail(None, error.to_string()))?;
    let header: ExportHeader =
        serde_json::from_str(&header).map_err(|error| fail(None, format!("the export's header: {error}")))?;
    if header.format != EXPORT_FORMAT {
        return Err(fail(None, format!("the export's format is {:?}, not {EXPORT_FORMAT:?}", header.format)));
    }
    let checkpoint = open_checkpoint(&header.checkpoint, verifier)?;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut stored: Vec<Option<Hash>> = Vec::new();
    let mut statements = 0_u64;
    let mut first_content_error = None;
    for (index, line) in lines.enumerate() {
        let expected = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        let line = line.map_err(|error| fail(Some(expected), error.to_string()))?;
        let line: ExportLine =
            serde_json::from_str(&line).map_err(|error| fail(Some(expected), format!("entry line: {error}")))?;
        if line.seq != expected {
            return Err(fail(
                Some(expected),
                format!("entry {expected} is missing (the next line is entry {})", line.seq),
            ));
        }
        let leaf = BASE64.decode(&line.leaf).map_err(|error| fail(Some(line.seq), format!("leaf: {error}")))?;
        let entry = AuditEntry::from_leaf(&leaf).map_err(|error| fail(Some(line.seq), format!("leaf: {error}")))?;
        if entry.seq != line.seq {
            return Err(fail(Some(line.seq), format!("the leaf of entry {} says it is entry {}", line.seq, entry.seq)));
        }
        if entry.action == Action::SettlePeriod.as_str() {
            statements += 1;
            if let Err(error) = settled_statement_hash(&entry)
                && first_content_error.is_none()
            {
                first_content_error = Some(fail(Some(entry.seq), format!("entry {}: {error}", entry.seq)));
            }
        }
        leaves.push(tlog::leaf_hash(&leaf));
        stored.push(line.tree_leaf_hash.as_deref().and_then(hash_from_hex));
    }
    let size = usize::try_from(checkpoint.size).map_err(|_| fail(None, "the checkpoint's size does not fit"))?;
    if leaves.len() < size {
        let missing = i64::try_from(leaves.len()).unwrap_or(i64::MAX) + 1;
        return Err(fail(
            Some(missing),
            format!("the checkpoint covers {size} entries; the export ends after {}", leaves.len()),
        ));
    }
    let covered = leaves.get(..size).unwrap_or_default();
    if tlog::root_from_leaf_hashes(covered) != checkpoint.root {
        return Err(locate_mismatch(covered, &stored, &checkpoint));
    }
    if let Some(error) = first_content_error {
        return Err(error);
    }
    if let Some(previous) = previous {
        let earlier = open_checkpoint(previous, verifier)?;
        let earlier_size = usize::try_from(earlier.size).map_err(|_| fail(None, "the saved checkpoint's size"))?;
        if earlier_size > size {
            return Err(fail(
                i64::try_from(size + 1).ok(),
                format!("the log shrank: a saved checkpoint covers {earlier_size} entries, the latest {size}"),
            ));
        }
        if tlog::root_from_leaf_hashes(covered.get(..earlier_size).unwrap_or_default()) != earlier.root {
            return Err(fail(
                None,
                format!("the log's first {earlier_size} entries are not those the saved checkpoint signed"),
            ));
        }
    }
    Ok(Verified { checkpoint, entries: u64::try_from(leaves.len()).unwrap_or(u64::MAX), statements })
}

/// The recomputed root differs from the signed one: when the tree's own leaf hashes reproduce
/// the signed root, they are authentic, and the entries whose leaves no longer hash to them are
/// the ones changed.
fn locate_mismatch(leaves: &[Hash], stored: &[Option<Hash>], checkpoint: &Checkpoint) -> VerifyFailure {
    let tree: Option<Vec<Hash>> = stored.iter().take(leaves.len()).copied().collect();
    if let Some(tree) = tree.filter(|tree| tree.len() == leaves.len())
        && tlog::root_from_leaf_hashes(&tree) == checkpoint.root
        && let Some(index) = leaves.iter().zip(&tree).position(|(leaf, stored)| leaf != stored)
    {
        let seq = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        return fail(Some(seq), format!("entry {seq} is not the entry the signed tree holds: it was altered"));
    }
    fail(None, format!("the entries do not hash to the root the checkpoint of size {} signed", checkpoint.size))
}

/// Verifies a statement's evidence bundle offline: the checkpoint's signature, the entry's
/// inclusion in the signed tree, and that the entry issued exactly this statement content.
///
/// # Errors
/// What does not hold.
pub fn verify_evidence(evidence: &EvidenceFile, verifier: &NoteVerifier) -> Result<Checkpoint, VerifyFailure> {
    let checkpoint = open_checkpoint(&evidence.checkpoint, verifier)?;
    if checkpoint.size != evidence.tree_size {
        return Err(fail(
            None,
            format!("the proof is for {} entries, the checkpoint {}", evidence.tree_size, checkpoint.size),
        ));
    }
    let leaf = BASE64.decode(&evidence.leaf).map_err(|error| fail(None, format!("leaf: {error}")))?;
    let entry = AuditEntry::from_leaf(&leaf).map_err(|error| fail(None, format!("leaf: {error}")))?;
    let seq = Some(entry.seq);
    let proof: Option<Vec<Hash>> = evidence.proof.iter().map(|hash| hash_from_hex(hash)).collect();
    let proof = proof.ok_or_else(|| fail(seq, "the proof holds a hash that is not 32 bytes of hex"))?;
    if u64::try_from(entry.seq - 1).ok() != Some(evidence.leaf_index) {
        return Err(fail(seq, format!("entry {} is not leaf {}", entry.seq, evidence.leaf_index)));
    }
    tlog::verify_inclusion(evidence.leaf_index, checkpoint.size, &tlog::leaf_hash(&leaf), &proof, &checkpoint.root)
        .map_err(|error| fail(seq, format!("the inclusion proof: {error}")))?;
    if entry.resource != evidence.statement || entry.action != Action::SettlePeriod.as_str() {
        return Err(fail(
            seq,
            format!(
                "entry {} is {} of {}, not the settlement of {}",
                entry.seq, entry.action, entry.resource, evidence.statement
            ),
        ));
    }
    let named = settled_statement_hash(&entry).map_err(|error| fail(seq, error))?;
    let content_sha256 = hex(&Sha256::digest(evidence.content.as_bytes()));
    if content_sha256 != named || content_sha256 != evidence.content_sha256 {
        return Err(fail(seq, format!("the content hashes to {content_sha256}; the entry names {named}")));
    }
    Ok(checkpoint)
}

/// Writes an export: the header, then the entries from `entries` (each with the tree's stored
/// leaf hash, if known).
///
/// # Errors
/// A write failure.
pub fn write_export(
    out: &mut impl Write,
    checkpoint: &str,
    entries: impl IntoIterator<Item = (AuditEntry, Option<Hash>)>,
) -> anyhow::Result<u64> {
    let header = ExportHeader { format: EXPORT_FORMAT.to_owned(), checkpoint: checkpoint.to_owned() };
    writeln!(out, "{}", serde_json::to_string(&header)?)?;
    let mut written = 0;
    for (entry, stored) in entries {
        let line = ExportLine {
            seq: entry.seq,
            leaf: BASE64.encode(entry.leaf()),
            tree_leaf_hash: stored.map(|hash| hex(&hash)),
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
        written += 1;
    }
    out.flush()?;
    Ok(written)
}

/// Reads a verifier key given as the key itself (`origin+keyid+base64`) or as a file holding it.
///
/// # Errors
/// Neither a key nor a readable file with one.
pub fn read_verifier(key_or_file: &str) -> anyhow::Result<NoteVerifier> {
    let text = if std::path::Path::new(key_or_file).is_file() {
        std::fs::read_to_string(key_or_file).with_context(|| format!("reading {key_or_file}"))?
    } else {
        key_or_file.to_owned()
    };
    NoteVerifier::parse(text.trim()).map_err(|error| anyhow!("the log's public key: {error}"))
}

/// Exports the log from its database (read only: nothing is migrated or written), with the
/// tree's stored leaf hashes, into `out`. Gives the number of entries written.
///
/// # Errors
/// When the database cannot be read, holds no checkpoint yet, or `out` cannot be written.
pub async fn export_from_database(store: &crate::storage::Store, out: &mut impl Write) -> anyhow::Result<u64> {
    use crate::storage::{audit, audit_tree};
    let checkpoint = store
        .read(|connection| audit_tree::checkpoint(connection, None))
        .await?
        .ok_or_else(|| anyhow!("the log has no checkpoint yet: start the server once, or wait for its integrator"))?;
    let mut after = 0_i64;
    let mut batches = Vec::new();
    loop {
        let batch = store
            .read(move |connection| {
                let entries = audit::entries_after(connection, after, EXPORT_BATCH)?;
                let ids = entries
                    .iter()
                    .filter_map(|entry| u64::try_from(entry.seq - 1).ok())
                    .map(|index| tlog::NodeId { level: 0, index })
                    .collect();
                let stored = audit_tree::read_nodes(connection, &ids)?;
                Ok(entries
                    .into_iter()
                    .map(|entry| {
                        let leaf = u64::try_from(entry.seq - 1).ok().map(|index| tlog::NodeId { level: 0, index });
                        let hash = leaf.and_then(|id| stored.get(&id).copied());
                        (entry, hash)
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        let Some((last, _)) = batch.last() else { break };
        after = last.seq;
        batches.push(batch);
    }
    write_export(out, &checkpoint.signed_note, batches.into_iter().flatten())
}

/// Entries read per query by an export.
const EXPORT_BATCH: i64 = 10_000;
