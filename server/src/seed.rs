//! Demo users, trained from the corpus in `server/demo/` (written for this
//! project), so that a fresh dev server has voices to try.

use sqlx::PgPool;
use tweetgen_app::ssr::{store, training};

pub const DEMO_USERS: [(&str, &str); 3] = [
    ("tweetgen_neko", include_str!("../demo/tweetgen_neko.txt")),
    ("tweetgen_dev", include_str!("../demo/tweetgen_dev.txt")),
    ("tweetgen_en", include_str!("../demo/tweetgen_en.txt")),
];

/// Trains each demo user that has no model yet; existing models are left alone.
pub async fn seed_demo_users(pool: &PgPool) -> anyhow::Result<()> {
    for (screen_name, corpus) in DEMO_USERS {
        if store::profile(pool, screen_name).await?.is_some() {
            continue;
        }
        let model = training::train_from_text(corpus)?;
        store::save_model(pool, screen_name, &model).await?;
        tracing::info!(screen_name, sentences = model.sentences, "seeded demo user");
    }
    Ok(())
}
