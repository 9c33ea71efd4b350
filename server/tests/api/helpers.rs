use reqwest::{header, redirect::Policy, Client, Response};
use tweetgen_pgharness::PgCluster;
use tweetgen_server::{configuration::Settings, startup::Application};

pub struct TestApp {
    pub address: String,
    pub pool: sqlx::PgPool,
    pub state: tweetgen_app::ssr::AppState,
    /// Follows no redirects, so tests see where a form post sends the browser.
    pub client: Client,
    pub cluster: PgCluster,
}

/// Starts a cluster and the app; both stop when the returned value is dropped.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let cluster = PgCluster::start().expect("starting PostgreSQL");
    let mut settings = Settings::default();
    settings.database.url = cluster.create_database("tweetgen").unwrap();
    settings.database.acquire_timeout_ms = 1_000;
    settings.server.port = 0;
    customise(&mut settings);
    let application = Application::build(settings).await.expect("building the app");
    let address = format!("http://{}", application.address());
    let state = application.state().clone();
    let pool = state.pool.clone();
    tokio::spawn(application.run_until_stopped());
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    TestApp { address, pool, state, client, cluster }
}

/// What a browser without JavaScript sends.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

impl TestApp {
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.address)).header(header::ACCEPT, BROWSER_ACCEPT).send().await.unwrap()
    }

    /// Posts a form the way a browser without JavaScript does.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)], referer: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header(header::ACCEPT, BROWSER_ACCEPT)
            .header(header::REFERER, format!("{}{referer}", self.address))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn train(&self, screen_name: &str, tweets: &str) -> Response {
        self.post_form("/api/train_model", &[("screen_name", screen_name), ("tweets", tweets)], "/").await
    }

    pub async fn model_version(&self, screen_name: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT m.version FROM models m JOIN users u ON u.id = m.user_id WHERE u.screen_name = $1")
            .bind(screen_name)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    /// Follows a redirect the way the browser would (absolute or relative).
    pub async fn follow(&self, response: &Response) -> String {
        let target = location(response);
        let url = if target.starts_with('/') { format!("{}{target}", self.address) } else { target.to_string() };
        self.client.get(url).header(header::ACCEPT, BROWSER_ACCEPT).send().await.unwrap().text().await.unwrap()
    }
}

pub fn location(response: &Response) -> &str {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}
