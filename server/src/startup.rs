//! Building the app from settings: the database (as its control record says),
//! migrations, routes, listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::{
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post},
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use tweetgen_app::ssr::database::{Admission, Database, Writes};
use tweetgen_app::ssr::{
    cache::ModelCache,
    ranking::{RankingCache, RANKING_DAYS},
    rate_limits::RateLimits,
    session, store,
    trainings::Trainings,
    voices::Blends,
    AppConfig, AppState,
};
use tweetgen_app::{shell, App};

use crate::configuration::{AuthSettings, Settings};
use crate::control::Control;
use crate::routes::auth::{self, SignIn};
use crate::routes::{BodyLimits, MixCards, UserCards};
use crate::{routes, seed, x_standin};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    control: ControlTask,
    stop: StopSignals,
}

/// The control loop, running from `build` until the server stops.
struct ControlTask {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects, migrates, seeds (if asked) and binds; serving starts with
    /// `run_until_stopped`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let stop = StopSignals::listen()?;
        tracing::info!(database = %settings.database.name, url = %settings.database.redacted_url(), "starting");
        let (db, control) = Control::start(&settings.database, &settings.control).await?;
        if settings.database.migrate {
            // Only the service's own database: a replica's schema comes from the
            // migration, and a fenced one takes no change.
            if db.admission() == Admission::Open {
                let writes = db.connected().writes.clone();
                crate::migrate::MIGRATOR.run(&writes).await.context(
                    "applying database migrations (servers signed in as the app role leave them to \
                     `tweetgen-server migrate`: database.migrate = false)",
                )?;
            } else {
                tracing::info!(database = %db.connected().name, "not migrating: its control record does not say serving");
            }
        }
        let listener = TcpListener::bind(settings.server.address())
            .await
            .with_context(|| format!("binding {}", settings.server.address()))?;
        let address = listener.local_addr()?;
        let public_url = match &settings.server.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{address}"),
        };

        let config = AppConfig {
            public_url: public_url.clone(),
            session_lifetime: Duration::from_secs(settings.auth.session_days * 24 * 60 * 60),
            retrain_interval: Duration::from_secs(settings.learning.retrain_interval_secs),
            archive_limits: settings.learning.archive_limits(),
        };
        let tokenizer = Arc::new(settings.markov.tokenizer()?);
        let models = Arc::new(ModelCache::new(settings.markov.cache_max_bytes));
        let blends = Arc::new(Blends::new(settings.markov.mix_cache_max_bytes));
        let ranking = Arc::new(RankingCache::new(Duration::from_secs(settings.ranking.refresh_secs)));
        let cards = settings.cards.cards().map(Arc::new);
        let trainings = Arc::new(Trainings::new(
            settings.learning.max_concurrent_trainings,
            Duration::from_millis(settings.learning.training_wait_ms),
        ));
        let rate_limits = Arc::new(RateLimits::new(settings.rate_limits));
        let state = AppState {
            db,
            tokenizer,
            models,
            blends,
            ranking,
            cards,
            trainings,
            rate_limits,
            config: Arc::new(config),
        };
        if settings.seed_demo_users && state.db.admission() == Admission::Open {
            seed::seed_demo_users(&state).await?;
        }
        tokio::spawn(Writes::declare(purge_expired_sessions(state.db.clone())));
        let (stop_control, control_stopped) = oneshot::channel();
        let control = ControlTask { stop: stop_control, task: tokio::spawn(control.run(control_stopped)) };

        let mut auth = settings.auth.clone();
        if auth.standin {
            standin_only_on_loopback(address, &public_url)?;
            tracing::warn!("auth.standin: signing in against the built-in stand-in for X, not X itself");
            auth = standin_settings(auth, &public_url, address);
        }
        let sign_in = SignIn::new(state.clone(), &auth, &public_url)?;
        let mut leptos_options = get_configuration(None)?.leptos_options;
        leptos_options.site_addr = address;
        let hashed = routes::HashedNames::beside_the_server(&leptos_options)?;
        leptos_options.hash_files = hashed.is_some();
        let body_limits = BodyLimits {
            default: settings.server.max_body_bytes,
            // The multipart form around the file adds a few hundred bytes.
            upload: settings.learning.max_upload_bytes + 64 * 1024,
        };
        let https = routes::Https(public_url.starts_with("https://"));
        let hops = routes::ProxyHops(settings.server.proxy_hops);
        let site = (leptos_options, hashed.unwrap_or_default());
        let mut router = router(site, state.clone(), sign_in, body_limits, (https, hops));
        if auth.standin {
            let callback = x_standin::RedirectUris::Exactly(vec![format!("{public_url}/auth/callback")]);
            router = router.nest("/standin-x", x_standin::router(&auth.client_id, callback));
        }
        Ok(Self { listener, router, state, control, stop })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, finishes the requests under way, then
    /// leaves the presence table.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!("listening on http://{}", self.address());
        // The peer's address: the client's, or the load balancer's (`client_address`).
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service).with_graceful_shutdown(self.stop.received()).await;
        let _ = self.control.stop.send(());
        let _ = self.control.task.await;
        Ok(served?)
    }
}

/// Whoever reaches the stand-in signs in under any name (and as that name's X
/// id, which owns a real user's data): it is served only by a server that
/// listens on loopback alone, for a public address on loopback over plain HTTP.
fn standin_only_on_loopback(address: SocketAddr, public_url: &str) -> anyhow::Result<()> {
    let public = oauth2::url::Url::parse(public_url).context("server.public_url")?;
    anyhow::ensure!(
        address.ip().is_loopback() && x_standin::is_http_on_loopback(&public),
        "auth.standin is for development and tests on one machine: the server must listen on loopback \
         (server.host 127.0.0.1, not {}) and server.public_url be http:// on loopback (not {public_url}). \
         Anyone who reaches the stand-in signs in under any name",
        address.ip()
    );
    Ok(())
}

/// Points sign-in at the stand-in served by this same server: the browser goes
/// to the public address, the server calls itself on the bound one.
fn standin_settings(auth: AuthSettings, public_url: &str, own: SocketAddr) -> AuthSettings {
    let client_id = if auth.client_id.is_empty() { "tweetgen-standin".to_string() } else { auth.client_id };
    AuthSettings {
        client_id,
        client_secret: None,
        authorize_url: format!("{public_url}/standin-x/i/oauth2/authorize"),
        token_url: format!("http://{own}/standin-x/2/oauth2/token"),
        user_url: format!("http://{own}/standin-x/2/users/me?user.fields=protected"),
        ..auth
    }
}

/// Expired sessions and abandoned sign-ins, and the ranking's votes, salts and
/// owners' addresses past its window, removed hourly by every instance (cheap,
/// idempotent deletes on indexed columns); skipped while writes are not open.
async fn purge_expired_sessions(db: Database) {
    let mut hourly = tokio::time::interval(Duration::from_secs(60 * 60));
    loop {
        hourly.tick().await;
        if db.admission() != Admission::Open {
            continue;
        }
        let purged = db.write(|pool| async move {
            // A day beyond the ranking's week: a vote is never purged while counted.
            Ok(session::purge_expired(&pool).await? + store::purge_ranking(&pool, RANKING_DAYS + 1).await?)
        });
        match purged.await {
            Ok(removed) => tracing::debug!(removed, "purged expired sessions"),
            Err(error) => tracing::warn!(?error, "purging expired sessions"),
        }
    }
}

fn router(
    (leptos_options, hashed): (LeptosOptions, routes::HashedNames),
    state: AppState,
    sign_in: SignIn,
    body_limits: BodyLimits,
    (https, hops): (routes::Https, routes::ProxyHops),
) -> Router {
    let health = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .with_state(state.clone());
    // Signing in stores the OAuth state, then the session; signing out ends it.
    let auth = Router::new()
        .route("/auth/login", get(auth::login).layer(Writes))
        .route("/auth/callback", get(auth::callback).layer(Writes))
        .route("/auth/logout", post(auth::logout).layer(Writes))
        .route("/auth/logout-everywhere", post(auth::logout_everywhere).layer(Writes))
        .route("/lang/{code}", get(routes::switch_language))
        .with_state(sign_in);
    let cards = Router::new()
        .route("/card/{file}", get(routes::page_card::<UserCards>))
        .route("/card/{screen_name}/{file}", get(routes::tweet_card::<UserCards>))
        .route("/mix-card/{file}", get(routes::page_card::<MixCards>))
        .route("/mix-card/{mix}/{file}", get(routes::tweet_card::<MixCards>))
        .with_state(state.clone());
    let site_files = routes::pkg_router(&leptos_options, hashed);
    let pages = Router::new()
        .leptos_routes_with_context(
            &leptos_options,
            generate_route_list(App),
            move || provide_context(state.clone()),
            {
                let leptos_options = leptos_options.clone();
                move || shell(leptos_options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler(shell))
        .layer(middleware::from_fn(routes::cache_pages))
        .with_state(leptos_options);
    pages
        .merge(site_files)
        .merge(health)
        .merge(auth)
        .merge(cards)
        .layer(middleware::from_fn(routes::refuse_cross_site_writes))
        // Refuses oversized requests up front; axum's own 2 MiB default is lifted
        // so that server functions can read what the limit lets in.
        .layer(middleware::from_fn_with_state(body_limits, routes::limit_body_size))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(https, routes::security_headers))
        .layer(middleware::from_fn_with_state(hops, routes::client_address))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Outermost: what the layers inside add is sent compressed too.
        .layer(CompressionLayer::new())
}

/// Ctrl-C or SIGTERM (systemd, ECS, an autoscaling group draining an instance):
/// stop accepting, finish in-flight requests. Listened for from the start of
/// `build`, so that a server stopped while it starts still leaves cleanly.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    async fn received(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
        tracing::info!("shutting down");
    }
}
