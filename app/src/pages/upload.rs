//! The archive upload form. Without JavaScript it is a plain multipart form post;
//! hydrated, it sends the file with XMLHttpRequest, which reports upload
//! progress (fetch does not), then shows that the server is learning. Nothing is
//! kept on the server between requests, so any instance can take the upload.

use leptos::prelude::*;
use leptos::server_fn::error::ServerFnUrlError;
use leptos_router::hooks::use_query_map;

use super::ErrorMessage;
use crate::error::AppError;
use crate::i18n::texts;
use crate::shared::{ARCHIVE_FIELD, UPLOAD_ARCHIVE_PATH};

/// How an upload sent by the hydrated form is going (the server renders only `Idle`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Progress {
    Idle,
    Sending {
        percent: u32,
    },
    /// The file is on the server; it is reading the archive and training.
    Learning,
    Failed(AppError),
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
    let busy = move || matches!(progress.get(), Progress::Sending { .. } | Progress::Learning);
    let on_submit = {
        let navigate = leptos_router::hooks::use_navigate();
        move |event: leptos::ev::SubmitEvent| {
            #[cfg(feature = "hydrate")]
            {
                use leptos::wasm_bindgen::JsCast;
                event.prevent_default();
                let Some(form) = event.target().and_then(|target| target.dyn_into().ok()) else { return };
                let navigate = navigate.clone();
                let done = move |result: Result<crate::shared::Learned, AppError>| match result {
                    Ok(learned) => navigate(&format!("/@{}", learned.screen_name), Default::default()),
                    Err(error) => progress.set(Progress::Failed(error)),
                };
                if let Err(error) = send(&form, progress, done) {
                    progress.set(Progress::Failed(AppError::Request(format!("{error:?}"))));
                }
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (event, &navigate);
        }
    };
    view! {
        <form method="post" action=UPLOAD_ARCHIVE_PATH enctype="multipart/form-data" class="upload" on:submit=on_submit>
            <label for="archive">{t.archive_label}</label>
            <input type="file" id="archive" name=ARCHIVE_FIELD accept=".zip,.js,application/zip,text/javascript" required/>
            <p class="meta">{t.archive_hint}</p>
            <button type="submit" disabled=busy>{t.upload_button}</button>
        </form>
        {move || match progress.get() {
            Progress::Idle => error_in_url().map(|error| view! { <ErrorMessage error/> }.into_any()),
            Progress::Sending { percent } => Some(view! {
                <p class="progress" role="status">
                    <progress max="100" value=percent></progress>
                    {t.uploading(percent)}
                </p>
            }.into_any()),
            Progress::Learning => Some(view! {
                <p class="progress" role="status"><progress></progress>{t.learning_archive}</p>
            }.into_any()),
            Progress::Failed(error) => Some(view! { <ErrorMessage error/> }.into_any()),
        }}
    }
}

/// Posts the form's file, reporting progress to `progress` and the outcome to `done`.
#[cfg(feature = "hydrate")]
fn send(
    form: &leptos::web_sys::HtmlFormElement,
    progress: RwSignal<Progress>,
    done: impl FnOnce(Result<crate::shared::Learned, AppError>) + 'static,
) -> Result<(), leptos::wasm_bindgen::JsValue> {
    use leptos::wasm_bindgen::{closure::Closure, JsCast};
    use leptos::web_sys::{FormData, ProgressEvent, XmlHttpRequest};

    let data = FormData::new_with_form(form)?;
    let request = XmlHttpRequest::new()?;
    request.open("POST", UPLOAD_ARCHIVE_PATH)?;
    request.set_request_header("Accept", "application/json")?;
    progress.set(Progress::Sending { percent: 0 });

    let upload = request.upload()?;
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
        if event.length_computable() && event.total() > 0.0 {
            progress.set(Progress::Sending { percent: (event.loaded() * 100.0 / event.total()) as u32 });
        }
    });
    upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    // Lives as long as the request: one small closure per upload.
    on_progress.forget();
    let on_sent = Closure::once_into_js(move || progress.set(Progress::Learning));
    upload.set_onload(Some(on_sent.unchecked_ref()));

    let finished = request.clone();
    let on_end = Closure::once_into_js(move || {
        let status = finished.status().unwrap_or(0);
        let body = finished.response_text().ok().flatten().unwrap_or_default();
        done(outcome(status, &body));
    });
    request.set_onloadend(Some(on_end.unchecked_ref()));
    request.send_with_opt_form_data(Some(&data))
}

/// The server function's answer: `Learned` as JSON, or an `AppError` as JSON
/// with an error status. Status 0: the request never completed.
#[cfg(feature = "hydrate")]
fn outcome(status: u16, body: &str) -> Result<crate::shared::Learned, AppError> {
    match status {
        200 => serde_json::from_str(body).map_err(|error| AppError::Request(error.to_string())),
        0 => Err(AppError::Request("the connection was lost".into())),
        _ => Err(serde_json::from_str(body).unwrap_or_else(|_| AppError::Request(format!("HTTP {status}")))),
    }
}
