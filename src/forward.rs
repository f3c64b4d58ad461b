//! Forwarding a capture on to its bin's forward target (SPEC §12 `forward`): the target URL,
//! the outgoing copy with this server's `Via` entry, loop detection (a capture that already
//! passed through this server is recorded but never forwarded again), passthrough (the
//! target's answer goes back to the sender) and the bounded mirror (at most [`MAX_MIRRORS`]
//! mirror forwards in flight; past it the forward is recorded as skipped).
//!
//! Uses `outbound` (the client, `Via` entries), `store` (the instance, a mirror's result),
//! `rules` (the forward settings), `render` (which headers are end-to-end) and `model`. Called
//! by `server`'s capture path.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::{CapturedRequest, ForwardResult, Header, ResponseSent};
use crate::outbound::Outbound;
use crate::rules::{Forward, ForwardMode};
use crate::store::Store;

/// Mirror forwards in flight per server; past it a capture's forward is recorded as skipped.
pub const MAX_MIRRORS: usize = 64;

/// How much of a mirror target's answer is kept.
const MIRROR_KEEP: usize = 64 * 1024;

/// Forwards this server's captures: holds the outbound client and the mirror turns.
#[derive(Clone)]
pub struct Forwarder {
    store: Store,
    outbound: Outbound,
    /// Turns for mirror forwards in flight ([`MAX_MIRRORS`]).
    mirrors: Arc<Semaphore>,
    /// How much of a passthrough target's answer is kept and sent back (`--max-body`).
    max_body: usize,
}

/// What forwarding decided before a capture is recorded.
#[derive(Default)]
pub struct Decided {
    /// The answer for the sender when the forward is a passthrough.
    pub passthrough: Option<ResponseSent>,
    /// A mirror forward with its turn taken, sent once the capture is recorded.
    pub mirror: Option<Mirror>,
}

/// A mirror forward holding its turn; [`Forwarder::mirror`] sends it.
pub struct Mirror {
    forward: Forward,
    turn: OwnedSemaphorePermit,
}

impl Forwarder {
    pub fn new(store: Store, outbound: Outbound, max_body: usize) -> Forwarder {
        Forwarder {
            store,
            outbound,
            mirrors: Arc::new(Semaphore::new(MAX_MIRRORS)),
            max_body,
        }
    }

    /// Forwards `request` by `f` before it is recorded, setting its forward result: a loop
    /// is refused with 508, a passthrough is sent now and its answer returned, a mirror takes
    /// a turn (or is skipped when none is free) to be sent after recording. A body that did not
    /// arrive whole (`incomplete`) is never forwarded.
    pub async fn before_record(
        &self,
        f: &Forward,
        request: &mut CapturedRequest,
        incomplete: bool,
    ) -> Decided {
        let mut decided = Decided::default();
        let looped = crate::outbound::passed_through(&request.headers, &self.store.instance());
        if looped {
            // recorded, never forwarded again: a forward to this server itself ends here
            let (result, response) = not_forwarded(
                f,
                request,
                508,
                "loop_detected",
                "forward loop: this request already passed through this hookpit; \
                 it was recorded and not forwarded again"
                    .into(),
            );
            request.forward = Some(Box::new(result));
            if f.mode == ForwardMode::Passthrough && !incomplete {
                decided.passthrough = Some(response);
            }
        } else if f.mode == ForwardMode::Passthrough && !incomplete {
            let (result, response) = Box::pin(forward_to(
                &self.store,
                &self.outbound,
                f,
                request,
                self.max_body,
            ))
            .await;
            request.forward = Some(Box::new(result));
            decided.passthrough = Some(response);
        } else if f.mode == ForwardMode::Mirror && !incomplete {
            match self.mirrors.clone().try_acquire_owned() {
                Ok(turn) => {
                    let forward = f.clone();
                    decided.mirror = Some(Mirror { forward, turn });
                }
                Err(_) => {
                    let why =
                        format!("skipped: {MAX_MIRRORS} mirror forwards are already in flight");
                    let (result, _) = not_forwarded(f, request, 503, "busy", why);
                    request.forward = Some(Box::new(result));
                }
            }
        }
        decided
    }

    /// Sends a mirror forward of the recorded capture `rec` in the background and records its
    /// result on the capture; the mirror's turn is given back once the target has answered.
    pub fn mirror(&self, m: Mirror, rec: Arc<CapturedRequest>) {
        let this = self.clone();
        tokio::spawn(async move {
            let (result, _) =
                forward_to(&this.store, &this.outbound, &m.forward, &rec, MIRROR_KEEP).await;
            drop(m.turn);
            this.store
                .update(rec.id, |r| r.forward = Some(Box::new(result)));
        });
    }
}

/// The URL a request is forwarded to: the target's URL plus the request's path after its
/// bin segment, plus its query.
pub fn forward_url(f: &Forward, r: &CapturedRequest) -> String {
    let target = crate::model::origin_form(&r.target);
    let rest = target
        .strip_prefix('/')
        .and_then(|t| t.strip_prefix(r.bin.as_str()))
        .filter(|t| t.is_empty() || t.starts_with('/') || t.starts_with('?'))
        .unwrap_or(target);
    format!("{}{}", f.url, rest)
}

/// Sends a captured request on to a forward target: exact method, headers minus hop-by-hop
/// plus this server's `Via` entry, body. Returns what to record and, for passthrough, what to
/// answer (502 when unreachable).
async fn forward_to(
    store: &Store,
    outbound: &Outbound,
    f: &Forward,
    r: &CapturedRequest,
    keep_body: usize,
) -> (ForwardResult, ResponseSent) {
    let url = forward_url(f, r);
    let via = crate::outbound::via_entry(&store.instance(), false);
    let o = outbound
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
                headers: Arc::from([Header::new("Content-Type", &b"application/json"[..])]),
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
        url: forward_url(f, r),
        status: None,
        headers: Vec::new(),
        body: crate::model::Body::default(),
        latency_ms: 0.0,
        error: Some(why),
    };
    let response = ResponseSent {
        status,
        headers: Arc::from([Header::new("Content-Type", &b"application/json"[..])]),
        body: crate::model::Body::new(Bytes::from(v.to_string()), false),
        delay_ms: 0,
        dropped: false,
    };
    (result, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bin: &str, target: &str) -> CapturedRequest {
        CapturedRequest {
            id: 1,
            bin: bin.into(),
            received_at: std::time::SystemTime::UNIX_EPOCH,
            timings: Default::default(),
            method: "POST".into(),
            target: target.into(),
            split: None,
            version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            headers: Vec::new(),
            body: Default::default(),
            response: ResponseSent::default(),
            signature: None,
            forward: None,
        }
    }

    fn to(url: &str) -> Forward {
        Forward {
            url: url.into(),
            mode: ForwardMode::Mirror,
            timeout: std::time::Duration::from_secs(1),
            insecure_tls: false,
        }
    }

    #[test]
    fn the_forward_url_is_the_target_plus_the_path_after_the_bin_and_the_query() {
        let f = to("http://app.test/hooks");
        for (target, want) in [
            ("/gh/push?x=1", "http://app.test/hooks/push?x=1"),
            ("/gh", "http://app.test/hooks"),
            ("/gh?x=1", "http://app.test/hooks?x=1"),
            // a first segment that only starts with the bin's name is kept whole
            ("/ghost", "http://app.test/hooks/ghost"),
            ("http://proxy.test/gh/a", "http://app.test/hooks/a"),
            (
                "/gh/a?callback=http://x/y",
                "http://app.test/hooks/a?callback=http://x/y",
            ),
        ] {
            assert_eq!(forward_url(&f, &request("gh", target)), want, "{target}");
        }
    }
}
