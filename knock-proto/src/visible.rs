//! Input text as error messages show it: control and invisible characters
//! are escaped (`\t`, `\u{feff}`), so a message never hides what the input
//! held, nor carries terminal escapes or line breaks into a log.

use std::fmt;

/// Displays its text with control and invisible characters escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visible<'a>(pub &'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\t' => f.write_str("\\t")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                c if c.is_control() || is_invisible(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Format characters that render as nothing: the byte-order mark, zero-width
/// spaces and joiners, direction marks and overrides, the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        assert_eq!(Visible("\u{feff}1001").to_string(), "\\u{feff}1001");
        assert_eq!(
            Visible("a\tb\nc\r\u{1b}[31m").to_string(),
            "a\\tb\\nc\\r\\u{1b}[31m"
        );
        assert_eq!(
            Visible("zero\u{200b}width\u{202e}").to_string(),
            "zero\\u{200b}width\\u{202e}"
        );
        assert_eq!(
            Visible("Tür 7000 ü").to_string(),
            "Tür 7000 ü",
            "printable text is kept"
        );
    }
}
