//! The auditors' log (DESIGN.md §5): the integrator that builds the RFC 9162 tree beside the
//! write path and publishes signed checkpoints, and the reads an auditor verifies with nothing
//! but the log's public key — entries, checkpoints, inclusion and consistency proofs, and a
//! statement's evidence bundle.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;

use super::{Clock, RequestContext, read_scoped};
use crate::domain::audit::{Action, AuditEntry};
use crate::domain::names::statement_name;
use crate::domain::tlog::{self, Checkpoint, Hash, NodeId, NoteSigner, NoteVerifier, TlogError};
use crate::domain::{ContractId, Page, PageRequest};
use crate::error::Error;
use crate::storage::audit::{self as log, EntryFilter};
use crate::storage::audit_tree::{self as tree, StoredCheckpoint};
use crate::storage::{AnyConnection, Store, contracts, lock_keys, statements};

/// Entries the integrator takes in one transaction: bounded work under the writer's lock.
pub const INTEGRATION_BATCH_MAX: i64 = 10_000;
/// Entries a stream reads from the database at once.
pub const STREAM_BATCH_MAX: i64 = 500;
/// The advisory lock that lets one integrator at a time work on a shared database.
const INTEGRATOR_LOCK_KEY: &str = "audit-log-integrator";

/// The log's identity: its origin line and the Ed25519 key that signs its checkpoints.
pub struct LogIdentity {
    signer: NoteSigner,
    verifier: NoteVerifier,
}

impl std::fmt::Debug for LogIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogIdentity").field("verifier_key", &self.verifier.vkey()).finish_non_exhaustive()
    }
}

impl LogIdentity {
    /// The identity of the log named `origin`, signing with the Ed25519 key of `seed`.
    ///
    /// # Errors
    /// An origin that cannot be a key name (empty, with white space or `+`).
    pub fn new(origin: &str, seed: &[u8; 32]) -> Result<LogIdentity, TlogError> {
        let signer = NoteSigner::new(origin, seed)?;
        let verifier = signer.verifier();
        Ok(LogIdentity { signer, verifier })
    }

    /// The origin: every checkpoint's first line, and the key's name.
    #[must_use]
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key, as Go's `sumdb/note` writes it.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        self.verifier.vkey()
    }

    /// The raw Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.verifier.public_key()
    }
}

/// The proof that an entry is in a checkpoint's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's sequence number (its leaf index + 1).
    pub seq: i64,
    /// The entry's leaf hash, as the tree holds it.
    pub leaf_hash: Hash,
    /// The checkpoint the proof is for.
    pub checkpoint: StoredCheckpoint,
    /// The audit path, from the leaf up.
    pub proof: Vec<Hash>,
}

/// A statement's evidence: its canonical content, its audit entry, the proof that the entry is
/// in the tree, and the checkpoint that signs that tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEvidence {
    /// The statement's name.
    pub statement: String,
    /// Its canonical content, as stored at issue.
    pub content: String,
    /// SHA-256 of the content, hex.
    pub content_sha256: String,
    /// Its audit entry.
    pub entry: AuditEntry,
    /// The entry's inclusion proof.
    pub proof: Vec<Hash>,
    /// The checkpoint the proof is for.
    pub checkpoint: StoredCheckpoint,
}

/// Integrates the audit log into its tree and answers the auditors' reads.
#[derive(Debug, Clone)]
pub struct AuditLogService {
    store: Store,
    identity: Arc<LogIdentity>,
    clock: Clock,
}

fn proof_error(error: TlogError) -> Error {
    Error::internal("computing an audit proof", error.to_string())
}

/// Runs `compute` over the stored tree with one database read: a first pass only records which
/// nodes it asks for (which nodes a proof needs depends on sizes and indexes, never on hashes),
/// the nodes are read in one query, and a second pass computes with them.
fn over_stored_nodes<T>(
    connection: &mut AnyConnection,
    extra: &HashMap<NodeId, Hash>,
    compute: impl Fn(&dyn Fn(NodeId) -> Option<Hash>) -> Result<T, TlogError>,
) -> Result<T, Error> {
    let wanted = RefCell::new(BTreeSet::new());
    let recording = |id: NodeId| {
        if let Some(hash) = extra.get(&id) {
            return Some(*hash);
        }
        wanted.borrow_mut().insert(id);
        Some([0; 32])
    };
    // Placeholders can make no first pass fail that the second would pass; a failure here is
    // reported by the second pass with the real hashes.
    let _ = compute(&recording);
    let found = tree::read_nodes(connection, &wanted.into_inner())?;
    let reading = |id: NodeId| extra.get(&id).or_else(|| found.get(&id)).copied();
    compute(&reading).map_err(proof_error)
}

fn size_from(value: i64, field: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| {
        Error::InvalidArgument(crate::domain::Violations::single(field, format!("must not be negative, got {value}")))
    })
}

fn not_published(size: u64) -> Error {
    Error::NotFound { resource: format!("auditLog/checkpoints/{size}") }
}

impl AuditLogService {
    /// A service over `store` that signs with `identity` and reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, identity: Arc<LogIdentity>, clock: Clock) -> AuditLogService {
        AuditLogService { store, identity, clock }
    }

    /// The log's identity.
    #[must_use]
    pub fn identity(&self) -> &LogIdentity {
        &self.identity
    }

    /// Takes every committed entry not yet in the tree into it, in sequence order and in
    /// bounded batches, and publishes a signed checkpoint of the new size. Idempotent: one
    /// integrator at a time works (an advisory lock on PostgreSQL, the one writer on SQLite), and
    /// each batch commits its nodes and checkpoint together or not at all. Gives the checkpoint
    /// published, if the tree grew.
    ///
    /// # Errors
    /// A storage fault, or an entry missing from the sequence (which the log's gapless
    /// numbering rules out).
    pub async fn integrate(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let mut published = None;
        loop {
            let identity = self.identity.clone();
            let now = self.clock.now();
            let batch = self
                .store
                .derive(move |connection| {
                    lock_keys(connection, [INTEGRATOR_LOCK_KEY])?;
                    integrate_batch(connection, &identity, now)
                })
                .await?;
            match batch {
                Some((checkpoint, more)) => {
                    tracing::debug!(tree.size = checkpoint.tree_size, "audit log integrated");
                    published = Some(checkpoint);
                    if !more {
                        return Ok(published);
                    }
                }
                None => return Ok(published),
            }
        }
    }

    /// The latest checkpoint, after integrating whatever was committed before the call.
    ///
    /// # Errors
    /// A storage fault.
    pub async fn latest_checkpoint(&self) -> Result<StoredCheckpoint, Error> {
        // Usually the integrator is up to date: one read decides, and no write is needed.
        let (latest, size) =
            self.store.read(|connection| Ok((tree::checkpoint(connection, None)?, log::size(connection)?))).await?;
        if let Some(checkpoint) = latest
            && i64::try_from(checkpoint.tree_size).is_ok_and(|covered| covered == size)
        {
            return Ok(checkpoint);
        }
        self.integrate().await?;
        let latest = self.store.read(|connection| tree::checkpoint(connection, None)).await?;
        match latest {
            Some(checkpoint) => Ok(checkpoint),
            // An empty log: its checkpoint is published on first demand.
            None => self.publish_empty().await,
        }
    }

    async fn publish_empty(&self) -> Result<StoredCheckpoint, Error> {
        let identity = self.identity.clone();
        let now = self.clock.now();
        self.store
            .derive(move |connection| {
                lock_keys(connection, [INTEGRATOR_LOCK_KEY])?;
                if let Some(existing) = tree::checkpoint(connection, Some(0))? {
                    return Ok(existing);
                }
                let checkpoint = sign(&identity, 0, tlog::root_from_leaf_hashes(&[]), now)?;
                tree::insert_checkpoint(connection, &checkpoint)?;
                Ok(checkpoint)
            })
            .await
    }

    /// The checkpoint of `tree_size`, or the latest without one.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no checkpoint of that size was published, or a fault.
    pub async fn checkpoint(&self, tree_size: Option<i64>) -> Result<StoredCheckpoint, Error> {
        let Some(size) = tree_size else {
            return self.latest_checkpoint().await;
        };
        let size = size_from(size, "tree_size")?;
        self.store
            .read(move |connection| tree::checkpoint(connection, Some(size))?.ok_or_else(|| not_published(size)))
            .await
    }

    /// The inclusion proof of entry `seq` in the tree of a published checkpoint (the latest
    /// without a size): the entry's leaf hash, the checkpoint and the audit path. A proof of a
    /// given size is one connection and two queries: the checkpoint, and every node it needs.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an entry outside that tree, [`Error::NotFound`] for a size
    /// without a checkpoint, or a fault.
    pub async fn inclusion_proof(&self, seq: i64, tree_size: Option<i64>) -> Result<InclusionProof, Error> {
        let wanted = match tree_size {
            Some(size) => size_from(size, "tree_size")?,
            None => self.latest_checkpoint().await?.tree_size,
        };
        self.store
            .read(move |connection| {
                let checkpoint = tree::checkpoint(connection, Some(wanted))?.ok_or_else(|| not_published(wanted))?;
                let size = checkpoint.tree_size;
                let index = u64::try_from(seq - 1).ok().filter(|index| *index < size).ok_or_else(|| {
                    Error::InvalidArgument(crate::domain::Violations::single(
                        "sequence",
                        format!("entry {seq} is not in the tree of {size} entries"),
                    ))
                })?;
                let leaf = NodeId { level: 0, index };
                let (leaf_hash, proof) = over_stored_nodes(connection, &HashMap::new(), |read| {
                    Ok((read(leaf).ok_or(TlogError::MissingNode(leaf))?, tlog::inclusion_proof(index, size, read)?))
                })?;
                Ok(InclusionProof { seq, leaf_hash, checkpoint, proof })
            })
            .await
    }

    /// The consistency proof between two published tree sizes (`to`: the latest without one).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `from` exceeds `to`, [`Error::NotFound`] for a size
    /// without a checkpoint, or a fault.
    pub async fn consistency_proof(&self, from: i64, to: Option<i64>) -> Result<(u64, u64, Vec<Hash>), Error> {
        let from = size_from(from, "from_tree_size")?;
        let to = self.checkpoint(to).await?.tree_size;
        if from > to {
            return Err(Error::InvalidArgument(crate::domain::Violations::single(
                "from_tree_size",
                format!("{from} is larger than the tree of {to} entries"),
            )));
        }
        self.store
            .read(move |connection| {
                tree::checkpoint(connection, Some(from))?.ok_or_else(|| not_published(from))?;
                let proof =
                    over_stored_nodes(connection, &HashMap::new(), |read| tlog::consistency_proof(from, to, read))?;
                Ok((from, to, proof))
            })
            .await
    }

    /// Entries after `after` that pass `filter`, within the caller's scope: a municipality sees
    /// only the entries of its own contracts.
    ///
    /// # Errors
    /// A fault.
    pub async fn entries(
        &self,
        context: &RequestContext,
        filter: EntryFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, Error> {
        let after = match &page.after {
            Some(token) => token.parse::<i64>().map_err(|_| {
                Error::InvalidArgument(crate::domain::Violations::single(
                    "page_token",
                    "is not a token this service issued",
                ))
            })?,
            None => 0,
        };
        let limit = i64::from(page.size.get()) + 1;
        let items = self.scoped_entries(context, filter, after, limit).await?;
        Ok(crate::storage::paginate(items, &page, |entry| entry.seq.to_string()))
    }

    /// Up to [`STREAM_BATCH_MAX`] entries after `after`, within the caller's scope (a stream's
    /// next batch).
    ///
    /// # Errors
    /// A fault.
    pub async fn entries_after(&self, context: &RequestContext, after: i64) -> Result<Vec<AuditEntry>, Error> {
        self.scoped_entries(context, EntryFilter::default(), after, STREAM_BATCH_MAX).await
    }

    /// Up to `limit` entries after `after` that pass `filter`, narrowed for a municipality to the
    /// entries of its own contracts.
    async fn scoped_entries(
        &self,
        context: &RequestContext,
        mut filter: EntryFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, Error> {
        let scope = context.gemeente_scope().cloned();
        self.store
            .read(move |connection| {
                if let Some(gemeente) = &scope {
                    filter.contracts = Some(contracts::contract_ids_of(connection, gemeente)?);
                }
                log::list_entries(connection, &filter, after, limit)
            })
            .await
    }

    /// A statement's evidence bundle, proven against the latest checkpoint.
    ///
    /// # Errors
    /// [`Error::NotFound`] (to a municipality: [`Error::PermissionDenied`]), or a fault.
    pub async fn statement_evidence(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<StatementEvidence, Error> {
        let scope = context.clone();
        let (name, content, content_sha256, entry) =
            read_scoped(&self.store, context, contract, move |connection, contract| {
                let name = statement_name(&contract.id, period_start);
                let (content, sha) = statements::statement_content(connection, &contract.id, period_start)?
                    .ok_or_else(|| scope.conceal(Error::NotFound { resource: name.clone() }))?;
                let entry = log::entry_of(connection, &name, Action::SettlePeriod.as_str())?.ok_or_else(|| {
                    Error::internal("gathering a statement's evidence", format!("{name} has no audit entry"))
                })?;
                Ok((name, content, sha, entry))
            })
            .await?;
        let InclusionProof { checkpoint, proof, .. } = self.inclusion_proof(entry.seq, None).await?;
        Ok(StatementEvidence { statement: name, content, content_sha256, entry, proof, checkpoint })
    }
}

/// Signs the checkpoint of a tree of `size` with root `root`.
fn sign(
    identity: &LogIdentity,
    size: u64,
    root: Hash,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<StoredCheckpoint, Error> {
    let body = Checkpoint { origin: identity.origin().to_owned(), size, root }.body();
    let signed_note =
        identity.signer.sign(&body).map_err(|error| Error::internal("signing a checkpoint", error.to_string()))?;
    Ok(StoredCheckpoint { tree_size: size, root_hash: root, signed_note, create_time: now })
}

/// One batch of integration inside the integrator's transaction: the next entries into the
/// tree, and a checkpoint of the new size. `None` when the tree holds every entry already;
/// otherwise the checkpoint and whether more entries wait.
fn integrate_batch(
    connection: &mut AnyConnection,
    identity: &LogIdentity,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(StoredCheckpoint, bool)>, Error> {
    let old_size = tree::integrated_size(connection)?;
    let after =
        i64::try_from(old_size).map_err(|_| Error::internal("integrating the audit log", "tree size beyond i64"))?;
    let entries = log::entries_after(connection, after, INTEGRATION_BATCH_MAX + 1)?;
    let more = entries.len() > usize::try_from(INTEGRATION_BATCH_MAX).unwrap_or(usize::MAX);
    let entries = &entries[..entries.len().min(usize::try_from(INTEGRATION_BATCH_MAX).unwrap_or(usize::MAX))];
    if entries.is_empty() {
        return Ok(None);
    }
    for (offset, entry) in entries.iter().enumerate() {
        let expected = after.checked_add(i64::try_from(offset).unwrap_or(i64::MAX)).and_then(|seq| seq.checked_add(1));
        if Some(entry.seq) != expected {
            return Err(Error::internal(
                "integrating the audit log",
                format!("entry {} follows the tree of {old_size} entries where {expected:?} was due", entry.seq),
            ));
        }
    }
    let leaves: Vec<Hash> = entries.iter().map(|entry| tlog::leaf_hash(&entry.leaf())).collect();
    let nodes = over_stored_nodes(connection, &HashMap::new(), |read| tlog::new_nodes(old_size, &leaves, read))?;
    tree::insert_nodes(connection, &nodes)?;
    let new_size = old_size + u64::try_from(leaves.len()).unwrap_or(u64::MAX);
    let added: HashMap<NodeId, Hash> = nodes.into_iter().collect();
    let root = over_stored_nodes(connection, &added, |read| tlog::tree_root(new_size, read))?;
    let checkpoint = sign(identity, new_size, root, now)?;
    tree::insert_checkpoint(connection, &checkpoint)?;
    Ok(Some((checkpoint, more)))
}
