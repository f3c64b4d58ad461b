//! hookpit catches, inspects, asserts on and sends webhooks, offline, in one binary.
//!
//! This crate is the whole program; the `hookpit` binary is a thin shell over [`cli::main`].
//! Embed it to run a real hookpit inside your own tests: start it on port 0, point the code under
//! test at a catch URL, then read or wait for what arrived. The server shuts down when its handle
//! is dropped.
//!
//! Modules form layers; a module uses only those in its own or a lower layer:
//!
//! 1. **Plain data and pure functions** — `error` (the one error enum), `units` (sizes and
//!    durations), `field` (a config problem's field path), `names` ("did you mean …?"),
//!    `rand` (SplitMix64), `model` (a
//!    captured request), `decode` (bounded Content-Encoding), `matcher` (filters), `sign`
//!    (signatures), `catalog` (the event catalog), `render` (curl, HAR, NDJSON), `import` (an
//!    NDJSON or HAR export read back), `webhook` (webhook definitions), `provider` (provider
//!    events, built and signed the providers' way), `limit` (a bin's rate limit and its token
//!    bucket) and `rules` (a bin's compiled behaviour), `journal` (the store seam: the facts a backend behind the memory
//!    store is told, and what it hands back at start).
//! 2. **Declarations** — `config` (what a server runs with), `hookfile` (TOML into it) and `tls`
//!    (the HTTPS certificate: made, kept or read from files; the acceptor's settings).
//! 3. **State** — `store` (bins and requests; `store::wait` holds the waits, `store::index` the
//!    id index) and `disk` (the durable store behind `--data-dir`: SQLite written by one thread
//!    behind the memory store, through `journal`; it never calls `store`).
//! 4. **Edges** — `wire` (the byte-exact tap), `capture` (a request into a snapshot),
//!    `outbound` (the one HTTP client), `live` (the websocket feed), `assets` (the viewer's
//!    files), `http` (the response, query and body helpers of the API), `access`
//!    (Host/Origin/token checks).
//! 5. **Services** — `deliver` (the sender: registry, log, attempts, queue, dispatch, retry
//!    maths), `api` (bins and requests), `sender_api` (webhooks, events, deliveries; `api` and
//!    `sender_api` never call each other), `trigger_api` (a provider event sent, for `api` and
//!    the `trigger` command), `forward` (a capture sent on to its bin's target), `replay` (the
//!    request a replay sends: edited, re-signed; pure, sent by `api`), `shared` (shared mode
//!    over Redis: captures kept there first, the store a cache fed by Redis's feed, changes
//!    written behind through `journal`, and the sender's seat; it uses `store`, `deliver` and
//!    `sender_api`, and `api` uses it for imports).
//! 6. **Wiring and clients** — `server` (accept loop and routing), `embed` (the
//!    [`ServerHandle`] and [`BinRef`] of an in-process server), `client` (the API client) and
//!    `cli` (one file per verb, output in `cli::output`).

pub mod access;
pub mod api;
pub mod assets;
pub mod capture;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod decode;
pub mod deliver;
pub mod disk;
pub mod embed;
pub mod error;
pub mod field;
pub mod forward;
pub mod hookfile;
pub mod http;
pub mod import;
pub mod journal;
pub mod limit;
pub mod live;
pub mod matcher;
pub mod model;
pub mod names;
pub mod outbound;
pub mod provider;
pub mod rand;
pub mod render;
pub mod replay;
pub mod rules;
pub mod sender_api;
pub mod server;
pub mod shared;
pub mod sign;
pub mod store;
pub mod tls;
pub mod trigger_api;
pub mod units;
pub mod webhook;
pub mod wire;

pub use client::Client;
pub use config::Config;
pub use embed::{BinRef, ServerHandle};
pub use error::{Error, Result};
pub use matcher::Filter;
pub use model::{CapturedRequest, Header};
pub use server::Server;
pub use store::{Miss, WaitFailed, WaitOutcome, WaitReport, WaitSpec};

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
