//! The request and response plumbing every handler under `/_/` shares: the response type,
//! JSON, text and error responses, query parameters, and reading a request body under the
//! API's size limit.
//!
//! Uses `model` (query decoding), `matcher` (the `q=` filter) and `error`. Called by `api`,
//! `sender_api`, `access` and `server`; it calls none of them, so the two API modules share
//! these helpers without calling each other.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
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
    pub fn of(req: &Request<Incoming>) -> Params {
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
pub async fn read_json(req: Request<Incoming>) -> Result<serde_json::Value> {
    read_json_within(req, MAX_API_BODY).await
}

/// Reads a JSON request body of at most `limit` bytes (empty = `null`).
pub async fn read_json_within(req: Request<Incoming>, limit: usize) -> Result<serde_json::Value> {
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
pub async fn read_body(req: Request<Incoming>) -> Result<Bytes> {
    read_body_within(req, MAX_API_BODY).await
}

async fn read_body_within(req: Request<Incoming>, limit: usize) -> Result<Bytes> {
    Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| Error::PayloadTooLarge { limit })
}
