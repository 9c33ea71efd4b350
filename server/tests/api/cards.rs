//! Share card images (Open Graph / X cards) and the tags that point at them.

use reqwest::{header, StatusCode};

use crate::helpers::{location, spawn_app, TWEETS};

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
