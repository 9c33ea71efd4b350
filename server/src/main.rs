use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tweetgen_server::{
    configuration::Settings,
    migrate::{self, AppRole},
    startup::Application,
    telemetry,
};

#[derive(Parser)]
#[command(name = "tweetgen-server", about = "Serve tweetgen", version)]
struct Cli {
    /// Settings file (TOML); environment variables override it.
    #[arg(long, env = "TWEETGEN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// As the database's owner (database.url): create the control record if
    /// missing, apply the migrations if it says serving, and create or update the
    /// servers' own role with exactly the privileges they use; then exit.
    Migrate {
        /// The servers' role; its password is read from TWEETGEN_APP_ROLE_PASSWORD
        /// (never from the command line, which other users can see).
        #[arg(long, env = "TWEETGEN_APP_ROLE")]
        app_role: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    match cli.command {
        None => Application::build(settings).await?.run_until_stopped().await,
        Some(Command::Migrate { app_role }) => {
            let app_role = match app_role {
                Some(name) => {
                    let password = std::env::var("TWEETGEN_APP_ROLE_PASSWORD")
                        .context("--app-role needs its password in TWEETGEN_APP_ROLE_PASSWORD")?;
                    Some(AppRole::new(&name, &password)?)
                }
                None => None,
            };
            let prepared = migrate::prepare(&settings.database, &settings.control, app_role.as_ref()).await?;
            tracing::info!(
                database = %settings.database.redacted_url(),
                state = %prepared.state,
                migrations_applied = prepared.migrations_applied,
                app_role = app_role.as_ref().map(AppRole::name),
                "database prepared"
            );
            Ok(())
        }
    }
}
