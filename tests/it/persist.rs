//! `--data-dir`: real restarts of the real binary on real files in a temp dir. A clean stop and
//! a `kill -9` keep what was answered; bins, their behaviour and counts, ids and limits carry
//! over; a directory in use, foreign or damaged is refused and left as it was; a store that
//! cannot write answers captures with an error, never 2xx; `--max-disk` evicts the oldest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::*;

/// Stops a served binary with SIGTERM (a clean stop) and checks it exits 0.
fn stop_cleanly(s: &mut Spawned) {
    // SAFETY: kill only sends a signal to the child's pid.
    let rc = unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = wait_within(&mut s.child);
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
}

/// Kills a served binary outright (`kill -9`).
fn kill_9(s: &mut Spawned) {
    s.child.kill().expect("SIGKILL");
    let _ = wait_within(&mut s.child);
}

fn serve_on(dir: &Path, extra: &[&str]) -> Spawned {
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    spawn_serve(&args)
}

/// `serve --data-dir DIR` that must refuse to start: (exit code, stderr).
fn refused(dir: &Path) -> (i32, String) {
    let (code, _, err) = run_within(
        std::process::Command::new(bin_path())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env_remove("HOOKPIT_CONFIG")
            .env("NO_COLOR", "1"),
    );
    (code, err)
}

/// Every file in a directory with its size and a digest of its bytes, to show it was left as
/// it was.
fn contents(dir: &Path) -> Vec<(PathBuf, usize, String)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            {
                use sha2::Digest;
                let digest: String = sha2::Sha256::digest(&b)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect();
                (p, b.len(), digest)
            }
        })
        .collect();
    v.sort();
    v
}

async fn json_of(url: &str) -> Value {
    let a = get(url).await;
    assert_eq!(a.status, 200, "{url}: {}", a.text());
    a.json()
}

/// The requests of a bin as the API shows them, oldest first.
async fn requests_of(base: &str, bin: &str) -> Vec<Value> {
    let v = json_of(&format!("{base}/_/api/bins/{bin}/requests?limit=1000")).await;
    let mut reqs = v["requests"].as_array().cloned().unwrap_or_default();
    reqs.reverse();
    reqs
}

/// The ids of a bin's requests, oldest first.
async fn ids_of(base: &str, bin: &str) -> Vec<u64> {
    requests_of(base, bin)
        .await
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

/// Sends `n` captures to `bin`, each answered 200; returns their ids.
async fn capture_n(base: &str, bin: &str, n: usize, body: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let a = post(&format!("{base}/{bin}/n{i}"), body).await;
        assert_eq!(a.status, 200, "{}", a.text());
        ids.push(a.json()["id"].as_u64().unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_keeps_every_request_byte_exact_with_its_bins_and_ids() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let base = s.base();
    let addr = s.announced["listen"].as_str().unwrap().parse().unwrap();
    // a bin with a sequence, a bin that checks signatures, and requests with awkward bytes
    let seq = json!({"sequence": [{"status": 201}, {"status": 202}, {"status": 203}]});
    assert_eq!(
        http(
            "PUT",
            &format!("{base}/_/api/bins/seq"),
            &[],
            seq.to_string()
        )
        .await
        .status,
        200
    );
    let verify = json!({"verify": {"scheme": "github", "secret": "It's a Secret to Everybody"}});
    assert_eq!(
        http(
            "PUT",
            &format!("{base}/_/api/bins/gh"),
            &[],
            verify.to_string()
        )
        .await
        .status,
        200
    );
    assert_eq!(post(&format!("{base}/seq"), "{}").await.status, 201);
    let mut raw_req = b"POST /odd/p%20q?a=1&a=2 HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\nX-UPPER: 2\r\nX-Dup: a\r\nx-dup: b\r\nContent-Length: 6\r\n\r\n".to_vec();
    raw_req.extend_from_slice(&[0xff, 0x00, 0xfe, b'\r', b'\n', 0x80]);
    let answer = raw(addr, &raw_req, Duration::from_millis(300)).await;
    assert!(status_lines(&answer)[0].contains("200"), "{answer:?}");
    let signed = http(
        "POST",
        &format!("{base}/gh"),
        &[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )],
        Bytes::from_static(b"Hello, World!"),
    )
    .await;
    assert_eq!(signed.status, 200);
    let plain = capture_n(&base, "plain", 3, r#"{"n":1}"#).await;
    let mut before = Vec::new();
    for bin in ["seq", "odd", "gh", "plain"] {
        before.push((
            bin,
            json_of(&format!("{base}/_/api/bins/{bin}")).await,
            requests_of(&base, bin).await,
        ));
    }
    let odd_id = before[1].2[0]["id"].as_u64().unwrap();
    let odd_body = get(&format!("{base}/_/api/requests/{odd_id}/body"))
        .await
        .body;
    assert_eq!(odd_body.len(), 6);
    let gh = &before[2].2[0];
    assert_eq!(gh["signature"]["valid"], true, "{gh}");
    stop_cleanly(&mut s);

    let s = serve_on(&dir, &[]);
    let base = s.base();
    for (bin, summary, reqs) in &before {
        assert_eq!(
            &json_of(&format!("{base}/_/api/bins/{bin}")).await,
            summary,
            "bin {bin}"
        );
        assert_eq!(&requests_of(&base, bin).await, reqs, "requests of {bin}");
    }
    assert_eq!(
        get(&format!("{base}/_/api/requests/{odd_id}/body"))
            .await
            .body,
        odd_body
    );
    let raw_text = get(&format!("{base}/_/api/requests/{odd_id}/raw"))
        .await
        .body;
    let head = String::from_utf8_lossy(&raw_text);
    assert!(
        head.contains("x-lower: 1\r\nX-UPPER: 2\r\nX-Dup: a\r\nx-dup: b\r\n"),
        "{head}"
    );
    // the sequence goes on where it was, and ids continue above every earlier one
    assert_eq!(post(&format!("{base}/seq"), "{}").await.status, 202);
    let next = capture_n(&base, "plain", 1, "{}").await[0];
    assert!(next > *plain.last().unwrap(), "{next} after {plain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_keeps_every_request_answered_a_second_before() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let base = s.base();
    let ids = capture_n(&base, "k", 300, r#"{"kill":9}"#).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    kill_9(&mut s);
    let mut s = serve_on(&dir, &[]);
    // the banner says where the data lives and what came back
    let out = lines_of(s.stdout.take().unwrap());
    let data = line_containing(&out, "  data ");
    assert!(
        data.contains(dir.to_str().unwrap()) && data.contains("(300 requests kept)"),
        "{data}"
    );
    let kept: Vec<u64> = ids_of(&s.base(), "k").await;
    assert_eq!(kept, ids);
    // what came back is not counted as captured by this run
    capture_n(&s.base(), "k", 1, "{}").await;
    stop_cleanly(&mut s);
    let rest: String = std::iter::from_fn(|| out.recv_timeout(LINE_WAIT).ok()).collect();
    assert!(
        rest.contains("hookpit stopped: 1 request captured, 301 kept"),
        "{rest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_after_a_kill_9_are_above_every_id_answered_before_it_even_unwritten_ones() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    // killed at once: the last answers are not written yet, and their ids were given out
    let mut answered = capture_n(&s.base(), "k", 50, "{}").await;
    kill_9(&mut s);
    let mut s = serve_on(&dir, &[]);
    let next = capture_n(&s.base(), "k", 1, "{}").await[0];
    assert!(next > *answered.last().unwrap(), "{next} given out again");
    answered.push(next);
    // killed again before that one was written: still none given out twice
    kill_9(&mut s);
    let mut s = serve_on(&dir, &[]);
    let after = capture_n(&s.base(), "k", 1, "{}").await[0];
    assert!(after > next, "{after} given out again");
    stop_cleanly(&mut s);
    // a clean stop leaves nothing unwritten: the ids go on one by one
    let s = serve_on(&dir, &[]);
    assert_eq!(capture_n(&s.base(), "k", 1, "{}").await[0], after + 1);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_and_eviction_counts_hold_across_restarts() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &["--max-requests", "5"]);
    let ids = capture_n(&s.base(), "ring", 8, "{}").await;
    stop_cleanly(&mut s);
    // a smaller ring on restart evicts down to it, and counts it
    let mut s = serve_on(&dir, &["--max-requests", "3"]);
    let base = s.base();
    let kept: Vec<u64> = ids_of(&base, "ring").await;
    assert_eq!(kept, ids[5..].to_vec());
    let bin = json_of(&format!("{base}/_/api/bins/ring")).await;
    assert_eq!(bin["evicted"], 5, "{bin}");
    let more = capture_n(&base, "ring", 2, "{}").await;
    stop_cleanly(&mut s);
    let s = serve_on(&dir, &["--max-requests", "3"]);
    let base = s.base();
    let kept: Vec<u64> = ids_of(&base, "ring").await;
    assert_eq!(kept, vec![ids[7], more[0], more[1]]);
    assert_eq!(
        json_of(&format!("{base}/_/api/bins/ring")).await["evicted"],
        7
    );
    let health = json_of(&format!("{base}/_/api/health")).await;
    assert_eq!(health["stats"]["evicted"], 7, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_limits_on_restart_count_each_eviction_once_across_several_bins() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    for bin in ["one", "two", "three"] {
        capture_n(&s.base(), bin, 4, "{}").await;
    }
    stop_cleanly(&mut s);
    // every bin keeps 1 of its 4: 3 evicted from each, 9 in all, on this start and the next
    for round in 0..2 {
        let mut s = serve_on(&dir, &["--max-requests", "1"]);
        let base = s.base();
        for bin in ["one", "two", "three"] {
            let b = json_of(&format!("{base}/_/api/bins/{bin}")).await;
            assert_eq!(
                (b["count"].as_u64(), b["evicted"].as_u64()),
                (Some(1), Some(3)),
                "restart {round}: {b}"
            );
        }
        let health = json_of(&format!("{base}/_/api/health")).await;
        assert_eq!(health["stats"]["evicted"], 9, "restart {round}: {health}");
        stop_cleanly(&mut s);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_lists_the_bins_as_they_were_listed_before_it() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let base = s.base();
    capture_n(&base, "plain", 2, "{}").await;
    let config = json!({"response": {"status": 202}});
    let a = http(
        "PUT",
        &format!("{base}/_/api/bins/set"),
        &[],
        config.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let before = json_of(&format!("{base}/_/api/bins")).await;
    stop_cleanly(&mut s);
    let s = serve_on(&dir, &[]);
    assert_eq!(json_of(&format!("{}/_/api/bins", s.base())).await, before);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The bins a server lists, by name, with their request counts and configs.
async fn bins_of(base: &str) -> Vec<(String, u64, Value)> {
    let v = json_of(&format!("{base}/_/api/bins")).await;
    let mut bins: Vec<_> = v["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let name = b["name"].as_str().unwrap().to_string();
            (name, b["count"].as_u64().unwrap(), b["config"].clone())
        })
        .collect();
    bins.sort_by(|a, b| a.0.cmp(&b.0));
    bins
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_max_bins_on_restart_evicts_once_and_keeps_the_rest_with_their_config() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let base = s.base();
    let config = json!({"response": {"status": 201}});
    let a = http(
        "PUT",
        &format!("{base}/_/api/bins/kept"),
        &[],
        config.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(post(&format!("{base}/kept"), "{}").await.status, 201);
    for bin in ["a", "b", "c", "d", "e"] {
        capture_n(&base, bin, 1, "{}").await;
    }
    stop_cleanly(&mut s);
    // three of six bins fit: the least recently used plain ones go, counted once
    let expect = vec![
        ("d".to_string(), 1, json!({})),
        ("e".to_string(), 1, json!({})),
        ("kept".to_string(), 1, config.clone()),
    ];
    for round in 0..2 {
        let mut s = serve_on(&dir, &["--max-bins", "3"]);
        let base = s.base();
        assert_eq!(bins_of(&base).await, expect, "restart {round}");
        let health = json_of(&format!("{base}/_/api/health")).await;
        assert_eq!(
            health["stats"]["evicted_bins"], 3,
            "restart {round}: {health}"
        );
        assert_eq!(health["stats"]["evicted"], 3, "restart {round}: {health}");
        stop_cleanly(&mut s);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_requests_and_bins_stay_deleted_after_a_restart() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let base = s.base();
    let a = capture_n(&base, "keep", 3, r#"{"kept":"KEPT-MARKER-1f2e"}"#).await;
    let secret = r#"{"token":"GONE-MARKER-9c8b"}"#;
    capture_n(&base, "gone", 2, secret).await;
    capture_n(&base, "cleared", 2, secret).await;
    let deleted_one = capture_n(&base, "keep", 1, secret).await[0];
    assert_eq!(
        delete(&format!("{base}/_/api/requests/{deleted_one}"))
            .await
            .status,
        200
    );
    assert_eq!(
        delete(&format!("{base}/_/api/requests/{}", a[1]))
            .await
            .status,
        200
    );
    assert_eq!(delete(&format!("{base}/_/api/bins/gone")).await.status, 200);
    assert_eq!(
        delete(&format!("{base}/_/api/bins/cleared/requests"))
            .await
            .status,
        200
    );
    stop_cleanly(&mut s);
    let s = serve_on(&dir, &[]);
    let base = s.base();
    let kept: Vec<u64> = ids_of(&base, "keep").await;
    assert_eq!(kept, vec![a[0], a[2]]);
    assert_eq!(get(&format!("{base}/_/api/bins/gone")).await.status, 404);
    assert!(requests_of(&base, "cleared").await.is_empty());
    drop(s);
    // what was deleted is gone from the files too, not just hidden
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        files.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    let has = |m: &str| files.windows(m.len()).any(|w| w == m.as_bytes());
    assert!(has("KEPT-MARKER-1f2e"), "the scan finds what is kept");
    assert!(
        !has("GONE-MARKER-9c8b"),
        "deleted bytes are still in the files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_resumes_feeds_waits_and_exports_on_restored_requests() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let ids = capture_n(&s.base(), "feed", 4, r#"{"x":1}"#).await;
    stop_cleanly(&mut s);
    let s = serve_on(&dir, &[]);
    let base = s.base();
    // a viewer that saw the first one before the restart gets the other three, in order
    let url = format!(
        "ws://{}/_/ws?bin=feed&after={}",
        s.announced["listen"].as_str().unwrap(),
        ids[0]
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    assert_eq!(
        request_ids(&mut ws, 3, Duration::from_secs(5)).await,
        ids[1..].to_vec()
    );
    // a wait counts restored requests as already there
    let w = json_of(&format!(
        "{base}/_/api/bins/feed/wait?count=4&timeout=2s&q=json:/x=1"
    ))
    .await;
    assert_eq!(w["requests"].as_array().map(Vec::len), Some(4), "{w}");
    let export = get(&format!("{base}/_/api/bins/feed/export?format=ndjson")).await;
    assert_eq!(export.status, 200);
    let exported: Vec<u64> = String::from_utf8_lossy(&export.body)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = exported.clone();
    sorted.sort();
    assert_eq!(sorted, ids);
}

#[test]
fn a_second_server_on_a_directory_in_use_is_refused_naming_it() {
    let dir = temp_dir("persist");
    let _first = serve_on(&dir, &[]);
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains(dir.to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn a_directory_of_other_files_is_refused_and_left_as_it_was() {
    let dir = temp_dir("persist");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let before = contents(&dir);
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("not a hookpit store"),
        "{err}"
    );
    assert_eq!(contents(&dir), before, "nothing written, nothing removed");
    // git's placeholders are not in the way: a directory kept in a repository for its captures
    let kept = temp_dir("persist");
    std::fs::write(kept.join(".gitkeep"), "").unwrap();
    std::fs::write(kept.join(".gitignore"), "hookpit.*\n").unwrap();
    drop(serve_on(&kept, &[]));
    assert!(kept.join("hookpit.db").exists());
    assert_eq!(
        std::fs::read(kept.join(".gitignore")).unwrap(),
        b"hookpit.*\n"
    );
}

#[test]
fn a_data_dir_that_is_a_file_is_refused_as_not_a_directory_and_left_as_it_was() {
    let dir = temp_dir("persist");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.txt");
    std::fs::write(&file, b"mine").unwrap();
    let (code, err) = refused(&file);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}: not a directory; --data-dir names a directory",
            file.display()
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_store_file_that_is_a_symbolic_link_is_refused_and_what_it_names_left_as_it_was() {
    // a link to another directory's store: two hookpits would write one store, each under its
    // own directory's lock
    let real = temp_dir("persist");
    let mut s = serve_on(&real, &[]);
    post_blocking(&s.base(), "/b", "{}");
    stop_cleanly(&mut s);
    let before = contents(&real);
    let dir = temp_dir("persist");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(real.join("hookpit.db"), dir.join("hookpit.db")).unwrap();
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains(&*dir.join("hookpit.db").to_string_lossy()),
        "{err}"
    );
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(contents(&real), before);
    // a link to nothing: no file is made where it points
    let nowhere = real.join("elsewhere.db");
    std::fs::remove_file(dir.join("hookpit.db")).unwrap();
    std::os::unix::fs::symlink(&nowhere, dir.join("hookpit.db")).unwrap();
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(!nowhere.exists());
    for d in [real, dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_foreign_damaged_or_newer_store_is_refused_and_left_as_it_was() {
    // not SQLite at all
    let dir = temp_dir("persist");
    std::fs::write(dir.join("hookpit.db"), b"not a database, just bytes").unwrap();
    let before = contents(&dir);
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("hookpit.db") && err.contains("not a hookpit store"),
        "{err}"
    );
    assert_eq!(contents(&dir), before);

    // another program's SQLite database
    let dir = temp_dir("persist");
    let db = rusqlite::Connection::open(dir.join("hookpit.db")).unwrap();
    db.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(db);
    let before = contents(&dir);
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another program"), "{err}");
    assert_eq!(contents(&dir), before);

    // a store written by a newer hookpit
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    post_blocking(&s.base(), "/b", "{}");
    stop_cleanly(&mut s);
    let db = rusqlite::Connection::open(dir.join("hookpit.db")).unwrap();
    db.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(db);
    let before = contents(&dir);
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("newer hookpit") && err.contains("99"), "{err}");
    assert_eq!(contents(&dir), before);

    // a damaged store: its pages overwritten in the middle
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    for i in 0..200 {
        post_blocking(&s.base(), &format!("/b/{i}"), &"x".repeat(2000));
    }
    stop_cleanly(&mut s);
    let path = dir.join("hookpit.db");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    assert!(len > 64 * 1024, "{len}");
    for b in &mut bytes[len / 3..len / 3 + 40_000] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let before = contents(&dir);
    let (code, err) = refused(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("hookpit.db") && err.contains("damaged"),
        "{err}"
    );
    assert_eq!(contents(&dir), before);
}

fn post_blocking(base: &str, path: &str, body: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = rt.block_on(post(&format!("{base}{path}"), body));
    assert_eq!(a.status, 200, "{}", a.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_killed_while_creating_the_store_leaves_a_directory_that_starts() {
    let dir = temp_dir("persist");
    std::fs::create_dir_all(&dir).unwrap();
    // what a start killed halfway through creating its store leaves: the store's first page
    // and the rollback journal of the transaction that was making its tables
    let mut s = serve_on(&dir, &[]);
    stop_cleanly(&mut s);
    let whole = std::fs::read(dir.join("hookpit.db")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in [
        ("hookpit.db-new", &whole[..16384]),
        ("hookpit.db-new-journal", &[0u8; 512][..]),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let mut s = serve_on(&dir, &[]);
    let ids = capture_n(&s.base(), "after", 2, "{}").await;
    stop_cleanly(&mut s);
    let s = serve_on(&dir, &[]);
    let kept: Vec<u64> = ids_of(&s.base(), "after").await;
    assert_eq!(kept, ids);
    drop(s);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        !names.iter().any(|n| n.starts_with("hookpit.db-new")),
        "{names:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_answers_captures_with_an_error_never_2xx() {
    let dir = temp_dir("persist");
    let mut config = hookpit::Config::for_tests();
    config.data_dir = Some(dir.clone());
    let server = start_with(config.clone()).await;
    let base = server.base_url();
    capture_n(&base, "full", 2, "{}").await;
    server.disk().expect("a disk").flush_now();
    // the disk fills: the database may not grow past the pages it has
    server.disk().unwrap().simulate_full_disk(true);
    let big = "y".repeat(100_000);
    let mut answered = Vec::new();
    let mut refusal = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while refusal.is_none() {
        assert!(std::time::Instant::now() < deadline, "never refused");
        let a = post(&format!("{base}/full"), &big).await;
        match a.status {
            200 => answered.push(a.json()["id"].as_u64().unwrap()),
            _ => refusal = Some(a),
        }
    }
    let refusal = refusal.unwrap();
    assert_eq!(refusal.status, 507, "{}", refusal.text());
    let e = refusal.json();
    assert_eq!(e["error"]["code"], "store_unavailable", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("full"),
        "{e}"
    );
    let health = get(&format!("{base}/_/api/health")).await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["store"]["ok"], false);
    // a sender still pushing a large body reads the refusal, not a reset
    let (refused, next) =
        refused_then_next(&server, "POST /full HTTP/1.1\r\nHost: a\r\n", 4 << 20, 0).await;
    assert_eq!(refused, ["HTTP/1.1 507 Insufficient Storage"]);
    assert_eq!(next, ["HTTP/1.1 507 Insufficient Storage"]);
    // space comes back: captures resume by themselves
    server.disk().unwrap().simulate_full_disk(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = get(&format!("{base}/_/api/health")).await;
        if h.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    answered.extend(capture_n(&base, "full", 1, "{}").await);
    let _ = server.shutdown().await;
    // every request answered 2xx is there after a restart, and nothing refused is
    let server = start_with(config).await;
    let kept: Vec<u64> = server.bin("full").requests().iter().map(|r| r.id).collect();
    assert_eq!(kept.len(), answered.len() + 2);
    assert_eq!(kept[2..].to_vec(), answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_disk_evicts_the_oldest_requests_and_counts_them() {
    let dir = temp_dir("persist");
    let s = serve_on(&dir, &["--max-disk", "2MiB"]);
    let base = s.base();
    let body = "z".repeat(50_000);
    let ids = capture_n(&base, "disk", 120, &body).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let health = loop {
        let h = json_of(&format!("{base}/_/api/health")).await;
        let used = h["store"]["used_bytes"].as_u64().unwrap();
        // eviction follows the writer's measurement: at most a batch late
        if used <= 2 * 1024 * 1024 + 256 * 1024 {
            break h;
        }
        assert!(std::time::Instant::now() < deadline, "never within: {h}");
        // the store evicts for the disk when it next records
        capture_n(&base, "tick", 1, "{}").await;
    };
    assert!(
        health["stats"]["evicted"].as_u64().unwrap() > 60,
        "{health}"
    );
    let kept = requests_of(&base, "disk").await;
    // the oldest went first
    assert_eq!(
        kept.last().unwrap()["id"].as_u64().unwrap(),
        *ids.last().unwrap()
    );
    assert!(kept.len() < 60, "{}", kept.len());
}

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn send_json(method: &str, url: &str, body: Value) -> Answer {
    http(
        method,
        url,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

/// Polls a delivery until `done` holds for it (fails the test after `within`).
async fn delivery_until(
    base: &str,
    id: u64,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let d = json_of(&format!("{base}/_/api/deliveries/{id}")).await;
        if done(&d) {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivery never got there: {d}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_made_at_run_time_the_delivery_log_and_pending_retries_survive_a_restart() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &[]);
    let base = s.base();
    let down = closed_port();
    let made = send_json(
        "POST",
        &format!("{base}/_/api/webhooks"),
        json!({"name": "later", "url": format!("http://{down}/hook"), "events": ["payment_received"],
               "retry": {"schedule": ["1s", "30s"]}}),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let hook = made.json();
    let gone = send_json(
        "POST",
        &format!("{base}/_/api/webhooks"),
        json!({"name": "gone", "url": format!("http://{down}/x"), "events": ["payment_received"]}),
    )
    .await
    .json();
    let gone_id = gone["id"].as_u64().unwrap();
    assert_eq!(
        delete(&format!("{base}/_/api/webhooks/{gone_id}"))
            .await
            .status,
        200
    );
    let fired = send_json(
        "POST",
        &format!("{base}/_/api/events/payment_received"),
        json!({"amount": 5}),
    )
    .await;
    assert!(fired.status < 300, "{}", fired.text());
    let mut delivery = None;
    for d in fired.json()["deliveries"].as_array().unwrap() {
        let id = d.as_u64().unwrap();
        // the demo webhook may take the event too: ours is the one to our webhook
        if json_of(&format!("{base}/_/api/deliveries/{id}")).await["webhook_id"] == hook["id"] {
            delivery = Some(id);
        }
    }
    let delivery = delivery.expect("a delivery to our webhook");
    let ours = |d: &Value| d["webhook_id"] == hook["id"];
    let first = delivery_until(&base, delivery, Duration::from_secs(10), |d| {
        d["attempts"].as_array().is_some_and(|a| a.len() == 1) && d["next_attempt_at"].is_string()
    })
    .await;
    assert!(ours(&first), "{first}");
    let hooks_before = json_of(&format!("{base}/_/api/webhooks/{}", hook["id"])).await;
    stop_cleanly(&mut s);

    let s = serve_on(&dir, &[]);
    let base = s.base();
    assert_eq!(
        json_of(&format!("{base}/_/api/webhooks/{}", hook["id"])).await,
        hooks_before,
        "the run-time webhook is back as it was"
    );
    assert_eq!(
        get(&format!("{base}/_/api/webhooks/{gone_id}"))
            .await
            .status,
        404,
        "a deleted webhook stays deleted"
    );
    // the retry is made on schedule by the restarted server, not before its time
    let second = delivery_until(&base, delivery, Duration::from_secs(10), |d| {
        d["attempts"].as_array().is_some_and(|a| a.len() >= 2)
    })
    .await;
    assert_eq!(second["attempts"][0], first["attempts"][0]);
    let due = first["next_attempt_at"].as_str().unwrap();
    let at = second["attempts"][1]["at"].as_str().unwrap();
    let t = |s: &str| humantime::parse_rfc3339_weak(s).unwrap();
    assert!(t(at) >= t(due), "retried at {at}, due {due}");
    // new ids continue above every earlier one
    let again = send_json(
        "POST",
        &format!("{base}/_/api/webhooks"),
        json!({"name": "new", "url": format!("http://{down}/y"), "events": ["payment_received"]}),
    )
    .await
    .json();
    assert!(again["id"].as_u64().unwrap() > gone_id, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_cannot_keep_up_has_captures_answered_503_until_it_catches_up() {
    let dir = temp_dir("persist");
    let mut config = hookpit::Config::for_tests();
    config.data_dir = Some(dir.clone());
    // what waits to be written may reach a quarter of this (at least 16 MiB)
    config.max_memory = 64 * 1024 * 1024;
    // every answered capture stays (none evicted), so the restart can show them all
    config.max_requests = 100_000;
    let server = start_with(config.clone()).await;
    let base = server.base_url();
    let disk = server.disk().expect("a disk");
    let mut answered = Vec::new();
    // bytes: 16 MiB of large bodies waiting are refused at once, however young
    disk.simulate_slow_disk(true);
    let big = "s".repeat(256 * 1024);
    let mut refusal = None;
    for _ in 0..400 {
        let a = post(&format!("{base}/slow"), &big).await;
        if a.status == 200 {
            answered.push(a.json()["id"].as_u64().unwrap());
        } else {
            refusal = Some(a);
            break;
        }
    }
    let refusal = refusal.expect("refused once 16 MiB wait to be written");
    assert_eq!(refusal.status, 503, "{}", refusal.text());
    assert_eq!(refusal.header("retry-after"), Some("1"));
    assert_eq!(refusal.json()["error"]["code"], "busy");
    assert!(answered.len() <= 80, "{}", answered.len());
    assert_eq!(get(&format!("{base}/_/api/health")).await.status, 503);
    let caught_up = |base: String| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while get(&format!("{base}/_/api/health")).await.status != 200 {
            assert!(std::time::Instant::now() < deadline, "never caught up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    disk.simulate_slow_disk(false);
    caught_up(base.clone()).await;
    // time: small captures waiting half a second are enough, so a kill loses little
    disk.simulate_slow_disk(true);
    let held = std::time::Instant::now();
    loop {
        let a = post(&format!("{base}/slow"), "{}").await;
        if a.status == 503 {
            break;
        }
        assert_eq!(a.status, 200);
        answered.push(a.json()["id"].as_u64().unwrap());
        assert!(
            held.elapsed() < Duration::from_secs(5),
            "small captures never refused"
        );
    }
    assert!(
        held.elapsed() >= Duration::from_millis(450),
        "{:?}",
        held.elapsed()
    );
    disk.simulate_slow_disk(false);
    caught_up(base.clone()).await;
    answered.extend(capture_n(&base, "slow", 1, "{}").await);
    let _ = server.shutdown().await;
    let server = start_with(config).await;
    let kept: Vec<u64> = server.bin("slow").requests().iter().map(|r| r.id).collect();
    assert_eq!(kept, answered, "everything answered 2xx, nothing refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_ring_under_a_burst_leaves_exactly_its_requests_on_disk() {
    let dir = temp_dir("persist");
    let mut s = serve_on(&dir, &["--max-requests", "2"]);
    let base = s.base();
    // many captures within one write batch: most are recorded and evicted before it is written
    let sends = (0..60).map(|i| {
        let url = format!("{base}/burst/{i}");
        async move { post(&url, "{}").await }
    });
    let answers = futures_util::future::join_all(sends).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let mut ids: Vec<u64> = answers
        .iter()
        .map(|a| a.json()["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    stop_cleanly(&mut s);
    let db = rusqlite::Connection::open_with_flags(
        dir.join("hookpit.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let rows: Vec<i64> = db
        .prepare("SELECT id FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let evicted: i64 = db
        .query_row("SELECT evicted FROM bins WHERE name = 'burst'", [], |r| {
            r.get(0)
        })
        .unwrap();
    drop(db);
    assert_eq!(rows, vec![ids[58] as i64, ids[59] as i64]);
    assert_eq!(evicted, 58);
    let s = serve_on(&dir, &["--max-requests", "2"]);
    let bin = json_of(&format!("{}/_/api/bins/burst", s.base())).await;
    assert_eq!(
        (bin["count"].as_u64(), bin["evicted"].as_u64()),
        (Some(2), Some(58))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_bin_keeps_its_sequence_position_across_a_restart() {
    let dir = temp_dir("persist");
    let file = dir.join("hookpit.toml");
    std::fs::write(
        &file,
        "[server]\ndata_dir = \"store\"\n\n[[bin]]\nname = \"seqf\"\nsequence = [{ status = 201 }, { status = 202 }, { status = 203 }]\n",
    )
    .unwrap();
    let args = ["--config", file.to_str().unwrap()];
    let mut s = spawn_serve(&args);
    assert_eq!(post(&format!("{}/seqf", s.base()), "{}").await.status, 201);
    stop_cleanly(&mut s);
    assert!(
        dir.join("store").join("hookpit.db").exists(),
        "data_dir is relative to the file"
    );
    let mut s = spawn_serve(&args);
    assert_eq!(post(&format!("{}/seqf", s.base()), "{}").await.status, 202);
    stop_cleanly(&mut s);
    // a changed declaration starts its sequence over
    std::fs::write(
        &file,
        "[server]\ndata_dir = \"store\"\n\n[[bin]]\nname = \"seqf\"\nsequence = [{ status = 204 }, { status = 205 }]\n",
    )
    .unwrap();
    let s = spawn_serve(&args);
    assert_eq!(post(&format!("{}/seqf", s.base()), "{}").await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_bin_config_that_no_longer_applies_is_kept_without_it_and_warned_of() {
    let dir = temp_dir("persist");
    let mut config = hookpit::Config::for_tests();
    config.data_dir = Some(dir.clone());
    let server = start_with(config.clone()).await;
    capture_n(&server.base_url(), "old", 1, "{}").await;
    let _ = server.shutdown().await;
    // as if an older hookpit had accepted a config this one refuses
    let db = rusqlite::Connection::open(dir.join("hookpit.db")).unwrap();
    db.execute(
        "UPDATE bins SET config = '{\"response\":{\"status\":99}}' WHERE name = 'old'",
        [],
    )
    .unwrap();
    drop(db);
    let server = start_with(config).await;
    assert_eq!(server.warnings().len(), 1, "{:?}", server.warnings());
    assert!(
        server.warnings()[0].starts_with("bin old: its stored config no longer applies"),
        "{:?}",
        server.warnings()
    );
    assert_eq!(server.bin("old").requests().len(), 1);
    let bin = json_of(&format!("{}/_/api/bins/old", server.base_url())).await;
    assert_eq!(bin["config"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_disk_is_still_full_says_what_could_not_be_written() {
    let dir = temp_dir("persist");
    let mut config = hookpit::Config::for_tests();
    config.data_dir = Some(dir.clone());
    let server = start_with(config).await;
    let base = server.base_url();
    server.disk().expect("a disk").simulate_full_disk(true);
    let big = "f".repeat(100_000);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut answered = 0;
    loop {
        let a = post(&format!("{base}/full"), &big).await;
        if a.status != 200 {
            assert_eq!(a.status, 507, "{}", a.text());
            break;
        }
        answered += 1;
        assert!(std::time::Instant::now() < deadline, "never refused");
    }
    assert!(
        answered > 0,
        "some were answered before the disk was found full"
    );
    let summary = server.shutdown().await;
    let lost = summary
        .unwritten
        .expect("the stop says what it could not keep");
    assert!(
        lost.contains(dir.to_str().unwrap()) && lost.contains("could not be written"),
        "{lost}"
    );
}

#[test]
fn max_disk_needs_a_data_dir_and_room_for_a_store() {
    let dir = temp_dir("persist");
    let run = |args: &[&str]| {
        run_within(
            std::process::Command::new(bin_path())
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(args)
                .env_remove("HOOKPIT_CONFIG")
                .env("NO_COLOR", "1"),
        )
    };
    let (code, _, err) = run(&["--max-disk", "2MiB"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: --max-disk: needs --data-dir"),
        "{err}"
    );
    let (code, _, err) = run(&["--data-dir", dir.to_str().unwrap(), "--max-disk", "1KiB"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-disk: must be at least 1MiB"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );
    // the same in a config file
    let file = temp_dir("persist").join("hookpit.toml");
    std::fs::write(&file, "[server]\nmax_disk = \"5MiB\"\n").unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max_disk: needs a data directory"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_ahead_log_from_another_store_is_refused_not_replayed() {
    let a = temp_dir("persist");
    let mut s = serve_on(&a, &[]);
    capture_n(&s.base(), "mine", 5, "{}").await;
    stop_cleanly(&mut s);
    // another store killed with unwritten-through pages in its log
    let b = temp_dir("persist");
    let mut s = serve_on(&b, &[]);
    capture_n(&s.base(), "theirs", 20, "{}").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill_9(&mut s);
    let wal = b.join("hookpit.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "B left a log");
    std::fs::copy(&wal, a.join("hookpit.db-wal")).unwrap();
    let before = contents(&a);
    let (code, err) = refused(&a);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("hookpit.db-wal") && err.contains("closed without"),
        "{err}"
    );
    assert_eq!(contents(&a), before, "left as it was");
    // B's own log is B's: it starts with everything answered
    let s = serve_on(&b, &[]);
    assert_eq!(requests_of(&s.base(), "theirs").await.len(), 20);
}
