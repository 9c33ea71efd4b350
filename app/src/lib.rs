//! tweetgen's pages and server functions. Everything that touches the database
//! lives in `ssr` and is compiled only into the server.

pub mod api;
pub mod error;
pub mod i18n;
mod pages;
pub mod shared;
#[cfg(feature = "ssr")]
pub mod ssr;

use i18n::Lang;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The hydrating client reads the language back from here.
    let lang = request_lang();
    #[cfg(feature = "ssr")]
    ssr::set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                // tweetgen.<hash>.css once built with hash-files (in the head, as it is
                // rendered: the client never renders the shell).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The request's language: the switch's cookie, else Accept-Language, else Japanese.
#[cfg(feature = "ssr")]
fn request_lang() -> Lang {
    ssr::request_lang()
}

/// The language the server rendered the page in.
#[cfg(not(feature = "ssr"))]
fn request_lang() -> Lang {
    document()
        .document_element()
        .and_then(|html| html.get_attribute("lang"))
        .and_then(|code| Lang::from_code(&code))
        .unwrap_or(Lang::Ja)
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(request_lang());
    view! {
        <Title text="tweetgen"/>
        <Router>
            <Layout/>
        </Router>
    }
}

/// Every page: the header and the routed content, sharing who is signed in.
#[component]
fn Layout() -> impl IntoView {
    pages::provide_viewer();
    view! {
        <pages::SiteHeader/>
        <main>
            // Pages are rendered whole before sending (SsrMode::Async): without
            // JavaScript, streamed-in parts would never replace their fallbacks,
            // and an unknown user gets a real 404 status.
            <Routes fallback=pages::NotFound>
                <Route path=StaticSegment("") view=pages::HomePage ssr=SsrMode::Async/>
                // "/@screen_name": the router has no prefix segments, so the page
                // takes the whole segment and checks the "@".
                // Before "/@…": the router takes the first route that matches.
                <Route path=StaticSegment("mix") view=pages::MixQuery ssr=SsrMode::Async/>
                <Route path=(StaticSegment("mix"), ParamSegment("spec")) view=pages::MixRoute ssr=SsrMode::Async/>
                <Route path=ParamSegment("handle") view=pages::UserPage ssr=SsrMode::Async/>
            </Routes>
        </main>
    }
}
