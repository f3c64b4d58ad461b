//! Flag values into what the verbs need, each error naming its flag: durations and sizes (in the
//! config file's grammar), a duration that must be more than 0, a file or standard input (whole,
//! or up to a limit), and
//! the query string of an API path.
//!
//! Uses `units` (the size and duration grammar) and `client` (percent-encoding). Used by the
//! verb modules of `cli`; it prints nothing.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::client::enc;
use crate::units::{parse_duration, parse_size};

/// A duration flag's value (e.g. `30s`, `2m`).
pub fn duration(flag: &str, s: &str) -> Result<Duration> {
    parse_duration(s).with_context(|| flag.to_owned())
}

/// A duration flag's value that must be more than 0.
pub fn positive_duration(flag: &str, s: &str) -> Result<Duration> {
    let d = duration(flag, s)?;
    anyhow::ensure!(!d.is_zero(), "{flag}: must be more than 0");
    Ok(d)
}

/// A size flag's value in bytes (e.g. `10MiB`).
pub fn size(flag: &str, s: &str) -> Result<usize> {
    parse_size(s).with_context(|| flag.to_owned())
}

/// The most any command reads from a file or stdin (a body, a config, an export): an endless
/// stream (`/dev/zero`, a pipe that never ends) is refused there instead of filling memory.
pub const MAX_INPUT: usize = 1 << 30;

/// Reads a file, or stdin for `None` / `-`, at most [`MAX_INPUT`] bytes.
pub fn read_input(path: Option<&str>) -> Result<Vec<u8>> {
    read_input_within(path, "input", MAX_INPUT)
}

/// Reads a file, or stdin for `None` / `-`, refusing one of more than `max` bytes as soon as
/// that many have been read (so an endless stream is not read to its end).
pub fn read_input_within(path: Option<&str>, flag: &str, max: usize) -> Result<Vec<u8>> {
    let (name, source): (String, Box<dyn Read>) = match path {
        None | Some("-") => ("stdin".to_owned(), Box::new(std::io::stdin())),
        Some(p) => (
            p.to_owned(),
            Box::new(std::fs::File::open(p).with_context(|| format!("cannot read {p}"))?),
        ),
    };
    read_within(source, &name, flag, max)
}

/// At most `max` bytes of `source`; more is an error naming `flag` and the limit.
fn read_within(source: impl Read, name: &str, flag: &str, max: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    source
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {name}"))?;
    anyhow::ensure!(
        buf.len() <= max,
        "{flag}: {name} holds more than {max} bytes, the most it may"
    );
    Ok(buf)
}

/// The query string of the parameters that have a value, in their order, each value
/// percent-encoded: `?a=1&b=x%20y`, or nothing when none has one.
pub fn query(params: &[(&str, Option<String>)]) -> String {
    let mut q = String::new();
    for (k, v) in params {
        if let Some(v) = v {
            q.push(if q.is_empty() { '?' } else { '&' });
            q.push_str(k);
            q.push('=');
            q.push_str(&enc(v));
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_holds_only_the_parameters_given_each_encoded() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("bin", None),
                ("q", Some("method:POST body~\"x\"".into())),
                ("after", Some("7".into())),
            ]),
            "?q=method%3APOST%20body%7E%22x%22&after=7"
        );
    }

    #[test]
    fn an_endless_input_is_refused_once_past_the_limit() {
        let e = read_within(std::io::repeat(b' '), "stdin", "--data", 1024).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--data: stdin holds more than 1024 bytes, the most it may"
        );
        let ok = read_within(&b"{}"[..], "stdin", "--data", 2).unwrap();
        assert_eq!(ok, b"{}");
    }

    #[test]
    fn a_zero_duration_is_refused_with_the_flag_named() {
        let e = positive_duration("--idle-timeout", "0s").unwrap_err();
        assert_eq!(e.to_string(), "--idle-timeout: must be more than 0");
        let e = duration("--timeout", "soon").unwrap_err();
        assert!(format!("{e:#}").starts_with("--timeout: "), "{e:#}");
        assert_eq!(
            positive_duration("--t", "2m").unwrap(),
            Duration::from_secs(120)
        );
    }
}
