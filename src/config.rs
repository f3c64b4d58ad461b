//! The validated server configuration, and the bins a config file declares ([`BinDecl`]).
//!
//! Uses `webhook` (webhook definitions), `rules` (validated bin configs), `catalog` (custom
//! events), `tls` (where the HTTPS certificate comes from) and `field`. Plain data: `hookfile` reads a config file into it, and the CLI turns its
//! flags (and the config file) into a [`Config`] in one place (`cli.rs`); nothing below the CLI
//! sees clap types.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::field::FieldError;
use crate::rules::BinSetup;
use crate::webhook::WebhookDef;

/// Everything a running server needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind (`127.0.0.1:4665` by default; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Largest request body kept, enforced while reading.
    pub max_body: usize,
    /// Requests kept per bin (a ring).
    pub max_requests: usize,
    /// Memory budget across all bins; the oldest requests are evicted past it.
    pub max_memory: usize,
    /// Bins kept at once; past it the least recently used bin goes, with its requests.
    pub max_bins: usize,
    /// Time allowed to receive a request head.
    pub header_timeout: Duration,
    /// Time allowed to receive a request body, counted from the end of its head; past it the
    /// request is answered 408 and recorded truncated.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request before it is closed.
    pub idle_timeout: Duration,
    /// Largest request head accepted.
    pub max_header_size: usize,
    /// Extra `Host` names the viewer and API answer to (loopback names always work).
    pub allow_hosts: Vec<String>,
    /// When set, `/_/` requires this token.
    pub token: Option<String>,
    /// Take the peer address from `X-Forwarded-For`.
    pub trust_proxy: bool,
    /// Bodies larger than this are left out of websocket `request` messages.
    pub preview_limit: usize,
    /// Websocket messages buffered for a slow viewer before it is sent `resync`.
    pub feed_capacity: usize,
    /// Webhooks the sender starts with (`[[webhook]]` in the config file).
    pub webhooks: Vec<WebhookDef>,
    /// Custom events added to the built-in catalog (`[[event]]`).
    pub events: Vec<crate::catalog::EventDef>,
    /// Bins declared in the config file (`[[bin]]`), their config as JSON.
    pub bins: Vec<BinDecl>,
    /// Start with the "Local demo" webhook to this server's own bin `demo` (true unless a
    /// config file declares webhooks).
    pub demo_webhook: bool,
    /// The config file these settings came from, if any.
    pub config_file: Option<std::path::PathBuf>,
    /// Where captures, bins, run-time webhooks and the delivery log are kept across restarts
    /// (`--data-dir`); nothing is written anywhere without it.
    pub data_dir: Option<std::path::PathBuf>,
    /// Bytes the durable store may use; past it the oldest requests are evicted.
    pub max_disk: u64,
    /// Shared mode (`--redis`): every instance on this Redis shares bins, requests, ids, the
    /// live feed, waits and bin behaviour.
    pub redis: Option<String>,
    /// A second address serving the same over HTTPS (`--tls-listen`); none by default.
    pub tls_listen: Option<SocketAddr>,
    /// The HTTPS certificate (PEM) and its key (`--tls-cert`, `--tls-key`; both or neither).
    /// Without them a self-signed certificate is made at start (and kept in `data_dir`).
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4665)),
            max_body: 10 * 1024 * 1024,
            max_requests: 1000,
            max_memory: 512 * 1024 * 1024,
            max_bins: 1000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_header_size: 64 * 1024,
            allow_hosts: Vec::new(),
            token: None,
            trust_proxy: false,
            preview_limit: 64 * 1024,
            feed_capacity: 4096,
            webhooks: Vec::new(),
            events: Vec::new(),
            data_dir: None,
            max_disk: 1024 * 1024 * 1024,
            redis: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            bins: Vec::new(),
            demo_webhook: true,
            config_file: None,
        }
    }
}

impl Config {
    /// Defaults, bound to a free loopback port: what tests and embedders want.
    pub fn for_tests() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Config::default()
        }
    }

    /// The same configuration on another address.
    pub fn listen(mut self, addr: SocketAddr) -> Config {
        self.listen = addr;
        self
    }

    /// The same configuration, also serving HTTPS on `addr`.
    pub fn tls_listen(mut self, addr: SocketAddr) -> Config {
        self.tls_listen = Some(addr);
        self
    }

    /// Where the HTTPS certificate comes from.
    pub fn cert_source(&self) -> crate::tls::CertSource {
        crate::tls::CertSource::of(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.data_dir.as_deref(),
        )
    }
}

/// A bin declared in a config file (`[[bin]]`): its name, its config (SPEC §12) as written, and
/// the line of its `[[bin]]` for messages. Made by [`BinDecl::new`], which validates the config
/// once; a server applies it as it is, only bounding its bodies by the server's own `max_body`.
#[derive(Debug, Clone)]
pub struct BinDecl {
    pub name: String,
    pub config: Value,
    pub line: usize,
    setup: BinSetup,
}

impl BinDecl {
    /// Validates `config`, its response bodies bounded by `max_body` bytes; a problem names its
    /// field within the bin's config.
    pub fn new(
        name: String,
        config: Value,
        line: usize,
        max_body: usize,
    ) -> std::result::Result<BinDecl, FieldError> {
        let setup = BinSetup::from_json(&config, max_body)?;
        Ok(BinDecl {
            name,
            config,
            line,
            setup,
        })
    }

    /// The validated and compiled config.
    pub fn setup(&self) -> &BinSetup {
        &self.setup
    }
}

impl PartialEq for BinDecl {
    /// Two declarations are equal when they say the same; the compiled form follows from that.
    fn eq(&self, other: &BinDecl) -> bool {
        self.name == other.name && self.config == other.config && self.line == other.line
    }
}
