//! The provider kit under hostile input: trigger requests, replay edits, the signature doctor,
//! the HTTPS listener and a bin's rate limit, each pushed past its bounds against a real
//! hookpit. Every answer must be bounded, prompt and say what was wrong.

use std::time::{Duration, Instant};

use hookpit::ServerHandle;
use serde_json::{json, Value};

use crate::support::{self, post};

async fn trigger_api(s: &ServerHandle, body: Value) -> support::Answer {
    post(
        &format!("{}/_/api/trigger", s.base_url()),
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_megabyte_event_or_provider_name_is_refused_promptly_with_a_short_message() {
    let s = support::start().await;
    let bin = s.fresh_bin();
    let huge = "x".repeat(1024 * 1024);
    for body in [
        json!({"provider": "stripe", "event": huge, "url": bin.url()}),
        json!({"provider": huge, "event": "ping", "url": bin.url()}),
    ] {
        let started = Instant::now();
        let a = trigger_api(&s, body).await;
        let took = started.elapsed();
        assert_eq!(a.status, 400, "{}", a.text());
        assert!(
            a.body.len() < 2048,
            "the refusal echoes the name: {} bytes",
            a.body.len()
        );
        assert!(
            took < Duration::from_secs(2),
            "guessing the nearest name took {took:?}"
        );
    }
}

#[tokio::test]
async fn trigger_headers_that_frame_the_request_or_its_connection_are_refused_naming_them() {
    let s = support::start().await;
    let bin = s.fresh_bin();
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Host",
        "Connection",
        "Upgrade",
    ] {
        let a = trigger_api(
            &s,
            json!({"provider": "github", "event": "ping", "url": bin.url(),
                   "headers": [[name, "5"]]}),
        )
        .await;
        assert_eq!(a.status, 400, "{name}: {}", a.text());
        let message = a.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            message.starts_with("headers:") && message.contains(name),
            "{name}: {message}"
        );
    }
    // a header of the request itself still goes out
    let a = trigger_api(
        &s,
        json!({"provider": "github", "event": "ping", "url": bin.url(),
               "headers": [["X-Extra", "1"]]}),
    )
    .await;
    assert_eq!(a.json()["status"], 200, "{}", a.text());
    let r = bin
        .wait_for("method:POST", Duration::from_secs(10))
        .await
        .expect("the request arrives");
    assert_eq!(r.header("x-extra").as_deref(), Some("1"));
    assert_eq!(bin.requests().len(), 1, "only the last trigger was sent");
}
