//! `--set PATH=VALUE` edits of a payload: a dot path (`data.object.amount`, with array
//! indices as numbers: `line_items.0.quantity`) and a value that is JSON when it parses as JSON
//! (`5000`, `true`, `null`, `{"a":1}`, `"eur"`) and text otherwise.
//!
//! Pure functions over `serde_json` values; uses nothing else in the crate. Errors are
//! sentences naming the path, for the caller to wrap.

use serde_json::{Map, Value};

use super::MAX_PATH_DEPTH;

/// A `--set` value: JSON when it parses as JSON, else the text itself.
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Puts `value` at the dot `path` in `root`, creating missing objects on the way (a `null` on
/// the way counts as missing). A path that
/// runs through a value that is neither an object nor an array (or past an array's end) is
/// an error naming the path and what is there.
pub fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    // messages show at most this much of a path (and of what was walked)
    let path = &clipped(path);
    if path.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "`{path}` is not a dot path like data.object.amount"
        ));
    }
    if segments.len() > MAX_PATH_DEPTH {
        return Err(format!("`{path}` is deeper than {MAX_PATH_DEPTH} keys"));
    }
    let mut here = root;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let walked = || clipped(&segments[..=i].join("."));
        if here.is_null() {
            // a null on the way is as good as missing
            *here = Value::Object(Map::new());
        }
        here = match here {
            Value::Object(map) => {
                if last {
                    map.insert((*seg).to_owned(), value);
                    return Ok(());
                }
                map.entry((*seg).to_owned())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            Value::Array(items) => {
                let len = items.len();
                let Some(slot) = seg.parse::<usize>().ok().and_then(|n| items.get_mut(n)) else {
                    return Err(format!(
                        "`{path}`: `{}` is not an index of the {len}-item list there",
                        walked()
                    ));
                };
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            other => {
                let parent = clipped(&segments[..i].join("."));
                return Err(format!(
                    "`{path}`: `{parent}` is {}, not an object",
                    kind(other)
                ));
            }
        };
    }
    Ok(())
}

/// At most 100 characters of a path typed by someone else, for a message (then `…`).
fn clipped(path: &str) -> String {
    match path.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &path[..cut]),
        None => path.to_owned(),
    }
}

/// "a number", "a string", … for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_is_json_when_it_parses_and_text_otherwise() {
        assert_eq!(parse_value("5000"), json!(5000));
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("null"), json!(null));
        assert_eq!(parse_value("\"eur\""), json!("eur"));
        assert_eq!(parse_value("{\"a\":[1]}"), json!({"a": [1]}));
        assert_eq!(parse_value("eur"), json!("eur"));
        assert_eq!(parse_value("12 apples"), json!("12 apples"));
    }

    #[test]
    fn a_path_sets_a_nested_value_and_creates_missing_objects() {
        let mut v = json!({"data": {"object": {"amount": 1}}});
        set_path(&mut v, "data.object.amount", json!(5000)).unwrap();
        set_path(&mut v, "data.object.metadata.order.id", json!("A-1")).unwrap();
        set_path(&mut v, "top", json!(null)).unwrap();
        set_path(&mut v, "top.was_null", json!(1)).unwrap();
        assert_eq!(
            v,
            json!({"data": {"object": {"amount": 5000, "metadata": {"order": {"id": "A-1"}}}}, "top": {"was_null": 1}})
        );
    }

    #[test]
    fn a_path_indexes_lists_by_number() {
        let mut v = json!({"items": [{"q": 1}, {"q": 2}]});
        set_path(&mut v, "items.1.q", json!(7)).unwrap();
        assert_eq!(v["items"][1]["q"], 7);
        let e = set_path(&mut v, "items.5.q", json!(7)).unwrap_err();
        assert_eq!(
            e,
            "`items.5.q`: `items.5` is not an index of the 2-item list there"
        );
    }

    #[test]
    fn a_path_through_a_non_object_is_an_error_naming_the_path() {
        let mut v = json!({"data": {"object": {"amount": 1}}});
        let e = set_path(&mut v, "data.object.amount.value", json!(1)).unwrap_err();
        assert_eq!(
            e,
            "`data.object.amount.value`: `data.object.amount` is a number, not an object"
        );
        assert!(set_path(&mut v, "data..x", json!(1)).is_err());
        assert!(set_path(&mut v, "", json!(1)).is_err());
        let deep = vec!["a"; MAX_PATH_DEPTH + 1].join(".");
        assert!(set_path(&mut v, &deep, json!(1)).is_err());
    }

    #[test]
    fn an_error_about_a_huge_path_shows_only_its_start() {
        let long = "k".repeat(1_000_000);
        let mut v = json!({"n": 1});
        v[&long] = json!(1);
        for path in [
            format!("{long}..x"),
            vec![long.as_str(); MAX_PATH_DEPTH + 1].join("."),
            format!("n.{long}"),
            format!("{long}.{long}"),
        ] {
            let e = set_path(&mut v, &path, json!(1)).unwrap_err();
            assert!(e.len() < 400, "{} bytes", e.len());
        }
    }
}
