//! The control plane from a server's side: the record of the database in use
//! says what writes do (open, held, refused) and where to go (`moved`), and the
//! server reports itself in the presence table. The test plays the operator's
//! tool: it writes records with `tweetgen_control::set`, as `cutover` does.

use std::io::Write;
use std::time::{Duration, Instant};

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tweetgen_control::{self as control, State};

use tweetgen_server::configuration::Settings;

use crate::helpers::{prepare_as_owner, spawn_app, spawn_app_with, TestApp, TWEETS};

async fn operator(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

async fn set_state(url: &str, state: State, name: &str) {
    control::set(&mut operator(url).await, &state, Some(name), "test").await.unwrap();
}

/// What the server reported about itself, once it reports `until`.
async fn presence_until(url: &str, until: impl Fn(&control::Report) -> bool) -> control::Report {
    let mut connection = operator(url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let present = control::present(&mut connection, 5.0).await.unwrap();
        if let Some(found) = present.into_iter().map(|presence| presence.report).find(&until) {
            return found;
        }
        assert!(Instant::now() < deadline, "no presence row as expected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

/// A second database on the app's cluster, prepared as the first (the app's
/// schema, the app role), its record saying `serving` under `name`: the URL the
/// servers use, and the owner's pool.
async fn other_database(app: &TestApp, name: &str) -> (String, sqlx::PgPool) {
    let url = app.cluster.create_database(name).unwrap();
    let mut settings = Settings::default();
    settings.database.url = url.clone();
    let app_url = prepare_as_owner(&settings).await;
    set_state(&url, State::Serving, name).await;
    (app_url, sqlx::PgPool::connect(&url).await.unwrap())
}

#[tokio::test]
async fn a_server_records_itself_and_a_database_it_has_never_seen_serves() {
    let app = spawn_app().await;
    // Expired sessions are purged at start: wait for that write to finish.
    let report = presence_until(&app.database_url, |report| report.writes_in_flight == 0).await;
    assert_eq!((report.database.as_str(), report.state_seen.as_str()), ("primary", "serving"));
    assert_eq!((report.writes_in_flight, report.writes_held, report.problem), (0, 0, None));
    let record = control::read(&mut operator(&app.database_url).await).await.unwrap().unwrap();
    assert_eq!((record.state, record.name), (State::Serving, None));
}

#[tokio::test]
async fn fenced_writes_wait_and_proceed_when_the_database_serves_again() {
    let app = spawn_app().await;
    app.train("owner", TWEETS).await;
    set_state(&app.database_url, State::Fenced, "primary").await;
    presence_until(&app.database_url, |report| report.state_seen == "fenced").await;

    let held = tokio::spawn({
        let (client, address) = (app.client.clone(), app.address.clone());
        async move {
            let started = Instant::now();
            let response = client
                .post(format!("{address}/api/generate_tweet"))
                .header(header::ACCEPT, "application/json")
                .form(&[("screen_name", "owner")])
                .send()
                .await
                .unwrap();
            (response.status(), started.elapsed())
        }
    });
    let report = presence_until(&app.database_url, |report| report.writes_held == 1).await;
    assert_eq!(report.writes_in_flight, 0, "held writes are not in flight: the fence need not wait for them");
    assert_eq!(app.get("/@owner").await.status(), StatusCode::OK, "reads go on");
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 0);

    tokio::time::sleep(Duration::from_millis(300)).await;
    set_state(&app.database_url, State::Serving, "primary").await;
    let (status, waited) = held.await.unwrap();
    assert_eq!(status, StatusCode::OK, "the held write went through, not refused");
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 1);
}

#[tokio::test]
async fn a_write_held_past_the_bound_is_answered_503_with_retry_after() {
    let app = spawn_app_with(|settings| settings.control.hold_writes_ms = 200).await;
    app.train("owner", TWEETS).await;
    set_state(&app.database_url, State::Fenced, "primary").await;
    presence_until(&app.database_url, |report| report.state_seen == "fenced").await;
    let started = Instant::now();
    let response = app.generate_as(&app.client, "owner").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    assert_eq!(response.json::<Value>().await.unwrap(), json!("ReadOnly"));
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 0);
}

#[tokio::test]
async fn a_replica_serves_reads_and_refuses_writes() {
    let app = spawn_app().await;
    app.train("owner", TWEETS).await;
    set_state(&app.database_url, State::Replica, "rds").await;
    presence_until(&app.database_url, |report| report.state_seen == "replica").await;
    assert_eq!(app.get("/@owner").await.status(), StatusCode::OK);
    let refused = app.generate_as(&app.client, "owner").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.json::<Value>().await.unwrap(), json!("NotOpenYet"));
    assert_eq!(app.train("owner", TWEETS).await.status(), StatusCode::FOUND, "a no-JS form goes back to its page");
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 0);
    assert_eq!(app.model_version("owner").await, Some(1));
}

#[tokio::test]
async fn moved_takes_the_server_and_its_held_writes_to_the_named_database() {
    let app = spawn_app_with(|settings| settings.database.name = "vps".into()).await;
    app.train("owner", TWEETS).await;
    let (rds_url, rds) = other_database(&app, "rds").await;
    // The same user on the new database, as a migration would have put it.
    let instance = app
        .another_instance_with(|settings| {
            settings.database.name = "vps".into();
            settings.database.others.insert("rds".into(), rds_url.clone());
        })
        .await;
    copy_user(&app, &rds, "owner").await;

    set_state(&app.database_url, State::Fenced, "vps").await;
    // The second server (the one that knows rds) must have seen the fence, or the
    // write goes through to vps before it.
    presence_until(&app.database_url, |report| report.state_seen == "fenced" && report.knows == ["rds"]).await;
    let held = tokio::spawn(async move {
        let response = instance.generate("owner").await;
        (response.status(), instance)
    });
    presence_until(&app.database_url, |report| report.writes_held == 1 && report.knows == ["rds"]).await;
    set_state(&app.database_url, State::Moved { to: "rds".into() }, "vps").await;
    let (status, instance) = held.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let on_rds: i64 = sqlx::query_scalar("SELECT count(*) FROM generations").fetch_one(&rds).await.unwrap();
    assert_eq!(on_rds, 1, "the held write went to the new database");
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 0, "and nothing to the old one");
    let report = presence_until(&rds_url, |report| report.database == "rds").await;
    assert_eq!((report.state_seen.as_str(), report.knows.as_slice()), ("serving", &["vps".to_string()][..]));
    assert_eq!(instance.generate("owner").await.status(), StatusCode::OK);
    // The first server knows no database called rds: it reports that, and is not ready.
    let stuck = presence_until(&app.database_url, |report| report.problem.is_some()).await;
    assert!(stuck.problem.unwrap().contains("cannot move to rds"), "the other server explains itself");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
}

async fn copy_user(app: &TestApp, to: &sqlx::PgPool, screen_name: &str) {
    let (id, data, sentences): (i64, Vec<u8>, i32) = sqlx::query_as(
        "SELECT u.id, m.data, m.sentences FROM users u JOIN models m ON m.user_id = u.id WHERE u.screen_name = $1",
    )
    .bind(screen_name)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO users (id, screen_name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(screen_name)
        .execute(to)
        .await
        .unwrap();
    sqlx::query("INSERT INTO models (user_id, data, sentences) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(data)
        .bind(sentences)
        .execute(to)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_server_starting_on_a_moved_database_follows_it_before_serving() {
    let app = spawn_app_with(|settings| settings.database.name = "vps".into()).await;
    app.train("owner", TWEETS).await;
    let (rds_url, rds) = other_database(&app, "rds").await;
    copy_user(&app, &rds, "owner").await;
    set_state(&app.database_url, State::Moved { to: "rds".into() }, "vps").await;
    let restarted = app
        .another_instance_with(|settings| {
            settings.database.name = "vps".into();
            settings.database.others.insert("rds".into(), rds_url.clone());
        })
        .await;
    assert_eq!(restarted.generate("owner").await.status(), StatusCode::OK);
    let on_rds: i64 = sqlx::query_scalar("SELECT count(*) FROM generations").fetch_one(&rds).await.unwrap();
    assert_eq!((on_rds, count(&app, "SELECT count(*) FROM generations").await), (1, 0));
}

#[tokio::test]
async fn a_name_that_leads_to_another_database_is_not_followed() {
    let app = spawn_app_with(|settings| settings.control.hold_writes_ms = 300).await;
    app.train("owner", TWEETS).await;
    let (elsewhere_url, _) = other_database(&app, "elsewhere").await;
    let instance = app
        .another_instance_with(|settings| {
            settings.control.hold_writes_ms = 300;
            settings.database.others.insert("rds".into(), elsewhere_url.clone());
        })
        .await;
    set_state(&app.database_url, State::Moved { to: "rds".into() }, "primary").await;
    let report = presence_until(&app.database_url, |report| {
        report.problem.as_deref().is_some_and(|problem| problem.contains("leads to another database"))
    })
    .await;
    assert_eq!(report.database, "primary", "it stayed where it was");
    let refused = instance.generate("owner").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "held, then answered: never written elsewhere");
}

#[tokio::test]
async fn a_database_that_refuses_a_write_gets_503_never_500() {
    let app = spawn_app_with(|settings| settings.control.hold_writes_ms = 300).await;
    app.train("fenced", TWEETS).await;
    // The database fenced without its record saying so: the database is the authority.
    app.cluster
        .psql(
            "postgres",
            "ALTER DATABASE tweetgen SET default_transaction_read_only = on;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = 'tweetgen' AND application_name = 'tweetgen-writes';",
        )
        .unwrap();
    for _ in 0..3 {
        let response = app.generate_as(&app.client, "fenced").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 0);
}

#[tokio::test]
async fn a_write_whose_session_is_ended_mid_way_is_answered_503_and_not_kept() {
    let app = spawn_app().await;
    app.train("owner", TWEETS).await;
    // Hold the model's row so that the next training waits inside the database.
    let mut blocker = operator(&app.database_url).await;
    let mut transaction = blocker.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM models FOR UPDATE").execute(&mut *transaction).await.unwrap();
    let retrain = tokio::spawn({
        let browser = app.as_user("owner").await;
        let address = app.address.clone();
        async move {
            browser
                .post(format!("{address}/api/train_model"))
                .header(header::ACCEPT, "application/json")
                .form(&[("tweets", "an entirely new voice that nobody heard before\nand a second line of it")])
                .send()
                .await
                .unwrap()
        }
    });
    let waiting = async {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tweetgen-writes' AND wait_event_type = 'Lock'",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("the training waits for the row");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tweetgen-writes'")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = retrain.await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    transaction.rollback().await.unwrap();
    assert_eq!(app.model_version("owner").await, Some(1), "the ended write left the old model");
}

#[tokio::test]
async fn a_slow_request_does_not_hold_up_the_fence() {
    let app = spawn_app().await;
    app.train("owner", TWEETS).await;
    // A generation whose body trickles in: headers, and a few bytes of 100.
    let address = app.address.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    write!(
        slow,
        "POST /api/generate_tweet HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nscreen_na"
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    set_state(&app.database_url, State::Fenced, "primary").await;
    let report = presence_until(&app.database_url, |report| report.state_seen == "fenced").await;
    assert_eq!(report.writes_in_flight, 0, "nothing to wait for: the request has not reached its write");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    drop(slow);
}

/// Every server function, called as the app calls it; each must succeed. One
/// that writes without declaring it (`#[middleware(Writes)]`) fails here: it gets
/// no writable session. A new server function without a call here fails too.
#[tokio::test]
async fn every_endpoint_that_writes_declares_it() {
    let app = spawn_app().await;
    app.train("other", TWEETS).await;
    let owner = app.as_user("owner").await;
    let calls: &[(&str, &[(&str, &str)])] = &[
        ("/api/train_model", &[("tweets", TWEETS)]),
        ("/api/list_trained_users", &[]),
        ("/api/get_profile", &[("screen_name", "owner")]),
        ("/api/current_viewer", &[]),
        ("/api/ranking", &[]),
        ("/api/generate_tweet", &[("screen_name", "owner")]),
        ("/api/get_generation", &[("screen_name", "owner"), ("id", "1")]),
        ("/api/generate_mix", &[("voices", "owner, other:2")]),
        ("/api/get_mix", &[("mix", "other:2,owner")]),
        ("/api/get_mix_generation", &[("mix", "other:2,owner"), ("id", "2")]),
        ("/api/delete_my_data", &[("confirm", "yes")]),
    ];
    let multipart = ["/api/upload_archive"];
    let mut registered: Vec<&str> = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
    registered.sort();
    let mut covered: Vec<&str> = calls.iter().map(|(path, _)| *path).chain(multipart).collect();
    covered.sort();
    assert_eq!(registered, covered, "every server function has a call in this test");

    for (path, fields) in calls {
        let response = owner
            .post(format!("{}{path}", app.address))
            .header(header::ACCEPT, "application/json")
            .header(header::ORIGIN, &app.address)
            .form(fields)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {} {:?}", response.status(), response.text().await);
    }
    let uploader = app.as_user("uploader").await;
    let uploaded = crate::archive_upload::upload(&app, &uploader, "archive.zip", "application/json").await;
    assert!(uploaded.status().is_success(), "{:?}", uploaded.text().await);
    // Signing out (and in, above) write too; so does every call above that should.
    let elsewhere = app.sign_in("everywhere", false).await;
    let other = app.as_user("other").await;
    for (browser, path) in
        [(&elsewhere, "/auth/logout-everywhere"), (&uploader, "/auth/logout"), (&other, "/auth/logout")]
    {
        let signed_out =
            browser.post(format!("{}{path}", app.address)).header(header::ORIGIN, &app.address).send().await.unwrap();
        assert_eq!(signed_out.status(), StatusCode::SEE_OTHER, "{path}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM models").await,
        2,
        "other's and the uploader's; the owner deleted theirs"
    );
}

/// A server stopped as systemd or an autoscaling group stops it (SIGTERM)
/// leaves the presence table, so that a fence does not wait for it.
#[tokio::test]
async fn a_stopped_server_leaves_the_presence_table() {
    let cluster = tweetgen_pgharness::PgCluster::start().unwrap();
    let url = cluster.create_database("tweetgen").unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_tweetgen-server"))
        .env("DATABASE_URL", &url)
        .env("TWEETGEN__SERVER__PORT", "0")
        .env_remove("TWEETGEN_DICTIONARY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    presence_until(&url, |report| report.state_seen == "serving").await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status}");
    let present = control::present(&mut operator(&url).await, 60.0).await.unwrap();
    assert!(present.is_empty(), "{present:?}");
}
