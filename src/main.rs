//! The `flexsettle` command: `serve` (the default), `migrate` and `token`.

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
    /// Apply pending database migrations and exit.
    Migrate,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::info!(settings = ?settings.redacted(), "configuration loaded");
            Application::build(&settings).await?.run_until(shutdown_signal()).await
        }
        Command::Migrate => open_store(&settings).await.map(drop),
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
    }
}
