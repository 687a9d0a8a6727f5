//! The `flexsettle` command: `serve` (the default), `migrate`, `token` and `audit`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use flexsettle::auth::{DevKeyPair, TokenRequest, mint};
use flexsettle::configuration::Settings;
use flexsettle::domain::{Principal, Role};
use flexsettle::startup::{Application, open_store, shutdown_signal};
use flexsettle::telemetry;

/// Settlement service for Flextensie's flexpool.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// TOML settings file (default: ./flexsettle.toml when it exists).
    #[arg(long, env = "FLEXSETTLE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (the default).
    Serve,
    /// Apply pending database migrations and exit (as the tables' owner).
    Migrate {
        /// PostgreSQL: then grant this role what the service needs and no more (SELECT and
        /// INSERT on every table, UPDATE of the counters), for servers that run as it with
        /// database.migrate_at_start = false.
        #[arg(long)]
        grant_to: Option<String>,
    },
    /// Print a token signed with the local development key (created if missing).
    Token {
        /// billing, gemeente, auditor or admin.
        #[arg(long)]
        role: String,
        /// The municipality's CBS code, for the gemeente role (e.g. GM0344).
        #[arg(long)]
        gemeente: Option<String>,
        /// Who the token names (default: dev-ROLE, e.g. dev-gemeente-GM0344). Verification
        /// needs another subject than submission (four-eyes).
        #[arg(long)]
        subject: Option<String>,
        /// How long the token is valid, e.g. 15m, 8h, 7d.
        #[arg(long, default_value = "8h")]
        ttl: humantime::Duration,
    },
    /// DESIGN.md's worked example end to end through the API, each step by its principal: three
    /// settled months printed as a table, then the audit entries written. On an embedded server
    /// (temporary SQLite file) unless --server names a running one that trusts the development
    /// key in the data directory.
    Demo {
        /// A running server, e.g. http://127.0.0.1:50051 (default: an embedded one).
        #[arg(long)]
        server: Option<String>,
        /// The example's year (default: 2027 embedded; on a server, the latest year whose
        /// March has ended, since hours in the future are refused).
        #[arg(long)]
        year: Option<i32>,
        /// FULL or PRO_RATA.
        #[arg(long, default_value = "FULL")]
        risk_shift_mode: String,
    },
    /// Export, verify and prove the audit log, needing nothing but its public key.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `flexsettle audit …`.
#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Write the log (every entry and the latest signed checkpoint) to a file, from the
    /// configured database or from a server.
    Export {
        /// The file to write (JSON Lines).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Recompute the whole tree from an export or a server, check the checkpoint's signature
    /// and root, every statement's hash, and consistency with a checkpoint saved earlier. Exits
    /// non-zero naming the first bad sequence number.
    Verify {
        /// An export file (default: read the log from --server).
        #[arg(long)]
        input: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
        /// The log's public key (`origin+keyid+base64`, as GetLogPublicKey gives it) or a file
        /// holding it.
        #[arg(long)]
        public_key: String,
        /// A checkpoint saved by an earlier run: the log must have only grown since.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Save the checkpoint just verified here, for the next run's --previous.
        #[arg(long)]
        save_checkpoint: Option<PathBuf>,
    },
    /// Verify a statement's evidence bundle offline (from a file, or fetched from a server).
    Prove {
        /// The statement, `contracts/{contract}/statements/{YYYY-MM-DD}`.
        #[arg(long)]
        statement: String,
        /// The evidence file (default: fetch it from --server).
        #[arg(long)]
        evidence: Option<PathBuf>,
        /// Where to save the fetched evidence.
        #[arg(long)]
        save: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
        /// The log's public key, or a file holding it.
        #[arg(long)]
        public_key: String,
    },
}

/// A server to read the log from, instead of the configured database.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// The server, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    server: Option<String>,
    /// A bearer token of role auditor (or admin) for --server.
    #[arg(long, env = "FLEXSETTLE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// How long, once the command is done, the process waits for database work still running on
/// the blocking pool (a call abandoned after the shutdown grace): none. Its transaction is rolled
/// back by the database when the connection closes with the process.
const EXIT_WAIT: std::time::Duration = std::time::Duration::ZERO;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let result = runtime.block_on(run());
    // Dropping the runtime would wait for every blocking task, however long the database makes
    // it wait: past the shutdown grace, the process must end.
    runtime.shutdown_timeout(EXIT_WAIT);
    result
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let command_asked = cli.command.unwrap_or(Command::Serve);
    let mut log = settings.log.clone();
    if matches!(command_asked, Command::Demo { .. }) {
        // The demo's story is on standard output; of its embedded server only warnings.
        log.filter = "warn".to_owned();
    }
    let telemetry = telemetry::init(&log)?;
    let result = command(&settings, command_asked).await;
    // Exported spans and metrics still buffered go out now, from a thread off the runtime's
    // workers (the exporters block, and their connections run on those workers).
    if let Err(error) = tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
        tracing::warn!(%error, "flushing telemetry at exit");
    }
    result
}

async fn command(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            tracing::info!(settings = ?settings.redacted(), "configuration loaded");
            Application::build(settings).await?.run_until(shutdown_signal()).await
        }
        Command::Migrate { grant_to } => {
            let store = open_store(settings).await?;
            if let Some(role) = grant_to {
                store.grant_service_role(&role).await?;
                tracing::info!(
                    role = role.as_str(),
                    "service role granted SELECT and INSERT, and UPDATE of the counters"
                );
            }
            Ok(())
        }
        Command::Token { role, gemeente, subject, ttl } => {
            let role = Role::parse(&role, gemeente.as_deref()).map_err(anyhow::Error::msg)?;
            let subject = subject.unwrap_or_else(|| format!("dev-{}", role.label().replace(':', "-")));
            let keys = DevKeyPair::in_dir(&settings.data_dir);
            keys.ensure()?;
            let private_key =
                std::fs::read(&keys.private_key).with_context(|| format!("reading {}", keys.private_key.display()))?;
            let request = TokenRequest {
                principal: Principal { subject, role },
                issuer: settings.auth.issuer.clone(),
                audience: settings.auth.audience.clone(),
                issued_at_s: chrono::Utc::now().timestamp(),
                ttl_s: i64::try_from(ttl.as_secs()).context("ttl is too long")?,
            };
            let token = mint(&private_key, &request).context("signing the token")?;
            writeln!(std::io::stdout(), "{token}").context("writing the token")?;
            Ok(())
        }
        Command::Audit(command) => audit(settings, command).await,
        Command::Demo { server, year, risk_shift_mode } => {
            let risk_shift_mode = flexsettle::grpc::api::RiskShiftMode::from_str_name(&format!(
                "RISK_SHIFT_MODE_{}",
                risk_shift_mode.to_ascii_uppercase()
            ))
            .filter(|mode| *mode != flexsettle::grpc::api::RiskShiftMode::Unspecified)
            .ok_or_else(|| anyhow::anyhow!("--risk-shift-mode must be FULL or PRO_RATA"))?;
            let options = flexsettle::demo::DemoOptions { server, year, risk_shift_mode };
            let mut stdout = std::io::stdout().lock();
            flexsettle::demo::run(settings, &options, &mut stdout).await.map(drop)
        }
    }
}

/// The server and token of `args`, when a server is given.
fn server_of(args: &ServerArgs) -> anyhow::Result<Option<(&str, &str)>> {
    match (&args.server, &args.token) {
        (Some(server), Some(token)) => Ok(Some((server, token))),
        (Some(_), None) => anyhow::bail!("--server needs --token (or FLEXSETTLE_TOKEN)"),
        (None, _) => Ok(None),
    }
}

async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    use flexsettle::audit_tool;
    let mut stdout = std::io::stdout();
    match command {
        AuditCommand::Export { out, server } => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?,
            );
            let written = match server_of(&server)? {
                Some((address, token)) => {
                    let log = flexsettle::grpc::client::fetch_log(address, token).await?;
                    audit_tool::write_export(
                        &mut file,
                        &log.checkpoint,
                        log.entries.into_iter().map(|entry| (entry, None)),
                    )?
                }
                None => audit_tool::export_from_database(&open_existing_store(settings).await?, &mut file).await?,
            };
            writeln!(stdout, "exported {written} entries to {}", out.display())?;
            Ok(())
        }
        AuditCommand::Verify { input, server, public_key, previous, save_checkpoint } => {
            let verifier = audit_tool::read_verifier(&public_key)?;
            let previous = previous
                .map(|path| std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display())))
                .transpose()?;
            let export = match (input, server_of(&server)?) {
                (Some(path), _) => std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                (None, Some((address, token))) => {
                    let log = flexsettle::grpc::client::fetch_log(address, token).await?;
                    let mut bytes = Vec::new();
                    audit_tool::write_export(
                        &mut bytes,
                        &log.checkpoint,
                        log.entries.into_iter().map(|entry| (entry, None)),
                    )?;
                    bytes
                }
                (None, None) => anyhow::bail!("give --input FILE or --server URL"),
            };
            match audit_tool::verify_export(&export, &verifier, previous.as_deref()) {
                Ok(verified) => {
                    if let Some(path) = save_checkpoint {
                        let header = export.split(|byte| *byte == b'\n').next().unwrap_or_default();
                        let header: audit_tool::ExportHeader = serde_json::from_slice(header)?;
                        std::fs::write(&path, header.checkpoint)
                            .with_context(|| format!("writing {}", path.display()))?;
                    }
                    writeln!(
                        stdout,
                        "ok: {} entries, {} statements; checkpoint of {} entries signed by {}",
                        verified.entries, verified.statements, verified.checkpoint.size, verified.checkpoint.origin
                    )?;
                    Ok(())
                }
                Err(failure) => {
                    match failure.first_bad_seq {
                        Some(seq) => writeln!(stdout, "FAILED at entry {seq}: {failure}")?,
                        None => writeln!(stdout, "FAILED: {failure}")?,
                    }
                    std::process::exit(1)
                }
            }
        }
        AuditCommand::Prove { statement, evidence, save, server, public_key } => {
            let verifier = audit_tool::read_verifier(&public_key)?;
            let bundle: audit_tool::EvidenceFile = match (evidence, server_of(&server)?) {
                (Some(path), _) => serde_json::from_slice(
                    &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                )
                .with_context(|| format!("{} is not an evidence file", path.display()))?,
                (None, Some((address, token))) => {
                    flexsettle::grpc::client::fetch_evidence(address, token, &statement).await?
                }
                (None, None) => anyhow::bail!("give --evidence FILE or --server URL"),
            };
            if let Some(path) = save {
                std::fs::write(&path, serde_json::to_vec_pretty(&bundle)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if bundle.statement != statement {
                writeln!(stdout, "FAILED: the evidence is of {}, not {statement}", bundle.statement)?;
                std::process::exit(1)
            }
            match audit_tool::verify_evidence(&bundle, &verifier) {
                Ok(checkpoint) => {
                    writeln!(
                        stdout,
                        "ok: {statement} is in the log of {} entries signed by {}",
                        checkpoint.size, checkpoint.origin
                    )?;
                    Ok(())
                }
                Err(failure) => {
                    writeln!(stdout, "FAILED: {failure}")?;
                    std::process::exit(1)
                }
            }
        }
    }
}

/// The configured database as it is: opened without migrating, for reading.
async fn open_existing_store(settings: &Settings) -> anyhow::Result<flexsettle::storage::Store> {
    let target = settings.database_target().map_err(anyhow::Error::msg)?;
    let options = flexsettle::storage::PoolOptions { min_idle_connections: 0, ..settings.pool_options() };
    tokio::task::spawn_blocking(move || flexsettle::storage::Store::open(target, options))
        .await
        .context("opening the database")?
        .map_err(anyhow::Error::from)
}
