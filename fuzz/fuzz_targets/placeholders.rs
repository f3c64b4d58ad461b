//! Placeholders (`{{body}}`, `{{json:/a/b}}`, `{{header:X}}`…): any template rendered against any
//! request body never panics, and the rendered body stays within the render bound.

#![no_main]

use bytes::Bytes;
use hookpit::model::{Body, CapturedRequest, Header};
use hookpit::rules::{BinConfig, Progress, ResponseSpec, MAX_RENDER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // the template, a NUL, then the request body
    let (template, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(template) = std::str::from_utf8(template) else {
        return;
    };
    let config = BinConfig {
        response: Some(ResponseSpec {
            body: Some(serde_json::Value::String(template.to_owned())),
            ..ResponseSpec::default()
        }),
        ..BinConfig::default()
    };
    let Ok(rules) = config.compile() else {
        return;
    };
    let r = CapturedRequest {
        id: 1,
        bin: "b".into(),
        received_at: std::time::SystemTime::UNIX_EPOCH,
        timings: Default::default(),
        method: "POST".into(),
        target: "/b/x?k=v".into(),
        path: "/b/x".into(),
        query: vec![("k".into(), "v".into())],
        version: "HTTP/1.1".into(),
        remote_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        headers: vec![Header::new(
            "X-A",
            body.get(..body.len().min(64)).unwrap_or_default(),
        )],
        body: Body::new(Bytes::copy_from_slice(body), false),
        response: Default::default(),
        signature: None,
        forward: None,
    };
    let d = rules.decide(&r, &mut Progress::default(), Default::default);
    let bound = MAX_RENDER.max(template.len() + body.len() + 64 * 1024);
    assert!(d.response.body.bytes.len() <= bound);
});
