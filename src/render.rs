//! Renderings of a captured request for people and tools: the exact body download (decoded by
//! `decode`, re-exported here), the HTTP/1.1 text of `/raw`, a `curl` command line and HAR.
//!
//! Pure functions over `model` and `decode`. No I/O.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::Response;

use crate::model::{origin_form, CapturedRequest};

pub use crate::decode::{content_codings, decode_bounded, MAX_CODINGS};

/// Headers that describe a connection or a framing rather than the request itself.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
];

/// Is this header part of the request itself, not of its connection, framing or pseudo-headers?
/// What replay and forwarding pass on.
pub fn is_end_to_end(name: &str) -> bool {
    !name.starts_with(':') && !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str())
}

/// A body download with the request's content type: `bytes` are the exact body, or the body
/// [`decode_bounded`] returned.
pub fn body_response(r: &CapturedRequest, bytes: Bytes) -> Response<Full<Bytes>> {
    let ctype = r
        .content_type()
        .and_then(|c| HeaderValue::from_str(&c).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let mut resp = Response::new(Full::new(bytes));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, ctype);
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"request-{}.body\"", r.id))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    resp
}

/// The request as HTTP/1.1 text: the request line as sent, headers in received order and case,
/// CRLF line endings, a blank line, then the body bytes.
pub fn raw(r: &CapturedRequest) -> Vec<u8> {
    let version = if r.version.starts_with("HTTP/1") {
        &*r.version
    } else {
        "HTTP/1.1"
    };
    let mut out = Vec::with_capacity(r.body.bytes.len() + 256);
    out.extend_from_slice(format!("{} {} {}\r\n", r.method, r.target, version).as_bytes());
    for h in &r.headers {
        let name = match &*h.name {
            ":authority" => "Host",
            n if n.starts_with(':') => continue,
            n => n,
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body.bytes);
    out
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether a request target is a whole URL (`http://host/path`) rather than a path: a path may
/// carry a URL in its query (`/hook?callback=http://x/y`).
fn is_absolute_form(target: &str) -> bool {
    origin_form(target) != target
}

/// Whether a request target is neither a path nor a whole URL: `*` (`OPTIONS *`) or an
/// authority (`CONNECT host:443`). Such a request is sent to the host's root, with its target
/// given apart.
fn is_bare_target(target: &str) -> bool {
    !target.starts_with('/') && !is_absolute_form(target)
}

/// The URL a request went to: its own absolute-form target, or its target on `base` (default:
/// `http://` and the request's `Host`); `*` and authority-form targets go to the root.
fn url_of(r: &CapturedRequest, host: &str, base: Option<&str>) -> String {
    let path = if is_bare_target(&r.target) {
        "/"
    } else {
        origin_form(&r.target)
    };
    match base {
        Some(b) => format!("{}{path}", b.trim_end_matches('/')),
        None if is_absolute_form(&r.target) => r.target.clone(),
        None => format!("http://{host}{path}"),
    }
}

/// A `curl` command line that reproduces the request's method, headers and exact body. `base`
/// overrides where it is sent (default: the request's own `Host`).
pub fn curl(r: &CapturedRequest, base: Option<&str>) -> String {
    let host = r
        .header("host")
        .or_else(|| r.header(":authority"))
        .map(|h| h.into_owned())
        .unwrap_or_else(|| "127.0.0.1:4665".into());
    let url = url_of(r, &host, base);
    let mut parts: Vec<String> = vec!["curl".into()];
    if r.version == "HTTP/1.0" {
        parts.push("--http1.0".into());
    }
    if is_bare_target(&r.target) {
        parts.push("--request-target".into());
        parts.push(shell_quote(&r.target));
    }
    parts.push("-X".into());
    parts.push(shell_quote(&r.method));
    parts.push(shell_quote(&url));
    for h in &r.headers {
        let lname = h.name.to_ascii_lowercase();
        if h.name.starts_with(':') || HOP_BY_HOP.contains(&lname.as_str()) && lname != "host" {
            continue;
        }
        let value = h.value_str();
        if value.is_empty() {
            // curl drops `Name:`; `Name;` sends an empty header
            parts.push(format!("-H {}", shell_quote(&format!("{};", h.name))));
        } else {
            parts.push(format!(
                "-H {}",
                shell_quote(&format!("{}: {}", h.name, value))
            ));
        }
    }
    if r.header("user-agent").is_none() {
        parts.push("-H 'User-Agent:'".into());
    }
    if r.header("accept").is_none() {
        parts.push("-H 'Accept:'".into());
    }
    let body = &r.body.bytes;
    if body.is_empty() {
        return parts.join(" ");
    }
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains('\0') => {
            parts.push("--data-binary".into());
            parts.push(shell_quote(text));
            parts.join(" ")
        }
        _ => {
            // binary: printf writes the exact bytes, curl reads them from stdin
            let escaped: String = body.iter().map(|b| format!("\\{:03o}", b)).collect();
            parts.push("--data-binary @-".into());
            format!("printf '{}' | {}", escaped, parts.join(" "))
        }
    }
}

/// A HAR 1.2 log of requests (oldest first): each entry is the request as received and the
/// response hookpit sent. Bodies that are not UTF-8 are base64 (`_encoding` on the request's
/// `postData`, `encoding` on the response's `content`, as HAR 1.2 defines).
pub fn har(reqs: &[std::sync::Arc<CapturedRequest>]) -> serde_json::Value {
    use base64::Engine as _;
    use serde_json::json;
    let entries: Vec<serde_json::Value> = reqs
        .iter()
        .map(|r| {
            let host = r
                .header("host")
                .or_else(|| r.header(":authority"))
                .map(|h| h.into_owned())
                .unwrap_or_else(|| "127.0.0.1".into());
            let url = url_of(r, &host, None);
            let headers = |hs: &[crate::model::Header]| -> Vec<serde_json::Value> {
                hs.iter()
                    .map(|h| json!({"name": &*h.name, "value": h.value_str()}))
                    .collect()
            };
            let mime = r
                .content_type()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let mut request = json!({
                "method": r.method,
                "url": url,
                "httpVersion": r.version,
                "cookies": [],
                "headers": headers(&r.headers),
                "queryString": r.query().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                "headersSize": -1,
                "bodySize": r.body.bytes.len(),
            });
            if !r.body.bytes.is_empty() {
                request["postData"] = match r.body.text() {
                    Some(t) => json!({"mimeType": mime, "params": [], "text": t}),
                    None => json!({"mimeType": mime, "params": [],
                        "text": base64::engine::general_purpose::STANDARD.encode(&r.body.bytes),
                        "_encoding": "base64"}),
                };
            }
            let resp_mime = r
                .response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-type"))
                .map(|h| h.value_str().into_owned())
                .unwrap_or_default();
            let mut content = json!({"size": r.response.body.bytes.len(), "mimeType": resp_mime});
            match r.response.body.text() {
                Some(t) => content["text"] = json!(t),
                None => {
                    content["text"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(&r.response.body.bytes));
                    content["encoding"] = json!("base64");
                }
            }
            let wait = r.response.delay_ms as f64;
            let receive = (r.timings.headers_us + r.timings.body_us) as f64 / 1000.0;
            json!({
                "startedDateTime": crate::model::format_time(r.received_at),
                "time": receive + wait,
                "request": request,
                "response": {
                    "status": r.response.status,
                    "statusText": hyper::StatusCode::from_u16(r.response.status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
                    "httpVersion": r.version,
                    "cookies": [],
                    "headers": headers(&r.response.headers),
                    "content": content,
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": r.response.body.bytes.len(),
                },
                "cache": {},
                "timings": {"send": receive, "wait": wait, "receive": 0},
                "_id": r.id,
                "_bin": r.bin,
                "_remoteAddress": r.remote_addr.to_string(),
            })
        })
        .collect();
    json!({"log": {
        "version": "1.2",
        "creator": {"name": "hookpit", "version": env!("CARGO_PKG_VERSION")},
        "entries": entries,
    }})
}
