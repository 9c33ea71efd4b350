//! Demo users, trained from the corpus in `server/demo/` (written for this
//! project), so that a fresh dev server has voices to try.

use tweetgen_app::ssr::database::Writes;
use tweetgen_app::ssr::{store, training, AppState};
use tweetgen_markov::Model;

pub const DEMO_USERS: [(&str, &str); 3] = [
    ("tweetgen_neko", include_str!("../demo/tweetgen_neko.txt")),
    ("tweetgen_dev", include_str!("../demo/tweetgen_dev.txt")),
    ("tweetgen_en", include_str!("../demo/tweetgen_en.txt")),
];

/// Trains each demo user that has no usable model (none yet, or one in a format
/// this build no longer reads); good models are left alone.
pub async fn seed_demo_users(state: &AppState) -> anyhow::Result<()> {
    Writes::declare(seed(state)).await
}

async fn seed(state: &AppState) -> anyhow::Result<()> {
    for (screen_name, corpus) in DEMO_USERS {
        if let Some(stored) = store::model_version(&state.reads(), screen_name).await? {
            let data = store::model_data(&state.reads(), stored.user_id).await?;
            if data.is_some_and(|(_, bytes)| Model::decode(&bytes).is_ok()) {
                continue;
            }
        }
        let model = training::train_from_text(&state.tokenizer, corpus)?;
        let user_id = state.db.write(|pool| async move { store::ensure_user(&pool, screen_name).await }).await?;
        let model = &model;
        state.db.write(|pool| async move { store::save_model(&pool, user_id, model).await }).await?;
        tracing::info!(screen_name, sentences = model.sentences, "seeded demo user");
    }
    Ok(())
}
