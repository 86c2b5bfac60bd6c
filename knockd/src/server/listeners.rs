//! The listeners: one capture per interface knockd listens on, each with its
//! own link type and addresses, lost and reopened on its own.

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use knockd_core::privsep::WatcherRequest;
use knockd_core::wire::LinkType;

use super::{OpenerSide, Server};
use crate::capture::{Capture, CaptureError};
use crate::counters::CaptureTotals;
use crate::interfaces;
use crate::log::CaptureMessage;

/// How often a lost capture (interface down or gone) is tried again.
const CAPTURE_RETRY: Duration = Duration::from_secs(1);

/// The capture of one interface knockd listens on.
pub struct Listener {
    /// The interface's name, as given.
    pub interface: String,
    /// The capture's link type, as of the last open (what a capture that
    /// never opened reads is never decoded).
    pub link: LinkType,
    /// `None` while the interface is down or gone.
    pub capture: Option<Capture>,
    /// When to try opening a lost capture again.
    pub retry: Option<Instant>,
    /// The interface's own addresses, as last read.
    pub addrs: Vec<IpAddr>,
    /// libpcap's counters of the open capture, as last read.
    pub stats: CaptureTotals,
    /// The interface's index when the capture was opened (`None` for
    /// `any`): a capture whose interface was deleted, and perhaps created
    /// again under the same name, is bound to the old index.
    index: Option<u32>,
    /// Whether the interface is a loopback one or `any`, read when the
    /// capture opens: asked for at every wake-up that reads packets, it
    /// changes only with the interface, which a capture outlives only
    /// when it is opened again.
    loopback: bool,
}

impl Listener {
    /// Opens the capture of `interface`.
    pub fn open(interface: &str) -> Result<Listener, CaptureError> {
        let index = interface_index(interface);
        let capture = Capture::open(interface)?;
        let link = capture.link_type()?;
        Ok(Listener {
            interface: interface.to_owned(),
            link,
            capture: Some(capture),
            retry: None,
            addrs: Vec::new(),
            stats: CaptureTotals::default(),
            index,
            loopback: interfaces::sees_the_host_itself(interface),
        })
    }

    /// Whether the interface the capture was opened on is still there
    /// (not deleted, nor replaced by a new one of the same name).
    pub fn interface_unchanged(&self) -> bool {
        self.index == interface_index(&self.interface)
    }

    /// An interface that cannot be opened yet: tried again like a lost one.
    pub fn waiting(interface: &str, now: Instant) -> Listener {
        Listener {
            interface: interface.to_owned(),
            link: LinkType::Ethernet,
            capture: None,
            retry: Some(now + CAPTURE_RETRY),
            addrs: Vec::new(),
            stats: CaptureTotals::default(),
            index: None,
            loopback: interfaces::sees_the_host_itself(interface),
        }
    }

    /// The descriptor to poll, while the capture is open.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.capture.as_ref().map(|c| c.as_fd())
    }

    /// Whether the host's knocks to itself show here: a loopback
    /// interface, `any`, or a BSD loopback link type.
    pub fn sees_the_host_itself(&self) -> bool {
        matches!(self.link, LinkType::Null | LinkType::Loop) || self.loopback
    }

    /// Reads libpcap's counters of the open capture.
    pub fn read_stats(&mut self) {
        if let Some(stats) = self.capture.as_mut().and_then(|c| c.stats().ok()) {
            self.stats = stats.into();
        }
    }

    /// Closes the capture after an error and schedules a retry; returns its
    /// last counters, which a reopened capture starts again from zero.
    pub fn lose(&mut self, now: Instant) -> CaptureTotals {
        self.read_stats();
        self.capture = None;
        self.retry = Some(now + CAPTURE_RETRY);
        std::mem::take(&mut self.stats)
    }

    /// Captures with `capture`, opened again, whose frames start with `link`.
    pub fn adopt(&mut self, capture: Capture, link: LinkType) {
        self.index = interface_index(&self.interface);
        self.loopback = interfaces::sees_the_host_itself(&self.interface);
        self.capture = Some(capture);
        self.link = link;
        self.retry = None;
    }

    /// Tries to open a lost capture again; says whether it did.
    pub fn reopen(&mut self, now: Instant) -> bool {
        let opened = Capture::open(&self.interface).and_then(|c| c.link_type().map(|l| (c, l)));
        match opened {
            Ok((capture, link)) => {
                self.adopt(capture, link);
                true
            }
            Err(_) => {
                self.retry = Some(now + CAPTURE_RETRY);
                false
            }
        }
    }
}

impl Server {
    /// Tries again to open the lost captures whose retry is due at `now`.
    pub(super) fn reopen_due_captures(&mut self, now: Instant) {
        for index in 0..self.listeners.len() {
            if self
                .listeners
                .get(index)
                .and_then(|c| c.retry)
                .is_some_and(|at| at <= now)
            {
                self.reopen_capture(index, now);
            }
        }
    }

    /// Capture `index` failed (its interface went down or was removed):
    /// close it and try again every second, instead of exiting as 0.8 does.
    /// Knocks sent meanwhile on that interface are not seen; attempts in
    /// progress are kept, and the other interfaces go on.
    pub(super) fn capture_lost(&mut self, index: usize, error: &CaptureError) {
        let Some(slot) = self.listeners.get_mut(index) else {
            return;
        };
        let last = slot.lose(Instant::now());
        self.counters.capture_closed(last);
        self.logger.emit(&CaptureMessage::CaptureLost {
            interface: &slot.interface,
            error,
        });
    }

    /// Tries to open lost capture `index` again; once it is open, its filter
    /// is installed. The privilege split's watcher cannot open a capture:
    /// it asks the opener, which hands one over ([`Server::adopt_capture`])
    /// or says why not ([`Server::capture_failed`]).
    fn reopen_capture(&mut self, index: usize, now: Instant) {
        let Some(slot) = self.listeners.get_mut(index) else {
            return;
        };
        match self.side {
            OpenerSide::Here(_) => {
                if slot.reopen(now) {
                    self.capture_reopened(index);
                }
            }
            OpenerSide::Parent(_) => {
                // No retry until the opener answers.
                slot.retry = None;
                let interface = slot.interface.clone();
                self.ask(WatcherRequest::OpenCapture { interface });
            }
        }
    }

    /// The opener opened the capture of `interface` again: `socket`, whose
    /// frames start with `link`.
    pub(super) fn adopt_capture(&mut self, interface: &str, link: LinkType, socket: OwnedFd) {
        let Some(index) = self.listeners.iter().position(|c| c.interface == interface) else {
            return;
        };
        match Capture::from_packet_socket(socket, link, interface) {
            Ok(capture) => {
                if let Some(slot) = self.listeners.get_mut(index) {
                    slot.adopt(capture, link);
                }
                self.capture_reopened(index);
            }
            Err(_) => self.capture_failed(interface),
        }
    }

    /// The opener could not open the capture of `interface` again: tried
    /// again after the usual pause, as a capture opened here would be.
    pub(super) fn capture_failed(&mut self, interface: &str) {
        let now = Instant::now();
        if let Some(slot) = self.listeners.iter_mut().find(|c| c.interface == interface) {
            slot.retry = Some(now + CAPTURE_RETRY);
        }
    }

    /// Capture `index` is open again: the addresses are read again and the
    /// filters installed.
    fn capture_reopened(&mut self, index: usize) {
        // The addresses may have changed while the interface was away; the
        // other captures' filters then change too.
        let previous = std::mem::take(&mut self.local_addrs);
        self.refresh_local_addrs();
        if self.local_addrs != previous {
            self.engine.set_local_addrs(self.local_addrs.clone());
            for other in (0..self.listeners.len()).filter(|&other| other != index) {
                if let Err(e) = self.filter_capture(other) {
                    self.capture_lost(other, &e);
                }
            }
        }
        match self.filter_capture(index) {
            Ok(()) => {
                if let Some(slot) = self.listeners.get(index) {
                    self.logger.emit(&CaptureMessage::CaptureRestored {
                        interface: &slot.interface,
                    });
                }
            }
            Err(e) => self.capture_lost(index, &e),
        }
    }
}

/// The index of the interface named `name` now, if there is one.
fn interface_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}
