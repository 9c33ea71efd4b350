use std::path::PathBuf;

use clap::Parser;
use tweetgen_server::{configuration::Settings, startup::Application, telemetry};

#[derive(Parser)]
#[command(name = "tweetgen-server", about = "Serve tweetgen", version)]
struct Cli {
    /// Settings file (TOML); environment variables override it.
    #[arg(long, env = "TWEETGEN_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    let application = Application::build(settings).await?;
    application.run_until_stopped().await
}
