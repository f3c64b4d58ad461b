//! The sender in shared mode: one instance at a time holds it (the seat, a lease in Redis at
//! `hookpit:sender`, renewed every second, lost after [`LEASE`] without a renewal). The holder
//! runs the one `Sender`: every dispatched delivery is attempted by it alone, and its webhooks
//! and delivery log are written to Redis (`hookpit:webhooks`, `hookpit:deliveries`) through the
//! store's journal. Any other instance hands the sender's API requests to the holder through
//! Redis (a request list `hookpit:rpc`, each answer on its own list) and answers with what the
//! holder answered, so Send Test Event, the log and waits for a delivery work from any instance.
//!
//! When the holder dies, its lease runs out and another instance takes the seat: it starts a
//! fresh `Sender` and restores it from Redis as a restart restores from a data directory, so a
//! retry the old holder scheduled is made on schedule and an attempt it was making when it died
//! is recorded as interrupted and retried. A holder that cannot renew its lease in time steps
//! down (its sender stops) before another can take over.
//!
//! Uses `deliver` (the sender and its restore), `sender_api` (the routes), `http` and the
//! `redis` crate; used by `shared`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use redis::Value;
use serde_json::json;
use tokio::sync::watch;

use super::{new_run_id, now_ms, Shared};
use crate::deliver::Sender;
use crate::error::{Error, Result};
use crate::http::{Params, Resp};

/// How long the seat is held without a renewal.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the holder renews it (and others try to take it).
const RENEW_EVERY: Duration = Duration::from_millis(1000);
/// How long a request handed to the holder may wait for its answer, besides its own wait.
const RPC_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests waiting for the holder, at most (older ones are dropped; their instances time out).
const RPC_QUEUE: i64 = 10_000;
/// Handed-over requests the holder answers at once; more wait in Redis.
const RPC_IN_FLIGHT: usize = 256;
/// Sender requests one instance hands over at once (each holds a connection to Redis while it
/// waits for its answer); more are answered 503.
const RPC_WAITING: usize = 64;

/// Makes the sender an instance runs when it takes the seat (stopped by the receiver).
pub type SenderFactory = Box<dyn Fn(watch::Receiver<bool>) -> Result<Sender> + Send + Sync>;

/// The sender an instance runs while it holds the seat.
struct Held {
    sender: Sender,
    stop: watch::Sender<bool>,
}

/// This instance's side of the seat.
pub struct Seat {
    /// This process's name in the lease.
    token: String,
    factory: std::sync::OnceLock<SenderFactory>,
    held: Mutex<Option<Held>>,
    /// Turns for sender requests handed to the holder from here.
    waiting: tokio::sync::Semaphore,
}

impl Seat {
    pub fn new() -> Seat {
        Seat {
            token: new_run_id(),
            factory: std::sync::OnceLock::new(),
            held: Mutex::new(None),
            waiting: tokio::sync::Semaphore::new(RPC_WAITING),
        }
    }

    /// The sender, while this instance holds the seat.
    pub fn sender(&self) -> Option<Sender> {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|h| h.sender.clone())
    }

    /// Sender requests handed to the holder from here that wait for their answer.
    pub fn waiting(&self) -> usize {
        RPC_WAITING - self.waiting.available_permits()
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    fn step_down(&self) {
        if let Some(h) = self.held.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.stop.send(true);
        }
    }
}

/// Renews the lease if this process holds it: 1 when renewed, 0 when another holds it.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Gives the lease up if this process holds it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"#;

/// A `(id, JSON)` list from a hash of records by id.
fn records(map: std::collections::HashMap<String, String>) -> Vec<(u64, serde_json::Value)> {
    map.into_iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, serde_json::from_str(&v).ok()?)))
        .collect()
}

impl Shared {
    /// Starts competing for the sender's seat with senders made by `factory`, until
    /// `shutdown` (which gives the seat up).
    pub fn seat_sender(self: &Arc<Self>, factory: SenderFactory, shutdown: watch::Receiver<bool>) {
        if self.seat.factory.set(factory).is_err() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.lease_loop(shutdown).await });
    }

    /// Whether this instance holds the sender's seat now.
    pub fn holds_sender(&self) -> bool {
        self.seat.sender().is_some()
    }

    async fn lease_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let renew = redis::Script::new(RENEW);
        let mut last_renewed = Instant::now();
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => {
                    self.seat.step_down();
                    let mut c = self.con.clone();
                    let _ = redis::Script::new(RELEASE)
                        .key("hookpit:sender")
                        .arg(&self.seat.token)
                        .invoke_async::<Value>(&mut c)
                        .await;
                    return;
                }
            }
            let mut c = self.con.clone();
            if self.holds_sender() {
                let got: redis::RedisResult<i64> = renew
                    .key("hookpit:sender")
                    .arg(&self.seat.token)
                    .arg(LEASE.as_millis() as u64)
                    .invoke_async(&mut c)
                    .await;
                match got {
                    Ok(1) => last_renewed = Instant::now(),
                    Ok(_) => self.seat.step_down(),
                    Err(_) => {
                        // step down before the lease can run out and another take over
                        if last_renewed.elapsed() + RENEW_EVERY * 2 >= LEASE {
                            self.seat.step_down();
                        }
                    }
                }
                continue;
            }
            let took: redis::RedisResult<Option<String>> = redis::cmd("SET")
                .arg("hookpit:sender")
                .arg(&self.seat.token)
                .arg("NX")
                .arg("PX")
                .arg(LEASE.as_millis() as u64)
                .query_async(&mut c)
                .await;
            if let Ok(Some(_)) = took {
                last_renewed = Instant::now();
                if self.take_seat().await.is_err() {
                    // not ready (Redis went away meanwhile): give the lease back
                    let _ = redis::Script::new(RELEASE)
                        .key("hookpit:sender")
                        .arg(&self.seat.token)
                        .invoke_async::<Value>(&mut c)
                        .await;
                }
            }
        }
    }

    /// Starts this instance's sender from what Redis holds of it and starts answering the
    /// other instances' sender requests.
    async fn take_seat(self: &Arc<Self>) -> Result<()> {
        let Some(factory) = self.seat.factory.get() else {
            return Ok(());
        };
        let fail = |e: redis::RedisError| Error::Shared {
            url: self.shown.clone(),
            message: e.to_string(),
        };
        let mut c = self.con.clone();
        let webhooks: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg("hookpit:webhooks")
            .query_async(&mut c)
            .await
            .map_err(fail)?;
        let deliveries: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg("hookpit:deliveries")
            .query_async(&mut c)
            .await
            .map_err(fail)?;
        let (stop, stopped) = watch::channel(false);
        let sender = factory(stopped.clone())?;
        sender.restore(records(webhooks), records(deliveries))?;
        *self.seat.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(Held {
            sender: sender.clone(),
            stop,
        });
        let me = self.clone();
        tokio::spawn(async move { me.serve_rpc(sender, stopped).await });
        Ok(())
    }

    /// Answers the sender's API: here while this instance holds the seat, else by the holder.
    pub async fn sender_route(
        &self,
        method: &Method,
        body: Bytes,
        segs: &[&str],
        params: &Params,
        path: &str,
    ) -> Result<Resp> {
        if let Some(sender) = self.seat.sender() {
            let r = crate::sender_api::route(&sender, method, body, segs, params, path).await;
            // what the request changed is in Redis before it is answered
            self.synced(Duration::from_secs(5)).await;
            return r;
        }
        self.rpc(method, body, params, path).await
    }

    /// Hands a sender request to the seat's holder and waits for its answer.
    async fn rpc(&self, method: &Method, body: Bytes, params: &Params, path: &str) -> Result<Resp> {
        let Ok(_turn) = self.seat.waiting.try_acquire() else {
            return Err(Error::Busy(format!(
                "{RPC_WAITING} sender requests are already waiting for the instance that runs the sender; try again shortly"
            )));
        };
        let offline = |why: String| {
            Error::StoreOffline(format!(
                "the shared store ({}) could not pass the request to the sender: {why}",
                self.shown
            ))
        };
        // a wait for a delivery may take its own timeout
        let own = params
            .wait_timeout()
            .ok()
            .filter(|_| path.ends_with("/wait"))
            .unwrap_or_default();
        let timeout = RPC_TIMEOUT + own;
        let id = new_run_id();
        let msg = json!({
            "id": id,
            "method": method.as_str(),
            "path": path,
            "query": params.pairs(),
            "body": base64::engine::general_purpose::STANDARD.encode(&body),
            "deadline_ms": now_ms() + timeout.as_millis() as u64,
        });
        // the answer is read on a connection of its own: a blocking read holds it
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        let mut wait = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| offline(e.to_string()))?;
        let mut c = self.con.clone();
        redis::pipe()
            .cmd("RPUSH")
            .arg("hookpit:rpc")
            .arg(msg.to_string())
            .cmd("LTRIM")
            .arg("hookpit:rpc")
            .arg(-RPC_QUEUE)
            .arg(-1)
            .query_async::<Value>(&mut c)
            .await
            .map_err(|e| offline(e.to_string()))?;
        let answer: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(format!("hookpit:rpc:{id}"))
            .arg(timeout.as_secs_f64())
            .query_async(&mut wait)
            .await
            .map_err(|e| offline(e.to_string()))?;
        let Some((_, answer)) = answer else {
            return Err(Error::Busy(format!(
                "no instance answered for the sender within {}s (none holds it, or it is busy)",
                timeout.as_secs()
            )));
        };
        let v: serde_json::Value =
            serde_json::from_str(&answer).map_err(|e| offline(e.to_string()))?;
        let status = v["status"]
            .as_u64()
            .and_then(|s| StatusCode::from_u16(s as u16).ok())
            .unwrap_or(StatusCode::BAD_GATEWAY);
        let body = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let mut r = hyper::Response::new(http_body_util::Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Some(ct) = v["type"]
            .as_str()
            .and_then(|t| hyper::header::HeaderValue::from_str(t).ok())
        {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, ct);
        }
        Ok(r)
    }

    /// Answers the other instances' sender requests while this instance holds the seat.
    async fn serve_rpc(self: Arc<Self>, sender: Sender, mut stopped: watch::Receiver<bool>) {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        let mut con = None;
        let turns = Arc::new(tokio::sync::Semaphore::new(RPC_IN_FLIGHT));
        loop {
            if *stopped.borrow() {
                return;
            }
            // a turn before taking a request: past RPC_IN_FLIGHT, requests wait in Redis
            let turn = tokio::select! {
                t = turns.clone().acquire_owned() => match t {
                    Ok(t) => t,
                    Err(_) => return,
                },
                _ = stopped.changed() => return,
            };
            let c = match &mut con {
                Some(c) => c,
                None => match self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(c) => con.insert(c),
                    Err(_) => {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                            _ = stopped.changed() => return,
                        }
                    }
                },
            };
            let mut pop = redis::cmd("BLPOP");
            pop.arg("hookpit:rpc").arg(1);
            let got = tokio::select! {
                got = pop.query_async::<Option<(String, String)>>(c) => got,
                _ = stopped.changed() => return,
            };
            match got {
                Ok(Some((_, msg))) => {
                    let (me, sender) = (self.clone(), sender.clone());
                    tokio::spawn(async move {
                        me.answer_rpc(&sender, &msg).await;
                        drop(turn);
                    });
                }
                Ok(None) => {}
                Err(_) => con = None,
            }
        }
    }

    /// Answers one handed-over sender request.
    async fn answer_rpc(&self, sender: &Sender, msg: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(msg) else {
            return;
        };
        let Some(id) = v["id"]
            .as_str()
            .filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return;
        };
        if v["deadline_ms"].as_u64().is_some_and(|d| d < now_ms()) {
            return; // its instance stopped waiting
        }
        let method = Method::from_bytes(v["method"].as_str().unwrap_or("GET").as_bytes())
            .unwrap_or(Method::GET);
        let path = v["path"].as_str().unwrap_or("").to_owned();
        let pairs: Vec<(String, String)> =
            serde_json::from_value(v["query"].clone()).unwrap_or_default();
        let params = Params::from_pairs(pairs);
        let body = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let segs = crate::http::segments(&path);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let r = match crate::sender_api::route(
            sender,
            &method,
            Bytes::from(body),
            &segs,
            &params,
            &path,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => crate::http::error_response(&e),
        };
        self.synced(Duration::from_secs(5)).await;
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let answer = json!({
            "status": status,
            "type": ctype,
            "body": base64::engine::general_purpose::STANDARD.encode(&body),
        });
        let key = format!("hookpit:rpc:{id}");
        let mut c = self.con.clone();
        let _ = redis::pipe()
            .cmd("RPUSH")
            .arg(&key)
            .arg(answer.to_string())
            .cmd("EXPIRE")
            .arg(&key)
            .arg(120)
            .query_async::<Value>(&mut c)
            .await;
    }
}
