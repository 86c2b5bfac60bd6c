//! Budgets for log lines a flood could multiply: evictions, knocks from
//! sources that cannot knock, Stage 1 lines. Within each interval the first
//! lines pass; the rest are held back and counted, and one summary line
//! gives their number when the interval ends. [`OncePerSource`] is the
//! budget of lines about one source.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A number of lines per interval, and what it held back.
#[derive(Debug, Clone)]
pub struct LineBudget {
    per_interval: u64,
    interval: Duration,
    /// When the current interval began; `None` before the first line.
    began: Option<Instant>,
    /// Lines passed in the current interval.
    passed: u64,
    /// Lines held back in the current interval.
    held: u64,
    /// Lines held back in intervals that have ended, not yet summed up.
    ended: u64,
}

impl LineBudget {
    /// `per_interval` (at least 1) lines every `interval`.
    pub fn new(per_interval: u64, interval: Duration) -> Self {
        LineBudget {
            per_interval: per_interval.max(1),
            interval,
            began: None,
            passed: 0,
            held: 0,
            ended: 0,
        }
    }

    /// Whether a line may be written at `now`; if not, it is counted as
    /// held back.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.roll(now) || self.began.is_none() {
            self.began = Some(now);
            self.passed = 0;
        }
        if self.passed < self.per_interval {
            self.passed += 1;
            true
        } else {
            self.held += 1;
            false
        }
    }

    /// When lines held back are due for their summary.
    pub fn deadline(&self) -> Option<Instant> {
        if self.ended > 0 {
            return self.began;
        }
        if self.held == 0 {
            return None;
        }
        self.interval_end()
    }

    /// How many lines were held back in intervals that have ended by `now`.
    pub fn take_held(&mut self, now: Instant) -> Option<u64> {
        self.roll(now);
        (self.ended > 0).then(|| std::mem::take(&mut self.ended))
    }

    /// Ends the current interval if it is over at `now`; says whether it did.
    fn roll(&mut self, now: Instant) -> bool {
        let over = self.interval_end().is_some_and(|end| end <= now);
        if over {
            self.ended += std::mem::take(&mut self.held);
            self.began = None;
        }
        over
    }

    fn interval_end(&self) -> Option<Instant> {
        self.began
            .and_then(|began| began.checked_add(self.interval))
    }
}

/// One line per source per interval, remembering at most `capacity`
/// sources: beyond that, new sources are not logged until the interval ends,
/// so a flood from many addresses costs neither memory nor log lines.
#[derive(Debug, Clone)]
pub struct OncePerSource {
    interval: Duration,
    capacity: usize,
    /// When the current interval began; `None` before the first line.
    began: Option<Instant>,
    /// The sources logged in the current interval.
    logged: HashSet<IpAddr>,
}

impl OncePerSource {
    /// One line per source every `interval`, for up to `capacity` sources.
    pub fn new(interval: Duration, capacity: usize) -> Self {
        OncePerSource {
            interval,
            capacity,
            began: None,
            logged: HashSet::new(),
        }
    }

    /// Whether a line about `source` may be written at `now`.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        let over = self
            .began
            .and_then(|began| began.checked_add(self.interval))
            .is_none_or(|end| end <= now);
        if over {
            self.began = Some(now);
            self.logged.clear();
        }
        self.logged.len() < self.capacity && self.logged.insert(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_source_is_logged_once_per_interval_and_memory_is_capped() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let ip = |n| IpAddr::V4(Ipv4Addr::new(198, 18, 0, n));
        let mut once = OncePerSource::new(Duration::from_secs(60), 2);
        assert!(once.allow(ip(1), at(0)));
        assert!(!once.allow(ip(1), at(59_999)));
        assert!(once.allow(ip(2), at(10)));
        assert!(!once.allow(ip(3), at(20)), "over capacity");
        assert_eq!(once.logged.len(), 2);
        assert!(once.allow(ip(1), at(60_000)), "a new interval");
        assert!(once.allow(ip(3), at(60_001)));
    }

    #[test]
    fn lines_beyond_the_budget_are_held_and_summed_up_when_the_interval_ends() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut budget = LineBudget::new(2, Duration::from_secs(1));
        assert!(budget.allow(at(0)));
        assert!(budget.allow(at(10)));
        assert!(!budget.allow(at(20)));
        assert!(!budget.allow(at(999)));
        assert_eq!(budget.deadline(), Some(at(1000)));
        assert_eq!(budget.take_held(at(999)), None);
        assert_eq!(budget.take_held(at(1000)), Some(2));
        assert_eq!(budget.deadline(), None);
        assert!(budget.allow(at(1000)), "a new interval");
        assert!(budget.allow(at(1500)));
        assert!(!budget.allow(at(1600)));
        assert!(
            budget.allow(at(2100)),
            "the interval ended, its held line awaits take_held"
        );
        assert_eq!(budget.deadline(), Some(at(2100)), "due at once");
        assert_eq!(
            budget.take_held(at(2100)),
            Some(1),
            "summed up for its own interval"
        );
    }

    #[test]
    fn ordinary_traffic_never_meets_the_budget() {
        let start = Instant::now();
        let mut budget = LineBudget::new(100, Duration::from_secs(1));
        for i in 0..1000 {
            assert!(budget.allow(start + Duration::from_millis(i * 20)));
        }
        assert_eq!(budget.deadline(), None);
    }
}
