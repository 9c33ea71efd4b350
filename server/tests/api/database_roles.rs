//! The servers sign in as their own role (every other test here runs them so):
//! it changes rows of the app's tables and its presence row, and nothing else;
//! `tweetgen-server migrate` makes it, as the owner, again and again.

use reqwest::Url;
use sqlx::{Connection, PgConnection};
use tweetgen_control::State;
use tweetgen_server::configuration::Settings;
use tweetgen_server::migrate::{self, AppRole};

use crate::helpers::{spawn_app, APP_ROLE};

fn with_password(url: &str, password: &str) -> String {
    let mut url = Url::parse(url).unwrap();
    url.set_password(Some(password)).unwrap();
    url.to_string()
}

/// The SQLSTATE of a statement that must fail.
async fn refused(connection: &mut PgConnection, sql: &str) -> String {
    match sqlx::raw_sql(sql).execute(&mut *connection).await {
        Ok(_) => panic!("the app role may run {sql}"),
        Err(sqlx::Error::Database(error)) => error.code().unwrap().into_owned(),
        Err(error) => panic!("{sql}: {error}"),
    }
}

#[tokio::test]
async fn the_app_role_changes_rows_and_nothing_else() {
    let app = spawn_app().await;
    let mut servers = PgConnection::connect(&app.app_url).await.expect("the app role signs in with its password");
    let wrong = PgConnection::connect(&with_password(&app.app_url, "not-the-password-at-all")).await;
    assert!(wrong.is_err(), "the password is checked");

    sqlx::raw_sql(
        "INSERT INTO users (screen_name) VALUES ('rows');
         UPDATE users SET protected = true WHERE screen_name = 'rows';
         DELETE FROM users WHERE screen_name = 'rows';",
    )
    .execute(&mut servers)
    .await
    .expect("rows of the app's tables");
    for sql in [
        "DROP TABLE generations",
        "CREATE TABLE extra (id int)",
        "ALTER TABLE users ADD COLUMN extra int",
        "TRUNCATE users CASCADE",
        "ALTER DATABASE tweetgen SET default_transaction_read_only = off",
        "UPDATE tweetgen_control.record SET state = 'serving'",
        "DELETE FROM _sqlx_migrations",
        "CREATE ROLE another LOGIN",
    ] {
        assert_eq!(refused(&mut servers, sql).await, "42501", "{sql}");
    }
}

#[tokio::test]
async fn preparing_again_changes_the_password_and_tables_made_later_are_usable() {
    let app = spawn_app().await;
    let mut settings = Settings::default();
    settings.database.url = app.database_url.clone();
    let rotated = "a-new-password-for-the-app-role";
    let prepared =
        migrate::prepare(&settings.database, &settings.control, Some(&AppRole::new(APP_ROLE, rotated).unwrap()))
            .await
            .unwrap();
    assert_eq!((prepared.state, prepared.migrations_applied), (State::Serving, 0));
    assert!(PgConnection::connect(&app.app_url).await.is_err(), "the old password no longer signs in");
    let mut servers = PgConnection::connect(&with_password(&app.app_url, rotated)).await.unwrap();

    // As the migration tool creates the schema on a target whose servers are up.
    sqlx::raw_sql("CREATE TABLE later (id bigserial PRIMARY KEY, note text)").execute(&app.pool).await.unwrap();
    sqlx::raw_sql("INSERT INTO later (note) VALUES ('written by the servers')")
        .execute(&mut servers)
        .await
        .expect("a table the owner creates after the grants");
}

#[tokio::test]
async fn a_replica_is_not_migrated_and_the_owner_is_not_a_role_for_the_servers() {
    let app = spawn_app().await;
    let url = app.cluster.create_database("replica").unwrap();
    let mut settings = Settings::default();
    settings.database.url = url.clone();
    settings.control.initial_state = "replica".into();
    let role = AppRole::new(APP_ROLE, "a-password-long-enough").unwrap();
    let prepared = migrate::prepare(&settings.database, &settings.control, Some(&role)).await.unwrap();
    assert_eq!((prepared.state, prepared.migrations_applied), (State::Replica, 0));
    let owner_view = app.cluster.psql("replica", "SELECT to_regclass('_sqlx_migrations') IS NULL").unwrap();
    assert_eq!(owner_view.trim(), "t", "a replica's schema comes from the migration");

    let owner = Url::parse(&url).unwrap().username().to_string();
    let error = migrate::prepare(
        &settings.database,
        &settings.control,
        Some(&AppRole::new(&owner, "a-password-long-enough").unwrap()),
    )
    .await
    .unwrap_err();
    assert!(format!("{error:#}").contains("must not be the owner"), "{error:#}");
    for (name, password) in
        [("tweetgen_app", "short"), ("tweetgen_app", "has spaces in it, so no"), ("pg_app", "a-password-long-enough")]
    {
        assert!(AppRole::new(name, password).is_err(), "{name} {password}");
    }
}
