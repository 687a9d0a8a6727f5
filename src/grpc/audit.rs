//! `flextensie.settlement.v1.AuditService`.

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::api;
use super::api::audit_service_server::AuditService as AuditServiceApi;
use super::convert::{context, invalid, page_of, timestamp};
use crate::domain::audit::AuditEntry;
use crate::domain::names::parse_statement_name;
use crate::domain::tlog::{self, Hash};
use crate::domain::{PageRequest, PageTokens, Violations};
use crate::service::{AuditLogService, RequestContext};
use crate::storage::audit::EntryFilter;
use crate::storage::audit_tree::StoredCheckpoint;

/// How often a stream that caught up looks for new entries (they may come from another
/// replica, so it asks the database rather than waiting on this process alone).
const STREAM_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Entries a stream buffers for a slow reader before it waits.
const STREAM_BUFFER_ENTRIES: usize = 64;
/// The longest text filter accepted.
const FILTER_TEXT_LEN_MAX: usize = 512;

/// The gRPC face of [`AuditLogService`].
#[derive(Debug, Clone)]
pub struct AuditApi {
    service: AuditLogService,
    pages: PageTokens,
}

impl AuditApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: AuditLogService, pages: PageTokens) -> AuditApi {
        AuditApi { service, pages }
    }
}

/// An entry on the wire, with its leaf and leaf hash.
fn entry_message(entry: &AuditEntry) -> api::AuditEntry {
    let leaf = entry.leaf();
    api::AuditEntry {
        sequence: entry.seq,
        record_time: Some(timestamp(entry.recorded_at)),
        principal_subject: entry.principal_subject.clone(),
        principal_role: entry.principal_role.clone(),
        action: entry.action.clone(),
        resource: entry.resource.clone(),
        request_id: entry.request_id.clone(),
        payload: entry.payload.clone(),
        leaf_hash: tlog::leaf_hash(&leaf).to_vec(),
        leaf,
    }
}

fn checkpoint_message(checkpoint: &StoredCheckpoint) -> api::Checkpoint {
    api::Checkpoint {
        tree_size: i64::try_from(checkpoint.tree_size).unwrap_or(i64::MAX),
        root_hash: checkpoint.root_hash.to_vec(),
        signed_note: checkpoint.signed_note.clone(),
        create_time: Some(timestamp(checkpoint.create_time)),
    }
}

fn hashes(proof: &[Hash]) -> Vec<Vec<u8>> {
    proof.iter().map(|hash| hash.to_vec()).collect()
}

fn inclusion_message(seq: i64, leaf_hash: &Hash, tree_size: u64, proof: &[Hash]) -> api::InclusionProof {
    api::InclusionProof {
        sequence: seq,
        leaf_index: seq - 1,
        tree_size: i64::try_from(tree_size).unwrap_or(i64::MAX),
        hashes: hashes(proof),
        leaf_hash: leaf_hash.to_vec(),
    }
}

/// `0` means "not given" for a size.
fn optional_size(size: i64) -> Option<i64> {
    (size != 0).then_some(size)
}

/// A text filter: empty means not given; bounded in length.
fn text_filter(v: &mut Violations, field: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.len() > FILTER_TEXT_LEN_MAX {
        v.add(field, format!("is {} bytes long; at most {FILTER_TEXT_LEN_MAX}", value.len()));
        return None;
    }
    Some(value.to_owned())
}

fn time_filter(
    v: &mut Violations,
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = value?;
    let nanos = u32::try_from(value.nanos).ok();
    let instant = nanos.and_then(|nanos| chrono::DateTime::from_timestamp(value.seconds, nanos));
    if instant.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    instant
}

fn filter_of(pages: &PageTokens, message: &api::ListAuditEntriesRequest) -> Result<(EntryFilter, PageRequest), Status> {
    let mut v = Violations::new();
    let filter = EntryFilter {
        resource: text_filter(&mut v, "resource", &message.resource),
        resource_prefix: text_filter(&mut v, "resource_prefix", &message.resource_prefix),
        principal_subject: text_filter(&mut v, "principal_subject", &message.principal_subject),
        action: text_filter(&mut v, "action", &message.action),
        start_time: time_filter(&mut v, "start_time", message.start_time),
        end_time: time_filter(&mut v, "end_time", message.end_time),
        min_seq: (message.min_sequence != 0).then_some(message.min_sequence),
        max_seq: (message.max_sequence != 0).then_some(message.max_sequence),
        contracts: None,
    };
    if message.min_sequence < 0 {
        v.add("min_sequence", "must not be negative");
    }
    if message.max_sequence < 0 {
        v.add("max_sequence", "must not be negative");
    }
    let page = page_of(pages, message).map_err(|errors| v.merge(errors)).ok();
    match page {
        Some(page) if v.is_empty() => Ok((filter, page)),
        _ => Err(invalid(v)),
    }
}

/// Sends the entries after `after` to `sender`, then follows new ones, until the client goes.
async fn follow(
    service: AuditLogService,
    context: RequestContext,
    mut after: i64,
    sender: tokio::sync::mpsc::Sender<Result<api::AuditEntry, Status>>,
) {
    let mut ticks = tokio::time::interval(STREAM_POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        match service.entries_after(&context, after).await {
            Ok(entries) if entries.is_empty() => {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = sender.closed() => return,
                }
            }
            Ok(entries) => {
                for entry in &entries {
                    if sender.send(Ok(entry_message(entry))).await.is_err() {
                        return;
                    }
                    after = entry.seq;
                }
            }
            Err(error) => {
                let _ = sender.send(Err(Status::from(error))).await;
                return;
            }
        }
    }
}

type EntryStream = Pin<Box<dyn Stream<Item = Result<api::AuditEntry, Status>> + Send>>;

#[tonic::async_trait]
impl AuditServiceApi for AuditApi {
    async fn list_audit_entries(
        &self,
        request: Request<api::ListAuditEntriesRequest>,
    ) -> Result<Response<api::ListAuditEntriesResponse>, Status> {
        let context = context(&request)?;
        let (filter, page) = filter_of(&self.pages, request.get_ref())?;
        let page = self.service.entries(&context, filter, page).await?;
        Ok(Response::new(api::ListAuditEntriesResponse {
            entries: page.items.iter().map(entry_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    type StreamAuditEntriesStream = EntryStream;

    async fn stream_audit_entries(
        &self,
        request: Request<api::StreamAuditEntriesRequest>,
    ) -> Result<Response<Self::StreamAuditEntriesStream>, Status> {
        let context = context(&request)?;
        let start = request.get_ref().start_sequence;
        if start < 0 {
            return Err(invalid(Violations::single("start_sequence", "must not be negative")));
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER_ENTRIES);
        tokio::spawn(follow(self.service.clone(), context, start.max(1) - 1, sender));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))))
    }

    async fn get_checkpoint(
        &self,
        request: Request<api::GetCheckpointRequest>,
    ) -> Result<Response<api::Checkpoint>, Status> {
        let checkpoint = self.service.checkpoint(optional_size(request.get_ref().tree_size)).await?;
        Ok(Response::new(checkpoint_message(&checkpoint)))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<api::GetInclusionProofRequest>,
    ) -> Result<Response<api::InclusionProof>, Status> {
        let message = request.get_ref();
        let proven = self.service.inclusion_proof(message.sequence, optional_size(message.tree_size)).await?;
        Ok(Response::new(inclusion_message(proven.seq, &proven.leaf_hash, proven.checkpoint.tree_size, &proven.proof)))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<api::GetConsistencyProofRequest>,
    ) -> Result<Response<api::ConsistencyProof>, Status> {
        let message = request.get_ref();
        let (from, to, proof) =
            self.service.consistency_proof(message.from_tree_size, optional_size(message.to_tree_size)).await?;
        Ok(Response::new(api::ConsistencyProof {
            from_tree_size: i64::try_from(from).unwrap_or(i64::MAX),
            to_tree_size: i64::try_from(to).unwrap_or(i64::MAX),
            hashes: hashes(&proof),
        }))
    }

    async fn get_log_public_key(
        &self,
        _request: Request<api::GetLogPublicKeyRequest>,
    ) -> Result<Response<api::LogPublicKey>, Status> {
        let identity = self.service.identity();
        Ok(Response::new(api::LogPublicKey {
            origin: identity.origin().to_owned(),
            verifier_key: identity.verifier_key(),
            ed25519_public_key: identity.public_key().to_vec(),
        }))
    }

    async fn get_statement_evidence(
        &self,
        request: Request<api::GetStatementEvidenceRequest>,
    ) -> Result<Response<api::StatementEvidence>, Status> {
        let context = context(&request)?;
        let (contract, period_start) = parse_statement_name(&request.get_ref().name)
            .map_err(|error| invalid(Violations::single("name", error)))?;
        let evidence = self.service.statement_evidence(&context, contract, period_start).await?;
        Ok(Response::new(api::StatementEvidence {
            statement: evidence.statement,
            content: evidence.content.into_bytes(),
            content_sha256: evidence.content_sha256,
            inclusion_proof: Some(inclusion_message(
                evidence.entry.seq,
                &tlog::leaf_hash(&evidence.entry.leaf()),
                evidence.checkpoint.tree_size,
                &evidence.proof,
            )),
            entry: Some(entry_message(&evidence.entry)),
            checkpoint: Some(checkpoint_message(&evidence.checkpoint)),
        }))
    }
}
