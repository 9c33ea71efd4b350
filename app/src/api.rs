//! The server functions: the app's whole API. Each runs on the server; the client
//! calls it over HTTP, and a plain HTML form can post to it without JavaScript.
//! After such a post, leptos_axum sends the browser back to the form's page with
//! any error in the URL (`__err`), where the form's `ServerAction` shows it.

use leptos::prelude::*;

use crate::error::AppError;
use crate::shared::{Generated, Learned, Mix, MixPage, Profile, ProfilePage, Ranked, Viewer};

#[server(endpoint = "list_trained_users")]
pub async fn list_trained_users() -> Result<Vec<Profile>, AppError> {
    use crate::ssr::{store, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        Ok(store::trained_users(&state.reads(), 50).await?.into_iter().map(Profile::from).collect())
    })
    .await
}

#[server(endpoint = "get_profile")]
pub async fn get_profile(screen_name: String) -> Result<Option<ProfilePage>, AppError> {
    use crate::shared::{is_valid_screen_name, Voice};
    use crate::ssr::{store, with_status, AppState};
    with_status(async move {
        if !is_valid_screen_name(&screen_name) {
            return Ok(None);
        }
        let state = AppState::from_context()?;
        let Some(profile) = store::profile(&state.reads(), &screen_name).await?.map(Profile::from) else {
            return Ok(None);
        };
        let voice = Voice::One(profile.screen_name.clone());
        let (page_url, card_url) = (state.page_url(&voice), state.card_url(&voice, None));
        Ok(Some(ProfilePage { profile, page_url, card_url }))
    })
    .await
}

/// The signed-in visitor, if any.
#[server(endpoint = "current_viewer")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    use crate::ssr::{with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        Ok(state.viewer().await?.map(|user| Viewer { screen_name: user.screen_name, protected: user.protected }))
    })
    .await
}

/// Learns from the signed-in user's pasted tweets, one per line, replacing their
/// previous model (at most once per retrain interval).
#[server(endpoint = "train_model")]
#[middleware(crate::ssr::database::Writes)]
pub async fn train_model(tweets: String) -> Result<(), AppError> {
    use crate::ssr::{training, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        let admitted = state.begin_training().await?;
        let trained = training::train_from_paste(state.tokenizer.clone(), tweets).await;
        state.finish_training(&admitted, trained).await?;
        leptos_axum::redirect(&format!("/@{}", admitted.user.screen_name));
        Ok(())
    })
    .await
}

/// Learns from the signed-in user's X archive: its `.zip`, or `data/tweets.js`.
/// A bad upload leaves the previous model as it was.
#[server(endpoint = "upload_archive", input = leptos::server_fn::codec::MultipartFormData)]
#[middleware(crate::ssr::database::Writes)]
pub async fn upload_archive(data: leptos::server_fn::codec::MultipartData) -> Result<Learned, AppError> {
    use crate::shared::ARCHIVE_FIELD;
    use crate::ssr::{is_plain_form_post, training, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        let admitted = state.begin_training().await?;
        let user = &admitted.user;
        let limits = state.config.archive_limits.clone();
        let learned = async {
            let upload = training::uploaded_file(data, ARCHIVE_FIELD, limits.max_upload_bytes).await?;
            training::train_from_archive(state.tokenizer.clone(), upload, limits).await
        };
        let (trained, tweets, truncated) = match learned.await {
            Ok((trained, tweets, truncated)) => (Ok(trained), tweets, truncated),
            Err(error) => (Err(error), 0, false),
        };
        let trained = state.finish_training(&admitted, trained).await?;
        tracing::info!(user_id = user.user_id, tweets, sentences = trained.sentences, "learned from an archive");
        if is_plain_form_post() {
            leptos_axum::redirect(&format!("/@{}", user.screen_name));
        }
        Ok(Learned { screen_name: user.screen_name.clone(), tweets, sentences: trained.sentences, truncated })
    })
    .await
}

/// Deletes the signed-in user's model, the tweets generated from it and their
/// sessions, then signs them out.
#[server(endpoint = "delete_my_data")]
#[middleware(crate::ssr::database::Writes)]
pub async fn delete_my_data(#[server(default)] confirm: String) -> Result<(), AppError> {
    use crate::ssr::{session, store, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        let user = state.signed_in().await?;
        if confirm != "yes" {
            return Err(AppError::DeleteNotConfirmed);
        }
        state.db.write(|pool| async move { store::delete_user(&pool, user.user_id).await }).await?;
        state.models.remove(&user.user_id);
        tracing::info!(user_id = user.user_id, "deleted a user's data");
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.append_header(http::header::SET_COOKIE, session::clearing_cookie());
        }
        leptos_axum::redirect("/?deleted=1");
        Ok(())
    })
    .await
}

/// The 10 users most generated from by others in the last 7 days.
#[server(endpoint = "ranking")]
pub async fn ranking() -> Result<Vec<Ranked>, AppError> {
    use crate::ssr::{ranking::RANKING_DAYS, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        state.ranking.ranking(&state.reads(), RANKING_DAYS, 10).await
    })
    .await
}

/// Writes a new tweet in the user's voice and records it. `max_chars` (empty:
/// 140) and `start` (words the tweet begins with; empty: any) are optional.
#[server(endpoint = "generate_tweet")]
#[middleware(crate::ssr::database::Writes)]
pub async fn generate_tweet(
    screen_name: String,
    #[server(default)] max_chars: String,
    #[server(default)] start: String,
) -> Result<Generated, AppError> {
    use crate::shared::Voice;
    generate_in(Ok(Voice::One(screen_name)), max_chars, start).await
}

/// Writes a new tweet in a mix of voices (`alice,bob:2`, as the mix box takes
/// it) and records it; the options are `generate_tweet`'s.
#[server(endpoint = "generate_mix")]
#[middleware(crate::ssr::database::Writes)]
pub async fn generate_mix(
    voices: String,
    #[server(default)] max_chars: String,
    #[server(default)] start: String,
) -> Result<Generated, AppError> {
    use crate::shared::Voice;
    generate_in(Voice::parse(&voices), max_chars, start).await
}

#[cfg(feature = "ssr")]
async fn generate_in(
    voice: Result<crate::shared::Voice, AppError>,
    max_chars: String,
    start: String,
) -> Result<Generated, AppError> {
    use crate::ssr::{is_plain_form_post, voices, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        let generated = voices::generate_tweet(&state, &voice?, &max_chars, &start).await?;
        // Without JavaScript the result reaches the page as a permalink.
        if is_plain_form_post() {
            leptos_axum::redirect(&generated.local_permalink());
        }
        Ok(generated)
    })
    .await
}

#[server(endpoint = "get_generation")]
pub async fn get_generation(screen_name: String, id: i64) -> Result<Generated, AppError> {
    use crate::shared::Voice;
    use crate::ssr::{voices, with_status, AppState};
    with_status(async move { voices::generation(&AppState::from_context()?, &Voice::One(screen_name), id).await }).await
}

/// Tweet `id` of a mix.
#[server(endpoint = "get_mix_generation")]
pub async fn get_mix_generation(mix: Mix, id: i64) -> Result<Generated, AppError> {
    use crate::shared::Voice;
    use crate::ssr::{voices, with_status, AppState};
    with_status(async move { voices::generation(&AppState::from_context()?, &Voice::Mix(mix), id).await }).await
}

/// A mix's page: its members, spelled as they spell their names, for a visitor
/// allowed to use every one of them.
#[server(endpoint = "get_mix")]
pub async fn get_mix(mix: Mix) -> Result<MixPage, AppError> {
    use crate::ssr::{voices, with_status, AppState};
    with_status(async move { voices::mix_page(&AppState::from_context()?, &mix).await }).await
}
