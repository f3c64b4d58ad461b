//! The viewer's files, compiled into the binary: one explicit table of every file under `web/`
//! with its content type. HTML is served `no-cache`, everything else is cacheable.
//!
//! Uses nothing else in the crate. A test checks that every file in `web/` is listed here.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name under `web/` (and under `/_/` in URLs).
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $ctype:literal),* $(,)?) => {
        /// Every file of the viewer.
        pub const ASSETS: &[Asset] = &[
            $(Asset { name: $name, content_type: $ctype, bytes: include_bytes!(concat!("../web/", $name)) }),*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "feed.js" => "text/javascript; charset=utf-8",
    "list.js" => "text/javascript; charset=utf-8",
    "bins.js" => "text/javascript; charset=utf-8",
    "detail.js" => "text/javascript; charset=utf-8",
    "util.js" => "text/javascript; charset=utf-8",
    "body.js" => "text/javascript; charset=utf-8",
    "json.js" => "text/javascript; charset=utf-8",
    "webhooks.js" => "text/javascript; charset=utf-8",
    "settings.js" => "text/javascript; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
}

/// The asset served at `/_/<name>` (`/_/` itself is `index.html`).
pub fn get(name: &str) -> Option<&'static Asset> {
    let name = if name.is_empty() { "index.html" } else { name };
    ASSETS.iter().find(|a| a.name == name)
}

/// The `Cache-Control` value for an asset.
pub fn cache_control(a: &Asset) -> &'static str {
    if a.content_type.starts_with("text/html") {
        "no-cache"
    } else {
        "public, max-age=300"
    }
}

/// The viewer's Content-Security-Policy.
pub const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
