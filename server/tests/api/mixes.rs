//! Mixes of voices: one address per mix, generation from the blend, sharing,
//! protected members, and members that retrain or leave, seen by every instance.

use std::collections::BTreeSet;

use reqwest::{header, Client, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{all_at_once, call, location, spawn_app, spawn_app_with, TestApp, UNLIMITED};

/// Words only the cat person says, and only the dog person says; "the" joins them.
const CATS: &str = "the cat purred softly\nthe cat napped in sunshine\nmy cat chased the yarn";
const DOGS: &str = "the dog barked loudly\nthe dog fetched a stick\nour dog dug the garden";

async fn generate_mix(browser: &Client, address: &str, voices: &str) -> Response {
    call(browser, address, "/api/generate_mix", &[("voices", voices)]).await
}

/// The words of `draws` tweets from the mix.
async fn words_drawn(app: &TestApp, address: &str, voices: &str, draws: usize) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for _ in 0..draws {
        let response = generate_mix(&app.client, address, voices).await;
        assert_eq!(response.status(), StatusCode::OK);
        let tweet: Value = response.json().await.unwrap();
        words.extend(tweet["text"].as_str().unwrap().split_whitespace().map(str::to_string));
    }
    words
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

/// The `content` of `<meta property="{key}" content="…">` in a page.
fn meta(html: &str, key: &str) -> Option<String> {
    let at = html.find(&format!("property=\"{key}\""))?;
    let tag = &html[html[..at].rfind('<')?..at + html[at..].find('>')?];
    Some(tag.split("content=\"").nth(1)?.split('"').next()?.to_string())
}

#[tokio::test]
async fn a_mix_has_one_address_and_generates_shares_and_cards_from_every_member() {
    let app = spawn_app_with(|settings| settings.ranking.refresh_secs = 0).await;
    app.train("Alice", CATS).await;
    app.train("bob", DOGS).await;

    // Whatever the order, spelling or separators, one address, spelled as the users do.
    for typed in [
        "/mix?voices=bob%3A2%2C+alice",
        "/mix/bob:2,alice",
        "/mix/ALICE,bob:2",
        "/mix?voices=alice%E3%80%81bob%EF%BC%9A2",
    ] {
        let response = app.get(typed).await;
        assert!(response.status().is_redirection(), "{typed}: {}", response.status());
        assert_eq!(location(&response), "/mix/Alice,bob:2", "{typed}");
    }
    let one = app.get("/mix?voices=alice").await;
    assert_eq!(location(&one), "/@alice", "one voice is that voice's page (names match in any case)");

    let page = app.get("/mix/Alice,bob:2").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("@Alice + @bob ×2"), "{html}");
    assert_eq!(meta(&html, "og:url"), Some(format!("{}/mix/Alice,bob:2", app.address)));
    let image = meta(&html, "og:image").unwrap();
    assert_eq!(image, format!("{}/mix-card/Alice,bob:2.png", app.address));
    let card = app.client.get(&image).send().await.unwrap();
    assert_eq!((card.status(), card.headers()[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "image/png"));

    // Both voices speak in the mix (and only they do).
    let words = words_drawn(&app, &app.address, "bob:2,alice", 40).await;
    assert!(words.contains("cat") && words.contains("dog"), "{words:?}");
    let known: BTreeSet<&str> = CATS.split_whitespace().chain(DOGS.split_whitespace()).collect();
    assert!(words.iter().all(|word| known.contains(word.as_str())), "{words:?}");

    // Without JavaScript the answer is the mix tweet's permalink, with its own card.
    let generated = app.post_form("/api/generate_mix", &[("voices", "alice, bob:2")], "/mix/Alice,bob:2").await;
    let permalink = location(&generated).to_string();
    let id: i64 = permalink.strip_prefix("/mix/Alice,bob:2?tweet=").expect(&permalink).parse().unwrap();
    let (text, mix_id): (String, Option<i64>) = sqlx::query_as("SELECT text, mix_id FROM generations WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(mix_id.is_some());
    let shown = app.get(&permalink).await.text().await.unwrap();
    assert!(shown.contains(&text), "{shown}");
    assert_eq!(meta(&shown, "og:image"), Some(format!("{}/mix-card/Alice,bob:2/{id}.png", app.address)));
    let tweet_card = app.client.get(format!("{}/mix-card/Alice,bob:2/{id}.png", app.address)).send().await.unwrap();
    assert_eq!(tweet_card.status(), StatusCode::OK);
    // A mix's tweet is not one of its members' tweets, nor another mix's.
    assert_eq!(app.get(&format!("/@Alice?tweet={id}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/mix/Alice,bob?tweet={id}")).await.status(), StatusCode::NOT_FOUND);
    for elsewhere in [format!("/mix-card/Alice,bob/{id}.png"), "/mix-card/bob:2,Alice.png".into()] {
        let response = app.client.get(format!("{}{elsewhere}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{elsewhere}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM mixes").await, 1, "one mix, however typed");
    // A visitor's mix tweets count once in the ranking for each member.
    let visitor = app
        .client
        .post(format!("{}/api/generate_mix", app.address))
        .header(header::ACCEPT, "application/json")
        .header("x-forwarded-for", "203.0.113.9")
        .form(&[("voices", "alice,bob:2")]);
    assert_eq!(visitor.send().await.unwrap().status(), StatusCode::OK);
    let ranking = app.ranking().await;
    assert_eq!(
        ranking,
        serde_json::json!([{"screen_name": "Alice", "generations": 1}, {"screen_name": "bob", "generations": 1}])
    );
}

#[tokio::test]
async fn a_new_mix_wanted_by_many_at_once_is_blended_once() {
    let app = spawn_app().await;
    // Models large enough that building their blend takes a while (milliseconds).
    let lines = |seed: usize| -> String {
        let words = ["cat", "dog", "sun", "rain", "tea", "bread", "moon", "river", "stone", "song", "wind", "leaf"];
        let line = |i: usize| (0..8).map(|j| words[(i * 7 + j * (seed + i % 5)) % words.len()]).collect::<Vec<_>>();
        (0..4_000).map(|i| format!("{} {i}", line(i).join(" "))).collect::<Vec<_>>().join("\n")
    };
    app.train("cats", &lines(1)).await;
    app.train("dogs", &lines(2)).await;
    let wanted = (0..20).map(|_| {
        let (client, address) = (app.client.clone(), app.address.clone());
        async move { generate_mix(&client, &address, "cats,dogs:3").await.status() }
    });
    let statuses = all_at_once(wanted).await;
    assert!(statuses.iter().all(|status| *status == StatusCode::OK), "{statuses:?}");
    assert_eq!(app.state.blends.built(), 1);
    // A retrain is a new version: built again, once.
    app.train("dogs", "the dog slept all afternoon").await;
    assert_eq!(generate_mix(&app.client, &app.address, "cats,dogs:3").await.status(), StatusCode::OK);
    assert_eq!(app.state.blends.built(), 2);
}

#[tokio::test]
async fn bad_mixes_are_explained_and_nothing_is_generated() {
    let app = spawn_app().await;
    app.train("alice", CATS).await;
    app.train("bob", DOGS).await;
    let eleven: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
    let cases = [
        ("alice,Alice", StatusCode::UNPROCESSABLE_ENTITY, "@Alice is in the mix twice."),
        ("alice,bob:0", StatusCode::UNPROCESSABLE_ENTITY, "a whole number from 1 to 99"),
        ("alice,bob-b", StatusCode::UNPROCESSABLE_ENTITY, "“bob-b” is not a screen name"),
        (&eleven.join(","), StatusCode::UNPROCESSABLE_ENTITY, "at most 10 voices"),
        (",", StatusCode::UNPROCESSABLE_ENTITY, "Name the voices to mix"),
        ("alice,ghost", StatusCode::NOT_FOUND, "@ghost has not taught tweetgen anything yet."),
    ];
    for (voices, status, message) in cases {
        let response = generate_mix(&app.client, &app.address, voices).await;
        assert_eq!(response.status(), status, "{voices}");
        let error: Value = response.json().await.unwrap();
        let page = app.get(&format!("/mix?voices={}", voices.replace(',', "%2C"))).await;
        assert_eq!(page.status(), status, "the page of {voices}");
        let html = page.text().await.unwrap();
        assert!(html.contains(&message.replace('"', "&quot;")), "{voices}: {html} / {error}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM generations").await, 0);
}

#[tokio::test]
async fn protected_voices_join_only_mixes_their_owner_makes() {
    let app = spawn_app().await;
    app.train("open", CATS).await;
    let secret = app.sign_in("secret", true).await;
    app.post_form_as(&secret, "/api/train_model", &[("tweets", DOGS)], "/").await;
    let stranger = app.as_user("stranger").await;

    for browser in [&app.client, &stranger] {
        let refused = generate_mix(browser, &app.address, "open,secret").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.get_as(browser, "/mix/open,secret").await.status(), StatusCode::FORBIDDEN);
    }
    let own = generate_mix(&secret, &app.address, "open,secret").await;
    assert_eq!(own.status(), StatusCode::OK, "the owner mixes their own voice");
    let tweet: Value = own.json().await.unwrap();
    let permalink = format!("/mix/open,secret?tweet={}", tweet["id"]);
    assert_eq!(app.get_as(&secret, &permalink).await.status(), StatusCode::OK);
    assert_eq!(app.get(&permalink).await.status(), StatusCode::FORBIDDEN, "nor its permalink to others");
}

#[tokio::test]
async fn a_member_who_retrains_or_leaves_changes_the_mix_on_every_instance() {
    let app = spawn_app().await;
    app.train("cats", CATS).await;
    app.train("dogs", DOGS).await;
    let other = app.another_instance_with(|settings| settings.rate_limits = UNLIMITED).await;
    // The other instance has the blend cached.
    let before = words_drawn(&app, &other.address, "cats,dogs", 20).await;
    assert!(before.contains("cat") || before.contains("purred") || before.contains("yarn"), "{before:?}");

    // Retrained through this instance: the other's next tweets use the new model.
    app.train("cats", "the parrot squawked\nthe parrot sang a tune").await;
    let after = words_drawn(&app, &other.address, "cats,dogs", 40).await;
    assert!(after.contains("parrot"), "{after:?}");
    assert!(!after.iter().any(|word| ["cat", "purred", "yarn", "napped"].contains(&word.as_str())), "{after:?}");
    assert!(count(&app, "SELECT count(*) FROM generations WHERE mix_id IS NOT NULL").await > 0);

    // A member deletes their data: the mix and its tweets go with it.
    let dogs = app.as_user("dogs").await;
    app.post_form_as(&dogs, "/api/delete_my_data", &[("confirm", "yes")], "/").await;
    assert_eq!(count(&app, "SELECT count(*) FROM generations WHERE mix_id IS NOT NULL").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM mixes").await, 0);
    let gone = generate_mix(&app.client, &other.address, "cats,dogs").await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(gone.json::<Value>().await.unwrap(), serde_json::json!({"UnknownUser": "dogs"}));
}
