//! Lexing: one trimmed knockd.conf line into a section header or a directive.

use crate::config::ConfigErrorKind;

/// One line of knockd.conf that is neither blank nor a comment, trimmed.
pub(super) enum Line<'a> {
    /// `[name]`: `[options]` or a door.
    Section(&'a str),
    /// `key = value`, or a bare `key`.
    Directive {
        key: &'a str,
        value: Option<&'a str>,
    },
}

pub(super) fn lex(line: &str) -> Result<Line<'_>, ConfigErrorKind> {
    if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        if name.is_empty() {
            return Err(ConfigErrorKind::BadSectionName);
        }
        return Ok(Line::Section(name));
    }
    Ok(match line.split_once('=') {
        Some((key, value)) => Line::Directive {
            key: key.trim_ascii(),
            value: Some(value.trim_ascii()),
        },
        None => Line::Directive {
            key: line,
            value: None,
        },
    })
}
