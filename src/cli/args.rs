//! Flag values into what the verbs need, each error naming its flag: durations and sizes (in the
//! config file's grammar), a duration that must be more than 0, a file or standard input, and
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

/// Reads a file, or stdin for `None` / `-`.
pub fn read_input(path: Option<&str>) -> Result<Vec<u8>> {
    match path {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read stdin")?;
            Ok(buf)
        }
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {p}")),
    }
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
