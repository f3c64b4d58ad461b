//! Plain data shared by every layer: a captured request exactly as it arrived, the response
//! hookpit sent back, bin summaries and the websocket event shapes of SPEC §3 and §12.
//!
//! Owns no state and does no I/O; it may be used by every module and uses none of them. The JSON
//! shapes produced here are the public contract, so they are built in one place.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The global, monotonically increasing id of a captured request.
pub type RequestId = u64;

/// One header exactly as received: original name case, value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Shared: the wire tap hands out one allocation per distinct name on a connection.
    pub name: Arc<str>,
    pub value: Box<[u8]>,
}

impl Header {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Box<[u8]>>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The value as text (lossy where the bytes are not UTF-8).
    pub fn value_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

impl Serialize for Header {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&*self.name)?;
        match std::str::from_utf8(&self.value) {
            Ok(text) => t.serialize_element(text)?,
            Err(_) => t.serialize_element(&B64Value {
                base64: base64::engine::general_purpose::STANDARD.encode(&self.value),
            })?,
        }
        t.end()
    }
}

#[derive(Serialize, Deserialize)]
struct B64Value {
    base64: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderValueRepr {
    Text(String),
    Bytes(B64Value),
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, value): (String, HeaderValueRepr) = Deserialize::deserialize(d)?;
        let value = match value {
            HeaderValueRepr::Text(t) => t.into_bytes(),
            HeaderValueRepr::Bytes(b) => base64::engine::general_purpose::STANDARD
                .decode(b.base64)
                .map_err(D::Error::custom)?,
        };
        Ok(Header::new(name, value))
    }
}

/// A body's bytes with their JSON form `{size, truncated, encoding, text|base64}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub bytes: Bytes,
    pub truncated: bool,
    /// Set when the JSON form left the bytes out (`?body=false`) or cut them (a preview).
    pub omitted: bool,
    /// The size of the left-out bytes, when `omitted`.
    pub omitted_size: usize,
}

impl Body {
    pub fn new(bytes: Bytes, truncated: bool) -> Self {
        Body {
            bytes,
            truncated,
            omitted: false,
            omitted_size: 0,
        }
    }

    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

#[derive(Serialize, Deserialize)]
struct BodyRepr {
    size: usize,
    truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    omitted: bool,
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut repr = BodyRepr {
            size: if self.omitted {
                self.omitted_size
            } else {
                self.bytes.len()
            },
            truncated: self.truncated,
            encoding: None,
            text: None,
            base64: None,
            omitted: self.omitted,
        };
        if !self.omitted {
            match std::str::from_utf8(&self.bytes) {
                Ok(t) => {
                    repr.encoding = Some("utf8".into());
                    repr.text = Some(t.to_owned());
                }
                Err(_) => {
                    repr.encoding = Some("base64".into());
                    repr.base64 =
                        Some(base64::engine::general_purpose::STANDARD.encode(&self.bytes));
                }
            }
        }
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = BodyRepr::deserialize(d)?;
        let bytes = match (r.text, r.base64) {
            (Some(t), _) => Bytes::from(t),
            (None, Some(b)) => Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(D::Error::custom)?,
            ),
            (None, None) => Bytes::new(),
        };
        let omitted = r.omitted || r.encoding.is_none() && r.size > 0;
        Ok(Body {
            bytes,
            truncated: r.truncated,
            omitted,
            omitted_size: if omitted { r.size } else { 0 },
        })
    }
}

/// How long reading the request took, in microseconds from the connection's first byte of
/// this request (as far as hookpit can see it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub headers_us: u64,
    pub body_us: u64,
}

/// What hookpit answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseSent {
    pub status: u16,
    /// Shared: a bin's default answer, or a rule's, has the same headers for every request.
    #[serde(default)]
    pub headers: Arc<[Header]>,
    #[serde(default)]
    pub body: Body,
    #[serde(default)]
    pub delay_ms: u64,
    /// The connection was dropped instead of answering (a fault rule).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}

/// The outcome of checking an incoming request's signature. For an invalid one, `reason` says
/// why in words a person can act on (the signature doctor's finding), `expected` is the
/// signature the bin's secret gives over the body as received and `received` the one sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureCheck {
    pub scheme: String,
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
}

/// What a forward target answered (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardResult {
    pub url: String,
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub body: Body,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// One captured request exactly as it arrived (SPEC §3).
///
/// Its decoded path and query pairs are not kept: they are what [`split_target`] makes of
/// `target`, worked out when asked for ([`CapturedRequest::path`], [`CapturedRequest::query`]),
/// so a kept request holds no copy of them. Only a request read from JSON whose `path` or
/// `query` say otherwise than its target keeps them, in `split`.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedRequest {
    pub id: RequestId,
    pub bin: String,
    pub received_at: SystemTime,
    pub timings: Timings,
    /// Borrowed for the common methods ([`method_name`]): a kept request needs no copy of them.
    pub method: Cow<'static, str>,
    pub target: String,
    /// The path and query pairs when they are not the target's (see above); `None` otherwise.
    pub split: Option<Box<Split>>,
    pub version: std::borrow::Cow<'static, str>,
    pub remote_addr: SocketAddr,
    pub headers: Vec<Header>,
    pub body: Body,
    pub response: ResponseSent,
    /// Boxed, like `forward`: most requests have neither, and every kept request pays for the
    /// inline size of these fields.
    pub signature: Option<Box<SignatureCheck>>,
    pub forward: Option<Box<ForwardResult>>,
}

/// A decoded path and its query pairs, kept only where they differ from what the target gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub path: String,
    pub query: Vec<(String, String)>,
}

/// The JSON form of a [`CapturedRequest`] as it is read (SPEC §3): every field, `path` and
/// `query` among them.
#[derive(Deserialize)]
struct CapturedRepr {
    id: RequestId,
    bin: String,
    #[serde(with = "rfc3339")]
    received_at: SystemTime,
    #[serde(default)]
    timings: Timings,
    method: String,
    target: String,
    path: String,
    query: Vec<(String, String)>,
    version: std::borrow::Cow<'static, str>,
    remote_addr: SocketAddr,
    headers: Vec<Header>,
    body: Body,
    response: ResponseSent,
    #[serde(default)]
    signature: Option<Box<SignatureCheck>>,
    #[serde(default)]
    forward: Option<Box<ForwardResult>>,
}

impl Serialize for CapturedRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Time(SystemTime);
        impl Serialize for Time {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                rfc3339::serialize(&self.0, s)
            }
        }
        struct Query<'a>(&'a CapturedRequest);
        impl Serialize for Query<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.query())
            }
        }
        let n = 13 + usize::from(self.signature.is_some()) + usize::from(self.forward.is_some());
        let mut st = s.serialize_struct("CapturedRequest", n)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("bin", &self.bin)?;
        st.serialize_field("received_at", &Time(self.received_at))?;
        st.serialize_field("timings", &self.timings)?;
        st.serialize_field("method", &self.method)?;
        st.serialize_field("target", &self.target)?;
        st.serialize_field("path", &*self.path())?;
        st.serialize_field("query", &Query(self))?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("remote_addr", &self.remote_addr)?;
        st.serialize_field("headers", &self.headers)?;
        st.serialize_field("body", &self.body)?;
        st.serialize_field("response", &self.response)?;
        if let Some(sig) = &self.signature {
            st.serialize_field("signature", sig)?;
        }
        if let Some(fwd) = &self.forward {
            st.serialize_field("forward", fwd)?;
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for CapturedRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = CapturedRepr::deserialize(d)?;
        let (path, query) = split_target(&r.target);
        let split = (path != r.path || query != r.query).then(|| {
            Box::new(Split {
                path: r.path,
                query: r.query,
            })
        });
        Ok(CapturedRequest {
            id: r.id,
            bin: r.bin,
            received_at: r.received_at,
            timings: r.timings,
            method: method_name(r.method),
            target: r.target,
            split,
            version: r.version,
            remote_addr: r.remote_addr,
            headers: r.headers,
            body: r.body,
            response: r.response,
            signature: r.signature,
            forward: r.forward,
        })
    }
}

impl CapturedRequest {
    /// The first header with this name (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value_str())
    }

    /// Every value of a header (case-insensitive name), in received order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| &*h.value)
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body.bytes).ok()
    }

    /// The body as text, when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        self.body.text()
    }

    /// The body as text for people to read: UTF-8 as it is, else decoded from the charset its
    /// `Content-Type` declares (`iso-8859-1`, `windows-1252`, `shift_jis`, … as WHATWG names
    /// them); `None` for bytes that are neither (binary data).
    pub fn display_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        if let Some(t) = self.text() {
            return Some(std::borrow::Cow::Borrowed(t));
        }
        let ct = self.header("content-type")?;
        let label = ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"'))
        })?;
        let enc = encoding_rs::Encoding::for_label(label.as_bytes())?;
        enc.decode_without_bom_handling_and_without_replacement(&self.body.bytes)
            .map(|t| std::borrow::Cow::Owned(t.into_owned()))
    }

    /// The decoded path: the target's path percent-decoded (see [`split_target`]).
    pub fn path(&self) -> Cow<'_, str> {
        match &self.split {
            Some(s) => Cow::Borrowed(&s.path),
            None => target_path(&self.target),
        }
    }

    /// The query pairs, decoded, in order (see [`split_target`]).
    pub fn query(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
        let (kept, raw) = match &self.split {
            Some(s) => (Some(s.query.iter()), None),
            None => (None, target_parts(&self.target).1.map(query_pairs)),
        };
        kept.into_iter()
            .flatten()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .chain(raw.into_iter().flatten())
    }

    /// The query pairs as owned strings (see [`CapturedRequest::query`]).
    pub fn query_vec(&self) -> Vec<(String, String)> {
        self.query()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, key: &str) -> Option<Cow<'_, str>> {
        self.query().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.header("content-type")
    }

    /// Approximate bytes this request holds in memory (for the memory budget).
    pub fn weight(&self) -> usize {
        const FIXED: usize = 384;
        FIXED
            + self.bin.len()
            + self.method.len()
            + self.target.len() * 2
            + target_parts(&self.target).1.map_or(0, |q| {
                q.split('&').filter(|p| !p.is_empty()).count() * 48 + q.len()
            })
            + self
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len() + 64)
                .sum::<usize>()
            + self.body.bytes.len()
            + self.response.body.bytes.len()
            + self
                .response
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len() + 64)
                .sum::<usize>()
    }

    /// A copy without body bytes, as list views with `?body=false` show it.
    pub fn without_body(&self) -> CapturedRequest {
        let mut r = self.clone();
        r.body.omitted_size = r.body.bytes.len();
        r.body.bytes = Bytes::new();
        r.body.omitted = true;
        r
    }

    /// A copy whose body is cut to `limit` bytes for previews (marked `omitted` when cut).
    pub fn preview(&self, limit: usize) -> std::borrow::Cow<'_, CapturedRequest> {
        if self.body.bytes.len() <= limit {
            return std::borrow::Cow::Borrowed(self);
        }
        std::borrow::Cow::Owned(self.without_body())
    }
}

/// A request method as a request keeps it: the common ones borrowed, any other owned.
pub fn method_name(m: impl AsRef<str> + Into<String>) -> Cow<'static, str> {
    const COMMON: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    match COMMON.iter().find(|c| **c == m.as_ref()) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(m.into()),
    }
}

/// A request target in origin form: an absolute-form target (`http://host/path?x`) keeps only
/// its path and query (`/path?x`, or `/` when it has no path); any other target, an
/// origin-form one with a URL in its query (`/hook?callback=http://x/y`) among them, is
/// returned as it is.
pub fn origin_form(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    match target.split_once("://") {
        Some((_, after)) => after.find('/').map_or("/", |j| &after[j..]),
        None => target,
    }
}

/// A target's raw path and query (in origin form, see [`origin_form`]).
fn target_parts(target: &str) -> (&str, Option<&str>) {
    let rest = origin_form(target);
    match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    }
}

/// The decoded path of a raw request target (the path [`split_target`] gives).
pub fn target_path(target: &str) -> Cow<'_, str> {
    decode_path(target_parts(target).0)
}

/// A raw path percent-decoded; borrowed when there is nothing to decode (the common case).
fn decode_path(raw: &str) -> Cow<'_, str> {
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
    } else {
        Cow::Borrowed(raw)
    }
}

/// The decoded pairs of a raw query, in order.
fn query_pairs(q: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    q.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k), form_decode(v))
    })
}

/// Splits a raw request target into its decoded path and ordered, decoded query pairs.
pub fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path_raw, query_raw) = target_parts(target);
    let path = decode_path(path_raw).into_owned();
    let query = query_raw.map(parse_query).unwrap_or_default();
    (path, query)
}

/// Parses `a=1&b=two+words` into ordered, decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    query_pairs(q)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        // nothing to decode (the common case)
        return Cow::Borrowed(s);
    }
    let s = s.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Is `name` a valid bin name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
pub fn valid_bin_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// The bin a decoded path belongs to: its first segment when valid, else `default`.
pub fn bin_for_path(path: &str) -> &str {
    let first = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .next()
        .unwrap_or("");
    if valid_bin_name(first) {
        first
    } else {
        "default"
    }
}

/// Summary of a bin (SPEC §12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinSummary {
    pub name: String,
    pub count: usize,
    pub last_id: RequestId,
    pub evicted: u64,
    #[serde(with = "rfc3339")]
    pub created_at: SystemTime,
    /// Shared with the store's copy, so a summary is cheap to take under its lock.
    #[serde(default)]
    pub config: std::sync::Arc<serde_json::Value>,
    /// Listings abridge a large config to its keys (each `"…"`); `GET /_/api/bins/{bin}` has
    /// it whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub config_omitted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_position: Option<usize>,
}

/// Formats a time as RFC 3339 with microseconds, in UTC.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// serde helpers for RFC 3339 timestamps.
pub mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s).map_err(D::Error::custom)
    }
}

/// Milliseconds of a duration as a float, for latency fields.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_target_decodes_path_and_keeps_query_order() {
        let (p, q) = split_target("/a%20b/c?z=1&a=x+y&z=2&flag");
        assert_eq!(p, "/a b/c");
        assert_eq!(
            q,
            vec![
                ("z".into(), "1".into()),
                ("a".into(), "x y".into()),
                ("z".into(), "2".into()),
                ("flag".into(), "".into())
            ]
        );
    }

    #[test]
    fn an_origin_form_target_with_a_url_in_its_query_keeps_its_path() {
        assert_eq!(origin_form("/a?u=http://b/c"), "/a?u=http://b/c");
        let (path, query) = split_target("/orders?callback=http://x/y");
        assert_eq!(path, "/orders");
        assert_eq!(query, vec![("callback".into(), "http://x/y".into())]);
        assert_eq!(bin_for_path(&path), "orders");
    }

    #[test]
    fn absolute_form_targets_keep_only_their_path_and_query() {
        for (target, want) in [
            ("http://example.com/a/b?x=1", "/a/b?x=1"),
            ("https://example.com:8443", "/"),
            ("http://example.com?x=1", "/"),
            ("*", "*"),
        ] {
            assert_eq!(origin_form(target), want, "{target}");
        }
        assert_eq!(split_target("http://h/p%20q?k=v").0, "/p q");
    }

    #[test]
    fn bin_names_follow_the_spec_pattern() {
        assert_eq!(bin_for_path("/stripe/events"), "stripe");
        assert_eq!(bin_for_path("/"), "default");
        assert_eq!(bin_for_path("//x"), "default");
        assert_eq!(bin_for_path("/-bad"), "default");
        assert_eq!(bin_for_path(&format!("/{}", "a".repeat(65))), "default");
        assert_eq!(bin_for_path("/a.b_c-d"), "a.b_c-d");
    }

    #[test]
    fn non_utf8_header_values_round_trip_through_json() {
        let h = Header::new("X-Bin", vec![0xff, 0x00, b'a']);
        let j = serde_json::to_string(&h).unwrap();
        assert_eq!(j, r#"["X-Bin",{"base64":"/wBh"}]"#);
        let back: Header = serde_json::from_str(&j).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn a_body_in_a_declared_legacy_charset_is_decoded_for_display() {
        let mut r = CapturedRequest {
            id: 1,
            bin: "b".into(),
            received_at: SystemTime::UNIX_EPOCH,
            timings: Timings::default(),
            method: "POST".into(),
            target: "/b/x".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            headers: Vec::new(),
            body: Body::new(Bytes::from_static(b"caf\xe9 \x80"), false),
            response: ResponseSent::default(),
            signature: None,
            forward: None,
        };
        r.headers = vec![Header::new(
            "Content-Type",
            &b"text/plain; charset=windows-1252"[..],
        )];
        assert_eq!(r.display_text().as_deref(), Some("caf\u{e9} \u{20ac}"));
        r.headers = vec![Header::new(
            "Content-Type",
            &b"text/plain; charset=\"ISO-8859-1\""[..],
        )];
        assert_eq!(r.display_text().as_deref(), Some("caf\u{e9} \u{20ac}"));
        // undeclared, or declared UTF-8 but not: binary
        r.headers = vec![Header::new("Content-Type", &b"text/plain"[..])];
        assert_eq!(r.display_text(), None);
        r.headers = vec![Header::new(
            "Content-Type",
            &b"text/plain; charset=utf-8"[..],
        )];
        assert_eq!(r.display_text(), None);
    }

    fn captured(target: &str) -> CapturedRequest {
        CapturedRequest {
            id: 7,
            bin: "b".into(),
            received_at: SystemTime::UNIX_EPOCH,
            timings: Timings::default(),
            method: method_name("POST"),
            target: target.into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            headers: vec![Header::new("Host", &b"x"[..])],
            body: Body::new(Bytes::from_static(b"{}"), false),
            response: ResponseSent::default(),
            signature: None,
            forward: None,
        }
    }

    #[test]
    fn a_request_shows_the_decoded_path_and_query_of_its_target_in_its_json() {
        let r = captured("/b/a%20c?z=1&a=x+y&flag");
        let v = serde_json::to_value(&r).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "bin",
                "received_at",
                "timings",
                "method",
                "target",
                "path",
                "query",
                "version",
                "remote_addr",
                "headers",
                "body",
                "response"
            ]
        );
        assert_eq!(v["path"], "/b/a c");
        assert_eq!(
            v["query"],
            serde_json::json!([["z", "1"], ["a", "x y"], ["flag", ""]])
        );
        assert_eq!(r.query_param("a").as_deref(), Some("x y"));
        let back: CapturedRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert!(
            back.split.is_none(),
            "a consistent path and query are not kept twice"
        );
    }

    #[test]
    fn a_request_read_from_json_keeps_a_path_and_query_that_differ_from_its_target() {
        let mut v = serde_json::to_value(captured("/b/x?k=v")).unwrap();
        v["path"] = "/elsewhere".into();
        v["query"] = serde_json::json!([["other", "1"]]);
        let r: CapturedRequest = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.path(), "/elsewhere");
        assert_eq!(r.query_vec(), [("other".to_owned(), "1".to_owned())]);
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }

    #[test]
    fn common_methods_are_borrowed_and_others_kept_as_sent() {
        assert!(matches!(method_name("POST"), Cow::Borrowed("POST")));
        assert!(matches!(method_name("post"), Cow::Owned(m) if m == "post"));
        assert!(matches!(method_name(String::from("PURGE")), Cow::Owned(m) if m == "PURGE"));
    }

    #[test]
    fn binary_bodies_round_trip_through_json() {
        let all: Vec<u8> = (0..=255u8).collect();
        let b = Body::new(Bytes::from(all.clone()), false);
        let j = serde_json::to_value(&b).unwrap();
        assert_eq!(j["encoding"], "base64");
        let back: Body = serde_json::from_value(j).unwrap();
        assert_eq!(&back.bytes[..], &all[..]);
    }
}
