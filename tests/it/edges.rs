//! Edges of the contract: a client that half-closes its connection after its request, webhooks
//! deleted or deactivated while deliveries to them are pending (and waited on), and routes that
//! do not exist under the sender's prefixes.

use std::time::{Duration, Instant};

use hookpit::{Config, ServerHandle};
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{self, delete, get, post};

fn api(s: &ServerHandle, path: &str) -> String {
    format!("{}/_/api/{path}", s.base_url())
}

async fn no_demo() -> ServerHandle {
    let mut c = Config::for_tests();
    c.demo_webhook = false;
    support::start_with(c).await
}

async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/hook")
}

/// Dispatches to a webhook whose target refuses connections and whose next retry is an hour
/// away; returns the delivery id once its first attempt has failed (the delivery pending).
async fn pending_delivery(s: &ServerHandle, name: &str) -> u64 {
    let a = post(
        &api(s, "webhooks"),
        &json!({"name": name, "url": dead_url().await, "retry": {"schedule": ["1h"]}}).to_string(),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    let a = post(&api(s, "events/payment_received"), "").await;
    assert_eq!(a.status, 202, "{}", a.text());
    let id = a.json()["deliveries"][0].as_u64().expect("a delivery");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = get(&api(s, &format!("deliveries/{id}"))).await.json();
        if d["attempts"].as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(d["state"], "pending", "{d}");
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "the first attempt never happened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deleting a webhook leaves its pending deliveries `pending` until their next scheduled
/// attempt (with the default schedule up to ~12 minutes later): the delivery log shows a
/// pending delivery of a webhook that no longer exists, and `GET deliveries/{id}/wait` (and
/// `hookpit send --wait`) blocks all that time instead of answering that it failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_webhook_ends_its_pending_deliveries_and_their_waits() {
    let s = no_demo().await;
    let id = pending_delivery(&s, "doomed").await;
    let url = api(&s, &format!("deliveries/{id}/wait?timeout=5s"));
    let wait = tokio::spawn(async move { get(&url).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.sender().pending_waits() != 1 {
        assert!(Instant::now() < deadline, "the server never held the wait");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(delete(&api(&s, "webhooks/doomed")).await.status, 200);
    let started = Instant::now();
    let a = wait.await.unwrap();
    assert_eq!(
        a.status,
        200,
        "the wait should answer once the webhook is deleted; got after {:?}: {}",
        started.elapsed(),
        a.text()
    );
    assert_eq!(a.json()["state"], "failed");
}

/// The same for a webhook made inactive: its pending retries are cancelled (the next attempt
/// would cancel them anyway), so nothing should stay pending for the rest of the schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_webhook_ends_its_pending_deliveries() {
    let s = no_demo().await;
    let id = pending_delivery(&s, "paused").await;
    let a = support::http(
        "PATCH",
        &api(&s, "webhooks/paused"),
        &[],
        json!({"active": false}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let a = get(&api(&s, &format!("deliveries/{id}/wait?timeout=3s"))).await;
    assert_eq!(a.status, 200, "still pending: {}", a.text());
    assert_eq!(a.json()["state"], "failed");
}

/// An unknown route under the sender's prefixes is answered `405 GET is not allowed` instead
/// of `404` (README: 404 unknown, 405 wrong method): `GET /_/api/deliveries/1/wait/x`,
/// `GET /_/api/webhooks/1/nope`, `GET /_/api/events/a/b/c`.
#[tokio::test]
async fn unknown_sender_routes_are_404_not_405() {
    let s = support::start().await;
    for path in ["deliveries/1/wait/x", "webhooks/1/nope", "events/a/b/c"] {
        let a = get(&api(&s, path)).await;
        assert_eq!(a.status, 404, "GET /_/api/{path}: {}", a.text());
    }
}

/// Sends `req`, shuts the write side (as `printf … | nc -N` and some HTTP/1.0 clients do) and
/// reads the answer until the server closes.
async fn half_closed(addr: std::net::SocketAddr, req: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    s.shutdown().await.expect("shutdown");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A client that sends a whole request and then half-closes its connection gets no answer when
/// the answer is not ready at once (a bin's delay), and the request is sometimes not recorded at
/// all: hyper drops the service future on the read EOF (its `half_close` is off by default).
/// SPEC §2/§11: every request sent to a catch URL is recorded; nothing is lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_request_from_a_half_closing_client_is_recorded_and_answered() {
    let s = support::start().await;
    let a = support::http(
        "PUT",
        &api(&s, "bins/slow"),
        &[],
        json!({"response": {"status": 202, "delay": "100ms"}}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let mut answers = Vec::new();
    for (i, bin) in ["slow", "fast"].iter().cycle().take(20).enumerate() {
        let req = format!(
            "POST /{bin}/{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        answers.push((format!("/{bin}/{i}"), half_closed(s.addr(), &req).await));
    }
    let unanswered: Vec<&str> = answers
        .iter()
        .filter(|(_, a)| !a.starts_with("HTTP/1.1 20"))
        .map(|(p, _)| p.as_str())
        .collect();
    let kept: Vec<String> = ["slow", "fast"]
        .iter()
        .flat_map(|b| s.requests(b))
        .map(|r| r.path().into_owned())
        .collect();
    let lost: Vec<&str> = answers
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| !kept.iter().any(|k| k == p))
        .collect();
    assert!(
        unanswered.is_empty() && lost.is_empty(),
        "unanswered: {unanswered:?}; not recorded: {lost:?}"
    );
}

/// The same for the long polls: a half-closed `GET …/wait` is hung up on at once, with no
/// answer, instead of answering when the wait ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closing_client_still_gets_its_wait_answered() {
    let s = support::start().await;
    let out = half_closed(
        s.addr(),
        "GET /_/api/bins/hc/wait?timeout=300ms HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 408"), "got {out:?}");
}
