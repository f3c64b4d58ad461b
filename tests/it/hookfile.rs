//! `hookpit.toml`: what a file declares reaches the running server (server settings, webhooks,
//! custom events with inline or file samples), every mistake names the file, line and key and
//! stops `serve` with exit 2, flags override the file, and without a file the "Local demo"
//! webhook sends test events to the server's own bin `demo`.

use std::path::Path;
use std::time::Duration;

use hookpit::hookfile;
use hookpit::sign::{self, Secret};
use serde_json::json;

use crate::support::{self, get, post, temp_dir};

fn parse(text: &str) -> Result<hookfile::HookFile, String> {
    hookfile::parse(text, "hookpit.toml", Path::new(".")).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[server]
max_body = "1MiB"
max_requests = 50
header_timeout = 5
allow_host = "hooks.test"

[[bin]]
name = "stripe"
response = { status = 202, body = "ok" }
max_requests = 10

[[event]]
name = "order.shipped"
description = "An order left the warehouse."
sample = { order_id = 42, carrier = "DHL" }

[[event]]
name = "order.returned"
sample_file = "returned.json"

[[webhook]]
name = "shop"
url = "http://127.0.0.1:9/hook"
events = ["order.*", "payment_received"]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
headers = { X-Tenant = "acme" }
timeout = "5s"
retry = { schedule = ["1s", "10s"], time_scale = 0.5 }
format = "envelope"
"#;

#[tokio::test]
async fn a_config_file_declares_server_settings_bins_webhooks_and_events() {
    let dir = temp_dir("cfg");
    std::fs::write(
        dir.join("returned.json"),
        r#"{"order_id": 7, "reason": "size"}"#,
    )
    .unwrap();
    let path = dir.join("hookpit.toml");
    std::fs::write(&path, GOOD).unwrap();
    let f = hookfile::load(&path, "hookpit.toml").expect("valid file");
    assert_eq!(f.server.max_body, Some(1024 * 1024));
    assert_eq!(f.server.max_requests, Some(50));
    assert_eq!(f.server.header_timeout, Some(Duration::from_secs(5)));
    assert_eq!(f.server.allow_host, vec!["hooks.test"]);
    assert_eq!(f.bins.len(), 1);
    assert_eq!(f.bins[0].name, "stripe");
    assert_eq!(f.bins[0].line, 8);
    assert_eq!(
        f.bins[0].config,
        json!({"response": {"body": "ok", "status": 202}, "max_requests": 10})
    );
    assert_eq!(f.events.len(), 2);
    assert_eq!(f.events[1].sample, json!({"order_id": 7, "reason": "size"}));

    let mut c = hookpit::Config::for_tests();
    f.apply(&mut c);
    assert!(
        !c.demo_webhook,
        "a file with webhooks replaces the demo webhook"
    );
    assert_eq!(c.max_body, 1024 * 1024);
    let s = support::start_with(c).await;
    let hooks = get(&format!("{}/_/api/webhooks", s.base_url()))
        .await
        .json();
    let hooks = hooks["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let w = &hooks[0];
    assert_eq!(w["name"], "shop");
    assert_eq!(w["events"], json!(["order.*", "payment_received"]));
    assert_eq!(w["headers"], json!([["X-Tenant", "acme"]]));
    assert_eq!(w["timeout"], "5s");
    assert_eq!(
        w["retry"],
        json!({"schedule": ["1s", "10s"], "time_scale": 0.5})
    );
    assert_eq!(w["format"], "envelope");
    assert_eq!(w["secret"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let ev = get(&format!("{}/_/api/events/order.shipped", s.base_url()))
        .await
        .json();
    assert_eq!(ev["sample"]["carrier"], "DHL");
    assert_eq!(ev["description"], "An order left the warehouse.");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let cases = [
        (
            "[server]\nlisten = \"127.0.0.1:0\"\ncolour = true\n",
            "hookpit.toml:3: server.colour: unknown key",
        ),
        ("[bins]\nname = \"x\"\n", "hookpit.toml:1: bins: unknown key"),
        (
            "[server]\nmax_requests = \"many\"\n",
            "hookpit.toml:2: server.max_requests: expected i64",
        ),
        (
            "[server]\nmax_memory = \"lots\"\n",
            "hookpit.toml:2: server.max_memory: expected a size",
        ),
        (
            "[server]\nlisten = \"localhost\"\n",
            "hookpit.toml:2: server.listen: expected an address",
        ),
        (
            "\n[[webhook]]\nname = \"a\"\nurl = \"ftp://example.com/\"\n",
            "hookpit.toml:4: webhook.url: expected an http or https URL",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nactive = \"yes\"\n",
            "hookpit.toml:4: webhook.active: expected a boolean",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsignature = \"md5\"\n",
            "hookpit.toml:4: webhook.signature: expected standard-webhooks, github, stripe, shopify, slack or none",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nevents = [\"payment_recieved\"]\n",
            "hookpit.toml:4: webhook.events: unknown event `payment_recieved`",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\n\n[webhook.retry]\ntime_scale = -1\n",
            "hookpit.toml:6: webhook.retry.time_scale: expected a number above 0",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsent_count = 3\n",
            "hookpit.toml:4: webhook.sent_count: read-only",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\n[[webhook]]\nname = \"a\"\nurl = \"http://y/\"\n",
            "hookpit.toml:5: webhook.name: webhook `a` is declared twice",
        ),
        (
            "[[event]]\nname = \"x\"\nsample_file = \"missing.json\"\n",
            "hookpit.toml:3: event.sample_file: cannot read",
        ),
        (
            "[[bin]]\nname = \"no spaces\"\n",
            "hookpit.toml:2: bin.name: expected a bin name",
        ),
        (
            "[[bin]]\nname = \"b\"\nrespond = 1\n",
            "hookpit.toml:3: bin.respond: unknown key",
        ),
        (
            "[[bin]]\nname = \"b\"\n\nsequence = [{ status = 500 }, { status = 5000 }]\n",
            "hookpit.toml:4: bin.sequence.status: 5000 is not an HTTP status",
        ),
        (
            "[[bin]]\nname = \"b\"\nfault = { rate = 3.0, status = 500 }\n",
            "hookpit.toml:3: bin.fault.rate: must be a fraction",
        ),
        (
            "[[bin]]\nname = \"b\"\nverify = { scheme = \"md5\", secret = \"k\" }\n",
            "hookpit.toml:3: bin.verify.scheme:",
        ),
    ];
    for (text, want) in cases {
        let got = parse(text).expect_err(text);
        assert!(
            got.starts_with(want),
            "for\n{text}\nwanted `{want}…`, got `{got}`"
        );
    }
}

#[test]
fn serve_with_a_bad_config_file_exits_2_with_one_error_line() {
    let dir = temp_dir("bad");
    let path = dir.join("hooks.toml");
    std::fs::write(&path, "[[webhook]]\nname = \"a\"\nurl = \"mailto:x@y\"\n").unwrap();
    let (code, _, err) = support::run_within(
        std::process::Command::new(support::bin_path())
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .env("NO_COLOR", "1"),
    );
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {}:3: webhook.url: ", path.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn hookpit_toml_in_the_working_directory_is_read_and_flags_override_it() {
    let dir = temp_dir("cwd");
    std::fs::write(
        dir.join("hookpit.toml"),
        "[server]\nlisten = \"127.0.0.1:1\"\nmax_requests = 7\n\n[[webhook]]\nname = \"from-file\"\nurl = \"http://127.0.0.1:9/\"\n",
    )
    .unwrap();
    // the flag wins over the file's listen; the file's webhook is there
    let mut child = std::process::Command::new(support::bin_path())
        .args(["serve", "--listen", "127.0.0.1:0", "--print-json"])
        .current_dir(&dir)
        .env_remove("HOOKPIT_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // keep the pipe open while the server runs: it prints more lines after the first
    let out = support::lines_of(child.stdout.take().unwrap());
    let line = support::next_line(&out);
    let announced: serde_json::Value = serde_json::from_str(&line).expect(&line);
    let base = format!("http://{}", announced["listen"].as_str().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hooks = rt.block_on(get(&format!("{base}/_/api/webhooks"))).json();
    let _ = child.kill();
    let _ = child.wait();
    drop(out);
    let names: Vec<&str> = hooks["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["from-file"]);

    let args = hookpit::cli::ServeArgs {
        config: Some(dir.join("hookpit.toml")),
        max_requests: Some(3),
        ..Default::default()
    };
    let c = args.to_config(None).unwrap();
    assert_eq!(c.listen.port(), 1, "the file's listen without a flag");
    assert_eq!(c.max_requests, 3, "the flag over the file");
    assert_eq!(c.webhooks.len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn without_a_config_file_the_local_demo_webhook_tests_into_the_demo_bin() {
    let s = support::start().await;
    let hooks = get(&format!("{}/_/api/webhooks", s.base_url()))
        .await
        .json();
    let demo = &hooks["webhooks"][0];
    assert_eq!(demo["name"], "Local demo");
    assert_eq!(demo["url"], format!("{}/demo", s.base_url()));
    assert_eq!(demo["events"], json!(["*"]));

    let t = post(
        &format!("{}/_/api/webhooks/Local%20demo/test", s.base_url()),
        "",
    )
    .await
    .json();
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["status"], 200);
    let got = s
        .bin("demo")
        .wait_for("method:POST", Duration::from_secs(5))
        .await
        .expect("the test event lands in bin demo");
    let headers: Vec<(&str, &[u8])> = got.headers.iter().map(|h| (&*h.name, &*h.value)).collect();
    let secret = Secret::parse(demo["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(sign::verify(&secret, &headers, &got.body.bytes, now, 300).is_valid());
    // the demo listens to everything: its first catalog event is payment_received
    assert!(got.json().unwrap()["payment_id"].is_number());
}

#[tokio::test]
async fn bins_declared_in_the_config_file_behave_from_the_first_request() {
    let f = parse(
        "[[bin]]\nname = \"flaky\"\nsequence = [{ status = 503 }]\nresponse = { status = 202, body = \"later\" }\n",
    )
    .expect("valid");
    let mut config = hookpit::Config::for_tests();
    config.bins = f.bins;
    let s = support::start_with(config).await;
    assert_eq!(support::post(&s.catch_url("flaky"), "{}").await.status, 503);
    let second = support::post(&s.catch_url("flaky"), "{}").await;
    assert_eq!((second.status, second.text().as_str()), (202, "later"));
}

mod properties {
    use proptest::prelude::*;

    use super::parse;

    /// Lines a config file is made of, right and wrong, to be shuffled together.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[server]".to_owned()),
            Just("[[bin]]".to_owned()),
            Just("[[webhook]]".to_owned()),
            Just("[[event]]".to_owned()),
            Just("[[bin.rules]]".to_owned()),
            Just("name = \"b\"".to_owned()),
            Just("name = \"no spaces\"".to_owned()),
            Just("max_body = \"1MiB\"".to_owned()),
            Just("max_body = \"lots\"".to_owned()),
            Just("listen = \"127.0.0.1:0\"".to_owned()),
            Just("url = \"http://127.0.0.1:9/h\"".to_owned()),
            Just("events = [\"*\"]".to_owned()),
            Just("match = \"method:GET\"".to_owned()),
            Just("response = { status = 201, body = \"x\" }".to_owned()),
            Just("response = { status = 101 }".to_owned()),
            Just("sequence = [{ status = 500 }, { status = 200 }]".to_owned()),
            Just("headers = [[\"Content-Length\", \"5\"]]".to_owned()),
            Just("fault = { rate = 0.5, status = 503 }".to_owned()),
            Just("sample = { a = 1 }".to_owned()),
            Just("retry = { schedule = [\"1s\"] }".to_owned()),
            Just("key = ".to_owned()),
            Just("\"unterminated".to_owned()),
            Just("a.b.c = 1979-05-27T07:32:00Z".to_owned()),
            Just("x = [1, \"two\", { three = 3 }]".to_owned()),
            Just(String::new()),
            Just("# a comment".to_owned()),
            "[ -~]{0,24}",
            ".{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_text_is_parsed_or_refused_with_a_line_inside_it(
            lines in prop::collection::vec(line(), 0..16),
            newline in prop_oneof![Just("\n"), Just("\r\n")],
        ) {
            let text = lines.join(newline);
            if let Err(e) = parse(&text) {
                let line: usize = e
                    .strip_prefix("hookpit.toml:")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no line in `{e}` for\n{text}"));
                let lines_in_text = text.matches('\n').count() + 1;
                prop_assert!(
                    (1..=lines_in_text).contains(&line),
                    "line {line} of {lines_in_text} in `{e}` for\n{text}"
                );
            }
        }
    }
}
