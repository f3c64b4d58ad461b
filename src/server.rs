//! The server: binds (port 0 works), runs hyper's accept loop with upgrades over the wire tap,
//! routes `/_/` to the viewer, API and live feed behind the Host/Origin/token checks and
//! everything else to capture, and hands out a [`ServerHandle`] that shuts it all down on drop.
//! A bin's forward goes out with this server's `Via` entry; a capture that already passed
//! through this server is recorded but never forwarded again, and at most [`MAX_MIRRORS`]
//! mirror forwards are in flight (past it the forward is recorded as skipped).
//!
//! Uses `config`, `store`, `wire`, `capture`, `live`, `api`, `assets`, `outbound`, `deliver`,
//! `model` and `error`. It owns
//! the listener, the connections and the shutdown signal; the store owns the data.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, error_response, Resp};
use crate::assets;
use crate::capture::{self, BodyEnd, CaptureLimits};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::live;
use crate::model::{CapturedRequest, ForwardResult, Header, RequestId, ResponseSent};
use crate::rules::{BinRules, Forward, ForwardMode};
use crate::store::{Limits, Store, WaitFailed, WaitOutcome, WaitSpec};
use crate::wire::{Heads, SlowClients, TapIo, Timeouts};

/// How long in-flight responses get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Mirror forwards in flight per server; past it a capture's forward is recorded as skipped.
pub const MAX_MIRRORS: usize = 64;

/// Starts servers.
pub struct Server;

/// Raises this process's soft limit on open files to its hard limit, so connections are not
/// starved of descriptors by a low default (often 1,024). Process-wide: `serve` calls it at
/// start; embedders decide for themselves. Returns the soft limit now in force.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on most, but not all, unix targets
pub fn raise_open_files_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        // some systems refuse an unlimited soft limit: fall back to a large finite one
        for want in [lim.rlim_max, lim.rlim_max.min(10_240)] {
            if want <= lim.rlim_cur {
                break;
            }
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(want as u64);
            }
        }
    }
    Some(lim.rlim_cur as u64)
}

/// Raises this process's soft limit on open files (nothing to do on this platform).
#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

impl Server {
    /// Binds `config.listen` and starts serving in the background of the current tokio runtime.
    pub async fn start(config: Config) -> Result<ServerHandle> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|reason| Error::Bind {
                addr: config.listen,
                reason,
            })?;
        let addr = listener.local_addr()?;
        let store = Store::new(Limits {
            max_requests: config.max_requests.max(1),
            max_memory: config.max_memory,
            max_bins: config.max_bins.max(1),
            preview_limit: config.preview_limit,
            feed_capacity: config.feed_capacity,
        });
        for decl in &config.bins {
            let cfg = crate::rules::BinConfig::from_json_within(&decl.config, config.max_body)
                .map_err(|e| Error::Config {
                    file: config
                        .config_file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "config".into()),
                    line: decl.line,
                    key: format!("bin.{}", decl.name),
                    message: e.to_string(),
                })?;
            api::apply_bin_config(&store, &decl.name, &cfg)?;
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let outbound = crate::outbound::Outbound::for_server(addr);
        let sender = crate::deliver::Sender::for_server(
            &config,
            store.clone(),
            outbound.clone(),
            addr,
            shutdown_rx.clone(),
        )?;
        let app = Arc::new(App {
            api: api::Ctx {
                store: store.clone(),
                outbound,
                sender: sender.clone(),
                decoding: api::Decoding::new(config.max_body),
                max_body: config.max_body,
            },
            mirrors: Arc::new(tokio::sync::Semaphore::new(MAX_MIRRORS)),
            config,
            shutdown: shutdown_rx.clone(),
        });
        let task = tokio::spawn(accept_loop(listener, app, shutdown_rx));
        Ok(ServerHandle {
            addr,
            store,
            sender,
            shutdown: shutdown_tx,
            task: Some(task),
        })
    }
}

/// A running server. Dropping it shuts the server down.
pub struct ServerHandle {
    addr: SocketAddr,
    store: Store,
    sender: crate::deliver::Sender,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What a server did, printed at shutdown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub requests: RequestId,
    pub kept: usize,
    pub bins: usize,
    pub evicted: u64,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The viewer's URL.
    pub fn viewer_url(&self) -> String {
        format!("{}/_/", self.base_url())
    }

    /// The API base URL.
    pub fn api_url(&self) -> String {
        format!("{}/_/api", self.base_url())
    }

    /// The catch URL of a bin.
    pub fn catch_url(&self, bin: &str) -> String {
        format!("{}/{}", self.base_url(), bin)
    }

    /// The store behind this server.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The webhook sender of this server (webhooks, dispatch, the delivery log).
    pub fn sender(&self) -> &crate::deliver::Sender {
        &self.sender
    }

    /// Requests captured in a bin, oldest first.
    pub fn requests(&self, bin: &str) -> Vec<Arc<CapturedRequest>> {
        self.bin(bin).requests()
    }

    /// A handle on one bin of this server (it is created by its first request).
    pub fn bin(&self, name: &str) -> BinRef {
        BinRef {
            store: self.store.clone(),
            name: name.to_owned(),
            url: self.catch_url(name),
        }
    }

    /// A handle on a new bin with a random name no request has used yet.
    pub fn fresh_bin(&self) -> BinRef {
        let mut b = [0u8; 6];
        let _ = getrandom::fill(&mut b);
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        self.bin(&format!("t-{name}"))
    }

    /// Waits for what `spec` describes; a timeout is an outcome with a report, not an error.
    pub async fn wait(&self, spec: WaitSpec) -> WaitOutcome {
        self.store.wait(spec).await
    }

    /// What the server did so far.
    pub fn summary(&self) -> Summary {
        let s = self.store.stats();
        Summary {
            requests: s.last_id,
            kept: s.requests,
            bins: s.bins,
            evicted: s.evicted,
        }
    }

    /// Stops accepting, lets in-flight responses finish (up to a few seconds) and returns what
    /// the server did.
    pub async fn shutdown(mut self) -> Summary {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.summary()
    }
}

/// One bin of an embedded server: its catch URL, its requests, and waiting on them.
#[derive(Clone)]
pub struct BinRef {
    store: Store,
    name: String,
    url: String,
}

impl BinRef {
    /// The bin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bin's catch URL (append any path).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets the bin's behaviour (SPEC §12 bin config: response, rules, sequence, fault, verify,
    /// forward, max_requests); a bad value is an error naming its field.
    pub fn configure(&self, config: serde_json::Value) -> Result<crate::model::BinSummary> {
        let config = crate::rules::BinConfig::from_json(&config)?;
        api::apply_bin_config(&self.store, &self.name, &config)
    }

    /// The bin's kept requests, oldest first.
    pub fn requests(&self) -> Vec<Arc<CapturedRequest>> {
        let (mut v, _) = self
            .store
            .list(Some(&self.name), 0, None, usize::MAX, |_| true);
        v.reverse();
        v
    }

    /// Waits for one request matching `filter` (the filter language of the API's `q=`); counts
    /// requests that arrived before the call too.
    pub async fn wait_for(
        &self,
        filter: &str,
        timeout: Duration,
    ) -> std::result::Result<Arc<CapturedRequest>, WaitFailed> {
        let mut v = self.wait_for_count(filter, 1, timeout).await?;
        Ok(v.remove(0))
    }

    /// Waits for `count` requests matching `filter`; returns them oldest first.
    pub async fn wait_for_count(
        &self,
        filter: &str,
        count: usize,
        timeout: Duration,
    ) -> std::result::Result<Vec<Arc<CapturedRequest>>, WaitFailed> {
        let filter = crate::matcher::Filter::parse(filter).map_err(WaitFailed::BadFilter)?;
        let spec = WaitSpec {
            bin: self.name.clone(),
            filter,
            count: count.max(1),
            after: 0,
            timeout,
        };
        match self.store.wait(spec).await {
            WaitOutcome::Matched(v) => Ok(v),
            WaitOutcome::TimedOut(r) => Err(WaitFailed::TimedOut(r)),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// A fault rule said to drop the connection: returned to hyper as the service's error, which
/// closes the connection without an answer.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a fault rule")
    }
}

impl std::error::Error for DropConnection {}

/// Sends a captured request on to a forward target: exact method, headers minus hop-by-hop
/// plus this server's `Via` entry, body. Returns what to record and, for passthrough, what to
/// answer (502 when unreachable).
async fn forward_to(
    api: &api::Ctx,
    f: &Forward,
    r: &CapturedRequest,
    keep_body: usize,
) -> (ForwardResult, ResponseSent) {
    let url = BinRules::forward_url(f, r);
    let via = crate::outbound::via_entry(api.store.instance(), false);
    let o = api
        .outbound
        .send(crate::outbound::Outgoing::resend(
            r,
            url.clone(),
            f.timeout,
            f.insecure_tls,
            keep_body,
            &via,
        ))
        .await;
    let excerpt = o.body.slice(..o.body.len().min(64 * 1024));
    let result = ForwardResult {
        url,
        status: o.status,
        headers: o.headers.clone(),
        body: crate::model::Body::new(excerpt, o.body.len() > 64 * 1024 || o.body_truncated),
        latency_ms: crate::model::millis(o.latency),
        error: o.error.clone(),
    };
    let response = match o.status {
        Some(status) => ResponseSent {
            status,
            headers: o
                .headers
                .into_iter()
                .filter(|h| crate::render::is_end_to_end(&h.name))
                .collect(),
            body: crate::model::Body::new(o.body, false),
            delay_ms: 0,
            dropped: false,
        },
        None => {
            let v = json!({"ok": false, "bin": r.bin, "error": {"code": "bad_gateway",
                "message": format!("forward target {} did not answer: {}", result.url, o.error.unwrap_or_default())}});
            ResponseSent {
                status: 502,
                headers: vec![Header::new("Content-Type", &b"application/json"[..])],
                body: crate::model::Body::new(Bytes::from(v.to_string()), false),
                delay_ms: 0,
                dropped: false,
            }
        }
    };
    (result, response)
}

/// A forward not made: recorded as the capture's forward result with `why`; passthrough answers
/// `status` with the reason.
fn not_forwarded(
    f: &Forward,
    r: &CapturedRequest,
    status: u16,
    code: &str,
    why: String,
) -> (ForwardResult, ResponseSent) {
    let v = json!({"ok": false, "bin": r.bin, "error": {"code": code, "message": why}});
    let result = ForwardResult {
        url: BinRules::forward_url(f, r),
        status: None,
        headers: Vec::new(),
        body: crate::model::Body::default(),
        latency_ms: 0.0,
        error: Some(why),
    };
    let response = ResponseSent {
        status,
        headers: vec![Header::new("Content-Type", &b"application/json"[..])],
        body: crate::model::Body::new(Bytes::from(v.to_string()), false),
        delay_ms: 0,
        dropped: false,
    };
    (result, response)
}

struct App {
    config: Config,
    /// The store, the outbound client and the sender, shared with the API handlers.
    api: api::Ctx,
    /// Turns for mirror forwards in flight ([`MAX_MIRRORS`]).
    mirrors: Arc<tokio::sync::Semaphore>,
    shutdown: watch::Receiver<bool>,
}

async fn accept_loop(listener: TcpListener, app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slow = SlowClients::new(Timeouts {
        head: app.config.header_timeout,
        body: app.config.body_timeout,
        idle: app.config.idle_timeout,
    });
    // the tap and hyper give up on an oversize head at the same size
    let max_buf = app.config.max_header_size.max(8192) + 64 * 1024;
    tokio::spawn(slow.clone().sweep(shutdown.clone()));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(x) => x,
                    Err(_) => {
                        // out of file descriptors and the like: back off, never spin
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (io, heads) = TapIo::new(tcp, max_buf, Some(&slow));
                let conn_app = app.clone();
                let svc = service_fn(move |req| {
                    let app = conn_app.clone();
                    let heads = heads.clone();
                    async move { app.handle(req, peer, heads).await }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    // slow heads and bodies and idle connections are closed by the wire tap's
                    // sweeper: no timer per request
                    .header_read_timeout(None)
                    .max_buf_size(max_buf)
                    .keep_alive(true);
                builder.http2().timer(TokioTimer::new());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

impl App {
    async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        heads: Heads,
    ) -> Result<Resp, DropConnection> {
        // one head per request, in order, whatever the route: keeps the tap aligned
        let head = heads.pop();
        // while this request is answered its connection is neither idle nor late
        let _answering = heads.answering();
        let path = req.uri().path();
        let r = if path == "/_" || path.starts_with("/_/") {
            // boxed: the API's futures are large, and hyper moves the service future for every
            // request; capture keeps a small one
            Ok(Box::pin(self.reserved(req)).await)
        } else {
            self.catch(req, peer, head).await
        };
        if let Ok(resp) = &r {
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                // hyper hands the connection over: what follows is not HTTP/1
                heads.upgraded();
            }
        }
        r
    }

    async fn catch(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        head: Option<crate::wire::RawHead>,
    ) -> Result<Resp, DropConnection> {
        let limits = CaptureLimits {
            max_body: self.config.max_body,
            trust_proxy: self.config.trust_proxy,
        };
        let mut snap = capture::snapshot(req, head, peer, limits).await;
        // a body that did not arrive whole is recorded and refused, never forwarded
        let incomplete = snap.end != BodyEnd::Complete;
        let end = snap.end.clone();
        let body_timeout = self.config.body_timeout;
        let html = prefers_html(&snap.request);
        let max_body = self.config.max_body;
        let rules = self.api.store.bin_rules(&snap.request.bin);
        let mut passthrough = None;
        let mut mirror = None;
        if let Some(rules) = &rules {
            let now = crate::sign::unix_now();
            snap.request.signature = rules.check_signature(&snap.request, now);
            let looped =
                crate::outbound::passed_through(&snap.request.headers, self.api.store.instance());
            match &rules.forward {
                // recorded, never forwarded again: a forward to this server itself ends here
                Some(f) if looped => {
                    let (result, response) = not_forwarded(
                        f,
                        &snap.request,
                        508,
                        "loop_detected",
                        "forward loop: this request already passed through this hookpit; \
                         it was recorded and not forwarded again"
                            .into(),
                    );
                    snap.request.forward = Some(result);
                    if f.mode == ForwardMode::Passthrough && !incomplete {
                        passthrough = Some(response);
                    }
                }
                Some(f) if f.mode == ForwardMode::Passthrough && !incomplete => {
                    let (result, response) = Box::pin(self.forward(f, &snap.request)).await;
                    snap.request.forward = Some(result);
                    passthrough = Some(response);
                }
                Some(f) if f.mode == ForwardMode::Mirror && !incomplete => {
                    match self.mirrors.clone().try_acquire_owned() {
                        Ok(turn) => mirror = Some((f.clone(), turn)),
                        Err(_) => {
                            let why = format!(
                                "skipped: {MAX_MIRRORS} mirror forwards are already in flight"
                            );
                            let (result, _) = not_forwarded(f, &snap.request, 503, "busy", why);
                            snap.request.forward = Some(result);
                        }
                    }
                }
                _ => {}
            }
        }
        // which rule matches is worked out here, outside the store's lock (filters over a large
        // body on a blocking thread); only the sequence and fault state is decided under it
        let matched = match &rules {
            Some(rules) if rules.has_rules() && passthrough.is_none() && !incomplete => {
                let first = if crate::matcher::BodyJson::heavy(&snap.request) {
                    let (rules, req) = (rules.clone(), snap.request.clone());
                    tokio::task::spawn_blocking(move || rules.first_rule(&req))
                        .await
                        .unwrap_or(None)
                } else {
                    rules.first_rule(&snap.request)
                };
                Some((rules.clone(), first))
            }
            _ => None,
        };
        let mut delay = Duration::ZERO;
        let mut drop_conn = false;
        let rec = self.api.store.record(snap.request, |r, settings| {
            r.response = if let Some(refused) = refusal(&end, r, max_body, body_timeout) {
                refused
            } else if let Some(p) = passthrough {
                p
            } else if let Some(rules) = settings.rules.clone() {
                let first = || match &matched {
                    // the rules matched above are still the bin's (no config change meanwhile)
                    Some((m, first)) if Arc::ptr_eq(m, &rules) => *first,
                    _ => rules.first_rule(r),
                };
                let d = rules.decide_matched(r, &mut settings.progress, first, || {
                    default_response(r, html)
                });
                delay = d.delay;
                drop_conn = d.drop;
                d.response
            } else {
                default_response(r, html)
            };
        });
        if let Some((f, turn)) = mirror {
            let api = self.api.clone();
            let rec = rec.clone();
            tokio::spawn(async move {
                let (result, _) = forward_to(&api, &f, &rec, 64 * 1024).await;
                drop(turn);
                api.store.update(rec.id, |r| r.forward = Some(result));
            });
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if drop_conn {
            return Err(DropConnection);
        }
        Ok(to_hyper(&rec.response))
    }

    /// Forwards in passthrough mode: the target's whole answer goes back to the sender (a 502
    /// when it cannot be reached).
    async fn forward(&self, f: &Forward, r: &CapturedRequest) -> (ForwardResult, ResponseSent) {
        forward_to(&self.api, f, r, self.config.max_body).await
    }

    async fn reserved(&self, req: Request<Incoming>) -> Resp {
        if let Err(e) = self.check_access(&req) {
            return error_response(&e);
        }
        let path = req.uri().path().to_owned();
        if path == "/_" {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
            r.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/_/"));
            return r;
        }
        let rest = &path[3..];
        if rest == "ws" {
            if !live::is_upgrade(&req) {
                return error_response(&Error::bad("upgrade", "/_/ws is a websocket endpoint"));
            }
            let params = api::Params::of(&req);
            let sub = match subscription(&params, self.api.store.instance()) {
                Ok(s) => s,
                Err(e) => return error_response(&e),
            };
            return live::accept(req, self.api.store.clone(), sub, self.shutdown.clone());
        }
        if let Some(api_path) = rest.strip_prefix("api/") {
            let api_path = api_path.to_owned();
            let mut r = self.api.handle(req, &api_path).await;
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return r;
        }
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return error_response(&Error::Api {
                status: 405,
                code: "method_not_allowed".into(),
                message: "the viewer's files are read-only".into(),
            });
        }
        match assets::get(rest) {
            Some(a) => {
                let mut r = Response::new(Full::new(Bytes::from_static(a.bytes)));
                let h = r.headers_mut();
                h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
                h.insert(
                    CACHE_CONTROL,
                    HeaderValue::from_static(assets::cache_control(a)),
                );
                h.insert(
                    "x-content-type-options",
                    HeaderValue::from_static("nosniff"),
                );
                h.insert(
                    "content-security-policy",
                    HeaderValue::from_static(assets::CSP),
                );
                h.insert("x-frame-options", HeaderValue::from_static("DENY"));
                h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
                // only a client that presented the token in the URL is handed it as a cookie
                if let Some(t) = &self.config.token {
                    let presented = query_token(&req).is_some_and(|given| token_eq(&given, t));
                    let cookie = format!("hookpit_token={t}; Path=/_/; HttpOnly; SameSite=Strict");
                    if let (true, Ok(v)) = (presented, HeaderValue::from_str(&cookie)) {
                        h.insert("set-cookie", v);
                    }
                }
                r
            }
            None => error_response(&Error::not_found("file", format!("/_/{rest}"))),
        }
    }

    /// The DNS-rebinding, cross-site and token checks of SPEC §11.
    fn check_access(&self, req: &Request<Incoming>) -> Result<()> {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
            .unwrap_or_default();
        if !host_allowed(&host, &self.config.allow_hosts, self.config.listen.ip()) {
            return Err(Error::Forbidden(format!(
                "Host `{host}` is not allowed for the viewer and API (add it with --allow-host)"
            )));
        }
        let state_changing = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
            || live::is_upgrade(req);
        if state_changing {
            if let Some(origin) = req.headers().get("origin") {
                let origin = origin.to_str().unwrap_or("");
                let same = origin.eq_ignore_ascii_case(&format!("http://{host}"))
                    || origin.eq_ignore_ascii_case(&format!("https://{host}"));
                if !same {
                    return Err(Error::Forbidden(format!(
                        "cross-origin request from `{origin}` refused"
                    )));
                }
            }
        }
        if let Some(token) = &self.config.token {
            let path = req.uri().path();
            let is_static = path.len() > 3
                && !path.starts_with("/_/api")
                && path != "/_/ws"
                && !path.ends_with(".html");
            if !is_static && !token_matches(req, token) {
                return Err(Error::Unauthorized(
                    "a token is required: open the viewer with ?token=T or send Authorization: Bearer T"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// The live feed's subscription. A client resuming with `after` from another server instance
/// (a restart) gets every kept request instead: its ids belong to the old instance.
fn subscription(params: &api::Params, instance: &str) -> Result<live::Subscription> {
    let bin = params
        .get("bin")
        .filter(|b| !b.is_empty())
        .map(str::to_owned);
    if let Some(b) = &bin {
        if !crate::model::valid_bin_name(b) {
            return Err(Error::bad("bin", format!("`{b}` is not a bin name")));
        }
    }
    let mut after: Option<RequestId> = params.num("after")?;
    if params
        .get("instance")
        .is_some_and(|i| !i.is_empty() && i != instance)
    {
        after = Some(0);
    }
    Ok(live::Subscription {
        bin,
        after,
        filter: params.filter()?,
    })
}

fn query_token(req: &Request<Incoming>) -> Option<String> {
    api::Params::of(req).get("token").map(str::to_owned)
}

fn token_matches(req: &Request<Incoming>, token: &str) -> bool {
    if let Some(v) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            if token_eq(t.trim(), token) {
                return true;
            }
        }
    }
    if query_token(req).is_some_and(|t| token_eq(&t, token)) {
        return true;
    }
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("hookpit_token="))
        .any(|t| token_eq(t, token))
}

/// Compares a presented token with the real one in time that depends on neither's content nor
/// length: both are hashed, and the digests compared without an early exit.
fn token_eq(given: &str, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    constant_time_eq(&Sha256::digest(given), &Sha256::digest(token))
}

/// Equal-length slices compared with a fold of XORs (no early exit).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Is `host` (a Host header value, port included) a name the viewer and API answer to?
pub fn host_allowed(host: &str, allow: &[String], bound: IpAddr) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        }
    };
    if name.is_empty() {
        return false;
    }
    let lname = name.to_ascii_lowercase();
    if lname == "localhost" || lname.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = lname.parse::<IpAddr>() {
        if ip.is_loopback() || (!bound.is_unspecified() && ip == bound) {
            return true;
        }
    }
    allow
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(&lname))
}

/// Does the request's `Accept` prefer HTML over JSON (a browser opening a catch URL)?
fn prefers_html(r: &CapturedRequest) -> bool {
    let Some(accept) = r.header("accept") else {
        return false;
    };
    let find = |needle: &str| {
        accept
            .as_bytes()
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    match (find("text/html"), find("application/json")) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}

fn default_response(r: &CapturedRequest, html: bool) -> ResponseSent {
    let (ctype, body) = if html {
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>hookpit: captured</title>\
             <link rel=icon href=\"/_/icon.svg\">\
             <p>hookpit captured this request as #{id} in bin <b>{bin}</b>.</p>\
             <p><a href=\"/_/#/bin/{bin}/{id}\">Open it in the viewer</a></p>\n",
            id = r.id,
            bin = r.bin,
        );
        ("text/html; charset=utf-8", page.into_bytes())
    } else {
        let v = json!({"ok": true, "bin": r.bin, "id": r.id});
        (
            "application/json",
            serde_json::to_vec(&v).unwrap_or_default(),
        )
    };
    ResponseSent {
        status: 200,
        headers: vec![Header::new("Content-Type", ctype.as_bytes())],
        body: crate::model::Body::new(Bytes::from(body), false),
        delay_ms: 0,
        dropped: false,
    }
}

/// The answer to a request whose body did not arrive whole: 413 past the size limit, 408 past
/// the body timeout, 400 for broken framing or a body cut short; `None` for a complete body.
fn refusal(
    end: &BodyEnd,
    r: &CapturedRequest,
    limit: usize,
    body_timeout: Duration,
) -> Option<ResponseSent> {
    let (status, code, message) = match end {
        BodyEnd::Complete => return None,
        BodyEnd::TooLarge => (
            413,
            "payload_too_large",
            format!(
                "request body larger than {limit} bytes; the first {limit} bytes were recorded"
            ),
        ),
        BodyEnd::TimedOut => (
            408,
            "body_timeout",
            format!(
                "the request body did not arrive within {}; the bytes received were recorded",
                crate::config::format_duration(body_timeout)
            ),
        ),
        BodyEnd::Broken(why) => (
            400,
            "bad_body",
            format!("the request body could not be read ({why}); the bytes received were recorded"),
        ),
    };
    let v =
        json!({"ok": false, "bin": r.bin, "id": r.id, "error": {"code": code, "message": message}});
    Some(ResponseSent {
        status,
        headers: vec![Header::new("Content-Type", &b"application/json"[..])],
        body: crate::model::Body::new(
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            false,
        ),
        delay_ms: 0,
        dropped: false,
    })
}

/// The hyper response for a recorded response.
pub fn to_hyper(sent: &ResponseSent) -> Resp {
    let mut r = Response::new(Full::new(sent.body.bytes.clone()));
    *r.status_mut() = StatusCode::from_u16(sent.status).unwrap_or(StatusCode::OK);
    for h in &sent.headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(&h.value),
        ) {
            r.headers_mut().append(n, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical_whatever_their_lengths() {
        assert!(token_eq("s3cret", "s3cret"));
        for other in [
            "",
            "s",
            "s3cre",
            "s3cret!",
            "S3cret",
            "s3cres",
            "s3cret s3cret",
        ] {
            assert!(!token_eq(other, "s3cret"), "{other}");
        }
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }
}
