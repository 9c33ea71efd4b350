//! What the load balancer sees: readiness follows the database, not how busy
//! the server is; a busy server answers 503 with Retry-After, never 500.

use std::time::{Duration, Instant};

use reqwest::{header, StatusCode};

use crate::helpers::{generate, spawn_app, spawn_app_with, TWEETS};

#[tokio::test]
async fn healthz_and_readyz_answer_while_the_database_is_up() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn readyz_fails_but_healthz_answers_when_the_database_is_down() {
    let app = spawn_app().await;
    let crate::helpers::TestApp { address, client, cluster, .. } = app;
    cluster.stop().unwrap();
    // Within the readiness window (5 s) of the last heartbeat.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let readyz = client.get(format!("{address}/readyz")).send().await.unwrap();
        if readyz.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(Instant::now() < deadline, "still ready 10 s after the database stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let healthz = client.get(format!("{address}/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn a_server_whose_pools_are_exhausted_stays_ready_and_answers_503_with_retry_after() {
    let app = spawn_app_with(|settings| settings.database.max_connections = 1).await;
    app.train("busy", TWEETS).await;
    assert!(app.model_version("busy").await.is_some(), "trained");
    // Every request that reads users waits on this lock, holding the one connection.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let requests: Vec<_> = (0..4).map(|_| tokio::spawn(app_generate(app.address.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await; // past the pool's acquire timeout (1 s)
    for _ in 0..3 {
        assert_eq!(app.get("/readyz").await.status(), 200, "busy, not broken");
    }
    lock.rollback().await.unwrap();
    let mut statuses = Vec::new();
    for request in requests {
        let (status, retry_after) = request.await.unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(retry_after.as_deref(), Some("2"), "503 says when to retry");
        }
        statuses.push(status.as_u16());
    }
    statuses.sort();
    assert!(statuses.iter().all(|status| [200, 503].contains(status)), "{statuses:?}");
    assert!(statuses.contains(&503), "the pool timed out for some: {statuses:?}");
}

async fn app_generate(address: String) -> (StatusCode, Option<String>) {
    let response = generate(&reqwest::Client::new(), &address, "busy").await;
    let retry_after = response.headers().get(header::RETRY_AFTER).map(|value| value.to_str().unwrap().to_string());
    (response.status(), retry_after)
}
