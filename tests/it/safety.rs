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

/// A token no viewer file or error message contains by chance.
const TOKEN: &str = "tk-5f0c1e9ab7d34e21";

/// The whole answer (headers and body) as text.
fn everything(a: &Answer) -> String {
    let mut s: String = a
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    s.push_str(&a.text());
    s
}

async fn with_token() -> hookpit::ServerHandle {
    start_with(Config {
        token: Some(TOKEN.into()),
        ..Config::for_tests()
    })
    .await
}

#[tokio::test]
async fn a_wrong_or_empty_token_on_static_files_never_sets_the_cookie_or_shows_the_token() {
    let s = with_token().await;
    let base = s.base_url();
    for file in ["icon.svg", "app.js", "style.css", "util.js"] {
        for given in ["", "anything", "tk-5f0c1e9ab7d34e2", "tk-5f0c1e9ab7d34e211"] {
            let a = get(&format!("{base}/_/{file}?token={given}")).await;
            assert_eq!(a.status, 200, "{file} is public");
            assert!(
                a.header("set-cookie").is_none(),
                "{file}?token={given} set a cookie: {:?}",
                a.header("set-cookie")
            );
            assert!(
                !everything(&a).contains(TOKEN),
                "{file}?token={given} disclosed the token"
            );
        }
        let a = get(&format!("{base}/_/{file}")).await;
        assert!(a.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn no_answer_to_a_client_without_the_token_contains_it() {
    let s = with_token().await;
    let base = s.base_url();
    for path in [
        "/_/",
        "/_/index.html",
        "/_/?token=nope",
        "/_/api/health",
        "/_/api/health?token=",
        "/_/api/bins",
        "/_/api/nope",
        "/_/ws",
        "/_/ws?token=x",
        "/_/missing.png?token=bad",
        "/_",
    ] {
        let a = get(&format!("{base}{path}")).await;
        assert!(
            !everything(&a).contains(TOKEN),
            "{path} disclosed the token: {}",
            everything(&a)
        );
        assert!(a.header("set-cookie").is_none(), "{path} set a cookie");
    }
    let a = http(
        "GET",
        &format!("{base}/_/api/bins"),
        &[
            ("authorization", "Bearer wrong"),
            ("cookie", "hookpit_token=wrong"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(!everything(&a).contains(TOKEN));
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/_/ws?token=wrong", s.addr()),
    )
    .unwrap();
    req.headers_mut()
        .insert("cookie", "hookpit_token=also-wrong".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401);
            let head = format!("{:?}", resp.headers());
            let body = resp.body().clone().unwrap_or_default();
            assert!(!head.contains(TOKEN));
            assert!(!String::from_utf8_lossy(&body).contains(TOKEN));
        }
        other => panic!("the upgrade was not refused: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn the_right_token_sets_the_cookie_and_the_cookie_then_opens_the_api() {
    let s = with_token().await;
    let base = s.base_url();
    for path in ["/_/", "/_/icon.svg"] {
        let a = get(&format!("{base}{path}?token={TOKEN}")).await;
        assert_eq!(a.status, 200);
        let cookie = a
            .header("set-cookie")
            .unwrap_or_else(|| panic!("{path} with the right token sets the cookie"))
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(cookie, format!("hookpit_token={TOKEN}"));
        let api = http(
            "GET",
            &format!("{base}/_/api/bins"),
            &[("cookie", cookie.as_str())],
            Bytes::new(),
        )
        .await;
        assert_eq!(api.status, 200);
    }
    // a token given another way does not make a wrong query token set the cookie
    let a = http(
        "GET",
        &format!("{base}/_/?token=wrong"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.header("set-cookie").is_none());
}
