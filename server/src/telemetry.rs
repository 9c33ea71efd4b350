use tracing_subscriber::{fmt, EnvFilter};

use crate::configuration::{LogFormat, LogSettings};

/// Installs the global subscriber; `RUST_LOG` overrides the configured filter.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = fmt().with_env_filter(filter);
    // A second init (several apps in one test process) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
