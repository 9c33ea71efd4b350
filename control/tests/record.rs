//! The control record and presence table on a real PostgreSQL server.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection};
use tweetgen_control::{self as control, Report, State};
use tweetgen_pgharness::PgCluster;

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

fn report(instance: &str, in_flight: i32) -> Report {
    Report {
        instance_id: instance.into(),
        host: "host-a".into(),
        database: "vps".into(),
        knows: vec!["rds".into()],
        state_seen: "serving".into(),
        generation_seen: 1,
        writes_in_flight: in_flight,
        writes_held: 0,
        problem: None,
    }
}

#[tokio::test]
async fn servers_starting_at_once_create_one_schema_and_one_record() {
    let cluster = PgCluster::start().unwrap();
    let url = cluster.create_database("app").unwrap();
    let starts = (0..8).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let mut connection = connect(&url).await;
            control::ensure_schema(&mut connection).await.unwrap();
            control::read_or_initialize(&mut connection, &State::Replica, "server").await.unwrap()
        })
    });
    for started in futures_join(starts).await {
        assert_eq!(started.state, State::Replica);
        assert_eq!(started.generation, 1);
    }
    // A later server with another initial state finds the record as it is.
    let mut connection = connect(&url).await;
    let record = control::read_or_initialize(&mut connection, &State::Serving, "server").await.unwrap();
    assert_eq!((record.state, record.name), (State::Replica, None));
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test]
async fn a_change_is_notified_and_makes_the_database_agree() {
    let cluster = PgCluster::start().unwrap();
    let url = cluster.create_database("app").unwrap();
    let mut tool = connect(&url).await;
    control::ensure_schema(&mut tool).await.unwrap();
    sqlx::query("CREATE TABLE t (id int)").execute(&mut tool).await.unwrap();
    let mut listener = PgListener::connect(&url).await.unwrap();
    listener.listen(control::CHANNEL).await.unwrap();

    let fenced = control::set(&mut tool, &State::Fenced, Some("vps"), "test").await.unwrap();
    assert_eq!((fenced.state.clone(), fenced.name.as_deref(), fenced.generation), (State::Fenced, Some("vps"), 1));
    let notified = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
    assert_eq!(notified.payload(), "1");
    // New sessions are read-only; the control session that set it is not affected.
    let mut late = connect(&url).await;
    let refused = sqlx::query("INSERT INTO t VALUES (1)").execute(&mut late).await.unwrap_err();
    assert!(refused.to_string().contains("read-only"), "{refused}");

    let moved = control::set(&mut tool, &State::Moved { to: "rds".into() }, Some("vps"), "test").await.unwrap();
    assert_eq!((moved.state, moved.generation), (State::Moved { to: "rds".into() }, 2));
    let serving = control::set(&mut tool, &State::Serving, Some("vps"), "test").await.unwrap();
    assert_eq!(serving.generation, 3);
    let mut fresh = connect(&url).await;
    sqlx::query("INSERT INTO t VALUES (1)").execute(&mut fresh).await.expect("writable again for new sessions");
    assert_eq!(control::read(&mut fresh).await.unwrap().unwrap().state, State::Serving);
}

#[tokio::test]
async fn presence_lists_who_reported_lately() {
    let cluster = PgCluster::start().unwrap();
    let url = cluster.create_database("app").unwrap();
    let mut connection = connect(&url).await;
    control::ensure_schema(&mut connection).await.unwrap();
    control::announce(&mut connection, &report("a", 2)).await.unwrap();
    control::announce(&mut connection, &report("b", 0)).await.unwrap();
    control::announce(&mut connection, &report("a", 0)).await.unwrap();
    let present = control::present(&mut connection, 5.0).await.unwrap();
    assert_eq!(present.len(), 2);
    assert_eq!(present[0].report, report("a", 0), "the newest report of each instance");
    sqlx::query("UPDATE tweetgen_control.presence SET heartbeat_at = now() - interval '10 s' WHERE instance_id = 'b'")
        .execute(&mut connection)
        .await
        .unwrap();
    let present = control::present(&mut connection, 5.0).await.unwrap();
    assert_eq!(present.iter().map(|p| p.report.instance_id.as_str()).collect::<Vec<_>>(), ["a"]);
    control::leave(&mut connection, "a").await.unwrap();
    assert!(control::present(&mut connection, 5.0).await.unwrap().is_empty());
}

/// A server's control loop runs in a spawned task on a `PgListener`.
#[tokio::test]
async fn a_listener_is_a_session_too() {
    let cluster = PgCluster::start().unwrap();
    let url = cluster.create_database("app").unwrap();
    let task = tokio::spawn(async move {
        let mut listener = PgListener::connect(&url).await.unwrap();
        listener.listen(control::CHANNEL).await.unwrap();
        control::ensure_schema(&mut listener).await.unwrap();
        let record = control::read_or_initialize(&mut listener, &State::Serving, "server").await.unwrap();
        control::announce(&mut listener, &report("a", 0)).await.unwrap();
        let present = control::present(&mut listener, 5.0).await.unwrap();
        control::leave(&mut listener, "a").await.unwrap();
        (record.state, present.len())
    });
    assert_eq!(task.await.unwrap(), (State::Serving, 1));
}
