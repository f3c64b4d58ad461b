//! The request and response plumbing every handler under `/_/` shares: the response type,
//! JSON, text and error responses, query parameters, reading a request body under a size
//! limit, and lingering on the rest of a body that is refused.
//!
//! Uses `model` (query decoding), `matcher` (the `q=` filter) and `error`. Called by `api`,
//! `sender_api`, `access`, `server` and `capture` (which lingers on a body past the limit); it
//! calls none of them, so the two API modules share these helpers without calling each other.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::error::{Error, Result};
use crate::matcher::Filter;
use crate::model::parse_query;

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// Largest API request body accepted.
const MAX_API_BODY: usize = 16 * 1024 * 1024;

/// A JSON response.
pub fn json_response(status: StatusCode, v: &serde_json::Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The error JSON for an error.
pub fn error_response(e: &Error) -> Resp {
    json_response(e.status(), &e.to_json())
}

/// A plain response with a content type.
pub fn text_response(content_type: &'static str, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The 405 for a known API path asked with a method it does not take; `path` is what follows
/// `/_/api/`.
pub fn method_not_allowed(method: &Method, path: &str) -> Error {
    Error::Api {
        status: 405,
        code: "method_not_allowed".into(),
        message: format!("{method} is not allowed on /_/api/{path}"),
    }
}

/// An API path (what follows `/_/api/`) split into its percent-decoded segments; a trailing
/// `/` is ignored.
pub fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Query parameters in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn of(req: &ApiRequest) -> Params {
        Params(req.uri().query().map(parse_query).unwrap_or_default())
    }

    /// Parameters as given (a request passed on to another instance).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// Every parameter in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::bad(k, format!("`{v}` is not a valid number"))),
        }
    }

    /// A long poll's `timeout` (a wait on a bin or on a delivery): 30 s when absent, at most 1 h.
    pub fn wait_timeout(&self) -> Result<std::time::Duration> {
        let timeout = match self.get("timeout") {
            None | Some("") => std::time::Duration::from_secs(30),
            Some(t) => {
                crate::units::parse_duration(t).map_err(|e| Error::bad("timeout", e.to_string()))?
            }
        };
        if timeout > std::time::Duration::from_secs(3600) {
            return Err(Error::bad("timeout", "at most 1h"));
        }
        Ok(timeout)
    }

    pub fn flag(&self, k: &str, default: bool) -> Result<bool> {
        match self.get(k) {
            None => Ok(default),
            Some("" | "1" | "true" | "yes") => Ok(true),
            Some("0" | "false" | "no") => Ok(false),
            Some(v) => Err(Error::bad(k, format!("`{v}` is not true or false"))),
        }
    }

    pub fn filter(&self) -> Result<Option<Filter>> {
        match self.get("q") {
            None => Ok(None),
            Some(q) if q.trim().is_empty() => Ok(None),
            Some(q) => Filter::parse(q)
                .map(Some)
                .map_err(|e| Error::BadFilter(e.to_string())),
        }
    }
}

/// Reads a JSON request body (empty = `null`).
pub async fn read_json(req: ApiRequest) -> Result<serde_json::Value> {
    read_json_within(req, MAX_API_BODY).await
}

/// Reads a JSON request body of at most `limit` bytes (empty = `null`).
pub async fn read_json_within(req: ApiRequest, limit: usize) -> Result<serde_json::Value> {
    json_of(&read_body_within(req, limit).await?)
}

/// A JSON request body already read (empty = `null`).
pub fn json_of(bytes: &[u8]) -> Result<serde_json::Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_slice(bytes)?)
}

/// Reads a request body under the API's size limit.
pub async fn read_body(req: ApiRequest) -> Result<Bytes> {
    read_body_within(req, MAX_API_BODY).await
}

async fn read_body_within(req: ApiRequest, limit: usize) -> Result<Bytes> {
    match collect_within(req.into_body(), limit).await {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(Error::PayloadTooLarge { limit }),
        Err(e) => Err(Error::bad(
            "body",
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// Reads a whole body of at most `limit` bytes: `None` when it is longer (a declared length
/// past the limit is refused before a byte is read); the rest is then read by [`linger`] as
/// the body drops, so the refusal reaches the client.
pub async fn collect_within(
    mut body: ApiBody,
    limit: usize,
) -> std::result::Result<Option<Bytes>, hyper::Error> {
    let hint = hyper::body::Body::size_hint(&body);
    if hint.lower() > limit as u64 {
        return Ok(None);
    }
    let mut buf = BytesMut::with_capacity(hint.exact().unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if data.len() > limit - buf.len() {
                return Ok(None);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Some(buf.freeze()))
}

/// A request under `/_/`.
pub type ApiRequest = Request<ApiBody>;

/// The body of a request under `/_/`: hyper's, handed to [`linger`] when a handler drops it
/// unread (a refusal before the body, a body past its limit), so the answer is not lost to a
/// reset.
pub struct ApiBody(Option<Incoming>);

impl ApiBody {
    pub fn new(body: Incoming) -> ApiBody {
        ApiBody(Some(body))
    }
}

impl hyper::body::Body for ApiBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        match self.0.as_mut() {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            None => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.as_ref().map_or_else(
            || hyper::body::SizeHint::with_exact(0),
            hyper::body::Body::size_hint,
        )
    }
}

impl Drop for ApiBody {
    fn drop(&mut self) {
        if let Some(body) = self
            .0
            .take()
            .filter(|b| !hyper::body::Body::is_end_stream(b))
        {
            linger(body);
        }
    }
}

/// How much more of a refused body [`linger`] reads, and for how long.
const LINGER_BYTES: u64 = 64 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(5);

/// Reads and drops the rest of a request body the server has refused (413), in a task of its
/// own, while the refusal is sent. A connection closed with bytes unread is reset by the
/// kernel, and a client still sending then sees "connection reset" or "broken pipe" instead of
/// the answer. Bounded: past [`LINGER_BYTES`] more (or a declared length beyond them) or
/// [`LINGER_TIME`], the body is dropped and the connection closed as before.
pub fn linger(mut body: Incoming) {
    if hyper::body::Body::size_hint(&body).lower() > LINGER_BYTES {
        return;
    }
    // a body dropped outside the runtime has no connection left to save
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let mut left = LINGER_BYTES;
        let drain = async {
            while let Some(Ok(frame)) = body.frame().await {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                match left.checked_sub(n) {
                    Some(l) => left = l,
                    None => return,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    });
}
