//! Provider events end to end: `POST /_/api/trigger` and `hookpit trigger` (the real binary)
//! send every event of every provider to a real hookpit whose bins verify that provider's
//! scheme; `--set`, `--data`, exit codes and `--list`; the errors of the API; a webhook of
//! each signature scheme delivered to a bin that verifies it; and every captured event checked
//! with the providers' official libraries.

use std::sync::Arc;
use std::time::Duration;

use hookpit::provider::Provider;
use hookpit::{CapturedRequest, Config, ServerHandle};
use serde_json::{json, Value};

use crate::official::{official_verify, Case};
use crate::support::{self, bin_path, post, run_within};

const WAIT: Duration = Duration::from_secs(10);

/// A secret each scheme's bin verifies with: Standard Webhooks needs `whsec_` + base64; the
/// others take any text (a `whsec_` text too, used as is).
fn secret_for(p: Provider) -> &'static str {
    match p {
        Provider::StandardWebhooks => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        Provider::Stripe => "whsec_test_stripe_endpoint_secret",
        Provider::Github => "It's a Secret to Everybody",
        Provider::Shopify => "shopify-app-secret",
        Provider::Slack => "8f742231b10e8888abcd99yyyzzz85a5",
    }
}

/// A fresh bin of `s` that verifies `p`'s scheme with [`secret_for`].
fn verifying_bin(s: &ServerHandle, p: Provider) -> hookpit::BinRef {
    let bin = s.fresh_bin();
    bin.configure(json!({"verify": {"scheme": p.as_str(), "secret": secret_for(p)}}))
        .expect("verify config");
    bin
}

/// The one request `bin` caught.
async fn caught(bin: &hookpit::BinRef) -> Arc<CapturedRequest> {
    bin.wait_for("method:POST", WAIT)
        .await
        .unwrap_or_else(|e| panic!("nothing reached {}: {e}", bin.name()))
}

fn header(r: &CapturedRequest, name: &str) -> String {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .into_owned()
}

/// Asserts the capture verified under its bin's scheme and carries `p`'s headers and
/// envelope for `event`; returns the value that identifies this one send.
fn assert_provider_request(p: Provider, event: &str, r: &CapturedRequest) -> String {
    let check = r.signature.as_ref().expect("the bin checked the signature");
    assert_eq!(check.scheme, p.as_str());
    assert!(check.valid, "{p} {event}: {:?}", check.reason);
    let body = r.json().expect("a JSON body");
    match p {
        Provider::Stripe => {
            assert_eq!(body["object"], "event");
            assert_eq!(body["type"], event);
            assert_eq!(body["livemode"], false);
            assert!(body["data"]["object"].is_object());
            assert!(header(r, "Stripe-Signature").starts_with("t="));
            body["id"].as_str().expect("evt_ id").to_owned()
        }
        Provider::Github => {
            assert_eq!(header(r, "X-GitHub-Event"), event);
            assert!(header(r, "User-Agent").starts_with("GitHub-Hookshot/"));
            assert!(header(r, "X-Hub-Signature").starts_with("sha1="));
            assert!(header(r, "X-Hub-Signature-256").starts_with("sha256="));
            header(r, "X-GitHub-Hook-ID");
            header(r, "X-GitHub-Hook-Installation-Target-Type");
            assert!(body["repository"]["full_name"].is_string());
            assert!(body["sender"]["login"].is_string());
            header(r, "X-GitHub-Delivery")
        }
        Provider::Shopify => {
            assert_eq!(header(r, "X-Shopify-Topic"), event);
            for h in [
                "X-Shopify-Hmac-Sha256",
                "X-Shopify-Shop-Domain",
                "X-Shopify-API-Version",
                "X-Shopify-Triggered-At",
                "X-Shopify-Event-Id",
            ] {
                header(r, h);
            }
            header(r, "X-Shopify-Webhook-Id")
        }
        Provider::Slack => {
            assert!(header(r, "X-Slack-Signature").starts_with("v0="));
            header(r, "X-Slack-Request-Timestamp");
            if event == "url_verification" {
                assert_eq!(body["type"], "url_verification");
                body["challenge"].as_str().expect("challenge").to_owned()
            } else {
                assert_eq!(body["type"], "event_callback");
                assert_eq!(body["event"]["type"], event);
                body["event_id"].as_str().expect("event_id").to_owned()
            }
        }
        Provider::StandardWebhooks => {
            assert_eq!(body["type"], event);
            assert!(body["data"].is_object());
            header(r, "webhook-signature");
            header(r, "webhook-id")
        }
    }
}

fn case_of(p: Provider, r: &CapturedRequest) -> Case {
    Case {
        scheme: p.as_str().to_owned(),
        secret: secret_for(p).to_owned(),
        headers: r
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value_str().into_owned()))
            .collect(),
        body: r.body.bytes.to_vec(),
    }
}

async fn trigger_api(s: &ServerHandle, body: Value) -> support::Answer {
    post(
        &format!("{}/_/api/trigger", s.base_url()),
        &body.to_string(),
    )
    .await
}

/// Triggers `p`'s `event` over the API at a fresh verifying bin; returns the answer's JSON
/// and the capture.
async fn api_send(s: &ServerHandle, p: Provider, event: &str) -> (Value, Arc<CapturedRequest>) {
    let bin = verifying_bin(s, p);
    let a = trigger_api(
        s,
        json!({"provider": p.as_str(), "event": event, "url": bin.url(), "secret": secret_for(p)}),
    )
    .await;
    assert_eq!(a.status, 200, "{p} {event}: {}", a.text());
    (a.json(), caught(&bin).await)
}

/// Runs `hookpit trigger ARGS`; returns (exit code, stdout, stderr).
fn cli_blocking(args: &[&str]) -> (i32, String, String) {
    run_within(
        std::process::Command::new(bin_path())
            .arg("trigger")
            .args(args)
            .env("NO_COLOR", "1"),
    )
}

/// [`cli_blocking`] off the runtime's thread, so an in-process server keeps answering.
async fn cli(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli_blocking(&args)
    })
    .await
    .expect("the command runs")
}

/// Triggers `p`'s `event` through the real binary at a fresh verifying bin.
async fn cli_send(
    s: &ServerHandle,
    p: Provider,
    event: &str,
    extra: &[&str],
) -> (Value, Arc<CapturedRequest>) {
    let bin = verifying_bin(s, p);
    let url = bin.url().to_owned();
    let mut args = vec![
        p.as_str(),
        event,
        "--to",
        &url,
        "--secret",
        secret_for(p),
        "--json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args).await;
    assert_eq!(code, 0, "{p} {event}: {out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    (v, caught(&bin).await)
}

// ---------------------------------------------------------------------------------------------
// Every event, from the API and from the CLI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_event_of_every_provider_triggered_over_the_api_verifies_at_a_bin_of_its_scheme() {
    let s = support::start().await;
    for p in Provider::ALL {
        for event in p.events() {
            let (answer, r) = api_send(&s, p, &event).await;
            assert_eq!(answer["ok"], true, "{answer}");
            assert_eq!(answer["status"], 200);
            assert_eq!(answer["secret"], secret_for(p));
            assert_eq!(answer["sent"]["body"]["text"], r.body.text().unwrap_or(""));
            assert!(answer["latency_ms"].is_number());
            let first = assert_provider_request(p, &event, &r);
            // the provider's headers arrive as it writes them: names in its case, in its order
            let sent: Vec<String> = answer["sent"]["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h[0].as_str().unwrap().to_owned())
                .collect();
            let got: Vec<String> = r
                .headers
                .iter()
                .map(|h| h.name.to_string())
                .filter(|n| sent.contains(n))
                .collect();
            assert_eq!(
                got, sent,
                "{p} {event}: header names or order changed on the wire"
            );
            let (_, again) = api_send(&s, p, &event).await;
            let second = assert_provider_request(p, &event, &again);
            assert_ne!(first, second, "{p} {event}: two sends share an id");
        }
    }
}

#[tokio::test]
async fn every_event_of_every_provider_triggered_from_the_cli_verifies_at_a_bin_of_its_scheme() {
    let s = support::start().await;
    for p in Provider::ALL {
        for event in p.events() {
            let (answer, r) = cli_send(&s, p, &event, &[]).await;
            assert_eq!(answer["ok"], true, "{answer}");
            assert_eq!(answer["status"], 200);
            assert_provider_request(p, &event, &r);
        }
    }
}

#[tokio::test]
async fn every_provider_event_passes_its_official_library() {
    let s = support::start().await;
    let mut cases = Vec::new();
    let mut names = Vec::new();
    for p in Provider::ALL {
        for event in p.events() {
            let (_, r) = api_send(&s, p, &event).await;
            assert_provider_request(p, &event, &r);
            cases.push(case_of(p, &r));
            names.push(format!("{p} {event}"));
        }
    }
    if let Some(results) = official_verify(&cases) {
        assert_eq!(results.len(), cases.len());
        let refused: Vec<String> = names
            .iter()
            .zip(&results)
            .filter_map(|(n, r)| r.as_ref().err().map(|why| format!("{n}: {why}")))
            .collect();
        assert!(refused.is_empty(), "refused: {refused:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Edits, exit codes, listing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn set_values_are_typed_json_and_create_missing_objects() {
    let s = support::start().await;
    let (_, r) = cli_send(
        &s,
        Provider::Stripe,
        "payment_intent.succeeded",
        &[
            "--set",
            "data.object.amount=5000",
            "--set",
            "data.object.currency=\"eur\"",
            "--set",
            "data.object.captured=true",
            "--set",
            "data.object.customer=null",
            "--set",
            "data.object.metadata={\"order\":17}",
            "--set",
            "data.object.shipping.name=Jenny Rosen",
        ],
    )
    .await;
    let v = r.json().unwrap();
    let o = &v["data"]["object"];
    assert_eq!(o["amount"], 5000);
    assert_eq!(o["currency"], "eur");
    assert_eq!(o["captured"], true);
    assert_eq!(o["customer"], Value::Null);
    assert_eq!(o["metadata"], json!({"order": 17}));
    assert_eq!(o["shipping"], json!({"name": "Jenny Rosen"}));
    assert!(r.signature.as_ref().unwrap().valid);

    // over the API, `set` values are JSON already
    let bin = verifying_bin(&s, Provider::Slack);
    let a = trigger_api(
        &s,
        json!({"provider": "slack", "event": "message", "url": bin.url(),
               "secret": secret_for(Provider::Slack), "set": {"event.text": "hi", "event.n": 3},
               "headers": [["X-Extra", "two"]]}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = caught(&bin).await;
    assert_eq!(r.json().unwrap()["event"]["text"], "hi");
    assert_eq!(r.json().unwrap()["event"]["n"], 3);
    assert_eq!(header(&r, "X-Extra"), "two");
    assert!(r.signature.as_ref().unwrap().valid);

    // a path through a non-object is an error naming the path, exit 2
    let (code, out, err) = cli(&[
        "stripe",
        "invoice.paid",
        "--to",
        bin.url(),
        "--set",
        "data.object.total.cents=1",
    ])
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("`data.object.total.cents`: `data.object.total` is a number, not an object"),
        "{err}"
    );
}

#[tokio::test]
async fn data_replaces_the_payload_and_is_sent_byte_for_byte() {
    let s = support::start().await;
    let dir = support::temp_dir("trigger-data");
    let file = dir.join("body.json");
    let body = "{\n  \"custom\" : true,\n  \"n\": 1\n}";
    std::fs::write(&file, body).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let (answer, r) = cli_send(&s, Provider::Github, "push", &["--data", &path]).await;
    assert_eq!(&r.body.bytes[..], body.as_bytes());
    assert_eq!(answer["sent"]["body"]["text"], body);
    assert!(r.signature.as_ref().unwrap().valid);

    // with --set the data is edited (and so serialised again)
    let (_, r) = cli_send(
        &s,
        Provider::Shopify,
        "orders/paid",
        &["--data", &path, "--set", "n=2"],
    )
    .await;
    assert_eq!(r.json().unwrap(), json!({"custom": true, "n": 2}));

    // over the API: a string is the exact body, a JSON value the payload
    let bin = verifying_bin(&s, Provider::Stripe);
    let a = trigger_api(
        &s,
        json!({"provider": "stripe", "event": "invoice.paid", "url": bin.url(),
               "secret": secret_for(Provider::Stripe), "data": "{ \"id\" : \"evt_1\" }"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = caught(&bin).await;
    assert_eq!(&r.body.bytes[..], b"{ \"id\" : \"evt_1\" }");
    assert!(r.signature.as_ref().unwrap().valid);

    // data that is not JSON is refused
    std::fs::write(&file, "not json").unwrap();
    let (code, _, err) = cli(&["github", "push", "--to", bin.url(), "--data", &path]).await;
    assert_eq!(code, 2);
    assert!(err.contains("data: not JSON"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_exit_code_is_0_for_a_2xx_1_otherwise_and_2_for_a_usage_error() {
    let s = support::start().await;
    let ok = s.fresh_bin();
    let (code, out, _) = cli(&["slack", "message", "--to", ok.url(), "-H", "X-Extra: one"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("200"), "{out}");
    // no --secret: one is made and printed, and the request is signed with it
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret "))
        .unwrap_or_else(|| panic!("no secret line: {out}"))
        .trim()
        .to_owned();
    let r = caught(&ok).await;
    assert_eq!(header(&r, "X-Extra"), "one");
    let headers: Vec<(&str, &[u8])> = r.headers.iter().map(|h| (&*h.name, &*h.value)).collect();
    let verdict = hookpit::sign::verify_request(
        hookpit::sign::Scheme::Slack,
        &secret,
        &headers,
        &r.body.bytes,
        hookpit::sign::unix_now(),
        300,
    );
    assert!(verdict.is_valid(), "{verdict}");

    let failing = s.fresh_bin();
    failing
        .configure(json!({"response": {"status": 503, "body": "down for maintenance"}}))
        .unwrap();
    let (code, out, _) = cli(&["stripe", "invoice.paid", "--to", failing.url()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("503") && out.contains("down for maintenance"),
        "{out}"
    );

    let (code, out, err) = cli(&["strpe", "invoice.paid", "--to", ok.url()]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim(),
        "error: provider: unknown provider `strpe`; did you mean stripe?"
    );
    let (code, _, err) = cli(&["stripe", "invoice.payed", "--to", ok.url()]).await;
    assert_eq!(code, 2);
    assert!(err.contains("did you mean invoice.paid?"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, _) = cli(&["stripe", "invoice.paid"]).await;
    assert_eq!(code, 2, "--to is required");
}

#[test]
fn list_names_every_provider_and_each_providers_events() {
    let (code, out, err) = cli_blocking(&["--list"]);
    assert_eq!(code, 0, "{err}");
    for p in Provider::ALL {
        assert!(out.lines().any(|l| l.starts_with(p.as_str())), "{p}: {out}");
    }
    let (code, out, _) = cli_blocking(&["--list", "shopify"]);
    assert_eq!(code, 0);
    let events: Vec<&str> = out.lines().collect();
    assert_eq!(events, Provider::Shopify.events());
    let (code, _, err) = cli_blocking(&["--list", "shopfy"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean shopify?"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The API's refusals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_api_refuses_bad_input_naming_the_field_and_never_targets_its_own_api() {
    let s = support::start().await;
    let url = s.catch_url("x");
    let refused = |body: Value, field: &'static str| {
        let s = &s;
        async move {
            let a = trigger_api(s, body.clone()).await;
            assert_eq!(a.status, 400, "{body}: {}", a.text());
            let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                message.starts_with(&format!("{field}:")),
                "{body}: {message}"
            );
            message
        }
    };
    refused(json!({"event": "push", "url": url}), "provider").await;
    // a mistyped field is refused, never sent with a made secret or without its edit
    let m = refused(
        json!({"provider": "github", "event": "push", "url": url, "secrett": "s"}),
        "secrett",
    )
    .await;
    assert!(m.contains("known: provider, event, url, secret"), "{m}");
    refused(json!({"provider": "github", "url": url}), "event").await;
    refused(json!({"provider": "github", "event": "push"}), "url").await;
    refused(
        json!({"provider": "github", "event": "push", "url": "ftp://x"}),
        "url",
    )
    .await;
    let m = refused(
        json!({"provider": "gihtub", "event": "push", "url": url}),
        "provider",
    )
    .await;
    assert!(m.contains("did you mean github?"), "{m}");
    let m = refused(
        json!({"provider": "github", "event": "pushh", "url": url}),
        "event",
    )
    .await;
    assert!(m.contains("did you mean push?"), "{m}");
    refused(
        json!({"provider": "github", "event": "push", "url": url, "set": {"repository.id.x": 1}}),
        "set",
    )
    .await;
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!(i))).collect();
    refused(
        json!({"provider": "github", "event": "push", "url": url, "set": many}),
        "set",
    )
    .await;
    refused(
        json!({"provider": "github", "event": "push", "url": url, "set": [1]}),
        "set",
    )
    .await;
    let big = "x".repeat(hookpit::provider::MAX_DATA + 1);
    refused(
        json!({"provider": "github", "event": "push", "url": url, "data": {"big": big}}),
        "data",
    )
    .await;
    refused(
        json!({"provider": "standard-webhooks", "event": "payment_received", "url": url,
               "secret": "not base64!"}),
        "secret",
    )
    .await;
    refused(
        json!({"provider": "github", "event": "push", "url": url, "headers": [["bad name", "v"]]}),
        "headers",
    )
    .await;

    // its own /_/ is never a target: the answer says so, nothing is sent
    let a = trigger_api(
        &s,
        json!({"provider": "github", "event": "push", "url": format!("{}/_/api/health", s.base_url())}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let v = a.json();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("reserved /_/"), "{v}");
}

// ---------------------------------------------------------------------------------------------
// The sender's signature schemes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_webhook_of_each_scheme_delivers_what_a_bin_verifying_that_scheme_accepts() {
    let catcher = support::start().await;
    let mut c = Config::for_tests();
    c.demo_webhook = false;
    let s = support::start_with(c).await;
    let mut bins = Vec::new();
    for p in Provider::ALL {
        let bin = verifying_bin(&catcher, p);
        let a = post(
            &format!("{}/_/api/webhooks", s.base_url()),
            &json!({"name": p.as_str(), "url": bin.url(), "events": ["payment_received"],
                    "signature": p.as_str(), "secret": secret_for(p)})
            .to_string(),
        )
        .await;
        assert_eq!(a.status, 201, "{p}: {}", a.text());
        assert_eq!(a.json()["signature"], p.as_str());
        bins.push((p, bin));
    }
    let a = post(
        &format!("{}/_/api/events/payment_received", s.base_url()),
        "",
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.text());
    let mut cases = Vec::new();
    for (p, bin) in &bins {
        let r = caught(bin).await;
        let check = r.signature.as_ref().expect("checked");
        assert!(check.valid, "{p}: {:?}", check.reason);
        cases.push(case_of(*p, &r));
    }
    // and the providers' own libraries accept each delivery (Shopify's wants its topic, shop,
    // API version and webhook id beside the signature)
    if let Some(results) = official_verify(&cases) {
        for ((p, _), result) in bins.iter().zip(results) {
            assert!(result.is_ok(), "{p}: {result:?}");
        }
    }
    // `hookpit webhooks` shows each webhook's scheme
    let base = s.base_url();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || support::run_cli(&base, &["webhooks"]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    for p in Provider::ALL {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!(" {p} ")) && l.contains(&format!("signed {p}"))),
            "{p}: {out}"
        );
    }
}
