//! An export read back: the bytes of an NDJSON export (one request JSON a line, as
//! `GET /_/api/bins/{bin}/export?format=ndjson` writes it) or of a HAR 1.2 log (as `render::har`
//! writes it, or another tool's HAR) turned into the captured requests they hold, in the file's
//! order, under stated limits ([`ImportLimits`]).
//!
//! Pure: uses `model`, `units` (sizes in messages) and `error`; does no I/O and never touches
//! the store (the API records what this returns). The whole file is read before anything is
//! returned, so a bad line or entry refuses the import as a whole; the error names the line (or
//! HAR entry) and what is wrong with it. No input makes it panic.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{Body, CapturedRequest, Header, RequestId, ResponseSent, Timings};
use crate::units::format_size;

/// The most requests one import takes: ten times a bin's default `--max-requests`.
pub const MAX_IMPORT_REQUESTS: usize = 100_000;

/// The longest a request's head or body may have taken to arrive, in microseconds (about
/// 12 days): larger recorded timings are not real ones, and sums of them must not overflow.
pub const MAX_TIMING_US: u64 = 1 << 40;

/// What one import may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// The file's size in bytes.
    pub max_bytes: usize,
    /// Requests in the file.
    pub max_requests: usize,
    /// A request's (or its response's) body, in bytes: the server's `--max-body`.
    pub max_body: usize,
}

impl ImportLimits {
    /// What a server with this `--max-body` and `--max-memory` takes: a file of at most a
    /// quarter of `--max-memory` (128 MiB by default), so the file, the requests parsed from it
    /// and the store's copy fit in the budget together; at most [`MAX_IMPORT_REQUESTS`]
    /// requests; bodies of at most `--max-body` each.
    pub fn for_server(max_body: usize, max_memory: usize) -> ImportLimits {
        ImportLimits {
            max_bytes: max_memory / 4,
            max_requests: MAX_IMPORT_REQUESTS,
            max_body,
        }
    }

    /// The 413 for a file larger than [`ImportLimits::max_bytes`].
    pub fn too_large(&self) -> Error {
        Error::Api {
            status: 413,
            code: "payload_too_large".into(),
            message: format!(
                "an import file may be at most {} ({} bytes, a quarter of --max-memory)",
                format_size(self.max_bytes),
                self.max_bytes
            ),
        }
    }

    fn too_many(&self) -> Error {
        Error::Api {
            status: 413,
            code: "payload_too_large".into(),
            message: format!(
                "an import may hold at most {} requests; split the file",
                self.max_requests
            ),
        }
    }
}

/// What an import did: how many requests went in, and the new ids of the first and last
/// (none when the file held no request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Imported {
    pub imported: usize,
    pub first_id: Option<RequestId>,
    pub last_id: Option<RequestId>,
}

/// The two formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One request JSON (SPEC §3) a line.
    Ndjson,
    /// A HAR 1.2 log.
    Har,
}

/// The format of a file, from its content: a JSON object with a `log` key is HAR, anything
/// else is read as NDJSON.
pub fn detect(bytes: &[u8]) -> Format {
    #[derive(serde::Deserialize)]
    struct Probe {
        log: Option<serde::de::IgnoredAny>,
    }
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    if bytes.get(start) != Some(&b'{') {
        return Format::Ndjson;
    }
    // the first value only: one line of NDJSON, or the whole HAR skipped without building it
    match serde_json::Deserializer::from_slice(&bytes[start..])
        .into_iter::<Probe>()
        .next()
    {
        Some(Ok(Probe { log: Some(_) })) => Format::Har,
        _ => Format::Ndjson,
    }
}

/// The requests an export holds, in its order, with the ids, bins and times it recorded (the
/// caller gives them new ids and its bin). A file over `limits`, a line that is not a request
/// JSON, or a HAR entry missing what a request needs is an error naming the line or entry.
pub fn parse(bytes: &[u8], limits: &ImportLimits) -> Result<Vec<CapturedRequest>> {
    if bytes.len() > limits.max_bytes {
        return Err(limits.too_large());
    }
    // editors on some systems open a text file with a byte order mark
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match detect(bytes) {
        Format::Ndjson => parse_ndjson(bytes, limits),
        Format::Har => parse_har(bytes, limits),
    }
}

fn refuse(message: String) -> Error {
    Error::bad("import", message)
}

fn parse_ndjson(bytes: &[u8], limits: &ImportLimits) -> Result<Vec<CapturedRequest>> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if out.len() == limits.max_requests {
            return Err(limits.too_many());
        }
        let mut de = serde_json::Deserializer::from_slice(line);
        let mut req: CapturedRequest = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| refuse(json_error(&format!("line {n}"), e)))?;
        // the decoded path and query are views of the target, as when it was captured (and
        // as the data directory keeps them)
        req.split = None;
        de.end().map_err(|e| {
            refuse(format!(
                "line {n}, column {}: more than one JSON value on the line",
                e.column()
            ))
        })?;
        check(&req, limits).map_err(|why| refuse(format!("line {n}: {why}")))?;
        out.push(req);
    }
    Ok(out)
}

/// `where, column C: path: message` for a JSON error (serde's own position suffix dropped).
fn json_error(place: &str, e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    let at = if inner.line() > 1 {
        format!(
            "{place} (line {} of it), column {}",
            inner.line(),
            inner.column()
        )
    } else {
        format!("{place}, column {}", inner.column())
    };
    // `?` is a part of the path serde could not name (a syntax error inside a value)
    let path = path.strip_suffix(".?").unwrap_or(&path);
    if path == "." || path == "?" {
        format!("{at}: {msg}")
    } else {
        format!("{at}: {path}: {msg}")
    }
}

/// Whether a request is one hookpit could have captured and can show, send on and render.
fn check(r: &CapturedRequest, limits: &ImportLimits) -> std::result::Result<(), String> {
    if !is_token(&r.method) {
        return Err(format!("method `{}` is not an HTTP method", r.method));
    }
    if r.target.is_empty() || r.target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "target `{}` is not a request target (empty, or with spaces or control characters)",
            r.target
        ));
    }
    if r.version.is_empty()
        || r.version.len() > 16
        || r.version.bytes().any(|b| b <= b' ' || b >= 0x7f)
    {
        return Err(format!("version `{}` is not an HTTP version", r.version));
    }
    if r.timings.headers_us > MAX_TIMING_US || r.timings.body_us > MAX_TIMING_US {
        return Err(format!(
            "timings: more than {MAX_TIMING_US} µs to read a request is not a timing"
        ));
    }
    if r.response.status != 0 && !(100..=999).contains(&r.response.status) {
        return Err(format!(
            "response.status {} is not an HTTP status",
            r.response.status
        ));
    }
    check_headers("headers", &r.headers)?;
    check_headers("response.headers", &r.response.headers)?;
    check_body("body", &r.body, limits)?;
    check_body("response.body", &r.response.body, limits)?;
    if let Some(f) = &r.forward {
        check_headers("forward.headers", &f.headers)?;
        check_body("forward.body", &f.body, limits)?;
    }
    Ok(())
}

fn check_headers(what: &str, headers: &[Header]) -> std::result::Result<(), String> {
    for (i, h) in headers.iter().enumerate() {
        let name = h.name.strip_prefix(':').unwrap_or(&h.name);
        if !is_token(name) {
            return Err(format!(
                "{what}[{i}]: `{}` is not a header name",
                h.name.escape_debug()
            ));
        }
        if h.value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!(
                "{what}[{i}] ({}): a header value may not hold CR, LF or NUL",
                h.name
            ));
        }
    }
    Ok(())
}

fn check_body(what: &str, body: &Body, limits: &ImportLimits) -> std::result::Result<(), String> {
    if body.omitted {
        return Err(format!(
            "{what}: its bytes were left out of this export (`omitted`); export with bodies"
        ));
    }
    if body.bytes.len() > limits.max_body {
        return Err(format!(
            "{what}: {} bytes is more than --max-body ({} bytes)",
            body.bytes.len(),
            limits.max_body
        ));
    }
    Ok(())
}

/// An HTTP token (RFC 9110 `tchar`s), as methods and header names are.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn parse_har(bytes: &[u8], limits: &ImportLimits) -> Result<Vec<CapturedRequest>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc: Value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| refuse(json_error("HAR", e)))?;
    de.end().map_err(|e| {
        refuse(format!(
            "HAR: line {}, column {}: more JSON after the log",
            e.line(),
            e.column()
        ))
    })?;
    let entries = doc["log"]["entries"]
        .as_array()
        .ok_or_else(|| refuse("HAR: log.entries is not a list".into()))?;
    if entries.len() > limits.max_requests {
        return Err(limits.too_many());
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            har_entry(e, limits)
                .map_err(|why| refuse(format!("HAR entry {} (log.entries[{i}]): {why}", i + 1)))
        })
        .collect()
}

/// The value at a dotted path (`request.postData.text`).
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn string<'a>(v: &'a Value, path: &str) -> std::result::Result<&'a str, String> {
    match at(v, path) {
        Value::String(s) => Ok(s),
        Value::Null => Err(format!("{path} is missing")),
        _ => Err(format!("{path} is not a string")),
    }
}

fn opt_string<'a>(v: &'a Value, path: &str) -> std::result::Result<Option<&'a str>, String> {
    match at(v, path) {
        Value::Null => Ok(None),
        _ => string(v, path).map(Some),
    }
}

fn har_headers(v: &Value, path: &str) -> std::result::Result<Vec<Header>, String> {
    let list = match at(v, path) {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(format!("{path} is not a list")),
    };
    list.iter()
        .enumerate()
        .map(|(i, h)| {
            let name = string(h, "name").map_err(|e| format!("{path}[{i}].{e}"))?;
            let value = string(h, "value").map_err(|e| format!("{path}[{i}].{e}"))?;
            Ok(Header::new(name, value.as_bytes()))
        })
        .collect()
}

/// A HAR body: `text`, base64 when `encoding` (or the request's `_encoding`) says so.
fn har_body(v: &Value, path: &str) -> std::result::Result<Bytes, String> {
    let text = match opt_string(v, &format!("{path}.text"))? {
        Some(t) => t,
        None => return Ok(Bytes::new()),
    };
    let encoding = match opt_string(v, &format!("{path}.encoding"))? {
        Some(e) => Some(e),
        None => opt_string(v, &format!("{path}._encoding"))?,
    };
    match encoding {
        None | Some("") => Ok(Bytes::copy_from_slice(text.as_bytes())),
        Some(e) if e.eq_ignore_ascii_case("base64") => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(|e| format!("{path}.text is not base64: {e}")),
        Some(e) => Err(format!("{path}: unknown encoding `{e}` (base64 or none)")),
    }
}

/// The request target of a HAR URL: its path and query when the URL names the request's own
/// `Host` (how hookpit writes an origin-form target), else the URL itself (absolute form).
fn har_target(url: &str, headers: &[Header]) -> std::result::Result<String, String> {
    if url.starts_with('/') {
        return Ok(url.to_owned());
    }
    let Some((_, after)) = url.split_once("://") else {
        return Err(format!("request.url `{url}` is not a URL"));
    };
    let (authority, rest) = match after.find(['/', '?', '#']) {
        Some(j) => after.split_at(j),
        None => (after, ""),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let host = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host") || &*h.name == ":authority")
        .map(|h| h.value_str());
    if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
        Ok(match rest {
            "" => "/".to_owned(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_owned(),
        })
    } else {
        Ok(url.to_owned())
    }
}

/// An RFC 3339 time, in UTC (`Z`) or with an offset (`+02:00`).
fn har_time(s: &str) -> std::result::Result<SystemTime, String> {
    let bad = || format!("startedDateTime `{s}` is not an RFC 3339 time");
    let b = s.as_bytes();
    let offset = match b.len().checked_sub(6).map(|i| (i, &b[i..])) {
        Some((i, [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2])) if i >= 19 => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let d = |x: u8| u64::from(x - b'0');
            let secs =
                (d(digits[0]) * 10 + d(digits[1])) * 3600 + (d(digits[2]) * 10 + d(digits[3])) * 60;
            Some((i, *sign == b'+', secs))
        }
        _ => None,
    };
    match offset {
        None => humantime::parse_rfc3339_weak(s).map_err(|_| bad()),
        Some((i, ahead, secs)) => {
            let local = humantime::parse_rfc3339_weak(&s[..i]).map_err(|_| bad())?;
            let shift = Duration::from_secs(secs);
            if ahead {
                local.checked_sub(shift)
            } else {
                local.checked_add(shift)
            }
            .ok_or_else(bad)
        }
    }
}

fn har_entry(e: &Value, limits: &ImportLimits) -> std::result::Result<CapturedRequest, String> {
    let method = string(e, "request.method")?.to_owned();
    let url = string(e, "request.url")?;
    let headers = har_headers(e, "request.headers")?;
    let target = har_target(url, &headers)?;
    let version = match opt_string(e, "request.httpVersion")? {
        None | Some("") => "HTTP/1.1".to_owned(),
        Some(v) => v.to_owned(),
    };
    let received_at = har_time(string(e, "startedDateTime")?)?;
    let remote_addr = match opt_string(e, "_remoteAddress")? {
        Some(a) => a
            .parse()
            .map_err(|_| format!("_remoteAddress `{a}` is not an address and port"))?,
        None => SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let body = har_body(e, "request.postData")?;
    let status = match at(e, "response.status") {
        Value::Null => 0,
        v => v
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| *s <= 999)
            .ok_or_else(|| format!("response.status `{v}` is not an HTTP status"))?,
    };
    let delay_ms = at(e, "timings.wait")
        .as_f64()
        .filter(|w| w.is_finite() && *w > 0.0 && *w < 1e12)
        .map_or(0, |w| w.round() as u64);
    let r = CapturedRequest {
        id: 0,
        bin: String::new(),
        received_at,
        timings: Timings::default(),
        method: crate::model::method_name(method),
        target,
        split: None,
        version: version.into(),
        remote_addr,
        headers,
        body: Body::new(body, false),
        response: ResponseSent {
            status,
            headers: har_headers(e, "response.headers")?.into(),
            body: Body::new(har_body(e, "response.content")?, false),
            delay_ms,
            dropped: false,
        },
        signature: None,
        forward: None,
    };
    check(&r, limits)?;
    Ok(r)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{ForwardResult, SignatureCheck};

    const LIMITS: ImportLimits = ImportLimits {
        max_bytes: 1 << 20,
        max_requests: 100,
        max_body: 64 * 1024,
    };

    fn ndjson(reqs: &[CapturedRequest]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in reqs {
            serde_json::to_writer(&mut out, r).unwrap();
            out.push(b'\n');
        }
        out
    }

    fn sample(id: RequestId) -> CapturedRequest {
        CapturedRequest {
            id,
            bin: "orders".into(),
            received_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_780_000_000_123_456),
            timings: Timings {
                headers_us: 12,
                body_us: 34,
            },
            method: "POST".into(),
            target: "/orders/paid?x=1&x=2".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:5000".parse().unwrap(),
            headers: vec![
                Header::new("Host", &b"127.0.0.1:4665"[..]),
                Header::new("x-Dup", &b"a"[..]),
                Header::new("Content-Type", &b"application/octet-stream"[..]),
                Header::new("X-DUP", vec![0xff, b'b']),
            ],
            body: Body::new(Bytes::from_static(b"\x00\xff\xfebinary"), true),
            response: ResponseSent {
                status: 202,
                headers: Arc::from([Header::new("X-Reply", &b"yes"[..])]),
                body: Body::new(Bytes::from_static(b"ok"), false),
                delay_ms: 5,
                dropped: false,
            },
            signature: None,
            forward: None,
        }
    }

    #[test]
    fn an_ndjson_export_parses_back_to_the_same_requests() {
        let mut b = sample(2);
        b.method = "GET".into();
        b.body = Body::default();
        b.signature = Some(Box::new(SignatureCheck {
            scheme: "standard-webhooks".into(),
            valid: false,
            reason: Some("no signature header".into()),
            expected: None,
            received: None,
        }));
        let reqs = vec![sample(1), b];
        let file = ndjson(&reqs);
        assert_eq!(detect(&file), Format::Ndjson);
        assert_eq!(parse(&file, &LIMITS).unwrap(), reqs);
        // blank lines and CRLF endings are fine; an empty file holds no request
        let mut spaced = b"\r\n".to_vec();
        spaced.extend(
            String::from_utf8(file)
                .unwrap()
                .replace('\n', "\r\n\r\n")
                .bytes(),
        );
        assert_eq!(parse(&spaced, &LIMITS).unwrap(), reqs);
        let mut marked = b"\xEF\xBB\xBF".to_vec();
        marked.extend(ndjson(&reqs));
        assert_eq!(parse(&marked, &LIMITS).unwrap(), reqs);
        assert_eq!(parse(b"", &LIMITS).unwrap(), vec![]);
    }

    #[test]
    fn a_bad_line_is_named_with_what_is_wrong_and_nothing_is_returned() {
        let mut file = ndjson(&[sample(1), sample(2)]);
        file.extend_from_slice(b"{\"id\": 3, \"method\": 7}\n");
        file.extend(ndjson(&[sample(4)]));
        let e = parse(&file, &LIMITS).unwrap_err();
        assert_eq!(e.status(), 400);
        let msg = e.to_string();
        assert!(msg.starts_with("import: line 3, column "), "{msg}");
        assert!(msg.contains("method: invalid type: integer `7`"), "{msg}");

        let e = parse(b"{\"id\":1}\n", &LIMITS).unwrap_err().to_string();
        assert!(e.contains("line 1, column 8: missing field `bin`"), "{e}");
        let e = parse(b"\n\nnot json\n", &LIMITS).unwrap_err().to_string();
        assert!(e.starts_with("import: line 3, column 2: expected"), "{e}");
        let mut two = ndjson(&[sample(1)]);
        two.pop();
        two.extend(ndjson(&[sample(2)]));
        let e = parse(&two, &LIMITS).unwrap_err().to_string();
        assert!(e.contains("line 1, column "), "{e}");
        assert!(e.contains("more than one JSON value on the line"), "{e}");
    }

    #[test]
    fn a_syntax_error_is_named_by_its_position_without_an_unknown_path() {
        let e = parse(b"{\"id\":1, x}\n", &LIMITS).unwrap_err().to_string();
        assert_eq!(e, "import: line 1, column 10: key must be a string");
        let e = parse(b"{\"id\":1,\"headers\":[[\"a\", x]]}\n", &LIMITS)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('?'), "{e}");
    }

    #[test]
    fn requests_hookpit_could_not_have_captured_are_refused_by_line() {
        type Spoil = fn(&mut CapturedRequest);
        let cases: Vec<(Spoil, &str)> = vec![
            (|r| r.method = "PO ST".into(), "method `PO ST`"),
            (|r| r.target = "/a b".into(), "target `/a b`"),
            (|r| r.version = "".into(), "version ``"),
            (
                |r| r.headers.push(Header::new("Bad Name", &b"x"[..])),
                "headers[4]: `Bad Name` is not a header name",
            ),
            (
                |r| {
                    r.headers
                        .push(Header::new("X-Split", &b"a\r\nInjected: 1"[..]))
                },
                "headers[4] (X-Split): a header value may not hold CR, LF or NUL",
            ),
            (
                |r| {
                    let mut hs = r.response.headers.to_vec();
                    hs.push(Header::new("", &b""[..]));
                    r.response.headers = hs.into();
                },
                "response.headers[1]",
            ),
            (|r| *r = r.without_body(), "body: its bytes were left out"),
            (
                |r| r.body.bytes = Bytes::from(vec![b'a'; 64 * 1024 + 1]),
                "body: 65537 bytes is more than --max-body (65536 bytes)",
            ),
            (
                |r| {
                    r.forward = Some(Box::new(ForwardResult {
                        url: "http://x/".into(),
                        status: Some(200),
                        headers: Vec::new(),
                        body: Body::new(Bytes::from(vec![0; 70_000]), false),
                        latency_ms: 1.0,
                        error: None,
                    }))
                },
                "forward.body: 70000 bytes",
            ),
        ];
        for (spoil, want) in cases {
            let mut bad = sample(2);
            spoil(&mut bad);
            let e = parse(&ndjson(&[sample(1), bad]), &LIMITS)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("import: line 2: "), "{e}");
            assert!(e.contains(want), "{e} lacks {want}");
        }
        // HTTP/2 pseudo-headers are names hookpit captures
        let mut h2 = sample(1);
        h2.headers.insert(0, Header::new(":authority", &b"h"[..]));
        assert_eq!(parse(&ndjson(&[h2.clone()]), &LIMITS).unwrap(), vec![h2]);
    }

    #[test]
    fn files_past_the_limits_are_refused_with_413_naming_the_limit() {
        let file = ndjson(&[sample(1), sample(2), sample(3)]);
        let small = ImportLimits {
            max_bytes: file.len() - 1,
            ..LIMITS
        };
        let e = parse(&file, &small).unwrap_err();
        assert_eq!(e.status(), 413);
        assert!(
            e.to_string()
                .contains(&format!("({} bytes,", file.len() - 1)),
            "{e}"
        );
        let few = ImportLimits {
            max_requests: 2,
            ..LIMITS
        };
        let e = parse(&file, &few).unwrap_err();
        assert_eq!(e.status(), 413);
        assert!(e.to_string().contains("at most 2 requests"), "{e}");
        let har = render_har(&[sample(1), sample(2), sample(3)]);
        assert_eq!(parse(&har, &few).unwrap_err().status(), 413);
        assert_eq!(parse(&file[..file.len() / 3], &few).unwrap().len(), 1);
        let server = ImportLimits::for_server(10 << 20, 512 << 20);
        assert_eq!(server.max_bytes, 128 << 20);
        assert_eq!(server.max_body, 10 << 20);
    }

    fn render_har(reqs: &[CapturedRequest]) -> Vec<u8> {
        let arcs: Vec<Arc<CapturedRequest>> = reqs.iter().cloned().map(Arc::new).collect();
        serde_json::to_vec(&crate::render::har(&arcs)).unwrap()
    }

    #[test]
    fn a_har_export_reads_back_what_har_carries() {
        let mut text = sample(2);
        text.method = "PUT".into();
        text.headers[3] = Header::new("X-DUP", &b"b"[..]);
        text.body = Body::new(Bytes::from_static("caf\u{e9} {\"a\":1}".as_bytes()), false);
        text.response.body = Body::new(Bytes::from_static(&[0, 1, 2, 0xff]), false);
        let mut empty = sample(3);
        empty.method = "GET".into();
        empty.body = Body::default();
        empty.response = ResponseSent {
            status: 404,
            ..ResponseSent::default()
        };
        let mut absolute = sample(4);
        absolute.target = "http://elsewhere.example/orders/x?y=1".into();
        let reqs = vec![sample(1), text, empty, absolute];
        let har = render_har(&reqs);
        assert_eq!(detect(&har), Format::Har);
        let back = parse(&har, &LIMITS).unwrap();
        assert_eq!(back.len(), 4);
        for (got, want) in back.iter().zip(&reqs) {
            assert_eq!(got.method, want.method);
            assert_eq!(got.target, want.target);
            assert_eq!(got.path(), want.path());
            assert!(got.query().eq(want.query()));
            assert_eq!(got.version, want.version);
            assert_eq!(got.received_at, want.received_at);
            assert_eq!(got.remote_addr, want.remote_addr);
            assert_eq!(got.body.bytes, want.body.bytes);
            assert_eq!(got.response.status, want.response.status);
            assert_eq!(got.response.headers, want.response.headers);
            assert_eq!(got.response.body.bytes, want.response.body.bytes);
            assert_eq!(got.response.delay_ms, want.response.delay_ms);
            // HAR's header values are text: a value that is not UTF-8 comes back lossy
            let names: Vec<&str> = got.headers.iter().map(|h| &*h.name).collect();
            let want_names: Vec<&str> = want.headers.iter().map(|h| &*h.name).collect();
            assert_eq!(names, want_names);
        }
        assert_eq!(back[1].headers, reqs[1].headers);
        assert_eq!(back[0].headers[3].value[..], "\u{fffd}b".as_bytes()[..]);
        // what HAR does not carry: the truncated flag, the timings' split, the verdicts
        assert!(!back[0].body.truncated);
        assert_eq!(back[0].timings, Timings::default());
    }

    #[test]
    fn a_har_from_another_tool_is_read_with_its_offsets_and_encodings() {
        let har = br#"{
          "log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": [
            {"startedDateTime": "2026-11-28T12:00:00.5+02:00",
             "request": {"method": "POST", "url": "https://api.example/hook?a=b",
               "httpVersion": "http/2.0", "headers": [{"name": ":authority", "value": "api.example"}],
               "postData": {"mimeType": "application/octet-stream", "text": "AP8=", "encoding": "base64"}},
             "response": {"status": 204, "headers": [], "content": {"size": 0, "text": ""}},
             "timings": {"send": 0, "wait": -1, "receive": 0}}
          ]}}"#;
        let r = &parse(har, &LIMITS).unwrap()[0];
        assert_eq!(r.target, "/hook?a=b");
        assert_eq!(r.version, "http/2.0");
        assert_eq!(&r.body.bytes[..], &[0, 0xff]);
        assert_eq!(r.response.status, 204);
        assert_eq!(r.response.delay_ms, 0);
        assert_eq!(
            crate::model::format_time(r.received_at),
            "2026-11-28T10:00:00.500000Z"
        );
        assert_eq!(r.remote_addr, SocketAddr::from(([0, 0, 0, 0], 0)));
    }

    #[test]
    fn a_bad_har_entry_is_named_by_its_number() {
        let mut har: Value = serde_json::from_slice(&render_har(&[sample(1), sample(2)])).unwrap();
        har["log"]["entries"][1]["request"]
            .as_object_mut()
            .unwrap()
            .remove("url");
        let e = parse(&serde_json::to_vec(&har).unwrap(), &LIMITS)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "import: HAR entry 2 (log.entries[1]): request.url is missing"
        );
        har["log"]["entries"][1]["request"]["url"] = "http://127.0.0.1:4665/".into();
        har["log"]["entries"][1]["request"]["postData"]["text"] = "@@".into();
        let e = parse(&serde_json::to_vec(&har).unwrap(), &LIMITS)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "import: HAR entry 2 (log.entries[1]): request.postData.text is not base64"
            ),
            "{e}"
        );
        let e = parse(b"{\"log\": {\"entries\": 5}}", &LIMITS)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "import: HAR: log.entries is not a list");
    }

    pub(crate) mod properties {
        use proptest::prelude::*;

        use super::*;

        fn token() -> impl Strategy<Value = String> {
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
        }

        fn value() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(any::<u8>(), 0..24).prop_map(|v| {
                v.into_iter()
                    .filter(|b| !matches!(b, b'\r' | b'\n' | 0))
                    .collect()
            })
        }

        fn headers() -> impl Strategy<Value = Vec<Header>> {
            prop::collection::vec(
                (token(), value()).prop_map(|(n, v)| Header::new(n, v)),
                0..6,
            )
        }

        fn body() -> impl Strategy<Value = Body> {
            (
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..64),
                    "\\PC{0,32}".prop_map(String::into_bytes),
                ],
                any::<bool>(),
            )
                .prop_map(|(b, t)| Body::new(Bytes::from(b), t))
        }

        prop_compose! {
            /// Any request hookpit could have captured (ids arbitrary, bin `b`).
            pub(crate) fn request()(
                id in any::<u64>(),
                micros in 0u64..4_000_000_000_000_000,
                timings in (0..=MAX_TIMING_US, 0..=MAX_TIMING_US),
                method in token(),
                target in "/[!-~]{0,20}",
                version in prop_oneof![Just("HTTP/1.0"), Just("HTTP/1.1"), Just("HTTP/2")],
                addr in (any::<std::net::IpAddr>(), any::<u16>()),
                headers in headers(),
                body in body(),
                response in (prop_oneof![Just(0u16), 100u16..1000], headers(), body(), any::<u64>(), any::<bool>()),
                signature in prop::option::of((token(), any::<bool>(), prop::option::of("\\PC{0,10}"))),
                forward in prop::option::of((
                    "\\PC{0,10}", prop::option::of(any::<u16>()), headers(), body(),
                    0u32..1_000_000, prop::option::of("\\PC{0,10}"),
                )),
            ) -> CapturedRequest {
                CapturedRequest {
                    id,
                    bin: "b".into(),
                    received_at: SystemTime::UNIX_EPOCH + Duration::from_micros(micros),
                    timings: Timings { headers_us: timings.0, body_us: timings.1 },
                    method: method.into(),
                    target,
                    split: None,
                    version: version.into(),
                    remote_addr: addr.into(),
                    headers,
                    body,
                    response: ResponseSent {
                        status: response.0,
                        headers: response.1.into(),
                        body: response.2,
                        delay_ms: response.3,
                        dropped: response.4,
                    },
                    signature: signature.map(|(scheme, valid, reason)| {
                        Box::new(SignatureCheck {
                            scheme,
                            valid,
                            reason,
                            expected: None,
                            received: None,
                        })
                    }),
                    forward: forward.map(|(url, status, headers, body, ms, error)| {
                        Box::new(ForwardResult {
                            url,
                            status,
                            headers,
                            body,
                            latency_ms: f64::from(ms) / 8.0,
                            error,
                        })
                    }),
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_request_written_as_an_ndjson_line_parses_back_the_same(
                reqs in prop::collection::vec(request(), 1..4),
            ) {
                let back = parse(&ndjson(&reqs), &LIMITS).expect("its own export parses");
                prop_assert_eq!(back, reqs);
            }

            #[test]
            fn arbitrary_bytes_never_panic_the_parser(
                prefix in prop_oneof![
                    Just(Vec::new()),
                    Just(b"{\"log\":{\"entries\":[".to_vec()),
                    Just(b"{\"log\":{\"entries\":[{\"request\":".to_vec()),
                    Just(b"{\"id\":1,\"bin\":\"b\",".to_vec()),
                ],
                bytes in prop::collection::vec(any::<u8>(), 0..256),
            ) {
                let mut file = prefix;
                file.extend(bytes);
                if let Err(e) = parse(&file, &LIMITS) {
                    prop_assert!(matches!(e.status().as_u16(), 400 | 413), "{e}");
                }
            }

            #[test]
            fn a_damaged_export_is_refused_or_read_without_panicking(
                req in request(),
                cut in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let mut file = ndjson(std::slice::from_ref(&req));
                let har = render_har(&[req]);
                for mut f in [file.clone(), har] {
                    let i = cut.index(f.len());
                    f[i] = byte;
                    let _ = parse(&f, &LIMITS);
                    f.truncate(i);
                    let _ = parse(&f, &LIMITS);
                }
                // a cut line is refused; only the cut of its final newline leaves it whole
                let whole = file.len();
                let i = cut.index(whole);
                file.truncate(i);
                match parse(&file, &LIMITS).map(|r| r.len()) {
                    Err(_) => {}
                    Ok(0) => prop_assert_eq!(i, 0),
                    Ok(n) => prop_assert!(n == 1 && i == whole - 1, "{n} requests from {i} of {whole} bytes"),
                }
            }
        }
    }
}
