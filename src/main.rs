//! The `flexsettle` command: `serve` (the default) and `migrate`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use flexsettle::configuration::Settings;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log)?;
    tracing::info!(settings = ?settings.redacted(), "configuration loaded");
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(&settings)
                .await?
                .run_until(shutdown_signal())
                .await
        }
        Command::Migrate => open_store(&settings).await.map(drop),
    }
}
