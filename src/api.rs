//! The JSON REST API under `/_/api/` (SPEC §4, §12): bins, requests and their body/raw/curl
//! renderings, deletion, waits, exports, replay, health, and the provider events' route
//! (`trigger`, answered by `trigger_api`).
//!
//! Uses `http` (request and response helpers), `store`, `model`, `render`, `import` (an export
//! read back), `rules` (bin configs), `config` (durations), `replay` (a replay's request, edited
//! and re-signed), `outbound` (which sends it, with this hookpit's `Via` entry), `trigger_api`
//! and `error`; never `sender_api`. Body decodes and imports run on
//! blocking threads, a few at once ([`Decoding`]); an import's file is read under its own bound
//! ([`ImportLimits`]) and recorded through `Store::record`, like a capture, and refused like one
//! while the durable store cannot keep it (`journal`'s health). Every handler
//! answers either JSON or the error JSON `{"error":{"code","message"}}`; none of them panics on
//! input. Routing here is by path segments; `server` has already done the Host/Origin/token
//! checks, refused requests that came from this hookpit itself, and handed the sender's routes
//! to `sender_api`. Filter work (`q=` on listings, clears and exports) runs on the blocking
//! pool, never under the store's lock.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{
    json_response, method_not_allowed, read_json_within, text_response, ApiRequest, Params, Resp,
};
use crate::import::{ImportLimits, Imported};
use crate::journal::Health;
use crate::model::{valid_bin_name, CapturedRequest, RequestId};
use crate::outbound::Outbound;
use crate::render;
use crate::replay;
use crate::rules::BinSetup;
use crate::store::{Store, WaitOutcome, WaitSpec, MAX_WAIT_COUNT};

/// Body decodes (`?decode=1`) running at once, and imports being parsed and recorded at once;
/// more wait for a turn.
pub const MAX_DECODES: usize = 2;

/// How long a decode or an import waits for its turn before answering 503.
const DECODE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an import file may take to arrive.
const IMPORT_READ: std::time::Duration = std::time::Duration::from_secs(60);

/// What the API handlers share.
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub outbound: Outbound,
    pub decoding: Decoding,
    /// The server's `--max-body`: a configured response body may not be larger.
    pub max_body: usize,
    /// The server's `--max-header-size`: a replay's header list may not be larger.
    pub max_header_size: usize,
    /// Replays and triggers in flight: at most [`MAX_SENDS`] at once, so clients that go
    /// away while a slow target keeps them waiting cannot pile up sockets and tasks.
    pub sends: Arc<tokio::sync::Semaphore>,
    /// The shared store, in shared mode: imports are kept there first.
    pub shared: Option<Arc<crate::shared::Shared>>,
}

/// Replays and triggers sent at once; more are answered 503.
pub const MAX_SENDS: usize = 64;

/// Decoding captured bodies: at most `limit` bytes of output (`--max-body`), at most
/// [`MAX_DECODES`] at once, each on a blocking thread so the runtime's workers keep capturing.
#[derive(Clone)]
pub struct Decoding {
    limit: usize,
    turns: Arc<tokio::sync::Semaphore>,
    /// An import file being received: one at a time, so the server holds at most one file's
    /// bytes (up to a quarter of `--max-memory`) however many clients send one.
    import_reads: Arc<tokio::sync::Semaphore>,
}

/// Waits up to [`DECODE_WAIT`] for a turn of `turns`; past it, 503 saying `busy`.
async fn turn(
    turns: &Arc<tokio::sync::Semaphore>,
    busy: impl FnOnce() -> String,
) -> Result<tokio::sync::OwnedSemaphorePermit> {
    tokio::time::timeout(DECODE_WAIT, turns.clone().acquire_owned())
        .await
        .ok()
        .and_then(|t| t.ok())
        .ok_or_else(|| Error::Busy(busy()))
}

impl Decoding {
    pub fn new(limit: usize) -> Decoding {
        Decoding {
            limit,
            turns: Arc::new(tokio::sync::Semaphore::new(MAX_DECODES)),
            import_reads: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// The request's body decoded by its `Content-Encoding` ([`render::decode_bounded`]).
    pub async fn decode(&self, r: Arc<CapturedRequest>) -> Result<Bytes> {
        let codings = render::content_codings(&r);
        if codings.is_empty() {
            return Ok(r.body.bytes.clone());
        }
        let turn = turn(&self.turns, || {
            format!("{MAX_DECODES} bodies are being decoded; try again shortly")
        })
        .await?;
        let limit = self.limit;
        tokio::task::spawn_blocking(move || {
            // the turn is held until the work is done, even when the client has gone
            let _turn = turn;
            render::decode_bounded(&r.body.bytes, &codings, limit)
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }
}

fn ok(v: serde_json::Value) -> Result<Resp> {
    Ok(json_response(StatusCode::OK, &v))
}

/// Refuses a write while the durable store cannot take it: 503 while it is behind, 507 while
/// its writes fail.
fn store_takes_writes(store: &Store) -> Result<()> {
    match store.health() {
        Health::Ok => Ok(()),
        Health::Behind => Err(Error::Busy(
            "the data directory is behind with its writes; retry shortly".into(),
        )),
        Health::Failing(why) => Err(Error::StoreUnavailable(why)),
        Health::Offline(why) => Err(Error::StoreOffline(why)),
    }
}

fn bin_name(s: &str) -> Result<&str> {
    if valid_bin_name(s) {
        Ok(s)
    } else {
        Err(Error::bad(
            "bin",
            format!("`{s}` is not a bin name ([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})"),
        ))
    }
}

/// Resolves `{id|latest}`.
pub fn find_request(store: &Store, id: &str, params: &Params) -> Result<Arc<CapturedRequest>> {
    if id == "latest" {
        return store
            .latest(params.get("bin"))
            .ok_or_else(|| Error::not_found("request", "latest"));
    }
    let n: RequestId = id
        .parse()
        .map_err(|_| Error::bad("id", format!("`{id}` is not a request id or `latest`")))?;
    store.get(n).ok_or_else(|| Error::not_found("request", n))
}

impl Ctx {
    /// Answers the API's own routes (`health`, `bins`, `requests`); `segs` is the decoded path
    /// after `/_/api/` ([`crate::http::segments`]), `path` the path as asked; any other path
    /// is a 404.
    pub async fn route(
        &self,
        req: ApiRequest,
        segs: &[&str],
        params: &Params,
        path: &str,
    ) -> Result<Resp> {
        let method = req.method().clone();
        match (&method, segs) {
            (&Method::GET, ["health"]) => {
                let store = self.store.describe();
                let healthy = store["ok"] == json!(true);
                let body = json!({
                    "ok": healthy,
                    "version": env!("CARGO_PKG_VERSION"),
                    "instance": self.store.instance(),
                    "stats": self.store.stats(),
                    "pending_waits": self.store.pending_waits(),
                    "subscribers": self.store.subscribers(),
                    "store": store,
                });
                if healthy {
                    ok(body)
                } else {
                    // a store that cannot take captures makes the server unhealthy
                    Ok(json_response(StatusCode::SERVICE_UNAVAILABLE, &body))
                }
            }
            (&Method::GET, ["bins"]) => {
                let limit: usize = params.num("limit")?.unwrap_or(usize::MAX);
                let offset: usize = params.num("offset")?.unwrap_or(0);
                // summaries are snapshotted under the store's lock and serialised here
                let (bins, total) = self.store.bins_page(offset, limit);
                ok(json!({"bins": bins, "total": total}))
            }
            (&Method::GET, ["bins", b]) => {
                let b = bin_name(b)?;
                let s = self
                    .store
                    .bin(b)
                    .ok_or_else(|| Error::not_found("bin", b))?;
                ok(json!(s))
            }
            (&Method::PUT, ["bins", b]) => {
                let b = bin_name(b)?.to_owned();
                let body = read_json_within(req, crate::rules::MAX_CONFIG_BYTES).await?;
                self.put_bin(&b, body)
            }
            (&Method::DELETE, ["bins", b]) => {
                let b = bin_name(b)?;
                if self.store.delete_bin(b) {
                    ok(json!({"ok": true, "bin": b}))
                } else {
                    Err(Error::not_found("bin", b))
                }
            }
            (&Method::GET, ["bins", b, "requests"]) => {
                let b = bin_name(b)?;
                self.list(Some(b), params).await
            }
            (&Method::GET, ["requests"]) => self.list(params.get("bin"), params).await,
            (&Method::DELETE, ["bins", b, "requests"]) => {
                let b = bin_name(b)?;
                let filter = params.filter()?;
                let n = match filter {
                    None => self.store.clear(b, None),
                    Some(f) => {
                        let (store, bin) = (self.store.clone(), b.to_owned());
                        off_workers(move || store.clear(&bin, Some(&|r| f.matches(r)))).await?
                    }
                };
                ok(json!({"ok": true, "bin": b, "deleted": n.unwrap_or(0)}))
            }
            (&Method::DELETE, ["bins", b, "sequence"]) => {
                let b = bin_name(b)?;
                if self.store.bin(b).is_none() {
                    return Err(Error::not_found("bin", b));
                }
                let s = self
                    .store
                    .configure_bin(b, |s| s.progress.sequence_position = 0);
                ok(json!(s))
            }
            (&Method::GET, ["bins", b, "wait"]) => {
                let b = bin_name(b)?.to_owned();
                self.wait(b, params).await
            }
            (&Method::GET, ["bins", b, "export"]) => {
                let b = bin_name(b)?;
                self.export(b, params).await
            }
            (&Method::POST, ["bins", b, "import"]) => {
                let b = bin_name(b)?.to_owned();
                self.import(b, req).await
            }
            (&Method::POST, ["requests", id, "replay"]) => {
                let r = find_request(&self.store, id, params)?;
                // the turn is taken before the edits are read: at most [`MAX_SENDS`] replay
                // bodies are held at once
                let _turn = self.send_turn()?;
                // room for a new body of `--max-body` bytes, escaped, and its headers
                let limit = (self.max_body.saturating_mul(2))
                    .saturating_add(self.max_header_size.saturating_mul(2))
                    .max(16 * 1024 * 1024);
                let body = read_json_within(req, limit).await?;
                self.replay(&r, body).await
            }
            (&Method::POST, ["trigger"]) => {
                let _turn = self.send_turn()?;
                let body = read_json_within(req, crate::trigger_api::MAX_REQUEST_BYTES).await?;
                let instance = self.store.instance();
                ok(crate::trigger_api::handle(&self.outbound, &instance, body).await?)
            }
            (&Method::GET, ["requests", id]) => {
                let r = find_request(&self.store, id, params)?;
                if params.flag("body", true)? {
                    ok(json!(&*r))
                } else {
                    ok(json!(r.without_body()))
                }
            }
            (&Method::DELETE, ["requests", id]) => {
                let r = find_request(&self.store, id, params)?;
                self.store.delete(r.id);
                ok(json!({"ok": true, "id": r.id}))
            }
            (&Method::GET, ["requests", id, "body"]) => {
                let r = find_request(&self.store, id, params)?;
                let bytes = if params.flag("decode", false)? {
                    self.decoding.decode(r.clone()).await?
                } else {
                    r.body.bytes.clone()
                };
                Ok(render::body_response(&r, bytes))
            }
            (&Method::GET, ["requests", id, "raw"]) => {
                let r = find_request(&self.store, id, params)?;
                Ok(text_response("text/plain; charset=utf-8", render::raw(&r)))
            }
            (&Method::GET, ["requests", id, "curl"]) => {
                let r = find_request(&self.store, id, params)?;
                Ok(text_response(
                    "text/plain; charset=utf-8",
                    render::curl(&r, params.get("url")).into_bytes(),
                ))
            }
            (_, ["health" | "bins" | "requests" | "trigger", ..]) => {
                Err(method_not_allowed(&method, path))
            }
            _ => Err(Error::not_found("API route", format!("/_/api/{path}"))),
        }
    }

    async fn list(&self, bin: Option<&str>, params: &Params) -> Result<Resp> {
        let filter = params.filter()?;
        let limit: usize = params.num("limit")?.unwrap_or(100).min(100_000);
        let after: RequestId = params.num("after")?.unwrap_or(0);
        let before: Option<RequestId> = params.num("before")?;
        let with_body = params.flag("body", true)?;
        let (reqs, more) = match filter {
            None => self.store.list(bin, after, before, limit, |_| true),
            Some(f) => {
                let (store, bin) = (self.store.clone(), bin.map(str::to_owned));
                off_workers(move || {
                    store.list(bin.as_deref(), after, before, limit, |r| f.matches(r))
                })
                .await?
            }
        };
        let reqs: Vec<serde_json::Value> = reqs
            .iter()
            .map(|r| {
                if with_body {
                    json!(&**r)
                } else {
                    json!(r.without_body())
                }
            })
            .collect();
        ok(json!({"requests": reqs, "has_more": more}))
    }

    async fn wait(&self, bin: String, params: &Params) -> Result<Resp> {
        let filter = params.filter()?.unwrap_or_default();
        let count: usize = params.num("count")?.unwrap_or(1);
        if count == 0 {
            return Err(Error::bad("count", "must be at least 1"));
        }
        if count > MAX_WAIT_COUNT {
            return Err(Error::bad(
                "count",
                format!("at most {MAX_WAIT_COUNT} requests per wait"),
            ));
        }
        // `after=now`: only requests that arrive after this call count (an old request that
        // happens to match is the classic CI trap)
        let after: RequestId = match params.get("after") {
            Some("now") => self.store.stats().last_id,
            _ => params.num("after")?.unwrap_or(0),
        };
        let timeout = params.wait_timeout()?;
        let spec = WaitSpec {
            bin,
            filter,
            count,
            after,
            timeout,
        };
        match self.store.wait(spec).await {
            WaitOutcome::Matched(reqs) => ok(json!({ "requests": reqs })),
            WaitOutcome::TimedOut(report) => {
                let closest: Vec<serde_json::Value> = report
                    .closest
                    .iter()
                    // bodies past the feed's preview limit are left out (`omitted`): five
                    // 10 MiB requests per report would let waits pin gigabytes
                    .map(|m| {
                        json!({
                            "request": &*m.request.preview(self.store.limits().preview_limit),
                            "failed": m.failed,
                            "why": m.why,
                        })
                    })
                    .collect();
                Ok(json_response(
                    StatusCode::REQUEST_TIMEOUT,
                    &json!({
                        "error": {"code": "timeout", "message": report.to_string().lines().next().unwrap_or_default()},
                        // the partial matches by id and head; their bodies are a GET away
                        "matched": report
                            .matched
                            .iter()
                            .map(|r| r.without_body())
                            .collect::<Vec<_>>(),
                        "closest": closest,
                    }),
                ))
            }
        }
    }

    async fn export(&self, bin: &str, params: &Params) -> Result<Resp> {
        let filter = params.filter()?;
        let (store, b) = (self.store.clone(), bin.to_owned());
        let (mut reqs, _) = off_workers(move || {
            store.list(Some(&b), 0, None, usize::MAX, |r| {
                filter.as_ref().is_none_or(|f| f.matches(r))
            })
        })
        .await?;
        reqs.reverse();
        match params.get("format").unwrap_or("har") {
            "har" => {
                let mut r = json_response(StatusCode::OK, &render::har(&reqs));
                attach(&mut r, &format!("{bin}.har"));
                Ok(r)
            }
            "ndjson" => {
                let mut out = Vec::new();
                for r in &reqs {
                    serde_json::to_writer(&mut out, &**r)?;
                    out.push(b'\n');
                }
                let mut r = text_response("application/x-ndjson", out);
                attach(&mut r, &format!("{bin}.ndjson"));
                Ok(r)
            }
            other => Err(Error::bad(
                "format",
                format!("`{other}` is not an export format (har or ndjson)"),
            )),
        }
    }

    /// `POST /_/api/bins/{bin}/import`: the body is an NDJSON export or a HAR log; every
    /// request in it is recorded into `bin` in the file's order, with new ids, keeping the
    /// response the file recorded. Nothing is recorded unless the whole file parses.
    async fn import(&self, bin: String, req: ApiRequest) -> Result<Resp> {
        // imported requests are captures: none is answered 2xx while the durable store cannot
        // keep it
        self.store_takes_writes()?;
        let limits = ImportLimits::for_server(self.max_body, self.store.limits().max_memory);
        let body = req.into_body();
        if hyper::body::Body::size_hint(&body).lower() > limits.max_bytes as u64 {
            return Err(limits.too_large());
        }
        let reading = turn(&self.decoding.import_reads, || {
            "another import file is being received; try again shortly".into()
        })
        .await?;
        // a file that trickles in does not hold the one turn for ever
        let bytes = tokio::time::timeout(
            IMPORT_READ,
            crate::http::collect_within(body, limits.max_bytes),
        )
        .await
        .map_err(|_| {
            Error::bad(
                "body",
                format!(
                    "the import file did not arrive within {}",
                    crate::units::format_duration(IMPORT_READ)
                ),
            )
        })?
        .map_err(|e| Error::bad("body", format!("the import file could not be read: {e}")))?
        .ok_or_else(|| limits.too_large())?;
        drop(reading);
        let turn = turn(&self.decoding.turns, || {
            "other imports and body decodes are running; try again shortly".into()
        })
        .await?;
        let mut done = Imported {
            imported: 0,
            first_id: None,
            last_id: None,
        };
        if let Some(shared) = &self.shared {
            // shared mode: each request is kept by Redis, which gives its id
            let reqs = off_workers(move || {
                let _turn = turn;
                crate::import::parse(&bytes, &limits)
            })
            .await??;
            for mut r in reqs {
                store_takes_writes(&self.store)?;
                r.bin.clone_from(&bin);
                let kept = shared
                    .capture(r, None, false, |_, _, _| {})
                    .await
                    .map_err(|crate::shared::Refused::Offline(why)| Error::StoreOffline(why))?;
                done.imported += 1;
                done.first_id.get_or_insert(kept.id);
                done.last_id = Some(kept.id);
            }
            return ok(json!(done));
        }
        let store = self.store.clone();
        let done = off_workers(move || {
            // the turn is held until the work is done, even when the client has gone
            let _turn = turn;
            let reqs = crate::import::parse(&bytes, &limits)?;
            drop(bytes);
            // the store may have failed while the file was read and parsed
            store_takes_writes(&store)?;
            for mut r in reqs {
                r.bin.clone_from(&bin);
                // the no-op `respond` keeps the response the file recorded
                let kept = store.record(r, |_, _, _| {});
                done.imported += 1;
                done.first_id.get_or_insert(kept.id);
                done.last_id = Some(kept.id);
            }
            Ok::<_, Error>(done)
        })
        .await??;
        ok(json!(done))
    }

    /// Refuses a write while the durable store cannot take it (503 behind, 507 failing).
    fn store_takes_writes(&self) -> Result<()> {
        store_takes_writes(&self.store)
    }

    /// `POST /_/api/requests/{id}/replay`: the captured request, edited and re-signed as the
    /// body asks ([`crate::replay`]), sent to `url`; the target's answer (or why there was
    /// none) and what was sent.
    /// A turn to send a replay or trigger now, or 503 while [`MAX_SENDS`] are in flight.
    fn send_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.sends.clone().try_acquire_owned().map_err(|_| {
            Error::Busy(format!(
                "{MAX_SENDS} replays and triggers are already waiting for their targets; try again shortly"
            ))
        })
    }

    /// Sends the replay of `r` that `body` asks for; the caller holds a send turn.
    async fn replay(&self, r: &CapturedRequest, body: serde_json::Value) -> Result<Resp> {
        let bounds = replay::Bounds {
            max_body: self.max_body,
            max_head: self.max_header_size,
        };
        let edit = replay::Edit::from_json(&body, bounds)?;
        let verify = if edit.resign {
            let rules = self.store.bin_rules(&r.bin);
            if rules.is_none() && self.store.bin(&r.bin).is_none() {
                return Err(Error::not_found("bin", &r.bin));
            }
            match rules.and_then(|rules| rules.verify.clone()) {
                Some(v) => Some(v),
                None => return Err(Error::bad(
                    "resign",
                    format!(
                        "bin {0} has no `verify` to sign with; set one first, e.g. `hookpit bin set {0} --verify github --secret S` or PUT /_/api/bins/{0} {{\"verify\": {{\"scheme\": \"github\", \"secret\": \"S\"}}}}",
                        r.bin
                    ),
                )),
            }
        } else {
            None
        };
        let fresh = replay::Fresh {
            now: crate::sign::unix_now(),
            msg_id: crate::sign::new_msg_id()
                .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?,
        };
        let via = crate::outbound::via_entry(&self.store.instance(), false);
        let out = replay::outgoing(r, &edit, verify.as_ref().map(|v| (v, &fresh)), &via);
        let sent = replay::Sent {
            headers: crate::outbound::headers_as_sent(&out),
            body_size: out.body.len(),
            resigned: verify.is_some(),
        };
        let o = self.outbound.send_as_given(out).await;
        ok(json!({
            "ok": o.status.is_some_and(|s| (200..300).contains(&s)),
            "url": edit.url,
            "status": o.status,
            "headers": o.headers,
            "body": crate::model::Body::new(o.body, o.body_truncated),
            "latency_ms": crate::model::millis(o.latency),
            "error": o.error,
            "sent": sent,
        }))
    }

    fn put_bin(&self, bin: &str, body: serde_json::Value) -> Result<Resp> {
        let body = match body {
            serde_json::Value::Null => json!({}),
            v @ serde_json::Value::Object(_) => v,
            _ => return Err(Error::bad("config", "expected a JSON object")),
        };
        let setup = BinSetup::from_json(&body, self.max_body)?;
        ok(json!(self.store.apply_bin_config(bin, setup)))
    }
}

/// Runs filter work on the blocking pool, so a long search holds neither the store's lock nor
/// an async worker.
async fn off_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::Api {
            status: 500,
            code: "internal".into(),
            message: "a search failed".into(),
        })
}

fn attach(r: &mut Resp, filename: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut()
            .insert(hyper::header::CONTENT_DISPOSITION, v);
    }
}
