//! The websocket live feed `/_/ws?bin=&after=&q=`: the handshake over hyper's upgrade, then one
//! task per viewer that sends `hello` (the most recently active bins and `bins_total`), replays
//! kept requests newer than `after`, and forwards the store's feed, with pings, a `resync` when the
//! viewer fell behind, and a hang-up when it stops reading altogether. Viewers send little: a
//! message or frame over 64 KiB closes their socket.
//!
//! Uses `store`, `model` and `matcher`. The feed's JSON is made once per event by the store; this
//! module only filters and forwards it. A slow viewer only ever slows itself.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::http::ApiRequest;
use crate::matcher::Filter;
use crate::model::RequestId;
use crate::store::{Change, FeedEvent, Store};

const PING_EVERY: Duration = Duration::from_secs(20);
/// A viewer whose socket accepts nothing for this long is hung up on.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message and frame a viewer may send (it only ever sends pongs and closes).
const MAX_INCOMING: usize = 64 * 1024;
/// The socket's read buffer. Viewers send little, and every poll for input zeroes the buffer's
/// free part first: the library's default (128 KiB) cost a 128 KiB memset per wake-up.
const READ_BUFFER: usize = 4 * 1024;
/// At most this many feed messages go out in one write.
const MAX_BATCH: usize = 64;

/// What a viewer subscribed to.
pub struct Subscription {
    pub bin: Option<String>,
    pub after: Option<RequestId>,
    pub filter: Option<Filter>,
}

/// Is this an acceptable websocket upgrade request?
pub fn is_upgrade(req: &ApiRequest) -> bool {
    let has = |name: &str, want: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    has("connection", "upgrade") && has("upgrade", "websocket")
}

/// Answers the handshake and spawns the viewer's task.
pub fn accept(
    mut req: ApiRequest,
    store: Store,
    sub: Subscription,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Full::new(Bytes::from_static(b"missing Sec-WebSocket-Key")))
            .unwrap_or_default();
    };
    let accept_key = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // subscribe before the replay scan so nothing captured in between is missed
    let rx = store.subscribe();
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let config = WebSocketConfig::default()
                .read_buffer_size(READ_BUFFER)
                .max_message_size(Some(MAX_INCOMING))
                .max_frame_size(Some(MAX_INCOMING));
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            let _ = Viewer { ws, store, sub }.run(rx, shutdown).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept_key)
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

fn json_bytes(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// Is this event news to a viewer that has sent requests up to `last_sent`? A request the
/// replay already sent is not; a newer one moves `last_sent` on.
fn fresh(ev: &FeedEvent, last_sent: &mut RequestId) -> bool {
    if let Change::Request(r) = &ev.change {
        if r.id <= *last_sent {
            return false;
        }
        *last_sent = r.id;
    }
    true
}

struct Viewer<S> {
    ws: WebSocketStream<S>,
    store: Store,
    sub: Subscription,
}

enum Step {
    Go,
    Stop,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Viewer<S> {
    async fn send(&mut self, bytes: Bytes) -> Step {
        let Ok(text) = Utf8Bytes::try_from(bytes) else {
            return Step::Go;
        };
        match tokio::time::timeout(SEND_TIMEOUT, self.ws.send(Message::Text(text))).await {
            Ok(Ok(())) => Step::Go,
            _ => Step::Stop,
        }
    }

    async fn send_json(&mut self, v: serde_json::Value) -> Step {
        self.send(json_bytes(&v)).await
    }

    /// Queues a message without writing it out: [`Viewer::flush`] (or a full write buffer) does.
    async fn queue(&mut self, bytes: Bytes) -> Step {
        let Ok(text) = Utf8Bytes::try_from(bytes) else {
            return Step::Go;
        };
        match tokio::time::timeout(SEND_TIMEOUT, self.ws.feed(Message::Text(text))).await {
            Ok(Ok(())) => Step::Go,
            _ => Step::Stop,
        }
    }

    /// Writes out what [`Viewer::queue`] queued.
    async fn flush(&mut self) -> Step {
        match tokio::time::timeout(SEND_TIMEOUT, self.ws.flush()).await {
            Ok(Ok(())) => Step::Go,
            _ => Step::Stop,
        }
    }

    /// Requests, deletions and clears follow the `bin` and `q` subscription; bin summaries,
    /// removed bins and deliveries go to every viewer (a viewer's bin list and delivery log span
    /// all bins).
    fn wants(&self, ev: &FeedEvent) -> bool {
        match &ev.change {
            Change::Bin(_)
            | Change::Delivery(_)
            | Change::Notice(_)
            | Change::Cleared {
                removed: Some(_), ..
            } => return true,
            Change::Request(r) | Change::Updated(r)
                if self.sub.filter.as_ref().is_some_and(|f| !f.matches(r)) =>
            {
                return false;
            }
            _ => {}
        }
        match (&self.sub.bin, ev.bin()) {
            (Some(want), Some(bin)) => want == bin,
            _ => true,
        }
    }

    async fn run(
        mut self,
        mut rx: crate::store::Subscriber,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<()> {
        if let Step::Stop = self.send_json(self.store.hello()).await {
            return None;
        }
        let mut last_sent: RequestId = 0;
        if let Some(after) = self.sub.after {
            let (kept, lost) = self.store.replay(self.sub.bin.as_deref(), after);
            if lost {
                let msg = serde_json::json!({"type": "resync", "reason": "evicted"});
                if let Step::Stop = self.send_json(msg).await {
                    return None;
                }
            }
            let limit = self.store.limits().preview_limit;
            for r in kept {
                last_sent = r.id;
                if self.sub.filter.as_ref().is_some_and(|f| !f.matches(&r)) {
                    continue;
                }
                let msg = serde_json::json!({"type": "request", "request": &*r.preview(limit)});
                if let Step::Stop = self.send_json(msg).await {
                    return None;
                }
            }
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                got = rx.recv() => {
                    // whatever else already waits goes out in the same write: a viewer that
                    // fell a little behind catches up with one syscall, not one per message
                    let (mut next, mut queued, mut closed) = (Some(got), 0, false);
                    while let Some(got) = next.take() {
                        let bytes = match got {
                            Ok(ev) => {
                                if !fresh(&ev, &mut last_sent) || !self.wants(&ev) {
                                    None
                                } else {
                                    Some(ev.json())
                                }
                            }
                            Err(RecvError::Lagged(n)) => Some(json_bytes(&serde_json::json!(
                                {"type": "resync", "reason": format!("lagged: {n} events skipped")}
                            ))),
                            Err(RecvError::Closed) => {
                                closed = true;
                                None
                            }
                        };
                        if let Some(bytes) = bytes {
                            if let Step::Stop = self.queue(bytes).await {
                                return None;
                            }
                            queued += 1;
                        }
                        if queued < MAX_BATCH && !closed {
                            next = match rx.try_recv() {
                                Ok(ev) => Some(Ok(ev)),
                                Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                                Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                                Err(TryRecvError::Empty) => None,
                            };
                        }
                    }
                    if queued > 0 {
                        if let Step::Stop = self.flush().await {
                            return None;
                        }
                    }
                    if closed {
                        break;
                    }
                }
                msg = self.ws.next() => match msg {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => {
                    let sent = tokio::time::timeout(SEND_TIMEOUT, self.ws.send(Message::Ping(Bytes::new()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return None;
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        let _ = self.ws.close(None).await;
        Some(())
    }
}
