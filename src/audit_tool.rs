//! `flexsettle audit`: export the log, verify it, and prove a statement — offline, with nothing
//! but the log's public key (DESIGN.md §5, docs/audit-log.md).
//!
//! An export is a JSON header line with the log's latest signed checkpoint, then one line per
//! entry in sequence order: `seq TAB base64(leaf) TAB hex(tree leaf hash) or "-"` — the leaf
//! hash the log's own tree stored for it, when exported from the database. Tab-separated so a
//! verifier reads millions of entries at the speed of hashing them. Verification recomputes the
//! whole tree from the leaves and needs no server.

use std::io::Write;

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::audit::{Action, AuditEntry, LeafView};
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
fn settled_statement_hash(payload: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Settled<'a> {
        #[serde(borrow)]
        statement: &'a serde_json::value::RawValue,
        content_sha256: String,
    }
    let settled: Settled<'_> =
        serde_json::from_str(payload).map_err(|error| format!("its payload is not a settled statement: {error}"))?;
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
    export: &[u8],
    verifier: &NoteVerifier,
    previous: Option<&str>,
) -> Result<Verified, VerifyFailure> {
    let header_end = export.iter().position(|byte| *byte == b'\n').unwrap_or(export.len());
    let (header, body) = export.split_at(header_end);
    let header: ExportHeader =
        serde_json::from_slice(header).map_err(|error| fail(None, format!("the export's header: {error}")))?;
    if header.format != EXPORT_FORMAT {
        return Err(fail(None, format!("the export's format is {:?}, not {EXPORT_FORMAT:?}", header.format)));
    }
    let checkpoint = open_checkpoint(&header.checkpoint, verifier)?;
    let body = body.strip_prefix(b"\n").unwrap_or(body);
    // Reading, decoding and hashing the entries is most of the work, and each line stands
    // alone: the body is cut at line ends into one part per core, each read in place (no line
    // is copied; a stored tree hash is decoded only if the signed root is not reproduced), and
    // the parts are joined in order, so the first failure reported is the lowest one.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let parts = cut_at_line_ends(body, body.len().div_ceil(threads).max(VERIFY_PART_BYTES_MIN));
    let chunks: Vec<Result<Chunk<'_>, VerifyFailure>> = std::thread::scope(|scope| {
        let workers: Vec<_> = parts.into_iter().map(|part| scope.spawn(move || read_chunk(part))).collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|_| Err(fail(None, "a verifier thread failed"))))
            .collect()
    });
    let mut leaves: Vec<Hash> = Vec::new();
    let mut stored: Vec<&str> = Vec::new();
    let mut statements = 0_u64;
    let mut first_content_error = None;
    for chunk in chunks {
        let chunk = chunk?;
        let expected = i64::try_from(leaves.len()).unwrap_or(i64::MAX).saturating_add(1);
        if let Some(first) = chunk.first_seq
            && first != expected
        {
            return Err(fail(Some(expected), format!("entry {expected} is missing (the next line is entry {first})")));
        }
        leaves.extend(chunk.leaves);
        stored.extend(chunk.stored);
        statements += chunk.statements;
        first_content_error = first_content_error.or(chunk.first_content_error);
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

/// Bytes one verifier thread takes at least: below this, a thread costs more than it saves.
const VERIFY_PART_BYTES_MIN: usize = 1 << 20;

/// Cuts `body` into parts of about `target` bytes, each ending at a line end.
fn cut_at_line_ends(body: &[u8], target: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let cut = rest
            .get(target..)
            .and_then(|tail| tail.iter().position(|byte| *byte == b'\n'))
            .map_or(rest.len(), |offset| target + offset + 1);
        let (part, tail) = rest.split_at(cut.min(rest.len()));
        parts.push(part);
        rest = tail;
    }
    parts
}

/// What one part of an export's entry lines holds.
struct Chunk<'a> {
    /// The sequence number of its first line.
    first_seq: Option<i64>,
    leaves: Vec<Hash>,
    /// Each line's stored tree leaf hash, as written.
    stored: Vec<&'a str>,
    statements: u64,
    first_content_error: Option<VerifyFailure>,
}

/// Reads one part of the entry lines: each line's sequence number (consecutive from the
/// first), its leaf decoded and read in place, its leaf hash, and each settled statement's hash
/// against its entry.
fn read_chunk(part: &[u8]) -> Result<Chunk<'_>, VerifyFailure> {
    let text = std::str::from_utf8(part).map_err(|error| fail(None, format!("the export is not UTF-8: {error}")))?;
    let lines = text.strip_suffix('\n').unwrap_or(text);
    let mut chunk =
        Chunk { first_seq: None, leaves: Vec::new(), stored: Vec::new(), statements: 0, first_content_error: None };
    let mut leaf = Vec::new();
    let mut expected = None;
    for line in lines.split('\n') {
        let mut fields = line.split('\t');
        let (Some(seq), Some(encoded), Some(tree_hash), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(fail(expected, "an entry line is not seq TAB leaf TAB tree hash"));
        };
        let seq: i64 =
            seq.parse().map_err(|_| fail(expected, "an entry line does not start with a sequence number"))?;
        if let Some(expected) = expected
            && seq != expected
        {
            return Err(fail(Some(expected), format!("entry {expected} is missing (the next line is entry {seq})")));
        }
        chunk.first_seq.get_or_insert(seq);
        expected = Some(seq.saturating_add(1));
        leaf.clear();
        BASE64.decode_vec(encoded, &mut leaf).map_err(|error| fail(Some(seq), format!("leaf: {error}")))?;
        let view = LeafView::parse(&leaf).map_err(|error| fail(Some(seq), format!("leaf: {error}")))?;
        if view.seq != seq {
            return Err(fail(Some(seq), format!("the leaf of entry {seq} says it is entry {}", view.seq)));
        }
        if view.action == Action::SettlePeriod.as_str() {
            chunk.statements += 1;
            if let Err(error) = settled_statement_hash(view.payload)
                && chunk.first_content_error.is_none()
            {
                chunk.first_content_error = Some(fail(Some(seq), format!("entry {seq}: {error}")));
            }
        }
        chunk.leaves.push(tlog::leaf_hash(&leaf));
        chunk.stored.push(tree_hash);
    }
    Ok(chunk)
}

/// The recomputed root differs from the signed one: when the tree's own leaf hashes reproduce
/// the signed root, they are authentic, and the entries whose leaves no longer hash to them are
/// the ones changed.
fn locate_mismatch(leaves: &[Hash], stored: &[&str], checkpoint: &Checkpoint) -> VerifyFailure {
    let tree: Option<Vec<Hash>> = stored.iter().take(leaves.len()).map(|hex| hash_from_hex(hex)).collect();
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
    let named = settled_statement_hash(&entry.payload).map_err(|error| fail(seq, error))?;
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
        let tree_hash = stored.map_or_else(|| "-".to_owned(), |hash| hex(&hash));
        writeln!(out, "{}\t{}\t{tree_hash}", entry.seq, BASE64.encode(entry.leaf()))?;
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
