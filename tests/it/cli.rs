//! The real binary: `serve` announces its address and stops cleanly on SIGTERM, a port in use is
//! one clear error, and the client verbs (ls, show, clear, tail, wait, export, replay) print what
//! users and scripts expect with exit codes 0/1/2, colour only when asked.

use std::time::Duration;

use crate::support::*;

/// Polls the server's health until `ready` holds for it (fails the test after 5 s): the
/// observable that a wait or a `tail` has registered, instead of a sleep.
fn until_health(base: &str, what: &str, ready: impl Fn(&serde_json::Value) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (up, health) = health_of(base);
        if up && ready(&health) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what} never showed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn health_of(base: &str) -> (bool, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = rt.block_on(get(&format!("{base}/_/api/health")));
    (a.status == 200, a.json())
}

fn post_sync(base: &str, path: &str, body: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { post(&format!("{base}{path}"), body).await });
}

#[test]
fn serve_announces_its_addresses_and_stops_cleanly_on_sigterm() {
    let mut s = spawn_serve(&[]);
    let a = &s.announced;
    let listen = a["listen"].as_str().unwrap();
    assert!(listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"));
    assert_eq!(a["viewer"], format!("http://{listen}/_/"));
    assert_eq!(a["api"], format!("http://{listen}/_/api"));
    assert!(a["catch"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{listen}/")));
    let out = lines_of(s.stdout.take().unwrap());
    let banner: String = (0..4).map(|_| next_line(&out) + "\n").collect();
    assert!(
        banner.contains("viewer") && banner.contains("catch") && banner.contains("api"),
        "{banner}"
    );
    post_sync(&s.base(), "/x", "{}");
    let pid = s.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_within(&mut s.child);
    assert_eq!(status.code(), Some(0));
    let rest: String = std::iter::from_fn(|| out.recv_timeout(LINE_WAIT).ok()).collect();
    assert!(rest.contains("1 request captured"), "{rest}");
}

#[test]
fn a_port_in_use_is_one_clear_error_suggesting_listen() {
    let s = spawn_serve(&[]);
    let out = output_within(
        std::process::Command::new(bin_path())
            .args(["--listen", s.announced["listen"].as_str().unwrap()])
            .env("NO_COLOR", "1"),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot listen on") && err.contains("--listen"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_usage_errors_with_exit_2() {
    let out = output_within(std::process::Command::new(bin_path()).args(["--max-body", "lots"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-body"));
    let out = output_within(std::process::Command::new(bin_path()).args(["frobnicate"]));
    assert_eq!(out.status.code(), Some(2));
    let out =
        output_within(std::process::Command::new(bin_path()).env("HOOKPIT_MAX_REQUESTS", "zero"));
    assert_eq!(out.status.code(), Some(2), "env twins are parsed too");
}

#[test]
fn ls_show_and_clear_print_for_people_and_for_scripts() {
    let s = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/cli/a", r#"{"hello":"world"}"#);
    post_sync(&base, "/cli/b", "{}");
    let (code, out, _) = run_cli(&base, &["ls"]);
    assert_eq!(code, 0);
    assert!(out.contains("cli") && out.contains('2'), "{out}");
    assert!(!out.contains('\u{1b}'), "NO_COLOR: no escape codes");
    let (code, out, _) = run_cli(&base, &["ls", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bins"][0]["count"], 2);
    let (code, out, _) = run_cli(&base, &["ls", "cli", "--match", "path:/cli/a", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["count"], 1);
    let (code, _, _) = run_cli(&base, &["ls", "cli", "--match", "path:/nothing"]);
    assert_eq!(code, 1, "an empty filtered listing is 'not matched'");
    let (code, out, _) = run_cli(&base, &["show", "latest"]);
    assert_eq!(code, 0);
    assert!(out.contains("POST") && out.contains("/cli/b"), "{out}");
    let (code, out, _) = run_cli(&base, &["show", "1", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["body"]["text"],
        r#"{"hello":"world"}"#
    );
    let (code, out, _) = run_cli(&base, &["show", "1", "--raw"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("POST /cli/a HTTP/1.1\r\n") && out.ends_with("{\"hello\":\"world\"}\n")
    );
    let (code, _, err) = run_cli(&base, &["show", "99"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error:") && err.contains("not found"),
        "{err}"
    );
    let (code, out, _) = run_cli(&base, &["--color", "always", "ls", "cli"]);
    assert_eq!(code, 0);
    assert!(out.contains('\u{1b}'), "--color always colours");
    let (code, out, _) = run_cli(&base, &["clear", "cli"]);
    assert_eq!(code, 0);
    assert!(out.contains("cleared 2 requests"), "{out}");
}

#[test]
fn a_client_command_without_a_server_says_how_to_start_one() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = run_cli(&format!("http://{dead}"), &["ls"]);
    assert_eq!(code, 2);
    assert!(err.contains("is hookpit running"), "{err}");
}

#[test]
fn wait_exits_0_on_a_match_1_on_timeout_and_2_on_a_bad_filter() {
    let s = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/wb/x", r#"{"event":"paid"}"#);
    let (code, out, _) = run_cli(
        &base,
        &[
            "wait",
            "--bin",
            "wb",
            "--match",
            "json:/event=paid",
            "--timeout",
            "2s",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.contains("/wb/x"), "{out}");
    let (code, out, _) = run_cli(
        &base,
        &[
            "wait",
            "--bin",
            "wb",
            "--match",
            "json:/event=paid",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["requests"][0]["id"],
        1
    );
    let (code, _, err) = run_cli(
        &base,
        &[
            "wait",
            "--bin",
            "wb",
            "--match",
            "json:/event=refund",
            "--timeout",
            "300ms",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("timed out") && err.contains("failed: json:/event=refund"),
        "{err}"
    );
    let (code, _, err) = run_cli(&base, &["wait", "--bin", "wb", "--match", "nokey:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("nokey"), "{err}");
    // a match that arrives while the CLI waits
    let waiter = std::thread::spawn({
        let base = base.clone();
        move || {
            run_cli(
                &base,
                &["wait", "--bin", "later", "--count", "2", "--timeout", "10s"],
            )
        }
    });
    until_health(&base, "the CLI's wait", |h| h["pending_waits"] == 1);
    post_sync(&base, "/later", "{}");
    post_sync(&base, "/later", "{}");
    assert_eq!(waiter.join().unwrap().0, 0);
}

#[test]
fn export_and_replay_work_from_the_command_line() {
    let s = spawn_serve(&[]);
    let other = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/exp/1", r#"{"a":1}"#);
    let (code, out, _) = run_cli(&base, &["export", "exp", "--format", "ndjson"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);
    let (code, out, _) = run_cli(&base, &["export", "exp"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["log"]["version"],
        "1.2"
    );
    let to = format!("{}/replayed", other.base());
    let (code, out, _) = run_cli(&base, &["replay", "1", "--to", &to]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("200"), "{out}");
    let (code, out, _) = run_cli(&other.base(), &["ls", "replayed", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["count"],
        1
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, out, _) = run_cli(&base, &["replay", "1", "--to", &format!("http://{dead}/")]);
    assert_eq!(
        code, 1,
        "a refused connection is a failed outcome, not a crash"
    );
    assert!(out.to_lowercase().contains("refused"), "{out}");
}

#[test]
fn tail_prints_one_line_per_request_and_json_lines_with_json() {
    let s = spawn_serve(&[]);
    let base = s.base();
    let mut tail = std::process::Command::new(bin_path())
        .args(["tail", "--json", "--bin", "tl"])
        .env("HOOKPIT_SERVER", &base)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(tail.stdout.take().unwrap());
    until_health(&base, "tail's subscription", |h| h["subscribers"] == 1);
    post_sync(&base, "/other", "{}");
    post_sync(&base, "/tl/one", r#"{"k":"v"}"#);
    let line = next_line(&out);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["target"], "/tl/one");
    assert_eq!(v["body"]["text"], r#"{"k":"v"}"#);
    let _ = tail.kill();
    let _ = tail.wait();
    // the server has let go of the first tail, so the next count of 1 is the second one
    until_health(&base, "the first tail gone", |h| h["subscribers"] == 0);

    let mut tail = std::process::Command::new(bin_path())
        .args(["tail", "-v"])
        .env("HOOKPIT_SERVER", &base)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(tail.stdout.take().unwrap());
    until_health(&base, "tail's subscription", |h| h["subscribers"] == 1);
    post_sync(&base, "/tl/two", r#"{"k":"v"}"#);
    let mut text = String::new();
    for _ in 0..3 {
        text.push_str(&next_line(&out));
    }
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        text.contains("tl")
            && text.contains("POST")
            && text.contains("/tl/two")
            && text.contains("200"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("host:"),
        "-v shows headers: {text}"
    );
}

#[test]
fn tail_reconnects_by_itself_when_the_server_restarts_and_misses_nothing_new() {
    let first = spawn_serve(&[]);
    let listen = first.announced["listen"].as_str().unwrap().to_owned();
    let base = first.base();
    let mut tail = std::process::Command::new(bin_path())
        .args(["tail", "--json"])
        .env("HOOKPIT_SERVER", &base)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(tail.stdout.take().unwrap());
    let said = lines_of(tail.stderr.take().unwrap());
    until_health(&base, "tail's subscription", |h| h["subscribers"] == 1);
    post_sync(&base, "/before/restart", "{}");
    let line = next_line(&out);
    assert!(line.contains("/before/restart"), "{line}");
    drop(first); // killed: the server is gone
                 // tail noticed: it is the server coming back that tail must find, not one that never left
    line_containing(&said, "connection lost");
    let second = spawn_serve_at(&listen, &[]);
    // the new server's ids start again at 1: tail must not skip them as already seen
    // tail reconnects by itself; only then can it see the new request
    until_health(&second.base(), "tail's new subscription", |h| {
        h["subscribers"] == 1
    });
    line_containing(&said, "reconnected");
    post_sync(&second.base(), "/after/restart", "{}");
    let line = next_line(&out);
    let _ = tail.kill();
    let _ = tail.wait();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["target"], "/after/restart");
    assert_eq!(v["id"], 1);
}

/// Runs the binary with its stdout read for a few bytes, then closed, as `| head -c 16` would.
fn run_into_closed_pipe(server: &str, args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(bin_path())
        .args(args)
        .env("HOOKPIT_SERVER", server)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 16];
        // the pipe closes when this thread ends, after 16 bytes
        let _ = tx.send(stdout.read_exact(&mut first).is_ok());
    });
    let read = rx.recv_timeout(LINE_WAIT).expect("16 bytes of output");
    assert!(read, "the command printed fewer than 16 bytes");
    let err = all_of(child.stderr.take().unwrap());
    let code = wait_within(&mut child).code();
    let err = err.recv_timeout(LINE_WAIT).expect("the command's stderr");
    (code, String::from_utf8_lossy(&err).into_owned())
}

#[test]
fn a_closed_output_pipe_ends_every_printing_command_quietly_with_exit_0() {
    let s = spawn_serve(&[]);
    let base = s.base();
    // enough output that the command is still writing when the reader goes away
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(60_000));
    for _ in 0..40 {
        post_sync(&base, "/piped/e", &body);
    }
    for args in [
        &["export", "piped", "--format", "ndjson"][..],
        &["ls", "piped", "--limit", "40", "--json"][..],
        &["show", "latest", "--bin", "piped", "--raw"][..],
        &["events"][..],
    ] {
        let (code, err) = run_into_closed_pipe(&base, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?} printed: {err}");
    }
}

#[test]
fn filter_values_may_start_with_a_hyphen_in_every_filtering_command() {
    let s = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/hy/e", "{\"a\":1}");
    let (code, out, err) = run_cli(&base, &["ls", "hy", "--match", "-header:X-Nope", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["count"],
        1
    );
    let (code, _, err) = run_cli(
        &base,
        &[
            "wait",
            "--bin",
            "hy",
            "-m",
            "-method:GET",
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_cli(&base, &["clear", "hy", "--match", "-method:POST"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cleared 0"), "{out}");
    let (code, _, err) = run_cli(&base, &["export", "hy", "--match", "-method:GET"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_missing_bin_or_request_is_not_found_with_exit_1_naming_it() {
    let s = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/here/e", "{}");
    let (code, out, err) = run_cli(&base, &["ls", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(err.trim(), "error: bin nope not found");
    let (code, _, err) = run_cli(&base, &["bin", "show", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "error: bin nope not found");
    let (code, _, err) = run_cli(&base, &["show", "latest", "--bin", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "error: bin nope not found");
    let (code, _, err) = run_cli(&base, &["show", "999"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "error: request 999 not found");
    // an empty list of an existing bin is not an error
    run_cli(&base, &["clear", "here"]);
    let (code, out, err) = run_cli(&base, &["ls", "here"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn a_mistyped_event_name_is_answered_with_the_nearest_names() {
    let s = spawn_serve(&[]);
    let (code, _, err) = run_cli(&s.base(), &["send", "payment_recieved"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("did you mean payment_received?"), "{err}");
    assert!(err.contains("payment_recieved"), "{err}");
}

#[test]
fn messages_say_each_thing_once() {
    let s = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/ci/e", "{\"a\":2}");
    let (code, _, err) = run_cli(
        &base,
        &[
            "wait",
            "--bin",
            "ci",
            "-m",
            "json:/a=1",
            "--timeout",
            "300ms",
        ],
    );
    assert_eq!(code, 1);
    let first = err.lines().next().unwrap_or_default();
    assert_eq!(first.matches("timed out").count(), 1, "{err}");
    // and the closest miss says what was found
    assert!(err.contains("json:/a=1: found 2"), "{err}");
    // a wait on an empty bin says so once, and a zero timeout reads as a duration
    let (code, _, err) = run_cli(&base, &["wait", "--bin", "empty", "--timeout", "0"]);
    assert_eq!(code, 1);
    assert_eq!(err.matches("no other request").count(), 1, "{err}");
    assert!(err.contains("timed out after 0ms"), "{err}");
    // a port in use: the reason appears once
    let out = output_within(
        std::process::Command::new(bin_path())
            .args(["--listen", s.announced["listen"].as_str().unwrap()])
            .env("NO_COLOR", "1"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("in use").count(), 1, "{err}");
    // a bad secret says what a good one looks like, not what the decoder tripped on
    let out = output_within(
        std::process::Command::new(bin_path())
            .args(["sign", "--secret", "notasecret"])
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`whsec_`") && !err.contains("symbol"), "{err}");
}

#[test]
fn help_names_environment_variables_without_their_values_and_output_is_tidy() {
    let out = output_within(
        std::process::Command::new(bin_path())
            .args(["serve", "--help"])
            .env_remove("HOOKPIT_SERVER"),
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[env: HOOKPIT_LISTEN]"), "{help}");
    assert!(!help.contains("="), "{help}");
    // each verb shows only the flags that apply to it
    assert!(
        !help.contains("--server") && help.contains("--token"),
        "{help}"
    );
    let help_of = |verb: &str| {
        let out = output_within(std::process::Command::new(bin_path()).args([verb, "--help"]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sign = help_of("sign");
    assert!(
        !sign.contains("--server") && !sign.contains("--token"),
        "{sign}"
    );
    let ls = help_of("ls");
    assert!(ls.contains("--server") && ls.contains("--token"), "{ls}");
    let s = spawn_serve(&[]);
    let base = s.base();
    // `events` lines up its columns: every description starts at the same column
    let (_, json, _) = run_cli(&base, &["events", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (code, out, _) = run_cli(&base, &["events"]);
    assert_eq!(code, 0);
    let starts: std::collections::BTreeSet<Option<usize>> = out
        .lines()
        .zip(events["events"].as_array().unwrap())
        .map(|(line, e)| line.find(e["description"].as_str().unwrap()))
        .collect();
    assert!(out.lines().count() > 10, "{out}");
    assert_eq!(starts.len(), 1, "{out}");
    assert!(!starts.contains(&None), "{out}");
    // `show --raw` ends with a newline
    post_sync(&base, "/raw/e", "no newline at the end");
    let (code, out, _) = run_cli(&base, &["show", "latest", "--bin", "raw", "--raw"]);
    assert_eq!(code, 0);
    assert!(out.ends_with("no newline at the end\n"), "{out:?}");
}

#[test]
fn completions_and_the_manual_page_come_from_the_same_definitions() {
    for (shell, mark) in [
        ("bash", "_hookpit()"),
        ("zsh", "#compdef hookpit"),
        ("fish", "complete -c hookpit"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out =
            output_within(std::process::Command::new(bin_path()).args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(mark), "{shell}: {text}");
        assert!(text.contains("wait") && text.contains("match"), "{shell}");
    }
    let out = output_within(std::process::Command::new(bin_path()).arg("man"));
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH hookpit 1"),
        "{page}"
    );
    assert!(
        page.contains("wait") && page.contains("completions"),
        "{page}"
    );
    let out = output_within(std::process::Command::new(bin_path()).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn show_decodes_a_body_in_its_declared_legacy_charset() {
    let s = spawn_serve(&[]);
    let base = s.base();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        http(
            "POST",
            &format!("{base}/latin/e"),
            &[("Content-Type", "text/plain; charset=iso-8859-1")],
            &b"na\xefve caf\xe9"[..],
        )
        .await
    });
    let (code, out, _) = run_cli(&base, &["show", "latest", "--bin", "latin"]);
    assert_eq!(code, 0);
    assert!(out.contains("naïve café"), "{out}");
    assert!(!out.contains("binary"), "{out}");
}

#[test]
fn wait_new_ignores_an_old_match_and_a_timeout_without_a_filter_names_none() {
    let s = spawn_serve(&[]);
    let base = s.base();
    post_sync(&base, "/ci/e", "{\"a\":2}");
    let (code, _, err) = run_cli(
        &base,
        &["wait", "--bin", "ci", "--new", "--timeout", "300ms"],
    );
    assert_eq!(code, 1, "an old request must not count: {err}");
    // with no filter the message does not speak of one
    let (code, _, err) = run_cli(&base, &["wait", "--bin", "empty", "--timeout", "200ms"]);
    assert_eq!(code, 1);
    let first = err.lines().next().unwrap_or_default();
    assert!(!first.contains("matching"), "{err}");
    assert!(first.contains("in bin `empty`"), "{err}");
}
