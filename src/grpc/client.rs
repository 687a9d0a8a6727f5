//! A client of a running server's `AuditService`, for `flexsettle audit` run against a server
//! instead of its database.

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use super::api;
use super::api::audit_service_client::AuditServiceClient;
use crate::audit_tool::EvidenceFile;
use crate::domain::audit::AuditEntry;
use crate::storage::hex;

/// The log's entries and latest signed checkpoint as a server gives them.
#[derive(Debug, Clone)]
pub struct FetchedLog {
    /// The latest checkpoint (a C2SP signed note).
    pub checkpoint: String,
    /// Every entry, in order, read back from its leaf.
    pub entries: Vec<AuditEntry>,
}

pub(crate) async fn connect(address: &str) -> anyhow::Result<Channel> {
    let endpoint = Channel::from_shared(address.to_owned()).map_err(|error| anyhow::anyhow!("{address}: {error}"))?;
    endpoint.connect().await.map_err(|error| anyhow::anyhow!("connecting to {address}: {error}"))
}

fn authorized<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> =
        format!("Bearer {token}").parse().map_err(|_| anyhow::anyhow!("the token is not a valid header value"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

/// Reads the whole log and its latest checkpoint from the server at `address`. The checkpoint
/// is read first, so every entry it covers is in the listing.
///
/// # Errors
/// A connection failure, a refusal, or an entry whose leaf does not read back.
pub async fn fetch_log(address: &str, token: &str) -> anyhow::Result<FetchedLog> {
    let mut client = AuditServiceClient::new(connect(address).await?).max_decoding_message_size(64 * 1024 * 1024);
    let checkpoint =
        client.get_checkpoint(authorized(api::GetCheckpointRequest { tree_size: 0 }, token)?).await?.into_inner();
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = api::ListAuditEntriesRequest { page_size: 500, page_token, ..Default::default() };
        let page = client.list_audit_entries(authorized(request, token)?).await?.into_inner();
        for entry in page.entries {
            entries.push(
                AuditEntry::from_leaf(&entry.leaf)
                    .map_err(|error| anyhow::anyhow!("entry {} from the server: {error}", entry.sequence))?,
            );
        }
        if page.next_page_token.is_empty() {
            return Ok(FetchedLog { checkpoint: checkpoint.signed_note, entries });
        }
        page_token = page.next_page_token;
    }
}

/// Fetches a statement's evidence bundle from the server at `address`.
///
/// # Errors
/// A connection failure, a refusal, or a bundle with parts missing.
pub async fn fetch_evidence(address: &str, token: &str, statement: &str) -> anyhow::Result<EvidenceFile> {
    use base64::Engine as _;
    let mut client = AuditServiceClient::new(connect(address).await?);
    let request = api::GetStatementEvidenceRequest { name: statement.to_owned() };
    let evidence = client.get_statement_evidence(authorized(request, token)?).await?.into_inner();
    let missing = |part: &str| anyhow::anyhow!("the server's evidence has no {part}");
    let entry = evidence.entry.ok_or_else(|| missing("entry"))?;
    let proof = evidence.inclusion_proof.ok_or_else(|| missing("inclusion proof"))?;
    let checkpoint = evidence.checkpoint.ok_or_else(|| missing("checkpoint"))?;
    Ok(EvidenceFile {
        statement: evidence.statement,
        content: String::from_utf8(evidence.content).map_err(|_| anyhow::anyhow!("the statement is not UTF-8"))?,
        content_sha256: evidence.content_sha256,
        leaf: base64::engine::general_purpose::STANDARD.encode(&entry.leaf),
        leaf_index: u64::try_from(proof.leaf_index)?,
        tree_size: u64::try_from(proof.tree_size)?,
        proof: proof.hashes.iter().map(|hash| hex(hash)).collect(),
        checkpoint: checkpoint.signed_note,
    })
}
