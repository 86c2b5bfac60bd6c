//! The kernel capture (BPF) filter: which packets reach user space at all.
//!
//! Two views of one filter:
//!
//! * [`program`] builds what is installed: a classic BPF program generated
//!   directly ([`Program`]; its shape is described in the module `program`),
//!   deduplicating ports across doors, grouping doors by protocol, TCP flag
//!   test and destinations, and searching each group's ports in O(log n)
//!   instructions. It follows IPv6 extension headers to the port, works for
//!   every [`LinkType`](crate::wire::LinkType), and fits the kernel's limit
//!   for any number of doors (coarser, never narrower, when it must).
//! * [`expression`] is the same filter as knockd 0.8 wrote it, one libpcap
//!   sub-expression per door and address family: the `-D` lines
//!   `adding pcap expression for door '<door>': <expr>` print it. It is no
//!   longer compiled: libpcap's optimiser needs seconds and gigabytes for a few
//!   hundred doors.
//!
//! For IPv4 the expression has exactly knockd 0.8's shape, one sub-expression
//! per door and address family, joined with ` or `:
//!
//! ```text
//! ((dst host A1 or dst host A2) and (((tcp dst port P1 or P2) and tcp[tcpflags] & tcp-syn != 0) or (udp dst port Q1)))
//! ```
//!
//! For IPv6 it differs where 0.8 is wrong. libpcap's `tcp dst port` only looks
//! at the fixed header's next-header field, so a knock carrying an extension
//! header never matched 0.8's filter. The IPv6 part therefore also passes
//! every packet to a local address whose next header is one of the extension
//! headers the decoder walks (`IPV6_EXTENSION_HEADERS`); user
//! space then checks port, protocol and flags itself. The flag test keeps
//! 0.8's `ip6[13+40]`, which is right exactly when the fixed header is followed
//! directly by TCP — the only case `tcp dst port` matches for IPv6. (The
//! program does better: it follows the extension headers and tests the port
//! and flags behind them.)
//!
//! Other differences from 0.8: a door with a `Target` gets one sub-expression,
//! for the target's family, listing the target once (0.8 repeats it once per
//! local address and also puts an IPv4 target into the IPv6 part); an
//! interface without any address (or `-i any`) gets a port-only filter instead
//! of none; a configuration without enabled doors gets a filter that matches
//! nothing instead of none.

pub mod bpf;
mod kernel;
mod ports;
mod program;

pub use kernel::{
    fit_program, kernel_instructions, KERNEL_MAX_INSTRUCTIONS, SHORTEST_PROGRAM, SKF_AD_PROTOCOL,
};

pub use program::FilterError;
pub use program::{program, Destinations, Group, Program, IPV6_EXTENSION_DEPTH};

use std::fmt::Write as _;
use std::net::IpAddr;

use knock_proto::{Protocol, Sequence, TcpFlags};

use crate::doors::RuntimeDoor;
use crate::wire::IPV6_EXTENSION_HEADERS;

/// A filter that passes nothing: no door is enabled. libpcap's optimizer
/// refuses expressions it can prove empty (`ip and not ip`), but not this one
/// (`len` is unsigned, so it is never below 0).
pub const MATCH_NOTHING: &str = "len < 0";

/// What the filter needs to know about one enabled door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterDoor<'a> {
    /// The door's name, for the debug line.
    pub name: &'a str,
    /// The sequence currently active (for one-time doors: the current line).
    pub sequence: &'a Sequence,
    /// The door's `TCPFlags`.
    pub tcp_flags: TcpFlags,
    /// The door's `Target`: knocks must be addressed to it instead of the
    /// interface's own addresses.
    pub target: Option<IpAddr>,
    /// `Strict`: the door also watches every connection-opening packet to
    /// its destinations (TCP with SYN and without ACK, and UDP, on any
    /// port), so the filter passes those too.
    pub strict: bool,
}

/// The enabled doors as the capture filter sees them: a rotating door once
/// for each of its step sequences, which `steps` gives by door index.
pub fn filter_doors<'a>(
    doors: &'a [RuntimeDoor],
    steps: impl Fn(usize) -> Vec<&'a Sequence>,
) -> Vec<FilterDoor<'a>> {
    doors
        .iter()
        .enumerate()
        .flat_map(|(index, d)| {
            let sequences = match d.rotating {
                Some(_) => steps(index),
                None => d.active_sequence().into_iter().collect(),
            };
            sequences.into_iter().map(|sequence| FilterDoor {
                name: &d.door.name,
                sequence,
                tcp_flags: d.door.tcp_flags,
                target: d.door.target,
                strict: d.door.strict,
            })
        })
        .collect()
}

/// One door's sub-expression for one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorExpression {
    /// The door's name.
    pub door: String,
    /// The sub-expression, as printed by `adding pcap expression for door '<door>': <expr>`.
    pub expression: String,
}

/// The generated filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFilter {
    /// The sub-expressions in 0.8's order: door 1 IPv4, door 1 IPv6, door 2 IPv4, ...
    pub per_door: Vec<DoorExpression>,
    /// All sub-expressions joined with ` or ` ([`MATCH_NOTHING`] if there are none).
    pub whole: String,
}

/// The address families, with what differs between their sub-expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Where the TCP flag byte is. libpcap's `tcp[]` only works for IPv4.
    fn tcp_flags_operand(self) -> &'static str {
        match self {
            Family::V4 => "tcp[tcpflags]",
            Family::V6 => "ip6[13+40]",
        }
    }
}

/// Builds the filter for `doors` on an interface with the addresses `local`
/// (in kernel discovery order). With `ipv4_only` (`-4`) there is no IPv6 part.
pub fn expression(doors: &[FilterDoor<'_>], local: &[IpAddr], ipv4_only: bool) -> CaptureFilter {
    let per_door = door_expressions(doors, local, ipv4_only);
    let whole = if per_door.is_empty() {
        MATCH_NOTHING.to_owned()
    } else {
        per_door
            .iter()
            .map(|d| d.expression.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    };
    CaptureFilter { per_door, whole }
}

/// The sub-expressions of [`expression`] without the joined whole: what the
/// `-D` lines print.
pub fn door_expressions(
    doors: &[FilterDoor<'_>],
    local: &[IpAddr],
    ipv4_only: bool,
) -> Vec<DoorExpression> {
    let families: &[Family] = if ipv4_only {
        &[Family::V4]
    } else {
        &[Family::V4, Family::V6]
    };
    doors
        .iter()
        .flat_map(|door| {
            families.iter().filter_map(move |&family| {
                let destinations = destinations(door.target, local, family)?;
                Some(DoorExpression {
                    door: door.name.to_owned(),
                    expression: format!("(({destinations}) and ({}))", body(door, family)),
                })
            })
        })
        .collect()
}

/// The `dst host` clause of one family, or `None` when the door cannot be
/// knocked in that family.
fn destinations(target: Option<IpAddr>, local: &[IpAddr], family: Family) -> Option<String> {
    if let Some(target) = target {
        return (Family::of(&target) == family).then(|| format!("dst host {target}"));
    }
    // 0.8 lists the addresses in reverse discovery order.
    let hosts: Vec<String> = local
        .iter()
        .rev()
        .filter(|addr| Family::of(addr) == family)
        .map(|addr| format!("dst host {addr}"))
        .collect();
    (!hosts.is_empty()).then(|| hosts.join(" or "))
}

/// The port/protocol/flag part of a door's sub-expression.
fn body(door: &FilterDoor<'_>, family: Family) -> String {
    let mut alternatives = Vec::with_capacity(3);
    if let Some(ports) = port_list(door.sequence, Protocol::Tcp) {
        let mut tcp = format!("((tcp dst port {ports})");
        for (flag, set) in door.tcp_flags.constraints() {
            let op = if set { "!=" } else { "==" };
            // Writing to a String cannot fail.
            let _ = write!(
                tcp,
                " and {} & tcp-{} {op} 0",
                family.tcp_flags_operand(),
                flag.bpf_name()
            );
        }
        tcp.push(')');
        alternatives.push(tcp);
    }
    if let Some(ports) = port_list(door.sequence, Protocol::Udp) {
        alternatives.push(format!("(udp dst port {ports})"));
    }
    if door.strict {
        // A strict door watches every connection being opened (a port
        // test, unlike a bare `udp`, also skips non-first fragments).
        let flags = family.tcp_flags_operand();
        alternatives.push(format!(
            "((tcp dst portrange 0-65535) and {flags} & tcp-syn != 0 and {flags} & tcp-ack == 0) \
             or (udp dst portrange 0-65535)"
        ));
    }
    if family == Family::V6 {
        let chain: Vec<String> = IPV6_EXTENSION_HEADERS
            .iter()
            .map(|next| format!("ip6[6] == {next}"))
            .collect();
        alternatives.push(format!("({})", chain.join(" or ")));
    }
    alternatives.join(" or ")
}

/// `P1 or P2 ...` in sequence order, duplicates kept; `None` without such ports.
fn port_list(sequence: &Sequence, protocol: Protocol) -> Option<String> {
    let ports: Vec<String> = sequence.ports(protocol).map(|p| p.to_string()).collect();
    (!ports.is_empty()).then(|| ports.join(" or "))
}
