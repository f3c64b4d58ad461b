//! Renderings of a captured request for people and tools: the exact body download, the one
//! bounded decoder of `Content-Encoding` ([`decode_bounded`]: at most a limit of output, at most
//! [`MAX_CODINGS`] codings), the HTTP/1.1 text of `/raw`, a `curl` command line and HAR.
//!
//! Pure functions over `model`; uses `error` for the body decoder's failures. No I/O.

use std::io::Read;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::Response;

use crate::error::{Error, Result};
use crate::model::CapturedRequest;

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

/// Most `Content-Encoding` codings undone on one body (`gzip, br` is two).
pub const MAX_CODINGS: usize = 4;

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

/// The request's content codings in the order they were applied: every `Content-Encoding`
/// line, comma-separated, lower-cased (`identity` included, empty items left out).
pub fn content_codings(r: &CapturedRequest) -> Vec<String> {
    r.header_all("content-encoding")
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Undoes `codings` (in the order they were applied: the last is undone first; gzip, x-gzip,
/// deflate, br, identity) on `body`, producing at most `limit` bytes at every step. Past the
/// limit it stops reading and answers [`Error::DecodedTooLarge`]; more than [`MAX_CODINGS`]
/// codings, an unknown coding or corrupt data are a 400. CPU-bound: async callers run it on a
/// blocking thread. The one decoder of captured bodies.
pub fn decode_bounded(body: &Bytes, codings: &[String], limit: usize) -> Result<Bytes> {
    if codings.len() > MAX_CODINGS {
        return Err(Error::bad(
            "Content-Encoding",
            format!(
                "at most {MAX_CODINGS} codings are decoded; this body lists {}",
                codings.len()
            ),
        ));
    }
    let mut data = body.clone();
    for coding in codings.iter().rev() {
        let read = |r: &mut dyn Read| -> std::io::Result<Vec<u8>> {
            let mut out = Vec::new();
            // one byte past the limit tells "exactly at the limit" from "past it"
            r.take(limit as u64 + 1).read_to_end(&mut out)?;
            Ok(out)
        };
        let res = match coding.as_str() {
            "gzip" | "x-gzip" => read(&mut flate2::read::MultiGzDecoder::new(&data[..])),
            // zlib-wrapped per RFC 9110, but raw deflate is common in the wild
            "deflate" => read(&mut flate2::read::ZlibDecoder::new(&data[..]))
                .or_else(|_| read(&mut flate2::read::DeflateDecoder::new(&data[..]))),
            "br" => read(&mut brotli::Decompressor::new(&data[..], 4096)),
            "identity" => continue,
            other => {
                return Err(Error::bad(
                    "decode",
                    format!("cannot decode Content-Encoding `{other}`"),
                ))
            }
        };
        let out = res
            .map_err(|e| Error::bad("decode", format!("the {coding} body does not decode: {e}")))?;
        if out.len() > limit {
            return Err(Error::DecodedTooLarge { limit });
        }
        data = Bytes::from(out);
    }
    Ok(data)
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

/// A `curl` command line that reproduces the request's method, headers and exact body. `base`
/// overrides where it is sent (default: the request's own `Host`).
pub fn curl(r: &CapturedRequest, base: Option<&str>) -> String {
    let host = r
        .header("host")
        .or_else(|| r.header(":authority"))
        .map(|h| h.into_owned())
        .unwrap_or_else(|| "127.0.0.1:4665".into());
    let url = match base {
        Some(b) => format!("{}{}", b.trim_end_matches('/'), r.target),
        None if r.target.contains("://") => r.target.clone(),
        None => format!("http://{host}{}", r.target),
    };
    let mut parts: Vec<String> = vec!["curl".into()];
    if r.version == "HTTP/1.0" {
        parts.push("--http1.0".into());
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
            let url = if r.target.contains("://") {
                r.target.clone()
            } else {
                format!("http://{host}{}", r.target)
            };
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
                "queryString": r.query.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn codings(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_body_of_exactly_the_limit_decodes_and_one_byte_more_is_too_large() {
        let body = Bytes::from(gzip(&[7u8; 1000]));
        let out = decode_bounded(&body, &codings(&["gzip"]), 1000).unwrap();
        assert_eq!(&out[..], &[7u8; 1000][..]);
        match decode_bounded(&body, &codings(&["gzip"]), 999) {
            Err(Error::DecodedTooLarge { limit: 999 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn raw_deflate_identity_and_unknown_codings() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"raw deflate").unwrap();
        let raw = Bytes::from(e.finish().unwrap());
        let out = decode_bounded(&raw, &codings(&["deflate", "identity"]), 100).unwrap();
        assert_eq!(&out[..], b"raw deflate");
        let err = decode_bounded(&raw, &codings(&["zstd"]), 100).unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
        let err = decode_bounded(&raw, &codings(&["gzip"]), 100).unwrap_err();
        assert_eq!(err.status(), hyper::StatusCode::BAD_REQUEST);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 128,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any bytes under any list of codings: an answer, never a panic, never past the limit.
        #[test]
        fn decoding_anything_stays_within_the_limit(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            list in proptest::collection::vec(
                proptest::sample::select(vec!["gzip", "x-gzip", "deflate", "br", "identity", "zz"]),
                0..6,
            ),
            wrap in proptest::prelude::any::<bool>(),
            limit in 0usize..4096,
        ) {
            let body = if wrap { gzip(&data) } else { data.clone() };
            let list = codings(&list);
            match decode_bounded(&Bytes::from(body), &list, limit) {
                Ok(out) => proptest::prop_assert!(out.len() <= limit || list.iter().all(|c| c == "identity")),
                Err(e) => proptest::prop_assert!(matches!(e.status().as_u16(), 400 | 413)),
            }
        }
    }
}
