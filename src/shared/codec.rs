//! How a captured request is kept in Redis: four fields of a stream entry, the request's head
//! as compact JSON (`h`), its body bytes as they arrived (`b`), the response's head as JSON
//! (`rs`) and its body bytes (`rb`), plus the placeholder id the response was rendered with
//! (`ph`) when it has one: a reader puts the id in its place ([`settle_id`]). The id is the
//! entry's own (`<id>-0`) and the bin is the stream's, so neither is repeated. Bodies are stored raw, never re-encoded, so a request
//! reads back byte-exact, headers in order and case.
//!
//! Pure: no I/O. Uses `model`; used by `shared`.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::model::{
    Body, CapturedRequest, ForwardResult, Header, RequestId, ResponseSent, SignatureCheck, Timings,
};

/// A request's head as stored (`h`), as read back.
#[derive(Deserialize)]
struct Head<'a> {
    /// Received at, µs since the Unix epoch.
    t: i64,
    #[serde(default)]
    ht: u64,
    #[serde(default)]
    bt: u64,
    #[serde(borrow)]
    m: Cow<'a, str>,
    #[serde(borrow)]
    u: Cow<'a, str>,
    #[serde(borrow)]
    v: Cow<'a, str>,
    #[serde(borrow)]
    a: Cow<'a, str>,
    h: Vec<Header>,
    /// The body was cut at the size limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<Box<SignatureCheck>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fwd: Option<Box<ForwardResult>>,
}

/// [`Head`] as written, borrowing from the request.
#[derive(Serialize)]
struct HeadOut<'a> {
    t: i64,
    ht: u64,
    bt: u64,
    m: &'a str,
    u: &'a str,
    v: &'a str,
    a: String,
    h: &'a [Header],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    x: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sig: Option<&'a SignatureCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fwd: Option<&'a ForwardResult>,
}

/// [`Answer`] as written, borrowing from the response.
#[derive(Serialize)]
struct AnswerOut<'a> {
    s: u16,
    h: &'a [Header],
    d: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    x: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tr: bool,
}

/// The response's head as stored (`rs`), as read back.
#[derive(Deserialize)]
struct Answer {
    s: u16,
    #[serde(default)]
    h: Vec<Header>,
    #[serde(default)]
    d: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x: bool,
    /// The body was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    tr: bool,
}

/// A request as the four fields of its entry.
pub struct Encoded {
    pub head: Vec<u8>,
    pub body: Bytes,
    pub response: Vec<u8>,
    pub response_body: Bytes,
}

fn micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

fn from_micros(us: i64) -> SystemTime {
    if us >= 0 {
        UNIX_EPOCH + Duration::from_micros(us as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(us.unsigned_abs())
    }
}

/// The request's head fields (`h`).
pub fn head(r: &CapturedRequest) -> Vec<u8> {
    let h = HeadOut {
        t: micros(r.received_at),
        ht: r.timings.headers_us,
        bt: r.timings.body_us,
        m: &r.method,
        u: &r.target,
        v: &r.version,
        a: r.remote_addr.to_string(),
        h: &r.headers,
        x: r.body.truncated,
        sig: r.signature.as_deref(),
        fwd: r.forward.as_deref(),
    };
    let mut out = Vec::with_capacity(256);
    let _ = serde_json::to_writer(&mut out, &h);
    out
}

/// The response's head fields (`rs`).
pub fn answer(r: &ResponseSent) -> Vec<u8> {
    let a = AnswerOut {
        s: r.status,
        h: &r.headers,
        d: r.delay_ms,
        x: r.dropped,
        tr: r.body.truncated,
    };
    serde_json::to_vec(&a).unwrap_or_default()
}

/// Encodes a request for its entry.
pub fn encode(r: &CapturedRequest) -> Encoded {
    Encoded {
        head: head(r),
        body: r.body.bytes.clone(),
        response: answer(&r.response),
        response_body: r.response.body.bytes.clone(),
    }
}

/// Reads a request back from its entry's fields; `None` when they are not hookpit's.
pub fn decode(
    id: RequestId,
    bin: &str,
    head: &[u8],
    body: Vec<u8>,
    response: &[u8],
    response_body: Vec<u8>,
) -> Option<CapturedRequest> {
    let h: Head<'_> = serde_json::from_slice(head).ok()?;
    let a: Answer = serde_json::from_slice(response).ok()?;
    Some(CapturedRequest {
        id,
        bin: bin.to_owned(),
        received_at: from_micros(h.t),
        timings: Timings {
            headers_us: h.ht,
            body_us: h.bt,
        },
        method: crate::model::method_name(h.m),
        target: h.u.clone().into_owned(),
        split: None,
        version: match &*h.v {
            "HTTP/1.1" => "HTTP/1.1".into(),
            "HTTP/1.0" => "HTTP/1.0".into(),
            "HTTP/2.0" => "HTTP/2.0".into(),
            other => Cow::Owned(other.to_owned()),
        },
        remote_addr: h.a.parse().ok()?,
        headers: h.h,
        body: Body::new(Bytes::from(body), h.x),
        response: ResponseSent {
            status: a.s,
            headers: a.h.into(),
            body: Body::new(Bytes::from(response_body), a.tr),
            delay_ms: a.d,
            dropped: a.x,
        },
        signature: h.sig,
        forward: h.fwd,
    })
}

/// Where `needle` (not empty) first occurs in `hay` at or after `from`. A placeholder is
/// looked for in a response's few bytes: a scan for its first byte beats building a
/// substring finder each time.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while let Some(i) = memchr::memchr(first, hay.get(at..)?) {
        let start = at + i;
        if hay[start..].starts_with(needle) {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// Replaces every `from` in `bytes` with `to` (the id placeholder a response was rendered with
/// before its id was known); `None` when there is none.
pub fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut at = find(bytes, from, 0)?;
    let mut out = Vec::with_capacity(bytes.len() + to.len());
    let mut done = 0;
    loop {
        out.extend_from_slice(&bytes[done..at]);
        out.extend_from_slice(to);
        done = at + from.len();
        match find(bytes, from, done) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.extend_from_slice(&bytes[done..]);
    Some(out)
}

/// Whether a response rendered with `placeholder` shows it (body or header values).
pub fn shows(response: &Encoded, placeholder: RequestId) -> bool {
    let rendered = placeholder.to_string();
    find(&response.response, rendered.as_bytes(), 0).is_some()
        || find(&response.response_body, rendered.as_bytes(), 0).is_some()
}

/// Puts the real id in a response rendered with `placeholder` in its place (bodies and
/// header values).
pub fn settle_id(r: &mut ResponseSent, placeholder: RequestId, id: RequestId) {
    let (from, to) = (placeholder.to_string(), id.to_string());
    let from = from.as_bytes();
    if let Some(b) = replace(&r.body.bytes, from, to.as_bytes()) {
        r.body.bytes = Bytes::from(b);
    }
    // the headers are shared: copied only when one of them changes
    let mut changed: Option<Vec<Header>> = None;
    for (i, h) in r.headers.iter().enumerate() {
        if let Some(v) = replace(&h.value, from, to.as_bytes()) {
            changed.get_or_insert_with(|| r.headers.to_vec())[i].value = v.into_boxed_slice();
        }
    }
    if let Some(headers) = changed {
        r.headers = headers.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(body: Vec<u8>, headers: Vec<(String, Vec<u8>)>) -> CapturedRequest {
        let target = "/hook/a%20b?x=1&y=%E2%9C%93".to_string();
        CapturedRequest {
            id: 0,
            bin: "hook".into(),
            received_at: UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456),
            timings: Timings {
                headers_us: 12,
                body_us: 34,
            },
            method: "POST".into(),
            target,
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "[::1]:4242".parse().unwrap(),
            headers: headers
                .into_iter()
                .map(|(n, v)| Header::new(n, v))
                .collect(),
            body: Body::new(Bytes::from(body), false),
            response: ResponseSent {
                status: 201,
                headers: std::sync::Arc::from([Header::new("X-Id", &b"17"[..])]),
                body: Body::new(Bytes::from_static(b"{\"ok\":true}"), false),
                delay_ms: 5,
                dropped: false,
            },
            signature: None,
            forward: None,
        }
    }

    proptest! {
        #[test]
        fn any_request_reads_back_the_same_from_its_entry(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            headers in proptest::collection::vec(
                ("[A-Za-z][A-Za-z0-9-]{0,12}", proptest::collection::vec(any::<u8>(), 0..24)),
                0..8,
            ),
        ) {
            let r = sample(body, headers);
            let e = encode(&r);
            let back = decode(
                0,
                "hook",
                &e.head,
                e.body.to_vec(),
                &e.response,
                e.response_body.to_vec(),
            )
            .expect("decodes");
            prop_assert_eq!(back, r);
        }
    }

    #[test]
    fn the_placeholder_id_is_replaced_in_the_body_and_headers() {
        let mut r = sample(Vec::new(), Vec::new()).response;
        r.body.bytes =
            Bytes::from_static(b"{\"id\":1234567890123456789,\"again\":1234567890123456789}");
        r.headers = vec![Header::new("Location", &b"/r/1234567890123456789"[..])].into();
        settle_id(&mut r, 1_234_567_890_123_456_789, 42);
        assert_eq!(&r.body.bytes[..], b"{\"id\":42,\"again\":42}");
        assert_eq!(&*r.headers[0].value, b"/r/42");
    }

    proptest::proptest! {
        #[test]
        fn replacing_a_placeholder_matches_replacing_the_text(
            parts in proptest::collection::vec("[0-9a-z\"{}:,]{0,12}", 0..6),
            id in 0u64..1_000_000,
        ) {
            let ph = "1234567890123456789";
            let text = parts.join(ph);
            let want = text.replace(ph, &id.to_string());
            let got = replace(text.as_bytes(), ph.as_bytes(), id.to_string().as_bytes());
            match got {
                Some(b) => proptest::prop_assert_eq!(String::from_utf8(b).unwrap(), want),
                None => proptest::prop_assert!(!text.contains(ph)),
            }
        }
    }

    #[test]
    fn fields_that_are_not_hookpits_do_not_decode() {
        assert!(decode(1, "b", b"{}", Vec::new(), b"{\"s\":200}", Vec::new()).is_none());
        assert!(decode(1, "b", b"not json", Vec::new(), b"{}", Vec::new()).is_none());
    }
}
