//! Testing your own webhook-sending code with hookpit embedded: start a real hookpit on a free
//! loopback port, point the code under test at a fresh bin's catch URL, then wait for the request
//! and assert on it. Run it with `cargo run --example test_a_sender`.
//!
//! In your own crate the same code goes in a `#[tokio::test]`; `notify_order_shipped` stands for
//! the function you want to test.

use std::time::Duration;

use bytes::Bytes;
use hookpit::{Config, Server};
use http_body_util::Full;

/// The code under test: tells a webhook URL that an order shipped, signed the Standard Webhooks way.
async fn notify_order_shipped(url: &str, order_id: u64, secret: &str) -> Result<u16, String> {
    let body =
        serde_json::json!({"type": "order.shipped", "data": {"order_id": order_id}}).to_string();
    let secret = hookpit::sign::Secret::parse(secret).map_err(|e| e.to_string())?;
    let msg_id = hookpit::sign::new_msg_id().map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let signature = hookpit::sign::sign(&secret, &msg_id, now, body.as_bytes());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Arrange: a real hookpit on 127.0.0.1:0, and a bin that checks signatures.
    let hookpit = Server::start(Config::for_tests()).await?;
    let bin = hookpit.fresh_bin();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    bin.configure(serde_json::json!({
        "verify": {"scheme": "standard-webhooks", "secret": secret}
    }))?;

    // Act: run the code under test against the bin's catch URL.
    let status = notify_order_shipped(&format!("{}/orders", bin.url()), 1042, secret).await?;

    // Assert: wait for the request (no polling loop), then check what arrived.
    let req = bin
        .wait_for(
            "method:POST json:/type=order.shipped sig:valid",
            Duration::from_secs(5),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(req.path(), format!("/{}/orders", bin.name()));
    assert_eq!(req.json().unwrap()["data"]["order_id"], 1042);
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    println!(
        "ok: #{} {} {} arrived with a valid {} signature",
        req.id,
        req.method,
        req.target,
        req.signature
            .as_ref()
            .map(|s| s.scheme.as_str())
            .unwrap_or("?")
    );
    Ok(())
}
