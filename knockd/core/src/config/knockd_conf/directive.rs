//! One directive of knockd.conf (`KEY = VALUE`) and the errors that name
//! it; `dispatch` applies it, the value readers of `values` and the door
//! keys of `door_keys` read its value.

use super::ConfigErrorKind;

/// A directive being applied: its key as written and upper-cased (keys are
/// case-insensitive), and its value verbatim.
pub(super) struct Directive<'a> {
    pub(super) line: usize,
    pub(super) written: &'a str,
    pub(super) key: String,
    pub(super) value: Option<&'a str>,
}

impl<'a> Directive<'a> {
    pub(super) fn new(line: usize, written: &'a str, value: Option<&'a str>) -> Self {
        Directive {
            line,
            written,
            key: written.to_ascii_uppercase(),
            value,
        }
    }

    /// The value; only `UseSyslog` may come without one.
    pub(super) fn value(&self) -> Result<&'a str, ConfigErrorKind> {
        self.value.ok_or_else(|| {
            ConfigErrorKind::SyntaxError(format!(
                "\"{}\" is not a directive (expected KEY = VALUE)",
                self.written
            ))
        })
    }

    pub(super) fn misplaced(&self, where_: &str) -> ConfigErrorKind {
        ConfigErrorKind::SyntaxError(format!("{} {where_}", self.written))
    }

    pub(super) fn unknown(&self) -> ConfigErrorKind {
        ConfigErrorKind::SyntaxError(format!("unknown directive \"{}\"", self.written))
    }
}
