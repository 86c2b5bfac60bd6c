//! The host's addresses: what doors without a Target are knocked on, read
//! per interface at start and on reload, and followed as they change.

use std::net::IpAddr;

use super::{Listener, Server};
use crate::interfaces;
use crate::log::{CaptureMessage, Logger};

impl Server {
    /// The host's addresses may have changed: when an interface's did,
    /// knocks to the new ones count from now on, without a reload.
    pub(super) fn follow_addresses(&mut self) {
        let only_ipv4 = self.setup.args.only_ipv4;
        for slot in &mut self.listeners {
            let Ok(addrs) = interfaces::local_addresses(&slot.interface, only_ipv4) else {
                continue;
            };
            if addrs == slot.addrs {
                continue;
            }
            let interface = &slot.interface;
            self.logger.emit(&CaptureMessage::AddressesChanged {
                interface,
                addrs: &addrs,
            });
            if addrs.is_empty() {
                self.logger
                    .emit(&CaptureMessage::WaitingForAddress { interface });
            }
            slot.addrs = addrs;
        }
        let all = union(&self.listeners);
        if all != self.local_addrs {
            self.local_addrs = all;
            self.engine.set_local_addrs(self.local_addrs.clone());
            self.reinstall_filter();
        }
    }

    /// Reads every interface's addresses again (`local IP` lines with `-D`).
    pub(super) fn refresh_local_addrs(&mut self) {
        let only_ipv4 = self.setup.args.only_ipv4;
        for slot in &mut self.listeners {
            slot.addrs = local_addresses(&slot.interface, only_ipv4, &mut self.logger);
        }
        self.local_addrs = union(&self.listeners);
    }
}

/// The addresses of every capture's interface, each once.
pub(super) fn union(listeners: &[Listener]) -> Vec<IpAddr> {
    interfaces::distinct(listeners.iter().flat_map(|c| c.addrs.iter().copied()))
}

/// The interface's addresses, each logged with `-D` (`local IP: ...`).
pub(super) fn local_addresses(
    interface: &str,
    only_ipv4: bool,
    logger: &mut Logger,
) -> Vec<IpAddr> {
    // An interface without addresses yet has none: only Target doors can be
    // knocked until one comes. `any` has every interface's.
    let addrs = interfaces::local_addresses(interface, only_ipv4).unwrap_or_default();
    for addr in &addrs {
        logger.emit(&CaptureMessage::LocalIp(*addr));
    }
    addrs
}
