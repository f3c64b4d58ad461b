//! The server: binds (port 0 works), runs hyper's accept loop with upgrades over the wire tap,
//! and routes each request. Under `/_/`, once `access` has let it through: the viewer's files,
//! the live feed, and the API, where a request that came from this hookpit itself is refused
//! (508) and the rest goes to `sender_api` (`webhooks`, `events`, `deliveries`) or `api`.
//! Everything else is a capture: snapshotted, held to its bin's rate limit first (`limit`, through
//! the bin's rules), checked against its bin's signature scheme, forwarded when its bin says so
//! (`forward`), answered by its bin's rules or the default answer, and recorded.
//! [`Server::start`] hands out an `embed::ServerHandle` that shuts it all down on drop.
//!
//! With `--tls-listen` a second listener serves the same over HTTPS (`tls` makes or reads the
//! certificate); its decrypted streams go through the same wire tap and service.
//!
//! Uses `config`, `store`, `wire`, `capture`, `access`, `forward`, `live`, `api`, `sender_api`,
//! `http`, `assets`, `outbound`, `deliver`, `embed`, `rules`, `limit`, `tls`, `matcher`, `model`
//! and `error`. It owns the listeners, the connections and the shutdown signal; the store owns
//! the data.

use std::net::SocketAddr;
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
use hyper_util::server::graceful::Watcher;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::access;
use crate::api;
use crate::assets;
use crate::capture::{self, BodyEnd, CaptureLimits};
use crate::config::Config;
use crate::deliver::Sender;
use crate::disk::{Disk, DiskOptions};
use crate::embed::ServerHandle;
use crate::error::{Error, Result};
use crate::forward::Forwarder;
use crate::http::{self, error_response, ApiBody, ApiRequest, Params, Resp};
use crate::journal::Health;
use crate::live;
use crate::model::{CapturedRequest, Header, RequestId, ResponseSent};
use crate::sender_api;
use crate::store::{Limits, Store};
use crate::wire::{Heads, SlowClients, TapIo, Timeouts};

/// How long in-flight responses get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

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
        let tls_listener = match config.tls_listen {
            None => None,
            Some(at) => Some(TcpListener::bind(at).await.map_err(|reason| {
                Error::bad(
                    "--tls-listen",
                    format!(
                        "cannot listen on {at}: {reason} (pick another address, e.g. 127.0.0.1:0)"
                    ),
                )
            })?),
        };
        let limits = Limits {
            max_requests: config.max_requests.max(1),
            max_memory: config.max_memory,
            max_bins: config.max_bins.max(1),
            preview_limit: config.preview_limit,
            feed_capacity: config.feed_capacity,
        };
        let shared = match &config.redis {
            Some(url) => Some(
                crate::shared::Shared::connect(crate::shared::SharedOptions {
                    url: url.clone(),
                    max_requests: limits.max_requests,
                    max_bins: limits.max_bins,
                    max_body: config.max_body,
                })
                .await?,
            ),
            None => None,
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (store, disk, snapshot) = match &config.data_dir {
            None if shared.is_some() => {
                let journal = shared
                    .clone()
                    .map(|s| -> Arc<dyn crate::journal::Journal> { s });
                // Redis decides which bins go past --max-bins (all caches follow its feed)
                let cache = Limits {
                    max_bins: usize::MAX,
                    ..limits
                };
                let store = Store::with_journal(cache, journal);
                if let Some(s) = &shared {
                    // what Redis holds is read in before the config file's bins are applied
                    s.attach(&store, shutdown_rx.clone()).await?;
                }
                (store, None, None)
            }
            Some(dir) => {
                let (dir, max_disk, max_memory) = (dir.clone(), config.max_disk, config.max_memory);
                let (disk, snapshot) = tokio::task::spawn_blocking(move || {
                    Disk::open(
                        &dir,
                        DiskOptions {
                            max_disk,
                            max_memory,
                        },
                    )
                })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
                let journal: Arc<dyn crate::journal::Journal> = disk.clone();
                let store = Store::with_journal(limits, Some(journal));
                (store, Some(disk), Some(snapshot))
            }
            None => (Store::new(limits), None, None),
        };
        let mut warnings = Vec::new();
        let (webhooks, deliveries) = match snapshot {
            Some(mut snap) => {
                let sender_state = (
                    std::mem::take(&mut snap.webhooks),
                    std::mem::take(&mut snap.deliveries),
                );
                // a large store is read back on the blocking pool, like any heavy work
                let s = store.clone();
                let stale = tokio::task::spawn_blocking(move || s.restore(snap))
                    .await
                    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
                warnings.extend(stale.into_iter().map(|bin| {
                    format!("bin {bin}: its stored config no longer applies; the bin was kept without one")
                }));
                sender_state
            }
            None => (Vec::new(), Vec::new()),
        };
        for decl in &config.bins {
            // validated when declared; only the server's own body limit is new here
            decl.setup()
                .check_bodies(config.max_body)
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
            // a bin the data directory brought back with this very config keeps its sequence
            // position and fault generator
            let kept = store
                .bin(&decl.name)
                .is_some_and(|b| *b.config == decl.setup().json);
            if !kept {
                store.apply_bin_config(&decl.name, decl.setup().clone());
            }
        }
        // the certificate after the data directory is open (and locked): a made one is kept there
        let tls = match tls_listener {
            None => None,
            Some(listener) => {
                let source = config.cert_source();
                let identity = tokio::task::spawn_blocking(move || crate::tls::load(&source))
                    .await
                    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
                let acceptor =
                    tokio_rustls::TlsAcceptor::from(crate::tls::acceptor_config(&identity)?);
                let info = crate::tls::TlsInfo {
                    addr: listener.local_addr()?,
                    fingerprint: identity.fingerprint(),
                    cert_pem: identity.cert_pem.clone(),
                };
                Some((TlsListener { listener, acceptor }, info))
            }
        };
        let (tls, tls_info) = match tls {
            Some((l, i)) => (Some(l), Some(i)),
            None => (None, None),
        };
        let own: Vec<SocketAddr> = std::iter::once(addr)
            .chain(tls_info.as_ref().map(|t| t.addr))
            .collect();
        let outbound = crate::outbound::Outbound::for_listeners(&own);
        // in shared mode the sender that runs is the one of the instance holding the sender's
        // seat (`shared::seat`); this one only stands in for it and tells Redis nothing
        let sender = crate::deliver::Sender::for_server(
            &config,
            if shared.is_some() {
                store.quiet()
            } else {
                store.clone()
            },
            outbound.clone(),
            addr,
            shutdown_rx.clone(),
        )?;
        if let Some(s) = &shared {
            let (config, store, outbound) = (config.clone(), store.clone(), outbound.clone());
            s.seat_sender(
                Box::new(move |stop| {
                    crate::deliver::Sender::for_server(
                        &config,
                        store.clone(),
                        outbound.clone(),
                        addr,
                        stop,
                    )
                }),
                shutdown_rx.clone(),
            );
        }
        // after the config's webhooks, before serving: run-time webhooks, the log, retries
        let restored = sender.restore(webhooks, deliveries)?;
        warnings.extend(restored.shadowed.iter().map(|name| {
            format!("webhook {name}: the config file now declares a webhook of this name; the one made at run time was not brought back")
        }));
        warnings.extend(restored.renumbered.iter().map(|(old, new)| {
            format!("webhook {old}: the config file now has a webhook with this id; the one made at run time is now webhook {new}")
        }));
        let app = Arc::new(App {
            forwarder: Forwarder::new(store.clone(), outbound.clone(), config.max_body),
            api: api::Ctx {
                store: store.clone(),
                outbound,
                decoding: api::Decoding::new(config.max_body),
                max_body: config.max_body,
                max_header_size: config.max_header_size,
                sends: Arc::new(tokio::sync::Semaphore::new(api::MAX_SENDS)),
                shared: shared.clone(),
            },
            sender: sender.clone(),
            config,
            default_headers: DefaultHeaders::new(),
            diagnoses: crate::rules::Diagnoses::default(),
            shutdown: shutdown_rx.clone(),
            shared,
        });
        // what came back from the data directory is not counted as captured by this run
        let started_after = store.stats().last_id;
        let task = tokio::spawn(accept_loop(listener, tls, app, shutdown_rx));
        Ok(
            ServerHandle::new(addr, store, sender, disk, shutdown_tx, task)
                .with_warnings(warnings)
                .with_tls(tls_info)
                .started_after(started_after),
        )
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

/// What every connection's service shares: the settings, the API, the forwarder and the
/// shutdown signal.
struct App {
    config: Config,
    /// The store and the outbound client, shared with the API handlers.
    api: api::Ctx,
    /// The webhook sender, whose routes `sender_api` answers.
    sender: Sender,
    /// Forwards captures on, with the mirror forwards' turns.
    forwarder: Forwarder,
    shutdown: watch::Receiver<bool>,
    /// The default answer's headers (JSON, HTML), shared by every kept request that carries them.
    default_headers: DefaultHeaders,
    /// Turns for diagnosing large bodies whose signature failed (see `rules::check_signature`).
    diagnoses: crate::rules::Diagnoses,
    /// The shared store, in shared mode (`--redis`): captures are kept there first.
    shared: Option<Arc<crate::shared::Shared>>,
}

/// The HTTPS listener and what completes its handshakes.
struct TlsListener {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// What serving one connection needs, shared by both listeners.
struct Conns {
    app: Arc<App>,
    slow: Arc<SlowClients>,
    max_buf: usize,
}

impl Conns {
    /// Serves one connection (plain, or decrypted TLS) exactly as the plain listener does.
    fn serve<S>(&self, io: S, peer: SocketAddr, watcher: Watcher)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let max_buf = self.max_buf;
        let (io, heads) = TapIo::new(io, max_buf, Some(&self.slow));
        let conn_app = self.app.clone();
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
            // a client that sends its request and then shuts its write side (as
            // `nc -N` and some HTTP/1.0 clients do) still has it recorded and answered
            .half_close(true)
            .keep_alive(true);
        // an HTTP/2 head may be as large as an HTTP/1 one (`--max-header-size`), not h2's 16 KiB
        let max_head = u32::try_from(self.app.config.max_header_size).unwrap_or(u32::MAX);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(max_head);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), svc)
            .into_owned();
        let conn = watcher.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// Accepts on the plain listener and, when there is one, the HTTPS listener, until shutdown;
/// then gives the open connections [`DRAIN`] to finish. A TLS handshake runs in its own task,
/// bounded by the header timeout (a client that connects and stalls is dropped; one that speaks
/// plain HTTP to the HTTPS port is told to use HTTPS, then dropped), and abandoned at shutdown.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsListener>,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slow = SlowClients::new(Timeouts {
        head: app.config.header_timeout,
        body: app.config.body_timeout,
        idle: app.config.idle_timeout,
    });
    // the tap and hyper give up on an oversize head at the same size
    let max_buf = app.config.max_header_size.max(8192) + 64 * 1024;
    tokio::spawn(slow.clone().sweep(shutdown.clone()));
    let handshake = app.config.header_timeout;
    let conns = Arc::new(Conns { app, slow, max_buf });
    let tls_accept = || async {
        match &tls {
            Some(t) => t.listener.accept().await,
            None => std::future::pending().await,
        }
    };
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
                conns.serve(tcp, peer, graceful.watcher());
            }
            accepted = tls_accept() => {
                let (Ok((tcp, peer)), Some(t)) = (accepted, &tls) else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, conns, watcher) = (t.acceptor.clone(), conns.clone(), graceful.watcher());
                let mut stop = shutdown.clone();
                tokio::spawn(async move {
                    let done = tokio::select! {
                        done = tokio::time::timeout(handshake, handshake_or_plain(&acceptor, tcp)) => done,
                        _ = stop.changed() => return,
                    };
                    // a late or failed handshake, or plain HTTP: the socket is dropped (closed)
                    if let Ok(Some(stream)) = done {
                        conns.serve(stream, peer, watcher);
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    drop(tls);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

/// Completes a TLS handshake. A client that speaks plain HTTP instead (its first byte does not
/// start a TLS handshake record) is answered 400 in plain text naming the `https://` URL, then
/// closed: the caller bounds all of it by the header timeout.
async fn handshake_or_plain(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    /// A TLS record of type handshake starts every ClientHello.
    const HANDSHAKE_RECORD: u8 = 0x16;
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await.ok()? == 1 && first[0] != HANDSHAKE_RECORD {
        tell_to_use_https(tcp).await;
        return None;
    }
    acceptor.accept(tcp).await.ok()
}

/// Answers a plain-HTTP request on the HTTPS port: reads its head (at most 16 KiB), writes a
/// 400 naming the `https://` URL, and reads on until the client closes, so the answer is not
/// lost to a reset.
async fn tell_to_use_https(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MAX_READ: usize = 16 * 1024;
    let port = tcp.local_addr().map(|a| a.port()).unwrap_or(443);
    let mut buf = vec![0u8; MAX_READ];
    let mut read = 0;
    loop {
        let n = match tcp.read(&mut buf[read..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // only the new bytes (and the three before them) can complete the blank line
        let from = read.saturating_sub(3);
        read += n;
        if read == MAX_READ || buf[from..read].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let body = format!(
        "This port speaks HTTPS: send the request to https://localhost:{port}/ (the plain HTTP \
         listener is a different port).\n"
    );
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \
         {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if tcp.write_all(answer.as_bytes()).await.is_err() || tcp.shutdown().await.is_err() {
        return;
    }
    while let Ok(n) = tcp.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
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
            Ok(Box::pin(self.reserved(req.map(ApiBody::new))).await)
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
        // nothing is answered 2xx unless it is kept: while the durable store cannot take it,
        // the sender is told to come back (and the request is not kept)
        let unhealthy = match self.api.store.health() {
            Health::Ok => None,
            Health::Behind => {
                let mut r = error_response(&Error::Busy(
                    "the data directory is behind with its writes; retry shortly".into(),
                ));
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
                Some(r)
            }
            Health::Failing(why) => {
                let mut r = error_response(&Error::StoreUnavailable(why));
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("5"));
                Some(r)
            }
            Health::Offline(why) => {
                let mut r = error_response(&Error::StoreOffline(why));
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
                Some(r)
            }
        };
        if let Some(r) = unhealthy {
            // the body is read and dropped, so the sender sees this answer and not a reset
            crate::http::linger(req.into_body());
            return Ok(r);
        }
        let limits = CaptureLimits {
            max_body: self.config.max_body,
            trust_proxy: self.config.trust_proxy,
            // without a head from the tap (HTTP/2) its clock does not follow this body
            body_timeout: head.is_none().then_some(self.config.body_timeout),
        };
        let mut snap = capture::snapshot(req, head, peer, limits).await;
        // a body that did not arrive whole is recorded and refused, never forwarded
        let incomplete = snap.end != BodyEnd::Complete;
        let end = snap.end.clone();
        let body_timeout = self.config.body_timeout;
        let html = prefers_html(&snap.request);
        let max_body = self.config.max_body;
        let rules = self.api.store.bin_rules(&snap.request.bin);
        // the bin's rate limit comes first, as at a provider's edge: a request over it is
        // answered by the limit alone (no forward, no rule, no sequence step) and still recorded
        let limited = rules.as_ref().and_then(|r| {
            let l = r.limit.as_ref()?;
            l.admit(std::time::Instant::now())
                .err()
                .map(|wait| (l.limit, wait))
        });
        let mut passthrough = None;
        let mut mirror = None;
        let mut late_diagnosis = None;
        if let Some(rules) = &rules {
            let now = crate::sign::unix_now();
            let (check, late) = rules.check_signature(&snap.request, now, &self.diagnoses);
            snap.request.signature = check.map(Box::new);
            late_diagnosis = late;
            if let Some(f) = rules.forward.as_ref().filter(|_| limited.is_none()) {
                let decided = self
                    .forwarder
                    .before_record(f, &mut snap.request, incomplete)
                    .await;
                passthrough = decided.passthrough;
                mirror = decided.mirror;
            }
        }
        // which rule matches is worked out here, outside the store's lock (filters over a large
        // body on a blocking thread); only the sequence and fault state is decided under it
        let matched = match &rules {
            Some(rules)
                if rules.has_rules()
                    && passthrough.is_none()
                    && !incomplete
                    && limited.is_none() =>
            {
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
        let passthrough_none = passthrough.is_none();
        let decide = |r: &mut CapturedRequest,
                      progress: &mut crate::rules::Progress,
                      bin_rules: Option<Arc<crate::rules::BinRules>>| {
            r.response = if let Some((limit, wait)) = &limited {
                limit.refusal(r, *wait)
            } else if let Some(refused) = refusal(&end, r, max_body, body_timeout) {
                refused
            } else if let Some(p) = passthrough {
                p
            } else if let Some(rules) = bin_rules {
                let first = || match &matched {
                    // the rules matched above are still the bin's (no config change meanwhile)
                    Some((m, first)) if Arc::ptr_eq(m, &rules) => *first,
                    _ => rules.first_rule(r),
                };
                let d = rules.decide_matched(r, progress, first, || {
                    default_response(r, html, &self.default_headers)
                });
                delay = d.delay;
                drop_conn = d.drop;
                d.response
            } else {
                default_response(r, html, &self.default_headers)
            };
        };
        let rec = match &self.shared {
            None => self.api.store.record(snap.request, decide),
            Some(shared) => {
                // only a request the rules answer may take a sequence step or fault draw
                let steps = limited.is_none() && !incomplete && passthrough_none;
                match shared
                    .capture(snap.request, rules.clone(), steps, decide)
                    .await
                {
                    Ok(rec) => rec,
                    Err(crate::shared::Refused::Offline(why)) => {
                        let mut r = error_response(&Error::StoreOffline(why));
                        r.headers_mut()
                            .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
                        return Ok(r);
                    }
                }
            }
        };
        if let Some(m) = mirror {
            self.forwarder.mirror(m, rec.clone());
        }
        if let Some(late) = late_diagnosis {
            // a large body's diagnosis, after the answer: the request is updated when it is done
            let store = self.api.store.clone();
            let (diagnoses, rec) = (self.diagnoses.clone(), rec.clone());
            let id = rec.id;
            tokio::spawn(async move {
                diagnoses
                    .run(late, rec, move |check| {
                        store.update(id, |r| r.signature = Some(Box::new(check)));
                    })
                    .await;
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

    /// Answers `/_/api/{path}`. A request that came from this hookpit itself (its `Via`
    /// entry) is refused with 508; the sender's routes (`webhooks`, `events`, `deliveries`) go
    /// to `sender_api`, the rest to `api`.
    async fn api(&self, req: ApiRequest, path: &str) -> Result<Resp> {
        let headers: Vec<Header> = req
            .headers()
            .get_all("via")
            .iter()
            .map(|v| Header::new("Via", v.as_bytes()))
            .collect();
        if crate::outbound::came_from(&headers, &self.api.store.instance()) {
            // a forward, replay or delivery of this hookpit reached its own API by another name
            return Err(Error::LoopDetected(
                "forward loop: this request came from this hookpit itself; it does not call its own API"
                    .into(),
            ));
        }
        let segs = http::segments(path);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let params = Params::of(&req);
        match segs.first() {
            Some(&("webhooks" | "events" | "deliveries")) => {
                let method = req.method().clone();
                let body = crate::http::read_body(req).await?;
                match &self.shared {
                    Some(shared) => {
                        shared
                            .sender_route(&method, body, &segs, &params, path)
                            .await
                    }
                    None => {
                        sender_api::route(&self.sender, &method, body, &segs, &params, path).await
                    }
                }
            }
            _ => self.api.route(req, &segs, &params, path).await,
        }
    }

    async fn reserved(&self, req: ApiRequest) -> Resp {
        if let Err(e) = access::check(&self.config, &req) {
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
            let params = Params::of(&req);
            let sub = match subscription(&params, &self.api.store.instance()) {
                Ok(s) => s,
                Err(e) => return error_response(&e),
            };
            return live::accept(req, self.api.store.clone(), sub, self.shutdown.clone());
        }
        if let Some(api_path) = rest.strip_prefix("api/") {
            let api_path = api_path.to_owned();
            let mut r = match self.api(req, &api_path).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            };
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
                if let Some(v) = access::token_cookie(&self.config, &req) {
                    h.insert("set-cookie", v);
                }
                r
            }
            None => error_response(&Error::not_found("file", format!("/_/{rest}"))),
        }
    }
}

/// The live feed's subscription. A client resuming with `after` from another server instance
/// (a restart) gets every kept request instead: its ids belong to the old instance.
fn subscription(params: &Params, instance: &str) -> Result<live::Subscription> {
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

/// The default answer's headers, made once: every kept request's response shares them.
struct DefaultHeaders {
    json: Arc<[Header]>,
    html: Arc<[Header]>,
}

impl DefaultHeaders {
    fn new() -> DefaultHeaders {
        let name: Arc<str> = Arc::from("Content-Type");
        let one = |v: &str| Arc::from([Header::new(name.clone(), v.as_bytes())]);
        DefaultHeaders {
            json: one("application/json"),
            html: one("text/html; charset=utf-8"),
        }
    }
}

fn default_response(r: &CapturedRequest, html: bool, headers: &DefaultHeaders) -> ResponseSent {
    let body = if html {
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>hookpit: captured</title>\
             <link rel=icon href=\"/_/icon.svg\">\
             <p>hookpit captured this request as #{id} in bin <b>{bin}</b>.</p>\
             <p><a href=\"/_/#/bin/{bin}/{id}\">Open it in the viewer</a></p>\n",
            id = r.id,
            bin = r.bin,
        );
        page.into_bytes()
    } else {
        // `{"ok":true,"bin":…,"id":…}` written straight into one buffer of its exact length:
        // this runs for every capture without rules, under the store's lock
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut id = r.id;
        loop {
            at -= 1;
            digits[at] = b'0' + (id % 10) as u8;
            id /= 10;
            if id == 0 {
                break;
            }
        }
        let id = &digits[at..];
        // a bin's name needs no JSON escaping (`valid_bin_name`); anything else is escaped
        let plain = r
            .bin
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        let bin = if plain {
            std::borrow::Cow::Borrowed(r.bin.as_str())
        } else {
            std::borrow::Cow::Owned(serde_json::to_string(&r.bin).unwrap_or_default())
        };
        let quote: &[u8] = if plain { b"\"" } else { b"" };
        const HEAD: &[u8] = b"{\"ok\":true,\"bin\":";
        let mut body =
            Vec::with_capacity(HEAD.len() + bin.len() + 2 * quote.len() + 6 + id.len() + 1);
        body.extend_from_slice(HEAD);
        body.extend_from_slice(quote);
        body.extend_from_slice(bin.as_bytes());
        body.extend_from_slice(quote);
        body.extend_from_slice(b",\"id\":");
        body.extend_from_slice(id);
        body.push(b'}');
        body
    };
    ResponseSent {
        status: 200,
        headers: if html {
            headers.html.clone()
        } else {
            headers.json.clone()
        },
        // kept as long as the request: no spare capacity, no separate sharing record
        body: crate::model::Body::new(Bytes::from(body.into_boxed_slice()), false),
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
                crate::units::format_duration(body_timeout)
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
        headers: Arc::from([Header::new("Content-Type", &b"application/json"[..])]),
        body: crate::model::Body::new(
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            false,
        ),
        delay_ms: 0,
        dropped: false,
    })
}

/// Response bodies up to this size are copied into the answer rather than shared with the
/// kept request (see [`to_hyper`]).
const SMALL_BODY: usize = 256;

/// The hyper response for a recorded response.
pub fn to_hyper(sent: &ResponseSent) -> Resp {
    // a small body is copied: a clone of the kept bytes would give them a sharing record that
    // stays with the request as long as it is kept
    let body = if sent.body.bytes.len() <= SMALL_BODY {
        Bytes::copy_from_slice(&sent.body.bytes)
    } else {
        sent.body.bytes.clone()
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = StatusCode::from_u16(sent.status).unwrap_or(StatusCode::OK);
    for h in sent.headers.iter() {
        // the default answer's header, without parsing its name or copying its value
        if h.name.eq_ignore_ascii_case("content-type") {
            const JSON: HeaderValue = HeaderValue::from_static("application/json");
            const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
            let known = match &*h.value {
                b"application/json" => Some(JSON),
                b"text/html; charset=utf-8" => Some(HTML),
                _ => None,
            };
            if let Some(v) = known {
                r.headers_mut().append(hyper::header::CONTENT_TYPE, v);
                continue;
            }
        }
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

    fn captured(id: RequestId, bin: &str) -> CapturedRequest {
        CapturedRequest {
            id,
            bin: bin.into(),
            received_at: std::time::SystemTime::now(),
            timings: Default::default(),
            method: "POST".into(),
            target: "/x".into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            headers: Vec::new(),
            body: Default::default(),
            response: Default::default(),
            signature: None,
            forward: None,
        }
    }

    #[test]
    fn the_default_answer_is_the_json_of_its_bin_and_id_and_exactly_that_long() {
        let ct = DefaultHeaders::new();
        for (id, bin) in [
            (0, "default"),
            (7, "a.b-c_1"),
            (1_234_567_890, "stripe"),
            (u64::MAX, "x"),
            (42, "quo\"te\\back"),
        ] {
            let sent = default_response(&captured(id, bin), false, &ct);
            let want =
                serde_json::to_vec(&serde_json::json!({"ok": true, "bin": bin, "id": id})).unwrap();
            assert_eq!(&sent.body.bytes[..], &want[..], "{bin} {id}");
            let hyper = to_hyper(&sent);
            assert_eq!(hyper.headers()["content-type"], "application/json");
        }
    }
}
