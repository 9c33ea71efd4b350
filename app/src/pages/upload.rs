//! The archive upload form. Without JavaScript it is a plain multipart form post
//! of the chosen file. Hydrated, it first picks the tweets files out of a chosen
//! zip in the browser (`send`: a whole X archive is gigabytes, nearly all media,
//! and only the tweets files leave the person's machine), then sends them with
//! XMLHttpRequest, which reports upload progress (fetch does not), then shows
//! that the server is learning. Nothing is kept on the server between requests,
//! so any instance can take the upload.

use leptos::prelude::*;
use leptos::server_fn::error::ServerFnUrlError;
use leptos_router::hooks::use_query_map;

use super::ErrorMessage;
use crate::error::AppError;
use crate::i18n::texts;
use crate::shared::{ARCHIVE_FIELD, UPLOAD_ARCHIVE_PATH};

#[cfg(feature = "hydrate")]
mod send;

/// How an upload sent by the hydrated form is going (the server renders only `Idle`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Progress {
    Idle,
    /// Reading the zip's directory for the tweets files.
    Finding,
    Sending {
        percent: u32,
        /// The tweets files out of a whole archive of `whole` bytes (`sent` of
        /// them); `None`: the chosen file itself.
        picked: Option<Picked>,
    },
    /// The file is on the server; it is reading the archive and training.
    Learning,
    Failed(AppError),
}

/// What was picked out of an archive to send.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Picked {
    sent: u64,
    whole: u64,
}

#[component]
pub fn UploadForm() -> impl IntoView {
    let t = texts();
    let progress = RwSignal::new(Progress::Idle);
    // After a post without JavaScript, leptos_axum brings an error back in the URL.
    let query = use_query_map();
    let error_in_url = move || {
        let query = query.read();
        let ours = query.get("__path").as_deref() == Some(UPLOAD_ARCHIVE_PATH);
        query.get("__err").filter(|_| ours).map(|error| ServerFnUrlError::<AppError>::decode_err(&error))
    };
    let busy = move || matches!(progress.get(), Progress::Finding | Progress::Sending { .. } | Progress::Learning);
    let on_submit = {
        let navigate = leptos_router::hooks::use_navigate();
        move |event: leptos::ev::SubmitEvent| {
            #[cfg(feature = "hydrate")]
            {
                event.prevent_default();
                let navigate = navigate.clone();
                let done = move |result: Result<crate::shared::Learned, AppError>| match result {
                    Ok(learned) => navigate(&format!("/@{}", learned.screen_name), Default::default()),
                    Err(error) => progress.set(Progress::Failed(error)),
                };
                send::upload_chosen_file(progress, done);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (event, &navigate);
        }
    };
    // Without JavaScript the whole file goes; hydrated, only its tweets files.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <form method="post" action=UPLOAD_ARCHIVE_PATH enctype="multipart/form-data" class="upload" on:submit=on_submit>
            <label for="archive">{t.archive_label}</label>
            <input type="file" id="archive" name=ARCHIVE_FIELD accept=".zip,.js,application/zip,text/javascript" required/>
            <p class="meta" data-testid="archive-hint">
                {move || if hydrated.get() { t.archive_hint_hydrated } else { t.archive_hint }}
            </p>
            <button type="submit" disabled=busy>{t.upload_button}</button>
        </form>
        {move || match progress.get() {
            Progress::Idle => error_in_url().map(|error| view! { <ErrorMessage error/> }.into_any()),
            Progress::Finding => Some(view! {
                <p class="progress" role="status"><progress></progress>{t.finding_tweets_files}</p>
            }.into_any()),
            Progress::Sending { percent, picked } => Some(view! {
                <p class="progress" role="status">
                    <progress max="100" value=percent></progress>
                    {match picked {
                        Some(Picked { sent, whole }) => t.sending_tweets_files(percent, sent, whole),
                        None => t.uploading(percent),
                    }}
                </p>
            }.into_any()),
            Progress::Learning => Some(view! {
                <p class="progress" role="status"><progress></progress>{t.learning_archive}</p>
            }.into_any()),
            Progress::Failed(error) => Some(view! { <ErrorMessage error/> }.into_any()),
        }}
    }
}
