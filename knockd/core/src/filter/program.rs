//! The capture filter as a classic BPF program, generated directly instead of
//! compiled by libpcap from a giant expression.
//!
//! # Shape
//!
//! ```text
//! clear the scratch words
//! link layer:  EtherType / SLL protocol / IP version / loopback family -> IPv4, IPv6 or drop
//! IPv4:        M[dst] = which door destinations the destination address is
//!              non-first fragment -> drop; X = header length; TCP -> tcp, UDP -> udp
//! IPv6:        M[dst] as for IPv4; X = 40; follow up to 4 extension headers
//!              (hop-by-hop, routing, destination options, AH, first fragments;
//!              non-first fragments are dropped, a longer chain is passed);
//!              TCP -> tcp, UDP -> udp
//! tcp:         M[port], M[flags]; for each group of doors:
//!                M[dst] in the group's destinations, flags as the group's
//!                TCPFlags, port in the group's ports (a binary search) -> pass
//!              drop
//! udp:         M[port]; for each group: destinations, ports -> pass; drop
//! ```
//!
//! A *group* is every door with the same protocol, TCP flag test and
//! destination set; its ports are deduplicated and searched as a
//! [`PortTree`]. Both address families share the port searches: after the
//! family's own part, `X` holds the transport header's offset from the network
//! header in either.
//!
//! # Exact or a superset
//!
//! For every packet the program decides as knockd 0.8's expression would,
//! except that IPv6 extension headers no longer bypass the port test and
//! non-first IPv6 fragments (which carry no ports) are dropped. The decoder
//! and engine check everything again in user space, so when a configuration
//! is too big for the kernel's program limit the program is made *coarser*,
//! passing a superset, never less:
//!
//! 1. a group's ports are compared in blocks of `d` = 2, 3, 4, 5, 6, 7, 8, 10,
//!    ... ports (`port / d`), the biggest search first, until the program fits;
//! 2. more than 30 distinct destination addresses are checked only by family;
//! 3. more than 64 groups are merged into one per protocol (union of the
//!    ports and destinations, only the flag constraints they all share).
//!
//! # Strict doors
//!
//! A strict door must see every connection-opening packet to its
//! destinations, whatever the port: its destinations get a TCP group with
//! the flag test SYN and not ACK, and a UDP group, each passing all ports
//! (established traffic, ACK set, stays in the kernel).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use knock_proto::{Protocol, TcpFlags};

use super::bpf::{
    self, Assembler, BpfError, Instruction, Label, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B,
    BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JEQ, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MEM,
    BPF_MISC, BPF_MSH, BPF_RET, BPF_ST, BPF_TAX, BPF_W, BPF_X,
};
use super::ports::PortTree;
use super::FilterDoor;
use crate::wire::{
    LinkType, AF_INET, AF_INET6, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPV6_AUTH, IPV6_DEST_OPTS,
    IPV6_FRAGMENT, IPV6_HOP_BY_HOP, IPV6_ROUTING, PROTO_TCP, PROTO_UDP,
};

/// What the program returns for a packet that passes: libpcap's largest
/// snapshot length, so the capture's own snap length is what cuts packets.
pub const PASS: u32 = 262_144;
/// How many IPv6 extension headers the program follows to the transport
/// header; a longer chain is passed to user space.
pub const IPV6_EXTENSION_DEPTH: usize = 4;
/// Distinct destination addresses the program tells apart; with more,
/// destinations are checked by address family only.
pub const MAX_ADDRESSES: usize = 30;
/// Groups of doors kept apart; with more, they are merged per protocol.
pub const MAX_GROUPS: usize = 64;
/// The finest granularity: ports are compared one by one.
const EXACT: u32 = 1;
/// The coarsest: `port / 65536` is 0 for every port, so the search passes all.
const COARSEST: u32 = 1 << 16;

/// Scratch words.
const M_DST: u32 = 0;
const M_PORT: u32 = 1;
const M_FLAGS: u32 = 2;
const M_BIT: u32 = 3;
const M_TMP: u32 = 4;
const SCRATCH_WORDS: u32 = 5;

/// Bits of `M[dst]`: the packet's family, then one per destination address.
const IS_IPV4: u32 = 1;
const IS_IPV6: u32 = 2;
const FIRST_ADDRESS_BIT: usize = 2;

/// Why no program could be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

impl From<BpfError> for FilterError {
    fn from(e: BpfError) -> Self {
        FilterError(format!("cannot assemble the capture filter: {e}"))
    }
}

/// Where a group's knocks must be addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destinations {
    /// To one of these addresses.
    Hosts(Vec<IpAddr>),
    /// To any address of these families (too many addresses to tell apart).
    Any {
        /// Any IPv4 address.
        ipv4: bool,
        /// Any IPv6 address.
        ipv6: bool,
    },
}

impl fmt::Display for Destinations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destinations::Hosts(hosts) => {
                for (i, host) in hosts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{host}")?;
                }
                Ok(())
            }
            Destinations::Any { ipv4, ipv6 } => f.write_str(match (ipv4, ipv6) {
                (true, true) => "any IPv4 or IPv6 address",
                (true, false) => "any IPv4 address",
                (false, true) => "any IPv6 address",
                (false, false) => "no address",
            }),
        }
    }
}

/// One group of the program: doors with the same protocol, flag test and
/// destinations, as `--check` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The flag test (TCP; [`TcpFlags::ANY`] for UDP).
    pub tcp_flags: TcpFlags,
    /// Where knocks must be addressed.
    pub destinations: Destinations,
    /// The ports, sorted, without duplicates.
    pub ports: Vec<u16>,
    /// How many doors the group holds.
    pub doors: usize,
    /// Ports compared together: 1 when exact, `d` when the program compares
    /// `port / d` (and so passes the other ports of the same block).
    pub ports_per_unit: u32,
    /// The group passes every port: it watches for a strict door.
    pub all_ports: bool,
    /// Instructions of the group's port search.
    pub search_len: usize,
    /// The most instructions a packet runs through in the group's port
    /// search: about `log2` of its leaves, plus one leaf.
    pub search_depth: usize,
}

/// The generated capture filter program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    instructions: Vec<Instruction>,
    link: LinkType,
    groups: Vec<Group>,
    destinations_by_family: bool,
    groups_merged: bool,
}

impl Program {
    /// The instructions, ready for `pcap_setfilter`.
    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// How many instructions.
    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    /// Never true: a program has at least its `ret`.
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }

    /// The link type the program reads frames of.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The groups, in program order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Whether the program passes exactly the possible knocks (otherwise a
    /// superset of them, see the module documentation).
    pub fn is_exact(&self) -> bool {
        !self.destinations_by_family
            && !self.groups_merged
            && self
                .groups
                .iter()
                .all(|g| g.all_ports || g.ports_per_unit == 1)
    }

    /// The program in the style of `tcpdump -d`.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for (pc, insn) in self.instructions.iter().enumerate() {
            out.push_str(&bpf::image(insn, pc));
            out.push('\n');
        }
        out
    }

    /// One line about the program: its length and whether it is exact.
    pub fn headline(&self) -> String {
        let size = format!(
            "{} BPF instruction{} for a{} {} link",
            self.len(),
            if self.len() == 1 { "" } else { "s" },
            if self.link == LinkType::Ethernet {
                "n"
            } else {
                ""
            },
            self.link
        );
        if self.groups.is_empty() {
            return format!("{size}: no door is enabled, nothing is captured");
        }
        if self.is_exact() {
            return format!("{size}, exact");
        }
        let mut why = Vec::new();
        if self.groups_merged {
            why.push(format!(
                "more than {MAX_GROUPS} groups of doors merged per protocol"
            ));
        }
        if self.destinations_by_family {
            why.push(format!(
                "more than {MAX_ADDRESSES} destination addresses, checked by family"
            ));
        }
        if self
            .groups
            .iter()
            .any(|g| !g.all_ports && g.ports_per_unit > 1)
        {
            why.push("ports compared in blocks to fit the kernel's limit".to_owned());
        }
        format!("{size}, a superset ({})", why.join("; "))
    }

    /// One line per group: protocol, flags, destinations, ports (at most
    /// `max_ports` items of them, runs shown as ranges).
    pub fn group_lines(&self, max_ports: usize) -> Vec<String> {
        self.groups
            .iter()
            .map(|g| {
                let mut line = g.protocol.to_string();
                if !g.tcp_flags.is_any() {
                    line.push_str(&format!(" with {}", g.tcp_flags));
                }
                line.push_str(&format!(" to {}: ", g.destinations));
                if g.all_ports {
                    line.push_str("every port, for strict doors");
                } else {
                    line.push_str(&port_items(&g.ports, max_ports));
                }
                line.push_str(&format!(
                    " ({} door{}",
                    g.doors,
                    if g.doors == 1 { "" } else { "s" }
                ));
                if !g.all_ports && g.ports_per_unit > 1 {
                    line.push_str(&format!(", compared in blocks of {}", g.ports_per_unit));
                }
                line.push(')');
                line
            })
            .collect()
    }
}

/// `7000, 8000-8002, 9000`, with at most `max` items and a count of the rest.
fn port_items(ports: &[u16], max: usize) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut shown = 0usize;
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && u32::from(ports[j + 1]) == u32::from(ports[j]) + 1 {
            j += 1;
        }
        if items.len() == max {
            break;
        }
        items.push(if j > i {
            format!("{}-{}", ports[i], ports[j])
        } else {
            ports[i].to_string()
        });
        shown = j + 1;
        i = j + 1;
    }
    let mut text = items.join(", ");
    if shown < ports.len() {
        text.push_str(&format!(", ... ({} ports in all)", ports.len()));
    }
    text
}

/// A group while planning: `class` is its destination bits.
#[derive(Debug, Clone)]
struct PlanGroup {
    protocol: Protocol,
    class: u32,
    flags: TcpFlags,
    ports: Vec<u16>,
    doors: usize,
    /// Every port passes (a strict door's watch).
    all_ports: bool,
}

/// What the program tests, before it is laid out.
#[derive(Debug, Clone)]
struct Plan {
    /// Address `i` has the bit `1 << (FIRST_ADDRESS_BIT + i)`.
    addresses: Vec<IpAddr>,
    destinations_by_family: bool,
    groups: Vec<PlanGroup>,
    groups_merged: bool,
    ipv6: bool,
}

fn family_bit(addr: &IpAddr) -> u32 {
    if addr.is_ipv4() {
        IS_IPV4
    } else {
        IS_IPV6
    }
}

impl Plan {
    /// The plan for `doors`; with `by_family`, destinations are checked by
    /// address family only.
    fn new(doors: &[FilterDoor<'_>], local: &[IpAddr], ipv4_only: bool, by_family: bool) -> Plan {
        let ipv6 = !ipv4_only;
        let wanted = |addr: &IpAddr| ipv6 || addr.is_ipv4();
        let mut local_addrs: Vec<IpAddr> = Vec::new();
        for addr in local.iter().filter(|a| wanted(a)) {
            if !local_addrs.contains(addr) {
                local_addrs.push(*addr);
            }
        }
        // The addresses doors refer to, in order of first use.
        let mut index: HashMap<IpAddr, usize> = HashMap::new();
        let mut addresses: Vec<IpAddr> = Vec::new();
        let mut note = |addr: IpAddr| {
            index.entry(addr).or_insert_with(|| {
                addresses.push(addr);
                addresses.len() - 1
            });
        };
        for door in doors {
            match door.target {
                Some(target) if wanted(&target) => note(target),
                Some(_) => {}
                None => local_addrs.iter().for_each(|&a| note(a)),
            }
        }
        let destinations_by_family = by_family || addresses.len() > MAX_ADDRESSES;
        let bit = |addr: &IpAddr| -> u32 {
            if destinations_by_family {
                family_bit(addr)
            } else {
                index.get(addr).map_or(0, |&i| 1 << (FIRST_ADDRESS_BIT + i))
            }
        };
        let local_class = local_addrs.iter().fold(0, |c, a| c | bit(a));
        // Groups in order of first use; TCP before UDP.
        type Key = (Protocol, u32, u8, u8);
        let mut slots: HashMap<Key, usize> = HashMap::new();
        let mut groups: Vec<PlanGroup> = Vec::new();
        for door in doors {
            let class = match door.target {
                Some(target) if wanted(&target) => bit(&target),
                Some(_) => 0,
                None => local_class,
            };
            if class == 0 {
                continue;
            }
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                let mut ports = door.sequence.ports(protocol).peekable();
                let watch = door.strict.then(|| strict_watch(protocol));
                let mut add = |flags: TcpFlags, ports: &mut dyn Iterator<Item = u16>, all| {
                    let key = (protocol, class, flags.required(), flags.forbidden());
                    let slot = *slots.entry(key).or_insert_with(|| {
                        groups.push(PlanGroup {
                            protocol,
                            class,
                            flags,
                            ports: Vec::new(),
                            doors: 0,
                            all_ports: false,
                        });
                        groups.len() - 1
                    });
                    let group = &mut groups[slot];
                    group.ports.extend(ports);
                    group.doors += 1;
                    group.all_ports |= all;
                };
                if ports.peek().is_some() {
                    let flags = if protocol == Protocol::Tcp {
                        door.tcp_flags
                    } else {
                        TcpFlags::ANY
                    };
                    add(flags, &mut ports, false);
                }
                if let Some(flags) = watch {
                    add(flags, &mut std::iter::empty(), true);
                }
            }
        }
        groups.sort_by_key(|g| g.protocol);
        for group in &mut groups {
            group.ports.sort_unstable();
            group.ports.dedup();
        }
        let mut plan = Plan {
            addresses,
            destinations_by_family,
            groups,
            groups_merged: false,
            ipv6,
        };
        if plan.groups.len() > MAX_GROUPS {
            plan.merge_groups();
        }
        plan
    }

    /// One group per protocol: the union of ports and destinations, and the
    /// flag constraints every group had (a superset of the packets).
    fn merge_groups(&mut self) {
        let mut merged: Vec<PlanGroup> = Vec::new();
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let mut parts = self.groups.iter().filter(|g| g.protocol == protocol);
            let Some(first) = parts.next() else {
                continue;
            };
            let mut group = first.clone();
            let (mut required, mut forbidden) = (first.flags.required(), first.flags.forbidden());
            for part in parts {
                group.class |= part.class;
                group.ports.extend_from_slice(&part.ports);
                group.doors += part.doors;
                group.all_ports |= part.all_ports;
                required &= part.flags.required();
                forbidden &= part.flags.forbidden();
            }
            group.ports.sort_unstable();
            group.ports.dedup();
            group.flags = flags_from_bits(required, forbidden);
            merged.push(group);
        }
        self.groups = merged;
        self.groups_merged = true;
    }

    /// The bits a packet of a family can carry in `M[dst]`.
    fn family_mask(&self, family_bit: u32) -> u32 {
        let mut mask = family_bit;
        if !self.destinations_by_family {
            for (i, addr) in self.addresses.iter().enumerate() {
                if self::family_bit(addr) == family_bit {
                    mask |= 1 << (FIRST_ADDRESS_BIT + i);
                }
            }
        }
        mask
    }

    fn classes(&self) -> u32 {
        self.groups.iter().fold(0, |c, g| c | g.class)
    }

    fn destinations(&self, class: u32) -> Destinations {
        if class & (IS_IPV4 | IS_IPV6) != 0 {
            return Destinations::Any {
                ipv4: class & IS_IPV4 != 0,
                ipv6: class & IS_IPV6 != 0,
            };
        }
        Destinations::Hosts(
            self.addresses
                .iter()
                .enumerate()
                .filter(|(i, _)| class & (1 << (FIRST_ADDRESS_BIT + i)) != 0)
                .map(|(_, a)| *a)
                .collect(),
        )
    }
}

/// The flag test of a strict door's watch: SYN without ACK for TCP (a
/// connection being opened), any datagram for UDP.
fn strict_watch(protocol: Protocol) -> TcpFlags {
    let mut flags = TcpFlags::ANY;
    if protocol == Protocol::Tcp {
        flags.require(knock_proto::TcpFlag::Syn);
        flags.forbid(knock_proto::TcpFlag::Ack);
    }
    flags
}

fn flags_from_bits(required: u8, forbidden: u8) -> TcpFlags {
    let mut flags = TcpFlags::ANY;
    for flag in knock_proto::TcpFlag::ALL {
        if required & flag.bit() != 0 {
            flags.require(flag);
        } else if forbidden & flag.bit() != 0 {
            flags.forbid(flag);
        }
    }
    flags
}

/// Builds the capture filter program for `doors` on an interface with the
/// addresses `local`, for frames of `link`, in at most `max_instructions`
/// instructions (the kernel's limit: 4096 on Linux). With `ipv4_only` (`-4`)
/// IPv6 packets are dropped. Without enabled doors the program drops
/// everything.
pub fn program(
    doors: &[FilterDoor<'_>],
    local: &[IpAddr],
    ipv4_only: bool,
    link: LinkType,
    max_instructions: usize,
) -> Result<Program, FilterError> {
    let mut plan = Plan::new(doors, local, ipv4_only, false);
    let mut target = max_instructions;
    // Bounded: each round either fits, lowers the target or merges groups.
    for _round in 0..32 {
        let trees = choose_granularity(&plan, target);
        let instructions = generate(&plan, link, &trees)?;
        if instructions.len() <= max_instructions {
            bpf::validate(&instructions, max_instructions)
                .map_err(|e| FilterError(format!("generated an invalid program: {e}")))?;
            let groups = plan
                .groups
                .iter()
                .zip(&trees)
                .map(|(g, (d, t))| Group {
                    protocol: g.protocol,
                    tcp_flags: g.flags,
                    destinations: plan.destinations(g.class),
                    ports: g.ports.clone(),
                    doors: g.doors,
                    ports_per_unit: *d,
                    all_ports: g.all_ports,
                    search_len: t.cost(),
                    search_depth: t.depth(),
                })
                .collect();
            return Ok(Program {
                instructions,
                link,
                groups,
                destinations_by_family: plan.destinations_by_family,
                groups_merged: plan.groups_merged,
            });
        }
        let all_coarsest = trees.iter().all(|(d, _)| *d == COARSEST);
        if all_coarsest && !plan.groups_merged {
            plan.merge_groups();
            target = max_instructions;
        } else if all_coarsest && !plan.destinations_by_family {
            plan = Plan::new(doors, local, ipv4_only, true);
            plan.merge_groups();
            target = max_instructions;
        } else if all_coarsest {
            break;
        } else {
            let over = instructions.len() - max_instructions;
            target = target.saturating_sub(over + 16);
        }
    }
    Err(FilterError(format!(
        "the capture filter does not fit in {max_instructions} BPF instructions"
    )))
}

/// Instructions outside the port searches, roughly (to pick granularities).
fn fixed_estimate(plan: &Plan) -> usize {
    let v4 = plan.addresses.iter().filter(|a| a.is_ipv4()).count();
    let v6 = plan.addresses.len() - v4;
    let mut size = 16 + 14 + 3 * v4;
    if plan.ipv6 {
        size += 14 + 10 * v6 + 22 * IPV6_EXTENSION_DEPTH + 10;
    }
    size + 12
}

/// Instructions of one group with its search, roughly.
fn group_estimate(tree: &PortTree) -> usize {
    let cost = tree.cost();
    18 + cost + cost / 50
}

/// The granularity and search of every group: exact where the program fits
/// in `target`, otherwise the biggest searches made coarser first.
fn choose_granularity(plan: &Plan, target: usize) -> Vec<(u32, PortTree)> {
    // About 25 % coarser each step: the program shrinks in small steps.
    let coarser = |d: u32| (d + (d / 4).max(1)).min(COARSEST);
    let mut trees: Vec<(u32, PortTree)> = plan
        .groups
        .iter()
        .map(|g| {
            if g.all_ports {
                // `port / 65536` is 0 for every port: the search passes all.
                (COARSEST, tree(&[0], COARSEST))
            } else {
                (EXACT, tree(&g.ports, EXACT))
            }
        })
        .collect();
    let fixed = fixed_estimate(plan);
    let total = |trees: &[(u32, PortTree)]| -> usize {
        fixed + trees.iter().map(|(_, t)| group_estimate(t)).sum::<usize>()
    };
    // Bounded: each round makes one group coarser, and about 45 steps lead
    // from EXACT to COARSEST.
    while total(&trees) > target {
        let Some((index, _)) = trees
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| *k < COARSEST)
            .max_by_key(|(_, (_, t))| t.cost())
        else {
            break;
        };
        let d = coarser(trees[index].0);
        trees[index] = (d, tree(&plan.groups[index].ports, d));
    }
    trees
}

/// The search over `ports / d`.
fn tree(ports: &[u16], d: u32) -> PortTree {
    let mut units: Vec<u32> = ports.iter().map(|&p| u32::from(p) / d).collect();
    units.dedup();
    PortTree::new(&units, (COARSEST).div_ceil(d))
}

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

fn generate(
    plan: &Plan,
    link: LinkType,
    trees: &[(u32, PortTree)],
) -> Result<Vec<Instruction>, BpfError> {
    let mut asm = Assembler::new();
    if plan.groups.is_empty() {
        asm.stmt(BPF_RET | BPF_K, 0);
        return asm.finish();
    }
    let classes = plan.classes();
    let v4_mask = plan.family_mask(IS_IPV4);
    let v6_mask = plan.family_mask(IS_IPV6);
    let want_v4 = classes & v4_mask != 0;
    let want_v6 = plan.ipv6 && classes & v6_mask != 0;
    let has = |protocol| plan.groups.iter().any(|g| g.protocol == protocol);
    let (tcp, udp) = (asm.label(), asm.label());
    let mut transports = Vec::new();
    if has(Protocol::Tcp) {
        transports.push((u32::from(PROTO_TCP), tcp));
    }
    if has(Protocol::Udp) {
        transports.push((u32::from(PROTO_UDP), udp));
    }

    // Every scratch word is written before anything reads it, on every
    // path, as the kernel's checker wants it.
    asm.stmt(BPF_LD | BPF_IMM, 0);
    for word in 0..SCRATCH_WORDS {
        asm.stmt(BPF_ST, word);
    }

    let (header, nl) = link_header(link);
    let (ipv4, ipv6, other) = (asm.label(), asm.label(), asm.label());
    let mut families: Vec<(u32, Label)> = Vec::new();
    match header {
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
    dispatch(&mut asm, &families, other);
    asm.bind(other);
    asm.stmt(BPF_RET | BPF_K, 0);

    if want_v4 {
        asm.bind(ipv4);
        let drop = asm.label();
        destination(&mut asm, plan, IS_IPV4, nl, drop);
        // libpcap's `tcp dst port` and `udp dst port` skip non-first fragments.
        asm.stmt(BPF_LD | BPF_H | BPF_ABS, nl + 6);
        asm.jump(BPF_JSET, 0x1fff, Some(drop), None);
        asm.stmt(BPF_LDX | BPF_B | BPF_MSH, nl);
        asm.stmt(BPF_LD | BPF_B | BPF_ABS, nl + 9);
        dispatch(&mut asm, &transports, drop);
        asm.bind(drop);
        asm.stmt(BPF_RET | BPF_K, 0);
    }

    if want_v6 {
        asm.bind(ipv6);
        let (drop, pass) = (asm.label(), asm.label());
        destination(&mut asm, plan, IS_IPV6, nl, drop);
        asm.stmt(BPF_LDX | BPF_IMM, 40);
        asm.stmt(BPF_LD | BPF_B | BPF_ABS, nl + 6);
        // A = next header, X = where that header starts.
        for _ in 0..IPV6_EXTENSION_DEPTH {
            let (options, auth, fragment, advance) =
                (asm.label(), asm.label(), asm.label(), asm.label());
            let mut cases = transports.clone();
            cases.extend([
                (u32::from(IPV6_HOP_BY_HOP), options),
                (u32::from(IPV6_ROUTING), options),
                (u32::from(IPV6_DEST_OPTS), options),
                (u32::from(IPV6_FRAGMENT), fragment),
                (u32::from(IPV6_AUTH), auth),
            ]);
            dispatch(&mut asm, &cases, drop);
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
        // Deeper chains are left to user space.
        let mut cases = transports.clone();
        for next in [
            IPV6_HOP_BY_HOP,
            IPV6_ROUTING,
            IPV6_DEST_OPTS,
            IPV6_FRAGMENT,
            IPV6_AUTH,
        ] {
            cases.push((u32::from(next), pass));
        }
        dispatch(&mut asm, &cases, drop);
        asm.bind(pass);
        asm.stmt(BPF_RET | BPF_K, PASS);
        asm.bind(drop);
        asm.stmt(BPF_RET | BPF_K, 0);
    }

    let any = IS_IPV4 | if want_v6 { IS_IPV6 } else { 0 };
    for (protocol, label) in [(Protocol::Tcp, tcp), (Protocol::Udp, udp)] {
        if !has(protocol) {
            continue;
        }
        asm.bind(label);
        asm.stmt(BPF_LD | BPF_H | BPF_IND, nl + 2);
        asm.stmt(BPF_ST, M_PORT);
        let groups: Vec<(&PlanGroup, &(u32, PortTree))> = plan
            .groups
            .iter()
            .zip(trees)
            .filter(|(g, _)| g.protocol == protocol)
            .collect();
        if groups.iter().any(|(g, _)| !g.flags.is_any()) {
            asm.stmt(BPF_LD | BPF_B | BPF_IND, nl + 13);
            asm.stmt(BPF_ST, M_FLAGS);
        }
        for (group, (d, tree)) in groups {
            let next = asm.label();
            // The family parts already dropped packets no group wants, so a
            // group wanting every destination any group wants needs no test.
            if group.class & any != any && group.class != classes {
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
                if *d > EXACT {
                    asm.stmt(BPF_ALU | BPF_DIV | BPF_K, *d);
                }
                asm.stmt(BPF_ALU | BPF_AND | BPF_K, 31);
                asm.stmt(BPF_MISC | BPF_TAX, 0);
                asm.stmt(BPF_LD | BPF_IMM, 1);
                asm.stmt(BPF_ALU | BPF_LSH | BPF_X, 0);
                asm.stmt(BPF_ST, M_BIT);
            }
            asm.stmt(BPF_LD | BPF_MEM, M_PORT);
            if *d > EXACT {
                asm.stmt(BPF_ALU | BPF_DIV | BPF_K, *d);
            }
            tree.emit(&mut asm, M_BIT, next, PASS);
            asm.bind(next);
        }
        asm.stmt(BPF_RET | BPF_K, 0);
    }
    asm.finish()
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
