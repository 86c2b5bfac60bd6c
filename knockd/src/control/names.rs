//! Door names as the operator sees and types them.
//!
//! knockd.conf allows any byte in a section name; knockd carries a byte
//! that is not UTF-8 as an escape character of [`knockd_core::bytes`]. The
//! status prints such a byte as the four characters `\xHH`, as the JSON
//! log lines do, and a request may name the door by its raw bytes or in
//! that printed form.

use std::borrow::Cow;
use std::fmt::Write as _;

use knockd_core::bytes;

/// `name` as printed: each byte that is not UTF-8 as `\xHH`. Borrows when
/// there is none.
pub fn shown(name: &str) -> Cow<'_, str> {
    if !name.chars().any(|c| bytes::raw_byte(c).is_some()) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match bytes::raw_byte(c) {
            Some(b) => {
                let _ = write!(out, "\\x{b:02x}");
            }
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `asked` names the door `name`: its bytes, or as printed.
pub fn names(name: &str, asked: &str) -> bool {
    name == asked || shown(name) == asked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_that_is_not_utf8_shows_as_backslash_x() {
        let latin1 = bytes::decode(b"T\xfcr \xff");
        assert_eq!(shown(&latin1), "T\\xfcr \\xff");
        assert!(matches!(shown("Tür"), Cow::Borrowed("Tür")));
    }

    #[test]
    fn a_door_is_named_by_its_bytes_or_as_printed_only() {
        let latin1 = bytes::decode(b"T\xfcr");
        assert!(names(&latin1, &latin1));
        assert!(names(&latin1, "T\\xfcr"));
        assert!(!names(&latin1, "Tür"));
        assert!(!names(&latin1, "T\\xFCr"), "printed lowercase, matched so");
        assert!(names("web", "web"));
        assert!(!names("web", "we"));
    }
}
