//! Second copies of one packet: `-i any` sees a frame that crosses a bridge
//! twice, on the bridge port and on the bridge. The copies arrive within
//! microseconds; a client's own repeat never does, so a copy is a packet equal
//! to one of the last few knocks, seen within a short window of it.

use std::time::{Duration, Instant};

use crate::packet::Packet;

/// How many recent knocks are remembered.
const REMEMBERED: usize = 16;

/// The last few knocks, to recognise copies of them.
#[derive(Debug)]
pub(super) struct RecentKnocks {
    window: Duration,
    seen: [Option<(Packet, Instant)>; REMEMBERED],
    next: usize,
}

impl RecentKnocks {
    /// Copies are packets equal to a knock seen less than `window` before.
    pub(super) fn new(window: Duration) -> Self {
        RecentKnocks {
            window,
            seen: [None; REMEMBERED],
            next: 0,
        }
    }

    /// Whether `packet` is a copy of a recent knock; if not, it is remembered.
    pub(super) fn is_copy(&mut self, packet: &Packet, now: Instant) -> bool {
        let copy =
            self.seen.iter().flatten().any(|(seen, at)| {
                seen == packet && now.saturating_duration_since(*at) < self.window
            });
        if !copy {
            if let Some(slot) = self.seen.get_mut(self.next) {
                *slot = Some((*packet, now));
            }
            self.next = (self.next + 1) % REMEMBERED;
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use knock_proto::Protocol;

    fn udp(src_port: u16) -> Packet {
        Packet {
            src: "198.18.1.2".parse().unwrap(),
            dst: "198.18.1.1".parse().unwrap(),
            protocol: Protocol::Udp,
            src_port,
            dst_port: 7000,
            tcp_flags: 0,
        }
    }

    #[test]
    fn a_copy_within_the_window_is_one_and_a_later_repeat_is_not() {
        let t0 = Instant::now();
        let mut recent = RecentKnocks::new(Duration::from_millis(20));
        assert!(!recent.is_copy(&udp(1), t0));
        assert!(recent.is_copy(&udp(1), t0 + Duration::from_micros(50)));
        assert!(!recent.is_copy(&udp(2), t0), "another source port");
        assert!(
            !recent.is_copy(&udp(1), t0 + Duration::from_millis(20)),
            "too late"
        );
    }

    #[test]
    fn only_the_last_few_knocks_are_remembered() {
        let t0 = Instant::now();
        let mut recent = RecentKnocks::new(Duration::from_secs(1));
        for port in 0..REMEMBERED as u16 + 1 {
            assert!(!recent.is_copy(&udp(port), t0));
        }
        assert!(!recent.is_copy(&udp(0), t0), "forgotten");
        assert!(recent.is_copy(&udp(REMEMBERED as u16), t0));
    }
}
