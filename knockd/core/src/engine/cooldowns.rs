//! Cooldowns: (source, door) pairs whose knocks are ignored until a time
//! (the source being the knocker's network for a door with `Open_Prefix4`/`6`),
//! because the door just opened for that source (`Cooldown`).
//!
//! Bounded like the attempt table: at most `cap` pairs. When full, the pair
//! that started cooling first is forgotten (it is the one closest to its end
//! for doors of equal cooldown), so a flood of opens from spoofed sources
//! costs O(1) per open and no more memory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// The cooling (source, door) pairs.
#[derive(Debug)]
pub(super) struct Cooldowns {
    until: HashMap<(IpAddr, usize), Instant>,
    /// Pairs in the order they started cooling; may hold pairs since
    /// forgotten or restarted, which [`Cooldowns::start`] skips.
    order: VecDeque<((IpAddr, usize), Instant)>,
    cap: usize,
}

impl Cooldowns {
    /// No pair cooling; at most `cap` (at least 1) at once.
    pub(super) fn new(cap: usize) -> Self {
        Cooldowns {
            until: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Whether `source`'s knocks on `door` are still ignored at `now`.
    pub(super) fn is_cooling(&mut self, source: IpAddr, door: usize, now: Instant) -> bool {
        match self.until.get(&(source, door)) {
            Some(&until) if now < until => true,
            Some(_) => {
                self.until.remove(&(source, door));
                false
            }
            None => false,
        }
    }

    /// Ignores `source`'s knocks on `door` until `until`.
    pub(super) fn start(&mut self, source: IpAddr, door: usize, until: Instant) {
        let key = (source, door);
        while self.until.len() >= self.cap && !self.until.contains_key(&key) {
            let Some((oldest, started_until)) = self.order.pop_front() else {
                break;
            };
            // Forget it only if this queue entry is still its current one.
            if self.until.get(&oldest) == Some(&started_until) {
                self.until.remove(&oldest);
            }
        }
        self.until.insert(key, until);
        self.order.push_back((key, until));
        // Stale queue entries (pairs restarted or expired) are dropped now and
        // then, so the queue stays within twice the map.
        if self.order.len() > 2 * self.cap {
            let until = &self.until;
            self.order.retain(|(key, at)| until.get(key) == Some(at));
        }
    }

    /// After a reload: pair `(source, d)` moves to door `new_door_of[d]`, or
    /// is forgotten when that is `None`.
    pub(super) fn renumber(&mut self, new_door_of: &[Option<usize>]) {
        let renumber = |(source, door): (IpAddr, usize)| {
            let new = new_door_of.get(door).copied().flatten()?;
            Some((source, new))
        };
        self.until = self
            .until
            .drain()
            .filter_map(|(key, at)| Some((renumber(key)?, at)))
            .collect();
        self.order = self
            .order
            .drain(..)
            .filter_map(|(key, at)| Some((renumber(key)?, at)))
            .collect();
    }

    /// Pairs cooling now or not yet looked at since they ended.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn source(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 1, n))
    }

    #[test]
    fn a_pair_cools_until_its_time() {
        let start = Instant::now();
        let mut cooldowns = Cooldowns::new(10);
        cooldowns.start(source(1), 0, start + Duration::from_secs(5));
        assert!(cooldowns.is_cooling(source(1), 0, start + Duration::from_secs(4)));
        assert!(!cooldowns.is_cooling(source(1), 1, start), "another door");
        assert!(!cooldowns.is_cooling(source(2), 0, start), "another source");
        assert!(!cooldowns.is_cooling(source(1), 0, start + Duration::from_secs(5)));
        assert_eq!(
            cooldowns.len(),
            0,
            "an ended pair is forgotten when looked at"
        );
    }

    #[test]
    fn a_full_table_forgets_the_pair_that_started_cooling_first() {
        let start = Instant::now();
        let later = start + Duration::from_secs(60);
        let mut cooldowns = Cooldowns::new(2);
        cooldowns.start(source(1), 0, later);
        cooldowns.start(source(2), 0, later);
        cooldowns.start(source(3), 0, later);
        assert_eq!(cooldowns.len(), 2);
        assert!(!cooldowns.is_cooling(source(1), 0, start));
        assert!(cooldowns.is_cooling(source(2), 0, start));
        assert!(cooldowns.is_cooling(source(3), 0, start));
    }

    #[test]
    fn restarts_keep_the_queue_bounded() {
        let start = Instant::now();
        let mut cooldowns = Cooldowns::new(3);
        for i in 0..1000u64 {
            cooldowns.start(source(1), 0, start + Duration::from_millis(i));
        }
        assert_eq!(cooldowns.len(), 1);
        assert!(cooldowns.order.len() <= 6, "{}", cooldowns.order.len());
        assert!(cooldowns.is_cooling(source(1), 0, start + Duration::from_millis(998)));
    }

    #[test]
    fn renumbering_moves_or_forgets_pairs() {
        let start = Instant::now();
        let later = start + Duration::from_secs(60);
        let mut cooldowns = Cooldowns::new(10);
        cooldowns.start(source(1), 0, later);
        cooldowns.start(source(2), 1, later);
        cooldowns.renumber(&[None, Some(0)]);
        assert!(!cooldowns.is_cooling(source(1), 0, start));
        assert!(cooldowns.is_cooling(source(2), 0, start));
    }
}
