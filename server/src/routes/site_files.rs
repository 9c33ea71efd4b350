//! The site's files under /pkg and how long browsers keep what the server sends.
//!
//! cargo-leptos names the wasm, js and css `tweetgen.<hash>.<ext>` (`hash-files`)
//! and writes the hashes to `hash.txt` beside the server binary, where Leptos
//! reads them for the page's script and stylesheet tags. Those names change with
//! their bytes, so they are cached for a year, `immutable`: a second visit asks
//! for nothing. Any other file there, and a page, is revalidated on every use (a
//! page says who is signed in; a new release must show at once). A release build
//! with `--precompress` leaves `.br` and `.gz` beside each file: the one the
//! browser accepts is sent as is, with its Content-Encoding. Other responses
//! (pages, server functions) are gzipped on the fly.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::Response,
    Router,
};
use leptos::prelude::LeptosOptions;
use tower_http::services::ServeDir;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
/// A page: the browser may keep it, revalidated each time; no shared cache may.
const PAGE: &str = "private, no-cache";

/// The hashed file names of the site (`tweetgen.<hash>.wasm`…).
#[derive(Clone, Debug, Default)]
pub struct HashedNames(Arc<HashSet<String>>);

impl HashedNames {
    /// From `hash.txt` beside the server binary; `None` when the site was built
    /// without `hash-files` (then nothing under /pkg is immutable).
    pub fn beside_the_server(options: &LeptosOptions) -> anyhow::Result<Option<Self>> {
        let exe = std::env::current_exe()?;
        let path = exe.parent().unwrap_or(Path::new(".")).join(options.hash_file.as_ref());
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(Self::parse(&options.output_name, &text))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(anyhow::anyhow!("reading {}: {error}", path.display())),
        }
    }

    /// `js: HASH` lines → `{output}.{HASH}.js`, for the js, the wasm and the css.
    fn parse(output_name: &str, hash_file: &str) -> Self {
        let names = hash_file
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(extension, _)| matches!(extension.trim(), "js" | "wasm" | "css"))
            .map(|(extension, hash)| format!("{output_name}.{}.{}", hash.trim(), extension.trim()))
            .collect();
        Self(Arc::new(names))
    }

    fn contains(&self, file_name: &str) -> bool {
        self.0.contains(file_name)
    }
}

/// /pkg from `{site_root}/{site_pkg_dir}`, precompressed where the build left
/// `.br`/`.gz` files, with the caching above.
pub fn pkg_router(options: &LeptosOptions, hashed: HashedNames) -> Router {
    let dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    Router::new()
        .nest_service(&format!("/{}", options.site_pkg_dir), files)
        .layer(middleware::from_fn_with_state(hashed, cache_site_file))
}

async fn cache_site_file(State(hashed): State<HashedNames>, request: Request, next: Next) -> Response {
    let file_name = request.uri().path().rsplit('/').next().unwrap_or("").to_string();
    let mut response = next.run(request).await;
    let policy = if response.status().is_success() && hashed.contains(&file_name) { IMMUTABLE } else { REVALIDATE };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    // A shared cache (a CDN in front, a proxy) must not give brotli to a browser without it.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Pages are kept only privately and revalidated; a response that says how it
/// may be cached (a card image) keeps its own.
pub async fn cache_pages(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if is_html {
        response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static(PAGE));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    /// A site as `cargo leptos build --release --precompress` leaves it, in a fresh directory.
    fn site() -> (std::path::PathBuf, LeptosOptions, HashedNames) {
        let root = std::env::temp_dir().join(format!("tweetgen-site-{}", std::process::id()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("tweetgen.AbC.wasm"), b"\0asm plain").unwrap();
        std::fs::write(pkg.join("tweetgen.AbC.wasm.br"), b"brotli bytes").unwrap();
        std::fs::write(pkg.join("tweetgen.AbC.wasm.gz"), b"gzip bytes").unwrap();
        std::fs::write(pkg.join("unhashed.js"), b"export {}").unwrap();
        let options = LeptosOptions::builder()
            .output_name("tweetgen")
            .site_root(root.to_str().unwrap())
            .site_pkg_dir("pkg")
            .build();
        (root, options, HashedNames::parse("tweetgen", "js: X\nwasm: AbC\ncss: Y\n"))
    }

    async fn get(router: &Router, path: &str, accept_encoding: &str) -> Response {
        let request = Request::get(path).header(header::ACCEPT_ENCODING, accept_encoding).body(Body::empty()).unwrap();
        router.clone().oneshot(request).await.unwrap()
    }

    fn header_of(response: &Response, name: header::HeaderName) -> &str {
        response.headers().get(name).map_or("", |value| value.to_str().unwrap())
    }

    #[tokio::test]
    async fn hashed_files_are_immutable_and_sent_precompressed() {
        let (root, options, hashed) = site();
        let router = pkg_router(&options, hashed);

        let brotli = get(&router, "/pkg/tweetgen.AbC.wasm", "gzip, deflate, br").await;
        assert_eq!(brotli.status(), StatusCode::OK);
        assert_eq!(header_of(&brotli, header::CONTENT_ENCODING), "br");
        assert_eq!(header_of(&brotli, header::CACHE_CONTROL), IMMUTABLE);
        assert_eq!(header_of(&brotli, header::CONTENT_TYPE), "application/wasm");
        assert_eq!(header_of(&brotli, header::VARY), "accept-encoding");
        let body = axum::body::to_bytes(brotli.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"brotli bytes");

        let gzip = get(&router, "/pkg/tweetgen.AbC.wasm", "gzip").await;
        assert_eq!(header_of(&gzip, header::CONTENT_ENCODING), "gzip");
        let plain = get(&router, "/pkg/tweetgen.AbC.wasm", "identity").await;
        assert_eq!(header_of(&plain, header::CONTENT_ENCODING), "");
        assert_eq!(header_of(&plain, header::CACHE_CONTROL), IMMUTABLE);

        // A name without the build's hash may change under it: revalidated.
        let unhashed = get(&router, "/pkg/unhashed.js", "br").await;
        assert_eq!(unhashed.status(), StatusCode::OK);
        assert_eq!(header_of(&unhashed, header::CACHE_CONTROL), REVALIDATE);
        // A stale page asking for last release's file must not cache the miss.
        let missing = get(&router, "/pkg/tweetgen.Old.wasm", "br").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(header_of(&missing, header::CACHE_CONTROL), REVALIDATE);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_hash_file_names_the_js_wasm_and_css() {
        let names = HashedNames::parse("tweetgen", "js: AbC\nwasm: d-E_f\ncss: 123\nmanifest: zzz\n");
        for name in ["tweetgen.AbC.js", "tweetgen.d-E_f.wasm", "tweetgen.123.css"] {
            assert!(names.contains(name), "{name}");
        }
        assert!(!names.contains("tweetgen.zzz.json"));
        assert!(!names.contains("tweetgen.js"));
    }
}
