mod home;
mod user;

pub use home::HomePage;
pub use user::UserPage;

use leptos::prelude::*;

use crate::error::AppError;

/// A 404 page (with a 404 status when rendered on the server).
#[component]
pub fn NotFound() -> impl IntoView {
    set_not_found_status();
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to tweetgen"</a></p>
        </section>
    }
}

pub(crate) fn set_not_found_status() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

/// An error message, announced to screen readers.
#[component]
pub(crate) fn ErrorMessage(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}
