//! What the program tests, before it is laid out: the doors grouped by
//! protocol, flag test and destinations, and how coarsely each group's
//! ports are compared to fit the kernel's limit.

use std::collections::HashMap;
use std::net::IpAddr;

use knock_proto::{Protocol, TcpFlags};

use super::{
    Destinations, PortTree, COARSEST, EXACT, FIRST_ADDRESS_BIT, IPV6_EXTENSION_DEPTH, IS_IPV4,
    IS_IPV6, MAX_ADDRESSES, MAX_GROUPS,
};
use crate::filter::FilterDoor;

/// A group while planning: `class` is its destination bits.
#[derive(Debug, Clone)]
pub(super) struct PlanGroup {
    pub(super) protocol: Protocol,
    pub(super) class: u32,
    pub(super) flags: TcpFlags,
    pub(super) ports: Vec<u16>,
    pub(super) doors: usize,
    /// Every port passes (a strict door's watch).
    pub(super) all_ports: bool,
}

/// What the program tests, before it is laid out.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// Address `i` has the bit `1 << (FIRST_ADDRESS_BIT + i)`.
    pub(super) addresses: Vec<IpAddr>,
    pub(super) destinations_by_family: bool,
    pub(super) groups: Vec<PlanGroup>,
    pub(super) groups_merged: bool,
    pub(super) ipv6: bool,
}

pub(super) fn family_bit(addr: &IpAddr) -> u32 {
    if addr.is_ipv4() {
        IS_IPV4
    } else {
        IS_IPV6
    }
}

impl Plan {
    /// The plan for `doors`; with `by_family`, destinations are checked by
    /// address family only.
    pub(super) fn new(
        doors: &[FilterDoor<'_>],
        local: &[IpAddr],
        ipv4_only: bool,
        by_family: bool,
    ) -> Plan {
        let ipv6 = !ipv4_only;
        let wanted = |addr: &IpAddr| ipv6 || addr.is_ipv4();
        let mut local_addrs: Vec<IpAddr> = Vec::new();
        for addr in local.iter().filter(|a| wanted(a)) {
            if !local_addrs.contains(addr) {
                local_addrs.push(*addr);
            }
        }
        let (addresses, index) = door_addresses(doors, &local_addrs, wanted);
        let destinations_by_family = by_family || addresses.len() > MAX_ADDRESSES;
        let bit = |addr: &IpAddr| -> u32 {
            if destinations_by_family {
                family_bit(addr)
            } else {
                index.get(addr).map_or(0, |&i| 1 << (FIRST_ADDRESS_BIT + i))
            }
        };
        let local_class = local_addrs.iter().fold(0, |c, a| c | bit(a));
        let groups = group_doors(doors, |door| match door.target {
            Some(target) if wanted(&target) => bit(&target),
            Some(_) => 0,
            None => local_class,
        });
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
    pub(super) fn merge_groups(&mut self) {
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
    pub(super) fn family_mask(&self, family_bit: u32) -> u32 {
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

    pub(super) fn classes(&self) -> u32 {
        self.groups.iter().fold(0, |c, g| c | g.class)
    }

    pub(super) fn destinations(&self, class: u32) -> Destinations {
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

/// The addresses `doors` are knocked on (their targets, or the interface's
/// `local_addrs`) that are `wanted`, in order of first use, and the index of
/// each.
fn door_addresses(
    doors: &[FilterDoor<'_>],
    local_addrs: &[IpAddr],
    wanted: impl Fn(&IpAddr) -> bool,
) -> (Vec<IpAddr>, HashMap<IpAddr, usize>) {
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
    (addresses, index)
}

/// The groups of `doors` in order of first use, TCP before UDP, their ports
/// sorted and distinct; `class_of` gives a door's destination bits (0: the
/// door cannot be knocked here).
fn group_doors(
    doors: &[FilterDoor<'_>],
    class_of: impl Fn(&FilterDoor<'_>) -> u32,
) -> Vec<PlanGroup> {
    let mut grouping = Grouping::default();
    for door in doors {
        let class = class_of(door);
        if class == 0 {
            continue;
        }
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let mut ports = door.sequence.ports(protocol).peekable();
            if ports.peek().is_some() {
                let flags = if protocol == Protocol::Tcp {
                    door.tcp_flags
                } else {
                    TcpFlags::ANY
                };
                grouping.add(protocol, class, flags, &mut ports, false);
            }
            if door.strict {
                let flags = strict_watch(protocol);
                grouping.add(protocol, class, flags, &mut std::iter::empty(), true);
            }
        }
    }
    let mut groups = grouping.groups;
    groups.sort_by_key(|g| g.protocol);
    for group in &mut groups {
        group.ports.sort_unstable();
        group.ports.dedup();
    }
    groups
}

/// The groups while doors are added to them.
#[derive(Default)]
struct Grouping {
    /// Each group's index by protocol, destination bits and flag test.
    slots: HashMap<(Protocol, u32, u8, u8), usize>,
    groups: Vec<PlanGroup>,
}

impl Grouping {
    /// Adds a door's `ports` to the group of `protocol`, `class` and `flags`
    /// (a new one if there is none yet); with `all_ports`, the group passes
    /// every port.
    fn add(
        &mut self,
        protocol: Protocol,
        class: u32,
        flags: TcpFlags,
        ports: &mut dyn Iterator<Item = u16>,
        all_ports: bool,
    ) {
        let key = (protocol, class, flags.required(), flags.forbidden());
        let groups = &mut self.groups;
        let slot = *self.slots.entry(key).or_insert_with(|| {
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
        let group = &mut self.groups[slot];
        group.ports.extend(ports);
        group.doors += 1;
        group.all_ports |= all_ports;
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
pub(super) fn choose_granularity(plan: &Plan, target: usize) -> Vec<(u32, PortTree)> {
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
