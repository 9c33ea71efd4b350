//! tweetgen's pages and server functions. Everything that touches the database
//! lives in `ssr` and is compiled only into the server.

pub mod api;
pub mod error;
mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="ja">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/tweetgen.css"/>
        <Title text="tweetgen"/>
        <Router>
            <header class="site-header">
                <a href="/" class="brand">"tweetgen"</a>
            </header>
            <main>
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::HomePage/>
                    // "/@screen_name": the router has no prefix segments, so the page
                    // takes the whole segment and checks the "@". Rendered whole before
                    // sending, so that an unknown user gets a real 404 status.
                    <Route path=ParamSegment("handle") view=pages::UserPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
