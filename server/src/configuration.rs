//! Settings: defaults, then an optional TOML file, then `TWEETGEN__SECTION__KEY`
//! environment variables, then `DATABASE_URL` (the usual convention) on top.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tweetgen_app::ssr::archive::ArchiveLimits;
use tweetgen_app::ssr::card::CardFonts;
use tweetgen_app::ssr::database::Connected;
use tweetgen_app::ssr::share_card::Cards;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub markov: MarkovSettings,
    pub auth: AuthSettings,
    pub learning: LearningSettings,
    pub cards: CardSettings,
    pub control: ControlSettings,
    pub ranking: RankingSettings,
    /// Per client, on each instance: `generate`, `sign_in`, `train`, `render_card`,
    /// each `{ per_minute, burst }`.
    pub rate_limits: tweetgen_app::ssr::rate_limits::Rates,
    /// Train the demo users from the bundled corpus at start-up if they are missing.
    pub seed_demo_users: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub host: IpAddr,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Largest request body accepted, in bytes. A browser percent-encodes a form,
    /// tripling Japanese text, so this must exceed 3 × the paste limit.
    pub max_body_bytes: usize,
    /// The site's address as visitors see it (`https://tweetgen.example`), for
    /// share links, card images and the OAuth redirect. Unset: the bound address.
    pub public_url: Option<String>,
    /// Proxies in front that append the client's address to `X-Forwarded-For`
    /// (1 behind an ALB). 0: the peer is the client, and the header is ignored.
    pub proxy_hops: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            max_body_bytes: 8 * 1024 * 1024,
            public_url: None,
            proxy_hops: 0,
        }
    }
}

impl ServerSettings {
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// This database's name among the ones the fleet knows: control records say
    /// "moved to NAME", never a URL.
    pub name: String,
    /// `postgres://user:password@host:port/database?sslmode=verify-full`: where the
    /// server starts (it follows the control record from there).
    pub url: String,
    /// The other databases this server may be moved to, by name (from its own
    /// configuration or secrets: the control record only names them).
    pub others: BTreeMap<String, String>,
    /// Per pool: the server keeps one pool of read-only sessions and one of
    /// sessions that may write.
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// Apply pending migrations at start-up (a server signed in as the database's
    /// owner, as in development). Off where the servers sign in as their own role
    /// and `tweetgen-server migrate` prepares the database first.
    pub migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            name: "primary".into(),
            url: "postgres://tweetgen@127.0.0.1:5432/tweetgen".into(),
            others: BTreeMap::new(),
            max_connections: 20,
            acquire_timeout_ms: 5_000,
            migrate: true,
        }
    }
}

impl DatabaseSettings {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// The URL of a database this server knows by `name`.
    pub fn url_of(&self, name: &str) -> Option<&str> {
        if name == self.name {
            Some(&self.url)
        } else {
            self.others.get(name).map(String::as_str)
        }
    }

    /// The names of the databases it could be moved to from `current`.
    pub fn others_than(&self, current: &str) -> Vec<String> {
        std::iter::once(&self.name).chain(self.others.keys()).filter(|name| *name != current).cloned().collect()
    }

    fn connect_options(&self, name: &str, application: &str) -> anyhow::Result<PgConnectOptions> {
        let url = self.url_of(name).with_context(|| format!("no database named {name:?} in database.others"))?;
        Ok(PgConnectOptions::from_str(url)
            .with_context(|| format!("invalid URL for database {name:?}"))?
            .application_name(application))
    }

    /// The pools for the database `name`. Lazy: connections are opened on demand,
    /// so a database outage fails requests (and /readyz) instead of the process.
    pub fn connect(&self, name: &str) -> anyhow::Result<Connected> {
        use tweetgen_control::application;
        let pool = |options| {
            PgPoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout())
                .connect_lazy_with(options)
        };
        let reads = self.connect_options(name, application::READS)?.options([("default_transaction_read_only", "on")]);
        Ok(Connected {
            name: name.to_string(),
            reads: pool(reads),
            writes: pool(self.connect_options(name, application::WRITES)?),
            redacted_url: redact(self.url_of(name).unwrap_or_default()),
        })
    }

    /// The one session of the control loop on `name`: it records this server's
    /// presence, also on a database that is read-only for everyone else.
    pub fn control_pool(&self, name: &str) -> anyhow::Result<sqlx::PgPool> {
        let options = self
            .connect_options(name, tweetgen_control::application::CONTROL)?
            .options([("default_transaction_read_only", "off")]);
        Ok(PgPoolOptions::new().max_connections(1).acquire_timeout(self.acquire_timeout()).connect_lazy_with(options))
    }
}

/// A database URL with its password replaced, for logs and status reports.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let others: BTreeMap<&String, String> = self.others.iter().map(|(name, url)| (name, redact(url))).collect();
        f.debug_struct("DatabaseSettings")
            .field("name", &self.name)
            .field("url", &self.redacted_url())
            .field("others", &others)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("migrate", &self.migrate)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarkovSettings {
    /// Memory for decoded models (bytes); the least recently used leave first.
    pub cache_max_bytes: usize,
    /// Memory for mixes' blends (bytes): each is one model merged from its
    /// members', about their size together.
    pub mix_cache_max_bytes: usize,
    /// Segmentation dictionary from `tweetgen-markov dictionary` (`scripts/setup.sh`
    /// builds `.tools/ipadic.vibrato`). Unset: `TWEETGEN_DICTIONARY`, else the
    /// coarser dictionary-free segmenter, with a warning.
    pub dictionary: Option<PathBuf>,
}

impl Default for MarkovSettings {
    fn default() -> Self {
        Self { cache_max_bytes: 256 << 20, mix_cache_max_bytes: 128 << 20, dictionary: None }
    }
}

impl MarkovSettings {
    pub fn tokenizer(&self) -> anyhow::Result<tweetgen_markov::Tokenizer> {
        let from_env = || std::env::var_os("TWEETGEN_DICTIONARY").map(PathBuf::from).filter(|path| path.exists());
        match self.dictionary.clone().or_else(from_env) {
            Some(path) => {
                let file =
                    std::fs::File::open(&path).with_context(|| format!("opening dictionary {}", path.display()))?;
                let tokenizer = tweetgen_markov::Tokenizer::with_dictionary(std::io::BufReader::new(file))
                    .with_context(|| format!("reading dictionary {}", path.display()))?;
                tracing::info!(dictionary = %path.display(), "segmenting Japanese with IPADIC");
                Ok(tokenizer)
            }
            None => {
                tracing::warn!(
                    "no segmentation dictionary (markov.dictionary or TWEETGEN_DICTIONARY): Japanese words will be \
                     coarser; run scripts/setup.sh to build one"
                );
                Ok(tweetgen_markov::Tokenizer::fallback())
            }
        }
    }
}

/// "Sign in with X" (OAuth 2.0 authorization code with PKCE).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The X app's OAuth 2.0 client id. Empty: sign-in is unavailable (unless `standin`).
    pub client_id: String,
    /// Only for a confidential client (sent as HTTP Basic auth); public clients have none.
    pub client_secret: Option<String>,
    pub authorize_url: String,
    pub token_url: String,
    /// Answers `{"data": {"id", "username", "protected"}}` for the access token.
    pub user_url: String,
    /// Serve a stand-in for X's sign-in at `/standin-x/` and use it: for
    /// development and tests, where X cannot be reached. Never in production.
    pub standin: bool,
    pub session_days: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            authorize_url: "https://x.com/i/oauth2/authorize".into(),
            token_url: "https://api.x.com/2/oauth2/token".into(),
            user_url: "https://api.x.com/2/users/me?user.fields=protected".into(),
            standin: false,
            session_days: 30,
        }
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("user_url", &self.user_url)
            .field("standin", &self.standin)
            .field("session_days", &self.session_days)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearningSettings {
    /// Seconds a user waits between two trainings (the old service: a day).
    pub retrain_interval_secs: u64,
    /// Largest archive upload, in bytes: the zip of the tweets files the hydrated
    /// page picks out of a whole archive, or a file posted without JavaScript
    /// (a whole archive with media is far larger: people then upload data/tweets.js).
    pub max_upload_bytes: usize,
    /// Bytes a zip's tweets files may inflate to (zip bombs stop here).
    pub max_unpacked_bytes: u64,
    /// Tweets read from one archive; later ones are left out.
    pub max_tweets: usize,
    /// Bytes of tweet text read from one archive; later tweets are left out. With
    /// the upload it bounds a training's memory (see bench/README.md).
    pub max_text_bytes: usize,
    /// Trainings at once on one server (default: its cores); more wait for a slot.
    pub max_concurrent_trainings: usize,
    /// How long a training waits for a slot before 429 with Retry-After.
    pub training_wait_ms: u64,
}

impl Default for LearningSettings {
    fn default() -> Self {
        let archive = ArchiveLimits::default();
        Self {
            retrain_interval_secs: 24 * 60 * 60,
            max_upload_bytes: archive.max_upload_bytes,
            max_unpacked_bytes: archive.max_unpacked_bytes,
            max_tweets: archive.max_tweets,
            max_text_bytes: archive.max_text_bytes,
            max_concurrent_trainings: std::thread::available_parallelism().map_or(1, usize::from),
            training_wait_ms: 10_000,
        }
    }
}

impl LearningSettings {
    pub fn archive_limits(&self) -> ArchiveLimits {
        ArchiveLimits {
            max_upload_bytes: self.max_upload_bytes,
            max_unpacked_bytes: self.max_unpacked_bytes,
            max_tweets: self.max_tweets,
            max_text_bytes: self.max_text_bytes,
            // No tweet, nor any line of one, is longer than the engine takes.
            max_string_bytes: tweetgen_markov::MAX_LINE_BYTES,
            // A long post is longer; training leaves out any line of it past the engine's.
            max_note_bytes: ArchiveLimits::default().max_note_bytes,
        }
    }
}

/// The share card images (OGP / X cards).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardSettings {
    /// A CJK-capable font, regular and bold (`.ttc`: the first face). Unset:
    /// Debian's fonts-noto-cjk. Unreadable: pages go without card images.
    pub regular_font: Option<PathBuf>,
    pub bold_font: Option<PathBuf>,
    /// Memory for rendered images (about 100 KB each).
    pub cache_max_bytes: usize,
}

impl Default for CardSettings {
    fn default() -> Self {
        Self { regular_font: None, bold_font: None, cache_max_bytes: 64 << 20 }
    }
}

impl CardSettings {
    pub fn cards(&self) -> Option<Cards> {
        let fonts = match (&self.regular_font, &self.bold_font) {
            (Some(regular), Some(bold)) => CardFonts::load(regular, bold),
            _ => CardFonts::debian_default(),
        };
        match fonts {
            Ok(fonts) => Some(Cards::new(fonts, self.cache_max_bytes)),
            Err(error) => {
                tracing::warn!(%error, "no card images: set cards.regular_font/bold_font or install fonts-noto-cjk");
                None
            }
        }
    }
}

/// The home page's ranking of the most generated-from users.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingSettings {
    /// Seconds each instance keeps the counts before asking the database again
    /// (0: every request). Deleted and protected accounts leave it at once anyway.
    pub refresh_secs: u64,
}

impl Default for RankingSettings {
    fn default() -> Self {
        Self { refresh_secs: 60 }
    }
}

/// How the server follows its database's control record (`tweetgen_control`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSettings {
    /// What to record on a database that has no control record yet: `serving`,
    /// or `replica` for a new fleet whose database will receive a move (it then
    /// serves reads only until the cutover opens it).
    pub initial_state: String,
    /// How long a write waits through a fence or a move before 503.
    pub hold_writes_ms: u64,
    /// The record is read on every notification, and at least this often.
    pub poll_ms: u64,
    /// How often the server refreshes its presence row.
    pub heartbeat_ms: u64,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self { initial_state: "serving".into(), hold_writes_ms: 5_000, poll_ms: 1_000, heartbeat_ms: 500 }
    }
}

impl ControlSettings {
    pub fn initial_state(&self) -> anyhow::Result<tweetgen_control::State> {
        tweetgen_control::State::parse_initial(&self.initial_state).context("control.initial_state")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing_subscriber` filter, e.g. `info,sqlx=warn`; `RUST_LOG` overrides it.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { filter: "info,sqlx=warn".into(), format: LogFormat::Pretty }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    /// One JSON object per line, for log shipping.
    Json,
}

impl Settings {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let database_url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
        builder
            .add_source(
                config::Environment::with_prefix("TWEETGEN").prefix_separator("__").separator("__").try_parsing(true),
            )
            .set_override_option("database.url", database_url)?
            .build()?
            .try_deserialize::<Self>()
            .context("invalid settings")
            .and_then(Self::checked)
    }

    /// What the types cannot say: a known initial state, and no database named twice.
    fn checked(self) -> anyhow::Result<Self> {
        self.control.initial_state()?;
        let ready_within = crate::routes::health::READY_IF_HEARD_WITHIN;
        anyhow::ensure!(
            Duration::from_millis(self.control.heartbeat_ms) * 4 <= ready_within,
            "control.heartbeat_ms {}: at most a quarter of {ready_within:?}, the contact readiness needs",
            self.control.heartbeat_ms
        );
        anyhow::ensure!(
            !self.database.others.contains_key(&self.database.name),
            "database.others names {:?}, which is database.name itself",
            self.database.name
        );
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        let with = DatabaseSettings { url: "postgres://app:s3cret@db:5432/x".into(), ..Default::default() };
        assert_eq!(with.redacted_url(), "postgres://app:***@db:5432/x");
        let without = DatabaseSettings { url: "postgres://app@db/x".into(), ..Default::default() };
        assert_eq!(without.redacted_url(), "postgres://app@db/x");
    }

    #[test]
    fn file_values_are_read_and_unknown_keys_rejected() {
        let dir = std::env::temp_dir().join(format!("tweetgen-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "seed_demo_users = true\n[server]\nport = 8080\n[log]\nformat = \"json\"\n").unwrap();
        let settings = Settings::load(Some(&good)).unwrap();
        assert_eq!(settings.server.port, 8080);
        assert_eq!(settings.log.format, LogFormat::Json);
        assert!(settings.seed_demo_users);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[server]\nprot = 8080\n").unwrap();
        let error = format!("{:#}", Settings::load(Some(&bad)).unwrap_err());
        assert!(error.contains("prot"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
