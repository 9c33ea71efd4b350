//! Share card images (Open Graph / X cards) and the tags that point at them.

use reqwest::{header, StatusCode};
use tweetgen_app::ssr::rate_limits::Rate;

use crate::helpers::{all_at_once, location, spawn_app, spawn_app_with, TWEETS};

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

/// The `content` of `<meta property|name="{key}" content="…">` in a page.
fn meta(html: &str, key: &str) -> Option<String> {
    let at = html.find(&format!("=\"{key}\""))?;
    let tag_end = at + html[at..].find('>')?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_end];
    let content = tag.split("content=\"").nth(1)?;
    Some(content.split('"').next()?.replace("&amp;", "&"))
}

#[tokio::test]
async fn user_pages_and_tweets_have_card_images_and_share_tags() {
    let app = spawn_app().await;
    app.train("carded", TWEETS).await;

    let page = app.get("/@carded").await.text().await.unwrap();
    let image = meta(&page, "og:image").expect(&page);
    assert_eq!(image, format!("{}/card/carded.png", app.address));
    assert_eq!(meta(&page, "twitter:card").as_deref(), Some("summary_large_image"));
    assert_eq!(meta(&page, "og:url"), Some(format!("{}/@carded", app.address)));

    let response = app.client.get(&image).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    let etag = response.headers()[header::ETAG].to_str().unwrap().to_string();
    let png = response.bytes().await.unwrap();
    assert_eq!(png_size(&png), (1200, 630));
    let again = app.client.get(&image).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "revalidated from memory");

    // A generated tweet's permalink shares that tweet, with its own image.
    let generated = app.post_form("/api/generate_tweet", &[("screen_name", "carded")], "/@carded").await;
    let permalink = location(&generated).to_string();
    let id = permalink.rsplit('=').next().unwrap().to_string();
    let (text,): (String,) = sqlx::query_as("SELECT text FROM generations").fetch_one(&app.pool).await.unwrap();
    let tweet_page = app.get(&permalink).await.text().await.unwrap();
    assert_eq!(meta(&tweet_page, "og:description").as_deref(), Some(text.as_str()));
    let tweet_image = meta(&tweet_page, "og:image").unwrap();
    assert_eq!(tweet_image, format!("{}/card/carded/{id}.png", app.address));
    assert_eq!(tweet_page.matches("property=\"og:image\"").count(), 1, "one image per page");
    let tweet_card = app.client.get(&tweet_image).send().await.unwrap();
    assert_ne!(tweet_card.headers()[header::ETAG].to_str().unwrap(), etag, "an image of its own");
    assert_eq!(png_size(&tweet_card.bytes().await.unwrap()), (1200, 630));

    // A retrain changes the image; unknown users and tweets have none.
    app.train("carded", "completely different words now").await;
    let retrained = app.client.get(&image).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(retrained.status(), 200);
    assert_ne!(retrained.headers()[header::ETAG].to_str().unwrap(), etag);
    for missing in ["/card/nobody.png", "/card/carded/999999.png", "/card/carded.gif", "/card/bad-name!.png"] {
        let response = app.client.get(format!("{}{missing}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn a_deleted_users_card_is_gone_at_once() {
    let app = spawn_app().await;
    let browser = app.as_user("vanishing").await;
    app.train("vanishing", TWEETS).await;
    let image = format!("{}/card/vanishing.png", app.address);
    assert_eq!(app.client.get(&image).send().await.unwrap().status(), 200, "rendered and cached");
    app.post_form_as(&browser, "/api/delete_my_data", &[("confirm", "yes")], "/").await;
    assert_eq!(app.client.get(&image).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn identical_card_requests_at_once_render_once_and_renders_are_rate_limited() {
    let app = spawn_app_with(|settings| {
        // A burst of 12, then one a minute: no refill within the test.
        settings.rate_limits.render_card = Rate { per_minute: 1, burst: 12 };
    })
    .await;
    app.train("popular_card", TWEETS).await;
    let cards = app.state.cards.clone().expect("fonts installed by setup.sh");
    let image = format!("{}/card/popular_card.png", app.address);
    // Ten crawlers at once, from ten addresses, for an image not rendered yet.
    let requests: Vec<_> =
        (0..10).map(|i| app.client.get(&image).header("x-forwarded-for", format!("192.0.2.{i}")).send()).collect();
    let mut bodies = Vec::new();
    for response in all_at_once(requests).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(cards.rendered(), 1, "one render for ten requests");
    // From the cache, any number: no render, no limit.
    for _ in 0..20 {
        assert_eq!(app.client.get(&image).header("x-forwarded-for", "192.0.2.99").send().await.unwrap().status(), 200);
    }
    // Renders one address asks for are limited: each tweet's card is a new image.
    let mut statuses = Vec::new();
    for _ in 0..14 {
        let generated: serde_json::Value = app.generate_as(&app.client, "popular_card").await.json().await.unwrap();
        let card = format!("{}/card/popular_card/{}.png", app.address, generated["id"]);
        let response = app
            .client
            .get(card)
            .header("x-forwarded-for", "203.0.113.5")
            .header(header::ACCEPT_LANGUAGE, "ja")
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key(header::RETRY_AFTER));
            assert!(response.text().await.unwrap().contains("秒ほど待って"), "in the visitor's language");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|&&status| status == 200).count(), 12, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&status| status == 429).count(), 2, "{statuses:?}");
}
