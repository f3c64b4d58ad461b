//! The REST read API: bins, listings with paging and filters, one request by id or `latest`,
//! `/raw`, deletion, clearing, health, and the error JSON for bad input.

use crate::support::*;

#[tokio::test]
async fn requests_are_listed_newest_first_with_paging() {
    let s = start().await;
    for i in 1..=5 {
        post(&s.catch_url(&format!("list/{i}")), "{}").await;
    }
    let base = format!("{}/_/api/bins/list/requests", s.base_url());
    let v = get(&format!("{base}?limit=2")).await.json();
    let ids: Vec<u64> = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [5, 4]);
    assert_eq!(v["has_more"], true);
    let v = get(&format!("{base}?before=4&limit=10")).await.json();
    let ids: Vec<u64> = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2, 1]);
    assert_eq!(v["has_more"], false);
    let v = get(&format!("{base}?after=3")).await.json();
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);
    let v = get(&format!("{base}?body=false")).await.json();
    assert_eq!(v["requests"][0]["body"]["omitted"], true);
    assert!(v["requests"][0]["body"].get("text").is_none());
    let v = get(&format!("{base}?q=path:/list/3")).await.json();
    assert_eq!(v["requests"].as_array().unwrap().len(), 1);
    assert_eq!(v["requests"][0]["id"], 3);
}

#[tokio::test]
async fn one_request_is_found_by_id_or_latest_and_unknown_ids_are_404() {
    let s = start().await;
    post(&s.catch_url("one"), r#"{"a":1}"#).await;
    post(&s.catch_url("two"), r#"{"b":2}"#).await;
    let api = format!("{}/_/api", s.base_url());
    let r = get(&format!("{api}/requests/1")).await.json();
    assert_eq!(r["bin"], "one");
    assert_eq!(r["body"]["text"], r#"{"a":1}"#);
    assert_eq!(get(&format!("{api}/requests/latest")).await.json()["id"], 2);
    assert_eq!(
        get(&format!("{api}/requests/latest?bin=one")).await.json()["id"],
        1
    );
    let missing = get(&format!("{api}/requests/999")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    let bad = get(&format!("{api}/requests/abc")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "bad_parameter");
    let bad = get(&format!("{api}/bins/one/requests?limit=lots")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit"));
    let bad = get(&format!("{api}/bins/one/requests?q=nosuchkey:1")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "bad_filter");
    assert_eq!(get(&format!("{api}/nothing/here")).await.status, 404);
}

#[tokio::test]
async fn raw_renders_the_request_line_headers_and_body_with_crlf() {
    let s = start().await;
    raw(
        s.addr(),
        b"PATCH /rawbin/p?x=1 HTTP/1.1\r\nHost: h\r\nX-B: 2\r\nx-a: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        std::time::Duration::from_millis(300),
    )
    .await;
    let a = get(&format!("{}/_/api/requests/1/raw", s.base_url())).await;
    assert_eq!(
        a.text(),
        "PATCH /rawbin/p?x=1 HTTP/1.1\r\nHost: h\r\nX-B: 2\r\nx-a: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    );
}

#[tokio::test]
async fn requests_and_bins_can_be_deleted_and_cleared() {
    let s = start().await;
    for i in 0..4 {
        post(&s.catch_url(&format!("del/{i}")), "{}").await;
    }
    let api = format!("{}/_/api", s.base_url());
    assert_eq!(delete(&format!("{api}/requests/2")).await.status, 200);
    assert_eq!(get(&format!("{api}/requests/2")).await.status, 404);
    assert_eq!(delete(&format!("{api}/requests/2")).await.status, 404);
    let v = delete(&format!("{api}/bins/del/requests?q=path:/del/3"))
        .await
        .json();
    assert_eq!(v["deleted"], 1);
    assert_eq!(s.requests("del").len(), 2);
    let v = delete(&format!("{api}/bins/del/requests")).await.json();
    assert_eq!(v["deleted"], 2);
    assert_eq!(get(&format!("{api}/bins/del")).await.json()["count"], 0);
    assert_eq!(delete(&format!("{api}/bins/del")).await.status, 200);
    assert_eq!(get(&format!("{api}/bins/del")).await.status, 404);
    assert_eq!(delete(&format!("{api}/bins/del")).await.status, 404);
}

#[tokio::test]
async fn bins_are_listed_with_their_summaries_and_health_answers() {
    let s = start().await;
    post(&s.catch_url("b1"), "{}").await;
    post(&s.catch_url("b2"), "{}").await;
    post(&s.catch_url("b2"), "{}").await;
    let v = get(&format!("{}/_/api/bins", s.base_url())).await.json();
    let bins = v["bins"].as_array().unwrap();
    assert_eq!(bins.len(), 2);
    assert_eq!(bins[1]["name"], "b2");
    assert_eq!(bins[1]["count"], 2);
    assert_eq!(bins[1]["last_id"], 3);
    assert!(bins[1]["created_at"].as_str().unwrap().ends_with('Z'));
    let h = get(&format!("{}/_/api/health", s.base_url())).await.json();
    assert_eq!(h["ok"], true);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_bin_can_be_created_and_configured_before_its_first_request() {
    let s = start().await;
    let url = format!("{}/_/api/bins/made", s.base_url());
    let a = http(
        "PUT",
        &url,
        &[("content-type", "application/json")],
        r#"{"max_requests":2}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["config"]["max_requests"], 2);
    for _ in 0..3 {
        post(&s.catch_url("made"), "{}").await;
    }
    assert_eq!(s.requests("made").len(), 2);
    let bad = http("PUT", &url, &[], "[1,2]").await;
    assert_eq!(bad.status, 400);
    let bad = http("PUT", &format!("{}/_/api/bins/-x", s.base_url()), &[], "{}").await;
    assert_eq!(bad.status, 400);
}
