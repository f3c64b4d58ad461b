//! The library's one error type, and its mapping onto HTTP statuses and the API's error JSON
//! `{"error":{"code","message"}}` (SPEC §4).
//!
//! Uses nothing else in the crate. Outcomes users care about (a failed delivery, a wait that timed
//! out) are not errors: they are values in `model`/`store`/`deliver`.

use std::net::SocketAddr;

use hyper::StatusCode;

/// Everything that can go wrong inside hookpit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reason is part of the sentence, not a separate cause: printing the error chain must
    /// not say it twice.
    #[error("cannot listen on {addr}: {reason} (pick another address with --listen, e.g. --listen 127.0.0.1:0)")]
    Bind {
        addr: SocketAddr,
        reason: std::io::Error,
    },
    #[error("{file}:{line}: {key}: {message}")]
    Config {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    /// The data directory (`--data-dir`) cannot be used as it is; `path` names the directory or
    /// the file at fault.
    #[error("{path}: {message}")]
    DataDir { path: String, message: String },
    /// The durable store cannot take a write now (no space left, or behind).
    #[error("{0}")]
    StoreUnavailable(String),
    /// The shared store (`--redis`) cannot be used; `url` is shown without its password.
    #[error("{url}: {message}")]
    Shared { url: String, message: String },
    /// The shared store cannot be reached now: come back later.
    #[error("{0}")]
    StoreOffline(String),
    #[error("{what}: {message}")]
    BadParameter { what: String, message: String },
    #[error("{0}")]
    BadFilter(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("the decoded body is larger than the limit of {limit} bytes (--max-body); download it undecoded")]
    DecodedTooLarge { limit: usize },
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    LoopDetected(String),
    #[error("cannot reach {url}: {message}")]
    Upstream { url: String, message: String },
    /// The server's own message is a whole sentence (`bin nope not found`); the status is in
    /// `status` for callers that branch on it.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The library's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 400 for a named parameter.
    pub fn bad(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::BadParameter {
            what: what.into(),
            message: message.into(),
        }
    }

    /// A 404 for an unknown thing.
    pub fn not_found(what: &'static str, id: impl ToString) -> Error {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// The HTTP status the API answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadParameter { .. } | Error::BadFilter(_) | Error::Json(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Config { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::PayloadTooLarge { .. } | Error::DecodedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Error::Busy(_) | Error::StoreOffline(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::LoopDetected(_) => StatusCode::LOOP_DETECTED,
            Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Error::Api { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Error::StoreUnavailable(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Bind { .. } | Error::Io(_) | Error::DataDir { .. } | Error::Shared { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The machine-readable code in the error JSON.
    pub fn code(&self) -> &str {
        match self {
            Error::Bind { .. } => "bind",
            Error::Config { .. } => "bad_config",
            Error::DataDir { .. } => "data_dir",
            Error::StoreUnavailable(_) => "store_unavailable",
            Error::Shared { .. } => "shared_store",
            Error::StoreOffline(_) => "store_offline",
            Error::BadParameter { .. } => "bad_parameter",
            Error::BadFilter(_) => "bad_filter",
            Error::NotFound { .. } => "not_found",
            Error::Forbidden(_) => "forbidden",
            Error::Unauthorized(_) => "unauthorized",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::DecodedTooLarge { .. } => "decoded_too_large",
            Error::Busy(_) => "busy",
            Error::LoopDetected(_) => "loop_detected",
            Error::Upstream { .. } => "upstream",
            Error::Api { code, .. } => code,
            Error::Io(_) => "io",
            Error::Json(_) => "bad_json",
        }
    }

    /// The error JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}})
    }
}

/// The innermost cause of an error chain: the one users can act on ("Connection refused").
pub fn innermost(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}
