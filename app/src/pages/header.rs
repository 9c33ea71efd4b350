use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::current_viewer;
use crate::error::AppError;
use crate::i18n::{texts, Lang};
use crate::shared::{percent_encode, Viewer};

/// The signed-in visitor, fetched once per navigation (signing in, out or
/// deleting one's data all end in one) and shared by every component.
pub type ViewerResource = Resource<Result<Option<Viewer>, AppError>>;

pub fn provide_viewer() {
    let location = use_location();
    let viewer: ViewerResource =
        Resource::new(move || (location.pathname.get(), location.search.get()), |_| current_viewer());
    provide_context(viewer);
}

pub fn use_viewer() -> ViewerResource {
    expect_context::<ViewerResource>()
}

/// Where the visitor is now, to come back to after signing in or switching language.
fn return_to() -> String {
    let location = use_location();
    let (path, query) = (location.pathname.get(), location.search.get());
    let here = if query.is_empty() { path } else { format!("{path}?{query}") };
    percent_encode(&here, b"/")
}

#[component]
pub fn SiteHeader() -> impl IntoView {
    let viewer = use_viewer();
    let t = texts();
    view! {
        <header class="site-header">
            <a href="/" class="brand">"tweetgen"</a>
            <nav class="site-nav">
                <LanguageSwitch/>
                <Suspense>
                    {move || Suspend::new(async move {
                        match viewer.await {
                            Ok(Some(viewer)) => view! {
                                <a href=format!("/@{}", viewer.screen_name) class="me">{format!("@{}", viewer.screen_name)}</a>
                                // A plain form: signing out reloads every part of the page.
                                <form method="post" action="/auth/logout" class="inline">
                                    <button type="submit" class="link">{t.sign_out}</button>
                                </form>
                            }.into_any(),
                            _ => view! {
                                // rel=external: the router must not handle it; the server redirects to X.
                                <a href=move || format!("/auth/login?return_to={}", return_to()) rel="external" class="sign-in">
                                    {t.sign_in}
                                </a>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
        </header>
    }
}

/// Links that set the language cookie and come back (work without JavaScript).
#[component]
fn LanguageSwitch() -> impl IntoView {
    let current = Lang::current();
    view! {
        <span class="lang-switch" aria-label=texts().language>
            {Lang::ALL.into_iter().map(|lang| {
                let href = move || format!("/lang/{}?return_to={}", lang.code(), return_to());
                view! {
                    <a href=href rel="external" hreflang=lang.code() lang=lang.code()
                        aria-current=(lang == current).then_some("true")>
                        {lang.native_name()}
                    </a>
                }
            }).collect_view()}
        </span>
    }
}
