mod header;
mod home;
mod mix;
mod upload;
mod user;

pub use header::{provide_viewer, SiteHeader};
pub use home::HomePage;
pub use mix::{MixQuery, MixRoute};
pub use user::UserPage;

use leptos::prelude::*;

use crate::error::AppError;
use crate::i18n::texts;

/// A 404 page (with a 404 status when rendered on the server).
#[component]
pub fn NotFound() -> impl IntoView {
    set_not_found_status();
    let t = texts();
    view! {
        <section class="card">
            <h1>{t.not_found}</h1>
            <p><a href="/">{t.back_home}</a></p>
        </section>
    }
}

pub(crate) fn set_not_found_status() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

/// Gives the page being rendered on the server the error's status.
pub(crate) fn set_error_status(error: &AppError) {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(error.status());
    }
    #[cfg(not(feature = "ssr"))]
    let _ = error;
}

/// An error message in the page's language, announced to screen readers.
#[component]
pub(crate) fn ErrorMessage(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{texts().error(&error)}</p> }
}
