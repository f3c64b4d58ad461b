//! The providers' own verification libraries as a test oracle: [`official_verify`] checks
//! requests with Stripe's Node SDK, `@octokit/webhooks-methods`, `@shopify/shopify-api`, Python's
//! `slack_sdk` and the `standardwebhooks` npm and PyPI packages, run by the scripts in
//! `tests/verifiers/` from the libraries installed (pinned) under `target/verifiers/`
//! (`node_modules/` by `npm ci`, `python/` by `pip install --target`; `.ci/run` installs them).
//! The tests here prove the oracle: what `hookpit::sign` signs passes, a flipped body byte is
//! refused. Uses `support` for the child-process limits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use hookpit::sign;

use crate::support::{all_of, wait_within, LINE_WAIT};

/// One request to check with a provider's official library.
pub struct Case {
    pub scheme: String,
    pub secret: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Checks every case with the official library of its scheme (stripe: Stripe's Node SDK
/// `webhooks.constructEvent`; github: `@octokit/webhooks-methods` `verify`; shopify:
/// `@shopify/shopify-api` `webhooks.validate`; slack: Python `slack_sdk` `SignatureVerifier`;
/// standard-webhooks: the `standardwebhooks` npm and PyPI packages). `Some(results)` in the same
/// order (`Err` says why the library refused); `None` when the libraries are not installed,
/// after printing a loud skip line to stderr — but under `CI=true` a missing library panics.
pub fn official_verify(cases: &[Case]) -> Option<Vec<Result<(), String>>> {
    let dir = verifiers_dir();
    if let Some(missing) = missing_libraries(&dir) {
        let why = format!(
            "the official webhook verifiers are not installed ({missing}); install them with \
             `npm ci --prefix target/verifiers` (after copying tests/verifiers/package*.json \
             there) and `pip install --target target/verifiers/python -r \
             tests/verifiers/requirements.txt`, as .ci/run does"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why} (CI=true requires them)");
        }
        // straight to the process's stderr, past the test harness's capture: a skip is loud
        let _ = writeln!(std::io::stderr(), "SKIPPED official verification: {why}");
        return None;
    }
    let input = cases_json(cases);
    // the Node script imports its packages from the node_modules beside it
    let script = dir.join("verify.mjs");
    std::fs::copy(source_dir().join("verify.mjs"), &script).expect("copy verify.mjs");
    let node = run_script(Command::new("node").arg(&script).current_dir(&dir), &input);
    let python = run_script(
        Command::new("python3")
            .arg(source_dir().join("verify.py"))
            .env("PYTHONPATH", dir.join("python"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        &input,
    );
    assert_eq!(node.len(), cases.len(), "one Node result per case");
    assert_eq!(python.len(), cases.len(), "one Python result per case");
    let results = cases
        .iter()
        .zip(node.iter().zip(&python))
        .map(|(case, (n, p))| {
            let outcomes = [("node", n), ("python", p)];
            let mut checked = 0;
            let mut refusals = Vec::new();
            for (language, v) in outcomes {
                if v["skipped"] == true {
                    continue;
                }
                checked += 1;
                if v["ok"] != true {
                    refusals.push(format!(
                        "{language}: {}",
                        v["error"].as_str().unwrap_or("?")
                    ));
                }
            }
            if checked == 0 {
                Err(format!("no official verifier for scheme `{}`", case.scheme))
            } else if refusals.is_empty() {
                Ok(())
            } else {
                Err(refusals.join("; "))
            }
        })
        .collect();
    Some(results)
}

/// Where the verifier scripts live in the source tree.
fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verifiers")
}

/// Where the pinned libraries are installed.
fn verifiers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/verifiers")
}

/// What is missing for the harness to run, or `None` when everything is there.
fn missing_libraries(dir: &Path) -> Option<String> {
    let needed = [
        "node_modules/stripe/package.json",
        "node_modules/@octokit/webhooks-methods/package.json",
        "node_modules/@shopify/shopify-api/package.json",
        "node_modules/standardwebhooks/package.json",
        "python/slack_sdk/__init__.py",
        "python/standardwebhooks/__init__.py",
    ];
    let mut missing: Vec<String> = needed
        .iter()
        .filter(|p| !dir.join(p).exists())
        .map(|p| format!("target/verifiers/{p}"))
        .collect();
    for program in ["node", "python3"] {
        let runs = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !runs {
            missing.push(format!("the `{program}` command"));
        }
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// The cases as the scripts read them: bodies in base64, headers as pairs.
fn cases_json(cases: &[Case]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "scheme": c.scheme,
                "secret": c.secret,
                "headers": c.headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
                "body_base64": base64::engine::general_purpose::STANDARD.encode(&c.body),
            })
        })
        .collect();
    serde_json::to_vec(&list).expect("cases serialise")
}

/// Runs one verifier script with `input` on stdin; its one line of output, a JSON array.
fn run_script(cmd: &mut Command, input: &[u8]) -> Vec<serde_json::Value> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let out = all_of(child.stdout.take().expect("stdout"));
    let err = all_of(child.stderr.take().expect("stderr"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let status = wait_within(&mut child);
    let _ = writer.join();
    let out = out.recv_timeout(LINE_WAIT).expect("the script's stdout");
    let err = err.recv_timeout(LINE_WAIT).expect("the script's stderr");
    assert!(
        status.success(),
        "{shown} failed ({status}): {}",
        String::from_utf8_lossy(&err)
    );
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "{shown} printed no JSON array ({e}): {}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        )
    })
}

/// A request signed by `hookpit::sign` for each scheme, with the headers its official library
/// requires, over `body`.
fn signed_cases(body: &[u8]) -> Vec<Case> {
    let now = sign::unix_now();
    let pairs = |list: &[(&str, String)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let whsec = sign::Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let sw: Vec<(String, String)> = sign::sign_headers(&whsec, "msg_official1", now, body)
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    vec![
        Case {
            scheme: "standard-webhooks".into(),
            secret: whsec.to_string(),
            headers: sw,
            body: body.to_vec(),
        },
        Case {
            scheme: "github".into(),
            secret: "It's a Secret to Everybody".into(),
            headers: pairs(&[
                ("X-GitHub-Event", "ping".into()),
                (
                    sign::GITHUB_SIGNATURE_256,
                    sign::github_sign(b"It's a Secret to Everybody", body),
                ),
            ]),
            body: body.to_vec(),
        },
        Case {
            scheme: "stripe".into(),
            secret: "whsec_stripe_official".into(),
            headers: pairs(&[(
                sign::STRIPE_SIGNATURE,
                sign::stripe_sign(b"whsec_stripe_official", now, body),
            )]),
            body: body.to_vec(),
        },
        Case {
            scheme: "shopify".into(),
            secret: "shpss_official".into(),
            headers: pairs(&[
                (
                    sign::SHOPIFY_HMAC,
                    sign::shopify_sign(b"shpss_official", body),
                ),
                ("X-Shopify-Topic", "orders/create".into()),
                ("X-Shopify-Shop-Domain", "example.myshopify.com".into()),
                ("X-Shopify-API-Version", "2024-10".into()),
                (
                    "X-Shopify-Webhook-Id",
                    "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
                ),
            ]),
            body: body.to_vec(),
        },
        Case {
            scheme: "slack".into(),
            secret: "8f742231b10e8888abcd99yyyzzz85a5".into(),
            headers: pairs(&[
                (sign::SLACK_TIMESTAMP, now.to_string()),
                (
                    sign::SLACK_SIGNATURE,
                    sign::slack_sign(b"8f742231b10e8888abcd99yyyzzz85a5", now, body),
                ),
            ]),
            body: body.to_vec(),
        },
    ]
}

#[test]
fn what_hookpit_signs_passes_every_official_library() {
    // JSON, and a form body like Slack's slash commands (signatures do not need JSON; Stripe's
    // constructEvent alone also parses the event, so it gets JSON only)
    let mut cases = signed_cases(br#"{"id":"evt_1","object":"event","amount":5000}"#);
    let form = signed_cases(b"token=xyzz0&team_id=T1DC2JH3J&text=caf%C3%A9");
    cases.extend(form.into_iter().filter(|c| c.scheme != "stripe"));
    let Some(results) = official_verify(&cases) else {
        return;
    };
    for (case, result) in cases.iter().zip(results) {
        let body = String::from_utf8_lossy(&case.body);
        assert_eq!(result, Ok(()), "{} over {body}", case.scheme);
    }
}

#[test]
fn a_flipped_body_byte_is_refused_by_every_official_library() {
    let body = br#"{"id":"evt_1","object":"event","amount":5000}"#;
    let mut cases = signed_cases(body);
    for case in &mut cases {
        // `5000` becomes `5001`: still JSON, different bytes than were signed
        let at = case.body.len() - 2;
        case.body[at] ^= 1;
    }
    let Some(results) = official_verify(&cases) else {
        return;
    };
    for (case, result) in cases.iter().zip(results) {
        assert!(result.is_err(), "{} accepted a changed body", case.scheme);
    }
}

#[test]
fn a_scheme_without_an_official_library_is_an_error_not_a_pass() {
    let cases = [Case {
        scheme: "md5".into(),
        secret: "x".into(),
        headers: vec![],
        body: b"{}".to_vec(),
    }];
    let Some(results) = official_verify(&cases) else {
        return;
    };
    assert!(results[0].is_err(), "{:?}", results[0]);
}
