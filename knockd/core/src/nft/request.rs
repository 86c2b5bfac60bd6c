//! The requests knockd sends: one batch per change (a transaction the
//! kernel applies whole or not at all), and the lookups and dumps of
//! `knockd status` and `--check`.
//!
//! Every message of a batch asks for an acknowledgement (`NLM_F_ACK`), so
//! the kernel answers each with an error or a zero: the reader waits for
//! exactly [`Request::acks`] answers and never for one that cannot come.

use std::time::Duration;

use super::attrs::Writer;
use super::consts::*;
use super::{interval_end, key_bytes, SetRef, Table};
use crate::sources::Cidr;

/// Bytes to send and how many acknowledgements they bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The messages.
    pub bytes: Vec<u8>,
    /// The sequence number of the first message; the others follow it.
    pub first_seq: u32,
    /// How many `NLMSG_ERROR` answers (zero or an error) the kernel sends
    /// before the request is done; a dump ends with `NLMSG_DONE` instead.
    pub acks: u32,
}

/// A transaction: the changes between a batch's begin and end messages.
#[derive(Debug)]
pub struct Batch {
    writer: Writer,
    first_seq: u32,
    next_seq: u32,
}

fn nft_type(command: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | command
}

impl Batch {
    /// A batch whose messages are numbered from `seq`.
    pub fn new(seq: u32) -> Batch {
        let mut batch = Batch {
            writer: Writer::default(),
            first_seq: seq.wrapping_add(1),
            next_seq: seq,
        };
        batch.control(NFNL_MSG_BATCH_BEGIN);
        batch
    }

    fn control(&mut self, kind: u16) {
        let seq = self.take_seq();
        self.writer
            .begin_message(kind, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES);
        self.writer.end_message();
    }

    fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    fn begin(&mut self, command: u16, flags: u16, table: &Table) {
        let seq = self.take_seq();
        let flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        (self.writer).begin_message(nft_type(command), flags, seq, table.family.number(), 0);
    }

    /// Creates `table` unless it exists (an existing one is left as it is).
    pub fn new_table(&mut self, table: &Table) {
        self.begin(NFT_MSG_NEWTABLE, NLM_F_CREATE, table);
        self.writer.attr_str(NFTA_TABLE_NAME, &table.name);
        self.writer.end_message();
    }

    /// Creates `set` (with `id`, unique within the batch) unless it exists.
    pub fn new_set(&mut self, set: &SetRef, id: u32) {
        self.begin(NFT_MSG_NEWSET, NLM_F_CREATE, &set.table);
        let (key_type, key_len) = set.key();
        self.writer.attr_str(NFTA_SET_TABLE, &set.table.name);
        self.writer.attr_str(NFTA_SET_NAME, &set.name);
        self.writer.attr_be32(NFTA_SET_FLAGS, set.flags());
        self.writer.attr_be32(NFTA_SET_KEY_TYPE, key_type);
        self.writer.attr_be32(NFTA_SET_KEY_LEN, key_len);
        self.writer.attr_be32(NFTA_SET_ID, id);
        self.writer.end_message();
    }

    /// Adds `element` to `set`, living `timeout` (in whole milliseconds,
    /// at least one: a zero would be the set's default, which is forever).
    /// A prefix in an interval set is two keys: its first address, and the
    /// address past its last flagged as the interval's end (none when the
    /// network runs to the last address).
    pub fn add_element(&mut self, set: &SetRef, element: &Cidr, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.elements(NFT_MSG_NEWSETELEM, NLM_F_CREATE, set, element, Some(ms));
    }

    /// Deletes `element` from `set` (an error if it is not there).
    pub fn delete_element(&mut self, set: &SetRef, element: &Cidr) {
        self.elements(NFT_MSG_DELSETELEM, 0, set, element, None);
    }

    /// Deletes every element of `set`.
    pub fn flush_set(&mut self, set: &SetRef) {
        self.begin(NFT_MSG_DELSETELEM, 0, &set.table);
        self.writer
            .attr_str(NFTA_SET_ELEM_LIST_TABLE, &set.table.name);
        self.writer.attr_str(NFTA_SET_ELEM_LIST_SET, &set.name);
        self.writer.end_message();
    }

    fn elements(
        &mut self,
        command: u16,
        flags: u16,
        set: &SetRef,
        element: &Cidr,
        timeout_ms: Option<u64>,
    ) {
        self.begin(command, flags, &set.table);
        self.writer
            .attr_str(NFTA_SET_ELEM_LIST_TABLE, &set.table.name);
        self.writer.attr_str(NFTA_SET_ELEM_LIST_SET, &set.name);
        self.writer.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
        self.key(element.network(), 0, timeout_ms);
        if set.interval {
            if let Some(end) = interval_end(element) {
                self.key(end, NFT_SET_ELEM_INTERVAL_END, None);
            }
        }
        self.writer.end_nest();
        self.writer.end_message();
    }

    fn key(&mut self, addr: std::net::IpAddr, flags: u32, timeout_ms: Option<u64>) {
        self.writer.begin_nest(NFTA_LIST_ELEM);
        self.writer.begin_nest(NFTA_SET_ELEM_KEY);
        self.writer.attr(NFTA_DATA_VALUE, &key_bytes(addr));
        self.writer.end_nest();
        if flags != 0 {
            self.writer.attr_be32(NFTA_SET_ELEM_FLAGS, flags);
        }
        if let Some(ms) = timeout_ms {
            self.writer.attr_be64(NFTA_SET_ELEM_TIMEOUT, ms);
        }
        self.writer.end_nest();
    }

    /// The batch with its end message.
    pub fn finish(mut self) -> Request {
        let acks = self.next_seq.wrapping_sub(self.first_seq);
        self.control(NFNL_MSG_BATCH_END);
        Request {
            bytes: self.writer.finish(),
            first_seq: self.first_seq,
            acks,
        }
    }
}

/// Asks for `set` itself (its flags and key type): one `NEWSET` answer or
/// an error (`ENOENT` when it or its table does not exist).
pub fn get_set(seq: u32, set: &SetRef) -> Request {
    let mut w = Writer::default();
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    w.begin_message(
        nft_type(NFT_MSG_GETSET),
        flags,
        seq,
        set.table.family.number(),
        0,
    );
    w.attr_str(NFTA_SET_TABLE, &set.table.name);
    w.attr_str(NFTA_SET_NAME, &set.name);
    w.end_message();
    Request {
        bytes: w.finish(),
        first_seq: seq,
        acks: 1,
    }
}

/// Dumps the elements of `set`, with their timeouts and expirations.
pub fn dump_elements(seq: u32, set: &SetRef) -> Request {
    let mut w = Writer::default();
    let flags = NLM_F_REQUEST | NLM_F_DUMP;
    let family = set.table.family.number();
    w.begin_message(nft_type(NFT_MSG_GETSETELEM), flags, seq, family, 0);
    w.attr_str(NFTA_SET_ELEM_LIST_TABLE, &set.table.name);
    w.attr_str(NFTA_SET_ELEM_LIST_SET, &set.name);
    w.end_message();
    Request {
        bytes: w.finish(),
        first_seq: seq,
        acks: 0,
    }
}

/// Dumps the rules of `table`.
pub fn dump_rules(seq: u32, table: &Table) -> Request {
    let mut w = Writer::default();
    let flags = NLM_F_REQUEST | NLM_F_DUMP;
    w.begin_message(
        nft_type(NFT_MSG_GETRULE),
        flags,
        seq,
        table.family.number(),
        0,
    );
    w.attr_str(NFTA_RULE_TABLE, &table.name);
    w.end_message();
    Request {
        bytes: w.finish(),
        first_seq: seq,
        acks: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::attrs::{Attrs, NFGENMSG_LEN, NLMSG_HDRLEN};
    use super::*;

    /// (type, flags, seq, family, res_id, payload) of each message in `bytes`.
    fn messages(bytes: &[u8]) -> Vec<(u16, u16, u32, u8, u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
            let flags = u16::from_ne_bytes(rest[6..8].try_into().unwrap());
            let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
            let res_id = u16::from_be_bytes(rest[18..20].try_into().unwrap());
            let payload = rest[NLMSG_HDRLEN + NFGENMSG_LEN..len].to_vec();
            out.push((kind, flags, seq, rest[16], res_id, payload));
            rest = &rest[len..];
        }
        out
    }

    /// An attribute header in the host's byte order.
    fn hdr(len: u16, kind: u16) -> [u8; 4] {
        let (l, k) = (len.to_ne_bytes(), kind.to_ne_bytes());
        [l[0], l[1], k[0], k[1]]
    }

    fn table() -> Table {
        Table::parse("inet knockd").unwrap()
    }

    #[test]
    fn a_batch_is_begin_changes_end_with_an_ack_asked_for_each_change() {
        let set = SetRef::new(&table(), "ssh", false, false);
        let mut batch = Batch::new(100);
        batch.new_table(&table());
        batch.new_set(&set, 1);
        let request = batch.finish();
        assert_eq!((request.first_seq, request.acks), (101, 2));
        let m = messages(&request.bytes);
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].0, m[0].1, m[0].2, m[0].4), (0x10, 1, 100, 10));
        assert_eq!((m[1].0, m[1].1, m[1].2, m[1].3), (0x0a00, 0x405, 101, 1));
        assert_eq!(m[1].5, [&hdr(11, 1)[..], b"knockd\0\0"].concat());
        assert_eq!((m[2].0, m[2].2), (0x0a09, 102));
        assert_eq!((m[3].0, m[3].1, m[3].2, m[3].4), (0x11, 1, 103, 10));
        let attrs: Vec<_> = Attrs::new(&m[2].5).map(Result::unwrap).collect();
        let find = |kind| attrs.iter().find(|a| a.kind == kind).unwrap();
        assert_eq!(find(NFTA_SET_NAME).string(), "ssh_v4");
        assert_eq!(find(NFTA_SET_FLAGS).value, &[0, 0, 0, 0x10]);
        assert_eq!(find(NFTA_SET_KEY_TYPE).value, &[0, 0, 0, 7]);
        assert_eq!(find(NFTA_SET_KEY_LEN).value, &[0, 0, 0, 4]);
        assert_eq!(find(NFTA_SET_ID).value, &[0, 0, 0, 1]);
    }

    #[test]
    fn an_element_carries_its_key_and_timeout_big_endian() {
        let set = SetRef::new(&table(), "ssh", false, false);
        let mut batch = Batch::new(1);
        let element = Cidr::host("198.18.0.2".parse().unwrap());
        batch.add_element(&set, &element, Duration::from_secs(30));
        let m = messages(&batch.finish().bytes);
        assert_eq!((m[1].0, m[1].1), (0x0a0c, 0x405));
        let expected = [
            &hdr(11, 1)[..],
            b"knockd\0\0",
            &hdr(11, 2),
            b"ssh_v4\0\0",
            &hdr(0x20, 3 | NLA_F_NESTED), // the element list
            &hdr(0x1c, 1 | NLA_F_NESTED), // one element
            &hdr(0x0c, 1 | NLA_F_NESTED), // its key
            &hdr(8, 1),
            &[198, 18, 0, 2],
            &hdr(0x0c, 4),
            &[0, 0, 0, 0, 0, 0, 0x75, 0x30], // 30000 ms, big-endian
        ]
        .concat();
        assert_eq!(m[1].5, expected);
    }

    #[test]
    fn a_prefix_in_an_interval_set_is_a_start_and_a_flagged_end() {
        let set = SetRef::new(&table(), "net", true, true);
        let mut batch = Batch::new(1);
        let element = Cidr::of("fd00::7".parse().unwrap(), 64);
        batch.delete_element(&set, &element);
        let m = messages(&batch.finish().bytes);
        let attrs: Vec<_> = Attrs::new(&m[1].5).map(Result::unwrap).collect();
        let list: Vec<_> = attrs[2].nested().map(Result::unwrap).collect();
        assert_eq!(list.len(), 2);
        let end: Vec<_> = list[1].nested().map(Result::unwrap).collect();
        let key: Vec<_> = end[0].nested().map(Result::unwrap).collect();
        let expected: std::net::Ipv6Addr = "fd00:0:0:1::".parse().unwrap();
        assert_eq!(key[0].value, expected.octets());
        assert_eq!((end[1].kind, end[1].be32()), (NFTA_SET_ELEM_FLAGS, Ok(1)));
        assert_eq!(m[1].0, 0x0a0e);
    }

    #[test]
    fn a_zero_timeout_is_sent_as_one_millisecond_never_as_forever() {
        let set = SetRef::new(&table(), "ssh", false, false);
        let mut batch = Batch::new(1);
        batch.add_element(
            &set,
            &Cidr::host("198.18.0.2".parse().unwrap()),
            Duration::ZERO,
        );
        let bytes = batch.finish().bytes;
        let m = messages(&bytes);
        assert!(m[1].5.ends_with(&[0, 0, 0, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn lookups_and_dumps_are_single_messages() {
        let set = SetRef::new(&table(), "ssh", true, false);
        let get = get_set(9, &set);
        assert_eq!(get.acks, 1);
        let m = messages(&get.bytes);
        assert_eq!((m[0].0, m[0].1, m[0].2, m[0].3), (0x0a0a, 5, 9, 1));
        let dump = dump_elements(10, &set);
        assert_eq!(dump.acks, 0);
        assert_eq!(messages(&dump.bytes)[0].1, 0x301);
        let rules = messages(&dump_rules(11, &table()).bytes);
        assert_eq!((rules[0].0, rules[0].1), (0x0a07, 0x301));
    }
}
