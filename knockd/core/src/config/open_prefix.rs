//! `Open_Prefix4` and `Open_Prefix6`: a door that opens for the knocker's
//! network rather than its address alone, for clients whose address
//! changes between the knock and the connection (IPv6 privacy addresses,
//! carrier-grade NAT pools).

use std::net::IpAddr;

use crate::sources::Cidr;

/// A door's prefix lengths, per family; unset ones are the full length
/// (the knocker alone), as before these keys existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct OpenPrefix {
    /// `Open_Prefix4`: 0 to 32.
    pub v4: Option<u8>,
    /// `Open_Prefix6`: 0 to 128.
    pub v6: Option<u8>,
}

/// The shortest IPv4 prefix `--check` does not warn about.
pub const WIDE_V4: u8 = 24;
/// The shortest IPv6 prefix `--check` does not warn about.
pub const WIDE_V6: u8 = 48;

impl OpenPrefix {
    /// The network a knock from `knocker` opens the door for.
    pub fn network(&self, knocker: IpAddr) -> Cidr {
        let prefix = match knocker {
            IpAddr::V4(_) => self.v4.unwrap_or(32),
            IpAddr::V6(_) => self.v6.unwrap_or(128),
        };
        Cidr::of(knocker, prefix)
    }

    /// Each family's length not set here taken from `defaults` (the
    /// `[options]` keys).
    pub(crate) fn inherit(&mut self, defaults: OpenPrefix) {
        self.v4 = self.v4.or(defaults.v4);
        self.v6 = self.v6.or(defaults.v6);
    }

    /// The lengths set that open a door to many hosts (shorter than /24
    /// for IPv4, /48 for IPv6), as `/N` with the family's name.
    pub fn wide(&self) -> Vec<String> {
        let v4 = (self.v4.filter(|&p| p < WIDE_V4)).map(|p| format!("Open_Prefix4 /{p}"));
        let v6 = (self.v6.filter(|&p| p < WIDE_V6)).map(|p| format!("Open_Prefix6 /{p}"));
        v4.into_iter().chain(v6).collect()
    }
}

/// Parses an `Open_Prefix4` value: 0 to 32.
pub(super) fn parse_v4(text: &str) -> Option<u8> {
    parse(text, 32)
}

/// Parses an `Open_Prefix6` value: 0 to 128.
pub(super) fn parse_v6(text: &str) -> Option<u8> {
    parse(text, 128)
}

fn parse(text: &str, bits: u8) -> Option<u8> {
    let number = super::value::parse_number(text)?;
    u8::try_from(number).ok().filter(|&p| p <= bits)
}

/// Words for the error messages of `Open_Prefix4` values.
pub(super) const V4_EXPECTED: &str = "a prefix length from 0 to 32";
/// Words for the error messages of `Open_Prefix6` values.
pub(super) const V6_EXPECTED: &str = "a prefix length from 0 to 128";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_door_opens_for_the_knockers_network() {
        let both = OpenPrefix {
            v4: Some(24),
            v6: Some(64),
        };
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        let v6: IpAddr = "2001:db8:1:2:a:b:c:d".parse().unwrap();
        assert_eq!(both.network(v4).to_string(), "198.51.100.0/24");
        assert_eq!(both.network(v6).to_string(), "2001:db8:1:2::/64");
        let unset = OpenPrefix::default();
        assert!(unset.network(v4).is_host() && unset.network(v6).is_host());
        assert_eq!(unset.network(v4).network(), v4);
    }

    #[test]
    fn lengths_are_checked_per_family() {
        assert_eq!(parse_v4(" 24 "), Some(24));
        assert_eq!(parse_v4("0"), Some(0));
        assert_eq!(parse_v6("128"), Some(128));
        for bad in ["33", "-1", "/24", "", "24.0", "999999999999999999999"] {
            assert_eq!(parse_v4(bad), None, "{bad}");
        }
        assert_eq!(parse_v6("129"), None);
    }

    #[test]
    fn door_lengths_win_over_the_options_and_wide_ones_are_named() {
        let mut door = OpenPrefix {
            v4: None,
            v6: Some(56),
        };
        door.inherit(OpenPrefix {
            v4: Some(16),
            v6: Some(64),
        });
        assert_eq!((door.v4, door.v6), (Some(16), Some(56)));
        assert_eq!(door.wide(), ["Open_Prefix4 /16"]);
        assert!(OpenPrefix::default().wide().is_empty());
    }
}
