//! The cutover's endpoints: read-only mode and switching the database at runtime.

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, BROWSER_ACCEPT};

const TOKEN: &str = "let-me-in";
const TWEETS: &str = "the cat sat on the mat today\nthe dog sat on the log yesterday\na cat ran after the dog";

async fn spawn_admin_app() -> TestApp {
    spawn_app_with(|settings| settings.admin.token = Some(TOKEN.into())).await
}

async fn admin(app: &TestApp, path: &str, body: Option<Value>, token: Option<&str>) -> reqwest::Response {
    let url = format!("{}/admin/{path}", app.address);
    let mut request = match &body {
        Some(body) => app.client.post(url).json(body),
        None => app.client.get(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn without_a_configured_token_there_is_no_admin() {
    let app = spawn_app().await;
    assert_eq!(admin(&app, "status", None, Some(TOKEN)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_the_token_nothing_changes() {
    let app = spawn_admin_app().await;
    app.train("owner", TWEETS).await;
    for token in [None, Some("guess"), Some("let-me-in-please")] {
        let refused = admin(&app, "read-only", Some(json!({"read_only": true})), token).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let moved = admin(&app, "database", Some(json!({"url": "postgres://evil@127.0.0.1:1/x"})), token).await;
        assert_eq!(moved.status(), StatusCode::UNAUTHORIZED);
    }
    let status: Value = admin(&app, "status", None, Some(TOKEN)).await.json().await.unwrap();
    assert_eq!(status["read_only"], false);
    assert!(status["database"].as_str().unwrap().ends_with("/tweetgen"), "{status}");
    assert_eq!(app.generate_as(&app.client, "owner").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn read_only_mode_pauses_writes_and_keeps_reads() {
    let app = spawn_admin_app().await;
    app.train("owner", TWEETS).await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM generations").fetch_one(&app.pool).await.unwrap();

    let on = admin(&app, "read-only", Some(json!({"read_only": true})), Some(TOKEN)).await;
    assert_eq!(on.status(), StatusCode::OK);
    let on: Value = on.json().await.unwrap();
    assert_eq!((on["read_only"].clone(), on["writes_in_flight"].clone()), (json!(true), json!(0)));

    let paused = app.generate_as(&app.client, "owner").await;
    assert_eq!(paused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(paused.headers()[header::RETRY_AFTER], "2");
    assert_eq!(paused.json::<Value>().await.unwrap(), json!("ReadOnly"));
    let without_javascript = app
        .client
        .post(format!("{}/api/generate_tweet", app.address))
        .header(header::ACCEPT, BROWSER_ACCEPT)
        .form(&[("screen_name", "owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(without_javascript.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(without_javascript.text().await.unwrap().contains("saving is paused for a few seconds"));
    let training = app.train("owner", TWEETS).await;
    assert_eq!(training.status(), StatusCode::SERVICE_UNAVAILABLE);

    let page = app.get("/@owner").await;
    assert_eq!(page.status(), StatusCode::OK, "reads go on");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK, "still ready for the load balancer");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM generations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(after, before, "nothing written");

    admin(&app, "read-only", Some(json!({"read_only": false})), Some(TOKEN)).await;
    assert_eq!(app.generate_as(&app.client, "owner").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_database_is_switched_without_a_restart() {
    let app = spawn_admin_app().await;
    app.train("old_home", TWEETS).await;
    let other_url = app.cluster.create_database("other").unwrap();
    let other = sqlx::PgPool::connect(&other_url).await.unwrap();

    // A database without the schema is refused and nothing changes.
    let refused = admin(&app, "database", Some(json!({"url": other_url})), Some(TOKEN)).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("cannot be read as tweetgen's"));
    assert_eq!(app.generate_as(&app.client, "old_home").await.status(), StatusCode::OK);

    sqlx::migrate!("../migrations").run(&other).await.unwrap();
    let switched = admin(&app, "database", Some(json!({"url": other_url})), Some(TOKEN)).await;
    assert_eq!(switched.status(), StatusCode::OK);
    let status: Value = switched.json().await.unwrap();
    assert!(status["database"].as_str().unwrap().ends_with("/other"), "{status}");
    assert_eq!(
        app.generate_as(&app.client, "old_home").await.status(),
        StatusCode::NOT_FOUND,
        "the new database has no such user"
    );
    app.train("new_home", TWEETS).await;
    let users: Vec<String> = sqlx::query_scalar("SELECT screen_name FROM users").fetch_all(&other).await.unwrap();
    assert_eq!(users, ["new_home"], "writes go to the new database");

    let again = admin(&app, "database", Some(json!({"url": other_url})), Some(TOKEN)).await;
    assert_eq!(again.json::<Value>().await.unwrap()["drained_ms"], 0, "switching to where it is is a no-op");
}

#[tokio::test]
async fn a_write_refused_by_a_read_only_database_asks_to_retry() {
    let app = spawn_app().await;
    app.train("fenced", TWEETS).await;
    app.cluster
        .psql(
            "postgres",
            "ALTER DATABASE tweetgen SET default_transaction_read_only = on;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'tweetgen' AND pid <> pg_backend_pid();",
        )
        .unwrap();
    let mut response = app.generate_as(&app.client, "fenced").await;
    // The pool notices its connections were ended on first use.
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        response = app.generate_as(&app.client, "fenced").await;
    }
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    assert_eq!(response.json::<Value>().await.unwrap(), json!("ReadOnly"));
}
