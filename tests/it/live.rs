//! The websocket live feed: `hello`, live `request` messages, `after=` resume with no gap and no
//! duplicate while requests race the replay, many viewers, a stalled viewer, bin filters, what
//! a viewer may send.

use std::time::Duration;

use futures_util::StreamExt;
use hookpit::Config;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_viewer_gets_hello_then_each_request_as_it_is_captured() {
    let s = start().await;
    post(&s.catch_url("early"), "{}").await;
    let mut w = ws(&s, "").await;
    let hello = next_json(&mut w, WAIT).await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["last_id"], 1);
    assert_eq!(hello["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(hello["instance"].as_str().unwrap().len(), 16);
    assert_eq!(hello["bins"][0]["name"], "early");
    post(&s.catch_url("live/x"), r#"{"n":1}"#).await;
    // a new bin is announced, then the request
    let mut types = vec![];
    let mut req = None;
    while req.is_none() {
        let m = next_json(&mut w, WAIT).await.expect("a message");
        types.push(m["type"].as_str().unwrap().to_owned());
        if m["type"] == "request" {
            req = Some(m);
        }
    }
    assert_eq!(types, ["bin", "request"]);
    let r = &req.unwrap()["request"];
    assert_eq!(r["id"], 2);
    assert_eq!(r["body"]["text"], r#"{"n":1}"#);
}

#[tokio::test]
async fn deletes_and_clears_are_pushed_to_viewers() {
    let s = start().await;
    post(&s.catch_url("d"), "{}").await;
    post(&s.catch_url("d"), "{}").await;
    let mut w = ws(&s, "?bin=d").await;
    next_json(&mut w, WAIT).await.unwrap();
    delete(&format!("{}/_/api/requests/1", s.base_url())).await;
    let m = next_json(&mut w, WAIT).await.unwrap();
    assert_eq!(
        (m["type"].as_str(), m["id"].as_u64()),
        (Some("deleted"), Some(1))
    );
    delete(&format!("{}/_/api/bins/d/requests", s.base_url())).await;
    let m = next_json(&mut w, WAIT).await.unwrap();
    assert_eq!(
        (m["type"].as_str(), m["bin"].as_str()),
        (Some("cleared"), Some("d"))
    );
}

#[tokio::test]
async fn a_bin_subscription_only_sees_its_bin_and_a_filter_only_matches() {
    let s = start().await;
    let mut w = ws(&s, "?bin=mine&q=method:PUT").await;
    next_json(&mut w, WAIT).await.unwrap();
    post(&s.catch_url("other"), "{}").await;
    post(&s.catch_url("mine"), "{}").await;
    crate::support::http("PUT", &s.catch_url("mine"), &[], "{}").await;
    let ids = request_ids(&mut w, 1, WAIT).await;
    assert_eq!(ids, [3]);
}

#[tokio::test]
async fn resuming_with_after_replays_what_was_missed_without_gaps_or_duplicates() {
    for round in 0..5 {
        let s = start().await;
        for _ in 0..50 {
            post(&s.catch_url("r"), "{}").await;
        }
        // keep posting while the viewer connects and replays
        let url = s.catch_url("r");
        let poster = tokio::spawn(async move {
            for _ in 0..150 {
                post(&url, "{}").await;
            }
        });
        // a different head start each round, so the viewer joins at a different point
        tokio::time::sleep(Duration::from_millis(round * 3)).await;
        let mut w = ws(&s, "?bin=r&after=20").await;
        poster.await.unwrap();
        let ids = request_ids(&mut w, 180, WAIT).await;
        let want: Vec<u64> = (21..=200).collect();
        assert_eq!(ids, want, "round {round}");
        // no extra messages: the next one is a request sent now
        post(&s.catch_url("r"), "{}").await;
        assert_eq!(
            request_ids(&mut w, 1, WAIT).await,
            [201],
            "round {round}: no extra messages"
        );
    }
}

#[tokio::test]
async fn a_resume_from_another_instance_replays_everything_kept() {
    let s = start().await;
    post(&s.catch_url("i"), "{}").await;
    post(&s.catch_url("i"), "{}").await;
    let mut w = ws(&s, "?after=5&instance=0000000000000000").await;
    let ids = request_ids(&mut w, 2, WAIT).await;
    assert_eq!(ids, [1, 2]);
}

#[tokio::test]
async fn twenty_concurrent_viewers_each_get_every_request_of_a_burst() {
    let s = start().await;
    let mut viewers = Vec::new();
    for _ in 0..20 {
        let mut w = ws(&s, "?bin=burst").await;
        next_json(&mut w, WAIT).await.unwrap();
        viewers.push(w);
    }
    let url = s.catch_url("burst");
    let mut posters = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        posters.push(tokio::spawn(async move {
            for _ in 0..50 {
                post(&url, "{}").await;
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
    let want: Vec<u64> = (1..=200).collect();
    for (i, mut w) in viewers.into_iter().enumerate() {
        let ids = request_ids(&mut w, 200, WAIT).await;
        assert_eq!(ids, want, "viewer {i} got every request in id order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_never_slows_capture_or_the_other_viewers() {
    let s = start_with(Config {
        feed_capacity: 1024,
        ..Config::for_tests()
    })
    .await;
    // the stalled viewer: handshakes, then reads nothing at all
    let mut stalled = ws(&s, "?bin=flood").await;
    let mut healthy = ws(&s, "?bin=flood").await;
    next_json(&mut healthy, WAIT).await.unwrap();
    let reader = tokio::spawn(async move {
        let ids = request_ids(&mut healthy, 2000, Duration::from_secs(20)).await;
        ids.len()
    });
    let body = "y".repeat(16 * 1024);
    let started = std::time::Instant::now();
    let url = s.catch_url("flood");
    let mut posters = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        let body = body.clone();
        posters.push(tokio::spawn(async move {
            for _ in 0..500 {
                assert_eq!(post(&url, &body).await.status, 200);
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
    let took = started.elapsed();
    assert_eq!(s.requests("flood").len(), 1000, "capped by the bin ring");
    assert_eq!(s.summary().requests, 2000, "all 2,000 captured");
    assert!(took < Duration::from_secs(20), "capture took {took:?}");
    assert_eq!(
        reader.await.unwrap(),
        2000,
        "the healthy viewer got every request"
    );
    // the stalled viewer, once it reads again, is told to resync; a viewer whose socket stayed
    // full for the server's whole send timeout (10 s, on a busy machine) is hung up on instead
    let reading_after = started.elapsed();
    let outcome = loop {
        match tokio::time::timeout(WAIT, stalled.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let m: serde_json::Value = serde_json::from_str(t.as_str()).expect("JSON");
                if m["type"] == "resync" {
                    break "resync";
                }
            }
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break "hung up",
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the stalled viewer was left waiting in silence"),
        }
    };
    if reading_after < Duration::from_secs(9) {
        assert_eq!(outcome, "resync", "read again after {reading_after:?}");
    }
}

#[tokio::test]
async fn a_viewer_sending_a_1_mib_message_is_closed_and_others_keep_receiving() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let s = start().await;
    let mut calm = ws(&s, "").await;
    assert_eq!(next_json(&mut calm, WAIT).await.unwrap()["type"], "hello");
    let mut loud = ws(&s, "").await;
    assert_eq!(next_json(&mut loud, WAIT).await.unwrap()["type"], "hello");
    // the send itself may fail once the server hangs up mid-message
    let _ = loud.send(Message::Text("x".repeat(1 << 20).into())).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match loud.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the oversized viewer");
    post(&s.catch_url("still"), "{}").await;
    assert_eq!(request_ids(&mut calm, 1, WAIT).await, [1]);
}

#[tokio::test]
async fn a_viewer_sending_a_32_kib_message_stays_subscribed() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let s = start().await;
    let mut w = ws(&s, "").await;
    assert_eq!(next_json(&mut w, WAIT).await.unwrap()["type"], "hello");
    // larger than the server's read buffer, within what a viewer may send
    w.send(Message::Text("x".repeat(32 * 1024).into()))
        .await
        .unwrap();
    post(&s.catch_url("after-big"), "{}").await;
    assert_eq!(request_ids(&mut w, 1, WAIT).await, [1]);
}
