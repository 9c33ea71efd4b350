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
    database_url: String,
}

/// A second app server on the same database, as behind a load balancer.
pub struct Instance {
    pub address: String,
    client: Client,
}

/// Starts a cluster and the app; both stop when the returned value is dropped.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let cluster = PgCluster::start().expect("starting PostgreSQL");
    let database_url = cluster.create_database("tweetgen").unwrap();
    let mut settings = Settings::default();
    settings.database.url = database_url.clone();
    customise(&mut settings);
    let (application, client) = start(settings).await;
    let address = format!("http://{}", application.address());
    let state = application.state().clone();
    let pool = state.pool.clone();
    tokio::spawn(application.run_until_stopped());
    TestApp { address, pool, state, client, cluster, database_url }
}

async fn start(mut settings: Settings) -> (Application, Client) {
    settings.database.acquire_timeout_ms = 1_000;
    settings.server.port = 0;
    let application = Application::build(settings).await.expect("building the app");
    (application, Client::builder().redirect(Policy::none()).build().unwrap())
}

/// The text of a new tweet, asked for as the hydrated app asks.
async fn generated_text(client: &Client, address: &str, screen_name: &str) -> String {
    let response = client
        .post(format!("{address}/api/generate_tweet"))
        .header(header::ACCEPT, "application/json")
        .form(&[("screen_name", screen_name)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["text"].as_str().unwrap().to_string()
}

impl Instance {
    pub async fn generated_text(&self, screen_name: &str) -> String {
        generated_text(&self.client, &self.address, screen_name).await
    }
}

/// What a browser without JavaScript sends.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

impl TestApp {
    pub async fn another_instance(&self) -> Instance {
        let mut settings = Settings::default();
        settings.database.url = self.database_url.clone();
        let (application, client) = start(settings).await;
        let address = format!("http://{}", application.address());
        tokio::spawn(application.run_until_stopped());
        Instance { address, client }
    }

    pub async fn generated_text(&self, screen_name: &str) -> String {
        generated_text(&self.client, &self.address, screen_name).await
    }

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
