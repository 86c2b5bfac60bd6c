//! What `--check` and the `-D` lines tell about a program: its headline, its
//! groups of doors and its listing.

use std::fmt;
use std::net::IpAddr;

use knock_proto::{Protocol, TcpFlags};

use super::{Program, MAX_ADDRESSES, MAX_GROUPS};
use crate::filter::bpf;
use crate::wire::LinkType;

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
    pub(crate) protocol: Protocol,
    /// The flag test (TCP; [`TcpFlags::ANY`] for UDP).
    pub tcp_flags: TcpFlags,
    /// Where knocks must be addressed.
    pub destinations: Destinations,
    /// The ports, sorted, without duplicates.
    pub(crate) ports: Vec<u16>,
    /// How many doors the group holds.
    pub(crate) doors: usize,
    /// Ports compared together: 1 when exact, `d` when the program compares
    /// `port / d` (and so passes the other ports of the same block).
    pub(crate) ports_per_unit: u32,
    /// The group passes every port: it watches for a strict door.
    pub(crate) all_ports: bool,
    /// Instructions of the group's port search.
    pub search_len: usize,
    /// The most instructions a packet runs through in the group's port
    /// search: about `log2` of its leaves, plus one leaf.
    pub search_depth: usize,
}

impl Program {
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
