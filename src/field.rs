//! Where a value sits in a declaration, and what is wrong with it: a [`FieldPath`] of keys and
//! list positions (`retry.schedule`, `sequence[1].status`) and a [`FieldError`] carrying one.
//! The validators (`webhook`, `rules`) return them; `hookfile` follows the path through the TOML
//! document to name the line and key, and the API turns them into `400`s naming the field.
//!
//! Uses `error` only. Plain data.

use std::fmt;

use crate::error::Error;

/// One step into a document: a key of a table, or a position in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a declaration. The empty path is the whole document, shown as `config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The whole document.
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path, one key deeper.
    pub fn key(mut self, k: impl Into<String>) -> FieldPath {
        self.0.push(Seg::Key(k.into()));
        self
    }

    /// This path, one list position deeper.
    pub fn index(mut self, i: usize) -> FieldPath {
        self.0.push(Seg::Index(i));
        self
    }

    /// This path followed by `rest`.
    pub fn join(mut self, rest: &FieldPath) -> FieldPath {
        self.0.extend(rest.0.iter().cloned());
        self
    }

    /// The steps, outermost first.
    pub fn segments(&self) -> &[Seg] {
        &self.0
    }
}

impl From<&str> for FieldPath {
    /// A path of one key.
    fn from(k: &str) -> FieldPath {
        FieldPath::root().key(k)
    }
}

impl fmt::Display for FieldPath {
    /// Keys joined by `.`, positions as `[i]`: `sequence[1].status`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("config");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem with one field of a declaration: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: FieldPath,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<FieldPath>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Error {
        Error::bad(e.field.to_string(), e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_shows_keys_dotted_and_positions_in_brackets() {
        let p = FieldPath::from("sequence").index(1).key("status");
        assert_eq!(p.to_string(), "sequence[1].status");
        let p = FieldPath::root().index(0).index(2).key("a");
        assert_eq!(p.to_string(), "[0][2].a");
        assert_eq!(FieldPath::root().to_string(), "config");
    }

    #[test]
    fn a_field_error_becomes_a_bad_parameter_naming_the_field() {
        let e = Error::from(FieldError::new(
            FieldPath::from("retry").key("schedule"),
            "x",
        ));
        assert_eq!(e.to_string(), "retry.schedule: x");
    }
}
