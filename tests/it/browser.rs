//! The live viewer in a real headless Chromium, driven over the DevTools protocol (`cdp.rs`)
//! against an in-process hookpit: live arrival without reload, the detail pane's exact headers
//! and JSON, search, resuming after a dropped socket, reconnecting after a server restart,
//! hostile captured content staying inert, 10,000 requests rendering and scrolling (paint and
//! frame times are printed, not asserted: timings belong in the benchmark), the webhooks
//! page's walkthrough (Add New Webhook, Send Test Event, the bin receiving it live), the bin
//! settings panel (sequence, restart, a refused value shown inline), and signature verdicts and
//! mirrored forward results updating a row in place, layout at 1024 and 800 px, WCAG contrast in
//! both themes, the webhook form and delivery exchange, the viewer's extras (filter in the address,
//! keys, pause, theme, multipart previews, exports), declared charsets, the Replay tab's
//! edit-and-re-sign form; one test saves the
//! pictures in `docs/` (`HOOKPIT_SCREENSHOT=1` to refresh them).
//!
//! Uses `support` (servers, HTTP) and `cdp`. The tests run one at a time (one Chromium each);
//! without a Chromium they print a loud skip notice, and fail under `CI=true`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookpit::{Config, Server, ServerHandle};
use serde_json::{json, Value};

use crate::cdp::{self, Browser};
use crate::support;

/// How long a page gets to show what the test waits for: generous, because the whole suite
/// shares two cores; a healthy page takes milliseconds.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// Clicks `selector` until `done` (a JS expression) holds: a real mouse click lands wherever the
/// element was when its position was read, and a live re-render can move it in between.
async fn click_until(b: &Browser, selector: &str, done: &str) {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        b.click(selector).await;
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if b.eval(done).await.as_bool() == Some(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            Instant::now() < deadline,
            "clicking {selector} never led to `{done}`"
        );
    }
}

/// One Chromium at a time: they are heavy.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records Content-Security-Policy violations: the viewer must never need what CSP forbids.
const WATCH_CSP: &str = "window.__csp = []; document.addEventListener('securitypolicyviolation', \
     (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));";

/// The visible list rows, top to bottom.
const ROWS: &str = "[...document.querySelectorAll('#list .row:not([hidden])')]
    .map((r) => ({ id: Number(r.dataset.id), top: r.getBoundingClientRect().top,
       target: r.querySelector('.target').textContent, method: r.querySelector('.method').textContent,
       status: r.querySelector('.status').textContent, fresh: r.classList.contains('fresh') }))
    .filter((r) => r.top >= document.querySelector('#list').getBoundingClientRect().top - 1)
    .sort((a, b) => a.top - b.top)";

struct Session {
    browser: Browser,
    server: ServerHandle,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

async fn session_with(config: Config) -> Option<Session> {
    let turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let browser = cdp::launch().await?;
    browser.add_init_script(WATCH_CSP).await;
    let server = support::start_with(config).await;
    Some(Session {
        browser,
        server,
        _turn: turn,
    })
}

async fn session() -> Option<Session> {
    session_with(Config::for_tests()).await
}

/// Opens the viewer on a bin and waits until its live feed is connected.
async fn open(s: &Session, bin: &str) {
    open_url(&s.browser, &format!("{}#/bin/{bin}", s.server.viewer_url())).await;
}

async fn open_url(b: &Browser, url: &str) {
    b.navigate(url).await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        Duration::from_secs(5),
    )
    .await;
}

/// The ids the viewer holds for the open bin, newest first.
async fn ids(b: &Browser) -> Vec<u64> {
    serde_json::from_value(b.eval("window.hookpitViewer.ids()").await).expect("ids")
}

async fn rows(b: &Browser) -> Vec<Value> {
    match b.eval(ROWS).await {
        Value::Array(a) => a,
        other => panic!("rows: {other}"),
    }
}

/// Fails on anything the page must never do: dialogs, uncaught exceptions, CSP violations.
async fn assert_page_clean(b: &Browser) {
    let log = b.log();
    assert!(log.dialogs.is_empty(), "dialogs opened: {:?}", log.dialogs);
    assert!(
        log.exceptions.is_empty(),
        "uncaught exceptions: {:?}",
        log.exceptions
    );
    let csp = b.eval("window.__csp").await;
    assert_eq!(csp, json!([]), "Content-Security-Policy violations");
}

/// Sends exact bytes as one HTTP/1.1 request and returns the response head's status.
async fn send_raw(server: &ServerHandle, head: &str, body: &[u8]) -> u16 {
    let mut bytes = head
        .replace("{host}", &server.addr().to_string())
        .replace("{len}", &body.len().to_string())
        .replace('\n', "\r\n")
        .into_bytes();
    bytes.extend_from_slice(body);
    let answer = support::raw(server.addr(), &bytes, Duration::from_secs(2)).await;
    let status = support::status_lines(&answer);
    let first = status.first().unwrap_or_else(|| {
        panic!(
            "no response to {head}: {}",
            String::from_utf8_lossy(&answer)
        )
    });
    first
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn post_json(server: &ServerHandle, path: &str, headers: &[(&str, &str)], body: &str) -> u64 {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    let url = format!("{}{path}", server.base_url());
    let a = support::http("POST", &url, &h, Bytes::copy_from_slice(body.as_bytes())).await;
    assert_eq!(a.status, 200, "capture answered {}", a.text());
    a.json()["id"].as_u64().expect("captured id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_posted_over_http_appears_without_reload() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    open(&s, "live").await;
    b.eval("window.__sameDocument = 'still here'").await;
    assert_eq!(rows(b).await.len(), 0, "a new bin starts empty");

    let first = post_json(
        &s.server,
        "/live/orders/42?source=test",
        &[],
        r#"{"order":42}"#,
    )
    .await;
    let sent = Instant::now();
    b.wait_for(&format!("{ROWS}.some((r) => r.id === {first})"), EVENTUALLY)
        .await;
    // how fast is the benchmark's business (capture → websocket latency); this is a report
    println!(
        "a captured request appeared in the viewer {:?} after its response",
        sent.elapsed()
    );

    let second = post_json(
        &s.server,
        "/live/orders/43",
        &[("x-event", "order.paid")],
        "{}",
    )
    .await;
    b.wait_for(
        &format!("{ROWS}.length === 2 && {ROWS}[0].id === {second}"),
        Duration::from_secs(1),
    )
    .await;
    let r = rows(b).await;
    assert_eq!(r[0]["target"], "/live/orders/43", "newest on top");
    assert_eq!(r[1]["target"], "/live/orders/42?source=test");
    assert_eq!(r[1]["method"], "POST");
    assert_eq!(r[1]["status"], "200");
    assert_eq!(r[0]["fresh"], true, "a live arrival is highlighted");
    assert_eq!(
        b.eval("window.__sameDocument").await,
        "still here",
        "the page was not reloaded"
    );
    b.wait_for(
        "document.querySelector('.bin-item.active .bin-count').textContent === '2'",
        Duration::from_secs(1),
    )
    .await;
    let catch = b
        .eval("document.querySelector('#catch-url').textContent")
        .await;
    assert_eq!(catch, s.server.catch_url("live").as_str());

    // the viewer declares its own icon, so opening it captures nothing
    let bins = support::get(&format!("{}/_/api/bins", s.server.base_url()))
        .await
        .json();
    let names: Vec<&str> = bins["bins"]
        .as_array()
        .expect("bins")
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(names, ["live"], "nothing but the two requests was captured");
    let log = b.log();
    assert!(log.errors.is_empty(), "page errors: {:?}", log.errors);
    assert_page_clean(b).await;
}

const STRIPE_EVENT: &str = r#"{
  "id": "evt_3QkZ8rLkdIwHu7ix0Ybw8kQm",
  "object": "event",
  "api_version": "2024-06-20",
  "created": 1764316800,
  "type": "payment_intent.succeeded",
  "livemode": false,
  "pending_webhooks": 2,
  "data": {
    "object": {
      "id": "pi_3QkZ8rLkdIwHu7ix0f5jW3aT",
      "object": "payment_intent",
      "amount": 4999,
      "amount_received": 4999,
      "currency": "usd",
      "status": "succeeded",
      "customer": "cus_R3kX9pQ2mN7vLs",
      "payment_method_types": ["card", "link"],
      "latest_charge": "ch_3QkZ8rLkdIwHu7ix0a1b2c3d",
      "application_fee_amount": null,
      "tax_rate": 0.0825,
      "metadata": {
        "order_id": 12345678901234567890,
        "plan": "pro-annual",
        "seats": 12
      }
    }
  },
  "request": {
    "id": null,
    "idempotency_key": "b2f7c1e0-2f2a-4a8e-9d0e-7c1f5a3b8e21"
  }
}"#;

/// Fills a few bins with realistic webhooks, so the screenshot shows a lived-in viewer.
async fn realistic_traffic(server: &ServerHandle) {
    let github = json!({"ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5", "repository": {"full_name": "acme/shop", "private": true},
        "pusher": {"name": "octocat"}, "commits": [{"id": "59b20b8d", "message": "Fix checkout rounding"}]});
    post_json(
        server,
        "/github/hooks",
        &[
            ("x-github-event", "push"),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ],
        &github.to_string(),
    )
    .await;
    let shop = json!({"id": 820982911946154508_u64, "email": "jon@example.com", "total_price": "409.94", "currency": "USD",
        "line_items": [{"title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"}]});
    post_json(
        server,
        "/shop/orders/create",
        &[
            ("x-shopify-topic", "orders/create"),
            (
                "x-shopify-hmac-sha256",
                "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=",
            ),
        ],
        &shop.to_string(),
    )
    .await;
    let refund = json!({"id": "evt_1QkYtLLkdIwHu7ixkq0f7V9d", "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": "ch_3QkYt", "amount_refunded": 1500, "currency": "usd"}}});
    post_json(
        server,
        "/stripe/webhook",
        &[(
            "stripe-signature",
            "t=1764316500,v1=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        )],
        &refund.to_string(),
    )
    .await;
    support::get(&format!("{}/stripe/webhook?ping=1", server.base_url())).await;
    let form = "customer_email=jane%40example.com&plan=pro-annual&amount=49.99&coupon=";
    support::http(
        "PUT",
        &format!("{}/stripe/customers/cus_R3kX9pQ2mN7vLs", server.base_url()),
        &[("content-type", "application/x-www-form-urlencoded")],
        Bytes::from_static(form.as_bytes()),
    )
    .await;
}

/// Where a picture for `docs/` goes: into `docs/` when `HOOKPIT_SCREENSHOT` is set (or the file
/// is missing), else beside the build so a test run leaves the repository alone.
fn docs_picture(name: &str) -> PathBuf {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    if std::env::var_os("HOOKPIT_SCREENSHOT").is_some() || !docs.exists() {
        docs
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detail_pane_shows_headers_in_received_order_and_the_exact_json() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    realistic_traffic(&s.server).await;
    open(&s, "stripe").await;

    let head = "POST /stripe/webhook?account=acct_1HxQ2b&attempt=1 HTTP/1.1
Host: {host}
User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)
Accept: */*; q=0.5, application/xml
Cache-Control: no-cache
Content-Type: application/json; charset=utf-8
Stripe-Signature: t=1764316800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
X-Request-ID: 9f1c2d4e-8b7a-4c3d-a2e1-0f9e8d7c6b5a
x-dup: one
X-Dup: two
Content-Length: {len}
Connection: close

";
    assert_eq!(
        send_raw(&s.server, head, STRIPE_EVENT.as_bytes()).await,
        200
    );
    let (id, _) = b
        .wait_for(
            &format!("(() => {{ const r = {ROWS}.find((r) => r.target === '/stripe/webhook?account=acct_1HxQ2b&attempt=1'); return r && r.id; }})()"),
            EVENTUALLY,
        )
        .await;
    let id = id.as_u64().expect("row id");
    b.click(&format!("#list .row[data-id='{id}']")).await;
    b.wait_for(
        "document.querySelector('#detail .detail-target')?.textContent === '/stripe/webhook?account=acct_1HxQ2b&attempt=1'",
        EVENTUALLY,
    )
    .await;
    assert_eq!(
        b.eval("location.hash").await,
        format!("#/bin/stripe/{id}").as_str(),
        "the open request is deep-linkable"
    );

    // the JSON tree says exactly what was sent: same keys in the same order, every digit
    b.wait_for("document.querySelector('#detail .jtree')", EVENTUALLY)
        .await;
    let tree = b
        .eval("document.querySelector('#detail .jtree').innerText")
        .await;
    let squash = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(
        squash(tree.as_str().expect("tree text")),
        squash(STRIPE_EVENT)
    );
    assert!(tree
        .as_str()
        .unwrap_or_default()
        .contains("12345678901234567890"));
    let order_id = b
        .eval("[...document.querySelectorAll('#detail .j-num')].map((e) => e.textContent).find((t) => t.length > 15)")
        .await;
    assert_eq!(order_id, "12345678901234567890");

    // the text view is the body byte for byte
    b.click("#detail .seg[data-view='text']").await;
    let text = b
        .wait_for(
            "document.querySelector('#detail .view-text pre')?.textContent",
            EVENTUALLY,
        )
        .await
        .0;
    assert_eq!(text, STRIPE_EVENT);

    // headers in received order, original case, duplicates kept
    b.click("#detail .dtab[data-tab='headers']").await;
    let headers = b
        .wait_for(
            "(() => { const t = [...document.querySelectorAll('#detail table.kv tbody tr')]; \
             return t.length && t.map((tr) => [tr.children[1].textContent, tr.children[2].textContent]); })()",
            EVENTUALLY,
        )
        .await
        .0;
    let host = s.server.addr().to_string();
    let len = STRIPE_EVENT.len().to_string();
    let expected = json!([
        ["Host", host],
        [
            "User-Agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        ],
        ["Accept", "*/*; q=0.5, application/xml"],
        ["Cache-Control", "no-cache"],
        ["Content-Type", "application/json; charset=utf-8"],
        [
            "Stripe-Signature",
            "t=1764316800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"
        ],
        ["X-Request-ID", "9f1c2d4e-8b7a-4c3d-a2e1-0f9e8d7c6b5a"],
        ["x-dup", "one"],
        ["X-Dup", "two"],
        ["Content-Length", len],
        ["Connection", "close"],
    ]);
    assert_eq!(headers, expected);

    b.click("#detail .dtab[data-tab='query']").await;
    let query = b
        .wait_for(
            "(() => { const t = [...document.querySelectorAll('#detail table.kv tbody tr')]; \
             return t.length && t.map((tr) => [tr.children[1].textContent, tr.children[2].textContent]); })()",
            EVENTUALLY,
        )
        .await
        .0;
    assert_eq!(query, json!([["account", "acct_1HxQ2b"], ["attempt", "1"]]));

    // the overview
    let overview = b
        .eval("document.querySelector('#detail .overview').innerText")
        .await;
    let overview = overview.as_str().unwrap_or_default();
    for want in ["HTTP/1.1", "127.0.0.1:", "200", &format!("#{id}")] {
        assert!(overview.contains(want), "overview lacks {want}: {overview}");
    }

    // replay it to another bin and see the target's answer
    b.click("#detail .dtab[data-tab='replay']").await;
    b.click("#detail .replay-form input").await;
    b.type_text(&s.server.catch_url("replayed")).await;
    b.click("#detail .replay-form button[type='submit']").await;
    b.wait_for(
        "document.querySelector('#detail .replay-result .status-pill')?.textContent === '200'",
        Duration::from_secs(5),
    )
    .await;
    let replayed = support::get(&format!(
        "{}/_/api/bins/replayed/requests",
        s.server.base_url()
    ))
    .await
    .json();
    assert_eq!(replayed["requests"][0]["body"]["text"], STRIPE_EVENT);
    assert_eq!(replayed["requests"][0]["method"], "POST");

    // the picture for the README: the JSON tree of a realistic webhook, highlights faded
    b.click("#detail .dtab[data-tab='body']").await;
    b.click("#detail .seg[data-view='json']").await;
    b.wait_for(
        "document.querySelector('#detail .jtree') && !document.querySelector('#list .row.fresh')",
        Duration::from_secs(5),
    )
    .await;
    b.eval("document.activeElement && document.activeElement.blur()")
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("detail.png");
    b.screenshot(&path).await;
    println!("screenshot saved to {}", path.display());
    let log = b.log();
    assert!(log.errors.is_empty(), "page errors: {:?}", log.errors);
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_tab_edits_the_body_resigns_and_the_other_bin_finds_it_valid() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let secret = "whsec_test_secret";
    let verify = json!({"verify": {"scheme": "stripe", "secret": secret, "tolerance": "5m"}});
    s.server.bin("st-in").configure(verify.clone()).unwrap();
    s.server.bin("st-out").configure(verify).unwrap();
    // captured an hour ago: too old for the bin's tolerance
    let hour_ago = hookpit::sign::unix_now() - 3600;
    let signature =
        hookpit::sign::stripe_sign(secret.as_bytes(), hour_ago, STRIPE_EVENT.as_bytes());
    let id = post_json(
        &s.server,
        "/st-in",
        &[("Stripe-Signature", &signature)],
        STRIPE_EVENT,
    )
    .await;
    assert_eq!(
        s.server.requests("st-in")[0]
            .signature
            .as_ref()
            .map(|c| c.valid),
        Some(false)
    );

    open_url(b, &format!("{}#/bin/st-in/{id}", s.server.viewer_url())).await;
    b.wait_for(
        "!!document.querySelector('#detail .detail-target')",
        EVENTUALLY,
    )
    .await;
    b.click("#detail .dtab[data-tab='replay']").await;
    // the bin verifies, so Re-sign is offered
    b.wait_for(
        "document.querySelector('#detail .replay-resign')?.disabled === false",
        EVENTUALLY,
    )
    .await;
    let headers = b
        .eval("[...document.querySelectorAll('#detail .replay-hname')].map((i) => i.value.toLowerCase())")
        .await;
    assert!(
        headers
            .as_array()
            .unwrap()
            .contains(&json!("stripe-signature")),
        "the captured headers are prefilled: {headers}"
    );
    b.click("#detail .replay-form input[type='url']").await;
    b.eval("document.querySelector('#detail .replay-form input[type=url]').select()")
        .await;
    b.type_text(&s.server.catch_url("st-out")).await;
    b.click("#detail .replay-body").await;
    b.eval("document.querySelector('#detail .replay-body').select()")
        .await;
    let edited = r#"{"id":"evt_edited","type":"invoice.paid"}"#;
    b.type_text(edited).await;
    b.click("#detail .replay-resign").await;
    b.click("#detail .replay-form button[type='submit']").await;
    b.wait_for(
        "document.querySelector('#detail .replay-result .status-pill')?.textContent === '200' \
         && !!document.querySelector('#detail .replay-result .replay-resigned')",
        EVENTUALLY,
    )
    .await;
    let out = s.server.requests("st-out");
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0].body.bytes[..], edited.as_bytes());
    let check = out[0].signature.as_ref().expect("st-out checks signatures");
    assert!(check.valid, "re-signed in the viewer: {check:?}");
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_the_list_live_and_explains_a_bad_filter() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let paid = |n: u32| format!(r#"{{"invoice":{n},"status":"paid"}}"#);
    let mut received = Vec::new();
    let mut failed = Vec::new();
    for n in 0..3 {
        received.push(
            post_json(
                &s.server,
                "/search/hook",
                &[("x-event", "payment_received")],
                &paid(n),
            )
            .await,
        );
    }
    for n in 0..2 {
        failed.push(
            post_json(
                &s.server,
                "/search/hook",
                &[("x-event", "payment_failed")],
                &paid(n),
            )
            .await,
        );
    }
    open(&s, "search").await;
    b.wait_for(&format!("{ROWS}.length === 5"), EVENTUALLY)
        .await;

    // `/` focuses the search box; the filter is applied as it is typed
    b.press("/").await;
    assert_eq!(b.eval("document.activeElement.id").await, "search");
    b.type_text("header:X-Event=payment_failed").await;
    let want: Vec<u64> = failed.iter().rev().copied().collect();
    b.wait_for(
        &format!(
            "JSON.stringify(window.hookpitViewer.ids()) === '{}'",
            json!(want)
        ),
        EVENTUALLY,
    )
    .await;
    assert_eq!(rows(b).await.len(), 2);

    // the live feed is filtered too: the feed is in order, so once the matching request that
    // was sent last is shown, the one before it has had its chance to slip in
    let late_ok = post_json(
        &s.server,
        "/search/hook",
        &[("x-event", "payment_received")],
        "{}",
    )
    .await;
    let late_fail = post_json(
        &s.server,
        "/search/hook",
        &[("x-event", "payment_failed")],
        "{}",
    )
    .await;
    b.wait_for(&format!("{ROWS}[0]?.id === {late_fail}"), EVENTUALLY)
        .await;
    let shown = ids(b).await;
    assert!(
        !shown.contains(&late_ok),
        "a non-matching request slipped in: {shown:?}"
    );
    assert_eq!(shown.len(), 3);

    // a bad filter is explained inline
    b.eval("(() => { const s = document.querySelector('#search'); s.select(); })()")
        .await;
    b.type_text("sig:maybe").await;
    let (message, _) = b
        .wait_for(
            "(() => { const e = document.querySelector('#search-error'); return !e.hidden && e.textContent; })()",
            EVENTUALLY,
        )
        .await;
    assert!(
        message.as_str().unwrap_or_default().contains("sig:"),
        "the server's message is shown: {message}"
    );
    assert_eq!(
        b.eval("document.querySelector('#search').getAttribute('aria-invalid')")
            .await,
        "true"
    );

    // Esc clears the search and everything is back
    b.press("Escape").await;
    b.wait_for(
        "window.hookpitViewer.ids().length === 7 && document.querySelector('#search-error').hidden",
        EVENTUALLY,
    )
    .await;
    assert_eq!(b.eval("document.querySelector('#search').value").await, "");

    // j and k walk the list, newest first
    b.press("j").await;
    b.wait_for(
        &format!("window.hookpitViewer.state().selected === {late_fail}"),
        EVENTUALLY,
    )
    .await;
    b.press("j").await;
    b.press("j").await;
    b.press("k").await;
    b.wait_for(
        &format!("window.hookpitViewer.state().selected === {late_ok}"),
        EVENTUALLY,
    )
    .await;
    b.wait_for(
        &format!("document.querySelector('#detail .overview')?.innerText.includes('#{late_ok}')"),
        EVENTUALLY,
    )
    .await;
    let log = b.log();
    assert!(
        log.errors.iter().all(|e| e.contains("400")),
        "page errors: {:?}",
        log.errors
    );
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_captured_while_the_socket_was_down_appear_in_order_without_duplicates() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(post_json(&s.server, &format!("/resume/{n}"), &[], "{}").await);
    }
    open(&s, "resume").await;
    b.wait_for(&format!("{ROWS}.length === 3"), EVENTUALLY)
        .await;

    // the network goes away and the page's socket with it
    b.set_offline(true).await;
    b.eval("window.hookpitViewer.socket()?.close()").await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'offline'",
        EVENTUALLY,
    )
    .await;
    for n in 3..8 {
        sent.push(post_json(&s.server, &format!("/resume/{n}"), &[], "{}").await);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ids(b).await.len(), 3, "nothing arrives while offline");

    // back online: the viewer resumes after the last id it saw
    b.set_offline(false).await;
    let want: Vec<u64> = sent.iter().rev().copied().collect();
    b.wait_for(
        &format!(
            "JSON.stringify(window.hookpitViewer.ids()) === '{}'",
            json!(want)
        ),
        Duration::from_secs(6),
    )
    .await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        EVENTUALLY,
    )
    .await;
    // a late duplicate of the replay would arrive on the socket before a request sent now
    let mut want = want;
    want.insert(0, post_json(&s.server, "/resume/8", &[], "{}").await);
    b.wait_for(&format!("{ROWS}[0]?.id === {}", want[0]), EVENTUALLY)
        .await;
    assert_eq!(ids(b).await, want, "in order, none twice, none missing");
    let shown: Vec<u64> = rows(b)
        .await
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(shown, want, "the rows on screen");
    let reloads = b.eval("window.hookpitViewer.metrics.reloads").await;
    assert_eq!(reloads, 1, "resumed over the socket, not by reloading");
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_reconnects_by_itself_after_the_server_restarts() {
    let config = || Config {
        token: Some("s3cret-token".into()),
        ..Config::for_tests()
    };
    let Some(Session {
        browser: b,
        server,
        _turn,
    }) = session_with(config()).await
    else {
        return;
    };
    let first = post_json(&server, "/restart/before", &[], "{}").await;
    open_url(
        &b,
        &format!(
            "{}?token=s3cret-token#/bin/restart/{first}",
            server.viewer_url()
        ),
    )
    .await;
    b.wait_for(&format!("{ROWS}[0]?.id === {first}"), EVENTUALLY)
        .await;
    b.wait_for(
        "document.querySelector('#detail .detail-target')?.textContent === '/restart/before'",
        EVENTUALLY,
    )
    .await;

    // stop the server; the page notices
    let addr = server.addr();
    server.shutdown().await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'offline'",
        Duration::from_secs(5),
    )
    .await;
    // ...and has tried again while nothing listens: it is a server coming back that it finds
    let connects = b.eval("window.hookpitViewer.metrics.connects").await;
    b.wait_for(
        &format!("window.hookpitViewer.metrics.connects > {connects}"),
        EVENTUALLY,
    )
    .await;

    // a new server on the same port: the page reconnects without help
    let deadline = Instant::now() + Duration::from_secs(5);
    let server = loop {
        match Server::start(config().listen(addr)).await {
            Ok(server) => break server,
            Err(e) if Instant::now() >= deadline => panic!("cannot listen on {addr} again: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let after = post_json(&server, "/restart/after", &[], "{}").await;
    let (_, took) = b
        .wait_for(
            &format!("{ROWS}.length === 1 && {ROWS}[0].target === '/restart/after' && {ROWS}[0].id === {after}"),
            Duration::from_secs(8),
        )
        .await;
    println!("the viewer showed the restarted server's first request after {took:?}");
    // the same id now names another request: the detail pane follows the new instance, not the
    // old one it had cached
    assert_eq!(after, first, "a new instance numbers from the start again");
    b.wait_for(
        "document.querySelector('#detail .detail-target')?.textContent === '/restart/after'",
        EVENTUALLY,
    )
    .await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        EVENTUALLY,
    )
    .await;
    // the token keeps working across the restart (API calls and the websocket)
    b.click(&format!("#list .row[data-id='{after}']")).await;
    b.wait_for(
        "document.querySelector('#detail .detail-target')?.textContent === '/restart/after'",
        EVENTUALLY,
    )
    .await;
    assert_page_clean(&b).await;
    drop(b);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_captured_content_executes_nothing() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    open(&s, "evil").await;

    let html = r#"<script>window.__pwned='script';alert(1)</script><img src=x onerror="window.__pwned='img';alert(2)"><a href="javascript:window.__pwned='link'">x</a><svg onload="window.__pwned='svg'"></svg><iframe srcdoc="<script>parent.__pwned='frame'</script>"></iframe>"#;
    let head = "POST /evil/%3Cscript%3Ewindow.__pwned='path'%3C%2Fscript%3E/%3Cimg%20src=x%20onerror=alert(3)%3E?q=%3Csvg%2Fonload%3Dalert(4)%3E&javascript:alert(5) HTTP/1.1
Host: {host}
X-Evil: <img src=x onerror=\"window.__pwned='header';alert(6)\">
Referer: javascript:window.__pwned='referer'
Content-Type: text/html
Content-Length: {len}
Connection: close

";
    let status = send_raw(&s.server, head, html.as_bytes()).await;
    assert!(
        status == 200,
        "the hostile request was captured (status {status})"
    );

    let json_body = r#"{"<img src=x onerror=alert(7)>": "<script>window.__pwned='json'</script>", "href": "javascript:alert(8)"}"#;
    post_json(
        &s.server,
        "/evil/json",
        &[("x-note", "<b onmouseover=alert(9)>hi</b>")],
        json_body,
    )
    .await;

    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(10)"><script>alert(11)</script></svg>"#;
    support::http(
        "POST",
        &format!("{}/evil/image", s.server.base_url()),
        &[("content-type", "image/svg+xml")],
        Bytes::from_static(svg.as_bytes()),
    )
    .await;

    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"<img src=x onerror=alert(12)>\"\r\n\r\n<script>alert(13)</script>\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"<svg onload=alert(14)>.html\"\r\nContent-Type: text/html\r\n\r\n<script>alert(15)</script>\r\n--XyZ--\r\n";
    support::http(
        "POST",
        &format!("{}/evil/upload", s.server.base_url()),
        &[("content-type", "multipart/form-data; boundary=XyZ")],
        Bytes::from_static(multipart.as_bytes()),
    )
    .await;
    let form = "%3Cscript%3Ealert(16)%3C%2Fscript%3E=%3Cimg+src%3Dx+onerror%3Dalert(17)%3E";
    support::http(
        "POST",
        &format!("{}/evil/form", s.server.base_url()),
        &[("content-type", "application/x-www-form-urlencoded")],
        Bytes::from_static(form.as_bytes()),
    )
    .await;

    b.wait_for(&format!("{ROWS}.length === 5"), EVENTUALLY)
        .await;
    let ids = ids(b).await;
    // open every request, every tab and every body view
    for id in &ids {
        b.click(&format!("#list .row[data-id='{id}']")).await;
        b.wait_for(
            &format!("document.querySelector('#detail .overview')?.innerText.includes('#{id}')"),
            EVENTUALLY,
        )
        .await;
        let views = b
            .eval("[...document.querySelectorAll('#detail .seg')].map((e) => e.dataset.view)")
            .await;
        for view in views.as_array().cloned().unwrap_or_default() {
            let view = view.as_str().unwrap_or_default().to_owned();
            let seg = format!("#detail .seg[data-view='{view}']");
            let shown = format!("document.querySelector(\"{seg}\")?.classList.contains('active')");
            click_until(b, &seg, &shown).await;
        }
        for tab in ["headers", "query", "response", "body"] {
            let dtab = format!("#detail .dtab[data-tab='{tab}']");
            let shown = format!("document.querySelector(\"{dtab}\")?.classList.contains('active')");
            click_until(b, &dtab, &shown).await;
        }
    }
    // the HTML request once more, showing its text
    b.click(&format!("#list .row[data-id='{}']", ids[ids.len() - 1]))
        .await;
    b.wait_for(
        "document.querySelector('#detail .seg[data-view=\"text\"]')",
        EVENTUALLY,
    )
    .await;
    b.click("#detail .seg[data-view='text']").await;
    b.wait_for(
        "document.querySelector('#detail .view-text pre')",
        EVENTUALLY,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        b.eval("window.__pwned === undefined").await,
        true,
        "captured content ran"
    );
    // ...and it is all there, as text
    let shown = b
        .eval("document.querySelector('#detail .view-text pre').textContent")
        .await;
    assert_eq!(shown, html);
    let path = b
        .eval("document.querySelector('#detail .decoded-path').textContent")
        .await;
    assert_eq!(
        path, "/evil/<script>window.__pwned='path'</script>/<img src=x onerror=alert(3)>",
        "the decoded path is shown as text"
    );
    b.click("#detail .dtab[data-tab='query']").await;
    let query = b
        .wait_for(
            "document.querySelector('#detail table.kv tbody tr td.v')?.textContent",
            EVENTUALLY,
        )
        .await
        .0;
    assert_eq!(query, "<svg/onload=alert(4)>");
    b.click("#detail .dtab[data-tab='headers']").await;
    let headers = b
        .wait_for(
            "document.querySelector('#detail table.kv tbody')?.textContent",
            EVENTUALLY,
        )
        .await
        .0;
    assert!(
        headers
            .as_str()
            .unwrap_or_default()
            .contains(r#"<img src=x onerror="window.__pwned='header';alert(6)">"#),
        "headers shown as text: {headers}"
    );
    let inert = b
        .eval(
            "document.querySelectorAll('#detail script, #detail iframe, #detail svg, #detail [onerror], #detail [onload], #list script, #list img, #list [onerror], a[href^=\"javascript:\"]').length",
        )
        .await;
    assert_eq!(inert, 0, "captured markup became elements");
    assert_page_clean(b).await;
}

/// Sends `n` small requests to a bin over a few keep-alive connections.
async fn flood(server: &ServerHandle, bin: &str, n: usize) {
    let conns = 8;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let addr = server.addr();
        let bin = bin.to_owned();
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            for i in (c..n).step_by(conns) {
                send.ready().await.expect("connection ready");
                let req = hyper::Request::builder()
                    .method(if i % 5 == 0 { "PUT" } else { "POST" })
                    .uri(format!("/{bin}/items/{i}?page={}", i / 100))
                    .header("host", addr.to_string())
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(Bytes::from(format!(
                        r#"{{"item":{i},"name":"item number {i}"}}"#
                    ))))
                    .expect("request");
                let resp = send.send_request(req).await.expect("response");
                assert_eq!(resp.status(), 200);
                use http_body_util::BodyExt;
                resp.into_body().collect().await.expect("body");
            }
        }));
    }
    for t in tasks {
        t.await.expect("flood task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_render_and_scroll_without_stalling() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let n = 10_000;
    let put = support::http(
        "PUT",
        &format!("{}/_/api/bins/bulk", s.server.base_url()),
        &[("content-type", "application/json")],
        Bytes::from_static(br#"{"max_requests":20000}"#),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let started = Instant::now();
    flood(&s.server, "bulk", n).await;
    println!("captured {n} requests in {:?}", started.elapsed());

    open(&s, "bulk").await;
    let (painted, _) = b
        .wait_for(
            "window.hookpitViewer.metrics.listPaintedAt",
            Duration::from_secs(10),
        )
        .await;
    let painted = painted.as_f64().expect("paint time");
    let (loaded, _) = b
        .wait_for(
            &format!("window.hookpitViewer.state().count === {n} && !window.hookpitViewer.state().hasMore && window.hookpitViewer.metrics.allLoadedAt"),
            Duration::from_secs(30),
        )
        .await;
    println!(
        "10,000 requests: list first painted {painted:.0} ms after navigation start, all rows loaded at {:.0} ms",
        loaded.as_f64().unwrap_or_default()
    );

    // only the visible rows exist in the DOM
    let in_dom = b
        .eval("document.querySelectorAll('#list .row').length")
        .await;
    assert!(
        in_dom.as_u64().expect("count") < 80,
        "{in_dom} row elements for {n} requests"
    );

    // scroll through the whole list, one frame per step, and time the frames
    let report = b
        .eval(
            "(async () => {
               const list = document.querySelector('#list');
               const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
               let last = await frame(), worst = 0, steps = 0;
               const end = list.scrollHeight - list.clientHeight;
               for (let y = 0; y <= end; y += Math.max(1, Math.floor(end / 120))) {
                 list.scrollTop = y; const t = await frame(); worst = Math.max(worst, t - last); last = t; steps++;
               }
               for (let i = 0; i < 30; i++) {
                 list.scrollTop = Math.random() * end; const t = await frame(); worst = Math.max(worst, t - last); last = t; steps++;
               }
               list.scrollTop = end; await frame(); await frame();
               return { worst, steps, scrollHeight: list.scrollHeight };
             })()",
        )
        .await;
    println!("scrolling: {report}");
    assert!(report["worst"].as_f64().is_some(), "{report}");
    assert!(
        report["steps"].as_u64().is_some_and(|n| n > 100),
        "scrolled through the list: {report}"
    );

    let all = ids(b).await;
    assert_eq!(all.len(), n);
    assert!(
        all.windows(2).all(|w| w[0] > w[1]),
        "newest first, no duplicates"
    );
    let bottom = rows(b).await;
    let last_row = bottom.last().expect("rows at the bottom");
    assert_eq!(
        last_row["id"].as_u64(),
        all.last().copied(),
        "the oldest is at the bottom"
    );
    assert!(
        last_row["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("/bulk/items/")),
        "{last_row}"
    );
    assert_page_clean(b).await;
}

/// A webhook receiver that answers every request `500 oops`.
async fn failing_receiver() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                // read the head and the announced body, then fail
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(n) = conn.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = conn
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops")
                    .await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_added_in_the_viewer_delivers_its_test_event_to_a_bin_live_and_the_log_follows() {
    let Some(s) = session().await else { return };
    let b = &s.browser;

    // the plugin's walkthrough: Webhooks page, Add New Webhook, Name, URL, Event, Send Test Event
    open_url(b, &s.server.viewer_url()).await;
    b.click("#tab-webhooks").await;
    b.wait_for(
        "[...document.querySelectorAll('.page-webhooks table.grid tbody tr')].some((tr) => tr.textContent.includes('Local demo'))",
        EVENTUALLY,
    )
    .await;
    b.click(".add-webhook").await;
    b.wait_for(
        "document.querySelector('.page-webhooks .card-head h2')?.textContent === 'Add New Webhook'",
        EVENTUALLY,
    )
    .await;
    b.click("input[aria-label='Name']").await;
    b.type_text("CRM").await;
    b.click("input[aria-label='URL']").await;
    let crm = s.server.catch_url("crm");
    b.type_text(&crm).await;
    b.click(".events-pick input[value='payment_received']")
        .await;
    b.click(".page-webhooks form button[type='submit']").await;
    b.wait_for(
        "[...document.querySelectorAll('.page-webhooks table.grid tbody tr')].some((tr) => tr.classList.contains('active') && tr.textContent.includes('CRM'))",
        Duration::from_secs(5),
    )
    .await;
    let hooks = support::get(&format!("{}/_/api/webhooks", s.server.base_url()))
        .await
        .json();
    let saved = hooks["webhooks"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["name"] == "CRM"))
        .unwrap_or_else(|| panic!("CRM was not saved: {hooks}"));
    assert_eq!(saved["url"], crm.as_str());
    assert_eq!(saved["events"], json!(["payment_received"]));
    let event = b
        .wait_for(
            "document.querySelector('select[aria-label=\"Event\"]')?.selectedOptions[0]?.textContent",
            EVENTUALLY,
        )
        .await
        .0;
    assert_eq!(event, "Payment Received (payment_received)");
    b.click(".send-test").await;
    let (verdict, _) = b
        .wait_for(
            "document.querySelector('.test-result')?.innerText",
            Duration::from_secs(10),
        )
        .await;
    let verdict = verdict.as_str().unwrap_or_default().to_owned();
    assert!(
        verdict.contains("✓ Delivered") && verdict.contains("200") && verdict.contains(" ms"),
        "{verdict}"
    );
    assert_eq!(
        b.eval("document.querySelector('.test-result .status-pill').textContent")
            .await,
        "200"
    );

    // the bin `crm` holds what was sent, and a real payment_received arrives there live
    b.click("#tab-requests").await;
    b.wait_for(
        "document.querySelector(\".bin-item[href='#/bin/crm']\")",
        EVENTUALLY,
    )
    .await;
    b.click(".bin-item[href='#/bin/crm']").await;
    b.wait_for(
        &format!("window.hookpitViewer.state().bin === 'crm' && {ROWS}.length === 1 && document.querySelector('#conn').dataset.state === 'live'"),
        EVENTUALLY,
    )
    .await;
    let reloads = b.eval("window.hookpitViewer.metrics.reloads").await;
    let fired = support::post(
        &format!("{}/_/api/events/payment_received", s.server.base_url()),
        "",
    )
    .await;
    assert!(fired.status < 300, "dispatch: {}", fired.text());
    let (_, took) = b
        .wait_for(&format!("{ROWS}.length === 2"), Duration::from_secs(5))
        .await;
    println!("the dispatched event appeared in bin crm {took:?} after it was fired");
    let r = rows(b).await;
    for row in &r {
        assert_eq!(row["method"], "POST", "{row}");
        assert_eq!(row["target"], "/crm", "{row}");
        assert_eq!(row["status"], "200", "{row}");
    }
    assert_eq!(r[0]["fresh"], true, "the live arrival is highlighted");
    assert_eq!(
        b.eval("window.hookpitViewer.metrics.reloads").await,
        reloads,
        "it arrived over the live feed, not by reloading"
    );
    let newest = r[0]["id"].as_u64().expect("id");
    b.click(&format!("#list .row[data-id='{newest}']")).await;
    let (body, _) = b
        .wait_for(
            "document.querySelector('#detail .jtree')?.innerText",
            EVENTUALLY,
        )
        .await;
    let body = body.as_str().unwrap_or_default();
    assert!(body.contains("\"payment_id\""), "{body}");
    let captured = support::get(&format!("{}/_/api/bins/crm/requests", s.server.base_url()))
        .await
        .json();
    for req in captured["requests"].as_array().expect("requests") {
        let text = req["body"]["text"].as_str().unwrap_or_default();
        assert!(text.contains("\"payment_id\""), "{text}");
        assert!(
            req["headers"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h[0] == "webhook-signature")),
            "signed: {req}"
        );
    }

    // the demo webhook posts to hookpit's own `demo` bin: an edited payload arrives exactly
    b.click("#tab-webhooks").await;
    let demo_id = b
        .wait_for(
            "[...document.querySelectorAll('.page-webhooks table.grid tbody tr')].find((tr) => tr.textContent.includes('Local demo'))?.dataset.id",
            EVENTUALLY,
        )
        .await
        .0;
    let demo_id = demo_id.as_str().expect("demo id").to_owned();
    // the list may re-render under the pointer (live delivery updates): click until it took
    click_until(
        b,
        &format!(".page-webhooks tr[data-id='{demo_id}']"),
        "document.querySelector('.page-webhooks tr.active')?.textContent.includes('Local demo')",
    )
    .await;
    let payload = r#"{"payment_id":12345678901234567890,"payment_status":"completed","payment_total":"$31.32"}"#;
    b.wait_for(
        "document.querySelector('.page-webhooks tr.active')?.textContent.includes('Local demo')",
        EVENTUALLY,
    )
    .await;
    b.wait_for(
        "document.querySelector('textarea.payload')?.value.includes('payment')",
        EVENTUALLY,
    )
    .await;
    b.eval(&format!(
        "document.querySelector('textarea.payload').value = {}",
        serde_json::to_string(payload).expect("payload")
    ))
    .await;
    b.click(".send-test").await;
    let (verdict, _) = b
        .wait_for(
            "document.querySelector('.test-result')?.innerText",
            Duration::from_secs(10),
        )
        .await;
    let verdict = verdict.as_str().unwrap_or_default().to_owned();
    assert!(
        verdict.contains("Delivered") && verdict.contains("200") && verdict.contains(" ms"),
        "{verdict}"
    );
    assert_eq!(
        b.eval("document.querySelector('.test-result').classList.contains('ok')")
            .await,
        true
    );
    let demo = support::get(&format!("{}/_/api/bins/demo/requests", s.server.base_url()))
        .await
        .json();
    assert!(
        demo["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .any(|r| r["body"]["text"] == payload),
        "sent byte for byte: {demo}"
    );

    // the delivery log and the list's counters follow the websocket
    // (the dispatched payment_received went to the demo webhook too: it listens to every event)
    b.wait_for(
        "(() => { const r = [...document.querySelectorAll('[data-delivery]')]; return r.length === 2 && r.every((d) => d.innerText.includes('succeeded')) && r.some((d) => d.innerText.includes('test')); })()",
        Duration::from_secs(5),
    )
    .await;
    b.wait_for(
        "document.querySelector('.page-webhooks table.grid tbody tr.active')?.innerText.includes('200')",
        Duration::from_secs(5),
    )
    .await;

    // a new webhook whose receiver fails: the verdict says so, whatever body came back
    let failing = failing_receiver().await;
    b.click(".add-webhook").await;
    b.click("input[aria-label='Name']").await;
    b.type_text("Broken receiver").await;
    b.click("input[aria-label='URL']").await;
    b.type_text(&failing).await;
    b.click(".events-pick input[value='payment_received']")
        .await;
    b.click(".page-webhooks form button[type='submit']").await;
    b.wait_for(
        "[...document.querySelectorAll('.page-webhooks table.grid tbody tr')].some((tr) => tr.classList.contains('active') && tr.textContent.includes('Broken receiver'))",
        Duration::from_secs(5),
    )
    .await;
    let secret = b
        .eval("document.querySelector('input[aria-label=\"Secret\"]').value")
        .await;
    assert!(
        secret.as_str().unwrap_or_default().starts_with("whsec_"),
        "a secret was generated: {secret}"
    );
    b.wait_for("document.querySelector('.send-test')", EVENTUALLY)
        .await;
    b.click(".send-test").await;
    let (verdict, _) = b
        .wait_for(
            "document.querySelector('.test-result')?.innerText",
            Duration::from_secs(10),
        )
        .await;
    let verdict = verdict.as_str().unwrap_or_default().to_owned();
    assert!(
        verdict.contains("Not delivered") && verdict.contains("500"),
        "{verdict}"
    );
    assert!(
        verdict.contains("oops"),
        "the receiver's answer is shown: {verdict}"
    );
    assert_eq!(
        b.eval("document.querySelector('.test-result').classList.contains('bad')")
            .await,
        true
    );
    b.wait_for(
        "[...document.querySelectorAll('[data-delivery]')].some((r) => r.innerText.includes('500'))",
        Duration::from_secs(5),
    )
    .await;
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_panel_sets_a_rate_limit_the_bin_then_enforces_and_refuses_a_bad_one_inline() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let api = format!("{}/_/api/bins/edge", s.server.base_url());
    open(&s, "edge").await;
    b.click("#bin-settings").await;
    b.wait_for(
        "document.querySelector('#settings[open] #set-limit-rate')",
        EVENTUALLY,
    )
    .await;
    b.click("#set-limit-rate").await;
    b.type_text("2").await;
    b.click("#set-limit-per").await;
    b.type_text("1h").await;
    b.click("#set-limit-status").await;
    b.type_text("503").await;
    b.click("#settings .settings-save").await;
    b.wait_for(
        "document.querySelector('#settings .settings-state')?.textContent === 'Saved ✓'",
        EVENTUALLY,
    )
    .await;
    assert_eq!(
        support::get(&api).await.json()["config"],
        json!({"limit": {"rate": 2, "per": "60m", "status": 503}}),
        "the limit was saved"
    );
    let edge = s.server.catch_url("edge");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(support::post(&edge, "{}").await.status);
    }
    assert_eq!(got, [200, 200, 503], "the bin holds to the limit");

    // a bad value: the server's message is shown next to the field
    b.eval("document.querySelector('#set-limit-rate').value = ''")
        .await;
    b.click("#set-limit-rate").await;
    b.type_text("0").await;
    b.click("#settings .settings-save").await;
    let (shown, _) = b
        .wait_for(
            "(() => { const e = document.querySelector('#settings .settings-error'); return !e.hidden && e.textContent; })()",
            EVENTUALLY,
        )
        .await;
    assert!(
        shown
            .as_str()
            .is_some_and(|t| t.starts_with("limit.rate: ")),
        "{shown}"
    );
    let beside = b
        .eval("document.querySelector('#set-limit-rate').getAttribute('aria-invalid')")
        .await;
    assert_eq!(beside, "true");
    assert_eq!(
        support::get(&api).await.json()["config"]["limit"]["rate"],
        2,
        "a refused config changes nothing"
    );
    assert_page_clean(b).await;
}

/// The settings drawer's sequence position line.
const SEQ_TEXT: &str = "document.querySelector('#settings .seq-text')?.textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_panel_saves_a_sequence_the_bin_then_answers_and_shows_a_bad_value_inline() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let api = format!("{}/_/api/bins/flaky", s.server.base_url());
    open(&s, "flaky").await;

    // a bin nobody has used yet: the panel starts from an empty config
    b.click("#bin-settings").await;
    b.wait_for(
        "document.querySelector('#settings[open] #set-sequence')",
        EVENTUALLY,
    )
    .await;
    assert_eq!(b.eval(SEQ_TEXT).await, "No sequence saved.");
    b.click("#set-sequence").await;
    b.type_text("500, 200").await;
    b.click("#settings .settings-save").await;
    b.wait_for(
        &format!("document.querySelector('#settings .settings-state')?.textContent === 'Saved ✓' && {SEQ_TEXT} === 'Next request gets step 1 of 2'"),
        EVENTUALLY,
    )
    .await;
    let summary = support::get(&api).await.json();
    assert_eq!(
        summary["config"],
        json!({"sequence": [{"status": 500}, {"status": 200}]}),
        "the whole config was saved"
    );
    assert_eq!(summary["sequence_position"], 0);

    // the bin answers the sequence, and the panel follows its position live
    let flaky = s.server.catch_url("flaky");
    let hit = || {
        support::http(
            "POST",
            &flaky,
            &[("content-type", "application/json")],
            Bytes::from_static(br#"{"attempt":true}"#),
        )
    };
    assert_eq!(hit().await.status, 500, "first step");
    assert_eq!(hit().await.status, 200, "second step");
    b.wait_for(
        &format!("{SEQ_TEXT} === 'All 2 steps used — requests now get the response'"),
        EVENTUALLY,
    )
    .await;
    let used = b
        .eval(
            "[...document.querySelectorAll('#settings .seq-step.used')].map((e) => e.textContent)",
        )
        .await;
    assert_eq!(used, json!(["500", "200"]));

    // Restart sequence starts it over
    b.click("#settings .seq-restart").await;
    b.wait_for(
        &format!("{SEQ_TEXT} === 'Next request gets step 1 of 2'"),
        EVENTUALLY,
    )
    .await;
    assert_eq!(support::get(&api).await.json()["sequence_position"], 0);

    // a bad value: the server's message, naming the field, is shown next to it
    b.click("#set-fault-rate").await;
    b.type_text("2").await;
    b.click("#set-fault-status").await;
    b.type_text("503").await;
    b.click("#settings .settings-save").await;
    let (shown, _) = b
        .wait_for(
            "(() => { const e = document.querySelector('#settings .settings-error'); return !e.hidden && e.textContent; })()",
            EVENTUALLY,
        )
        .await;
    assert_eq!(shown, "fault.rate: must be a fraction from 0.0 to 1.0");
    let beside = b
        .eval("(() => { const i = document.querySelector('#set-fault-rate'); const e = i.closest('.form-row').querySelector('.field-error'); return [i.getAttribute('aria-invalid'), e.hidden, e.textContent]; })()")
        .await;
    assert_eq!(
        beside,
        json!([
            "true",
            false,
            "fault.rate: must be a fraction from 0.0 to 1.0"
        ])
    );
    assert_eq!(
        support::get(&api).await.json()["config"],
        json!({"sequence": [{"status": 500}, {"status": 200}]}),
        "a refused config changes nothing"
    );
    b.eval("document.activeElement && document.activeElement.blur()")
        .await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("settings.png");
    b.screenshot(&shot).await;
    println!("settings panel screenshot saved to {}", shot.display());

    // the JSON editor holds the whole config the form would send
    b.click("#settings .seg[data-mode='json']").await;
    let text = b
        .wait_for(
            "document.querySelector('#settings textarea.settings-json')?.value",
            EVENTUALLY,
        )
        .await
        .0;
    let edited: Value = serde_json::from_str(text.as_str().expect("json text")).expect("JSON");
    assert_eq!(
        edited,
        json!({"sequence": [{"status": 500}, {"status": 200}], "fault": {"rate": 2, "status": 503}})
    );

    // Esc closes the drawer
    b.press("Escape").await;
    b.wait_for("!document.querySelector('#settings').open", EVENTUALLY)
        .await;
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrored_forward_result_updates_its_row_in_place_beside_the_signature_verdict() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let secret = "It's a Secret to Everybody";
    // the "app" is another bin of this server that answers 202 slowly
    let put = |bin: &str, config: Value| {
        let url = format!("{}/_/api/bins/{bin}", s.server.base_url());
        async move {
            let a = support::http(
                "PUT",
                &url,
                &[("content-type", "application/json")],
                Bytes::from(config.to_string()),
            )
            .await;
            assert_eq!(a.status, 200, "{}", a.text());
        }
    };
    put(
        "app",
        json!({"response": {"status": 202, "headers": [["X-App", "yes"]],
            "body": "{\"received\":true}", "delay": "500ms"}}),
    )
    .await;
    put(
        "signed",
        json!({"verify": {"scheme": "github", "secret": secret},
            "forward": {"url": s.server.catch_url("app"), "mode": "mirror"}}),
    )
    .await;
    open(&s, "signed").await;

    let body = r#"{"action":"opened","number":7}"#;
    let signature = hookpit::sign::github_sign(secret.as_bytes(), body.as_bytes());
    let good = post_json(
        &s.server,
        "/signed/hooks",
        &[
            ("x-github-event", "pull_request"),
            ("x-hub-signature-256", &signature),
        ],
        body,
    )
    .await;
    let bad = post_json(&s.server, "/signed/hooks", &[], body).await;
    b.wait_for(&format!("{ROWS}.length === 2"), EVENTUALLY)
        .await;
    let sig = |id: u64| {
        format!("document.querySelector(\"#list .row[data-id='{id}'] .sig\").textContent")
    };
    assert_eq!(b.eval(&sig(good)).await, "sig ✓");
    assert_eq!(b.eval(&sig(bad)).await, "sig ✗");

    // the detail is open before the forward's answer comes back
    b.click(&format!("#list .row[data-id='{good}']")).await;
    b.wait_for(
        &format!("document.querySelector('#detail .overview')?.innerText.includes('#{good}')"),
        EVENTUALLY,
    )
    .await;
    let overview = b
        .eval("document.querySelector('#detail .overview').innerText")
        .await;
    let overview = overview.as_str().unwrap_or_default();
    assert!(
        overview.contains("✓ valid") && overview.contains("github"),
        "{overview}"
    );
    assert_eq!(
        b.eval("!document.querySelector(\"#detail .dtab[data-tab='forward']\")")
            .await,
        true,
        "no forward result yet (the app takes 500 ms)"
    );

    // the `updated` message brings the result: same row, same detail, no duplicate
    let (_, took) = b
        .wait_for(
            "document.querySelector(\"#detail .dtab[data-tab='forward']\")",
            Duration::from_secs(5),
        )
        .await;
    println!("the forward result appeared in the open detail {took:?} later");
    assert_eq!(ids(b).await, vec![bad, good], "no row added or lost");
    b.wait_for(&format!("{ROWS}.length === 2"), Duration::from_secs(1))
        .await;
    assert_eq!(b.eval("window.hookpitViewer.state().selected").await, good);
    b.click("#detail .dtab[data-tab='forward']").await;
    let panel = b
        .wait_for(
            "document.querySelector('#detail .forward-panel')?.innerText",
            EVENTUALLY,
        )
        .await
        .0;
    let panel = panel.as_str().unwrap_or_default();
    let target = format!("{}/hooks", s.server.catch_url("app"));
    for want in [target.as_str(), "202", " ms", "x-app", "received"] {
        assert!(panel.contains(want), "forward panel lacks {want}: {panel}");
    }
    let latency = b
        .eval("document.querySelector('#detail .forward-panel').innerText.match(/(\\d+) ms/)?.[1]")
        .await;
    let latency: u64 = latency.as_str().and_then(|l| l.parse().ok()).unwrap_or(0);
    assert!(
        latency >= 450,
        "the app's 500 ms delay is in the latency: {latency}"
    );

    // the unsigned one says why it is invalid
    b.click(&format!("#list .row[data-id='{bad}']")).await;
    let overview = b
        .wait_for(
            &format!("(() => {{ const t = document.querySelector('#detail .overview')?.innerText || ''; return t.includes('#{bad}') && t; }})()"),
            EVENTUALLY,
        )
        .await
        .0;
    let overview = overview.as_str().unwrap_or_default();
    assert!(
        overview.contains("✗ invalid") && overview.contains("no signature headers"),
        "{overview}"
    );
    assert_page_clean(b).await;
}

/// What is wrong with the layout right now: every tab and action of the detail pane and every
/// bin action must be inside the viewport and be what is under the mouse at its centre (not
/// covered, not clipped), the tab bar must not hide tabs in an overflow, and nothing may push
/// the page sideways.
const LAYOUT_PROBLEMS: &str = r#"(() => {
  const bad = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) bad.push(`page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  for (const box of document.querySelectorAll('#detail .dtabs, #detail .detail-actions, .bin-head, .search-box')) {
    if (box.scrollWidth > box.clientWidth + 1) bad.push(`${box.className} hides ${box.scrollWidth - box.clientWidth}px`);
  }
  const wanted = '#detail .dtab, #detail .detail-actions > *, .bin-actions > *, #copy-catch, #search, #filter-help-btn, #follow-btn, .exports a, #theme-btn, #keys-btn, #tab-webhooks';
  for (const e of document.querySelectorAll(wanted)) {
    if (!e.getClientRects().length) continue; // not rendered at this width
    const name = `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} "${e.textContent.trim().slice(0, 24)}"`;
    e.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    const r = e.getBoundingClientRect();
    if (r.width < 8 || r.height < 8) { bad.push(`${name} is ${r.width}x${r.height}`); continue; }
    if (r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5) {
      bad.push(`${name} at ${Math.round(r.left)},${Math.round(r.top)}-${Math.round(r.right)},${Math.round(r.bottom)} is outside ${innerWidth}x${innerHeight}`);
      continue;
    }
    const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!at || !(at === e || e.contains(at))) bad.push(`${name} is covered by ${at ? at.tagName + '.' + at.className : 'nothing'}`);
  }
  return bad;
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_1024_and_800_pixels_every_tab_and_action_is_visible_and_clickable() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    realistic_traffic(&s.server).await;
    let id = post_json(
        &s.server,
        "/stripe/webhook?account=acct_1HxQ2b&attempt=1",
        &[("stripe-signature", "t=1764316800,v1=5257a869e7ecebeda32a")],
        STRIPE_EVENT,
    )
    .await;
    for (w, h) in [(1024, 768), (800, 600)] {
        b.viewport(w, h, false).await;
        open_url(b, &format!("{}#/bin/stripe/{id}", s.server.viewer_url())).await;
        b.wait_for(
            "document.querySelectorAll('#detail .dtab').length === 5 \
             && document.querySelectorAll('#detail .detail-actions > *').length >= 4",
            EVENTUALLY,
        )
        .await;
        let problems = b.eval(LAYOUT_PROBLEMS).await;
        assert_eq!(problems, json!([]), "layout problems at {w}x{h}");
        // each tab really answers a click where it is drawn
        for tab in ["headers", "query", "response", "replay", "body"] {
            click_until(
                b,
                &format!("#detail .dtab[data-tab='{tab}']"),
                &format!("document.querySelector('#detail .dtab.active')?.dataset.tab === '{tab}'"),
            )
            .await;
        }
        if w == 1024 {
            // the bin header stays one line: title, catch URL and actions side by side
            let rows = b
                .eval(
                    "new Set([...document.querySelectorAll('.bin-head > *')]
                       .filter((e) => e.getClientRects().length)
                       .map((e) => Math.round(e.getBoundingClientRect().top / 12))).size",
                )
                .await;
            assert_eq!(rows, 1, "the bin header wraps at {w}px");
        }
    }
    assert_page_clean(b).await;
}

/// `window.__contrast(scope)`: every rendered element under `scope` that draws text of its own
/// (and every input's placeholder) whose contrast against the background it is painted on is
/// below WCAG AA's 4.5:1. The background is composited from the translucent layers beneath it.
const CONTRAST: &str = r#"window.__contrast = (() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]*)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (!a) return [0, 0, 0, 0];
    return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let base = matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18, 1] : [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], base);
    return base;
  };
  const lum = (c) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    [...el.classList].map((c) => '.' + c).join('') + (el.matches(':hover') ? ':hover' : '');
  return (scope) => {
    const bad = new Map();
    const test = (el, pseudo, text) => {
      const bg = background(el);
      const fg = parse(getComputedStyle(el, pseudo).color);
      if (!fg) return;
      let opacity = 1;
      for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
      const r = ratio(over([fg[0], fg[1], fg[2], fg[3] * opacity], bg), bg);
      const key = name(el) + (pseudo || '');
      if (r < 4.5 && !bad.has(key)) bad.set(key, `${key} "${text.slice(0, 20)}" ${r.toFixed(2)}:1`);
    };
    for (const el of document.querySelectorAll(scope)) {
      if (!el.getClientRects().length || el.closest(':disabled, [aria-disabled=true], .toast')) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden') continue;
      const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
      if (own) test(el, null, own);
      if ((el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && el.placeholder && !el.value) test(el, '::placeholder', el.placeholder);
      if ((el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') && el.value) test(el, null, el.value);
    }
    return [...bad.values()];
  };
})();"#;

/// Waits until the mouse is over `selector` and no transition is running, then reports its
/// contrast problems.
async fn hovered_contrast(b: &Browser, selector: &str) -> Value {
    b.hover(selector).await;
    let sel = serde_json::to_string(selector).expect("selector");
    b.wait_for(
        &format!(
            "document.querySelector({sel})?.matches(':hover') \
             && document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)"
        ),
        EVENTUALLY,
    )
    .await;
    b.eval(&format!("window.__contrast({sel})")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_control_meets_wcag_aa_contrast_in_light_and_dark_mode() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    b.add_init_script(CONTRAST).await;
    realistic_traffic(&s.server).await;
    let id = post_json(&s.server, "/stripe/webhook", &[], STRIPE_EVENT).await;
    let hook = support::http(
        "POST",
        &format!("{}/_/api/webhooks", s.server.base_url()),
        &[("content-type", "application/json")],
        Bytes::from(
            json!({"name": "shop", "url": format!("{}/wh-in/x", s.server.base_url()), "events": ["*"]})
                .to_string(),
        ),
    )
    .await;
    assert!(hook.status < 300, "webhook created: {}", hook.text());
    b.viewport(1280, 900, false).await;
    for scheme in ["light", "dark"] {
        b.color_scheme(scheme).await;
        open_url(b, &format!("{}#/bin/stripe/{id}", s.server.viewer_url())).await;
        b.wait_for("!!document.querySelector('#detail .dtab')", EVENTUALLY)
            .await;
        click_until(
            b,
            "#detail .dtab[data-tab='body']",
            "!!document.querySelector('#detail .jtree')",
        )
        .await;
        b.click("#filter-help-btn").await;
        let bad = b.eval("window.__contrast('body *')").await;
        assert_eq!(bad, json!([]), "{scheme}: requests page");
        click_until(
            b,
            "#filter-help-btn",
            "document.querySelector('#filter-help').hidden",
        )
        .await;
        for hover in [
            "#detail .dtab:not(.active)",
            "#detail .detail-actions .btn",
            "#list .row:not(.selected):not([hidden])",
            ".bin-item:not(.active)",
            "#tab-webhooks",
        ] {
            let bad = hovered_contrast(b, hover).await;
            assert_eq!(bad, json!([]), "{scheme}: {hover} under the mouse");
        }
        click_until(
            b,
            "#detail .dtab[data-tab='replay']",
            "!!document.querySelector('.replay-form .btn.primary')",
        )
        .await;
        let bad = b.eval("window.__contrast('#detail *')").await;
        assert_eq!(bad, json!([]), "{scheme}: replay tab");
        let bad = hovered_contrast(b, ".replay-form .btn.primary").await;
        assert_eq!(bad, json!([]), "{scheme}: primary button under the mouse");

        open_url(b, &format!("{}#/webhooks", s.server.viewer_url())).await;
        b.wait_for(
            "!!document.querySelector('.add-webhook') && !!document.querySelector('.send-test')",
            EVENTUALLY,
        )
        .await;
        let bad = b.eval("window.__contrast('body *')").await;
        assert_eq!(bad, json!([]), "{scheme}: webhooks page");
        let bad = hovered_contrast(b, ".add-webhook").await;
        assert_eq!(bad, json!([]), "{scheme}: Add New Webhook under the mouse");
        b.hover(".wh-head h1").await;
    }
    assert_page_clean(b).await;
}

/// Creates a webhook over the API and returns its JSON.
async fn create_webhook(server: &ServerHandle, def: Value) -> Value {
    let a = support::http(
        "POST",
        &format!("{}/_/api/webhooks", server.base_url()),
        &[("content-type", "application/json")],
        Bytes::from(def.to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "webhook created: {}", a.text());
    a.json()
}

/// Fires an event at webhook `id` (whose receiver always fails, retried once), opens the
/// Webhooks page and that delivery, and returns once both attempts' exchanges are shown.
async fn open_failed_exchange(s: &Session, id: u64) {
    let b = &s.browser;
    let fired = support::post(
        &format!("{}/_/api/events/payment_received", s.server.base_url()),
        "",
    )
    .await;
    assert!(fired.status < 300, "dispatch: {}", fired.text());
    open_url(b, &format!("{}#/webhooks", s.server.viewer_url())).await;
    b.wait_for(&sent_cell(id), EVENTUALLY).await;
    click_until(
        b,
        &format!(".page-webhooks tr[data-id='{id}']"),
        "[...document.querySelectorAll('.page-webhooks tr[data-delivery]')].some((tr) => tr.children[4].textContent === '2')",
    )
    .await;
    click_until(
        b,
        ".page-webhooks tr[data-delivery]",
        "document.querySelectorAll('.attempts .exchange').length === 2",
    )
    .await;
}

/// The "Sent" cell of a webhook's row on the webhooks page.
fn sent_cell(id: u64) -> String {
    format!("document.querySelector(\".page-webhooks tr[data-id='{id}'] td:nth-child(4)\")?.textContent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sent_count_counts_deliveries_the_same_live_and_after_a_reload() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let hook = create_webhook(
        &s.server,
        json!({"name": "counted", "url": failing_receiver().await, "events": ["*"],
               "retry": {"schedule": ["1s", "1s"], "time_scale": 0.02}}),
    )
    .await;
    let id = hook["id"].as_u64().expect("webhook id");
    open_url(b, &format!("{}#/webhooks", s.server.viewer_url())).await;
    b.wait_for(&sent_cell(id), EVENTUALLY).await;
    click_until(
        b,
        &format!(".page-webhooks tr[data-id='{id}']"),
        "!!document.querySelector('.send-test')",
    )
    .await;
    b.wait_for(&format!("{} === '0'", sent_cell(id)), EVENTUALLY)
        .await;

    // a test event and a real event that takes three attempts
    click_until(b, ".send-test", "!!document.querySelector('.test-result')").await;
    let fired = support::post(
        &format!("{}/_/api/events/payment_received", s.server.base_url()),
        "",
    )
    .await;
    assert!(fired.status < 300, "dispatch: {}", fired.text());
    b.wait_for(
        "[...document.querySelectorAll('.page-webhooks tr[data-delivery]')]
           .filter((tr) => tr.textContent.includes('failed')).length === 2
         && [...document.querySelectorAll('.page-webhooks tr[data-delivery]')]
           .some((tr) => tr.children[4].textContent === '3')",
        EVENTUALLY,
    )
    .await;
    let api = support::get(&format!("{}/_/api/webhooks/{id}", s.server.base_url()))
        .await
        .json();
    let live = b.eval(&sent_cell(id)).await;
    assert_eq!(
        live,
        api["sent_count"].to_string(),
        "live count and the API agree"
    );
    assert_eq!(
        api["sent_count"], 1,
        "one delivery, however many attempts; tests apart"
    );
    let title = b
        .eval("[...document.querySelectorAll('.page-webhooks th')].find((th) => th.textContent === 'Sent')?.title")
        .await;
    assert!(
        title
            .as_str()
            .is_some_and(|t| t.contains("Send Test Event")),
        "the Sent column says what it counts: {title}"
    );

    // the same after a reload
    b.eval("window.__old = true; location.reload()").await;
    b.wait_for("!window.__old", EVENTUALLY).await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        EVENTUALLY,
    )
    .await;
    b.wait_for(&format!("{} === {live}", sent_cell(id)), EVENTUALLY)
        .await;
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_shows_each_attempts_request_and_response() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let hook = create_webhook(
        &s.server,
        json!({"name": "exchange", "url": failing_receiver().await, "events": ["*"],
               "headers": [["X-Tenant", "acme-42"]],
               "retry": {"schedule": ["1s"], "time_scale": 0.02}}),
    )
    .await;
    let id = hook["id"].as_u64().expect("webhook id");
    open_failed_exchange(&s, id).await;
    let shown = b
        .eval(
            "[...document.querySelectorAll('.attempts .exchange')].map((x) => ({
               request: x.querySelector('.ex-request')?.innerText || '',
               response: x.querySelector('.ex-response')?.innerText || '' }))",
        )
        .await;
    let deliveries = support::get(&format!(
        "{}/_/api/deliveries?webhook={id}",
        s.server.base_url()
    ))
    .await
    .json();
    let attempts = &deliveries["deliveries"][0]["attempts"];
    for (n, x) in shown.as_array().expect("attempts").iter().enumerate() {
        let req = x["request"].as_str().unwrap_or_default();
        let resp = x["response"].as_str().unwrap_or_default();
        let sent = &attempts[n]["request"];
        assert!(req.contains(sent["url"].as_str().unwrap_or("?")), "{req}");
        for pair in sent["headers"].as_array().expect("headers sent") {
            assert!(
                req.contains(pair[0].as_str().unwrap_or("?"))
                    && req.contains(pair[1].as_str().unwrap_or("?")),
                "attempt {n}: header {pair} missing from {req}"
            );
        }
        assert!(req.contains("X-Tenant") && req.contains("acme-42"), "{req}");
        assert!(req.contains("payment_id"), "the body sent: {req}");
        assert!(resp.contains("500"), "{resp}");
        assert!(resp.to_lowercase().contains("content-length"), "{resp}");
        assert!(resp.contains("oops"), "the body answered: {resp}");
    }
    assert_page_clean(b).await;
}

/// Replaces the text of an input or textarea as typed from the keyboard.
async fn retype(b: &Browser, selector: &str, text: &str) {
    let sel = serde_json::to_string(selector).expect("selector");
    b.click(selector).await;
    b.eval(&format!("document.querySelector({sel}).select()"))
        .await;
    if text.is_empty() {
        b.eval(&format!(
            "document.execCommand('delete') || document.querySelector({sel}).value === ''"
        ))
        .await;
    } else {
        b.type_text(text).await;
    }
}

/// Picks an option of a `<select>` as a user would (value set, `change` fired).
async fn choose(b: &Browser, selector: &str, value: &str) {
    let sel = serde_json::to_string(selector).expect("selector");
    let v = serde_json::to_string(value).expect("value");
    let ok = b
        .eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (![...e.options].some((o) => o.value === {v})) return false; \
             e.value = {v}; e.dispatchEvent(new Event('change', {{ bubbles: true }})); return true; }})()"
        ))
        .await;
    assert_eq!(ok, true, "{selector} offers {value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_form_edits_every_field_and_shows_the_apis_message_by_the_field() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let hook = create_webhook(
        &s.server,
        json!({"name": "form", "url": s.server.catch_url("formbin"), "events": ["*"]}),
    )
    .await;
    let id = hook["id"].as_u64().expect("webhook id");
    let api_url = format!("{}/_/api/webhooks/{id}", s.server.base_url());
    open_url(b, &format!("{}#/webhooks", s.server.viewer_url())).await;
    b.wait_for(&sent_cell(id), EVENTUALLY).await;
    click_until(
        b,
        &format!(".page-webhooks tr[data-id='{id}']"),
        "document.querySelector(\"[aria-label='Name']\")?.value === 'form'",
    )
    .await;
    const SAVE: &str = ".page-webhooks form button[type='submit']";

    // refused values: the API's own message, under the field it names
    for (label, field, bad, body) in [
        ("Timeout", "timeout", "soon", json!({"timeout": "soon"})),
        (
            "Retry schedule",
            "retry.schedule",
            "5s, 9 parsecs",
            json!({"retry": {"schedule": ["5s", "9", "parsecs"]}}),
        ),
        (
            "Headers",
            "headers",
            "Webhook-Signature: forged",
            json!({"headers": [["Webhook-Signature", "forged"]]}),
        ),
    ] {
        let said = support::http(
            "PUT",
            &api_url,
            &[("content-type", "application/json")],
            Bytes::from(body.to_string()),
        )
        .await;
        assert_eq!(said.status, 400, "{}", said.text());
        let message = said.json()["error"]["message"].clone();
        let before = b
            .eval(&format!(
                "document.querySelector(\"[aria-label='{label}']\").value"
            ))
            .await;
        retype(b, &format!("[aria-label='{label}']"), bad).await;
        b.click(SAVE).await;
        let shown = b
            .wait_for(
                &format!(
                    "(() => {{ const e = document.querySelector(\".field-error[data-field='{field}']\"); \
                     return e && !e.hidden && e.textContent; }})()"
                ),
                EVENTUALLY,
            )
            .await
            .0;
        assert_eq!(shown, message, "{label}: the API's message by the field");
        assert_eq!(
            b.eval(&format!(
                "document.querySelector(\"[aria-label='{label}']\").getAttribute('aria-invalid')"
            ))
            .await,
            "true"
        );
        retype(
            b,
            &format!("[aria-label='{label}']"),
            before.as_str().unwrap_or_default(),
        )
        .await;
    }

    // every field, then save
    retype(b, "[aria-label='Secret']", "my-app-secret-123").await;
    // every scheme the API takes is offered
    assert_eq!(
        b.eval(
            "[...document.querySelector(\"[aria-label='Signature']\").options].map((o) => o.value)"
        )
        .await,
        json!([
            "standard-webhooks",
            "github",
            "stripe",
            "shopify",
            "slack",
            "none"
        ])
    );
    choose(b, "[aria-label='Signature']", "shopify").await;
    choose(b, "[aria-label='Format']", "envelope").await;
    retype(b, "[aria-label='Headers']", "X-Tenant: acme\nX-Env: test").await;
    retype(b, "[aria-label='Timeout']", "7s").await;
    retype(b, "[aria-label='Retry schedule']", "2s, 1m, 10m").await;
    retype(b, "[aria-label='Time scale']", "0.5").await;
    b.click("[aria-label='Active']").await;
    b.click("[aria-label='Accept any TLS certificate']").await;
    b.eval("window.__form = document.querySelector('.page-webhooks form')")
        .await;
    b.click(SAVE).await;
    let deadline = Instant::now() + EVENTUALLY;
    let saved = loop {
        let w = support::get(&api_url).await.json();
        if w["timeout"] == "7s" {
            break w;
        }
        assert!(Instant::now() < deadline, "never saved: {w}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(saved["secret"], "my-app-secret-123", "{saved}");
    assert_eq!(saved["signature"], "shopify", "{saved}");
    assert_eq!(saved["format"], "envelope", "{saved}");
    assert_eq!(
        saved["headers"],
        json!([["X-Tenant", "acme"], ["X-Env", "test"]])
    );
    assert_eq!(saved["retry"]["schedule"], json!(["2s", "1m", "10m"]));
    assert_eq!(saved["retry"]["time_scale"], 0.5);
    assert_eq!(saved["active"], false);
    assert_eq!(saved["insecure_tls"], true);
    assert_eq!(
        b.eval("[...document.querySelectorAll('.field-error')].filter((e) => !e.hidden).length")
            .await,
        0
    );

    // regenerate: a new secret, shown once saved
    b.wait_for(
        "document.querySelector('.page-webhooks form') !== window.__form \
         && document.querySelector(\"[aria-label='Secret']\")?.value === 'my-app-secret-123'",
        EVENTUALLY,
    )
    .await;
    b.click(".regenerate").await;
    b.click(SAVE).await;
    let deadline = Instant::now() + EVENTUALLY;
    let fresh = loop {
        let w = support::get(&api_url).await.json();
        if w["secret"] != "my-app-secret-123" {
            break w["secret"].as_str().unwrap_or_default().to_owned();
        }
        assert!(Instant::now() < deadline, "never regenerated: {w}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(fresh.len() > 16, "{fresh}");
    b.wait_for(
        &format!("document.querySelector(\"[aria-label='Secret']\")?.value === '{fresh}'"),
        EVENTUALLY,
    )
    .await;
    assert_page_clean(b).await;
}

/// The filter keys the matcher knows, read from its source so the help cannot fall behind.
fn matcher_keys() -> Vec<String> {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/matcher.rs"))
        .expect("matcher source");
    let start = src
        .find("const KEYS: &[&str] = &[")
        .expect("KEYS in the matcher");
    let list = &src[start..];
    let list = &list[list.find("= &[").map_or(0, |i| i + 4)..list.find("];").expect("end of KEYS")];
    let keys: Vec<String> = list
        .split(',')
        .map(|k| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    assert!(keys.len() >= 9, "{keys:?}");
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_lives_in_the_url_and_the_exports_follow_it() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    b.viewport(1024, 768, false).await;

    // before any request: one "Waiting for the first request", not two
    open_url(b, &s.server.viewer_url()).await;
    b.wait_for(
        "!!document.querySelector('.empty-state.waiting')",
        EVENTUALLY,
    )
    .await;
    let waiting = b
        .eval("document.body.innerText.split('Waiting for the first request').length - 1")
        .await;
    assert_eq!(waiting, 1, "the empty state says it once");

    realistic_traffic(&s.server).await;
    let base = s.server.viewer_url();
    // the empty viewer follows the first request to its bin; then a shared address is opened
    b.wait_for(
        "window.hookpitViewer.state().bin && location.hash.length > 6",
        EVENTUALLY,
    )
    .await;
    open_url(b, &format!("{base}#/bin/stripe?q=method%3APUT")).await;
    b.wait_for(
        &format!("window.hookpitViewer.state().count === 1 && {ROWS}.length === 1 && {ROWS}[0].method === 'PUT'"),
        EVENTUALLY,
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#search').value").await,
        "method:PUT"
    );

    // a filter typed in the box goes into the address, and survives a reload
    b.click("#search").await;
    b.eval("document.querySelector('#search').select()").await;
    b.type_text("-method:PUT").await;
    b.press("Enter").await;
    b.wait_for(
        &format!("window.hookpitViewer.state().q === '-method:PUT' && {ROWS}.length === 2"),
        EVENTUALLY,
    )
    .await;
    let hash = b.eval("location.hash").await;
    assert_eq!(hash, "#/bin/stripe?q=-method%3APUT");
    b.eval("window.__old = true; location.reload()").await;
    b.wait_for("!window.__old", EVENTUALLY).await;
    b.wait_for(
        &format!("document.querySelector('#search')?.value === '-method:PUT' && window.hookpitViewer?.state().count === 2 && {ROWS}.length === 2"),
        EVENTUALLY,
    )
    .await;
    let selected = rows(b).await[0]["id"].as_u64().expect("id");
    b.click(&format!("#list .row[data-id='{selected}']")).await;
    b.wait_for(
        &format!("location.hash === '#/bin/stripe/{selected}?q=-method%3APUT'"),
        EVENTUALLY,
    )
    .await;

    // the exports download what the list shows
    let got = b
        .wait_for(
            "(async () => {
               const har = await (await fetch(document.querySelector('#export-har').href)).json();
               const nd = await (await fetch(document.querySelector('#export-ndjson').href)).text();
               return { har: har.log.entries.map((e) => e.request.method),
                        nd: nd.trim().split('\\n').map((l) => JSON.parse(l).method),
                        names: [document.querySelector('#export-har').download, document.querySelector('#export-ndjson').download] };
             })()",
            EVENTUALLY,
        )
        .await
        .0;
    assert_eq!(got["har"].as_array().map(Vec::len), Some(2), "{got}");
    assert_eq!(got["nd"].as_array().map(Vec::len), Some(2), "{got}");
    assert!(
        !got.to_string().contains("\"PUT\""),
        "the filter applies: {got}"
    );
    assert_eq!(got["names"], json!(["stripe.har", "stripe.ndjson"]));
    let labels = b
        .eval("[...document.querySelectorAll('.exports a')].map((a) => a.textContent)")
        .await;
    assert_eq!(labels, json!(["Export HAR", "Export NDJSON"]));

    // the help lists every key of the filter language
    b.click("#filter-help-btn").await;
    let terms = b
        .eval("[...document.querySelectorAll('#filter-help dt code')].map((c) => c.textContent)")
        .await;
    for key in matcher_keys() {
        assert!(
            terms.as_array().is_some_and(|t| t.iter().any(|t| t
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("{key}:"))))),
            "the filter help leaves out `{key}:`: {terms}"
        );
    }

    // the placeholder is whole at 1024 and 800 px
    for w in [1024, 800] {
        b.viewport(w, 700, false).await;
        let fit = b
            .wait_for(
                "(() => { const i = document.querySelector('#search'); const cs = getComputedStyle(i);
                   const c = document.createElement('canvas').getContext('2d'); c.font = cs.font;
                   const room = i.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
                   return room > 0 && [c.measureText(i.placeholder).width, room]; })()",
                EVENTUALLY,
            )
            .await
            .0;
        assert!(
            fit[0].as_f64() <= fit[1].as_f64(),
            "placeholder cut at {w}px: {fit}"
        );
    }
    assert_page_clean(b).await;
}

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_help_pause_theme_and_multipart_previews_work() {
    use base64::Engine as _;
    let Some(s) = session().await else { return };
    let b = &s.browser;
    b.color_scheme("light").await;
    let first = post_json(&s.server, "/extras/one", &[], "{\"n\":1}").await;
    open(&s, "extras").await;
    b.wait_for(&format!("{ROWS}[0]?.id === {first}"), EVENTUALLY)
        .await;

    // `?` lists the keys; Esc closes it
    b.eval("document.activeElement?.blur()").await;
    b.press("?").await;
    let keys = b
        .wait_for(
            "document.querySelector('#keys').open && [...document.querySelectorAll('#keys dt')].map((d) => d.textContent.trim())",
            EVENTUALLY,
        )
        .await
        .0;
    for k in ["j", "k", "/", "Esc", "p", "?"] {
        assert!(
            keys.as_array().is_some_and(|a| a
                .iter()
                .any(|d| d.as_str().is_some_and(|d| d.split(' ').any(|x| x == k)))),
            "{k} missing from {keys}"
        );
    }
    b.press("Escape").await;
    b.wait_for("!document.querySelector('#keys').open", EVENTUALLY)
        .await;

    // pause: new requests wait, counted, until resumed
    click_until(b, "#follow-btn", "window.hookpitViewer.state().paused").await;
    let held = post_json(&s.server, "/extras/two", &[], "{\"n\":2}").await;
    b.wait_for(
        "document.querySelector('#follow-btn').getAttribute('aria-label') === 'Resume (1 new)'",
        EVENTUALLY,
    )
    .await;
    assert_eq!(ids(b).await, vec![first], "held back while paused");
    b.click("#follow-btn").await;
    b.wait_for(
        &format!("{ROWS}[0]?.id === {held} && {ROWS}.length === 2"),
        EVENTUALLY,
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#follow-btn').getAttribute('aria-label')")
            .await,
        "Pause"
    );

    // theme: auto → light → dark, remembered across a reload
    let bg = "getComputedStyle(document.body).backgroundColor";
    let light_bg = b.eval(bg).await;
    click_until(
        b,
        "#theme-btn",
        "document.documentElement.dataset.theme === 'light'",
    )
    .await;
    click_until(
        b,
        "#theme-btn",
        "document.documentElement.dataset.theme === 'dark'",
    )
    .await;
    b.eval("window.__old = true; location.reload()").await;
    b.wait_for("!window.__old", EVENTUALLY).await;
    b.wait_for(
        "document.documentElement.dataset.theme === 'dark' && document.querySelector('#theme-btn').textContent === 'Dark'",
        EVENTUALLY,
    )
    .await;
    let dark_bg = b.eval(bg).await;
    assert_ne!(
        dark_bg, light_bg,
        "the dark theme applies under a light system scheme"
    );
    click_until(
        b,
        "#theme-btn",
        "document.documentElement.dataset.theme === undefined",
    )
    .await;
    assert_eq!(
        b.eval("localStorage.getItem('hookpit.theme')").await,
        Value::Null
    );

    // multipart parts previewed inline: text, JSON, image
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .expect("png");
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello <b>there</b>\r\n",
    );
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"meta\"; filename=\"meta.json\"\r\nContent-Type: application/json\r\n\r\n{\"order\":42}\r\n");
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\nContent-Type: image/png\r\n\r\n");
    body.extend_from_slice(&png);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let up = support::http(
        "POST",
        &format!("{}/extras/upload", s.server.base_url()),
        &[("content-type", "multipart/form-data; boundary=XyZ")],
        Bytes::from(body),
    )
    .await;
    assert_eq!(up.status, 200);
    let id = up.json()["id"].as_u64().expect("id");
    b.wait_for(&format!("{ROWS}[0]?.id === {id}"), EVENTUALLY)
        .await;
    b.click(&format!("#list .row[data-id='{id}']")).await;
    click_until(
        b,
        "#detail .seg[data-view='multipart']",
        "document.querySelectorAll('#detail .mp-part').length === 3",
    )
    .await;
    let parts = b
        .wait_for(
            "(() => { const p = [...document.querySelectorAll('#detail .mp-part')];
               const img = p[2].querySelector('img');
               return img && img.complete && img.naturalWidth > 0 && {
                 text: p[0].querySelector('pre')?.textContent, bold: p[0].querySelectorAll('b').length,
                 json: p[1].querySelector('.jtree')?.innerText, img: [img.naturalWidth, img.naturalHeight] }; })()",
            EVENTUALLY,
        )
        .await
        .0;
    assert_eq!(parts["text"], "hello <b>there</b>", "text as text: {parts}");
    assert_eq!(parts["bold"], 0, "never as HTML");
    assert!(
        parts["json"]
            .as_str()
            .is_some_and(|j| j.contains("\"order\"") && j.contains("42")),
        "{parts}"
    );
    assert_eq!(parts["img"], json!([1, 1]));
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latin1_or_windows_1252_body_is_shown_as_text_in_its_declared_charset() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let mut ids = Vec::new();
    for (ct, body) in [
        (
            "text/plain; charset=iso-8859-1",
            &b"caf\xe9 na\xefve \xa310"[..],
        ),
        (
            "text/csv; charset=\"windows-1252\"",
            &b"price;\x80 5;\x93quoted\x94"[..],
        ),
    ] {
        let a = support::http(
            "POST",
            &format!("{}/charset/in", s.server.base_url()),
            &[("content-type", ct)],
            Bytes::copy_from_slice(body),
        )
        .await;
        assert_eq!(a.status, 200);
        ids.push(a.json()["id"].as_u64().expect("id"));
    }
    open(&s, "charset").await;
    for (id, want) in ids.iter().zip(["café naïve £10", "price;€ 5;“quoted”"]) {
        b.wait_for(
            &format!("!!document.querySelector(\"#list .row[data-id='{id}']\")"),
            EVENTUALLY,
        )
        .await;
        b.click(&format!("#list .row[data-id='{id}']")).await;
        b.wait_for(
            &format!("[...document.querySelectorAll('#detail .overview code')].some((c) => c.textContent === '#{id}')"),
            EVENTUALLY,
        )
        .await;
        click_until(
            b,
            "#detail .seg[data-view='text']",
            "!!document.querySelector('#detail .view-text pre')",
        )
        .await;
        let shown = b
            .eval("document.querySelector('#detail .view-text pre').textContent")
            .await;
        assert_eq!(shown, want);
        let note = b
            .eval("document.querySelector('#detail .view-text .note')?.textContent || ''")
            .await;
        assert!(
            note.as_str().is_some_and(|n| n.contains("Decoded from")),
            "{note}"
        );
    }
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_pictures_show_a_lived_in_viewer_in_light_and_dark_at_1024_pixels() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    realistic_traffic(&s.server).await;
    let id = post_json(
        &s.server,
        "/stripe/webhook?account=acct_1HxQ2b",
        &[
            (
                "stripe-signature",
                "t=1764316800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e7",
            ),
            (
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            ),
        ],
        STRIPE_EVENT,
    )
    .await;
    b.viewport(1024, 768, false).await;
    for (scheme, names) in [
        ("light", &["viewer-light.png", "screenshot.png"][..]),
        ("dark", &["viewer-dark.png"][..]),
    ] {
        b.color_scheme(scheme).await;
        open_url(b, &format!("{}#/bin/stripe/{id}", s.server.viewer_url())).await;
        b.wait_for("!!document.querySelector('#detail .dtab')", EVENTUALLY)
            .await;
        click_until(
            b,
            "#detail .dtab[data-tab='body']",
            "!!document.querySelector('#detail .jtree')",
        )
        .await;
        b.hover(".brand").await;
        b.eval("document.activeElement && document.activeElement.blur()")
            .await;
        b.wait_for(
            &format!(
                "{ROWS}.length >= 4 && !document.querySelector('#list .row.fresh') \
                 && document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)"
            ),
            EVENTUALLY,
        )
        .await;
        for name in names {
            let path = docs_picture(name);
            b.screenshot(&path).await;
            println!("{scheme} viewer saved to {}", path.display());
        }
    }

    // the webhooks page: a webhook whose last event failed twice, its exchange open
    b.color_scheme("light").await;
    let hook = create_webhook(
        &s.server,
        json!({"name": "Billing service", "url": failing_receiver().await, "events": ["payment_*", "invoice.*"],
               "headers": [["X-Tenant", "acme"]], "retry": {"schedule": ["1s"], "time_scale": 0.02}}),
    )
    .await;
    let hid = hook["id"].as_u64().expect("webhook id");
    open_failed_exchange(&s, hid).await;
    b.eval("document.querySelector('.page-webhooks .attempts').scrollIntoView({ block: 'start' }); window.scrollBy(0, -150); document.querySelector('.page-webhooks').scrollTop -= 150")
        .await;
    b.hover(".brand").await;
    let path = docs_picture("webhooks.png");
    b.screenshot(&path).await;
    println!("webhooks page saved to {}", path.display());
    assert_page_clean(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_signature_shows_the_doctors_reason_and_expected_and_received_in_the_overview() {
    let Some(s) = session().await else { return };
    let b = &s.browser;
    let url = format!("{}/_/api/bins/doctor", s.server.base_url());
    let config = json!({"verify": {"scheme": "github", "secret": "right"}});
    let a = support::http(
        "PUT",
        &url,
        &[("content-type", "application/json")],
        Bytes::from(config.to_string()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = r#"{"action":"opened","number":7}"#;
    let sent = hookpit::sign::github_sign(b"wrong", body.as_bytes());
    let expected = hookpit::sign::github_sign(b"right", body.as_bytes());
    let id = post_json(
        &s.server,
        "/doctor/hooks",
        &[("x-hub-signature-256", &sent)],
        body,
    )
    .await;
    for (w, h) in [(1024, 768), (800, 600)] {
        b.viewport(w, h, false).await;
        open_url(b, &format!("{}#/bin/doctor/{id}", s.server.viewer_url())).await;
        let overview = b
            .wait_for(
                "(() => { const o = document.querySelector('#detail .overview'); \
                 return o && o.querySelector('.sig-expected') && o.innerText; })()",
                EVENTUALLY,
            )
            .await
            .0;
        let overview = overview.as_str().unwrap_or_default();
        assert!(
            overview.contains("✗ invalid") && overview.contains("wrong secret"),
            "{overview}"
        );
        let text =
            |sel: &str| format!("document.querySelector('#detail .overview {sel}').textContent");
        assert_eq!(b.eval(&text(".sig-expected")).await, json!(expected));
        assert_eq!(b.eval(&text(".sig-received")).await, json!(sent));
        let problems = b.eval(LAYOUT_PROBLEMS).await;
        assert_eq!(problems, json!([]), "layout problems at {w}x{h}");
    }
    assert_page_clean(b).await;
}

#[tokio::test]
async fn the_connection_badge_says_store_offline_while_the_shared_store_is_away() {
    let Some(mut redis) = crate::shared::Redis::start() else {
        return;
    };
    let mut config = Config::for_tests();
    config.redis = Some(redis.url());
    let Some(s) = session_with(config).await else {
        return;
    };
    let b = &s.browser;
    open(&s, "shared").await;
    redis.down();
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'store-offline'",
        EVENTUALLY,
    )
    .await;
    let label = b.eval("document.querySelector('#conn').innerText").await;
    assert_eq!(label.as_str(), Some("store offline"), "{label}");
    let title = b.eval("document.querySelector('#conn').title").await;
    assert!(
        title.as_str().is_some_and(|t| t.contains(&redis.url())),
        "the badge names the store: {title}"
    );
    // a viewer opened while the store is away is told at once (by the feed's hello)
    b.navigate(&format!("{}#/bin/shared", s.server.viewer_url()))
        .await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'store-offline'",
        EVENTUALLY,
    )
    .await;
    redis.up();
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        EVENTUALLY,
    )
    .await;
    let id = post_json(&s.server, "/shared", &[], "{}").await;
    b.wait_for(&format!("{ROWS}.some((r) => r.id === {id})"), EVENTUALLY)
        .await;
}
