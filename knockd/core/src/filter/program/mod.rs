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

mod codegen;
mod plan;
mod report;

pub use report::{Destinations, Group};

use std::fmt;
use std::net::IpAddr;

use super::bpf::{self, BpfError, Instruction};
use super::ports::PortTree;
use super::FilterDoor;
use crate::wire::LinkType;
use codegen::generate;
use plan::{choose_granularity, Plan};

/// What the program returns for a packet that passes: libpcap's largest
/// snapshot length, so the capture's own snap length is what cuts packets.
pub(crate) const PASS: u32 = 262_144;
/// How many IPv6 extension headers the program follows to the transport
/// header; a longer chain is passed to user space.
pub const IPV6_EXTENSION_DEPTH: usize = 4;
/// Distinct destination addresses the program tells apart; with more,
/// destinations are checked by address family only.
pub(crate) const MAX_ADDRESSES: usize = 30;
/// Groups of doors kept apart; with more, they are merged per protocol.
pub(crate) const MAX_GROUPS: usize = 64;
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
    pub(crate) fn link(&self) -> LinkType {
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
