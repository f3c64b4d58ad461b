//! hookpit catches, inspects, asserts on and sends webhooks, offline, in one binary.
//!
//! This crate is the whole program; the `hookpit` binary is a thin shell over [`cli::run`].
//! Embed it to run a real hookpit inside your own tests: start it on port 0, point the code under
//! test at a catch URL, then read or wait for what arrived. The server shuts down when its handle
//! is dropped.
//!
//! Modules form layers and a module uses only those in its own or a lower layer:
//! plain data (`error`, `units`, `field`, `model`, `decode`, `matcher`, `sign`, `catalog`,
//! `webhook`, `rules`), declarations (`config`, and `hookfile` reading it), state (`store`),
//! the edges (`wire`, `capture`, `render`, `live`, `assets`), the HTTP API (`http`: the response,
//! query and body helpers that `api` and `sender_api` share; neither of those calls the other),
//! the server's parts (`access`: Host/Origin/token checks; `forward`: a capture sent on to its
//! bin's target), wiring and clients (`server`: accept loop and routing; `embed`: the
//! [`ServerHandle`] and [`BinRef`] of an in-process server; `client`, `cli`).

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
pub mod embed;
pub mod error;
pub mod field;
pub mod forward;
pub mod hookfile;
pub mod http;
pub mod live;
pub mod matcher;
pub mod model;
pub mod outbound;
pub mod rand;
pub mod render;
pub mod rules;
pub mod sender_api;
pub mod server;
pub mod sign;
pub mod store;
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
