use reqwest::header;

use crate::helpers::{location, spawn_app, spawn_app_with};

const TWEETS: &str = "今日は良い天気ですね。\n今日は雨が降っています。\n明日は良い天気になるでしょう。\nRT @other: not mine\nI like the rain https://t.co/abc\n";

#[tokio::test]
async fn learn_then_generate_without_javascript() {
    let app = spawn_app().await;

    let trained = app.train("alice", TWEETS).await;
    assert_eq!(trained.status(), 302);
    assert_eq!(location(&trained), "/@alice");
    let (sentences,): (i32,) = sqlx::query_as("SELECT sentences FROM models").fetch_one(&app.pool).await.unwrap();
    assert_eq!(sentences, 4, "the retweet is skipped, the link line keeps its words");

    let page = app.get("/@alice").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("@alice") && html.contains("Learned 4 sentences"), "{html}");

    let generated = app.post_form("/api/generate_tweet", &[("screen_name", "alice")], "/@alice").await;
    assert_eq!(generated.status(), 302);
    let permalink = location(&generated).to_string();
    let id: i64 = permalink.strip_prefix("/@alice?tweet=").expect(&permalink).parse().unwrap();
    let (text,): (String,) =
        sqlx::query_as("SELECT text FROM generations WHERE id = $1").bind(id).fetch_one(&app.pool).await.unwrap();
    assert!(!text.is_empty());
    assert!(!text.contains("http") && !text.contains("not mine"), "{text}");

    let shown = app.get(&permalink).await.text().await.unwrap();
    assert!(shown.contains(&text), "the permalink shows the tweet: {shown}");
}

#[tokio::test]
async fn the_hydrated_client_gets_json_and_no_redirect() {
    let app = spawn_app().await;
    app.train("bob", TWEETS).await;
    let response = app
        .client
        .post(format!("{}/api/generate_tweet", app.address))
        .header(header::ACCEPT, "application/json")
        .form(&[("screen_name", "BOB")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(header::LOCATION).is_none());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["voice"], serde_json::json!({"One": "bob"}), "screen names match case-insensitively");
    assert!(body["text"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
}

#[tokio::test]
async fn the_hydrated_client_gets_error_statuses_that_say_whose_fault_it_is() {
    let app = spawn_app().await;
    let call = |path: &'static str, fields: &'static [(&'static str, &'static str)]| {
        app.client.post(format!("{}{path}", app.address)).header(header::ACCEPT, "application/json").form(fields).send()
    };
    let signed_out = call("/api/train_model", &[("tweets", "hello")]).await.unwrap();
    assert_eq!(signed_out.status(), 401);
    assert_eq!(signed_out.json::<serde_json::Value>().await.unwrap(), serde_json::json!("SignInRequired"));
    let unknown = call("/api/generate_tweet", &[("screen_name", "ghost")]).await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn learning_without_signing_in_is_explained_and_nothing_is_stored() {
    let app = spawn_app().await;
    let response = app.post_form("/api/train_model", &[("tweets", TWEETS)], "/").await;
    assert_eq!(response.status(), 302);
    assert!(location(&response).contains("__err="), "back to the form with the error: {:?}", response.headers());
    let home = app.follow(&response).await;
    assert!(home.contains("Sign in with X to teach tweetgen your tweets."), "{home}");
    let (users,): (i64,) = sqlx::query_as("SELECT count(*) FROM users").fetch_one(&app.pool).await.unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn a_failed_retrain_keeps_the_previous_model() {
    let app = spawn_app().await;
    app.train("carol", TWEETS).await;
    let carol = app.as_user("carol").await;
    let before: Vec<u8> = sqlx::query_scalar("SELECT data FROM models").fetch_one(&app.pool).await.unwrap();

    for (tweets, message) in [
        ("RT @x: only a retweet\nhttps://t.co/only-a-link", "No tweets were left to learn from"),
        ("   \n  ", "Paste at least one tweet"),
    ] {
        let response = app.train("carol", tweets).await;
        let page = app.follow_as(&carol, &response).await;
        assert!(page.contains(message), "{page}");
    }
    let oversized = "長い文章です。\n".repeat(96_000);
    let response = app.train("carol", &oversized).await;
    let page = app.follow_as(&carol, &response).await;
    assert!(page.contains("That is too much text to paste"), "{page}");

    let after: Vec<u8> = sqlx::query_scalar("SELECT data FROM models").fetch_one(&app.pool).await.unwrap();
    assert_eq!(before, after);
    assert_eq!(app.model_version("carol").await, Some(1));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let app = spawn_app_with(|settings| settings.server.max_body_bytes = 64 * 1024).await;
    let response = app.train("dave", &"x".repeat(100 * 1024)).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.model_version("dave").await, None);
}

#[tokio::test]
async fn retraining_replaces_the_model_under_any_capitalisation() {
    let app = spawn_app().await;
    app.train("Erin", TWEETS).await;
    let response = app.train("erin", "新しい文章だけを学ぶ。\n").await;
    assert_eq!(location(&response), "/@erin");
    let (users,): (i64,) = sqlx::query_as("SELECT count(*) FROM users").fetch_one(&app.pool).await.unwrap();
    assert_eq!(users, 1);
    assert_eq!(app.model_version("erin").await, Some(2));
    let generated = app.post_form("/api/generate_tweet", &[("screen_name", "ERIN")], "/@ERIN").await;
    let permalink = location(&generated).to_string();
    let page = app.get(&permalink).await.text().await.unwrap();
    assert!(page.contains("新しい文章だけを学ぶ。"), "only the new text remains: {page}");
}

#[tokio::test]
async fn unknown_users_and_pages_are_404() {
    let app = spawn_app().await;
    let unknown = app.get("/@nobody_here").await;
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("Unknown user"));
    assert_eq!(app.get("/no-at-sign").await.status(), 404);
    assert_eq!(app.get("/@bad-name!").await.status(), 404);
}

#[tokio::test]
async fn generating_for_an_unknown_user_is_a_clear_error() {
    let app = spawn_app().await;
    let response = app.post_form("/api/generate_tweet", &[("screen_name", "ghost")], "/@ghost").await;
    assert!(location(&response).contains("__err="), "{:?}", response.headers());
    assert!(app.follow(&response).await.contains("Unknown user"));
    let (generations,): (i64,) = sqlx::query_as("SELECT count(*) FROM generations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(generations, 0);
}

#[tokio::test]
async fn demo_users_are_seeded_once() {
    let app = spawn_app_with(|settings| settings.seed_demo_users = true).await;
    tweetgen_server::seed::seed_demo_users(&app.state).await.unwrap();
    let (users, versions): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(version)::bigint FROM models").fetch_one(&app.pool).await.unwrap();
    assert_eq!((users, versions), (3, 3), "seeding twice trains each demo user once");

    // A model in a format this build cannot read (an older version) is retrained.
    sqlx::query("UPDATE models SET data = '\\x54474d01'::bytea WHERE user_id = (SELECT min(user_id) FROM models)")
        .execute(&app.pool)
        .await
        .unwrap();
    tweetgen_server::seed::seed_demo_users(&app.state).await.unwrap();
    let (versions,): (i64,) =
        sqlx::query_as("SELECT sum(version)::bigint FROM models").fetch_one(&app.pool).await.unwrap();
    assert_eq!(versions, 4, "only the unreadable model is retrained");
    let home = app.get("/").await.text().await.unwrap();
    for (screen_name, _) in tweetgen_server::seed::DEMO_USERS {
        assert!(home.contains(&format!("href=\"/@{screen_name}\"")), "{screen_name} listed");
    }
}

#[tokio::test]
async fn a_retrain_through_one_instance_is_seen_by_another() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    app.train("dana", "cats sleep all day\ncats purr at night").await;
    assert!(other.generated_text("dana").await.starts_with("cats"));
    assert!(app.generated_text("dana").await.starts_with("cats"));
    // Both instances now hold the model in memory; retrain through one of them.
    app.train("dana", "dogs bark at the mailman\ndogs run in the park").await;
    for _ in 0..5 {
        assert!(other.generated_text("dana").await.starts_with("dogs"), "the other instance served a stale model");
        assert!(app.generated_text("dana").await.starts_with("dogs"));
    }
}

#[tokio::test]
async fn generation_options_are_applied_and_bad_ones_explained() {
    let app = spawn_app().await;
    let tweets = "the cat sat on the mat today\nthe dog sat on the log yesterday\na cat ran after the dog all day long";
    app.train("erin", tweets).await;
    let generate = |fields: &'static [(&'static str, &'static str)]| {
        app.client
            .post(format!("{}/api/generate_tweet", app.address))
            .header(header::ACCEPT, "application/json")
            .form(fields)
            .send()
    };
    for _ in 0..10 {
        let response = generate(&[("screen_name", "erin"), ("max_chars", "20"), ("start", "")]).await.unwrap();
        let text = response.json::<serde_json::Value>().await.unwrap()["text"].as_str().unwrap().to_string();
        assert!(text.chars().count() <= 20, "{text}");
        let response = generate(&[("screen_name", "erin"), ("start", "dog")]).await.unwrap();
        let text = response.json::<serde_json::Value>().await.unwrap()["text"].as_str().unwrap().to_string();
        assert!(text.starts_with("dog "), "{text}");
    }
    let unknown = generate(&[("screen_name", "erin"), ("start", "zebra")]).await.unwrap();
    assert_eq!(unknown.status(), 422);
    assert!(unknown.text().await.unwrap().contains("zebra"));
    let bad_length = generate(&[("screen_name", "erin"), ("max_chars", "1000")]).await.unwrap();
    assert_eq!(bad_length.status(), 422);
    let too_long_start =
        generate(&[("screen_name", "erin"), ("max_chars", "10"), ("start", "a cat ran after the dog")]);
    assert_eq!(too_long_start.await.unwrap().status(), 422);
    // The page's field holds 50 characters; a request that sends more is refused
    // before any work (the start scan grows with the words).
    let refused = app
        .client
        .post(format!("{}/api/generate_tweet", app.address))
        .header(header::ACCEPT, "application/json")
        .form(&[("screen_name", "erin".to_string()), ("start", "cat ".repeat(1_000))])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let message = refused.text().await.unwrap();
    assert_eq!(message, r#"{"StartTooLong":{"max":50}}"#, "the hydrated app words it in either language");
}
