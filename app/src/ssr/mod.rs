//! Server-only code: state, storage, training. Never compiled into the wasm bundle.

pub mod cache;
pub mod card;
pub mod database;
pub mod ranking;
pub mod rate_limits;
pub mod session;
pub mod share_card;
pub mod store;
pub mod training;
pub mod trainings;
pub mod voices;
pub mod x_post;

pub use tweetgen_archive as archive;

use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use sqlx::PgPool;
use tweetgen_markov::Tokenizer;

use crate::error::AppError;
use crate::i18n::{Lang, LANG_COOKIE};
use crate::shared::{Generated, Voice};

/// What every request handler and server function can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database in use, which the control record may move; `reads()` for
    /// each piece of reading, `db.write(…)` for each write.
    pub db: database::Database,
    /// Holds the segmentation dictionary (tens of MB): loaded once, shared.
    pub tokenizer: Arc<Tokenizer>,
    pub models: Arc<cache::ModelCache>,
    /// Mixes' blends, by their members' model versions.
    pub blends: Arc<voices::Blends>,
    pub ranking: Arc<ranking::RankingCache>,
    /// `None` when the card fonts could not be loaded: pages then have no image.
    pub cards: Option<Arc<share_card::Cards>>,
    /// Admission of trainings on this instance (`begin_training`).
    pub trainings: Arc<trainings::Trainings>,
    /// How often each client may do the costly things, on this instance.
    pub rate_limits: Arc<rate_limits::RateLimits>,
    pub config: Arc<AppConfig>,
}

/// Settings the app's code needs (the server reads them from its configuration).
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The site's absolute URL without a trailing slash (`https://tweetgen.example`):
    /// share links, card images and the OAuth redirect are built from it.
    pub public_url: String,
    pub session_lifetime: Duration,
    /// How long a user waits between two trainings (the old service: 24 h).
    pub retrain_interval: Duration,
    pub archive_limits: archive::ArchiveLimits,
}

impl AppState {
    /// The current database's read-only pool. Taken per piece of work, never
    /// kept: the server may move to another database while it runs.
    pub fn reads(&self) -> PgPool {
        self.db.reads()
    }

    pub fn from_context() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| {
            tracing::error!("AppState missing from the server function context");
            AppError::Internal
        })
    }

    /// The signed-in visitor of the current request, if any.
    pub async fn viewer(&self) -> Result<Option<session::SessionUser>, AppError> {
        match use_context::<http::request::Parts>() {
            Some(parts) => session::user_from_headers(&self.reads(), &parts.headers).await,
            None => Ok(None),
        }
    }

    /// A generated tweet as the API returns it, with its absolute permalink and
    /// what "Post to X" sends.
    pub fn generated(&self, id: i64, voice: Voice, text: String) -> Generated {
        let permalink = format!("{}?tweet={id}", self.page_url(&voice));
        let card_url = self.card_url(&voice, Some(id));
        let post = x_post::post_to_x(&self.tokenizer, &text);
        Generated { id, voice, text, permalink, card_url, post }
    }

    /// The absolute URL of a voice's page.
    pub fn page_url(&self, voice: &Voice) -> String {
        format!("{}{}", self.config.public_url, voice.path())
    }

    /// The absolute URL of a card image (of a voice's page, or of one tweet).
    pub fn card_url(&self, voice: &Voice, tweet: Option<i64>) -> Option<String> {
        self.cards.as_ref()?;
        let base = match voice {
            Voice::One(screen_name) => format!("{}/card/{screen_name}", self.config.public_url),
            Voice::Mix(mix) => format!("{}/mix-card/{}", self.config.public_url, mix.spec()),
        };
        Some(match tweet {
            Some(id) => format!("{base}/{id}.png"),
            None => format!("{base}.png"),
        })
    }

    /// Lets the current request's client do `action` now, or refuses with 429:
    /// the signed-in `viewer` counted by their account, anyone else by address.
    pub fn rate_limit(
        &self,
        action: rate_limits::Action,
        viewer: Option<&session::SessionUser>,
    ) -> Result<(), AppError> {
        let client = match viewer {
            Some(viewer) => rate_limits::Client::Account(viewer.user_id),
            None => rate_limits::Client::Address(client_address()),
        };
        self.rate_limits.check(action, client)
    }

    /// The signed-in visitor, or the error that asks them to sign in.
    pub async fn signed_in(&self) -> Result<session::SessionUser, AppError> {
        self.viewer().await?.ok_or(AppError::SignInRequired)
    }
}

/// What a page may load and run: its own files, the inline scripts that carry
/// this render's nonce (hydration, streamed resources) and what they load, its
/// WebAssembly; it may not be framed, nor post forms elsewhere.
pub fn page_content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Sets the page's policy on the response being rendered (with the nonce
/// leptos_axum gives every render).
pub fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = page_content_security_policy(&nonce.to_string());
    response.insert_header(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_str(&policy).expect("a nonce is base64"),
    );
}

/// The current request's client address, as the server's `client_address`
/// layer found it (every request passes it; none outside a request).
pub fn client_address() -> rate_limits::ClientAddress {
    let found = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<rate_limits::ClientAddress>().copied());
    found.unwrap_or_else(|| rate_limits::ClientAddress::new(std::net::Ipv6Addr::UNSPECIFIED.into()))
}

/// The request's language: the switch's cookie, else Accept-Language, else Japanese.
pub fn request_lang() -> Lang {
    use_context::<http::request::Parts>().map_or(Lang::Ja, |parts| lang_from_headers(&parts.headers))
}

pub fn lang_from_headers(headers: &http::HeaderMap) -> Lang {
    let chosen = session::cookie(headers, LANG_COOKIE).and_then(|code| Lang::from_code(&code));
    let accepted = || Lang::from_accept_language(headers.get(http::header::ACCEPT_LANGUAGE)?.to_str().ok()?);
    chosen.or_else(accepted).unwrap_or(Lang::Ja)
}

/// Anyone may generate from a public account's model; only the owner from a
/// protected one's.
pub fn check_access(screen_name: &str, owner_id: i64, protected: bool, viewer_id: Option<i64>) -> Result<(), AppError> {
    if protected && viewer_id != Some(owner_id) {
        return Err(AppError::ProtectedAccount(screen_name.to_string()));
    }
    Ok(())
}

/// Runs a server function's body and gives its error the right HTTP status (a
/// bad screen name is not a server failure). A plain form post keeps the redirect
/// that leptos_axum gives it, which carries the error back to the form.
pub async fn with_status<T>(work: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let result = work.await;
    if let Err(error) = &result {
        if !is_plain_form_post() {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(error.status());
                if let Some(seconds) = error.retry_after_secs() {
                    response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
                }
            }
        }
    }
    result
}

/// True when the request is an HTML form posted without JavaScript (the browser
/// asks for HTML), as opposed to a call from the hydrated app.
pub fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(http::header::ACCEPT)?.to_str().ok().map(|a| a.contains("text/html")))
        .unwrap_or(false)
}
