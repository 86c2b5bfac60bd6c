//! Who may knock on a door: the address ranges of `Allow_From` and
//! `Deny_From`.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::net::IpAddr;

/// An address range: a network address and a prefix length
/// (`198.51.100.0/24`, `2001:db8::/32`); a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a range could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// Not an address, an address with a bad prefix length, or an empty list.
    Syntax(String),
    /// An address with bits set past the prefix (`198.51.100.7/24`): a typo
    /// for either the host or the network, so neither is guessed.
    HostBits {
        /// The range as written.
        text: String,
        /// The network the prefix gives.
        network: Cidr,
    },
}

impl Cidr {
    /// The network of `prefix` bits (at most the family's length) that
    /// holds `address`: `198.51.100.7` and 24 give `198.51.100.0/24`.
    pub fn of(address: IpAddr, prefix: u8) -> Cidr {
        let prefix = prefix.min(address_bits(address));
        Cidr {
            network: mask(address, prefix),
            prefix,
        }
    }

    /// The single address `address` (a /32 or a /128).
    pub fn host(address: IpAddr) -> Cidr {
        Cidr::of(address, 128)
    }

    /// The address alone for a single address, else the network in CIDR:
    /// how logs, the ledger and the status name what a door is open for.
    pub fn brief(&self) -> String {
        if self.is_host() {
            self.network.to_string()
        } else {
            self.to_string()
        }
    }

    /// The network's first address (`198.51.100.0` of `198.51.100.0/24`).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the range is a single address (a /32 or a /128).
    pub fn is_host(&self) -> bool {
        self.prefix == address_bits(self.network)
    }

    /// Parses `ADDRESS[/PREFIX]`.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(text.to_owned());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| syntax())?;
        let bits = address_bits(address);
        let prefix = match prefix {
            None => bits,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= bits)
                .ok_or_else(syntax)?,
            Some(_) => return Err(syntax()),
        };
        let network = Cidr {
            network: mask(address, prefix),
            prefix,
        };
        if network.network != address {
            return Err(CidrError::HostBits {
                text: text.to_owned(),
                network,
            });
        }
        Ok(network)
    }

    /// Whether `address` is in the range. An IPv4-mapped IPv6 address is
    /// the IPv4 address it maps.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        address.is_ipv4() == self.network.is_ipv4() && mask(address, self.prefix) == self.network
    }
}

/// The length of `address` in bits: 32 for IPv4, 128 for IPv6 (the prefix
/// of a single address).
pub fn address_bits(address: IpAddr) -> u8 {
    if address.is_ipv4() {
        32
    } else {
        128
    }
}

/// `address` with every bit past `prefix` cleared.
fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & keep).into())
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & keep).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;

    /// [`Cidr::parse`].
    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        Cidr::parse(text)
    }
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Syntax(text) => write!(
                f,
                "\"{}\" is not an address or a network such as 198.51.100.0/24 or 2001:db8::/32",
                knock_proto::Visible(text)
            ),
            CidrError::HostBits { text, network } => write!(
                f,
                "\"{}\" has bits set past its prefix (write the network {network}, or the address alone)",
                knock_proto::Visible(text)
            ),
        }
    }
}

impl std::error::Error for CidrError {}

/// Parses a list of ranges separated by commas and/or blanks (at least one).
pub(crate) fn parse_list(text: &str) -> Result<Vec<Cidr>, CidrError> {
    let list = text
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|item| !item.is_empty())
        .map(Cidr::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(CidrError::Syntax(text.to_owned()));
    }
    Ok(list)
}

/// `198.51.100.0/24, 2001:db8::/32`: a list as the configuration echo shows it.
pub fn list_text(list: &[Cidr]) -> String {
    let items: Vec<String> = list.iter().map(Cidr::to_string).collect();
    items.join(", ")
}

/// Whether a packet from `source` can be a knock: unspecified, broadcast
/// and multicast sources never knock, and neither do loopback and
/// `local` addresses unless the capture is on loopback (`loopback_capture`):
/// from the wire they are spoofed. The engine refuses such knocks, and
/// the opener process refuses openings for them.
pub fn may_knock(source: IpAddr, loopback_capture: bool, local: &[IpAddr]) -> bool {
    let (special, loopback) = match source {
        IpAddr::V4(v4) => (
            matches!(v4.octets(), [0, ..]) || v4.is_broadcast() || v4.is_multicast(),
            v4.is_loopback(),
        ),
        IpAddr::V6(v6) => (v6.is_unspecified() || v6.is_multicast(), v6.is_loopback()),
    };
    !special && (loopback_capture || !(loopback || local.contains(&source)))
}

/// A door's `Allow_From` and `Deny_From` lists.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SourceFilter {
    /// Only these sources may knock; anyone when empty.
    pub(crate) allow: Vec<Cidr>,
    /// These sources may not knock, even if allowed.
    pub(crate) deny: Vec<Cidr>,
}

impl SourceFilter {
    /// Whether `source` may knock: not denied, and allowed (deny wins).
    pub(crate) fn permits(&self, source: IpAddr) -> bool {
        let any = |list: &[Cidr]| list.iter().any(|range| range.contains(source));
        !any(&self.deny) && (self.allow.is_empty() || any(&self.allow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn filter(allow: &str, deny: &str) -> SourceFilter {
        let list = |t: &str| {
            if t.is_empty() {
                vec![]
            } else {
                parse_list(t).unwrap()
            }
        };
        SourceFilter {
            allow: list(allow),
            deny: list(deny),
        }
    }

    #[test]
    fn ranges_contain_their_addresses_of_their_family_only() {
        let net = Cidr::parse("198.51.100.0/24").unwrap();
        assert!(net.contains(ip("198.51.100.0")));
        assert!(net.contains(ip("198.51.100.255")));
        assert!(!net.contains(ip("198.51.101.0")));
        assert!(!net.contains(ip("::ffff:198.51.101.0")));
        assert!(net.contains(ip("::ffff:198.51.100.9")));
        assert!(!net.contains(ip("2001:db8::1")));
        let net6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(net6.contains(ip("2001:db8:ffff::1")));
        assert!(!net6.contains(ip("2001:db9::1")));
        assert!(!net6.contains(ip("198.51.100.1")));
        let one = Cidr::parse("198.51.100.7").unwrap();
        assert_eq!(one.to_string(), "198.51.100.7/32");
        assert!(one.contains(ip("198.51.100.7")) && !one.contains(ip("198.51.100.6")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("fd00::1")));
    }

    #[test]
    fn bad_ranges_are_refused_with_the_fix() {
        for bad in [
            "",
            "x",
            "198.51.100.0/",
            "198.51.100.0/33",
            "2001:db8::/129",
            "1.2.3.4/+8",
            "1.2.3.4/-1",
            "host.example/24",
            "1.2.3.4/24/1",
        ] {
            assert!(
                matches!(Cidr::parse(bad), Err(CidrError::Syntax(_))),
                "{bad:?}"
            );
        }
        let e = Cidr::parse("198.51.100.7/24").unwrap_err();
        assert!(
            e.to_string().contains("write the network 198.51.100.0/24"),
            "{e}"
        );
        assert!(matches!(
            Cidr::parse("2001:db8::1/32"),
            Err(CidrError::HostBits { .. })
        ));
    }

    #[test]
    fn lists_take_commas_and_blanks() {
        let list = parse_list("198.51.100.0/24, 2001:db8::/32 203.0.113.9").unwrap();
        assert_eq!(
            list_text(&list),
            "198.51.100.0/24, 2001:db8::/32, 203.0.113.9/32"
        );
        assert!(parse_list(" , ").is_err());
        assert!(parse_list("198.51.100.0/24, nope").is_err());
    }

    #[test]
    fn deny_wins_and_an_empty_allow_list_allows_everyone() {
        let open = filter("", "");
        assert!(open.allow.is_empty() && open.deny.is_empty() && open.permits(ip("203.0.113.1")));
        let f = filter("198.51.100.0/24, 2001:db8::/32", "198.51.100.128/25");
        assert!(f.permits(ip("198.51.100.1")));
        assert!(!f.permits(ip("198.51.100.200")));
        assert!(f.permits(ip("2001:db8::5")));
        assert!(!f.permits(ip("203.0.113.1")));
        let deny_only = filter("", "203.0.113.0/24");
        assert!(!deny_only.permits(ip("203.0.113.1")));
        assert!(deny_only.permits(ip("198.51.100.1")));
    }
}
