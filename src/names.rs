//! Names suggested for a mistyped one ("did you mean …?"): the nearest by edit distance.
//!
//! Pure functions over strings; calls nobody. Used by `provider` (providers and their events)
//! and `cli::sender` (catalog events). The work is linear in the number of names: a name whose
//! length alone puts it out of reach is never compared.

/// The names closest to a mistyped one: those at the smallest edit distance, if that is at most
/// a third of its length (and at least 2); at most three, in name order.
pub fn nearest<'a>(typed: &str, names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let len = typed.chars().count();
    let limit = (len / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        // the distance is at least the difference in length: a name far longer or shorter
        // than the one typed is never near, and is not compared (so the work stays linear)
        .filter(|n| n.chars().count().abs_diff(len) <= limit)
        .map(|n| (edit_distance(typed, n), n))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    let best = scored.first().map_or(0, |s| s.0);
    scored
        .into_iter()
        .take_while(|s| s.0 == best)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}

/// Levenshtein distance over characters (names are short: quadratic is fine).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mistyped_name_suggests_the_nearest_names() {
        let names = ["payment_received", "payment_failed", "site_created"];
        assert_eq!(
            super::nearest("payment_recieved", names.into_iter()),
            vec!["payment_received"]
        );
        assert!(super::nearest("zzz", names.into_iter()).is_empty());
        assert_eq!(super::edit_distance("kitten", "sitting"), 3);
    }
}
