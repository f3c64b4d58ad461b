//! Exports loaded back (issue 12): `POST /_/api/bins/{bin}/import` and `hookpit import BIN FILE`
//! take an NDJSON export or a HAR log; the requests come back byte-exact (as far as the format
//! carries them) with new ids, into the same server or a fresh one, seen by waits and viewers
//! like captures; bad files are refused whole, naming the line; large ones get 413.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookpit::{CapturedRequest, Config, ServerHandle};

use crate::support::*;

const QUIET: Duration = Duration::from_millis(300);

/// The test servers' `--max-body`: small, so a truncated capture is cheap.
const MAX_BODY: usize = 4096;

async fn server() -> ServerHandle {
    start_with(Config {
        max_body: MAX_BODY,
        ..Config::for_tests()
    })
    .await
}

fn api(s: &ServerHandle, path: &str) -> String {
    format!("{}/_/api/{path}", s.base_url())
}

async fn import(s: &ServerHandle, bin: &str, file: impl Into<Bytes>) -> Answer {
    http(
        "POST",
        &api(s, &format!("bins/{bin}/import")),
        &[("content-type", "application/x-ndjson")],
        file,
    )
    .await
}

async fn export(s: &ServerHandle, bin: &str, format: &str) -> Bytes {
    let a = get(&api(s, &format!("bins/{bin}/export?format={format}"))).await;
    assert_eq!(a.status, 200, "{}", a.text());
    a.body
}

/// Captures awkward requests into bin `src` of `s` (which checks signatures and forwards each
/// to `app`): a binary body under mixed-case duplicate headers with a value that is not UTF-8,
/// a Latin-1 body over HTTP/1.0, an empty body with an unusual header order, a body cut at
/// `--max-body`. Returns them oldest first.
async fn capture_awkward(s: &ServerHandle, app: &ServerHandle) -> Vec<Arc<CapturedRequest>> {
    let a = http(
        "PUT",
        &api(app, "bins/app"),
        &[],
        r#"{"response": {"status": 201, "headers": [["X-App", "yes"], ["x-app", "again"]], "body": "created"}}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let config = serde_json::json!({
        "verify": {"scheme": "standard-webhooks", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        "forward": {"url": app.catch_url("app"), "mode": "passthrough"},
    });
    let a = http("PUT", &api(s, "bins/src"), &[], config.to_string()).await;
    assert_eq!(a.status, 200, "{}", a.text());

    let binary: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let mut first = format!(
        "POST /src/a%20b?x=1&x=2&y=%20z&flag HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Dup: 1\r\ncontent-TYPE: application/octet-stream\r\nx-dup: @@\r\nX-DUP: 3\r\nContent-Length: {}\r\n\r\n",
        binary.len()
    )
    .into_bytes();
    // a header value that is not UTF-8
    let at = first.windows(2).position(|w| w == b"@@").unwrap();
    first.splice(at..at + 2, [0xff, 0xfe]);
    first.extend_from_slice(&binary);
    let latin1 = b"PUT /src/latin HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Length: 5\r\n\r\ncaf\xe9!".to_vec();
    let empty = b"GET /src?only=query&empty= HTTP/1.1\r\nAccept: */*\r\nX-Last-First: z\r\nHost: 127.0.0.1\r\n\r\n".to_vec();
    let mut cut = format!(
        "POST /src/cut HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        MAX_BODY + 100
    )
    .into_bytes();
    cut.extend(std::iter::repeat_n(b'c', MAX_BODY + 100));
    for (n, bytes) in [first, latin1, empty, cut].into_iter().enumerate() {
        let out = raw(s.addr(), &bytes, QUIET).await;
        assert!(
            !status_lines(&out).is_empty(),
            "request {n} was answered: {}",
            String::from_utf8_lossy(&out)
        );
    }
    let mut reqs = s.requests("src");
    reqs.sort_by_key(|r| r.id);
    assert_eq!(reqs.len(), 4);
    assert_eq!(&reqs[0].headers[3].value[..], b"\xff\xfe");
    assert!(reqs[0].signature.is_some() && reqs[0].forward.is_some());
    assert!(reqs[3].body.truncated);
    reqs
}

/// A time as exports write it: to the microsecond (SPEC §3).
fn to_micros(t: std::time::SystemTime) -> std::time::SystemTime {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap();
    std::time::UNIX_EPOCH + Duration::from_micros(since.as_micros() as u64)
}

/// Asserts that `copy` is `orig` in every field but its id and bin, its time to the
/// microsecond.
fn same_but_id_and_bin(copy: &CapturedRequest, orig: &CapturedRequest, bin: &str) {
    assert_eq!(copy.bin, bin);
    let mut want = orig.clone();
    want.id = copy.id;
    want.bin = bin.to_owned();
    want.received_at = to_micros(orig.received_at);
    assert_eq!(copy, &want, "request {} imported as {}", orig.id, copy.id);
}

/// The imported requests of `bin`, in id order, after checking the answer's ids: new ones, in
/// the file's order, above every id the server had given.
async fn imported(
    s: &ServerHandle,
    bin: &str,
    answer: &Answer,
    n: u64,
) -> Vec<Arc<CapturedRequest>> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let v = answer.json();
    assert_eq!(v["imported"], n);
    let first = v["first_id"].as_u64().unwrap();
    let last = v["last_id"].as_u64().unwrap();
    assert_eq!(last - first + 1, n, "{v}");
    let mut reqs = s.requests(bin);
    reqs.sort_by_key(|r| r.id);
    let ids: Vec<u64> = reqs.iter().map(|r| r.id).collect();
    assert_eq!(ids, (first..=last).collect::<Vec<_>>());
    reqs
}

#[tokio::test]
async fn an_ndjson_export_imports_byte_exact_into_another_bin_and_a_fresh_server() {
    let (s, app) = (server().await, server().await);
    let orig = capture_awkward(&s, &app).await;
    let file = export(&s, "src", "ndjson").await;

    let a = import(&s, "copy", file.clone()).await;
    let copies = imported(&s, "copy", &a, 4).await;
    assert!(
        copies[0].id > orig[3].id,
        "new ids are above every earlier one"
    );
    for (c, o) in copies.iter().zip(&orig) {
        same_but_id_and_bin(c, o, "copy");
    }
    // what the API serves of a copy is what it serves of the original
    for (c, o) in copies.iter().zip(&orig) {
        for what in ["body", "raw"] {
            let want = get(&api(&s, &format!("requests/{}/{what}", o.id))).await;
            let got = get(&api(&s, &format!("requests/{}/{what}", c.id))).await;
            assert_eq!(got.body, want.body, "{what} of {}", o.id);
        }
    }

    let fresh = server().await;
    let a = import(&fresh, "src", file).await;
    let copies = imported(&fresh, "src", &a, 4).await;
    assert_eq!(
        copies[0].id, 1,
        "a fresh server numbers from its own sequence"
    );
    for (c, o) in copies.iter().zip(&orig) {
        same_but_id_and_bin(c, o, "src");
    }
    // its export is the original's but for ids
    let again = export(&fresh, "src", "ndjson").await;
    let strip = |b: &Bytes| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(b)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    };
    assert_eq!(strip(&again), strip(&export(&s, "src", "ndjson").await));
}

#[tokio::test]
async fn a_har_export_imports_what_har_carries() {
    let (s, app) = (server().await, server().await);
    let orig = capture_awkward(&s, &app).await;
    let file = export(&s, "src", "har").await;
    let fresh = server().await;
    let a = import(&fresh, "har", file).await;
    let copies = imported(&fresh, "har", &a, 4).await;
    for (c, o) in copies.iter().zip(&orig) {
        assert_eq!(c.bin, "har");
        assert_eq!(c.method, o.method);
        assert_eq!(c.target, o.target);
        assert_eq!((c.path(), c.query_vec()), (o.path(), o.query_vec()));
        assert_eq!(c.version, o.version);
        assert_eq!(c.received_at, to_micros(o.received_at));
        assert_eq!(c.remote_addr, o.remote_addr);
        assert_eq!(c.body.bytes, o.body.bytes, "request {}", o.id);
        let names = |r: &CapturedRequest| -> Vec<String> {
            r.headers.iter().map(|h| h.name.to_string()).collect()
        };
        assert_eq!(names(c), names(o));
        assert_eq!(c.response.status, o.response.status);
        assert_eq!(c.response.headers, o.response.headers);
        assert_eq!(c.response.body.bytes, o.response.body.bytes);
        assert_eq!(c.response.delay_ms, o.response.delay_ms);
    }
    // header values that are UTF-8 come back exact
    assert_eq!(copies[1].headers, orig[1].headers);
    assert_eq!(copies[2].headers, orig[2].headers);
    // What HAR cannot carry: a header value that is not UTF-8 (HAR values are text; it comes
    // back with U+FFFD), the truncated flag, the head/body timings, the signature verdict and
    // the forward result (HAR has no fields for them), and whether a target was `*` or an
    // authority rather than a path.
    assert_eq!(
        &copies[0].headers[3].value[..],
        "\u{fffd}\u{fffd}".as_bytes()
    );
    assert!(orig[3].body.truncated && !copies[3].body.truncated);
    assert!(copies
        .iter()
        .all(|c| c.signature.is_none() && c.forward.is_none()));
}

#[tokio::test]
async fn a_file_with_a_bad_line_3_is_refused_naming_it_and_nothing_is_imported() {
    let s = server().await;
    post(&s.catch_url("src/1"), "one").await;
    post(&s.catch_url("src/2"), "two").await;
    let mut file = export(&s, "src", "ndjson").await.to_vec();
    file.extend_from_slice(b"{\"id\": 3, \"bin\": \"src\", \"method\": \"POST\"}\n");
    file.extend_from_slice(&export(&s, "src", "ndjson").await);
    let before = s.store().stats().last_id;
    let a = import(&s, "bad", file).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "bad_parameter");
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("import: line 3, column "), "{msg}");
    assert!(msg.contains("missing field"), "{msg}");
    assert!(s.requests("bad").is_empty());
    assert_eq!(get(&api(&s, "bins/bad")).await.status, 404);
    assert_eq!(s.store().stats().last_id, before);
    // a HAR entry is named by its number
    let a = import(&s, "bad", r#"{"log": {"entries": [{"request": {}}]}}"#).await;
    assert_eq!(a.status, 400);
    assert!(a
        .text()
        .contains("HAR entry 1 (log.entries[0]): request.method is missing"));
    // a bin name that is not one is refused as by every bin route
    let a = import(&s, "-nope", "").await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["error"]["message"],
        get(&api(&s, "bins/-nope")).await.json()["error"]["message"]
    );
    assert_eq!(get(&api(&s, "bins/x/import")).await.status, 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_past_a_quarter_of_max_memory_is_refused_with_413_naming_the_limit() {
    let s = start_with(Config {
        max_memory: 1024 * 1024,
        ..Config::for_tests()
    })
    .await;
    let limit = 256 * 1024;
    let line = format!("{}\n", " ".repeat(1023));
    let a = import(&s, "big", line.repeat(limit / 1024 + 1)).await;
    assert_eq!(a.status, 413, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "payload_too_large");
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains(&format!("({limit} bytes, a quarter of --max-memory)")),
        "{msg}"
    );
    // a body without a declared length is cut off at the limit too
    let mut chunked = format!(
        "POST /_/api/bins/big/import HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.addr()
    )
    .into_bytes();
    for _ in 0..(limit / 1024 + 8) {
        chunked.extend_from_slice(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let out = raw(s.addr(), &chunked, QUIET).await;
    assert_eq!(
        status_lines(&out),
        ["HTTP/1.1 413 Payload Too Large"],
        "{}",
        String::from_utf8_lossy(&out)
    );
    // the verb shows the server's refusal on its one error line, whatever the file's size
    let dir = temp_dir("import-big");
    let big = dir.join("big.ndjson");
    std::fs::write(&big, line.repeat(8 * limit / 1024)).unwrap();
    let (base, path) = (s.base_url(), big.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&base, &["import", "big", path.to_str().unwrap()])
    })
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err,
        format!("error: an import file may be at most 256.0KiB ({limit} bytes, a quarter of --max-memory)\n")
    );
    // at the limit it is read (blank lines: nothing to import)
    let a = import(&s, "big", line.repeat(limit / 1024)).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.json(),
        serde_json::json!({"imported": 0, "first_id": null, "last_id": null})
    );
    assert!(s.requests("big").is_empty());
}

#[tokio::test]
async fn an_import_is_seen_by_a_wait_registered_before_it_and_by_a_viewer() {
    let s = server().await;
    post(&s.catch_url("from/1"), r#"{"n":1}"#).await;
    post(&s.catch_url("from/2"), r#"{"n":2}"#).await;
    let file = export(&s, "from", "ndjson").await;

    let url = api(&s, "bins/to/wait?count=2&timeout=10s");
    let waiter = tokio::spawn(async move { get(&url).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.store().pending_waits() < 1 {
        assert!(std::time::Instant::now() < deadline, "the wait registered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut viewer = ws(&s, "?bin=to").await;
    let hello = next_json(&mut viewer, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello["type"], "hello");

    let a = import(&s, "to", file).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let (first, last) = (
        a.json()["first_id"].as_u64().unwrap(),
        a.json()["last_id"].as_u64().unwrap(),
    );
    let w = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait ended")
        .unwrap();
    assert_eq!(w.status, 200, "{}", w.text());
    let ids: Vec<u64> = w.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [first, last]);
    assert_eq!(w.json()["requests"][1]["body"]["text"], r#"{"n":2}"#);
    assert_eq!(
        request_ids(&mut viewer, 2, Duration::from_secs(5)).await,
        [first, last]
    );
}

/// Runs `hookpit ARGS` against `base` with `stdin` fed in; returns (exit code, stdout, stderr).
fn run_cli_with_stdin(base: &str, args: &[&str], stdin: Vec<u8>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(bin_path())
        .args(args)
        .env("HOOKPIT_SERVER", base)
        .env("NO_COLOR", "1")
        .env_remove("HOOKPIT_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hookpit");
    let mut input = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = all_of(child.stdout.take().unwrap());
    let err = all_of(child.stderr.take().unwrap());
    let status = wait_within(&mut child);
    let text = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        String::from_utf8_lossy(&rx.recv_timeout(LINE_WAIT).expect("output")).into_owned()
    };
    (status.code().unwrap_or(-1), text(out), text(err))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_import_verb_reads_a_file_or_stdin_and_exits_2_naming_a_bad_line() {
    let (s, app) = (server().await, server().await);
    let orig = capture_awkward(&s, &app).await;
    let dir = temp_dir("import-cli");
    let ndjson = dir.join("src.ndjson");
    let har = dir.join("src.har");
    let base = s.base_url();
    let (b, n, h) = (base.clone(), ndjson.clone(), har.clone());
    let exported = tokio::task::spawn_blocking(move || {
        let n = n.to_str().unwrap();
        let h = h.to_str().unwrap();
        (
            run_cli(&b, &["export", "src", "--format", "ndjson", "-o", n]),
            run_cli(&b, &["export", "src", "-o", h]),
        )
    })
    .await
    .unwrap();
    assert_eq!((exported.0 .0, exported.1 .0), (0, 0), "{exported:?}");

    let (b, n) = (base.clone(), ndjson.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&b, &["import", "fromfile", n.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let copies = s.requests("fromfile");
    let (lo, hi) = (
        copies.iter().map(|r| r.id).min().unwrap(),
        copies.iter().map(|r| r.id).max().unwrap(),
    );
    assert_eq!(
        out,
        format!("imported 4 requests into fromfile (ids {lo}–{hi})\n")
    );
    let mut copies = copies;
    copies.sort_by_key(|r| r.id);
    for (c, o) in copies.iter().zip(&orig) {
        same_but_id_and_bin(c, o, "fromfile");
    }

    let (b, file) = (base.clone(), std::fs::read(&ndjson).unwrap());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli_with_stdin(&b, &["import", "fromstdin", "-", "--json"], file)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["imported"], 4);
    let mut copies = s.requests("fromstdin");
    copies.sort_by_key(|r| r.id);
    assert_eq!(v["first_id"], copies[0].id);
    for (c, o) in copies.iter().zip(&orig) {
        same_but_id_and_bin(c, o, "fromstdin");
    }

    let (b, h) = (base.clone(), har.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli(&b, &["import", "fromhar", h.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("imported 4 requests into fromhar (ids "),
        "{out}"
    );

    let mut bad = std::fs::read(&ndjson).unwrap();
    let lines: Vec<&[u8]> = bad.split(|b| *b == b'\n').collect();
    let mut spoiled = [lines[0], lines[1], b"{\"id\": oops}", lines[3]].join(&b'\n');
    spoiled.push(b'\n');
    bad = spoiled;
    let b = base.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_cli_with_stdin(&b, &["import", "spoiled", "-"], bad)
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: import: line 3, column 8: "),
        "{err}"
    );
    assert!(s.requests("spoiled").is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The requests of a bin as the API shows them, oldest first.
async fn requests_json(base: &str, bin: &str) -> Vec<serde_json::Value> {
    let a = get(&format!("{base}/_/api/bins/{bin}/requests?limit=1000")).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let mut reqs = a.json()["requests"].as_array().cloned().unwrap();
    reqs.reverse();
    reqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_data_dir_is_there_after_a_restart() {
    let (s, app) = (server().await, server().await);
    let orig = capture_awkward(&s, &app).await;
    let file = export(&s, "src", "ndjson").await;
    let dir = temp_dir("import");
    let served = |dir: &std::path::Path| spawn_serve(&["--data-dir", dir.to_str().unwrap()]);

    let mut first = served(&dir);
    let base = first.base();
    let (b, f) = (base.clone(), file.to_vec());
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run_cli_with_stdin(&b, &["import", "kept", "-"], f))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let before = requests_json(&base, "kept").await;
    assert_eq!(before.len(), 4);
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(
        unsafe { libc::kill(first.child.id() as i32, libc::SIGTERM) },
        0
    );
    assert_eq!(
        wait_within(&mut first.child).code(),
        Some(0),
        "a clean stop"
    );

    let second = served(&dir);
    let after = requests_json(&second.base(), "kept").await;
    assert_eq!(after, before);
    let body = get(&format!(
        "{}/_/api/requests/{}/body",
        second.base(),
        after[0]["id"]
    ))
    .await;
    assert_eq!(body.body, orig[0].body.bytes);
    drop(second);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_while_the_data_dir_cannot_write_is_refused_not_answered_2xx() {
    let src = server().await;
    post(&format!("{}/src", src.base_url()), "{\"n\":1}").await;
    let file = export(&src, "src", "ndjson").await;
    let dir = temp_dir("import");
    let mut config = Config::for_tests();
    config.data_dir = Some(dir.clone());
    let s = start_with(config.clone()).await;
    let base = s.base_url();
    post(&format!("{base}/full"), "{}").await;
    s.disk().expect("a disk").flush_now();
    // the disk fills: captures are refused once the store knows it
    s.disk().unwrap().simulate_full_disk(true);
    let big = "y".repeat(100_000);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while post(&format!("{base}/full"), &big).await.status == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "captures never refused"
        );
    }
    let a = import(&s, "imp", file).await;
    assert_eq!(a.status, 507, "{}", a.text());
    assert_eq!(
        a.json()["error"]["code"],
        "store_unavailable",
        "{}",
        a.text()
    );
    assert!(s.requests("imp").is_empty());
    s.disk().unwrap().simulate_full_disk(false);
    let _ = s.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_files_are_received_one_at_a_time_so_their_bytes_never_pile_up() {
    use tokio::io::AsyncWriteExt;
    let s = server().await;
    let line = |n: u32| {
        format!(
            "{{\"id\":{n},\"bin\":\"x\",\"received_at\":\"2026-01-01T00:00:00Z\",\"method\":\"POST\",\"target\":\"/x\",\"path\":\"/x\",\"query\":[],\"version\":\"HTTP/1.1\",\"remote_addr\":\"127.0.0.1:1\",\"headers\":[],\"body\":{{\"size\":0,\"truncated\":false}},\"response\":{{\"status\":200}}}}\n"
        )
    };
    // The second file may reach the server before the first one's head has been read; then it
    // rightly goes first, and the attempt proves nothing. A server that takes both at once
    // finishes the second early in every attempt.
    let mut held = false;
    for attempt in 0..5 {
        let (one, two) = (format!("one{attempt}"), format!("two{attempt}"));
        // the first file arrives slowly: its first half now, the rest later
        let first = line(1);
        let mut slow = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
        let head = format!(
            "POST /_/api/bins/{one}/import HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            s.addr(),
            first.len()
        );
        slow.write_all(head.as_bytes()).await.unwrap();
        let (a, b) = first.as_bytes().split_at(first.len() / 2);
        slow.write_all(a).await.unwrap();
        // a second file waits for the first to be received
        let url = api(&s, &format!("bins/{two}/import"));
        let second = tokio::spawn(async move { post(&url, &line(2)).await });
        let waiting = tokio::time::timeout(Duration::from_millis(300), async {
            while !second.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        held = waiting.is_err();
        slow.write_all(b).await.unwrap();
        let answer = read_until_quiet(&mut slow, Duration::from_secs(2)).await;
        assert!(
            status_lines(&answer)[0].contains("200"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second file is taken once the first is in")
            .unwrap();
        assert_eq!(second.status, 200, "{}", second.text());
        assert_eq!(
            s.bin(&one).requests().len() + s.bin(&two).requests().len(),
            2
        );
        if held {
            break;
        }
    }
    assert!(
        held,
        "in every attempt the second file was taken while the first was arriving"
    );
}
