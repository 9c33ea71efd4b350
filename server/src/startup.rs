//! Building the app from settings: database pool, migrations, routes, listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::{extract::DefaultBodyLimit, routing::get, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use tweetgen_app::ssr::{cache::ModelCache, AppState};
use tweetgen_app::{shell, App};

use crate::{configuration::Settings, routes, seed};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects, migrates, seeds (if asked) and binds; serving starts with
    /// `run_until_stopped`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        tracing::info!(database = %settings.database.redacted_url(), "starting");
        // Lazy: connections are opened on demand, so a database outage after
        // start-up fails requests (and /readyz) instead of killing the process.
        let pool = PgPoolOptions::new()
            .max_connections(settings.database.max_connections)
            .acquire_timeout(settings.database.acquire_timeout())
            .connect_lazy(&settings.database.url)
            .context("invalid database URL")?;
        if settings.database.migrate {
            sqlx::migrate!("../migrations").run(&pool).await.context("applying database migrations")?;
        }
        let tokenizer = Arc::new(settings.markov.tokenizer()?);
        let models = Arc::new(ModelCache::new(settings.markov.cache_max_bytes));
        let state = AppState { pool, tokenizer, models };
        if settings.seed_demo_users {
            seed::seed_demo_users(&state).await?;
        }

        let listener = TcpListener::bind(settings.server.address())
            .await
            .with_context(|| format!("binding {}", settings.server.address()))?;
        let mut leptos_options = get_configuration(None)?.leptos_options;
        leptos_options.site_addr = listener.local_addr()?;
        let router = router(leptos_options, state.clone(), settings.server.max_body_bytes);
        Ok(Self { listener, router, state })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!("listening on http://{}", self.address());
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown_signal()).await?;
        Ok(())
    }
}

fn router(leptos_options: LeptosOptions, state: AppState, max_body_bytes: usize) -> Router {
    let health = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .with_state(state.clone());
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
        .with_state(leptos_options);
    pages
        .merge(health)
        // The first refuses oversized requests up front; the second lets server
        // functions read bodies up to the same size (axum's default is 2 MiB).
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Ctrl-C or SIGTERM (systemd, ECS, an autoscaling group draining an instance):
/// stop accepting, finish in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
