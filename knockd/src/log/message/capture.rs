//! The capture: its interface, its losses and recoveries, the addresses
//! knocks go to, its filter and the packets it reads.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::time::SystemTime;

use chrono::{DateTime, Local};
use knockd_core::Packet;

use super::{Record, Text, DEBUG, LOG, STDERR, VERBOSE};

/// About the capture, its interface and the packets it reads.
#[derive(Clone, Copy)]
pub enum CaptureMessage<'a> {
    /// `listening on <iface>...` (verbose). The server logs it together with
    /// [`super::DaemonMessage::StartingUp`], as 0.8 prints the two at the same
    /// moment.
    Listening {
        /// The capture interface.
        interface: &'a str,
    },
    /// `no interface configured and no eth0: listening on <iface>, the
    /// interface of the default route` (log, verbose). Not in 0.8 (#44).
    InterfaceFromDefaultRoute {
        /// The capture interface.
        interface: &'a str,
    },
    /// `<pcap error> --> capture on <iface> stopped, retrying every second`
    /// (log, stderr): the interface went down or vanished. 0.8 exits here.
    CaptureLost {
        /// The capture interface.
        interface: &'a str,
        /// What libpcap said.
        error: &'a dyn fmt::Display,
    },
    /// `capture on <iface> restored` (log): the interface is back.
    CaptureRestored {
        /// The capture interface.
        interface: &'a str,
    },
    /// `addresses of <iface> changed: <addr>, ...` (verbose): knocks to
    /// these count from now on. Not in 0.8, which read them once.
    AddressesChanged {
        /// The capture interface.
        interface: &'a str,
        /// Its addresses now.
        addrs: &'a [IpAddr],
    },
    /// `<iface> has no address yet: waiting for one; until then only doors
    /// with a Target can be knocked` (log, verbose).
    WaitingForAddress {
        /// The capture interface.
        interface: &'a str,
    },
    /// `local IP: <addr>` (debug).
    LocalIp(IpAddr),
    /// `adding pcap expression for door '<door>': <expr>` (debug).
    PcapExpression {
        /// The door's name.
        door: &'a str,
        /// The filter expression.
        expression: &'a str,
    },
    /// `<YYYY-MM-DD> <HH:MM:SS>: <tcp|udp>: <src>:<sport> -> <dst>:<dport>
    /// <wirelen> bytes` (debug), in local time. 0.8 prints the month 0-based
    /// (B16 in docs/differences-from-0.8.md); we do not.
    Packet {
        /// The capture timestamp.
        time: SystemTime,
        /// The decoded packet.
        packet: &'a Packet,
        /// The frame's length on the wire.
        wire_len: u32,
    },
}

impl CaptureMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            CaptureMessage::Listening { interface } => {
                write!(out, "listening on {interface}...")?;
                Record::new(VERBOSE, "listening")
            }
            CaptureMessage::InterfaceFromDefaultRoute { interface } => {
                write!(
                    out,
                    "no interface configured and no eth0: listening on {interface}, the interface of the default route"
                )?;
                Record::new(LOG | VERBOSE, "interface_from_route")
            }
            CaptureMessage::CaptureLost { interface, error } => {
                write!(
                    out,
                    "{error} --> capture on {interface} stopped, retrying every second"
                )?;
                Record::new(LOG | STDERR, "capture_lost").error()
            }
            CaptureMessage::CaptureRestored { interface } => {
                write!(out, "capture on {interface} restored")?;
                Record::new(LOG, "capture_restored")
            }
            CaptureMessage::AddressesChanged { interface, addrs } => {
                out.with(|out| {
                    write!(out, "addresses of {interface} changed:")?;
                    if addrs.is_empty() {
                        write!(out, " none")?;
                    }
                    for (i, addr) in addrs.iter().enumerate() {
                        write!(out, "{} {addr}", if i == 0 { "" } else { "," })?;
                    }
                    Ok(())
                })?;
                Record::new(VERBOSE, "addresses_changed")
            }
            CaptureMessage::WaitingForAddress { interface } => {
                write!(
                    out,
                    "{interface} has no address yet: waiting for one; until then only doors with a Target can be knocked"
                )?;
                Record::new(LOG | VERBOSE, "waiting_for_address").warning()
            }
            CaptureMessage::LocalIp(addr) => {
                write!(out, "local IP: {addr}")?;
                Record::new(DEBUG, "local_ip")
            }
            CaptureMessage::PcapExpression { door, expression } => {
                write!(
                    out,
                    "adding pcap expression for door '{door}': {expression}"
                )?;
                Record::new(DEBUG, "pcap_expression").door(door)
            }
            CaptureMessage::Packet {
                time,
                packet,
                wire_len,
            } => {
                out.with(|out| {
                    let time = DateTime::<Local>::from(*time).format("%Y-%m-%d %H:%M:%S");
                    let Packet {
                        protocol,
                        src,
                        src_port,
                        dst,
                        dst_port,
                        ..
                    } = packet;
                    write!(
                        out,
                        "{time}: {protocol}: {src}:{src_port} -> {dst}:{dst_port} {wire_len} bytes"
                    )
                })?;
                Record::new(DEBUG, "packet")
            }
        })
    }
}
