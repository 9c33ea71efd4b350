//! Hydrates the server-rendered page: from here on, forms call server functions
//! in place instead of reloading.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(tweetgen_app::App);
    // Lets browser tests (and curious people) know the page is now interactive.
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "");
    }
}
