//! The capture filter: which packets the kernel passes to knockd, built for
//! the current doors and addresses and installed on every open capture
//! whenever either changes.

use std::net::IpAddr;
use std::time::Instant;

use knock_proto::Sequence;
use knockd_core::doors::RuntimeDoor;
use knockd_core::engine::Engine;
use knockd_core::filter;

use super::Server;
use crate::capture::{Capture, CaptureError};
use crate::log::{CaptureMessage, DaemonMessage, KnockMessage, Logger};
use crate::step_windows;

impl Server {
    /// Installs the rotating doors' windows for the step now current, for
    /// doors just (re)loaded, and the filter for their sequences. Attempts
    /// in progress keep their step.
    pub(super) fn rotate(&mut self, now: Instant) {
        let doors = &self.setup.loaded.doors;
        self.step_windows
            .install(&mut self.engine, doors, step_windows::unix_now(), now);
        self.reinstall_filter();
    }

    /// At a step boundary: moves the rotating doors' windows on and
    /// installs the filter for them, then logs (verbose) how long that held
    /// the loop, what `ci/bench` reports.
    pub(super) fn step_boundary(&mut self, now: Instant) {
        let started = Instant::now();
        let doors = &self.setup.loaded.doors;
        let doors =
            self.step_windows
                .advance(&mut self.engine, doors, step_windows::unix_now(), now);
        self.reinstall_filter();
        let elapsed = started.elapsed();
        self.logger
            .emit(&KnockMessage::StepBoundary { doors, elapsed });
    }

    /// Arms a one-time door with its next sequence (or disables it) and
    /// rebuilds the filter for both address families.
    pub(super) fn rearm(&mut self, door: usize, next: Option<Sequence>) {
        self.engine.set_sequence(door, next);
        self.reinstall_filter();
    }

    /// Installs the filter for the current doors on every open capture. A
    /// capture that takes no filter is lost and reopened: its interface is
    /// usually gone (the address event that brought us here can come
    /// before the capture's own error, which setting the filter consumes;
    /// an interface that is still there gets a second try).
    pub(super) fn reinstall_filter(&mut self) {
        log_expressions(
            &self.setup.loaded.doors,
            &self.engine,
            &self.local_addrs,
            self.setup.args.only_ipv4,
            &mut self.logger,
        );
        for index in 0..self.listeners.len() {
            if let Err(e) = self.filter_capture(index) {
                self.capture_lost(index, &e);
            }
        }
    }

    /// Installs the filter for the current doors on capture `index`, if open.
    pub(super) fn filter_capture(&mut self, index: usize) -> Result<(), CaptureError> {
        let Some(slot) = self.listeners.get_mut(index) else {
            return Ok(());
        };
        let unchanged = slot.interface_unchanged();
        let Some(capture) = slot.capture.as_mut() else {
            return Ok(());
        };
        let install = |capture: &mut Capture, logger: &mut Logger| {
            install_filter(
                capture,
                &self.setup.loaded.doors,
                &self.engine,
                &self.local_addrs,
                self.setup.args.only_ipv4,
                logger,
            )
        };
        // A socket error pending since the link went down and up (ENETDOWN)
        // fails the first try and is consumed by it: on an interface that
        // is still the same, only a second failure means the capture is
        // lost. One that was deleted is lost at the first.
        install(capture, &mut self.logger).or_else(|error| {
            if unchanged {
                install(capture, &mut self.logger)
            } else {
                Err(error)
            }
        })
    }
}

/// Installs the filter for `doors` on `capture` (none while it is lost),
/// logging each door's part with `-D` as 0.8 does, then the program's size.
///
/// The program must run in the kernel. It is made to fit what the kernel
/// takes here ([`filter::fit_program`]: a coarser program each time a
/// throwaway socket refuses one, with a `-D` line). If the capture socket
/// refuses it all the same, libpcap would filter every packet in user space,
/// so a coarser program half as long is tried instead, with an error line;
/// if even a short one is refused, installing fails.
pub(super) fn install_filter(
    capture: &mut Capture,
    doors: &[RuntimeDoor],
    engine: &Engine,
    local_addrs: &[IpAddr],
    only_ipv4: bool,
    logger: &mut Logger,
) -> Result<(), CaptureError> {
    use crate::capture::{kernel_budget, kernel_takes, Placement};
    use filter::SHORTEST_PROGRAM;
    let doors = filter::filter_doors(doors, |door| engine.step_sequences(door));
    let link = capture.link_type()?;
    let mut budget = kernel_budget();
    // Bounded: the budget halves every round.
    loop {
        let program = filter::fit_program(
            &doors,
            local_addrs,
            only_ipv4,
            link,
            budget,
            kernel_takes,
            |refused, next| {
                logger.emit(&DaemonMessage::Debug(&format_args!(
                    "capture filter: the kernel takes no program of {} instructions here; \
                     trying at most {next}",
                    refused.len()
                )));
            },
        )
        .map_err(|e| CaptureError::new(e.to_string()))?;
        logger.emit(&DaemonMessage::Debug(&format_args!(
            "capture filter: {}",
            program.headline()
        )));
        match capture.install_program(&program)? {
            Placement::Kernel => return Ok(()),
            Placement::UserSpace if program.len() > SHORTEST_PROGRAM => {
                budget = (program.len() / 2).max(SHORTEST_PROGRAM);
                logger.emit(&DaemonMessage::Error(&format_args!(
                    "the kernel refused the capture filter of {} instructions; \
                     trying a coarser one of at most {budget}",
                    program.len()
                )));
            }
            Placement::UserSpace => {
                return Err(CaptureError::new(format!(
                    "the kernel refused the capture filter ({} instructions): \
                     knockd does not filter every packet in user space",
                    program.len()
                )))
            }
        }
    }
}

/// With `-D`, each door's part of the filter as a libpcap expression, as
/// 0.8 logs it (`adding pcap expression for door ...`).
pub(super) fn log_expressions(
    doors: &[RuntimeDoor],
    engine: &Engine,
    local_addrs: &[IpAddr],
    only_ipv4: bool,
    logger: &mut Logger,
) {
    if logger.debug() {
        let doors = filter::filter_doors(doors, |door| engine.step_sequences(door));
        for door in filter::door_expressions(&doors, local_addrs, only_ipv4) {
            logger.emit(&CaptureMessage::PcapExpression {
                door: &door.door,
                expression: &door.expression,
            });
        }
    }
}
