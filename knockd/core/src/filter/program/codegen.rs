//! Code generation: the program's instructions for a [`Plan`], in the
//! shape the module `program` describes.

use std::net::IpAddr;

use knock_proto::Protocol;

use super::plan::{family_bit, Plan, PlanGroup};
use super::{
    PortTree, EXACT, FIRST_ADDRESS_BIT, IPV6_EXTENSION_DEPTH, IS_IPV4, IS_IPV6, M_BIT, M_DST,
    M_FLAGS, M_PORT, M_TMP, PASS, SCRATCH_WORDS,
};
use crate::filter::bpf::{
    Assembler, BpfError, Instruction, Label, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV,
    BPF_H, BPF_IMM, BPF_IND, BPF_JEQ, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MEM, BPF_MISC,
    BPF_MSH, BPF_RET, BPF_ST, BPF_TAX, BPF_W, BPF_X,
};
use crate::wire::{
    LinkType, AF_INET, AF_INET6, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPV6_AUTH, IPV6_DEST_OPTS,
    IPV6_FRAGMENT, IPV6_HOP_BY_HOP, IPV6_ROUTING, PROTO_TCP, PROTO_UDP,
};

/// Where a link type's header says which network protocol follows, and how
/// long the header is.
enum LinkHeader {
    /// A 16-bit EtherType at this offset.
    EtherType(u32),
    /// The IP version nibble.
    Version,
    /// A 4-byte address family, in either byte order.
    Family,
}

fn link_header(link: LinkType) -> (LinkHeader, u32) {
    match link {
        LinkType::Ethernet => (LinkHeader::EtherType(12), 14),
        // The SLL protocol at 14 and the SLL2 protocol at 0 are what libpcap
        // turns into the kernel's SKF_AD_PROTOCOL on cooked sockets.
        LinkType::LinuxSll => (LinkHeader::EtherType(14), 16),
        LinkType::LinuxSll2 => (LinkHeader::EtherType(0), 20),
        LinkType::RawIp => (LinkHeader::Version, 0),
        LinkType::Null | LinkType::Loop => (LinkHeader::Family, 4),
    }
}

/// `jeq` to each target in turn; no match goes to `otherwise`.
fn dispatch(asm: &mut Assembler, cases: &[(u32, Label)], otherwise: Label) {
    for (i, &(value, target)) in cases.iter().enumerate() {
        let miss = (i + 1 == cases.len()).then_some(otherwise);
        asm.jump(BPF_JEQ, value, Some(target), miss);
    }
    if cases.is_empty() {
        asm.ja(otherwise);
    }
}

/// The program for `plan` over frames of `link`, with the port searches
/// `trees` (one per group, with its granularity).
pub(super) fn generate(
    plan: &Plan,
    link: LinkType,
    trees: &[(u32, PortTree)],
) -> Result<Vec<Instruction>, BpfError> {
    let mut asm = Assembler::new();
    if plan.groups.is_empty() {
        asm.stmt(BPF_RET | BPF_K, 0);
        return asm.finish();
    }
    let mut code = Codegen::new(&mut asm, plan, link);
    code.clear_scratch();
    code.link_layer();
    if code.want_v4 {
        code.ipv4();
    }
    if code.want_v6 {
        code.ipv6();
    }
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        code.transport(protocol, trees);
    }
    asm.finish()
}

/// The program being generated, with what its parts share.
struct Codegen<'a> {
    asm: &'a mut Assembler,
    plan: &'a Plan,
    link: LinkType,
    /// Where the network header starts.
    nl: u32,
    /// The destination bits of every group.
    classes: u32,
    /// Whether any group wants IPv4 packets.
    want_v4: bool,
    /// Whether any group wants IPv6 packets.
    want_v6: bool,
    /// The IPv4 part, the IPv6 part, the TCP part and the UDP part.
    ipv4: Label,
    ipv6: Label,
    tcp: Label,
    udp: Label,
    /// The transport protocols some group wants, and their parts.
    transports: Vec<(u32, Label)>,
}

impl<'a> Codegen<'a> {
    fn new(asm: &'a mut Assembler, plan: &'a Plan, link: LinkType) -> Self {
        let classes = plan.classes();
        let want_v4 = classes & plan.family_mask(IS_IPV4) != 0;
        let want_v6 = plan.ipv6 && classes & plan.family_mask(IS_IPV6) != 0;
        let (tcp, udp) = (asm.label(), asm.label());
        let (ipv4, ipv6) = (asm.label(), asm.label());
        let mut code = Codegen {
            asm,
            plan,
            link,
            nl: link_header(link).1,
            classes,
            want_v4,
            want_v6,
            ipv4,
            ipv6,
            tcp,
            udp,
            transports: Vec::new(),
        };
        if code.has(Protocol::Tcp) {
            code.transports.push((u32::from(PROTO_TCP), tcp));
        }
        if code.has(Protocol::Udp) {
            code.transports.push((u32::from(PROTO_UDP), udp));
        }
        code
    }

    /// Whether some group is for `protocol`.
    fn has(&self, protocol: Protocol) -> bool {
        self.plan.groups.iter().any(|g| g.protocol == protocol)
    }

    /// Every scratch word is written before anything reads it, on every
    /// path, as the kernel's checker wants it.
    fn clear_scratch(&mut self) {
        self.asm.stmt(BPF_LD | BPF_IMM, 0);
        for word in 0..SCRATCH_WORDS {
            self.asm.stmt(BPF_ST, word);
        }
    }

    /// On to the IPv4 or IPv6 part by the link header; other packets are dropped.
    fn link_layer(&mut self) {
        let asm = &mut *self.asm;
        let (ipv4, ipv6, other) = (self.ipv4, self.ipv6, asm.label());
        let (want_v4, want_v6) = (self.want_v4, self.want_v6);
        let mut families: Vec<(u32, Label)> = Vec::new();
        match link_header(self.link).0 {
            LinkHeader::EtherType(offset) => {
                asm.stmt(BPF_LD | BPF_H | BPF_ABS, offset);
                if want_v4 {
                    families.push((u32::from(ETHERTYPE_IPV4), ipv4));
                }
                if want_v6 {
                    families.push((u32::from(ETHERTYPE_IPV6), ipv6));
                }
            }
            LinkHeader::Version => {
                asm.stmt(BPF_LD | BPF_B | BPF_ABS, 0);
                asm.stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0);
                if want_v4 {
                    families.push((0x40, ipv4));
                }
                if want_v6 {
                    families.push((0x60, ipv6));
                }
            }
            LinkHeader::Family => {
                asm.stmt(BPF_LD | BPF_W | BPF_ABS, 0);
                if want_v4 {
                    families.push((AF_INET, ipv4));
                    families.push((AF_INET.swap_bytes(), ipv4));
                }
                if want_v6 {
                    for af in AF_INET6 {
                        families.push((af, ipv6));
                        families.push((af.swap_bytes(), ipv6));
                    }
                }
            }
        }
        dispatch(asm, &families, other);
        asm.bind(other);
        asm.stmt(BPF_RET | BPF_K, 0);
    }

    /// The IPv4 part: destination, fragments, header length, protocol.
    fn ipv4(&mut self) {
        let nl = self.nl;
        self.asm.bind(self.ipv4);
        let drop = self.asm.label();
        destination(self.asm, self.plan, IS_IPV4, nl, drop);
        let asm = &mut *self.asm;
        // libpcap's `tcp dst port` and `udp dst port` skip non-first fragments.
        asm.stmt(BPF_LD | BPF_H | BPF_ABS, nl + 6);
        asm.jump(BPF_JSET, 0x1fff, Some(drop), None);
        asm.stmt(BPF_LDX | BPF_B | BPF_MSH, nl);
        asm.stmt(BPF_LD | BPF_B | BPF_ABS, nl + 9);
        dispatch(asm, &self.transports, drop);
        asm.bind(drop);
        asm.stmt(BPF_RET | BPF_K, 0);
    }

    /// The IPv6 part: destination, then the extension headers up to the
    /// transport header.
    fn ipv6(&mut self) {
        let nl = self.nl;
        self.asm.bind(self.ipv6);
        let (drop, pass) = (self.asm.label(), self.asm.label());
        destination(self.asm, self.plan, IS_IPV6, nl, drop);
        self.asm.stmt(BPF_LDX | BPF_IMM, 40);
        self.asm.stmt(BPF_LD | BPF_B | BPF_ABS, nl + 6);
        // A = next header, X = where that header starts.
        for _ in 0..IPV6_EXTENSION_DEPTH {
            self.ipv6_extension_header(drop);
        }
        // Deeper chains are left to user space.
        let mut cases = self.transports.clone();
        for next in [
            IPV6_HOP_BY_HOP,
            IPV6_ROUTING,
            IPV6_DEST_OPTS,
            IPV6_FRAGMENT,
            IPV6_AUTH,
        ] {
            cases.push((u32::from(next), pass));
        }
        let asm = &mut *self.asm;
        dispatch(asm, &cases, drop);
        asm.bind(pass);
        asm.stmt(BPF_RET | BPF_K, PASS);
        asm.bind(drop);
        asm.stmt(BPF_RET | BPF_K, 0);
    }

    /// On to the transport part, or past one extension header: with `A`
    /// the next header and `X` where it starts, then the same for the
    /// header after it.
    fn ipv6_extension_header(&mut self, drop: Label) {
        let nl = self.nl;
        let asm = &mut *self.asm;
        let (options, auth, fragment, advance) =
            (asm.label(), asm.label(), asm.label(), asm.label());
        let mut cases = self.transports.clone();
        cases.extend([
            (u32::from(IPV6_HOP_BY_HOP), options),
            (u32::from(IPV6_ROUTING), options),
            (u32::from(IPV6_DEST_OPTS), options),
            (u32::from(IPV6_FRAGMENT), fragment),
            (u32::from(IPV6_AUTH), auth),
        ]);
        dispatch(asm, &cases, drop);
        // RFC 8200: 8-byte units, not counting the first 8 bytes.
        asm.bind(options);
        asm.stmt(BPF_LD | BPF_B | BPF_IND, nl + 1);
        asm.stmt(BPF_ALU | BPF_ADD | BPF_K, 1);
        asm.stmt(BPF_ALU | BPF_LSH | BPF_K, 3);
        asm.ja(advance);
        // RFC 4302: 4-byte units, minus 2.
        asm.bind(auth);
        asm.stmt(BPF_LD | BPF_B | BPF_IND, nl + 1);
        asm.stmt(BPF_ALU | BPF_ADD | BPF_K, 2);
        asm.stmt(BPF_ALU | BPF_LSH | BPF_K, 2);
        asm.ja(advance);
        // Only a first fragment (offset 0) carries the ports.
        asm.bind(fragment);
        asm.stmt(BPF_LD | BPF_H | BPF_IND, nl + 2);
        asm.jump(BPF_JSET, 0xfff8, Some(drop), None);
        asm.stmt(BPF_LD | BPF_IMM, 8);
        asm.bind(advance);
        asm.stmt(BPF_ALU | BPF_ADD | BPF_X, 0);
        asm.stmt(BPF_ST, M_TMP);
        asm.stmt(BPF_LD | BPF_B | BPF_IND, nl);
        asm.stmt(BPF_LDX | BPF_MEM, M_TMP);
    }

    /// The TCP or UDP part: the port and flags, then each group of the
    /// protocol in turn; a packet no group passes is dropped.
    fn transport(&mut self, protocol: Protocol, trees: &[(u32, PortTree)]) {
        if !self.has(protocol) {
            return;
        }
        let nl = self.nl;
        let label = match protocol {
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
        };
        self.asm.bind(label);
        self.asm.stmt(BPF_LD | BPF_H | BPF_IND, nl + 2);
        self.asm.stmt(BPF_ST, M_PORT);
        let groups: Vec<(&PlanGroup, &(u32, PortTree))> = self
            .plan
            .groups
            .iter()
            .zip(trees)
            .filter(|(g, _)| g.protocol == protocol)
            .collect();
        if groups.iter().any(|(g, _)| !g.flags.is_any()) {
            self.asm.stmt(BPF_LD | BPF_B | BPF_IND, nl + 13);
            self.asm.stmt(BPF_ST, M_FLAGS);
        }
        for (group, (d, tree)) in groups {
            self.group(group, *d, tree);
        }
        self.asm.stmt(BPF_RET | BPF_K, 0);
    }

    /// One group's tests: destinations, flags, then the port search over
    /// `port / d`; a packet that fails one goes on to the next group.
    fn group(&mut self, group: &PlanGroup, d: u32, tree: &PortTree) {
        let any = IS_IPV4 | if self.want_v6 { IS_IPV6 } else { 0 };
        let asm = &mut *self.asm;
        let next = asm.label();
        // The family parts already dropped packets no group wants, so a
        // group wanting every destination any group wants needs no test.
        if group.class & any != any && group.class != self.classes {
            asm.stmt(BPF_LD | BPF_MEM, M_DST);
            asm.jump(BPF_JSET, group.class, None, Some(next));
        }
        if !group.flags.is_any() {
            let (required, forbidden) = (group.flags.required(), group.flags.forbidden());
            asm.stmt(BPF_LD | BPF_MEM, M_FLAGS);
            asm.stmt(BPF_ALU | BPF_AND | BPF_K, u32::from(required | forbidden));
            asm.jump(BPF_JEQ, u32::from(required), None, Some(next));
        }
        if tree.uses_bitmaps() {
            asm.stmt(BPF_LD | BPF_MEM, M_PORT);
            if d > EXACT {
                asm.stmt(BPF_ALU | BPF_DIV | BPF_K, d);
            }
            asm.stmt(BPF_ALU | BPF_AND | BPF_K, 31);
            asm.stmt(BPF_MISC | BPF_TAX, 0);
            asm.stmt(BPF_LD | BPF_IMM, 1);
            asm.stmt(BPF_ALU | BPF_LSH | BPF_X, 0);
            asm.stmt(BPF_ST, M_BIT);
        }
        asm.stmt(BPF_LD | BPF_MEM, M_PORT);
        if d > EXACT {
            asm.stmt(BPF_ALU | BPF_DIV | BPF_K, d);
        }
        tree.emit(asm, M_BIT, next, PASS);
        asm.bind(next);
    }
}

/// Sets `M[dst]` to the packet's family bit and the bit of its destination
/// address (if a group names it), and drops packets no group wants.
fn destination(asm: &mut Assembler, plan: &Plan, family: u32, nl: u32, drop: Label) {
    let classes = plan.classes();
    let named: Vec<(usize, &IpAddr)> = if plan.destinations_by_family {
        Vec::new()
    } else {
        plan.addresses
            .iter()
            .enumerate()
            .filter(|(i, a)| {
                family_bit(a) == family && classes & (1 << (FIRST_ADDRESS_BIT + i)) != 0
            })
            .collect()
    };
    let done = asm.label();
    let hits: Vec<(u32, Label)> = named
        .iter()
        .map(|&(i, _)| (family | 1 << (FIRST_ADDRESS_BIT + i), asm.label()))
        .collect();
    if family == IS_IPV4 && !named.is_empty() {
        asm.stmt(BPF_LD | BPF_W | BPF_ABS, nl + 16);
    }
    for (&(_, addr), &(_, hit)) in named.iter().zip(&hits) {
        match addr {
            IpAddr::V4(v4) => {
                asm.jump(BPF_JEQ, u32::from(*v4), Some(hit), None);
            }
            IpAddr::V6(v6) => {
                let octets = v6.octets();
                let word = |i: usize| {
                    u32::from_be_bytes([
                        octets[4 * i],
                        octets[4 * i + 1],
                        octets[4 * i + 2],
                        octets[4 * i + 3],
                    ])
                };
                let miss = asm.label();
                // The last word first: addresses of one interface mostly
                // share their prefix.
                for (n, i) in [3usize, 0, 1, 2].into_iter().enumerate() {
                    asm.stmt(BPF_LD | BPF_W | BPF_ABS, nl + 24 + 4 * i as u32);
                    let on_match = (n == 3).then_some(hit);
                    asm.jump(BPF_JEQ, word(i), on_match, Some(miss));
                }
                asm.bind(miss);
            }
        }
    }
    asm.stmt(BPF_LD | BPF_IMM, family);
    asm.ja(done);
    for &(bits, hit) in &hits {
        asm.bind(hit);
        asm.stmt(BPF_LD | BPF_IMM, bits);
        asm.ja(done);
    }
    asm.bind(done);
    asm.stmt(BPF_ST, M_DST);
    if classes & family == 0 {
        asm.jump(BPF_JSET, classes, None, Some(drop));
    }
}
