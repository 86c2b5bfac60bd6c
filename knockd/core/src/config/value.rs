//! Value parsers shared by the knockd.conf and TOML readers, with the words
//! their error messages use for what a key expects.

use std::net::IpAddr;
use std::time::Duration;

/// Parses a duration in seconds: a non-negative decimal number, fractions allowed (`2.5`).
pub(super) fn parse_seconds(text: &str) -> Option<Duration> {
    let text = text.trim_ascii();
    let valid = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Words for the error messages of [`parse_seconds`] values.
pub(super) const SECONDS_EXPECTED: &str = "a number of seconds, such as 5 or 2.5";

/// Parses a `Target`: an IPv4 or IPv6 address, no host names (0.8 reads a
/// name as 0.0.0.0).
pub(super) fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// Words for the error messages of [`parse_address`] values.
pub(super) const ADDRESS_EXPECTED: &str = "an IPv4 or IPv6 address";

/// Parses a switch: `yes`, `no`, `true`, `false`, `on`, `off`, `1` or `0`,
/// in any case.
pub(super) fn parse_switch(text: &str) -> Option<bool> {
    match text.trim_ascii().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Words for the error messages of [`parse_switch`] values.
pub(super) const SWITCH_EXPECTED: &str = "yes or no";

/// Parses a whole number written as plain decimal digits (blanks around it
/// allowed; no sign).
pub(super) fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim_ascii();
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Words for the error messages of [`parse_number`] values (`Rotating_Step`,
/// `_Length` and `_Skew`).
pub(super) const NUMBER_EXPECTED: &str = "a whole number";

/// Parses a count of at least 1.
pub(super) fn parse_count(text: &str) -> Option<usize> {
    parse_number(text)
        .filter(|&n| n >= 1)
        .and_then(|n| usize::try_from(n).ok())
}

/// Words for the error messages of [`parse_count`] values.
pub(super) const COUNT_EXPECTED: &str = "a whole number of at least 1";

/// The longest command knockd runs once `%IP%` and the like are replaced: 0.8 expanded
/// commands into a 4096-byte buffer and refused longer ones.
pub const MAX_COMMAND_LEN: usize = 4095;

/// The length of `command` once every `%IP%`, `%NET%` and `%PREFIX%` is as
/// long as it can be, if that exceeds [`MAX_COMMAND_LEN`]: such a command
/// could never run for some knocker, so it is refused when the
/// configuration is read.
pub(super) fn overlong_command(command: &str) -> Option<usize> {
    let len = crate::substitution::longest_expansion(command);
    (len > MAX_COMMAND_LEN).then_some(len)
}

/// Words for the error messages of `LogFormat` values.
pub(super) const LOG_FORMAT_EXPECTED: &str = "text or json";

/// Words for the error messages of file-path values, which must not be empty.
pub(super) const PATH_EXPECTED: &str = "a file path";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_integers_and_fractions_only() {
        assert_eq!(parse_seconds("25"), Some(Duration::from_secs(25)));
        assert_eq!(parse_seconds(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        for bad in ["", "abc", "-5", "1.2.3", ".", "5s", "1e3"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn switches_and_counts() {
        for (text, value) in [
            ("yes", true),
            ("No", false),
            ("TRUE", true),
            ("off", false),
            ("1", true),
        ] {
            assert_eq!(parse_switch(text), Some(value), "{text}");
        }
        assert_eq!(parse_switch("y"), None);
        assert_eq!(parse_count(" 12 "), Some(12));
        for bad in [
            "0",
            "-1",
            "+3",
            "1.5",
            "",
            "many",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_count(bad), None, "{bad}");
        }
    }

    #[test]
    fn commands_are_measured_with_the_longest_address() {
        let fits = format!("{} %IP%", "x".repeat(MAX_COMMAND_LEN - 40));
        assert_eq!(overlong_command(&fits), None);
        let over = format!("{} %IP%", "x".repeat(MAX_COMMAND_LEN - 39));
        assert_eq!(overlong_command(&over), Some(MAX_COMMAND_LEN + 1));
    }

    #[test]
    fn addresses_are_literal_ip_addresses() {
        assert_eq!(parse_address("FD00:1::1"), "fd00:1::1".parse().ok());
        assert_eq!(parse_address("198.18.0.1"), "198.18.0.1".parse().ok());
        assert_eq!(parse_address("gateway.example"), None);
    }
}
