//! Exports and renderings: HAR 1.2 checked against the HAR schema, NDJSON with byte-exact bodies,
//! copy-as-curl that reproduces the request, and replay to a second hookpit.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;

use crate::support::*;

async fn sample(s: &hookpit::ServerHandle) {
    crate::support::http(
        "POST",
        &s.catch_url("ex/a?x=1&y=two"),
        &[("content-type", "application/json"), ("X-Event", "paid")],
        r#"{"amount":42}"#,
    )
    .await;
    let binary: Vec<u8> = (0..=255u8).collect();
    crate::support::http(
        "PUT",
        &s.catch_url("ex/bin"),
        &[("content-type", "application/octet-stream")],
        binary,
    )
    .await;
    crate::support::http("GET", &s.catch_url("ex"), &[], Bytes::new()).await;
}

#[tokio::test]
async fn har_export_is_valid_har_1_2() {
    let s = start().await;
    sample(&s).await;
    let a = get(&format!("{}/_/api/bins/ex/export?format=har", s.base_url())).await;
    assert_eq!(a.status, 200);
    assert!(a.header("content-disposition").unwrap().contains("ex.har"));
    let har = a.json();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/har-1.2.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&har)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "HAR schema errors: {errors:?}");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["request"]["method"], "POST");
    assert_eq!(
        entries[0]["request"]["postData"]["text"],
        r#"{"amount":42}"#
    );
    assert_eq!(entries[0]["request"]["queryString"][1]["value"], "two");
    assert_eq!(entries[0]["response"]["status"], 200);
    assert_eq!(entries[1]["request"]["postData"]["_encoding"], "base64");
    // a document that breaks the schema is caught, so the check above can fail
    let mut broken = har.clone();
    broken["log"]["entries"][0]["request"]
        .as_object_mut()
        .unwrap()
        .remove("headers");
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn ndjson_export_has_one_request_a_line_with_byte_exact_bodies() {
    let s = start().await;
    sample(&s).await;
    let a = get(&format!(
        "{}/_/api/bins/ex/export?format=ndjson",
        s.base_url()
    ))
    .await;
    assert_eq!(a.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = a
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], 1);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(lines[1]["body"]["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, (0..=255u8).collect::<Vec<_>>());
    let bad = get(&format!("{}/_/api/bins/ex/export?format=xml", s.base_url())).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_as_curl_reproduces_method_headers_and_exact_body() {
    let s = start().await;
    sample(&s).await;
    for id in [1, 2] {
        let cmd = get(&format!("{}/_/api/requests/{id}/curl", s.base_url()))
            .await
            .text();
        assert!(cmd.contains("curl"), "{cmd}");
        // run it against the same server (curl is installed by .ci/run) and compare what arrives
        let before = s.store().stats().last_id;
        let (code, _, err) = run_within(std::process::Command::new("sh").arg("-c").arg(&cmd));
        assert_eq!(code, 0, "the curl command failed: {cmd}\n{err}");
        let again = s.store().latest(Some("ex")).unwrap();
        assert!(again.id > before, "the command sent a new request");
        let orig = s.store().get(id).unwrap();
        assert_eq!(again.method, orig.method);
        assert_eq!(again.target, orig.target);
        assert_eq!(again.body.bytes, orig.body.bytes);
        assert_eq!(again.header("x-event"), orig.header("x-event"));
    }
}

#[tokio::test]
async fn replay_resends_the_exact_request_to_another_hookpit() {
    let s = start().await;
    let target = start().await;
    sample(&s).await;
    let a = post(
        &format!("{}/_/api/requests/1/replay", s.base_url()),
        &format!(r#"{{"url":"{}"}}"#, target.catch_url("got/it")),
    )
    .await;
    let v = a.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["status"], 200);
    assert!(v["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["body"]["text"]
        .as_str()
        .unwrap()
        .contains("\"bin\":\"got\""));
    let r = target
        .bin("got")
        .wait_for("", Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(&r.body.bytes[..], br#"{"amount":42}"#);
    assert_eq!(r.header("x-event").as_deref(), Some("paid"));
}

#[tokio::test]
async fn replay_to_a_refused_port_is_a_reported_outcome() {
    let s = start().await;
    sample(&s).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let a = post(
        &format!("{}/_/api/requests/1/replay", s.base_url()),
        &format!(r#"{{"url":"http://{dead}/x"}}"#),
    )
    .await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["ok"], false);
    assert!(v["status"].is_null());
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{v}"
    );
    let bad = post(&format!("{}/_/api/requests/1/replay", s.base_url()), "{}").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn a_target_with_a_url_in_its_query_is_exported_as_a_path_on_the_requests_own_host() {
    let s = start().await;
    crate::support::http(
        "POST",
        &s.catch_url("cb/hook?callback=http://x/y"),
        &[],
        "{}",
    )
    .await;
    let id = s.requests("cb")[0].id;
    let host = s.addr().to_string();
    let cmd = get(&format!("{}/_/api/requests/{id}/curl", s.base_url()))
        .await
        .text();
    assert!(
        cmd.contains(&format!("http://{host}/cb/hook?callback=http://x/y")),
        "{cmd}"
    );
    let har = get(&format!("{}/_/api/bins/cb/export?format=har", s.base_url()))
        .await
        .json();
    assert_eq!(
        har["log"]["entries"][0]["request"]["url"],
        format!("http://{host}/cb/hook?callback=http://x/y")
    );
}

#[tokio::test]
async fn curl_and_har_of_asterisk_and_authority_form_targets_are_urls_on_the_host() {
    let s = start().await;
    for (req, host, target) in [
        (
            "OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "a",
            "*",
        ),
        (
            "CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\nConnection: close\r\n\r\n",
            "a.com:443",
            "a.com:443",
        ),
    ] {
        crate::support::raw(s.addr(), req.as_bytes(), Duration::from_secs(2)).await;
        let r = get(&format!("{}/_/api/requests/latest", s.base_url()))
            .await
            .json();
        let id = r["id"].as_u64().unwrap();
        let cmd = get(&format!("{}/_/api/requests/{id}/curl", s.base_url()))
            .await
            .text();
        assert!(cmd.contains(&format!("'http://{host}/'")), "{cmd}");
        assert!(
            cmd.contains(&format!("--request-target '{target}'")),
            "{cmd}"
        );
        let har = get(&format!(
            "{}/_/api/bins/{}/export?format=har",
            s.base_url(),
            r["bin"].as_str().unwrap()
        ))
        .await
        .json();
        let url = har["log"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["request"]["method"] == r["method"])
            .map(|e| e["request"]["url"].as_str().unwrap().to_owned())
            .unwrap();
        assert_eq!(url, format!("http://{host}/"), "{}", r["target"]);
    }
}
