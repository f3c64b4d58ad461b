//! Per-bin behaviour (SPEC §6): response rules, ordered sequences consumed exactly once even
//! under concurrency, seeded fault rates, delays that block nobody else, echo placeholders,
//! incoming signature verification for every scheme, and forwarding in both modes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::*;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn a_sequence_is_answered_in_order_per_bin_then_falls_back_and_can_restart() {
    let s = start().await;
    let a = configure(
        &s,
        "seq",
        serde_json::json!({
            "response": {"status": 202, "body": "fallback"},
            "sequence": [{"status": 500}, {"status": 503, "body": "busy"}, {"status": 200}]
        }),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["sequence_position"], 0);
    let mut got = vec![];
    for _ in 0..5 {
        let r = post(&s.catch_url("seq"), "{}").await;
        got.push((r.status, r.text()));
        // another bin is not affected by this bin's sequence
        assert_eq!(post(&s.catch_url("plain"), "{}").await.status, 200);
    }
    let statuses: Vec<u16> = got.iter().map(|g| g.0).collect();
    assert_eq!(statuses, [500, 503, 200, 202, 202]);
    assert_eq!(got[1].1, "busy");
    assert_eq!(got[3].1, "fallback");
    let summary = get(&format!("{}/_/api/bins/seq", s.base_url()))
        .await
        .json();
    assert_eq!(summary["sequence_position"], 3);
    assert_eq!(summary["config"]["sequence"][0]["status"], 500);
    let reset = delete(&format!("{}/_/api/bins/seq/sequence", s.base_url())).await;
    assert_eq!(reset.json()["sequence_position"], 0);
    assert_eq!(post(&s.catch_url("seq"), "{}").await.status, 500);
    let recorded: Vec<u16> = s
        .requests("seq")
        .iter()
        .map(|r| r.response.status)
        .collect();
    assert_eq!(recorded, [500, 503, 200, 202, 202, 500]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_consume_a_sequence_without_skipping_or_repeating_a_step() {
    let s = start().await;
    let steps: Vec<serde_json::Value> = (200..260)
        .map(|st| serde_json::json!({"status": st}))
        .collect();
    configure(
        &s,
        "race",
        serde_json::json!({"sequence": steps, "response": {"status": 299}}),
    )
    .await;
    let mut tasks = vec![];
    for _ in 0..60 {
        let url = s.catch_url("race");
        tasks.push(tokio::spawn(async move { post(&url, "{}").await.status }));
    }
    let mut got = vec![];
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort();
    assert_eq!(got, (200..260).collect::<Vec<u16>>());
    assert_eq!(post(&s.catch_url("race"), "{}").await.status, 299);
}

#[tokio::test]
async fn a_seeded_fault_rate_hits_its_fraction_and_repeats_with_the_same_seed() {
    let s = start().await;
    let cfg = serde_json::json!({"fault": {"rate": 0.3, "status": 503, "seed": 42}});
    configure(&s, "flaky", cfg.clone()).await;
    let mut first = vec![];
    for _ in 0..1000 {
        first.push(post(&s.catch_url("flaky"), "{}").await.status);
    }
    let faults = first.iter().filter(|st| **st == 503).count();
    assert!(
        (250..=350).contains(&faults),
        "{faults} faults in 1000 at rate 0.3"
    );
    assert!(first.iter().all(|st| *st == 503 || *st == 200));
    // the same seed replays the same pattern
    configure(&s, "flaky", cfg).await;
    let mut again = vec![];
    for _ in 0..50 {
        again.push(post(&s.catch_url("flaky"), "{}").await.status);
    }
    assert_eq!(again, first[..50]);
}

#[tokio::test]
async fn a_fault_can_drop_the_connection_and_the_request_is_still_recorded() {
    let s = start().await;
    configure(
        &s,
        "drop",
        serde_json::json!({"fault": {"rate": 1.0, "drop": true}}),
    )
    .await;
    let out = raw(
        s.addr(),
        b"POST /drop HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        Duration::from_secs(2),
    )
    .await;
    assert!(
        out.is_empty(),
        "no answer: {}",
        String::from_utf8_lossy(&out)
    );
    let r = &s.requests("drop")[0];
    assert!(r.response.dropped);
    assert_eq!(&r.body.bytes[..], b"hi");
    assert_eq!(post(&s.catch_url("other"), "{}").await.status, 200);
}

#[tokio::test]
async fn a_delay_in_one_bin_does_not_block_other_bins() {
    let s = start().await;
    configure(
        &s,
        "slow",
        serde_json::json!({"response": {"status": 200, "delay": "800ms"}}),
    )
    .await;
    let url = s.catch_url("slow");
    let started = std::time::Instant::now();
    let slow = tokio::spawn(async move { post(&url, "{}").await });
    // the slow request is recorded before its delay starts
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.requests("slow").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(post(&s.catch_url("fast"), "{}").await.status, 200);
    assert!(
        !slow.is_finished(),
        "the other bin answered while the slow one was still delayed"
    );
    assert_eq!(slow.await.unwrap().status, 200);
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(s.requests("slow")[0].response.delay_ms, 800);
}

#[tokio::test]
async fn rules_match_by_method_and_path_and_placeholders_echo_the_request() {
    let s = start().await;
    let a = configure(&s, "slack", serde_json::json!({
        "rules": [
            {"match": "json:/type=url_verification", "body": "{\"challenge\":\"{{json:/challenge}}\"}"},
            {"match": "method:GET path:/slack/health", "status": 204},
            {"match": "path:/slack/echo/*", "status": 201, "headers": [["X-Echo", "{{header:X-In}}"]], "body": "you sent {{body}} to {{path}} as #{{id}}"}
        ],
        "response": {"status": 200, "body": "ok"}
    })).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = post(
        &s.catch_url("slack/events"),
        r#"{"type":"url_verification","challenge":"c4ll3ng3"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["challenge"], "c4ll3ng3");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(get(&s.catch_url("slack/health")).await.status, 204);
    let r = http(
        "POST",
        &s.catch_url("slack/echo/x"),
        &[("X-In", "v")],
        "abc",
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "you sent abc to /slack/echo/x as #3");
    assert_eq!(post(&s.catch_url("slack/other"), "{}").await.text(), "ok");
}

#[tokio::test]
async fn invalid_bin_rules_are_400_naming_the_field_and_change_nothing() {
    let s = start().await;
    configure(&s, "v", serde_json::json!({"response": {"status": 201}})).await;
    for (cfg, field) in [
        (
            serde_json::json!({"response": {"status": 42}}),
            "response.status",
        ),
        (
            serde_json::json!({"sequence": [{"status": 200}, {"body": 1, "delay": "soon"}]}),
            "sequence[1].delay",
        ),
        (
            serde_json::json!({"fault": {"rate": 1.5, "status": 500}}),
            "fault.rate",
        ),
        (
            serde_json::json!({"verify": {"scheme": "md5", "secret": "k"}}),
            "verify.scheme",
        ),
        (
            serde_json::json!({"forward": {"url": "localhost:3000"}}),
            "forward.url",
        ),
        (
            serde_json::json!({"forward": {"url": "http://x", "mode": "tee"}}),
            "forward.mode",
        ),
        (
            serde_json::json!({"rules": [{"match": "nope:1"}]}),
            "rules[0].match",
        ),
        (serde_json::json!({"respones": {}}), "respones"),
    ] {
        let a = configure(&s, "v", cfg.clone()).await;
        assert_eq!(a.status, 400, "{cfg}");
        let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(field), "{cfg}: {msg}");
    }
    assert_eq!(
        post(&s.catch_url("v"), "{}").await.status,
        201,
        "the old config still applies"
    );
}

struct Case {
    name: &'static str,
    headers: Vec<(String, String)>,
    body: &'static str,
}

async fn check_scheme(
    s: &hookpit::ServerHandle,
    bin: &str,
    verify: serde_json::Value,
    cases: Vec<(Case, &str)>,
) {
    let a = configure(s, bin, serde_json::json!({"verify": verify})).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let valid = cases.iter().filter(|(_, want)| *want == "valid").count();
    for (case, want) in cases {
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(
            "POST",
            &s.catch_url(bin),
            &headers,
            Bytes::from_static(case.body.as_bytes()),
        )
        .await;
        let r = s.store().latest(Some(bin)).unwrap();
        let sig = r.signature.clone().expect("a verdict is stored");
        let got = if sig.valid { "valid" } else { "invalid" };
        assert_eq!(got, want, "{bin} {}: {:?}", case.name, sig.reason);
    }
    // sig: matches the stored verdicts
    let v = get(&format!(
        "{}/_/api/bins/{bin}/requests?q=sig:valid",
        s.base_url()
    ))
    .await
    .json();
    assert_eq!(v["requests"].as_array().unwrap().len(), valid, "{bin}");
}

#[tokio::test]
async fn standard_webhooks_signatures_are_verified_over_the_exact_bytes() {
    let s = start().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let body = r#"{"test": 2432232314}"#;
    let ts = now();
    let sign = |id: &str, ts: i64, body: &str, key: &[u8]| {
        format!(
            "v1,{}",
            b64(&hmac256(key, format!("{id}.{ts}.{body}").as_bytes()))
        )
    };
    let hs = |id: &str, ts: i64, sig: String, prefix: &str| {
        vec![
            (format!("{prefix}-id"), id.to_owned()),
            (format!("{prefix}-timestamp"), ts.to_string()),
            (format!("{prefix}-signature"), sig),
        ]
    };
    check_scheme(
        &s,
        "sw",
        serde_json::json!({"scheme": "standard-webhooks", "secret": secret}),
        vec![
            (
                Case {
                    name: "valid",
                    headers: hs(
                        "msg_1",
                        ts,
                        format!("v1,bm90aXQ= {}", sign("msg_1", ts, body, &key)),
                        "webhook",
                    ),
                    body,
                },
                "valid",
            ),
            (
                Case {
                    name: "tampered",
                    headers: hs("msg_1", ts, sign("msg_1", ts, body, &key), "webhook"),
                    body: r#"{"test": 2432232315}"#,
                },
                "invalid",
            ),
            (
                Case {
                    name: "wrong secret",
                    headers: hs("msg_1", ts, sign("msg_1", ts, body, b"other"), "webhook"),
                    body,
                },
                "invalid",
            ),
            (
                Case {
                    name: "stale",
                    headers: hs(
                        "msg_1",
                        ts - 3600,
                        sign("msg_1", ts - 3600, body, &key),
                        "webhook",
                    ),
                    body,
                },
                "invalid",
            ),
            (
                Case {
                    name: "svix headers",
                    headers: hs("msg_2", ts, sign("msg_2", ts, body, &key), "svix"),
                    body,
                },
                "valid",
            ),
            (
                Case {
                    name: "missing",
                    headers: vec![],
                    body,
                },
                "invalid",
            ),
        ],
    )
    .await;
    // the official vector, with a tolerance wide enough for its 2021 timestamp
    let a = configure(&s, "vector", serde_json::json!({"verify": {"scheme": "standard-webhooks", "secret": secret, "tolerance": "100000h"}})).await;
    assert_eq!(a.status, 200);
    http(
        "POST",
        &s.catch_url("vector"),
        &[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ],
        body,
    )
    .await;
    assert!(
        s.store()
            .latest(Some("vector"))
            .unwrap()
            .signature
            .as_ref()
            .unwrap()
            .valid
    );
}

#[tokio::test]
async fn github_stripe_shopify_and_slack_signatures_are_verified() {
    let s = start().await;
    let body = r#"{"action":"opened"}"#;
    let gh = |key: &[u8], b: &str| {
        vec![(
            "X-Hub-Signature-256".to_owned(),
            format!("sha256={}", hex(&hmac256(key, b.as_bytes()))),
        )]
    };
    check_scheme(
        &s,
        "gh",
        serde_json::json!({"scheme": "github", "secret": "It's a Secret to Everybody"}),
        vec![
            (
                Case {
                    name: "valid",
                    headers: gh(b"It's a Secret to Everybody", body),
                    body,
                },
                "valid",
            ),
            (
                Case {
                    name: "tampered",
                    headers: gh(b"It's a Secret to Everybody", body),
                    body: "{}",
                },
                "invalid",
            ),
            (
                Case {
                    name: "wrong secret",
                    headers: gh(b"nope", body),
                    body,
                },
                "invalid",
            ),
        ],
    )
    .await;

    let ts = now();
    let stripe = |key: &[u8], t: i64, b: &str| {
        vec![(
            "Stripe-Signature".to_owned(),
            format!(
                "t={t},v1={}",
                hex(&hmac256(key, format!("{t}.{b}").as_bytes()))
            ),
        )]
    };
    check_scheme(
        &s,
        "stripe",
        serde_json::json!({"scheme": "stripe", "secret": "whsec_stripe"}),
        vec![
            (
                Case {
                    name: "valid",
                    headers: stripe(b"whsec_stripe", ts, body),
                    body,
                },
                "valid",
            ),
            (
                Case {
                    name: "tampered",
                    headers: stripe(b"whsec_stripe", ts, body),
                    body: "{}",
                },
                "invalid",
            ),
            (
                Case {
                    name: "wrong secret",
                    headers: stripe(b"whsec_other", ts, body),
                    body,
                },
                "invalid",
            ),
            (
                Case {
                    name: "stale",
                    headers: stripe(b"whsec_stripe", ts - 600, body),
                    body,
                },
                "invalid",
            ),
        ],
    )
    .await;

    let shopify = |key: &[u8], b: &str| {
        vec![(
            "X-Shopify-Hmac-Sha256".to_owned(),
            b64(&hmac256(key, b.as_bytes())),
        )]
    };
    check_scheme(
        &s,
        "shop",
        serde_json::json!({"scheme": "shopify", "secret": "shpss_k"}),
        vec![
            (
                Case {
                    name: "valid",
                    headers: shopify(b"shpss_k", body),
                    body,
                },
                "valid",
            ),
            (
                Case {
                    name: "tampered",
                    headers: shopify(b"shpss_k", body),
                    body: "{}",
                },
                "invalid",
            ),
            (
                Case {
                    name: "wrong secret",
                    headers: shopify(b"x", body),
                    body,
                },
                "invalid",
            ),
        ],
    )
    .await;

    let slack = |key: &[u8], t: i64, b: &str| {
        vec![
            ("X-Slack-Request-Timestamp".to_owned(), t.to_string()),
            (
                "X-Slack-Signature".to_owned(),
                format!(
                    "v0={}",
                    hex(&hmac256(key, format!("v0:{t}:{b}").as_bytes()))
                ),
            ),
        ]
    };
    check_scheme(
        &s,
        "slk",
        serde_json::json!({"scheme": "slack", "secret": "8f742231b10e8888abcd99yyyzzz85a5"}),
        vec![
            (
                Case {
                    name: "valid",
                    headers: slack(b"8f742231b10e8888abcd99yyyzzz85a5", ts, body),
                    body,
                },
                "valid",
            ),
            (
                Case {
                    name: "tampered",
                    headers: slack(b"8f742231b10e8888abcd99yyyzzz85a5", ts, body),
                    body: "{}",
                },
                "invalid",
            ),
            (
                Case {
                    name: "wrong secret",
                    headers: slack(b"x", ts, body),
                    body,
                },
                "invalid",
            ),
            (
                Case {
                    name: "stale",
                    headers: slack(b"8f742231b10e8888abcd99yyyzzz85a5", ts - 900, body),
                    body,
                },
                "invalid",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn mirror_forwarding_answers_at_once_and_records_the_apps_answer() {
    let s = start().await;
    let app = start().await;
    configure(
        &app,
        "app",
        serde_json::json!({"response": {"status": 201, "body": "created"}}),
    )
    .await;
    let a = configure(
        &s,
        "fw",
        serde_json::json!({"forward": {"url": app.catch_url("app"), "mode": "mirror"}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = http(
        "POST",
        &s.catch_url("fw/hooks/stripe?x=1"),
        &[("X-Sig", "abc")],
        r#"{"a":1}"#,
    )
    .await;
    assert_eq!(r.status, 200, "mirror answers with the bin's own response");
    let got = app
        .bin("app")
        .wait_for("method:POST", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.target, "/app/hooks/stripe?x=1");
    assert_eq!(&got.body.bytes[..], br#"{"a":1}"#);
    assert_eq!(got.header("x-sig").as_deref(), Some("abc"));
    // the app's answer lands on the captured request
    let mut fwd = None;
    for _ in 0..100 {
        fwd = s.store().latest(Some("fw")).unwrap().forward.clone();
        if fwd.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fwd = fwd.expect("the forward result was recorded");
    assert_eq!(fwd.status, Some(201));
    assert_eq!(fwd.body.text(), Some("created"));
}

#[tokio::test]
async fn passthrough_forwarding_returns_the_apps_response_and_a_502_when_it_is_down() {
    let s = start().await;
    let app = start().await;
    configure(&app, "app", serde_json::json!({"response": {"status": 422, "headers": [["X-App", "1"]], "body": "{\"error\":\"nope\"}"}})).await;
    configure(
        &s,
        "pt",
        serde_json::json!({"forward": {"url": app.catch_url("app"), "mode": "passthrough"}}),
    )
    .await;
    let r = post(&s.catch_url("pt"), "{}").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.header("x-app"), Some("1"));
    assert_eq!(r.json()["error"], "nope");
    let rec = s.store().latest(Some("pt")).unwrap();
    assert_eq!(rec.response.status, 422);
    assert_eq!(rec.forward.as_ref().unwrap().status, Some(422));

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    configure(
        &s,
        "down",
        serde_json::json!({"forward": {"url": format!("http://{dead}/"), "mode": "passthrough"}}),
    )
    .await;
    let r = post(&s.catch_url("down"), "{}").await;
    assert_eq!(r.status, 502);
    let rec = s.store().latest(Some("down")).unwrap();
    assert_eq!(rec.response.status, 502);
    assert!(rec
        .forward
        .as_ref()
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .to_lowercase()
        .contains("refused"));

    configure(
        &app,
        "slowapp",
        serde_json::json!({"response": {"delay": "3s"}}),
    )
    .await;
    configure(&s, "tardy", serde_json::json!({"forward": {"url": app.catch_url("slowapp"), "mode": "passthrough", "timeout": "300ms"}})).await;
    let started = std::time::Instant::now();
    let r = post(&s.catch_url("tardy"), "{}").await;
    assert_eq!(r.status, 502);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s
        .store()
        .latest(Some("tardy"))
        .unwrap()
        .forward
        .as_ref()
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .contains("timed out"));
}

#[tokio::test]
async fn the_sender_retried_by_a_bin_answering_500_500_200_shows_three_attempts() {
    let s = start().await;
    configure(
        &s,
        "retry",
        serde_json::json!({"sequence": [{"status": 500}, {"status": 500}, {"status": 200}]}),
    )
    .await;
    let hook = post(
        &format!("{}/_/api/webhooks", s.base_url()),
        &serde_json::json!({"name": "retry me", "url": s.catch_url("retry"), "events": ["payment_received"],
            "retry": {"schedule": ["1s", "5s", "30s"], "time_scale": 0.001}}).to_string(),
    )
    .await;
    assert!(hook.status < 300, "{}", hook.text());
    let id = hook.json()["id"].clone();
    let sent = post(
        &format!(
            "{}/_/api/events/payment_received?webhook={id}",
            s.base_url()
        ),
        "",
    )
    .await;
    assert!(sent.status < 300, "{}", sent.text());
    let reqs = s
        .bin("retry")
        .wait_for_count("method:POST", 3, Duration::from_secs(10))
        .await
        .unwrap();
    let ids: Vec<String> = reqs
        .iter()
        .map(|r| r.header("webhook-id").unwrap().into_owned())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one webhook-id across attempts"
    );
    let mut delivery = serde_json::Value::Null;
    for _ in 0..200 {
        let v = get(&format!("{}/_/api/deliveries?webhook={id}", s.base_url()))
            .await
            .json();
        delivery = v["deliveries"][0].clone();
        if delivery["state"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(delivery["state"], "succeeded", "{delivery}");
    let statuses: Vec<u64> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
}

#[test]
fn bin_set_configures_a_running_server_from_the_command_line() {
    let s = spawn_serve(&[]);
    let base = s.base();
    let (code, out, err) = run_cli(
        &base,
        &[
            "bin",
            "set",
            "cli",
            "--sequence",
            "500,200",
            "--status",
            "202",
            "--body",
            "ok",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["sequence"][0]["status"], 500);
    assert_eq!(v["config"]["response"]["status"], 202);
    let (code, out, _) = run_cli(
        &base,
        &[
            "bin",
            "set",
            "cli",
            "--fault-rate",
            "0.5",
            "--fault-status",
            "500",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["config"]["response"]["status"], 202,
        "earlier settings are kept"
    );
    assert_eq!(v["config"]["fault"]["rate"], 0.5);
    let (code, _, err) = run_cli(
        &base,
        &["bin", "set", "cli", "--verify", "md5", "--secret", "x"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("verify.scheme"), "{err}");
    let (code, out, _) = run_cli(&base, &["bin", "show", "cli"]);
    assert_eq!(code, 0);
    assert!(out.contains("sequence position 0"), "{out}");
}

#[test]
fn hookpit_forward_tunnels_a_bin_to_an_app_and_restores_the_bin_on_ctrl_c() {
    let hub = spawn_serve(&[]);
    let app = spawn_serve(&[]);
    let (code, _, err) = run_cli(
        &app.base(),
        &["bin", "set", "app", "--status", "201", "--body", "made"],
    );
    assert_eq!(code, 0, "{err}");
    let mut fwd = std::process::Command::new(bin_path())
        .args(["forward", "hooks", "--to", &format!("{}/app", app.base())])
        .env("HOOKPIT_SERVER", hub.base())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = lines_of(fwd.stdout.take().unwrap());
    // wait until the forward is configured on the hub
    let mut configured = false;
    for _ in 0..100 {
        let (_, o, _) = run_cli(&hub.base(), &["bin", "show", "hooks", "--json"]);
        if o.contains("passthrough") {
            configured = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(configured, "hookpit forward set the bin's forward");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(post(
        &format!("{}/hooks/stripe?x=1", hub.base()),
        r#"{"a":1}"#,
    ));
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (201, "made"),
        "the app's answer, passed through"
    );
    let line = next_line(&out);
    assert!(
        line.contains("/hooks/stripe") && line.contains("app 201"),
        "{line}"
    );
    let (_, o, _) = run_cli(&app.base(), &["ls", "app", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["requests"][0]["target"], "/app/stripe?x=1");
    // Ctrl-C: the bin goes back to how it was
    assert!(std::process::Command::new("kill")
        .args(["-INT", &fwd.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = fwd.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let (_, o, _) = run_cli(&hub.base(), &["bin", "show", "hooks", "--json"]);
    assert!(!o.contains("forward"), "restored: {o}");
}
