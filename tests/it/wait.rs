//! Race-free waiting (SPEC §5) over the API and the embedding API: a match already there, one
//! that arrives later, one that lands while the wait is being set up, counts, `after`, bins that
//! do not exist yet, and the timeout report with the closest misses.

use std::time::Duration;

use crate::support::*;

/// Returns once the server shows a pending wait (fails the test after 5 s).
async fn until_a_wait_is_registered(s: &hookpit::ServerHandle) {
    until_waits_are_registered(s, 1).await;
}

/// Returns once the server shows `n` pending waits (fails the test after 5 s): a wait that
/// registers slowly must not turn "arrives later" into "already there".
async fn until_waits_are_registered(s: &hookpit::ServerHandle, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.store().pending_waits() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} waits registered",
            s.store().pending_waits()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn wait_url(s: &hookpit::ServerHandle, bin: &str, query: &str) -> String {
    format!("{}/_/api/bins/{bin}/wait?{query}", s.base_url())
}

#[tokio::test]
async fn a_wait_returns_a_request_that_is_already_there() {
    let s = start().await;
    post(&s.catch_url("w"), r#"{"event":"paid"}"#).await;
    let a = get(&wait_url(&s, "w", "q=json:/event=paid&timeout=1s")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["requests"][0]["id"], 1);
}

#[tokio::test]
async fn a_wait_wakes_when_a_matching_request_arrives_later() {
    let s = start().await;
    let url = wait_url(&s, "later", "q=method:POST+header:X-Event=go&timeout=10s");
    let waiter = tokio::spawn(async move { get(&url).await });
    until_a_wait_is_registered(&s).await;
    post(&s.catch_url("later"), "{}").await; // no header: does not match
    crate::support::http("POST", &s.catch_url("later"), &[("X-Event", "go")], "{}").await;
    let started = std::time::Instant::now();
    let a = waiter.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(a.status, 200);
    let ids: Vec<u64> = a.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_landing_while_the_wait_is_set_up_is_never_missed() {
    let s = start().await;
    for i in 0..250 {
        let bin = s.bin(&format!("race{i}"));
        let url = bin.url().to_owned();
        let poster = tokio::spawn(async move { post(&url, "{}").await });
        let got = bin.wait_for("method:POST", Duration::from_secs(5)).await;
        poster.await.unwrap();
        assert!(got.is_ok(), "try {i}: {}", got.unwrap_err());
    }
}

#[tokio::test]
async fn a_wait_for_a_count_returns_that_many_oldest_first() {
    let s = start().await;
    let bin = s.fresh_bin();
    post(bin.url(), r#"{"n":1}"#).await;
    let url = bin.url().to_owned();
    tokio::spawn(async move {
        for n in 2..=4 {
            post(&url, &format!(r#"{{"n":{n}}}"#)).await;
        }
    });
    let got = bin
        .wait_for_count("", 3, Duration::from_secs(5))
        .await
        .unwrap();
    let ns: Vec<i64> = got
        .iter()
        .map(|r| r.json().unwrap()["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [1, 2, 3]);
}

#[tokio::test]
async fn after_skips_requests_up_to_that_id() {
    let s = start().await;
    post(&s.catch_url("aft"), "{}").await;
    let a = get(&wait_url(&s, "aft", "after=1&timeout=200ms")).await;
    assert_eq!(a.status, 408);
    post(&s.catch_url("aft"), "{}").await;
    let a = get(&wait_url(&s, "aft", "after=1&timeout=1s")).await;
    assert_eq!(a.json()["requests"][0]["id"], 2);
}

#[tokio::test]
async fn waiting_on_a_bin_that_does_not_exist_yet_is_allowed() {
    let s = start().await;
    let url = wait_url(&s, "notyet", "timeout=5s");
    let waiter = tokio::spawn(async move { get(&url).await });
    until_a_wait_is_registered(&s).await;
    post(&s.catch_url("notyet"), "{}").await;
    assert_eq!(waiter.await.unwrap().status, 200);
}

#[tokio::test]
async fn a_timeout_is_408_with_the_closest_misses_and_their_failed_terms() {
    let s = start().await;
    crate::support::http(
        "POST",
        &s.catch_url("miss"),
        &[("X-Event", "refund")],
        r#"{"amount":5}"#,
    )
    .await;
    crate::support::http("GET", &s.catch_url("miss"), &[], "").await;
    let a = get(&wait_url(
        &s,
        "miss",
        "q=method:POST+header:X-Event=paid&timeout=300ms",
    ))
    .await;
    assert_eq!(a.status, 408);
    let v = a.json();
    assert_eq!(v["error"]["code"], "timeout");
    let closest = v["closest"].as_array().unwrap();
    assert_eq!(closest.len(), 2);
    // newest first; each names the terms that failed
    assert_eq!(closest[0]["request"]["id"], 2);
    assert_eq!(
        closest[0]["failed"],
        serde_json::json!(["method:POST", "header:X-Event=paid"])
    );
    assert_eq!(
        closest[1]["failed"],
        serde_json::json!(["header:X-Event=paid"])
    );
    let err = s
        .bin("miss")
        .wait_for("header:X-Event=paid", Duration::from_millis(100))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("timed out") && text.contains("header:X-Event=paid"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_wait_parameters_are_400_naming_the_parameter() {
    let s = start().await;
    for (q, what) in [
        ("q=bogus:1", "bad_filter"),
        ("count=0", "count"),
        ("timeout=soon", "duration"),
        ("after=x", "after"),
    ] {
        let a = get(&wait_url(&s, "p", q)).await;
        assert_eq!(a.status, 400, "{q}");
        let v = a.json();
        let text = format!("{} {}", v["error"]["code"], v["error"]["message"]);
        assert!(text.contains(what), "{q}: {text}");
    }
    assert!(s
        .bin("p")
        .wait_for("method:", Duration::from_millis(10))
        .await
        .is_err());
}

#[tokio::test]
async fn a_thousand_pending_waits_are_all_released_and_cleaned_up() {
    let s = start().await;
    let mut waits = Vec::new();
    for i in 0..1000 {
        let bin = s.bin(&format!("many{}", i % 10));
        waits.push(tokio::spawn(async move {
            bin.wait_for("", Duration::from_secs(10)).await.is_ok()
        }));
    }
    until_waits_are_registered(&s, 1000).await;
    assert_eq!(s.store().pending_waits(), 1000);
    for i in 0..10 {
        post(&s.catch_url(&format!("many{i}")), "{}").await;
    }
    for w in waits {
        assert!(w.await.unwrap());
    }
    assert_eq!(s.store().pending_waits(), 0);
    // a timed-out wait unregisters itself too
    let _ = s.bin("gone").wait_for("", Duration::from_millis(10)).await;
    assert_eq!(s.store().pending_waits(), 0);
}

#[tokio::test]
async fn a_timed_out_wait_does_not_report_or_hold_matches_that_were_evicted() {
    let s = start().await;
    let cfg = http(
        "PUT",
        &format!("{}/_/api/bins/evw", s.base_url()),
        &[],
        r#"{"max_requests":1}"#,
    )
    .await;
    assert_eq!(cfg.status, 200);
    let url = wait_url(&s, "evw", "q=method:POST&count=2&timeout=1s");
    let waiter = tokio::spawn(async move { get(&url).await });
    until_a_wait_is_registered(&s).await;
    post(&s.catch_url("evw"), "{}").await; // matches, then is evicted by the next one
    crate::support::http("GET", &s.catch_url("evw"), &[], "").await;
    let a = waiter.await.unwrap();
    assert_eq!(a.status, 408);
    assert_eq!(a.json()["matched"], serde_json::json!([]), "{}", a.text());
    assert_eq!(
        get(&format!("{}/_/api/requests/1", s.base_url()))
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_sharing_a_filter_all_wake_even_when_the_request_races_their_set_up() {
    let s = start().await;
    for i in 0..60 {
        let name = format!("shared{i}");
        let bin = s.bin(&name);
        let url = bin.url().to_owned();
        let poster = tokio::spawn(async move { post(&url, r#"{"n":1}"#).await });
        let mut waits = Vec::new();
        for filter in ["json:/n=1", "json:/n=1", "json:/n=1", "method:POST"] {
            let bin = s.bin(&name);
            waits.push(tokio::spawn(async move {
                bin.wait_for(filter, Duration::from_secs(5)).await
            }));
        }
        poster.await.unwrap();
        for w in waits {
            let got = w.await.unwrap();
            assert!(got.is_ok(), "try {i}: {}", got.unwrap_err());
        }
    }
    assert_eq!(s.store().pending_waits(), 0);
}

#[tokio::test]
async fn a_match_evicted_before_the_matcher_runs_still_releases_the_wait() {
    // one thread: nothing else runs between two `record` calls made without an await
    let s = start().await;
    s.bin("lag")
        .configure(serde_json::json!({"max_requests": 1}))
        .unwrap();
    post(&s.catch_url("model"), r#"{"n":0}"#).await;
    let model = s.store().latest(Some("model")).unwrap();
    let store = s.store().clone();
    let waiting = tokio::spawn(async move {
        store
            .wait(hookpit::WaitSpec {
                bin: "lag".into(),
                filter: hookpit::Filter::parse("json:/n=1").unwrap(),
                count: 1,
                after: 0,
                timeout: Duration::from_secs(10),
            })
            .await
    });
    until_a_wait_is_registered(&s).await;
    let capture = |n: u32| {
        let mut r = (*model).clone();
        r.bin = "lag".into();
        r.body = hookpit::model::Body::new(format!("{{\"n\":{n}}}").into(), false);
        r
    };
    // the match is evicted by the next request before the bin's matcher gets to run
    s.store().record(capture(1), |_, _, _| {});
    s.store().record(capture(2), |_, _, _| {});
    assert_eq!(s.requests("lag").len(), 1);
    match tokio::time::timeout(Duration::from_secs(10), waiting).await {
        Ok(Ok(hookpit::WaitOutcome::Matched(got))) => {
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].body.bytes.as_ref(), br#"{"n":1}"#);
        }
        other => panic!("the wait missed the evicted match: {other:?}"),
    }
}

#[tokio::test]
async fn a_timeout_says_for_each_failed_term_what_was_found() {
    let s = start().await;
    let u = s.catch_url("why");
    http("POST", &u, &[("X-Event", "pending")], r#"{"a":2}"#).await;
    http(
        "POST",
        &u,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "a=1",
    )
    .await;
    http(
        "POST",
        &u,
        &[("Content-Type", "application/json")],
        r#"{"b":1}"#,
    )
    .await;
    let a = get(&wait_url(
        &s,
        "why",
        "q=json:/a=1+header:X-Event=paid+-method:POST&timeout=200ms",
    ))
    .await;
    assert_eq!(a.status, 408);
    let v = a.json();
    let why = |i: usize| v["closest"][i]["why"].clone();
    // newest first; `why` has one line per failed term, in the order of `failed`
    assert_eq!(
        why(0),
        serde_json::json!([
            "json:/a=1: no value at /a",
            "header:X-Event=paid: no such header",
            "-method:POST: the request is POST"
        ])
    );
    assert_eq!(
        why(1),
        serde_json::json!([
            "json:/a=1: body is not JSON (application/x-www-form-urlencoded)",
            "header:X-Event=paid: no such header",
            "-method:POST: the request is POST"
        ])
    );
    assert_eq!(
        why(2),
        serde_json::json!([
            "json:/a=1: found 2",
            "header:X-Event=paid: found \"pending\"",
            "-method:POST: the request is POST"
        ])
    );
    assert_eq!(
        v["closest"][2]["failed"],
        serde_json::json!(["json:/a=1", "header:X-Event=paid", "-method:POST"])
    );
    // the Rust report says the same
    let err = s
        .bin("why")
        .wait_for("json:/a=1", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("json:/a=1: found 2"), "{err}");
}

#[tokio::test]
async fn after_now_counts_only_requests_that_arrive_after_the_wait_starts() {
    let s = start().await;
    post(&s.catch_url("new"), r#"{"n":1}"#).await;
    // an old match does not release it
    let a = get(&wait_url(&s, "new", "after=now&timeout=200ms")).await;
    assert_eq!(a.status, 408);
    let url = wait_url(&s, "new", "after=now&timeout=10s");
    let waiting = tokio::spawn(async move { get(&url).await });
    until_a_wait_is_registered(&s).await;
    post(&s.catch_url("new"), r#"{"n":2}"#).await;
    let a = waiting.await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["requests"][0]["body"]["text"], r#"{"n":2}"#);
}

#[tokio::test]
async fn filters_see_a_compressed_body_decoded() {
    use std::io::Write;
    let s = start().await;
    let json = br#"{"event":"invoice.paid","data":{"amount":4200}}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json).unwrap();
    let gz = gz.finish().unwrap();
    let br = {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(json).unwrap();
        drop(w);
        out
    };
    for (coding, body) in [("gzip", gz), ("br", br)] {
        let bin = format!("enc-{coding}");
        let a = http(
            "POST",
            &s.catch_url(&bin),
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", coding),
            ],
            body,
        )
        .await;
        assert_eq!(a.status, 200);
        for q in [
            "json:/data/amount=4200",
            "body:invoice.paid",
            "INVOICE.PAID",
        ] {
            let list = get(&format!(
                "{}/_/api/bins/{bin}/requests?q={}",
                s.base_url(),
                q.replace(':', "%3A")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            ))
            .await;
            assert_eq!(
                list.json()["requests"].as_array().unwrap().len(),
                1,
                "{coding} {q}"
            );
        }
        s.bin(&bin)
            .wait_for("json:/event=invoice.paid", Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{coding}: {e}"));
    }
}

#[tokio::test]
async fn a_timeout_report_leaves_large_bodies_out() {
    let s = start().await;
    let big = "x".repeat(200 * 1024);
    post(&s.catch_url("heavy"), &big).await;
    let a = get(&wait_url(&s, "heavy", "q=json:/a=1&timeout=100ms")).await;
    assert_eq!(a.status, 408);
    assert!(a.text().len() < 16 * 1024, "{} bytes", a.text().len());
    let miss = &a.json()["closest"][0]["request"];
    assert_eq!(miss["body"]["omitted"], true);
    assert_eq!(miss["body"]["size"], 200 * 1024);
}
