//! GitHub webhook deliveries: `ping`, `push`, `pull_request`, `issues`, `issue_comment`,
//! `release` and `workflow_run` from the fixtures under `fixtures/github/` (each completed
//! with the shared `repository` and `sender` fixtures), made fresh on every send (the
//! objects' ids, commit SHAs, times), and GitHub's headers: `X-GitHub-Event`,
//! `X-GitHub-Delivery` (a fresh GUID), `X-GitHub-Hook-ID`, the installation target,
//! `User-Agent: GitHub-Hookshot/…`, `X-Hub-Signature` (legacy HMAC-SHA1) and
//! `X-Hub-Signature-256`, the secret's text used as the key.
//!
//! Uses `sign` (the SHA-256 signature), `hmac`/`sha1` for the legacy header, and the sibling
//! `fresh`.

use serde_json::Value;

use super::fresh;
use crate::error::Result;

/// The events, each with its fixture.
pub(super) const EVENTS: &[(&str, &str)] = &[
    ("ping", include_str!("fixtures/github/ping.json")),
    ("push", include_str!("fixtures/github/push.json")),
    (
        "pull_request",
        include_str!("fixtures/github/pull_request.json"),
    ),
    ("issues", include_str!("fixtures/github/issues.json")),
    (
        "issue_comment",
        include_str!("fixtures/github/issue_comment.json"),
    ),
    ("release", include_str!("fixtures/github/release.json")),
    (
        "workflow_run",
        include_str!("fixtures/github/workflow_run.json"),
    ),
];

/// The repository every event is about.
const REPOSITORY: &str = include_str!("fixtures/github/repository.json");
/// The user every event is sent by.
const SENDER: &str = include_str!("fixtures/github/sender.json");

/// The id of the (imaginary) repository webhook that sends the events.
const HOOK_ID: &str = "480000001";

/// The objects whose `id` is made fresh, with their number of digits.
const FRESH_IDS: [(&str, u32); 5] = [
    ("pull_request", 10),
    ("issue", 10),
    ("comment", 10),
    ("release", 9),
    ("workflow_run", 10),
];

/// The shared `repository` and `sender`, fresh ids, SHAs and times.
pub(super) fn freshen(v: &mut Value, now: i64) -> Result<()> {
    let Some(map) = v.as_object_mut() else {
        return Ok(());
    };
    for (key, text) in [("repository", REPOSITORY), ("sender", SENDER)] {
        if !map.contains_key(key) {
            map.insert(key.to_owned(), serde_json::from_str(text)?);
        }
    }
    let time = Value::String(fresh::rfc3339(now));
    for (key, digits) in FRESH_IDS {
        if let Some(obj) = map.get_mut(key).and_then(Value::as_object_mut) {
            obj.insert("id".into(), Value::from(fresh::number(digits)?));
            obj.insert("updated_at".into(), time.clone());
        }
    }
    if map.contains_key("after") {
        let before = map.get("after").cloned().unwrap_or(Value::Null);
        let sha = Value::String(fresh::hex(40)?);
        map.insert("before".into(), before);
        map.insert("after".into(), sha.clone());
        let stamp = |commit: &mut Value| {
            if let Some(c) = commit.as_object_mut() {
                c.insert("id".into(), sha.clone());
                c.insert("timestamp".into(), time.clone());
            }
        };
        if let Some(commits) = map.get_mut("commits").and_then(Value::as_array_mut) {
            commits.iter_mut().for_each(stamp);
        }
        if let Some(head) = map.get_mut("head_commit") {
            stamp(head);
        }
    }
    Ok(())
}

/// The headers GitHub sends, in its order and case.
pub(super) fn headers(event: &str, secret: &str, body: &[u8]) -> Result<Vec<(String, String)>> {
    let target = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/repository/id").and_then(Value::as_u64))
        .unwrap_or(700_000_001);
    Ok(vec![
        ("Accept".into(), "*/*".into()),
        ("Content-Type".into(), "application/json".into()),
        (
            "User-Agent".into(),
            format!("GitHub-Hookshot/{}", fresh::hex(7)?),
        ),
        ("X-GitHub-Delivery".into(), fresh::guid()?),
        ("X-GitHub-Event".into(), event.to_owned()),
        ("X-GitHub-Hook-ID".into(), HOOK_ID.into()),
        (
            "X-GitHub-Hook-Installation-Target-ID".into(),
            target.to_string(),
        ),
        (
            "X-GitHub-Hook-Installation-Target-Type".into(),
            "repository".into(),
        ),
        (
            crate::sign::GITHUB_SIGNATURE_SHA1.into(),
            crate::sign::github_sign_sha1(secret.as_bytes(), body),
        ),
        (
            crate::sign::GITHUB_SIGNATURE_256.into(),
            crate::sign::github_sign(secret.as_bytes(), body),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_documented_example_signature_comes_out() {
        // the example of GitHub's "Validating webhook deliveries" page
        let sig = crate::sign::github_sign(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn the_legacy_sha1_header_is_the_right_hmac_of_the_body() {
        let body = br#"{"zen":"x"}"#;
        let sig = crate::sign::github_sign_sha1(b"secret", body);
        let headers = [(crate::sign::GITHUB_SIGNATURE_SHA1, sig.as_bytes())];
        // alone it is refused for want of the sha256 header, but as the right sha1
        let v = crate::sign::github_verify(b"secret", &headers, body);
        assert!(
            v.reason()
                .is_some_and(|r| r.contains("it matches the secret")),
            "{v:?}"
        );
    }

    #[test]
    fn every_event_carries_the_repository_and_the_sender() {
        for (event, text) in EVENTS {
            let mut v: Value = serde_json::from_str(text).unwrap();
            freshen(&mut v, 1_700_000_000).unwrap();
            assert_eq!(
                v["repository"]["full_name"], "octo-org/hello-world",
                "{event}"
            );
            assert_eq!(v["sender"]["login"], "octocat", "{event}");
        }
    }
}
