//! Replay that edits and re-signs: a request signed an hour ago passes a receiver's tolerance
//! once replayed with `resign`, for every scheme; a new body is signed over its exact bytes (and
//! fails verification without `resign`); a header list goes out in its order and case; every bad
//! replay body is refused naming its field; and the same from the real binary's `replay`.

use hookpit::sign;
use hookpit::ServerHandle;
use serde_json::{json, Value};

use crate::support::*;

const BODY: &str = r#"{"event":"order.paid","amount":4200}"#;
const EDITED: &str = r#"{"event":"order.paid","amount":1}"#;

/// Each scheme with a secret of its kind.
const SCHEMES: [(&str, &str); 5] = [
    (
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("github", "It's a Secret to Everybody"),
    ("stripe", "whsec_test_secret"),
    ("shopify", "hush"),
    ("slack", "8f742231b10e8888abcd99yyyzzz85a5"),
];

/// The signature headers `scheme` puts on `body` at `timestamp`.
fn signed(scheme: &str, secret: &str, timestamp: i64, body: &str) -> Vec<(String, String)> {
    let raw = secret.as_bytes();
    let b = body.as_bytes();
    match scheme {
        "standard-webhooks" => {
            let secret = sign::Secret::parse(secret).unwrap();
            sign::sign_headers(&secret, "msg_old", timestamp, b)
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect()
        }
        "github" => vec![("X-Hub-Signature-256".into(), sign::github_sign(raw, b))],
        "stripe" => vec![(
            "Stripe-Signature".into(),
            sign::stripe_sign(raw, timestamp, b),
        )],
        "shopify" => vec![("X-Shopify-Hmac-Sha256".into(), sign::shopify_sign(raw, b))],
        "slack" => vec![
            ("X-Slack-Request-Timestamp".into(), timestamp.to_string()),
            (
                "X-Slack-Signature".into(),
                sign::slack_sign(raw, timestamp, b),
            ),
        ],
        other => panic!("unknown scheme {other}"),
    }
}

/// Captures `body` into `bin` with `headers`; returns the request id.
async fn capture(s: &ServerHandle, bin: &str, headers: &[(String, String)], body: &str) -> u64 {
    let mut hs: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    hs.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let a = http("POST", &s.catch_url(bin), &hs, body.to_owned()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()["id"].as_u64().expect("the capture's id")
}

async fn replay(s: &ServerHandle, id: u64, body: Value) -> Answer {
    post(
        &format!("{}/requests/{id}/replay", s.api_url()),
        &body.to_string(),
    )
    .await
}

/// The signature check of `bin`'s newest request: (valid, the request).
fn newest(s: &ServerHandle, bin: &str) -> (bool, std::sync::Arc<hookpit::CapturedRequest>) {
    let r = s.requests(bin).pop().expect("a request in the bin");
    let check = r.signature.as_ref().expect("the bin checks signatures");
    (check.valid, r.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_an_hour_ago_verifies_at_the_receiver_once_replayed_with_resign_for_every_scheme(
) {
    let s = start().await;
    let hour_ago = sign::unix_now() - 3600;
    for (scheme, secret) in SCHEMES {
        let verify = json!({"verify": {"scheme": scheme, "secret": secret, "tolerance": "5m"}});
        let (a, b) = (format!("a-{scheme}"), format!("b-{scheme}"));
        s.bin(&a).configure(verify.clone()).unwrap();
        s.bin(&b).configure(verify).unwrap();
        let id = capture(&s, &a, &signed(scheme, secret, hour_ago, BODY), BODY).await;
        let (valid_at_a, _) = newest(&s, &a);
        let timed = scheme != "github" && scheme != "shopify";
        assert_eq!(
            valid_at_a, !timed,
            "{scheme}: only an untimed scheme is still valid at A"
        );

        // sent as captured: the old signature, too old for B (or still fine for an untimed one)
        let v = replay(&s, id, json!({"url": s.catch_url(&b)})).await.json();
        assert_eq!(
            (v["ok"].as_bool(), v["sent"]["resigned"].as_bool()),
            (Some(true), Some(false)),
            "{v}"
        );
        assert_eq!(newest(&s, &b).0, !timed, "{scheme}: replayed as captured");

        let v = replay(&s, id, json!({"url": s.catch_url(&b), "resign": true}))
            .await
            .json();
        assert_eq!(v["status"], 200, "{scheme}: {v}");
        assert_eq!(v["sent"]["resigned"], true, "{v}");
        let (valid, r) = newest(&s, &b);
        assert!(valid, "{scheme}: re-signed, valid at B: {:?}", r.signature);
        assert_eq!(&r.body.bytes[..], BODY.as_bytes());

        // an edited body, re-signed over the bytes sent
        let v = replay(
            &s,
            id,
            json!({"url": s.catch_url(&b), "resign": true, "body": EDITED}),
        )
        .await
        .json();
        assert_eq!(v["sent"]["body_size"], EDITED.len(), "{v}");
        let (valid, r) = newest(&s, &b);
        assert!(valid, "{scheme}: edited and re-signed: {:?}", r.signature);
        assert_eq!(&r.body.bytes[..], EDITED.as_bytes());

        // an edited body under the old signature does not verify
        let v = replay(&s, id, json!({"url": s.catch_url(&b), "body": EDITED}))
            .await
            .json();
        assert_eq!(v["status"], 200, "{v}");
        let (valid, r) = newest(&s, &b);
        assert!(!valid, "{scheme}: edited, not re-signed: {:?}", r.signature);
        assert_eq!(&r.body.bytes[..], EDITED.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_list_goes_out_in_its_order_and_case_framed_by_the_new_body() {
    let s = start().await;
    let id = capture(
        &s,
        "src",
        &[("Content-Encoding".into(), "identity".into())],
        BODY,
    )
    .await;
    let headers = json!([
        ["X-Zed", "1"],
        ["ACCEPT", "*/*"],
        ["x-zed", "2"],
        ["Content-Encoding", "gzip"],
        ["Content-Length", "999"],
        ["Transfer-Encoding", "chunked"],
        ["Via", "1.1 proxy.example"],
        ["content-TYPE", "text/plain"],
    ]);
    let a = replay(
        &s,
        id,
        json!({"url": s.catch_url("dst/p?q=1"), "headers": headers, "body": "hello"}),
    )
    .await;
    let v = a.json();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["sent"]["body_size"], 5);
    let r = s.requests("dst").remove(0);
    assert_eq!(r.target, "/dst/p?q=1");
    assert_eq!(&r.body.bytes[..], b"hello");
    let got: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value_str().into_owned()))
        .filter(|(n, _)| n != "Host")
        .collect();
    let via = format!("1.1 proxy.example, 1.1 hookpit-{}", s.store().instance());
    let expected = [
        ("X-Zed", "1"),
        ("ACCEPT", "*/*"),
        ("x-zed", "2"),
        ("Via", via.as_str()),
        ("content-TYPE", "text/plain"),
        ("Content-Length", "5"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        got, expected,
        "framing written from the new body; no stale encoding"
    );
    // the answer says exactly what went out, the framing the client writes included
    let sent: Vec<(String, String)> = v["sent"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let arrived: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value_str().into_owned()))
        .collect();
    assert_eq!(sent, arrived);
    assert_eq!(sent[0].0, "Host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_replay_still_never_reaches_hookpits_own_api_and_keeps_its_hop_marker() {
    let s = start().await;
    let id = capture(&s, "src", &[], BODY).await;
    let v = replay(
        &s,
        id,
        json!({"url": format!("{}/bins", s.api_url()), "headers": [], "body": "{}"}),
    )
    .await
    .json();
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("/_/"), "{v}");
    // a header list without Via still gets the marker that stops loops
    let v = replay(
        &s,
        id,
        json!({"url": s.catch_url("again"), "headers": [["X-A", "1"]]}),
    )
    .await
    .json();
    assert_eq!(v["status"], 200, "{v}");
    let again = s.requests("again").remove(0);
    let marker = format!("hookpit-{}", s.store().instance());
    assert!(again.header("via").unwrap().contains(&marker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_replay_is_refused_naming_its_field() {
    let mut config = hookpit::Config::for_tests();
    config.max_body = 1024;
    let s = start_with(config).await;
    let id = capture(&s, "plain", &[], BODY).await;
    let url = s.catch_url("dst");
    let cases = [
        (
            json!({"url": url, "resign": true}),
            400,
            "resign: bin plain has no `verify`",
        ),
        (json!({"url": url, "headers": {"a": "1"}}), 400, "headers: "),
        (
            json!({"url": url, "headers": [["X-A"]]}),
            400,
            "headers[0]: ",
        ),
        (
            json!({"url": url, "headers": [["X-A", "1"], ["bad name", "1"]]}),
            400,
            "headers[1]: ",
        ),
        (
            json!({"url": url, "headers": [["X-A", "1\r\nX-Injected: 1"]]}),
            400,
            "headers[0]: ",
        ),
        (
            json!({"url": url, "headers": vec![["X-A", "1"]; 101]}),
            400,
            "headers: at most 100",
        ),
        (
            json!({"url": url, "headers": [["X-A", "x".repeat(70 * 1024)]]}),
            400,
            "headers: ",
        ),
        (
            json!({"url": url, "body": "x".repeat(1025)}),
            400,
            "body: 1025 bytes",
        ),
        (json!({"url": url, "body": 5}), 400, "body: "),
        (json!({"url": url, "resign": "yes"}), 400, "resign: "),
        (json!({"body": "x"}), 400, "url: "),
    ];
    for (body, status, message) in cases {
        let a = replay(&s, id, body.clone()).await;
        assert_eq!(a.status, status, "{body}: {}", a.text());
        let m = a.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(m.starts_with(message), "{body}: {m}");
    }
    let nothing_sent = s.requests("dst");
    assert!(nothing_sent.is_empty(), "no refused replay was sent");
    // the resign error says how to set a verify
    let a = replay(&s, id, json!({"url": url, "resign": true})).await;
    assert!(
        a.text().contains("hookpit bin set plain --verify"),
        "{}",
        a.text()
    );

    // a request whose bin is gone
    assert_eq!(
        delete(&format!("{}/bins/plain", s.api_url())).await.status,
        200
    );
    let a = replay(&s, id, json!({"url": url, "resign": true})).await;
    assert_eq!(a.status, 404, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_command_sets_and_removes_headers_replaces_the_body_and_resigns() {
    let s = start().await;
    let (scheme, secret) = SCHEMES[2];
    let verify = json!({"verify": {"scheme": scheme, "secret": secret, "tolerance": "5m"}});
    s.bin("in").configure(verify.clone()).unwrap();
    s.bin("out").configure(verify).unwrap();
    let mut headers = signed(scheme, secret, sign::unix_now() - 3600, BODY);
    headers.push(("X-Keep".into(), "k".into()));
    headers.push(("X-Event".into(), "old".into()));
    headers.push(("X-Drop".into(), "d".into()));
    let id = capture(&s, "in", &headers, BODY).await;
    let dir = temp_dir("replay-cli");
    let data = dir.join("body.json");
    std::fs::write(&data, EDITED).unwrap();

    let (base, to) = (s.base_url(), s.catch_url("out"));
    let args = [
        "replay".to_owned(),
        id.to_string(),
        "--to".into(),
        to.clone(),
        "--resign".into(),
        "--data".into(),
        data.display().to_string(),
        "-H".into(),
        "X-EVENT: new".into(),
        "-H".into(),
        "X-Drop:".into(),
        "-H".into(),
        "X-Added: a".into(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&base, &args)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("200"), "{out}");
    let (valid, r) = newest(&s, "out");
    assert!(valid, "{:?}", r.signature);
    assert_eq!(&r.body.bytes[..], EDITED.as_bytes());
    assert_eq!(r.header("x-keep").as_deref(), Some("k"));
    assert_eq!(r.header("x-drop"), None);
    assert_eq!(r.header("x-added").as_deref(), Some("a"));
    let event = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("x-event"))
        .unwrap();
    assert_eq!(
        (&*event.name, &*event.value_str()),
        ("x-event", "new"),
        "set in place, in the captured case (the test client sent lower case)"
    );
    let names: Vec<&str> = r.headers.iter().map(|h| &*h.name).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(
        pos("x-keep") < pos("x-event") && pos("x-event") < pos("X-Added"),
        "{names:?}"
    );

    // a target answering 500 is exit 1, with the status printed
    s.bin("down")
        .configure(json!({"response": {"status": 500}}))
        .unwrap();
    let (base, to) = (s.base_url(), s.catch_url("down"));
    let (code, out, _) = tokio::task::spawn_blocking(move || {
        run_cli(&base, &["replay", &id.to_string(), "--to", &to])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("500"), "{out}");
}
