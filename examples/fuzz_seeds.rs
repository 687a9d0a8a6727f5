//! Writes the fuzz targets' seed corpus (`fuzz/seeds/<target>/`): well-formed inputs of every
//! shape each target reads, so fuzzing starts deep inside the parsers rather than at their
//! first check. Deterministic; the files are committed.
//!
//!     cargo run --example fuzz_seeds -- fuzz/seeds

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeZone as _;
use flexsettle::domain::PageTokens;
use flexsettle::domain::audit::{AuditEntry, canonical_json};
use flexsettle::domain::tlog::{Checkpoint, NoteSigner, leaf_hash};
use flexsettle::grpc::api;
use flexsettle::grpc::proto::google::r#type::Date;
use prost::Message as _;

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn write(folder: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)?;
    std::fs::write(folder.join(name), bytes)?;
    Ok(())
}

fn tagged(tag: u8, rest: &[u8]) -> Vec<u8> {
    [&[tag], rest].concat()
}

fn requests(folder: &Path) -> anyhow::Result<()> {
    let contract = flexsettle::demo::worked_example_contract(2027, api::RiskShiftMode::Full)?;
    let rate = api::HourlyRate { effective_date: date(2027, 1, 1), rate_per_hour_cents: 4_875, ..Default::default() };
    let line = |reference: &str, minutes: i64| api::HourLine {
        intercedent_id: "anna".to_owned(),
        work_date: date(2027, 1, 4),
        kind: api::TimeKind::Work.into(),
        minutes,
        line_reference: reference.to_owned(),
        note: "intake gesprekken".to_owned(),
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "create_contract",
            tagged(
                0,
                &api::CreateContractRequest {
                    request_id: "r-1".to_owned(),
                    contract_id: "utrecht-2027".to_owned(),
                    contract: Some(contract),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "create_intercedent",
            tagged(
                1,
                &api::CreateIntercedentRequest {
                    request_id: "r-2".to_owned(),
                    parent: "contracts/utrecht-2027".to_owned(),
                    intercedent_id: "anna".to_owned(),
                    intercedent: Some(api::Intercedent { hourly_rates: vec![rate.clone()], ..Default::default() }),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "create_hourly_rate",
            tagged(
                2,
                &api::CreateHourlyRateRequest {
                    request_id: "r-3".to_owned(),
                    parent: "contracts/utrecht-2027/intercedents/anna".to_owned(),
                    hourly_rate: Some(rate),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "submit_hours",
            tagged(
                3,
                &api::SubmitHoursRequest {
                    request_id: "r-4".to_owned(),
                    parent: "contracts/utrecht-2027".to_owned(),
                    entries: vec![line("l-1", 480), line("l-2", 15)],
                }
                .encode_to_vec(),
            ),
        ),
        (
            "submit_hours_refused",
            tagged(
                3,
                &api::SubmitHoursRequest {
                    request_id: "r-5".to_owned(),
                    parent: "contracts/utrecht-2027".to_owned(),
                    entries: vec![line("l-1", -5), line("l-1\u{202e}", i64::MIN)],
                }
                .encode_to_vec(),
            ),
        ),
        (
            "correct_hours",
            tagged(
                4,
                &api::CorrectHoursRequest {
                    request_id: "r-6".to_owned(),
                    entry: "contracts/utrecht-2027/hourEntries/0192f0c4".to_owned(),
                    minutes: -60,
                    line_reference: "c-1".to_owned(),
                    note: "te veel geschreven".to_owned(),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "verify_hours",
            tagged(
                5,
                &api::VerifyHoursRequest {
                    request_id: "r-7".to_owned(),
                    parent: "contracts/utrecht-2027".to_owned(),
                    entries: vec!["contracts/utrecht-2027/hourEntries/0192f0c4".to_owned()],
                }
                .encode_to_vec(),
            ),
        ),
        (
            "reject_hours",
            tagged(
                6,
                &api::RejectHoursRequest {
                    request_id: "r-8".to_owned(),
                    entry: "contracts/utrecht-2027/hourEntries/0192f0c4".to_owned(),
                    reason: "niet gewerkt".to_owned(),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "submit_savings",
            tagged(
                7,
                &api::SubmitSavingsRequest {
                    request_id: "r-9".to_owned(),
                    parent: "contracts/utrecht-2027".to_owned(),
                    savings: Some(api::SavingsRecord {
                        period_start: date(2027, 1, 1),
                        amount_cents: 412_125,
                        kind: api::SavingsKind::FullOutflow.into(),
                        source_reference: "uitkering-17".to_owned(),
                        candidate: "contracts/utrecht-2027/candidates/k-1".to_owned(),
                        certainty: api::SavingsCertainty::Definitive.into(),
                        ..Default::default()
                    }),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "correct_savings",
            tagged(
                8,
                &api::CorrectSavingsRequest {
                    request_id: "r-10".to_owned(),
                    savings: "contracts/utrecht-2027/savings/0192f0c4".to_owned(),
                    amount_cents: -1_000,
                    source_reference: "uitkering-17-c".to_owned(),
                    note: "herberekend".to_owned(),
                }
                .encode_to_vec(),
            ),
        ),
    ];
    for (name, bytes) in seeds {
        write(folder, name, &bytes)?;
    }
    Ok(())
}

fn page_tokens(folder: &Path) -> anyhow::Result<()> {
    // The target's own secret, so a seed is a token it accepts.
    let tokens = PageTokens::derive(b"fuzzing secret");
    for (name, listing, key) in
        [("contracts", "ListContracts", "utrecht-2027"), ("entries", "ListHourEntries\0\n\x0acontracts/u", "42")]
    {
        let first = tokens.request(listing.as_bytes(), 0, "").map_err(|v| anyhow::anyhow!("{v:?}"))?;
        let token = first.token_after(key);
        let length = u8::try_from(listing.len())?;
        write(folder, name, &[&[length], listing.as_bytes(), token.as_bytes()].concat())?;
    }
    Ok(())
}

fn bearer_tokens(folder: &Path) -> anyhow::Result<()> {
    let header = br#"{"alg":"EdDSA","typ":"JWT"}"#;
    let claims = br#"{"sub":"billing-system","role":"billing","iss":"flexsettle-fuzz","aud":"flexsettle","exp":4102444800,"nbf":1700000000}"#;
    let unsigned = format!("Bearer {}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims), "c2ln");
    write(folder, "header", &tagged(0, unsigned.as_bytes()))?;
    write(folder, "signed", &tagged(1, &[&[u8::try_from(header.len())?], &header[..], &claims[..]].concat()))?;
    let crit = br#"{"alg":"EdDSA","crit":["exp"]}"#;
    write(folder, "critical", &tagged(1, &[&[u8::try_from(crit.len())?], &crit[..], &claims[..]].concat()))?;
    write(folder, "roles", &tagged(2, "alice\u{1f}gemeente\u{1f}GM0344".as_bytes()))?;
    write(folder, "role", &tagged(2, "bob\u{1f}auditor".as_bytes()))?;
    Ok(())
}

fn canonical_encodings(folder: &Path) -> anyhow::Result<()> {
    let entry = AuditEntry {
        seq: 7,
        recorded_at: chrono::Utc
            .with_ymd_and_hms(2027, 2, 1, 9, 30, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("a time"))?,
        principal_subject: "billing-system".to_owned(),
        principal_role: "billing".to_owned(),
        action: "SubmitHours".to_owned(),
        resource: "contracts/utrecht-2027".to_owned(),
        request_id: "r-4".to_owned(),
        payload: r#"{"entries":[{"minutes":480}]}"#.to_owned(),
    };
    write(folder, "leaf", &tagged(0, &entry.leaf()))?;
    let checkpoint = Checkpoint { origin: "flexsettle.fuzz/log".to_owned(), size: 12, root: leaf_hash(b"root") };
    write(folder, "checkpoint", &tagged(1, checkpoint.body().as_bytes()))?;
    // The target's own signer, so the note verifies.
    let signer = NoteSigner::new("flexsettle.fuzz/log", &[7; 32]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let note = signer.sign(&checkpoint.body()).map_err(|e| anyhow::anyhow!("{e}"))?;
    write(folder, "note", &tagged(2, note.as_bytes()))?;
    write(folder, "vkey", &tagged(2, signer.verifier().vkey().as_bytes()))?;
    let statement = serde_json::json!({
        "contract": "contracts/utrecht-2027", "period_start": "2027-01-01", "covered_cents": 412125,
        "lines": [{"intercedent": "anna", "minutes": 1003, "cost_cents": 6016}], "late": false, "note": null,
    });
    write(folder, "json", &tagged(3, canonical_json(&statement)?.as_bytes()))?;
    write(folder, "tree", &tagged(4, &[&[5_u8], &[0xab; 40][..]].concat()))?;
    write(folder, "proofs", &tagged(5, &[0x5a; 96]))?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/seeds".to_owned()));
    requests(&root.join("request_validation"))?;
    page_tokens(&root.join("page_tokens"))?;
    bearer_tokens(&root.join("bearer_tokens"))?;
    canonical_encodings(&root.join("canonical_encodings"))?;
    Ok(())
}
