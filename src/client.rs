//! A typed client for a running hookpit's `/_/api`, used by the CLI's client commands and by other
//! crates' tests that talk to a hookpit in another process.
//!
//! Uses `model`, `import` (what an import answers), `error` and `config` (durations). Speaks plain HTTP/1.1 to loopback; an API error
//! JSON becomes [`Error::Api`], a refused connection an [`Error::Upstream`] that says how to start
//! the server.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::import::Imported;
use crate::model::{BinSummary, CapturedRequest};

type Http = HyperClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// A client for one hookpit server.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: Http,
}

/// A raw API answer: status, content type and bytes.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A page of requests.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RequestPage {
    pub requests: Vec<CapturedRequest>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(serde::Deserialize)]
struct BinList {
    bins: Vec<BinSummary>,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:4665`).
    pub fn new(base: impl Into<String>) -> Client {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            token: None,
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Sends `Authorization: Bearer TOKEN` with every call.
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token;
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (starting with `/_/api/`) and returns the raw answer.
    pub async fn send(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Answer> {
        let url = format!("{}{}", self.base, path);
        let mut b = Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| Error::bad("url", format!("`{url}`: {e}")))?;
        let resp = self.http.request(req).await.map_err(|e| Error::Upstream {
            url: self.base.clone(),
            message: format!(
                "{} (is hookpit running? start it with `hookpit`, or point --server at it)",
                crate::error::innermost(&e)
            ),
        })?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Upstream {
                url: self.base.clone(),
                message: e.to_string(),
            })?
            .to_bytes();
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// Sends and decodes a JSON answer; a non-2xx answer becomes [`Error::Api`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let body = body.map(|v| Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
        let a = self.send(method, path, body).await?;
        if !(200..300).contains(&a.status) {
            return Err(api_error(&a));
        }
        Ok(serde_json::from_slice(&a.body)?)
    }

    /// GETs JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None).await
    }

    /// `GET /_/api/health`.
    pub async fn health(&self) -> Result<Value> {
        self.get("/_/api/health").await
    }

    /// `GET /_/api/bins`.
    pub async fn bins(&self) -> Result<Vec<BinSummary>> {
        Ok(self.get::<BinList>("/_/api/bins").await?.bins)
    }

    /// `GET /_/api/bins/{bin}`: a bin's summary; a bin that does not exist is a 404
    /// [`Error::Api`] saying so.
    pub async fn bin(&self, bin: &str) -> Result<Value> {
        self.get(&format!("/_/api/bins/{}", enc(bin))).await
    }

    /// `GET /_/api/bins/{bin}/requests` with a filter, newest first.
    pub async fn requests(
        &self,
        bin: &str,
        filter: Option<&str>,
        limit: usize,
    ) -> Result<RequestPage> {
        let mut path = format!("/_/api/bins/{}/requests?limit={limit}", enc(bin));
        if let Some(f) = filter {
            path.push_str(&format!("&q={}", enc(f)));
        }
        self.get(&path).await
    }

    /// `GET /_/api/requests/{id|latest}`.
    pub async fn request(&self, id: &str, bin: Option<&str>) -> Result<CapturedRequest> {
        let mut path = format!("/_/api/requests/{}", enc(id));
        if let Some(b) = bin {
            path.push_str(&format!("?bin={}", enc(b)));
        }
        self.get(&path).await
    }

    /// `POST /_/api/bins/{bin}/import`: records the requests of an NDJSON export or a HAR log
    /// (`file`, as read) into `bin`, with new ids.
    pub async fn import(&self, bin: &str, file: Bytes) -> Result<Imported> {
        let path = format!("/_/api/bins/{}/import", enc(bin));
        let a = self.send(Method::POST, &path, Some(file)).await?;
        if !(200..300).contains(&a.status) {
            return Err(api_error(&a));
        }
        Ok(serde_json::from_slice(&a.body)?)
    }

    /// `DELETE /_/api/bins/{bin}/requests[?q=]`; returns how many were deleted.
    pub async fn clear(&self, bin: &str, filter: Option<&str>) -> Result<u64> {
        let mut path = format!("/_/api/bins/{}/requests", enc(bin));
        if let Some(f) = filter {
            path.push_str(&format!("?q={}", enc(f)));
        }
        let v: Value = self.call(Method::DELETE, &path, None).await?;
        Ok(v["deleted"].as_u64().unwrap_or(0))
    }
}

/// The API error of a non-2xx answer.
pub fn api_error(a: &Answer) -> Error {
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    Error::Api {
        status: a.status,
        code: v["error"]["code"].as_str().unwrap_or("http").to_owned(),
        message: v["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&a.body).chars().take(200).collect()),
    }
}

/// Percent-encodes a query or path component.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
