//! Fresh ids and times for provider events: random letters and digits, hex, GUIDs and
//! numbers from the operating system's random source, an id with a fixture id's prefix kept
//! (`evt_…`, `cs_test_…`), and RFC 3339 times.
//!
//! Uses `getrandom` and `error` (a failing random source is an I/O error); nothing else.

use std::time::{Duration, UNIX_EPOCH};

use crate::error::{Error, Result};

const ALPHANUMERIC: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn bytes(n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(b)
}

/// `n` random letters and digits.
pub fn alphanumeric(n: usize) -> Result<String> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        // rejection sampling: 248 = 4 * 62, so `b % 62` is uniform for b < 248
        for b in bytes(n * 2)?.into_iter().filter(|b| *b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHANUMERIC[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

/// `n` random lowercase hex digits.
pub fn hex(n: usize) -> Result<String> {
    let text: String = bytes(n.div_ceil(2))?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(text[..n].to_owned())
}

/// A random (version 4) GUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
pub fn guid() -> Result<String> {
    let mut b = bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    ))
}

/// A random number with `digits` decimal digits (no leading zero; at most 18 digits).
pub fn number(digits: u32) -> Result<u64> {
    let digits = digits.clamp(1, 18);
    let low = 10u64.pow(digits - 1);
    let span = 10u64.pow(digits) - low;
    let b = bytes(8)?;
    let r = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    Ok(low + r % span)
}

/// A fresh id like `like`: its prefix up to the last `_` kept (`cs_test_`, `evt_`), the rest
/// replaced by as many random letters and digits.
pub fn id_like(like: &str) -> Result<String> {
    let (prefix, rest) = match like.rfind('_') {
        Some(i) => like.split_at(i + 1),
        None => ("", like),
    };
    Ok(format!("{prefix}{}", alphanumeric(rest.len().max(14))?))
}

/// `unix` seconds as RFC 3339 in UTC, to the second (`2024-06-01T12:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_id_keeps_the_prefix_of_the_fixture_id() {
        let id = id_like("cs_test_a1FixtureSession").unwrap();
        assert!(id.starts_with("cs_test_"), "{id}");
        assert_eq!(id.len(), "cs_test_a1FixtureSession".len());
        assert_ne!(id, id_like("cs_test_a1FixtureSession").unwrap());
    }

    #[test]
    fn a_guid_has_the_version_4_layout() {
        let g = guid().unwrap();
        let parts: Vec<&str> = g.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
    }

    #[test]
    fn numbers_hex_and_times_have_the_asked_shape() {
        let n = number(13).unwrap();
        assert_eq!(n.to_string().len(), 13);
        assert_eq!(hex(7).unwrap().len(), 7);
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
