//! Learning from an X archive upload: real-format files written by
//! `end2end/fixtures/make_archives.py` (the browser tests use the same ones).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use reqwest::{header, multipart, Client, Response};

use crate::helpers::{location, spawn_app, spawn_app_with, TestApp, BROWSER_ACCEPT};

/// The fixtures, written once per test run into a temporary directory.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tweetgen-archive-fixtures-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end/fixtures/make_archives.py");
        let status = std::process::Command::new("python3").arg(script).arg(&dir).status().expect("running python3");
        assert!(status.success(), "make_archives.py failed");
        dir
    })
}

fn expected(file: &str) -> serde_json::Value {
    let all: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    all[file].clone()
}

/// Posts the file as the upload form does; `accept` tells a hydrated form
/// (JSON) from a browser without JavaScript (HTML).
pub async fn upload(app: &TestApp, browser: &Client, file: &str, accept: &str) -> Response {
    let bytes = std::fs::read(fixtures().join(file)).unwrap();
    let form = multipart::Form::new().part("archive", multipart::Part::bytes(bytes).file_name(file.to_string()));
    browser
        .post(format!("{}/api/upload_archive", app.address))
        .header(header::ACCEPT, accept)
        .header(header::REFERER, format!("{}/", app.address))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn model_bytes(app: &TestApp) -> Vec<u8> {
    sqlx::query_scalar("SELECT data FROM models").fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn a_zip_archive_teaches_the_owners_own_tweets() {
    let app = spawn_app().await;
    let browser = app.as_user("uploader").await;
    let response = upload(&app, &browser, "archive.zip", "application/json").await;
    assert_eq!(response.status(), 200);
    let learned: serde_json::Value = response.json().await.unwrap();
    let fixture = expected("archive.zip");
    assert_eq!(learned["tweets"], fixture["tweets"], "both parts are read");
    assert_eq!(learned["screen_name"], "uploader");
    assert_eq!(learned["truncated"], false);
    let own = fixture["tweets"].as_i64().unwrap()
        - fixture["replies"].as_i64().unwrap()
        - fixture["retweets"].as_i64().unwrap();
    let sentences = learned["sentences"].as_i64().unwrap();
    assert!(sentences >= own * 9 / 10 && sentences <= own * 3, "{sentences} sentences from {own} own tweets");

    let text = app.generated_text("uploader").await;
    assert!(!text.starts_with("RT @") && !text.starts_with('@'), "{text}");
}

#[tokio::test]
async fn tweets_js_alone_works_without_javascript() {
    let app = spawn_app().await;
    let browser = app.as_user("plain_form").await;
    let response = upload(&app, &browser, "tweets.js", BROWSER_ACCEPT).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/@plain_form");
    let page = app.follow_as(&browser, &response).await;
    assert!(page.contains("Learned"), "{page}");
}

#[tokio::test]
async fn bad_uploads_get_clear_errors_and_the_old_model_stays() {
    let app = spawn_app().await;
    let browser = app.as_user("careful").await;
    assert_eq!(upload(&app, &browser, "archive.zip", "application/json").await.status(), 200);
    let before = model_bytes(&app).await;

    let broken = expected("broken.js");
    let invalid = expected("invalid-utf8.js");
    let cases = [
        ("broken.js", 422, format!("is damaged at line {}, column {}", broken["line"], broken["column"])),
        (
            "invalid-utf8.js",
            422,
            format!("not valid UTF-8 text at line {}, column {}", invalid["line"], invalid["column"]),
        ),
        ("bomb.zip", 422, "unpack to more than 256 MB".to_string()),
        ("too-large.js", 413, "larger than 32 MB".to_string()),
    ];
    for (file, status, message) in cases {
        let response = upload(&app, &browser, file, "application/json").await;
        assert_eq!(response.status(), status, "{file}");
        let error: tweetgen_app::error::AppError = response.json().await.unwrap();
        assert!(error.to_string().contains(&message), "{file}: {error}");
    }
    assert_eq!(model_bytes(&app).await, before, "every failure left the model alone");
    assert_eq!(app.model_version("careful").await, Some(1));

    // Without JavaScript the error comes back to the form, in the page.
    let response = upload(&app, &browser, "broken.js", BROWSER_ACCEPT).await;
    assert!(location(&response).contains("__err="), "{:?}", response.headers());
    let page = app.follow_as(&browser, &response).await;
    assert!(page.contains(&format!("broken.js is damaged at line {}", broken["line"])), "{page}");
    // A file over the limit is refused before it is read, with a page that says why.
    let response = upload(&app, &browser, "too-large.js", BROWSER_ACCEPT).await;
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("larger than 32 MB"));
}

#[tokio::test]
async fn uploads_need_a_signed_in_user_and_respect_the_retrain_limit() {
    let app = spawn_app_with(|settings| settings.learning.retrain_interval_secs = 60 * 60).await;
    let anonymous = upload(&app, &app.client, "archive.zip", "application/json").await;
    assert_eq!(anonymous.status(), 401);
    let browser = app.as_user("eager").await;
    assert_eq!(upload(&app, &browser, "archive.zip", "application/json").await.status(), 200);
    let again = upload(&app, &browser, "tweets.js", "application/json").await;
    assert_eq!(again.status(), 429);
    assert_eq!(app.model_version("eager").await, Some(1));
}

#[tokio::test]
async fn the_upload_limit_and_tweet_count_are_configurable() {
    let app = spawn_app_with(|settings| {
        settings.learning.max_upload_bytes = 100 * 1024;
        settings.learning.max_tweets = 120;
    })
    .await;
    let browser = app.as_user("limited").await;
    let too_big = upload(&app, &browser, "tweets.js", "application/json").await;
    assert_eq!(too_big.status(), 413, "168 KB over a 100 KiB limit");
    let response = upload(&app, &browser, "archive.zip", "application/json").await;
    let learned: serde_json::Value = response.json().await.unwrap();
    assert_eq!((learned["tweets"].as_i64(), learned["truncated"].as_bool()), (Some(120), Some(true)));
}
