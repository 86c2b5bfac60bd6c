//! Budgets of the log lines a flood of knocks could multiply: what goes
//! over one is held back and summed up in one line when its interval ends.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::log::{IgnoredMessage, KnockMessage, Logger};
use crate::throttle::{LineBudget, OncePerSource};

/// Stage 1 lines logged per second at most; under a flood of first knocks
/// the rest are summed up in one line a second.
const STAGE_ONE_LINES_PER_SECOND: u64 = 100;
/// Most sources a minute whose knocks are logged as not allowed (`-D`).
const NOT_ALLOWED_SOURCES_LOGGED: usize = 1024;

/// The log line budgets: evictions once a second, refused sources once a
/// minute (`-D`), Stage 1 lines [`STAGE_ONE_LINES_PER_SECOND`], sources
/// not allowed on a door once a minute each (`-D`).
pub(super) struct Budgets {
    pub(super) evictions: LineBudget,
    pub(super) refused_sources: LineBudget,
    /// The last source refused, for the summary line.
    pub(super) last_refused: Option<IpAddr>,
    pub(super) stage_one: LineBudget,
    pub(super) not_allowed: OncePerSource,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            evictions: LineBudget::new(1, Duration::from_secs(1)),
            refused_sources: LineBudget::new(1, Duration::from_secs(60)),
            last_refused: None,
            stage_one: LineBudget::new(STAGE_ONE_LINES_PER_SECOND, Duration::from_secs(1)),
            not_allowed: OncePerSource::new(Duration::from_secs(60), NOT_ALLOWED_SOURCES_LOGGED),
        }
    }
}

impl Budgets {
    /// When the next interval with held-back lines ends.
    pub(super) fn deadline(&self) -> Option<Instant> {
        [
            self.evictions.deadline(),
            self.refused_sources.deadline(),
            self.stage_one.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Logs the summaries of the lines held back in intervals that have ended.
    pub(super) fn summarize(&mut self, now: Instant, max_attempts: usize, logger: &mut Logger) {
        if let Some(count) = self.evictions.take_held(now) {
            logger.emit(&KnockMessage::AttemptsEvicted {
                count,
                max: max_attempts,
            });
        }
        if let (Some(count), Some(last)) = (self.refused_sources.take_held(now), self.last_refused)
        {
            logger.emit(&IgnoredMessage::SourcesRefused { count, last });
        }
        if let Some(count) = self.stage_one.take_held(now) {
            logger.emit(&KnockMessage::StageOneSuppressed { count });
        }
    }
}
