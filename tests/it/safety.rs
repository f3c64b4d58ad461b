//! SPEC §11: the viewer, API and live feed answer only loopback or allowed Host names, refuse
//! cross-origin state changes and websocket upgrades, and honour `--token`; catch URLs stay open.

use bytes::Bytes;
use hookpit::Config;

use crate::support::*;

#[tokio::test]
async fn the_api_refuses_foreign_host_names_but_catch_urls_accept_any() {
    let s = start().await;
    let api = format!("{}/_/api/bins", s.base_url());
    let a = http("GET", &api, &[("host", "evil.example:4665")], Bytes::new()).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.json()["error"]["code"], "forbidden");
    for ok_host in [
        "localhost:4665",
        "127.0.0.1:4665",
        "[::1]:4665",
        "app.localhost",
    ] {
        let a = http("GET", &api, &[("host", ok_host)], Bytes::new()).await;
        assert_eq!(a.status, 200, "{ok_host}");
    }
    let a = http(
        "POST",
        &s.catch_url("any"),
        &[("host", "evil.example"), ("origin", "http://evil.example")],
        "{}",
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn allowed_hosts_are_accepted() {
    let s = start_with(Config {
        allow_hosts: vec!["hooks.internal".into()],
        ..Config::for_tests()
    })
    .await;
    let api = format!("{}/_/api/bins", s.base_url());
    assert_eq!(
        http("GET", &api, &[("host", "hooks.internal:80")], Bytes::new())
            .await
            .status,
        200
    );
    assert_eq!(
        http("GET", &api, &[("host", "other.internal")], Bytes::new())
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn cross_origin_state_changes_and_websocket_upgrades_are_refused() {
    let s = start().await;
    post(&s.catch_url("x"), "{}").await;
    let url = format!("{}/_/api/bins/x/requests", s.base_url());
    let a = http(
        "DELETE",
        &url,
        &[("origin", "http://evil.example")],
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(s.requests("x").len(), 1, "nothing was deleted");
    let own = format!("http://{}", s.addr());
    let a = http("DELETE", &url, &[("origin", own.as_str())], Bytes::new()).await;
    assert_eq!(a.status, 200);
    // reads without an Origin, as curl sends them, are fine
    assert_eq!(get(&url).await.status, 200);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/_/ws", s.addr()),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!(
            "cross-origin upgrade was not refused: {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test]
async fn a_token_protects_the_viewer_api_and_feed_but_not_catch_urls() {
    let s = start_with(Config {
        token: Some("s3cret".into()),
        ..Config::for_tests()
    })
    .await;
    let api = format!("{}/_/api/bins", s.base_url());
    let a = get(&api).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "unauthorized");
    assert_eq!(
        http(
            "GET",
            &api,
            &[("authorization", "Bearer wrong")],
            Bytes::new()
        )
        .await
        .status,
        401
    );
    assert_eq!(
        http(
            "GET",
            &api,
            &[("authorization", "Bearer s3cret")],
            Bytes::new()
        )
        .await
        .status,
        200
    );
    assert_eq!(get(&format!("{api}?token=s3cret")).await.status, 200);
    assert_eq!(get(&s.viewer_url()).await.status, 401);
    let page = get(&format!("{}?token=s3cret", s.viewer_url())).await;
    assert_eq!(page.status, 200);
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        http("GET", &api, &[("cookie", cookie.as_str())], Bytes::new())
            .await
            .status,
        200
    );
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/_/ws", s.addr()))
            .await
            .is_err()
    );
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/_/ws?token=s3cret", s.addr()))
            .await
            .is_ok()
    );
    assert_eq!(post(&s.catch_url("open"), "{}").await.status, 200);
}

#[tokio::test]
async fn the_viewer_is_served_with_a_strict_content_security_policy() {
    let s = start().await;
    let a = get(&s.viewer_url()).await;
    assert_eq!(a.status, 200);
    let csp = a.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
}
