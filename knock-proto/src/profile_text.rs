//! A rotating door as a `knock` profile (the TOML table of the client's
//! `config.toml`): what `knockd secret new` prints for the operator to hand
//! on, and what `knock --import` adds to the profile file, from one writer.

use std::fmt::Write;

use crate::uri::KnockUri;

/// The profile `name` for the door of `uri`, its secret in `secret_file`
/// (relative to the profile file's folder, or absolute); `None` when the
/// door's label is not UTF-8, which a TOML file cannot hold.
pub fn profile_toml(name: &str, uri: &KnockUri, secret_file: &str) -> Option<String> {
    let door = std::str::from_utf8(uri.label().as_bytes()).ok()?;
    let r = uri.rotation();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "[{}]\nhost = {}\nsecret_file = {}\ndoor = {}\nstep = {}\nrange = \"{}\"\nlength = {}\nprotocol = \"{}\"\n",
        key(name),
        string(uri.host()),
        string(secret_file),
        string(door),
        r.step(),
        r.range(),
        r.length(),
        r.protocol()
    );
    Some(out)
}

/// The secret file of profile `name`, beside the profile file: the name
/// with every character other than a letter, a digit, `-` and `_` made `_`,
/// and `.key` added.
pub fn secret_file_name(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.key")
}

/// Profile `name` as one POSIX shell word, for the `knock NAME` both
/// `knockd secret new` and `knock --import` print: as it is when plain, else
/// in single quotes (`knock 'open SSH'`).
pub fn shell_word(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        name.to_owned()
    } else {
        format!("'{}'", name.replace('\'', "'\\''"))
    }
}

/// A table name: bare when TOML allows it, else quoted.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        name.to_owned()
    } else {
        string(name)
    }
}

/// A TOML basic string: `"` and `\` escaped, control characters as `\uXXXX`.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotating::{Label, Rotation};

    #[test]
    fn profile_names_are_quoted_for_the_shell_only_when_they_need_it() {
        assert_eq!(shell_word("openSSH"), "openSSH");
        assert_eq!(shell_word("open SSH"), "'open SSH'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn odd_names_are_quoted_and_escaped() {
        let uri = KnockUri::new(
            "2001:db8::1",
            Label::new("Tür \"1\"\\\n".as_bytes()).unwrap(),
            &[7; 16],
            Rotation::default(),
        )
        .unwrap();
        assert_eq!(
            profile_toml("my door", &uri, "C:\\keys\\d.key").unwrap(),
            "[\"my door\"]\nhost = \"2001:db8::1\"\nsecret_file = \"C:\\\\keys\\\\d.key\"\n\
             door = \"Tür \\\"1\\\"\\\\\\u000A\"\nstep = 30\nrange = \"1024-65535\"\n\
             length = 4\nprotocol = \"tcp\"\n"
        );
        let latin1 = KnockUri::new(
            "h",
            Label::new(b"T\xfcr").unwrap(),
            &[7; 16],
            Rotation::default(),
        )
        .unwrap();
        assert_eq!(profile_toml("t", &latin1, "t.key"), None);
        assert_eq!(secret_file_name("Grüße/../x"), "Gr__e____x.key");
    }
}
