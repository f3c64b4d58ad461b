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
