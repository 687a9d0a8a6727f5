//! `flexsettle demo`: DESIGN.md's worked example, end to end, through the public API.
//!
//! Against a running server (`--server`), or an embedded one on a temporary SQLite file whose
//! clock stands in the April after the example's quarter. Each step is taken by the principal the
//! access model gives it: the admin sets up the contract and the intercedent's rates, Flextensie's
//! billing system submits hours and settles, the municipality verifies hours and registers its
//! intake, savings go both ways (one party submits, the other verifies). It prints the three
//! statements, their e-invoices (DESIGN.md §9, when the server has a seller configured: the
//! embedded one has a fictional one) and ends with the audit entries the demo wrote.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{Datelike as _, NaiveDate, TimeZone as _, Utc};
use tonic::transport::Channel;

use crate::auth::{DevKeyPair, TokenRequest, mint};
use crate::configuration::Settings;
use crate::domain::{Principal, Role};
use crate::grpc::api;
use crate::grpc::api::audit_service_client::AuditServiceClient;
use crate::grpc::api::contract_service_client::ContractServiceClient;
use crate::grpc::api::hours_service_client::HoursServiceClient;
use crate::grpc::api::invoice_service_client::InvoiceServiceClient;
use crate::grpc::api::pool_service_client::PoolServiceClient;
use crate::grpc::api::savings_service_client::SavingsServiceClient;
use crate::grpc::api::settlement_service_client::SettlementServiceClient;
use crate::grpc::client::connect;
use crate::grpc::proto::google::r#type::Date;

/// The municipality of the example (Utrecht).
const GEMEENTE: &str = "GM0344";

/// What `flexsettle demo` is asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// A running server; none for an embedded one.
    pub server: Option<String>,
    /// The example's year (its months are January to March of it); by default 2027 on the
    /// embedded server, the latest year whose March has ended on a running one.
    pub year: Option<i32>,
    /// `FULL` or `PRO_RATA`.
    pub risk_shift_mode: api::RiskShiftMode,
}

/// One settled statement, as the demo prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoStatement {
    /// The statement's number.
    pub number: String,
    /// The figures in cents: cost, savings, fee, covered, uncovered to date, shifted, borne,
    /// net balance.
    pub cents: [i64; 8],
}

/// Amounts as the statements show them: euros with a thousands separator, `-` for negatives.
#[must_use]
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let whole = (cents / 100).unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02}", (cents % 100).unsigned_abs())
}

fn date(day: NaiveDate) -> Option<Date> {
    Some(Date {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap_or_default(),
        day: i32::try_from(day.day()).unwrap_or_default(),
    })
}

fn day(year: i32, month: u32, day: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).with_context(|| format!("{year}-{month}-{day} is not a date"))
}

/// The contract of DESIGN.md's worked example, starting on 1 January of `year`: GM0344,
/// monthly periods, windows of 3 months, a fee of 1,250.00 a month, a minimum intake of 30.
///
/// # Errors
/// When `year` has no 1 January (out of range).
pub fn worked_example_contract(year: i32, risk_shift_mode: api::RiskShiftMode) -> anyhow::Result<api::Contract> {
    Ok(api::Contract {
        gemeente: GEMEENTE.to_owned(),
        display_name: format!("Utrecht flexpool {year}"),
        start_date: date(day(year, 1, 1)?),
        term_months: 12,
        extension_option_months: 12,
        settlement_period_months: 1,
        intake_window_months: 3,
        service_fee_per_period_cents: 125_000,
        minimum_intake_per_window: 30,
        risk_shift_mode: risk_shift_mode.into(),
        composition_target: Some(api::CompositionTarget { arrangement_1_percent: 15, arrangement_3_percent: 85 }),
        ..api::Contract::default()
    })
}

/// A caller: a channel and the bearer token of one principal.
#[derive(Clone)]
struct Caller {
    channel: Channel,
    authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl Caller {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", self.authorization.clone());
        request
    }

    fn contracts(&self) -> ContractServiceClient<Channel> {
        ContractServiceClient::new(self.channel.clone())
    }

    fn hours(&self) -> HoursServiceClient<Channel> {
        HoursServiceClient::new(self.channel.clone())
    }

    fn savings(&self) -> SavingsServiceClient<Channel> {
        SavingsServiceClient::new(self.channel.clone())
    }

    fn pool(&self) -> PoolServiceClient<Channel> {
        PoolServiceClient::new(self.channel.clone())
    }

    fn settlement(&self) -> SettlementServiceClient<Channel> {
        SettlementServiceClient::new(self.channel.clone())
    }

    fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    fn invoices(&self) -> InvoiceServiceClient<Channel> {
        InvoiceServiceClient::new(self.channel.clone())
    }
}

/// The callers of the demo, with tokens signed by the development key in `data_dir`.
struct Callers {
    admin: Caller,
    billing: Caller,
    gemeente: Caller,
    auditor: Caller,
}

fn callers(settings: &Settings, data_dir: &std::path::Path, channel: &Channel) -> anyhow::Result<Callers> {
    let keys = DevKeyPair::in_dir(data_dir);
    keys.ensure()?;
    let private_key =
        std::fs::read(&keys.private_key).with_context(|| format!("reading {}", keys.private_key.display()))?;
    let caller = |subject: &str, role: Role| -> anyhow::Result<Caller> {
        let request = TokenRequest {
            principal: Principal { subject: subject.to_owned(), role },
            issuer: settings.auth.issuer.clone(),
            audience: settings.auth.audience.clone(),
            issued_at_s: Utc::now().timestamp(),
            ttl_s: 3_600,
        };
        let token = mint(&private_key, &request).context("signing a demo token")?;
        let authorization = format!("Bearer {token}").parse().context("a token header")?;
        Ok(Caller { channel: channel.clone(), authorization })
    };
    let gemeente = Role::parse("gemeente", Some(GEMEENTE)).map_err(anyhow::Error::msg)?;
    Ok(Callers {
        admin: caller("demo-admin", Role::Admin)?,
        billing: caller("demo-billing", Role::Billing)?,
        gemeente: caller("demo-gemeente-utrecht", gemeente)?,
        auditor: caller("demo-auditor", Role::Auditor)?,
    })
}

/// Flextensie as the embedded demo's seller: fictional numbers (a KvK and VAT number of the
/// right shape, an IBAN with valid check digits).
fn demo_seller() -> crate::configuration::SellerSettings {
    crate::configuration::SellerSettings {
        name: "Flextensie B.V. (demo)".to_owned(),
        kvk: "12345678".to_owned(),
        vat_number: "NL001234567B01".to_owned(),
        street: "Voorbeeldstraat 1".to_owned(),
        city: "Utrecht".to_owned(),
        postal_zone: "3511 AA".to_owned(),
        country: "NL".to_owned(),
        iban: "NL91ABNA0417164300".to_owned(),
        payment_terms_days: 30,
    }
}

/// A running embedded server on a temporary SQLite file; removed when dropped.
struct Embedded {
    address: String,
    data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Embedded {
    async fn start(settings: &Settings, year: i32) -> anyhow::Result<(Embedded, Settings)> {
        let data_dir = std::env::temp_dir().join(format!(
            "flexsettle-demo-{}-{}",
            std::process::id(),
            Utc::now().timestamp_micros()
        ));
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        // From here on the folder goes with `embedded`, however the start ends.
        let mut embedded = Embedded { address: String::new(), data_dir: data_dir.clone(), stop: None, serving: None };
        let mut settings = settings.clone();
        settings.listen_addr = "127.0.0.1:0".parse().context("the loopback address")?;
        settings.health_listen_addr = None;
        settings.database_url = data_dir.join("flexsettle.db").display().to_string();
        settings.data_dir = data_dir.clone();
        settings.database.migrate_at_start = true;
        settings.auth.disabled = false;
        settings.auth.allow_dev_key = true;
        settings.auth.public_key_files = Vec::new();
        settings.auth.jwks_file = None;
        settings.audit.signing_key_file = None;
        settings.tls = crate::configuration::TlsSettings::default();
        if settings.invoicing.seller.is_none() {
            settings.invoicing.seller = Some(demo_seller());
        }
        // The April after the example's quarter: its hours are in the past, March has ended.
        settings.clock.fixed_now = Utc.with_ymd_and_hms(year, 4, 2, 9, 0, 0).single();
        let app = crate::startup::Application::build(&settings).await?;
        embedded.address = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        embedded.stop = Some(stop);
        embedded.serving = Some(tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        })));
        Ok((embedded, settings))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take()
            && let Ok(Err(error)) = serving.await
        {
            tracing::warn!(%error, "stopping the embedded server");
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Runs the demo and prints it to `out`; gives the statements it settled.
///
/// # Errors
/// When the server cannot be reached or refuses a step.
pub async fn run(
    settings: &Settings,
    options: &DemoOptions,
    out: &mut impl Write,
) -> anyhow::Result<Vec<DemoStatement>> {
    let today = Utc::now().date_naive();
    match &options.server {
        Some(address) => {
            let year = options.year.unwrap_or(if today.month() >= 4 { today.year() } else { today.year() - 1 });
            let channel = connect(address).await?;
            let callers = callers(settings, &settings.data_dir, &channel)?;
            writeln!(out, "flexsettle demo against {address}: DESIGN.md's worked example, {year}")?;
            story(&callers, options, year, out).await
        }
        None => {
            let year = options.year.unwrap_or(2027);
            let (embedded, settings) = Embedded::start(settings, year).await?;
            writeln!(
                out,
                "flexsettle demo on an embedded server ({}, temporary SQLite file, clock at {year}-04-02): DESIGN.md's worked example",
                embedded.address
            )?;
            let result = async {
                let channel = connect(&embedded.address).await?;
                let callers = callers(&settings, &settings.data_dir, &channel)?;
                story(&callers, options, year, out).await
            }
            .await;
            embedded.stop().await;
            result
        }
    }
}

/// The worked example, step by step.
async fn story(
    callers: &Callers,
    options: &DemoOptions,
    year: i32,
    out: &mut impl Write,
) -> anyhow::Result<Vec<DemoStatement>> {
    let run_id = Utc::now().timestamp_millis();
    let contract_id = format!("demo-{year}-{run_id}");
    let parent = format!("contracts/{contract_id}");
    let request_id = |step: &str| format!("demo-{run_id}-{step}");
    let Callers { admin, billing, gemeente, auditor } = callers;

    let contract = worked_example_contract(year, options.risk_shift_mode)?;
    admin
        .contracts()
        .create_contract(admin.request(api::CreateContractRequest {
            request_id: request_id("contract"),
            contract_id: contract_id.clone(),
            contract: Some(contract),
        }))
        .await
        .context("creating the contract")?;
    writeln!(
        out,
        "  admin     created {parent}: GM0344, monthly, window of 3 months, fee 1,250.00, minimum intake 30, {}",
        options.risk_shift_mode.as_str_name().trim_start_matches("RISK_SHIFT_MODE_")
    )?;
    let rate = |month, cents| -> anyhow::Result<api::HourlyRate> {
        Ok(api::HourlyRate {
            effective_date: date(day(year, month, 1)?),
            rate_per_hour_cents: cents,
            ..Default::default()
        })
    };
    admin
        .contracts()
        .create_intercedent(admin.request(api::CreateIntercedentRequest {
            request_id: request_id("intercedent"),
            parent: parent.clone(),
            intercedent_id: "int-1".to_owned(),
            intercedent: Some(api::Intercedent {
                hourly_rates: vec![rate(1, 4_875)?, rate(3, 5_020)?],
                ..Default::default()
            }),
        }))
        .await
        .context("creating the intercedent")?;
    writeln!(out, "  admin     added intercedent int-1: 48.75/h, 50.20/h from {year}-03-01")?;

    // Hours: 30 days of 241 minutes in January, 20 of 300 in February, 22 of 300 in March.
    let mut lines = Vec::new();
    for (month, days, minutes) in [(1, 30, 241), (2, 20, 300), (3, 22, 300)] {
        for d in 1..=days {
            lines.push(api::HourLine {
                intercedent_id: "int-1".to_owned(),
                work_date: date(day(year, month, d)?),
                kind: api::TimeKind::Work.into(),
                minutes,
                line_reference: format!("{month:02}-{d:02}"),
                note: String::new(),
            });
        }
    }
    let submitted = billing
        .hours()
        .submit_hours(billing.request(api::SubmitHoursRequest {
            request_id: request_id("hours"),
            parent: parent.clone(),
            entries: lines,
        }))
        .await
        .context("submitting hours")?
        .into_inner()
        .entries;
    writeln!(out, "  billing   submitted {} hour entries (7,230 + 6,000 + 6,600 minutes)", submitted.len())?;
    gemeente
        .hours()
        .verify_hours(gemeente.request(api::VerifyHoursRequest {
            request_id: request_id("verify-hours"),
            parent: parent.clone(),
            entries: submitted.into_iter().map(|entry| entry.name).collect(),
        }))
        .await
        .context("verifying hours")?;
    writeln!(out, "  gemeente  verified them")?;

    // Savings both ways: January and March from Flextensie, February from the municipality.
    for (month, cents, submitter, verifier, by, checked_by) in [
        (1, 410_000, billing, gemeente, "billing ", "gemeente"),
        (2, 980_000, gemeente, billing, "gemeente", "billing"),
        (3, 200_000, billing, gemeente, "billing ", "gemeente"),
    ] {
        let record = submitter
            .savings()
            .submit_savings(submitter.request(api::SubmitSavingsRequest {
                request_id: request_id(&format!("savings-{month}")),
                parent: parent.clone(),
                savings: Some(api::SavingsRecord {
                    period_start: date(day(year, month, 1)?),
                    amount_cents: cents,
                    kind: api::SavingsKind::FullOutflow.into(),
                    source_reference: format!("uwv-{year}-{month:02}"),
                    certainty: api::SavingsCertainty::Definitive.into(),
                    ..Default::default()
                }),
            }))
            .await
            .context("submitting savings")?
            .into_inner();
        verifier
            .savings()
            .verify_savings(verifier.request(api::VerifySavingsRequest {
                request_id: request_id(&format!("verify-savings-{month}")),
                parent: parent.clone(),
                savings: vec![record.name],
            }))
            .await
            .context("verifying savings")?;
        writeln!(out, "  {by}  submitted savings of {} for month {month}; {checked_by} verified them", euros(cents))?;
    }

    // Intake: 27 registrations, 24 with a motivation check (the other 3 do not count).
    for n in 1..=27_u32 {
        let registered = day(year, 1 + (n - 1) / 10, 1 + (n - 1) % 10)?;
        let candidate = gemeente
            .pool()
            .register_candidate(gemeente.request(api::RegisterCandidateRequest {
                request_id: request_id(&format!("candidate-{n}")),
                parent: parent.clone(),
                candidate_id: format!("cand-{n}"),
                candidate: Some(api::Candidate {
                    arrangement: if n <= 4 { 1 } else { 3 },
                    registration_date: date(registered),
                    ..Default::default()
                }),
            }))
            .await
            .context("registering a candidate")?
            .into_inner();
        if n <= 24 {
            gemeente
                .pool()
                .record_candidate_event(gemeente.request(api::RecordCandidateEventRequest {
                    request_id: request_id(&format!("motivation-{n}")),
                    candidate: candidate.name,
                    event: Some(api::CandidateEvent {
                        kind: api::CandidateEventKind::MotivationCheck.into(),
                        date: date(registered),
                        detail: "consulent".to_owned(),
                        ..Default::default()
                    }),
                }))
                .await
                .context("recording a motivation check")?;
        }
    }
    writeln!(out, "  gemeente  registered 27 candidates, 24 with a motivation check")?;

    admin
        .invoices()
        .put_municipality(admin.request(api::PutMunicipalityRequest {
            request_id: request_id("municipality"),
            municipality: Some(api::Municipality {
                name: format!("municipalities/{GEMEENTE}"),
                display_name: "Gemeente Utrecht".to_owned(),
                oin: "00000001002220647000".to_owned(),
                address: Some(api::PostalAddress {
                    street: "Postbus 16200".to_owned(),
                    city: "Utrecht".to_owned(),
                    postal_zone: "3500 CE".to_owned(),
                    country: "NL".to_owned(),
                }),
                ..Default::default()
            }),
        }))
        .await
        .context("recording the municipality's party data")?;
    admin
        .invoices()
        .set_contract_invoicing(admin.request(api::SetContractInvoicingRequest {
            request_id: request_id("invoicing"),
            parent: parent.clone(),
            invoicing: Some(api::ContractInvoicing {
                effective_from: date(day(year, 1, 1)?),
                buyer_reference: format!("WI-FLEXPOOL-{year}"),
                intercedent_cost_mode: api::IntercedentCostMode::Net.into(),
                ..Default::default()
            }),
        }))
        .await
        .context("recording the contract's invoicing data")?;
    writeln!(
        out,
        "  admin     recorded Utrecht's party data and the contract's invoicing data (SI-UBL 2.0, NET, S 21%)"
    )?;

    let mut statements = Vec::new();
    for month in 1..=3 {
        let statement = billing
            .settlement()
            .settle_period(billing.request(api::SettlePeriodRequest {
                request_id: request_id(&format!("settle-{month}")),
                parent: parent.clone(),
                period_start: date(day(year, month, 1)?),
            }))
            .await
            .with_context(|| format!("settling month {month}"))?
            .into_inner();
        let cost = statement.cost_lines.iter().map(|line| line.cost_cents).sum::<i64>();
        statements.push(DemoStatement {
            number: statement.number.clone(),
            cents: [
                cost,
                statement.savings_cents,
                statement.fee_cents,
                statement.covered_this_period_cents,
                statement.uncovered_to_date_cents,
                statement.shifted_cents,
                statement.borne_cents,
                statement.net_balance_cents,
            ],
        });
    }
    writeln!(out, "  billing   settled January, February and March\n")?;
    writeln!(out, "{}", table(&statements))?;
    invoices(gemeente, &parent, year, out).await?;

    let entries = auditor
        .audit()
        .list_audit_entries(auditor.request(api::ListAuditEntriesRequest {
            resource_prefix: parent.clone(),
            page_size: 500,
            ..Default::default()
        }))
        .await
        .context("listing the audit entries")?
        .into_inner()
        .entries;
    writeln!(out, "The audit log holds {} entries for {parent}; by action:", entries.len())?;
    let mut actions: Vec<(String, String, usize)> = Vec::new();
    for entry in &entries {
        match actions.iter_mut().find(|(action, role, _)| *action == entry.action && *role == entry.principal_role) {
            Some((_, _, count)) => *count += 1,
            None => actions.push((entry.action.clone(), entry.principal_role.clone(), 1)),
        }
    }
    for (action, role, count) in &actions {
        writeln!(out, "  {count:>3} × {action:<22} by {role}")?;
    }
    for entry in entries.iter().filter(|entry| entry.action == "statement.settle") {
        let time =
            entry.record_time.map(|time| time.seconds).and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0));
        writeln!(
            out,
            "  #{:<4} {} {} by {} ({})",
            entry.sequence,
            time.map(|time| time.to_rfc3339()).unwrap_or_default(),
            entry.resource,
            entry.principal_role,
            entry.action
        )?;
    }
    if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
        writeln!(
            out,
            "  sequence numbers {} to {}; verify them with `flexsettle audit verify`",
            first.sequence, last.sequence
        )?;
    }
    Ok(statements)
}

/// The municipality fetches the e-invoices settlement issued, and the demo prints their totals;
/// a server without a seller configured says so instead.
async fn invoices(gemeente: &Caller, parent: &str, year: i32, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "The e-invoices of the statements (UBL 2.1, SI-UBL 2.0), as the municipality fetches them:")?;
    for month in 1..=3 {
        let answer = gemeente
            .invoices()
            .get_statement_invoice(gemeente.request(api::GetStatementInvoiceRequest {
                name: format!("{parent}/statements/{}/invoice", day(year, month, 1)?),
            }))
            .await;
        let invoice = match answer {
            Ok(invoice) => invoice.into_inner(),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                writeln!(out, "  not issued: {}", status.message())?;
                return Ok(());
            }
            Err(status) => return Err(status).context("fetching an invoice"),
        };
        for document in &invoice.documents {
            writeln!(
                out,
                "  {:<18} {:>10} + VAT {:>9} = {:>10}  ({} bytes of XML, SHA-256 {}…)",
                document.number,
                euros(document.line_total_cents),
                euros(document.vat_cents),
                euros(document.payable_cents),
                document.content.len(),
                document.content_sha256.get(..12).unwrap_or_default()
            )?;
        }
    }
    writeln!(out)?;
    Ok(())
}

/// The statements as a table, and who pays whom.
fn table(statements: &[DemoStatement]) -> String {
    let months = ["January", "February", "March"];
    let headers = ["", "cost", "savings", "fee", "covered", "uncovered", "shifted", "borne", "net balance"];
    let mut text = String::new();
    let _ = write!(text, "{:<27}", headers[0]);
    for header in &headers[1..] {
        let _ = write!(text, "{header:>13}");
    }
    text.push('\n');
    for (statement, month) in statements.iter().zip(months) {
        let _ = write!(text, "{:<27}", format!("{month} {}", statement.number));
        for cents in statement.cents {
            let _ = write!(text, "{:>13}", euros(cents));
        }
        let net = statement.cents[7];
        let direction = match net.signum() {
            1 => format!("  the municipality pays Flextensie {}", euros(net)),
            -1 => format!("  Flextensie pays the municipality {}", euros(-net)),
            _ => "  nobody pays".to_owned(),
        };
        text.push_str(&direction);
        text.push('\n');
    }
    let total: i64 = statements.iter().map(|statement| statement.cents[7]).sum();
    let _ = writeln!(text, "window total net balance {} (positive: the municipality pays Flextensie)", euros(total));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euros_group_thousands_and_keep_the_sign() {
        assert_eq!(euros(-177_438), "-1,774.38");
        assert_eq!(euros(427_438), "4,274.38");
        assert_eq!(euros(125_000), "1,250.00");
        assert_eq!(euros(5), "0.05");
        assert_eq!(euros(-5), "-0.05");
        assert_eq!(euros(123_456_789), "1,234,567.89");
        assert_eq!(euros(0), "0.00");
    }
}
