//! Rotating doors in the daemon: each door's window of step sequences,
//! installed in the engine at start, on reload and at every step boundary,
//! leaving out the steps already spent ([`SpentSteps`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use knockd_core::doors::RuntimeDoor;
use knockd_core::engine::Engine;

use crate::spent_steps::SpentSteps;

/// The time now as Unix seconds and the fraction past them.
pub fn unix_time() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The time now in whole Unix seconds.
pub fn unix_now() -> u64 {
    unix_time().as_secs()
}

/// The rotating doors' windows in the daemon, and their spent steps.
#[derive(Debug)]
pub struct StepWindows {
    /// The steps whose sequence opened a door already.
    spent: SpentSteps,
    /// The Unix second of the next step boundary of any rotating door.
    next_boundary: Option<u64>,
}

impl StepWindows {
    /// Windows that leave out the steps of `spent` (the watcher's copy, in
    /// memory: see [`SpentSteps::in_memory`]).
    pub fn new(spent: SpentSteps) -> StepWindows {
        StepWindows {
            spent,
            next_boundary: None,
        }
    }

    /// Installs every rotating door's window for the time `unix` (in one
    /// [`Engine::rotate`], which rebuilds the knock index once), deriving
    /// each step's sequence, and forgets spent steps no door accepts any
    /// more. Returns how many doors rotate. For `doors` new to the engine:
    /// at start and after a reload (a door's secret may have changed).
    pub fn install(
        &mut self,
        engine: &mut Engine,
        doors: &[RuntimeDoor],
        unix: u64,
        now: Instant,
    ) -> usize {
        self.install_windows(engine, doors, unix, now, false)
    }

    /// At a step boundary: as [`install`](Self::install), for the `doors`
    /// the engine was last given, so that a step the engine holds keeps its
    /// sequence and only the step that enters each window is derived.
    /// Linear in the rotating doors and the spent steps: it runs in the poll
    /// loop, which a knock arriving meanwhile waits for.
    pub fn advance(
        &mut self,
        engine: &mut Engine,
        doors: &[RuntimeDoor],
        unix: u64,
        now: Instant,
    ) -> usize {
        self.install_windows(engine, doors, unix, now, true)
    }

    /// [`install`](Self::install), taking the sequences of steps the engine
    /// holds if `reuse`.
    fn install_windows(
        &mut self,
        engine: &mut Engine,
        doors: &[RuntimeDoor],
        unix: u64,
        now: Instant,
        reuse: bool,
    ) -> usize {
        let mut next: Option<u64> = None;
        let mut windows = Vec::new();
        for (index, door) in doors.iter().enumerate() {
            let Some(rotating) = &door.rotating else {
                continue;
            };
            let name = &door.door.name;
            let window = rotating.window(
                unix,
                |step| self.spent.contains(name, step),
                |step| reuse.then(|| engine.step_sequence(index, step).cloned())?,
            );
            windows.push((index, window));
            let rotation = &rotating.rotation;
            let boundary = rotation.step_start(rotation.step_at(unix).saturating_add(1));
            next = Some(next.map_or(boundary, |n| n.min(boundary)));
        }
        let windows_len = windows.len();
        engine.rotate(windows, now);
        self.spent.forget_unacceptable(doors, unix);
        self.next_boundary = next;
        windows_len
    }

    /// When the next step boundary is due, as an instant of the poll loop.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        let boundary = Duration::from_secs(self.next_boundary?);
        Some(now + boundary.saturating_sub(unix_time()))
    }

    /// Whether a step boundary has passed. Reads the clock only when some
    /// door rotates: it is asked at every wake-up of the poll loop.
    pub fn is_due(&self) -> bool {
        self.next_boundary
            .is_some_and(|boundary| boundary <= unix_now())
    }

    /// Records that `door` opened with the sequence of `step`, in memory:
    /// the opener keeps the state directory's record
    /// ([`crate::opener::Opener`]).
    pub fn spend(&mut self, door: &str, step: u64) {
        self.spent.insert(door, step);
    }
}

#[cfg(test)]
mod tests;
