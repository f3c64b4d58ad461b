//! Slack Events API requests: `url_verification` (a fresh challenge) and `event_callback`
//! with a `message`, `app_mention`, `reaction_added`, `member_joined_channel` or
//! `app_home_opened` event (fresh `event_id`, `event_time` and event timestamps), from the fixtures under `fixtures/slack/`; Slack's headers with
//! `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=…` over `v0:timestamp:body`, the
//! signing secret's text used as the key.
//!
//! Uses `sign` (the signature) and the sibling `fresh`.

use serde_json::Value;

use super::fresh;
use crate::error::Result;

/// The events, each with its fixture.
pub(super) const EVENTS: &[(&str, &str)] = &[
    (
        "url_verification",
        include_str!("fixtures/slack/url_verification.json"),
    ),
    ("message", include_str!("fixtures/slack/message.json")),
    (
        "app_mention",
        include_str!("fixtures/slack/app_mention.json"),
    ),
    (
        "reaction_added",
        include_str!("fixtures/slack/reaction_added.json"),
    ),
    (
        "member_joined_channel",
        include_str!("fixtures/slack/member_joined_channel.json"),
    ),
    (
        "app_home_opened",
        include_str!("fixtures/slack/app_home_opened.json"),
    ),
];

/// A fresh challenge, or a fresh event id and event times.
pub(super) fn freshen(v: &mut Value, now: i64) -> Result<()> {
    if v.get("challenge").is_some() {
        v["challenge"] = Value::String(fresh::alphanumeric(52)?);
        return Ok(());
    }
    v["event_id"] = Value::String(format!("Ev{}", fresh::alphanumeric(9)?.to_uppercase()));
    v["event_time"] = Value::from(now);
    let ts = format!("{now}.{:06}", fresh::number(6)?);
    if let Some(event) = v.get_mut("event").and_then(Value::as_object_mut) {
        // a message's own `ts` (events about something else keep only `event_ts`)
        if event.contains_key("ts") {
            event.insert("ts".into(), Value::String(ts.clone()));
        }
        event.insert("event_ts".into(), Value::String(ts));
    }
    Ok(())
}

/// The headers Slack sends, in its order and case.
pub(super) fn headers(secret: &str, body: &[u8], now: i64) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        (
            "User-Agent".into(),
            "Slackbot 1.0 (+https://api.slack.com/robots)".into(),
        ),
        (crate::sign::SLACK_TIMESTAMP.into(), now.to_string()),
        (
            crate::sign::SLACK_SIGNATURE.into(),
            crate::sign::slack_sign(secret.as_bytes(), now, body),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn slacks_documented_example_signature_comes_out() {
        // the example of Slack's "Verifying requests from Slack" page
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = crate::sign::slack_sign(
            b"8f742231b10e8888abcd99yyyzzz85a5",
            1531420618,
            body.as_bytes(),
        );
        assert_eq!(
            sig,
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
