//! nftables over netlink, as knockd's `Nft_Set` doors need it: the bytes
//! of the requests and the reading of the kernel's replies, with no I/O (the
//! daemon's `sys::netlink` sends and receives them).
//!
//! Only the small subset a door needs is here, in the style of the frame
//! decoder ([`crate::wire`]): a batch that creates a table and a set with
//! `flags timeout` (and `interval` for prefixes), adds an element with a
//! timeout, deletes one or flushes a set ([`request::Batch`]); requests for
//! one set, a dump of a set's elements and a dump of a table's rules
//! ([`request`]); and a bounds-checked reader of the replies ([`reply`]).
//!
//! Byte order: netlink's own headers and attribute headers are in the
//! host's order; nftables' values (flags, key types, timeouts in
//! milliseconds, addresses) are big-endian, as the kernel's
//! `nf_tables.h` defines them.

pub mod attrs;
pub mod reply;
pub mod request;

use std::net::IpAddr;

use crate::sources::{address_bits, Cidr};

/// The numbers of `linux/netlink.h`, `linux/netfilter/nfnetlink.h` and
/// `linux/netfilter/nf_tables.h` that knockd uses.
pub mod consts {
    /// `NLMSG_ERROR`: an error or an acknowledgement.
    pub const NLMSG_ERROR: u16 = 2;
    /// `NLMSG_DONE`: the end of a dump.
    pub const NLMSG_DONE: u16 = 3;
    /// `NLM_F_REQUEST`.
    pub const NLM_F_REQUEST: u16 = 0x1;
    /// `NLM_F_ACK`: answer with an acknowledgement.
    pub const NLM_F_ACK: u16 = 0x4;
    /// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
    pub const NLM_F_DUMP: u16 = 0x300;
    /// `NLM_F_CREATE`.
    pub const NLM_F_CREATE: u16 = 0x400;
    /// `NLA_F_NESTED`: the attribute holds attributes.
    pub const NLA_F_NESTED: u16 = 0x8000;
    /// The attribute type bits (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
    pub const NLA_TYPE_MASK: u16 = 0x3fff;

    /// `NFNL_SUBSYS_NFTABLES`.
    pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
    /// `NFNL_MSG_BATCH_BEGIN`.
    pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    /// `NFNL_MSG_BATCH_END`.
    pub const NFNL_MSG_BATCH_END: u16 = 0x11;

    /// `NFT_MSG_NEWTABLE`.
    pub const NFT_MSG_NEWTABLE: u16 = 0;
    /// `NFT_MSG_GETRULE`.
    pub const NFT_MSG_GETRULE: u16 = 7;
    /// `NFT_MSG_NEWRULE`: a rule, as a rule dump answers.
    pub const NFT_MSG_NEWRULE: u16 = 6;
    /// `NFT_MSG_NEWSET`: also a set, as `GETSET` answers.
    pub const NFT_MSG_NEWSET: u16 = 9;
    /// `NFT_MSG_GETSET`.
    pub const NFT_MSG_GETSET: u16 = 10;
    /// `NFT_MSG_NEWSETELEM`: also the elements of a dump.
    pub const NFT_MSG_NEWSETELEM: u16 = 12;
    /// `NFT_MSG_GETSETELEM`.
    pub const NFT_MSG_GETSETELEM: u16 = 13;
    /// `NFT_MSG_DELSETELEM`.
    pub const NFT_MSG_DELSETELEM: u16 = 14;

    /// `NFTA_TABLE_NAME`.
    pub const NFTA_TABLE_NAME: u16 = 1;
    /// `NFTA_SET_TABLE`.
    pub const NFTA_SET_TABLE: u16 = 1;
    /// `NFTA_SET_NAME`.
    pub const NFTA_SET_NAME: u16 = 2;
    /// `NFTA_SET_FLAGS`.
    pub const NFTA_SET_FLAGS: u16 = 3;
    /// `NFTA_SET_KEY_TYPE`.
    pub const NFTA_SET_KEY_TYPE: u16 = 4;
    /// `NFTA_SET_KEY_LEN`.
    pub const NFTA_SET_KEY_LEN: u16 = 5;
    /// `NFTA_SET_ID`.
    pub const NFTA_SET_ID: u16 = 10;
    /// `NFT_SET_INTERVAL`.
    pub const NFT_SET_INTERVAL: u32 = 0x4;
    /// `NFT_SET_MAP`.
    pub const NFT_SET_MAP: u32 = 0x8;
    /// `NFT_SET_TIMEOUT`.
    pub const NFT_SET_TIMEOUT: u32 = 0x10;
    /// `NFT_SET_OBJECT`.
    pub const NFT_SET_OBJECT: u32 = 0x40;
    /// `NFT_SET_CONCAT`.
    pub const NFT_SET_CONCAT: u32 = 0x80;

    /// `NFTA_SET_ELEM_LIST_TABLE`.
    pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
    /// `NFTA_SET_ELEM_LIST_SET`.
    pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
    /// `NFTA_SET_ELEM_LIST_ELEMENTS`.
    pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
    /// `NFTA_LIST_ELEM`: one item of a list attribute.
    pub const NFTA_LIST_ELEM: u16 = 1;
    /// `NFTA_SET_ELEM_KEY`.
    pub const NFTA_SET_ELEM_KEY: u16 = 1;
    /// `NFTA_SET_ELEM_FLAGS`.
    pub const NFTA_SET_ELEM_FLAGS: u16 = 3;
    /// `NFTA_SET_ELEM_TIMEOUT`.
    pub const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
    /// `NFTA_SET_ELEM_EXPIRATION`.
    pub const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
    /// `NFT_SET_ELEM_INTERVAL_END`.
    pub const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;
    /// `NFTA_DATA_VALUE`.
    pub const NFTA_DATA_VALUE: u16 = 1;

    /// `NFTA_RULE_TABLE`.
    pub const NFTA_RULE_TABLE: u16 = 1;
    /// `NFTA_RULE_EXPRESSIONS`.
    pub const NFTA_RULE_EXPRESSIONS: u16 = 4;
    /// `NFTA_EXPR_NAME`.
    pub const NFTA_EXPR_NAME: u16 = 1;
    /// `NFTA_EXPR_DATA`.
    pub const NFTA_EXPR_DATA: u16 = 2;
    /// `NFTA_LOOKUP_SET`.
    pub const NFTA_LOOKUP_SET: u16 = 1;
    /// `NFTA_DYNSET_SET_NAME`.
    pub const NFTA_DYNSET_SET_NAME: u16 = 1;

    /// nft's `ipv4_addr` data type (`TYPE_IPADDR`), as a set's key type.
    pub const TYPE_IPADDR: u32 = 7;
    /// nft's `ipv6_addr` data type (`TYPE_IP6ADDR`).
    pub const TYPE_IP6ADDR: u32 = 8;
}

/// The longest table or set name the kernel takes (`NFT_NAME_MAXLEN` less
/// its terminating zero).
pub const NAME_MAX: usize = 255;

/// An nftables table family that can hold address sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Family {
    /// `inet`: IPv4 and IPv6.
    Inet,
    /// `ip`: IPv4 only.
    Ip,
    /// `ip6`: IPv6 only.
    Ip6,
}

impl Family {
    /// The family's `NFPROTO_*` number, as the netlink header carries it.
    pub fn number(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Ip6 => 10,
        }
    }

    /// The family's name in nft's syntax.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }

    /// Whether a table of this family can filter `ipv6` (or IPv4) packets.
    pub fn holds(self, ipv6: bool) -> bool {
        match self {
            Family::Inet => true,
            Family::Ip => !ipv6,
            Family::Ip6 => ipv6,
        }
    }
}

/// A table, as `Nft_Table` names it (`inet knockd`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Its family.
    pub family: Family,
    /// Its name.
    pub name: String,
}

/// What `Nft_Table` must look like, for messages.
pub const TABLE_EXPECTED: &str =
    "a family (inet, ip or ip6) and a table name, such as \"inet knockd\"";
/// What `Nft_Set` must look like, for messages.
pub const SET_EXPECTED: &str =
    "a set name of letters, digits and _ . / (starting with a letter, at most 250 characters)";

impl Table {
    /// The table knockd uses when `Nft_Table` is not set.
    pub fn default_table() -> Table {
        Table {
            family: Family::Inet,
            name: "knockd".into(),
        }
    }

    /// Reads `inet knockd`, `ip filter`: a family and a name (a name alone is
    /// an `inet` table).
    pub fn parse(text: &str) -> Option<Table> {
        let mut words = text.split_ascii_whitespace();
        let (first, second) = (words.next()?, words.next());
        if words.next().is_some() {
            return None;
        }
        let (family, name) = match second {
            None => (Family::Inet, first),
            Some(name) => {
                let family = match first.to_ascii_lowercase().as_str() {
                    "inet" => Family::Inet,
                    "ip" => Family::Ip,
                    "ip6" => Family::Ip6,
                    _ => return None,
                };
                (family, name)
            }
        };
        valid_name(name, NAME_MAX).then(|| Table {
            family,
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.family.name(), self.name)
    }
}

/// Whether `name` is a name nft's syntax takes without quotes, at most
/// `max` bytes long: a letter, then letters, digits, `_`, `.` and `/`.
pub fn valid_name(name: &str, max: usize) -> bool {
    let mut bytes = name.bytes();
    name.len() <= max
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_./".contains(&b))
}

/// Whether `Nft_Set`'s value is a set name knockd can add `_v4` and `_v6` to.
pub fn valid_set_name(name: &str) -> bool {
    valid_name(name, NAME_MAX - 3)
}

/// One of a door's two sets: `<Nft_Set>_v4` holds IPv4 knockers,
/// `<Nft_Set>_v6` IPv6 ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetRef {
    /// The table that holds it.
    pub table: Table,
    /// Its full name, with the suffix.
    pub name: String,
    /// Whether it holds IPv6 addresses.
    pub ipv6: bool,
    /// Whether it has `flags interval` (a door opening for prefixes).
    pub interval: bool,
}

impl SetRef {
    /// The set of door set `base` for knockers of one family.
    pub fn new(table: &Table, base: &str, ipv6: bool, interval: bool) -> SetRef {
        SetRef {
            table: table.clone(),
            name: format!("{base}_{}", if ipv6 { "v6" } else { "v4" }),
            ipv6,
            interval,
        }
    }

    /// Its key type as nft names it.
    pub fn key_type_name(&self) -> &'static str {
        if self.ipv6 {
            "ipv6_addr"
        } else {
            "ipv4_addr"
        }
    }

    /// Its key type's number and length.
    pub fn key(&self) -> (u32, u32) {
        if self.ipv6 {
            (consts::TYPE_IP6ADDR, 16)
        } else {
            (consts::TYPE_IPADDR, 4)
        }
    }

    /// Its flags: `timeout`, and `interval` for prefixes.
    pub fn flags(&self) -> u32 {
        let interval = if self.interval {
            consts::NFT_SET_INTERVAL
        } else {
            0
        };
        consts::NFT_SET_TIMEOUT | interval
    }

    /// The set as `nft` would declare it, for messages.
    pub fn declaration(&self) -> String {
        let flags = if self.interval {
            "interval, timeout"
        } else {
            "timeout"
        };
        format!(
            "set {} {{ type {}; flags {flags}; }}",
            self.name,
            self.key_type_name()
        )
    }
}

/// `inet knockd ssh_v4`: the family, table and name, as logs and the
/// status show a set.
impl std::fmt::Display for SetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.table, self.name)
    }
}

/// The first address past `network`, as the end of an interval element,
/// or None when the network runs to the last address.
pub fn interval_end(network: &Cidr) -> Option<IpAddr> {
    let span = u32::from(address_bits(network.network()) - network.prefix());
    match network.network() {
        IpAddr::V4(a) => {
            let end = u64::from(u32::from(a)) + (1u64 << span);
            u32::try_from(end)
                .ok()
                .map(|e| IpAddr::from(e.to_be_bytes()))
        }
        IpAddr::V6(a) => 1u128
            .checked_shl(span)
            .and_then(|size| u128::from(a).checked_add(size))
            .map(|e| IpAddr::from(e.to_be_bytes())),
    }
}

/// The key bytes of `addr`, as a set of its family stores it.
pub fn key_bytes(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_read_with_or_without_a_family() {
        let t = Table::parse("inet knockd").unwrap();
        assert_eq!((t.family, t.name.as_str()), (Family::Inet, "knockd"));
        assert_eq!(Table::parse(" IP6  filter ").unwrap().family, Family::Ip6);
        assert_eq!(Table::parse("knockd").unwrap().family, Family::Inet);
        assert_eq!(Table::parse("inet knockd x"), None);
        assert_eq!(Table::parse("arp knockd"), None);
        assert_eq!(Table::parse("inet 9x"), None);
        assert_eq!(Table::parse(""), None);
        assert_eq!(
            Table::parse("inet knockd").unwrap().to_string(),
            "inet knockd"
        );
    }

    #[test]
    fn set_names_leave_room_for_the_suffix() {
        assert!(valid_set_name("ssh_allowed"));
        assert!(!valid_set_name("ssh allowed"));
        assert!(!valid_set_name("_x"));
        assert!(!valid_set_name(&"a".repeat(253)));
        assert!(valid_set_name(&"a".repeat(252)));
        let set = SetRef::new(&Table::default_table(), "ssh", true, false);
        assert_eq!(set.name, "ssh_v6");
        assert_eq!(set.to_string(), "inet knockd ssh_v6");
        assert_eq!(
            set.declaration(),
            "set ssh_v6 { type ipv6_addr; flags timeout; }"
        );
    }

    #[test]
    fn intervals_end_one_past_their_networks_last_address() {
        let end = |text: &str, prefix| interval_end(&Cidr::of(text.parse().unwrap(), prefix));
        assert_eq!(end("198.18.5.77", 24), Some("198.18.6.0".parse().unwrap()));
        assert_eq!(end("198.18.5.77", 32), Some("198.18.5.78".parse().unwrap()));
        assert_eq!(end("1.2.3.4", 0), None);
        assert_eq!(end("255.255.255.0", 24), None);
        assert_eq!(end("fd00::1:2", 64), Some("fd00:0:0:1::".parse().unwrap()));
        assert_eq!(end("ffff::", 0), None);
    }
}
