//! The signature doctor end to end: a bin that verifies says why a request fails (the usual
//! mistakes), with the expected and received signatures, in the request JSON, `hookpit show`,
//! `hookpit tail -v`, and `hookpit verify` (given headers, or a captured request by id).

use std::time::{SystemTime, UNIX_EPOCH};

use hookpit::sign;

use crate::support::*;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

async fn configure(s: &hookpit::ServerHandle, bin: &str, verify: serde_json::Value) {
    let a = put_bin(s, bin, serde_json::json!({ "verify": verify }).to_string()).await;
    assert_eq!(a.status, 200, "{}", a.text());
}

/// Sends `body` with `headers` to `bin` and returns the stored request's JSON from the API.
async fn capture(
    s: &hookpit::ServerHandle,
    bin: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> serde_json::Value {
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = http("POST", &s.catch_url(bin), &hs, body.to_vec()).await;
    assert!(a.status < 300, "{}", a.text());
    let r = get(&format!("{}/_/api/requests/latest?bin={bin}", s.base_url())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn key() -> Vec<u8> {
    sign::Secret::parse(WHSEC)
        .expect("secret")
        .as_bytes()
        .to_vec()
}

/// Standard Webhooks headers signed with HMAC key `key`.
fn sw_headers(key: &[u8], ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let secret = sign::Secret::from_bytes(key.to_vec()).expect("key");
    sign::sign_headers(&secret, "msg_doctor", ts, body).to_vec()
}

#[tokio::test]
async fn a_bin_says_the_whsec_secret_was_used_as_raw_text_and_shows_expected_and_received() {
    let s = start().await;
    configure(
        &s,
        "sw",
        serde_json::json!({"scheme": "standard-webhooks", "secret": WHSEC}),
    )
    .await;
    let body = br#"{"type":"invoice.paid"}"#;
    let sent = sw_headers(WHSEC.as_bytes(), now(), body);
    let r = capture(&s, "sw", &sent, body).await;
    let sig = &r["signature"];
    assert_eq!(sig["valid"], false, "{sig}");
    assert_eq!(
        sig["reason"],
        "the secret matches when used as its raw text (the whole string as the HMAC key); \
         Standard Webhooks base64-decodes what follows whsec_"
    );
    let right = sw_headers(&key(), now(), body);
    assert_eq!(sig["expected"], right[2].1.as_str(), "{sig}");
    assert_eq!(sig["received"], sent[2].1.as_str());
    let shown = sig.to_string();
    assert!(
        !shown.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{shown}"
    );

    // a valid one keeps its plain shape
    let r = capture(&s, "sw", &right, body).await;
    assert_eq!(
        r["signature"],
        serde_json::json!({"scheme": "standard-webhooks", "valid": true})
    );
}

#[tokio::test]
async fn a_bin_says_a_re_serialised_body_and_a_stale_timestamp_for_each_timed_scheme() {
    let s = start().await;
    configure(
        &s,
        "gh",
        serde_json::json!({"scheme": "github", "secret": "It's a Secret to Everybody"}),
    )
    .await;
    // the sender signed compact JSON but a proxy pretty-printed what it passed on
    let signed = br#"{"action":"opened","number":1}"#;
    let sent = b"{\n  \"action\": \"opened\",\n  \"number\": 1\n}";
    let h = vec![(
        sign::GITHUB_SIGNATURE_256,
        sign::github_sign(b"It's a Secret to Everybody", signed),
    )];
    let r = capture(&s, "gh", &h, sent).await;
    let reason = r["signature"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("the signature matches this body re-serialised (compact JSON): the sender signed different bytes than it sent"),
        "{reason}"
    );

    configure(
        &s,
        "stripe",
        serde_json::json!({"scheme": "stripe", "secret": "whsec_stripe"}),
    )
    .await;
    let body = br#"{"id":"evt_1"}"#;
    let old = now() - 3600;
    let h = vec![(
        sign::STRIPE_SIGNATURE,
        sign::stripe_sign(b"whsec_stripe", old, body),
    )];
    let r = capture(&s, "stripe", &h, body).await;
    let reason = r["signature"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(" s old, tolerance 300 s")
            && reason.ends_with("the signature itself matches the secret"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_large_body_is_diagnosed_after_its_answer_and_the_request_updated() {
    let s = start().await;
    configure(
        &s,
        "big",
        serde_json::json!({"scheme": "shopify", "secret": "shpss_big"}),
    )
    .await;
    let items: Vec<serde_json::Value> = (0..4000)
        .map(|i| serde_json::json!({"id": i, "title": format!("item {i}")}))
        .collect();
    let value = serde_json::json!({ "line_items": items });
    let signed = serde_json::to_vec(&value).expect("json");
    let sent = serde_json::to_vec_pretty(&value).expect("json");
    assert!(sent.len() > 128 * 1024, "{} bytes", sent.len());
    let h = vec![(
        sign::SHOPIFY_HMAC,
        sign::shopify_sign(b"shpss_big", &signed),
    )];
    // answered at once with the plain verdict; the doctor's reason replaces it when done
    let first = capture(&s, "big", &h, &sent).await;
    assert_eq!(first["signature"]["valid"], false);
    let id = first["id"].to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = get(&format!("{}/_/api/requests/{id}", s.base_url()))
            .await
            .json();
        let reason = r["signature"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if reason.starts_with("the signature matches this body re-serialised (compact JSON)") {
            assert_eq!(r["signature"]["valid"], false);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never diagnosed: {reason}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_misnamed_header_is_named_with_the_expected_one() {
    let s = start().await;
    configure(
        &s,
        "slack",
        serde_json::json!({"scheme": "slack", "secret": "8f742231b10e8888abcd99yyyzzz85a5"}),
    )
    .await;
    let body = b"token=x&team_id=T1";
    let ts = now();
    let h = vec![
        (sign::SLACK_TIMESTAMP, ts.to_string()),
        (
            "X-Slack_Signature",
            sign::slack_sign(b"8f742231b10e8888abcd99yyyzzz85a5", ts, body),
        ),
    ];
    let r = capture(&s, "slack", &h, body).await;
    assert_eq!(
        r["signature"]["reason"],
        "no signature headers: expected X-Slack-Signature; a similar one is present: \
         `x-slack_signature` — rename it to X-Slack-Signature"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_tail_and_verify_by_request_id_print_the_diagnosis() {
    let s = start().await;
    configure(
        &s,
        "cli",
        serde_json::json!({"scheme": "github", "secret": "right"}),
    )
    .await;
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let sent = sign::github_sign(b"wrong", body);
    let r = capture(
        &s,
        "cli",
        &[(sign::GITHUB_SIGNATURE_256, sent.clone())],
        body,
    )
    .await;
    let id = r["id"].to_string();
    let expected = sign::github_sign(b"right", body);
    let base = s.base_url();

    let (b, i) = (base.clone(), id.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || run_cli(&b, &["show", &i]))
        .await
        .expect("show");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("sig:invalid (wrong secret or changed body)"),
        "{out}"
    );
    assert!(
        out.contains("signature github invalid: wrong secret or changed body: the signature in X-Hub-Signature-256 does not match"),
        "{out}"
    );
    assert!(out.contains(&format!("expected: {expected}")), "{out}");
    assert!(out.contains(&format!("received: {sent}")), "{out}");

    let (b, i) = (base.clone(), id.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&b, &["verify", "--request", &i, "--secret", "right"])
    })
    .await
    .expect("verify");
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with("invalid: wrong secret or changed body"),
        "{out}"
    );
    assert!(out.contains(&format!("expected: {expected}")), "{out}");
    let (b, i) = (base.clone(), id.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&b, &["verify", "--request", &i, "--secret", "wrong"])
    })
    .await
    .expect("verify");
    assert_eq!((code, out.trim()), (0, "valid"), "{err}");

    // tail -v, replaying what is kept
    let b = base.clone();
    let line = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(bin_path())
            .args(["tail", "-v", "--after", "0"])
            .env("HOOKPIT_SERVER", &b)
            .env("NO_COLOR", "1")
            .env_remove("HOOKPIT_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tail");
        let lines = lines_of(child.stdout.take().expect("stdout"));
        let first = line_containing(&lines, "sig:invalid");
        let detail = line_containing(&lines, "expected:");
        let _ = child.kill();
        let _ = child.wait();
        (first, detail)
    })
    .await
    .expect("tail");
    assert!(
        line.0
            .contains("sig:invalid (wrong secret or changed body)"),
        "{line:?}"
    );
    assert!(line.1.contains(&expected), "{line:?}");
}

/// Runs `hookpit verify ARGS` with `body` in a file.
fn verify_cli(args: &[&str], body: &[u8]) -> (i32, String, String) {
    let dir = temp_dir("verify-doctor");
    let file = dir.join("body");
    std::fs::write(&file, body).expect("write body");
    let file = file.to_str().expect("utf-8 path").to_owned();
    let mut all: Vec<&str> = vec!["verify"];
    all.extend_from_slice(args);
    all.push(&file);
    run_within(
        std::process::Command::new(bin_path())
            .args(&all)
            .env("NO_COLOR", "1")
            .env_remove("HOOKPIT_SECRET"),
    )
}

#[test]
fn hookpit_verify_checks_any_scheme_from_headers_and_prints_the_diagnosis() {
    let body = br#"{"id":820982911946154508}"#;
    let good = format!(
        "{}: {}",
        sign::SHOPIFY_HMAC,
        sign::shopify_sign(b"shpss_x", body)
    );
    let (code, out, err) = verify_cli(
        &["--scheme", "shopify", "--secret", "shpss_x", "-H", &good],
        body,
    );
    assert_eq!((code, out.trim()), (0, "valid"), "{err}");

    let ts = now() - 7200;
    let stale = [
        format!("{}: {ts}", sign::SLACK_TIMESTAMP),
        format!(
            "{}: {}",
            sign::SLACK_SIGNATURE,
            sign::slack_sign(b"slack-secret", ts, body)
        ),
    ];
    let (code, out, err) = verify_cli(
        &[
            "--scheme",
            "slack",
            "--secret",
            "slack-secret",
            "--tolerance",
            "5m",
            "-H",
            &stale[0],
            "-H",
            &stale[1],
        ],
        body,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with(&format!(
            "invalid: X-Slack-Request-Timestamp {ts} is 7200 s old, tolerance 300 s"
        )) || out.starts_with(&format!(
            "invalid: X-Slack-Request-Timestamp {ts} is 7201 s old, tolerance 300 s"
        )),
        "{out}"
    );
    assert!(out.contains("received: v0="), "{out}");

    // today's Standard Webhooks flags still work, and now say why
    let secret = sign::Secret::parse(WHSEC).expect("secret");
    let raw = sign::Secret::from_bytes(WHSEC.as_bytes().to_vec()).expect("key");
    let signature = sign::sign(&raw, "msg_1", 1_700_000_000, body);
    let (code, out, err) = verify_cli(
        &[
            "--secret",
            WHSEC,
            "--id",
            "msg_1",
            "--timestamp",
            "1700000000",
            "--signature",
            &signature,
        ],
        body,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with("invalid: the secret matches when used as its raw text"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "expected: {}",
            sign::sign(&secret, "msg_1", 1_700_000_000, body)
        )),
        "{out}"
    );
    let (code, _, err) = verify_cli(&["--scheme", "md5", "--secret", "x"], body);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn githubs_legacy_sha1_header_alone_does_not_pass_even_when_it_matches() {
    let s = start().await;
    configure(
        &s,
        "gh",
        serde_json::json!({"scheme": "github", "secret": "s3cret"}),
    )
    .await;
    let body = br#"{"zen":"x"}"#;
    let legacy = sign::github_sign_sha1(b"s3cret", body);
    let v = capture(&s, "gh", &[("X-Hub-Signature", legacy)], body).await;
    let sig = &v["signature"];
    assert_eq!(sig["valid"], false, "{sig}");
    let reason = sig["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("only the legacy X-Hub-Signature (sha1)"),
        "{reason}"
    );
}

#[tokio::test]
async fn verify_by_request_id_checks_with_the_bins_tolerance_and_names_another_scheme() {
    let s = start().await;
    configure(
        &s,
        "late",
        serde_json::json!({"scheme": "standard-webhooks", "secret": WHSEC, "tolerance": "5m"}),
    )
    .await;
    let body = br#"{"type":"x"}"#;
    let stale = capture(&s, "late", &sw_headers(&key(), now() - 3600, body), body).await;
    assert_eq!(stale["signature"]["valid"], false);
    let stripe = capture(
        &s,
        "plain",
        &[(
            sign::STRIPE_SIGNATURE,
            sign::stripe_sign(b"whsec_x", now(), body),
        )],
        body,
    )
    .await;
    let base = s.base_url();
    let run = |args: Vec<String>| {
        let b = base.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cli(&b, &args)
        })
    };
    // the bin's own tolerance, unless --tolerance says otherwise
    let id = stale["id"].to_string();
    let (code, out, err) = run(vec![
        "verify".into(),
        "--request".into(),
        id.clone(),
        "--secret".into(),
        WHSEC.into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("3600 s old, tolerance 300 s"), "{out}");
    let (code, out, _) = run(vec![
        "verify".into(),
        "--request".into(),
        id,
        "--secret".into(),
        WHSEC.into(),
        "--tolerance".into(),
        "2h".into(),
    ])
    .await
    .unwrap();
    assert_eq!((code, out.trim()), (0, "valid"));
    // a bin that checks nothing: the scheme the request was signed with is named
    let id = stripe["id"].to_string();
    let (code, out, _) = run(vec![
        "verify".into(),
        "--request".into(),
        id,
        "--secret".into(),
        WHSEC.into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--scheme stripe"), "{out}");
}
