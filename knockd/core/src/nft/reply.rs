//! Reading what the kernel answers: acknowledgements and errors, a set's
//! description, a set's elements with the time each has left, and the sets
//! a table's rules look addresses up in.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::net::IpAddr;
use std::time::Duration;

use super::attrs::{align, Attrs, ParseError, NFGENMSG_LEN, NLMSG_HDRLEN};
use super::consts::*;
use super::{interval_end, SetRef};
use crate::sources::{address_bits, Cidr};

/// One message of the kernel's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The request numbered `seq` succeeded.
    Ack {
        /// Its sequence number.
        seq: u32,
    },
    /// The request numbered `seq` failed with `errno` (positive).
    Error {
        /// Its sequence number.
        seq: u32,
        /// The error number, as `errno` holds it.
        errno: i32,
    },
    /// The end of a dump.
    Done {
        /// The dump request's sequence number.
        seq: u32,
    },
    /// An nftables message (a set, an element list, a rule) and its attributes.
    Data {
        /// The nftables command number (`NFT_MSG_*`), without the subsystem.
        command: u16,
        /// The sequence number of the request it answers.
        seq: u32,
        /// Its attributes, after the `nfgenmsg` header.
        attrs: &'a [u8],
    },
}

/// The messages in the bytes of one `recv`.
#[derive(Debug, Clone)]
pub struct Replies<'a> {
    rest: &'a [u8],
}

impl<'a> Replies<'a> {
    /// The messages in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Replies<'a> {
        Replies { rest: bytes }
    }
}

fn ne_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_ne_bytes(b))
}

fn ne_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_ne_bytes(b))
}

impl<'a> Iterator for Replies<'a> {
    type Item = Result<Reply<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let message = (|| {
            let len = usize::try_from(ne_u32(self.rest, 0)?).ok()?;
            let body = self.rest.get(NLMSG_HDRLEN..len)?;
            Some((len, ne_u16(self.rest, 4)?, ne_u32(self.rest, 8)?, body))
        })();
        let Some((len, kind, seq, body)) = message else {
            self.rest = &[];
            return Some(Err(ParseError::Truncated));
        };
        self.rest = self.rest.get(align(len)..).unwrap_or_default();
        let reply = match kind {
            NLMSG_ERROR => {
                // The error, then the header of the request it answers.
                let code = ne_u32(body, 0).map(|c| c as i32);
                let request_seq = ne_u32(body, 4 + 8);
                match (code, request_seq) {
                    (Some(0), Some(seq)) => Reply::Ack { seq },
                    (Some(code), Some(seq)) => Reply::Error {
                        seq,
                        errno: code.saturating_neg(),
                    },
                    _ => return Some(Err(ParseError::Truncated)),
                }
            }
            NLMSG_DONE => Reply::Done { seq },
            _ => Reply::Data {
                command: kind & 0xff,
                seq,
                attrs: body.get(NFGENMSG_LEN..).unwrap_or_default(),
            },
        };
        Some(Ok(reply))
    }
}

/// A set as the kernel describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetInfo {
    /// `NFTA_SET_FLAGS`.
    pub flags: u32,
    /// `NFTA_SET_KEY_TYPE`: nft's data type number.
    pub key_type: u32,
    /// `NFTA_SET_KEY_LEN`.
    pub key_len: u32,
}

impl SetInfo {
    /// Reads a `NEWSET` message's attributes.
    pub fn parse(attrs: &[u8]) -> Result<SetInfo, ParseError> {
        let mut info = SetInfo::default();
        for attr in Attrs::new(attrs) {
            let attr = attr?;
            match attr.kind {
                NFTA_SET_FLAGS => info.flags = attr.be32()?,
                NFTA_SET_KEY_TYPE => info.key_type = attr.be32()?,
                NFTA_SET_KEY_LEN => info.key_len = attr.be32()?,
                _ => {}
            }
        }
        Ok(info)
    }

    /// Why knockd cannot add `want`'s elements to this set, if it cannot:
    /// another key type, a map, no `timeout` flag, or no `interval` flag
    /// where prefixes go.
    pub fn unfit_for(&self, want: &SetRef) -> Option<String> {
        let (key_type, key_len) = want.key();
        let not = |what: &str| {
            Some(format!(
                "set {} in table {} exists but {what}; knockd needs `{}`: \
                 delete the set or name another with Nft_Set",
                want.name,
                want.table,
                want.declaration()
            ))
        };
        if self.key_type != key_type || self.key_len != key_len {
            return not("has another key type");
        }
        if self.flags & (NFT_SET_MAP | NFT_SET_OBJECT | NFT_SET_CONCAT) != 0 {
            return not("is a map or a concatenation");
        }
        if self.flags & NFT_SET_TIMEOUT == 0 {
            return not("has no `flags timeout`");
        }
        match (want.interval, self.flags & NFT_SET_INTERVAL != 0) {
            (true, false) => return not("has no `flags interval`"),
            // Its elements would need interval ends a host element lacks.
            (false, true) => return not("has `flags interval` (give the door Open_Prefix4/6)"),
            _ => {}
        }
        None
    }
}

/// One element of a set as a dump shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveElement {
    /// Its key.
    pub key: IpAddr,
    /// Whether it ends an interval (the address past a network's last).
    pub interval_end: bool,
    /// The timeout it was added with.
    pub timeout: Option<Duration>,
    /// The time it has left.
    pub expires: Option<Duration>,
}

/// The elements of one `NEWSETELEM` message of a dump; keys that are no
/// address (a set of another type) are left out.
pub fn elements(attrs: &[u8]) -> Result<Vec<LiveElement>, ParseError> {
    let mut out = Vec::new();
    for attr in Attrs::new(attrs) {
        let attr = attr?;
        if attr.kind != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for item in attr.nested() {
            if let Some(element) = element(item?.nested())? {
                out.push(element);
            }
        }
    }
    Ok(out)
}

fn element(attrs: Attrs<'_>) -> Result<Option<LiveElement>, ParseError> {
    let mut key = None;
    let mut element = LiveElement {
        key: IpAddr::from([0, 0, 0, 0]),
        interval_end: false,
        timeout: None,
        expires: None,
    };
    for attr in attrs {
        let attr = attr?;
        match attr.kind {
            NFTA_SET_ELEM_KEY => {
                for value in attr.nested() {
                    let value = value?;
                    if value.kind == NFTA_DATA_VALUE {
                        key = address(value.value);
                    }
                }
            }
            NFTA_SET_ELEM_FLAGS => {
                element.interval_end = attr.be32()? & NFT_SET_ELEM_INTERVAL_END != 0
            }
            NFTA_SET_ELEM_TIMEOUT => element.timeout = Some(Duration::from_millis(attr.be64()?)),
            NFTA_SET_ELEM_EXPIRATION => element.expires = Some(Duration::from_millis(attr.be64()?)),
            _ => {}
        }
    }
    Ok(key.map(|key| LiveElement { key, ..element }))
}

fn address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

/// An open element: what it opens for, and the time it has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenElement {
    /// The address or network.
    pub element: Cidr,
    /// The time left before the kernel removes it (None: it never expires).
    pub expires: Option<Duration>,
}

/// The elements of a set as addresses and networks: an interval set's
/// start keys, each with the prefix its end key gives (an end that no
/// prefix gives, from a range nft added, shows as its start address).
pub fn open_elements(mut live: Vec<LiveElement>) -> Vec<OpenElement> {
    live.sort_by_key(|e| (e.key, !e.interval_end));
    let ends: Vec<IpAddr> = live
        .iter()
        .filter(|e| e.interval_end)
        .map(|e| e.key)
        .collect();
    live.iter()
        .filter(|e| !e.interval_end)
        .map(|start| {
            let next_end = ends.iter().find(|&&end| end > start.key).copied();
            let element = (0..=address_bits(start.key))
                .rev()
                .map(|prefix| Cidr::of(start.key, prefix))
                .find(|e| {
                    e.network() == start.key && interval_end(e) == next_end && next_end.is_some()
                })
                .unwrap_or_else(|| Cidr::host(start.key));
            OpenElement {
                element,
                expires: start.expires,
            }
        })
        .collect()
}

/// The sets a rule's expressions name: `lookup` (`ip saddr @set`) and
/// `dynset` (`add @set { ip saddr }`).
pub fn referenced_sets(attrs: &[u8]) -> Result<Vec<String>, ParseError> {
    let mut sets = Vec::new();
    for attr in Attrs::new(attrs) {
        let attr = attr?;
        if attr.kind != NFTA_RULE_EXPRESSIONS {
            continue;
        }
        for expression in attr.nested() {
            let (mut name, mut data) = (String::new(), None);
            for part in expression?.nested() {
                let part = part?;
                match part.kind {
                    NFTA_EXPR_NAME => name = part.string(),
                    NFTA_EXPR_DATA => data = Some(part),
                    _ => {}
                }
            }
            let wanted = match name.as_str() {
                "lookup" => NFTA_LOOKUP_SET,
                "dynset" => NFTA_DYNSET_SET_NAME,
                _ => continue,
            };
            for field in data.iter().flat_map(|d| d.nested()) {
                let field = field?;
                if field.kind == wanted {
                    sets.push(field.string());
                }
            }
        }
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::super::attrs::Writer;
    use super::*;

    fn message(kind: u16, seq: u32, build: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        w.begin_message(kind, 0, seq, 1, 0);
        build(&mut w);
        w.end_message();
        w.finish()
    }

    fn error(seq: u32, code: i32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&36u32.to_ne_bytes());
        bytes.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(&code.to_ne_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes
    }

    #[test]
    fn acks_errors_and_done_are_told_apart() {
        let mut bytes = error(5, 0);
        bytes.extend(error(6, -2));
        bytes.extend(message(NLMSG_DONE, 7, |_| {}));
        let replies: Vec<_> = Replies::new(&bytes).map(Result::unwrap).collect();
        assert_eq!(
            replies,
            [
                Reply::Ack { seq: 5 },
                Reply::Error { seq: 6, errno: 2 },
                Reply::Done { seq: 7 }
            ]
        );
    }

    #[test]
    fn a_set_is_checked_against_what_the_door_needs() {
        let bytes = message(0x0a09, 1, |w| {
            w.attr_str(NFTA_SET_NAME, "ssh_v4");
            w.attr_be32(NFTA_SET_FLAGS, NFT_SET_TIMEOUT);
            w.attr_be32(NFTA_SET_KEY_TYPE, TYPE_IPADDR);
            w.attr_be32(NFTA_SET_KEY_LEN, 4);
        });
        let Some(Ok(Reply::Data { command, attrs, .. })) = Replies::new(&bytes).next() else {
            panic!()
        };
        assert_eq!(command, NFT_MSG_NEWSET);
        let info = SetInfo::parse(attrs).unwrap();
        let table = super::super::Table::default_table();
        assert_eq!(
            info.unfit_for(&SetRef::new(&table, "ssh", false, false)),
            None
        );
        let v6 = info
            .unfit_for(&SetRef::new(&table, "ssh", true, false))
            .unwrap();
        assert!(v6.contains("has another key type"), "{v6}");
        assert!(
            v6.contains("set ssh_v6 { type ipv6_addr; flags timeout; }"),
            "{v6}"
        );
        let prefix = info.unfit_for(&SetRef::new(&table, "ssh", false, true));
        assert!(prefix.unwrap().contains("no `flags interval`"));
        let plain = SetInfo { flags: 0, ..info };
        let wanted = SetRef::new(&table, "ssh", false, false);
        assert!(plain
            .unfit_for(&wanted)
            .unwrap()
            .contains("no `flags timeout`"));
    }

    fn live(key: &str, end: bool, expires: u64) -> Vec<u8> {
        let mut w = Writer::default();
        w.begin_nest(NFTA_LIST_ELEM);
        w.begin_nest(NFTA_SET_ELEM_KEY);
        w.attr(
            NFTA_DATA_VALUE,
            &super::super::key_bytes(key.parse().unwrap()),
        );
        w.end_nest();
        if end {
            w.attr_be32(NFTA_SET_ELEM_FLAGS, 1);
        } else {
            w.attr_be64(NFTA_SET_ELEM_TIMEOUT, 30_000);
            w.attr_be64(NFTA_SET_ELEM_EXPIRATION, expires);
        }
        w.end_nest();
        w.finish()
    }

    #[test]
    fn elements_give_their_address_and_time_left() {
        let bytes = message(0x0a0c, 3, |w| {
            w.attr_str(NFTA_SET_ELEM_LIST_TABLE, "knockd");
            w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            w.end_nest();
        });
        // The nest was empty; put two elements in a fresh one.
        let mut list = live("198.18.0.2", false, 29_500);
        list.extend(live("198.18.0.3", false, 1_000));
        let mut w = Writer::default();
        w.attr(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, &list);
        let found = elements(&w.finish()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].key, "198.18.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(found[0].timeout, Some(Duration::from_secs(30)));
        assert_eq!(found[1].expires, Some(Duration::from_secs(1)));
        assert!(Replies::new(&bytes).all(|r| r.is_ok()));
    }

    #[test]
    fn interval_starts_pair_with_their_ends() {
        let start = |k: &str| LiveElement {
            key: k.parse().unwrap(),
            interval_end: false,
            timeout: None,
            expires: Some(Duration::from_secs(5)),
        };
        let end = |k: &str| LiveElement {
            interval_end: true,
            ..start(k)
        };
        let open = open_elements(vec![
            end("198.18.6.0"),
            start("198.18.5.0"),
            start("198.18.9.9"),
            end("198.18.9.10"),
            start("fd00::"),
        ]);
        let shown: Vec<String> = open.iter().map(|o| o.element.brief()).collect();
        assert_eq!(shown, ["198.18.5.0/24", "198.18.9.9", "fd00::"]);
    }

    #[test]
    fn rules_name_the_sets_they_look_up() {
        let mut w = Writer::default();
        w.begin_nest(NFTA_RULE_EXPRESSIONS);
        for (name, set) in [
            ("payload", None),
            ("lookup", Some("ssh_v4")),
            ("dynset", Some("seen")),
        ] {
            w.begin_nest(NFTA_LIST_ELEM);
            w.attr_str(NFTA_EXPR_NAME, name);
            w.begin_nest(NFTA_EXPR_DATA);
            if let Some(set) = set {
                w.attr_str(NFTA_LOOKUP_SET, set);
            }
            w.end_nest();
            w.end_nest();
        }
        w.end_nest();
        assert_eq!(referenced_sets(&w.finish()).unwrap(), ["ssh_v4", "seen"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[1u8, 2, 3][..], &[20, 0, 0, 0, 2, 0, 0, 0], &[255; 40]] {
            for reply in Replies::new(bytes) {
                let _ = reply;
            }
            let _ = elements(bytes);
            let _ = referenced_sets(bytes);
            let _ = SetInfo::parse(bytes);
        }
        assert_eq!(
            Replies::new(&[1, 2, 3]).next(),
            Some(Err(ParseError::Truncated))
        );
    }
}
