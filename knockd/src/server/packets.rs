//! Reading a capture: each frame is decoded and fed to the engine, and the
//! events of one packet are handled before the next packet.

use std::time::{Instant, SystemTime};

use knockd_core::wire;

use super::{Server, BATCH};
use crate::capture::CaptureError;
use crate::log::{CaptureMessage, DaemonMessage};

impl Server {
    /// Reads what capture `index` has, then feeds each decoded packet to the
    /// engine and handles its events before the next packet, so debug packet
    /// lines and the log lines they cause interleave as in 0.8.
    pub(super) fn read_packets(&mut self, index: usize) -> Result<(), CaptureError> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let Some(slot) = self.listeners.get_mut(index) else {
            return Ok(());
        };
        let link = slot.link;
        // Knocks from the host itself are real only where it sees itself.
        self.engine
            .set_loopback_capture(slot.sees_the_host_itself());
        let mut batch = std::mem::take(&mut self.batch);
        let read = match slot.capture.as_mut() {
            Some(capture) => capture.read_available(BATCH, |timestamp, wire_len, frame| {
                batch.push((timestamp, wire::decode(link, frame), wire_len));
            }),
            None => Ok(0),
        };
        self.counters.frames += batch.len() as u64;
        for (timestamp, decoded, wire_len) in batch.drain(..) {
            let packet = match decoded {
                Ok(packet) => packet,
                Err(e) => {
                    // Never trusted, never fatal: 0.8's `packet is not IPv4 or IPv6, ignoring...`.
                    self.counters.not_decoded(e.kind());
                    self.logger
                        .emit(&DaemonMessage::Debug(&format_args!("ignoring packet: {e}")));
                    continue;
                }
            };
            if self.logger.debug() {
                self.logger.emit(&CaptureMessage::Packet {
                    time: timestamp,
                    packet: &packet,
                    wire_len,
                });
            }
            self.engine
                .on_packet(&packet, instant_of(timestamp, wall, now), &mut self.events);
            self.handle_events();
        }
        self.batch = batch;
        read.map(drop)
    }

    /// Handles the events the engine has given since the last call.
    pub(super) fn handle_events(&mut self) {
        let events = std::mem::take(&mut self.events);
        for event in &events {
            self.handle(event);
        }
        self.events = events;
        self.events.clear();
    }
}

/// The monotonic instant of a packet captured at wall-clock `timestamp`,
/// given that the wall clock read `wall` at monotonic `now`. Packets are
/// matched by when they arrived, not by when the loop got to them.
fn instant_of(timestamp: SystemTime, wall: SystemTime, now: Instant) -> Instant {
    let age = wall.duration_since(timestamp).unwrap_or_default();
    now.checked_sub(age).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn packet_instants_are_their_arrival_times_never_in_the_future() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let earlier = wall - Duration::from_millis(30);
        assert_eq!(
            instant_of(earlier, wall, now),
            now - Duration::from_millis(30)
        );
        let later = wall + Duration::from_secs(1);
        assert_eq!(instant_of(later, wall, now), now);
    }
}
