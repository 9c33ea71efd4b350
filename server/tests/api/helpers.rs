use std::collections::HashMap;

use reqwest::{header, redirect::Policy, Client, Response, Url};
use tokio::sync::Mutex;
use tweetgen_app::ssr::rate_limits::{Rate, Rates};
use tweetgen_pgharness::PgCluster;
use tweetgen_server::{
    configuration::{AuthSettings, Settings},
    migrate::{self, AppRole},
    startup::Application,
    x_standin,
};

pub struct TestApp {
    pub address: String,
    /// The database as its owner sees it (the app's own pools are `state.db`).
    pub pool: sqlx::PgPool,
    pub state: tweetgen_app::ssr::AppState,
    /// A visitor who is not signed in. Follows no redirects, so tests see where
    /// a form post sends the browser.
    pub client: Client,
    pub cluster: PgCluster,
    /// The owner's URL (the test's and the operator's); the servers sign in as
    /// [`APP_ROLE`] through `app_url`, as in production.
    pub database_url: String,
    pub app_url: String,
    pub auth: AuthSettings,
    /// Browsers signed in by screen name, each with its own cookie jar.
    signed_in: Mutex<HashMap<String, Client>>,
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

/// Tests retrain and generate freely unless they test the limits; the server
/// trusts one proxy hop, so that a test's clients can come from many addresses
/// (`X-Forwarded-For`, as the load balancer writes it).
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let cluster = PgCluster::start().expect("starting PostgreSQL");
    let database_url = cluster.create_database("tweetgen").unwrap();
    cluster.require_password(APP_ROLE).unwrap();
    let mut settings = Settings::default();
    settings.database.url = database_url.clone();
    settings.auth = standin_x().await;
    settings.learning.retrain_interval_secs = 0;
    settings.rate_limits = UNLIMITED;
    settings.server.proxy_hops = 1;
    customise(&mut settings);
    let app_url = prepare_as_owner(&settings).await;
    settings.database.url = app_url.clone();
    let auth = settings.auth.clone();
    let (application, client) = start(settings).await;
    let address = format!("http://{}", application.address());
    let state = application.state().clone();
    // The test's own view of the database: the owner, reading and writing anything.
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(&database_url).unwrap();
    tokio::spawn(application.run_until_stopped());
    TestApp { address, pool, state, client, cluster, database_url, app_url, auth, signed_in: Mutex::default() }
}

/// A small English corpus most tests train on.
pub const TWEETS: &str = "the cat sat on the mat today\nthe dog sat on the log yesterday\na cat ran after the dog";

/// Rates no test reaches unless it means to.
pub const UNLIMITED: Rates = {
    let rate = Rate { per_minute: 100_000, burst: 100_000 };
    Rates { generate: rate, sign_in: rate, train: rate, render_card: rate }
};

/// Generates from `screen_name` as an anonymous visitor at `address`.
pub async fn generate_from(app: &TestApp, address: &str, screen_name: &str) -> Response {
    app.client
        .post(format!("{}/api/generate_tweet", app.address))
        .header(header::ACCEPT, "application/json")
        .header("x-forwarded-for", address)
        .form(&[("screen_name", screen_name)])
        .send()
        .await
        .unwrap()
}

/// Runs the futures at once, each as a task; their outputs in order.
pub async fn all_at_once<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for task in tasks {
        outputs.push(task.await.unwrap());
    }
    outputs
}

/// The servers' own role, as `tweetgen-server migrate` makes it in production.
pub const APP_ROLE: &str = "tweetgen_app";
const APP_ROLE_PASSWORD: &str = "app-role's-password:not@the/owner's";

/// What the deploy runs before the servers start (as the owner: the control
/// record, migrations, the app role and its grants); the URL the servers then use.
pub async fn prepare_as_owner(settings: &Settings) -> String {
    let role = AppRole::new(APP_ROLE, APP_ROLE_PASSWORD).unwrap();
    migrate::prepare(&settings.database, &settings.control, Some(&role)).await.expect("preparing the database");
    let mut url = Url::parse(&settings.database.url).unwrap();
    url.set_username(APP_ROLE).unwrap();
    url.set_password(Some(APP_ROLE_PASSWORD)).unwrap();
    url.to_string()
}

/// The stand-in for X's sign-in on its own loopback port (as X is another host),
/// and the settings that point the app at it.
async fn standin_x() -> AuthSettings {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let client_id = "tweetgen-test";
    tokio::spawn(async move {
        axum::serve(listener, x_standin::router(client_id, x_standin::RedirectUris::LoopbackCallbacks)).await
    });
    AuthSettings {
        client_id: client_id.into(),
        authorize_url: format!("{base}/i/oauth2/authorize"),
        token_url: format!("{base}/2/oauth2/token"),
        user_url: format!("{base}/2/users/me?user.fields=protected"),
        ..AuthSettings::default()
    }
}

async fn start(mut settings: Settings) -> (Application, Client) {
    settings.database.acquire_timeout_ms = 1_000;
    settings.database.migrate = false;
    settings.server.port = 0;
    let application = Application::build(settings).await.expect("building the app");
    (application, browser())
}

/// A browser that asks for English pages (tests read the messages).
pub fn browser() -> Client {
    let headers = header::HeaderMap::from_iter([(header::ACCEPT_LANGUAGE, header::HeaderValue::from_static("en"))]);
    Client::builder().redirect(Policy::none()).cookie_store(true).default_headers(headers).build().unwrap()
}

/// Asks for a new tweet as the hydrated app asks.
pub async fn generate(client: &Client, address: &str, screen_name: &str) -> Response {
    call(client, address, "/api/generate_tweet", &[("screen_name", screen_name)]).await
}

/// Calls a server function as the hydrated app does.
pub async fn call(client: &Client, address: &str, path: &str, fields: &[(&str, &str)]) -> Response {
    client
        .post(format!("{address}{path}"))
        .header(header::ACCEPT, "application/json")
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The text of a new tweet; the answer must be a success.
async fn generated_text(client: &Client, address: &str, screen_name: &str) -> String {
    let response = generate(client, address, screen_name).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["text"].as_str().unwrap().to_string()
}

/// The ranking as the hydrated home page asks for it.
async fn ranking(client: &Client, address: &str) -> serde_json::Value {
    let response =
        client.post(format!("{address}/api/ranking")).header(header::ACCEPT, "application/json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

impl Instance {
    /// Asks for a new tweet, whatever the answer.
    pub async fn generate(&self, screen_name: &str) -> Response {
        generate(&self.client, &self.address, screen_name).await
    }

    pub async fn generated_text(&self, screen_name: &str) -> String {
        generated_text(&self.client, &self.address, screen_name).await
    }

    pub async fn ranking(&self) -> serde_json::Value {
        ranking(&self.client, &self.address).await
    }
}

/// What a browser without JavaScript sends.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

impl TestApp {
    pub async fn another_instance(&self) -> Instance {
        self.another_instance_with(|_| {}).await
    }

    pub async fn another_instance_with(&self, customise: impl FnOnce(&mut Settings)) -> Instance {
        let mut settings = Settings::default();
        settings.database.url = self.app_url.clone();
        settings.auth = self.auth.clone();
        customise(&mut settings);
        let (application, client) = start(settings).await;
        let address = format!("http://{}", application.address());
        tokio::spawn(application.run_until_stopped());
        Instance { address, client }
    }

    pub async fn generated_text(&self, screen_name: &str) -> String {
        generated_text(&self.client, &self.address, screen_name).await
    }

    pub async fn ranking(&self) -> serde_json::Value {
        ranking(&self.client, &self.address).await
    }

    /// Asks for a new tweet as `browser` (signed in or not), whatever the answer.
    pub async fn generate_as(&self, browser: &Client, screen_name: &str) -> Response {
        generate(browser, &self.address, screen_name).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_as(&self.client, path).await
    }

    pub async fn get_as(&self, browser: &Client, path: &str) -> Response {
        browser.get(format!("{}{path}", self.address)).header(header::ACCEPT, BROWSER_ACCEPT).send().await.unwrap()
    }

    /// Posts a form the way a browser without JavaScript does, not signed in.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)], referer: &str) -> Response {
        self.post_form_as(&self.client, path, fields, referer).await
    }

    /// Posts a form from `browser` the way a browser without JavaScript does.
    pub async fn post_form_as(&self, browser: &Client, path: &str, fields: &[(&str, &str)], referer: &str) -> Response {
        browser
            .post(format!("{}{path}", self.address))
            .header(header::ACCEPT, BROWSER_ACCEPT)
            .header(header::ORIGIN, &self.address)
            .header(header::REFERER, format!("{}{referer}", self.address))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Signs in as `screen_name` the way a browser does: the app sends it to the
    /// stand-in's authorization page, the person agrees, the stand-in sends it
    /// back with a code, and the app sets the session cookie.
    pub async fn sign_in(&self, screen_name: &str, protected: bool) -> Client {
        let browser = browser();
        let login = browser.get(format!("{}/auth/login?return_to=/", self.address)).send().await.unwrap();
        assert_eq!(login.status(), 303, "{:?}", login.text().await);
        let authorize = Url::parse(location(&login)).unwrap();
        let page = browser.get(authorize.clone()).send().await.unwrap();
        assert_eq!(page.status(), 200, "the stand-in accepted the authorization request");
        let mut fields: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        fields.extend([("decision".into(), "allow".into()), ("username".into(), screen_name.into())]);
        if protected {
            fields.push(("protected".into(), "true".into()));
        }
        let agreed = browser.post(authorize).form(&fields).send().await.unwrap();
        let callback = location(&agreed).to_string();
        assert!(callback.starts_with(&format!("{}/auth/callback?", self.address)), "{callback}");
        let signed_in = browser.get(callback).send().await.unwrap();
        assert_eq!(location(&signed_in), "/", "signed in and sent back");
        browser
    }

    /// A browser signed in as `screen_name` (signed in once, then reused).
    pub async fn as_user(&self, screen_name: &str) -> Client {
        let mut signed_in = self.signed_in.lock().await;
        if let Some(browser) = signed_in.get(screen_name) {
            return browser.clone();
        }
        let browser = self.sign_in(screen_name, false).await;
        signed_in.insert(screen_name.to_string(), browser.clone());
        browser
    }

    /// Teaches `tweets` as the signed-in `screen_name`, without JavaScript.
    pub async fn train(&self, screen_name: &str, tweets: &str) -> Response {
        let browser = self.as_user(screen_name).await;
        self.post_form_as(&browser, "/api/train_model", &[("tweets", tweets)], "/").await
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
        self.follow_as(&self.client, response).await
    }

    pub async fn follow_as(&self, browser: &Client, response: &Response) -> String {
        let target = location(response);
        let url = if target.starts_with('/') { format!("{}{target}", self.address) } else { target.to_string() };
        browser.get(url).header(header::ACCEPT, BROWSER_ACCEPT).send().await.unwrap().text().await.unwrap()
    }
}

pub fn location(response: &Response) -> &str {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}
