//! Rotating doors' time steps: the window of sequences the caller installs
//! with [`Engine::rotate`], and the steps that left it but still serve the
//! attempts bound to them.

use std::time::Instant;

use knock_proto::Sequence;

use super::Engine;

/// One time step's sequence of a rotating door.
#[derive(Debug, Clone)]
pub(super) struct StepSequence {
    pub(super) step: u64,
    pub(super) sequence: Sequence,
    /// `None` while the step is in the window (a first knock may bind to
    /// it); once it left, the attempts bound to it may finish until then.
    pub(super) retired_until: Option<Instant>,
}

impl StepSequence {
    /// The tag an attempt bound to this step carries: steps kept at once
    /// lie within [`STEP_SPAN`] of each other, so the low byte is unique.
    pub(super) fn tag(&self) -> u8 {
        self.step as u8
    }
}

/// Steps a rotating door keeps at once span less than this, so their tags
/// (the low byte of the step) differ.
const STEP_SPAN: u64 = 256;

/// The most steps a rotating door keeps after they left the window, for
/// attempts still bound to them (a timeout far longer than the step).
const RETIRED_STEPS: usize = 64;

impl Engine {
    /// Installs the windows of rotating doors at `now`, each a door's index
    /// and the sequences of the steps a first knock may bind to, preferred
    /// first (a first knock that two of them share binds to the earlier in
    /// the list). Steps that leave a door's window keep serving the attempts
    /// bound to them until the door's timeout has passed; a step back in the
    /// window is re-armed. Doors that do not rotate are ignored.
    ///
    /// Give every door due at a step boundary in one call: the knock index
    /// is rebuilt once per call (one sort of all doors' knocks).
    pub fn rotate(
        &mut self,
        windows: impl IntoIterator<Item = (usize, Vec<(u64, Sequence)>)>,
        now: Instant,
    ) {
        let now = self.tick(now);
        for (door, window) in windows {
            self.install_window(door, window, now);
        }
        self.index_knocks();
    }

    /// Installs door `door`'s window, leaving the knock index to the caller.
    fn install_window(&mut self, door: usize, window: Vec<(u64, Sequence)>, now: Instant) {
        let Some(timeout) = self
            .doors
            .get(door)
            .filter(|d| d.rotating)
            .map(|d| d.seq_timeout)
        else {
            return;
        };
        let Some(steps) = self.steps.get_mut(door) else {
            return;
        };
        let mut retired: Vec<StepSequence> = std::mem::take(steps)
            .into_iter()
            .filter(|old| !window.iter().any(|(step, _)| *step == old.step))
            .map(|mut old| {
                old.retired_until = old.retired_until.or(now.checked_add(timeout));
                old
            })
            .filter(|old| old.retired_until.is_some_and(|until| until > now))
            .collect();
        let newest = window.iter().map(|&(step, _)| step).max().unwrap_or(0);
        retired.retain(|old| newest.saturating_sub(old.step) < STEP_SPAN);
        retired.sort_by_key(|old| std::cmp::Reverse(old.step));
        retired.truncate(RETIRED_STEPS);
        *steps = window
            .into_iter()
            .map(|(step, sequence)| StepSequence {
                step,
                sequence,
                retired_until: None,
            })
            .chain(retired)
            .collect();
    }

    /// The sequence of step `step` of rotating door `door`, if that step
    /// is in the door's window: what the caller installed for it last time.
    pub fn step_sequence(&self, door: usize, step: u64) -> Option<&Sequence> {
        let steps = self.steps.get(door)?;
        let held = steps
            .iter()
            .find(|s| s.step == step && s.retired_until.is_none())?;
        Some(&held.sequence)
    }

    /// The sequences rotating door `door` follows now: its window's and
    /// those of the steps that left it with attempts possibly still bound
    /// to them. What the capture filter must pass for the door.
    pub fn step_sequences(&self, door: usize) -> Vec<&Sequence> {
        self.steps
            .get(door)
            .map(|steps| steps.iter().map(|s| &s.sequence).collect())
            .unwrap_or_default()
    }
}
