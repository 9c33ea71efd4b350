//! The hydrated upload: the chosen file's tweets files, picked out of it in the
//! browser when it is a zip (`tweetgen_archive::pick` reads only its end records,
//! its central directory and the picked entries' local headers; the entries'
//! compressed bytes are slices of the File, never read here), sent with
//! XMLHttpRequest for its progress. A file that is not a zip goes as it is: the
//! server tells a tweets.js from anything else.

use leptos::prelude::*;
use leptos::wasm_bindgen::{closure::Closure, JsCast, JsValue};
use leptos::web_sys::{self, Blob, BlobPropertyBag, File, FormData, ProgressEvent, XmlHttpRequest};
use tweetgen_archive::pick::{self, End, PickError, Piece};
use wasm_bindgen_futures::JsFuture;

use super::{Picked, Progress};
use crate::error::AppError;
use crate::shared::{Learned, ARCHIVE_FIELD, UPLOAD_ARCHIVE_PATH};

/// The name the picked files' zip is sent under (errors name its entries).
const PICKED_NAME: &str = "tweets-files.zip";

/// Sends the file chosen in the form's file input, reporting to `progress` and
/// the outcome to `done`.
pub(super) fn upload_chosen_file(progress: RwSignal<Progress>, done: impl FnOnce(Result<Learned, AppError>) + 'static) {
    let Some(file) = chosen_file() else {
        progress.set(Progress::Failed(AppError::NoUpload));
        return;
    };
    progress.set(Progress::Finding);
    leptos::task::spawn_local(async move {
        let upload = match tweets_files(&file).await {
            Ok(Some(picked)) => picked,
            Ok(None) => (file.clone().into(), file.name(), None),
            Err(error) => return progress.set(Progress::Failed(error)),
        };
        if let Err(error) = send(upload, progress, done) {
            progress.set(Progress::Failed(AppError::Request(format!("{error:?}"))));
        }
    });
}

fn chosen_file() -> Option<File> {
    let input: web_sys::HtmlInputElement = document().get_element_by_id("archive")?.dyn_into().ok()?;
    input.files()?.get(0)
}

/// The zip of `file`'s tweets files, its name and what was picked; `None` when
/// `file` is not a zip.
async fn tweets_files(file: &File) -> Result<Option<(Blob, String, Option<Picked>)>, AppError> {
    let size = file.size() as u64;
    if !pick::is_zip(&read(file, 0, size.min(4)).await?) {
        return Ok(None);
    }
    let tail = read(file, size.saturating_sub(pick::TAIL_BYTES), size).await?;
    let directory = match pick::find_end(&tail, size).map_err(pick_error)? {
        End::Directory(directory) => directory,
        End::Zip64Record { offset } => {
            let record = read(file, offset, offset + pick::ZIP64_RECORD_BYTES).await?;
            pick::zip64_directory(&record, offset).map_err(pick_error)?
        }
    };
    let listing = read(file, directory.offset, directory.offset + directory.size).await?;
    let mut picked = Vec::new();
    for entry in pick::pick_entries(&listing, size).map_err(pick_error)? {
        let header = read(file, entry.local_header, entry.local_header + pick::LOCAL_HEADER_BYTES).await?;
        let start = pick::data_start(&entry, &header, size).map_err(pick_error)?;
        picked.push((entry, start));
    }
    let pieces = pick::layout(&picked).map_err(pick_error)?;
    let sent = pieces.iter().map(Piece::len).sum();
    let parts = js_sys::Array::new();
    for piece in pieces {
        let part: JsValue = match piece {
            Piece::Bytes(bytes) => js_sys::Uint8Array::from(&bytes[..]).into(),
            Piece::File { start, end } => {
                file.slice_with_f64_and_f64(start as f64, end as f64).map_err(js_error)?.into()
            }
        };
        parts.push(&part);
    }
    let options = BlobPropertyBag::new();
    options.set_type("application/zip");
    let zip = Blob::new_with_blob_sequence_and_options(&parts, &options).map_err(js_error)?;
    Ok(Some((zip, PICKED_NAME.to_string(), Some(Picked { sent, whole: size }))))
}

/// Bytes `start..end` of the file.
async fn read(file: &File, start: u64, end: u64) -> Result<Vec<u8>, AppError> {
    let slice = file.slice_with_f64_and_f64(start as f64, end as f64).map_err(js_error)?;
    let buffer = JsFuture::from(slice.array_buffer()).await.map_err(js_error)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn pick_error(error: PickError) -> AppError {
    match error {
        PickError::NoTweetsFile => AppError::NoTweetsFile,
        other => AppError::BadZip { detail: other.to_string() },
    }
}

/// The file could not be read (moved, changed or unreadable since it was chosen).
fn js_error(error: JsValue) -> AppError {
    AppError::Request(format!("the file could not be read: {error:?}"))
}

/// Posts `body` as the form's file, reporting progress to `progress` and the
/// outcome to `done`.
fn send(
    (body, name, picked): (Blob, String, Option<Picked>),
    progress: RwSignal<Progress>,
    done: impl FnOnce(Result<Learned, AppError>) + 'static,
) -> Result<(), JsValue> {
    let data = FormData::new()?;
    data.append_with_blob_and_filename(ARCHIVE_FIELD, &body, &name)?;
    let request = XmlHttpRequest::new()?;
    request.open("POST", UPLOAD_ARCHIVE_PATH)?;
    request.set_request_header("Accept", "application/json")?;
    progress.set(Progress::Sending { percent: 0, picked });

    let upload = request.upload()?;
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
        if event.length_computable() && event.total() > 0.0 {
            let percent = (event.loaded() * 100.0 / event.total()) as u32;
            progress.set(Progress::Sending { percent, picked });
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
fn outcome(status: u16, body: &str) -> Result<Learned, AppError> {
    match status {
        200 => serde_json::from_str(body).map_err(|error| AppError::Request(error.to_string())),
        0 => Err(AppError::Request("the connection was lost".into())),
        _ => Err(serde_json::from_str(body).unwrap_or_else(|_| AppError::Request(format!("HTTP {status}")))),
    }
}
