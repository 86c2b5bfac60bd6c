//! A knock's progress on a door: its stages, the opening, the timeout, the
//! one-time sequence it used up, the rotating doors' step boundaries, and
//! the summaries of a flood of them.

use std::fmt::{self, Write as _};
use std::time::Duration;

use knock_proto::Sequence;

use super::{Record, Source, Text, DEBUG, LOG, STDERR, VERBOSE};

/// The cap on open doors that refused an opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCap {
    /// The door's `Max_Open`.
    Door(usize),
    /// `--max-open`.
    All(usize),
}

/// Why the door did not open, as `OPEN SESAME refused: ` goes on.
impl fmt::Display for OpenCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenCap::Door(max) => write!(
                f,
                "the door is open for {max} knocker(s) already (Max_Open)"
            ),
            OpenCap::All(max) => write!(f, "{max} doors are open already (--max-open)"),
        }
    }
}

/// A knock's progress on a door, and what a flood of knocks left out.
#[derive(Clone, Copy)]
pub enum KnockMessage<'a> {
    /// `<src>: <door>: Stage <n>` (log, verbose).
    Stage {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Knocks matched so far, from 1.
        stage: usize,
    },
    /// `<src>: <door>: OPEN SESAME` (log, verbose).
    OpenSesame {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: OPEN SESAME (door already open, extended)` (log,
    /// verbose): a `Refresh` door knocked again while open. Not in 0.8.
    OpenSesameExtended {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: OPEN SESAME refused: ...` (log, verbose): a cap on open
    /// doors (`Max_Open`, `--max-open`) is reached. Not in 0.8.
    OpenRefused {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Which cap, and its value.
        cap: OpenCap,
    },
    /// `<src>: <door>: sequence timeout (stage <n>)` (log, verbose).
    SequenceTimeout {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// The stage the attempt had reached.
        stage: usize,
    },
    /// `<n> knock attempt(s) dropped: more than <max> in progress` (log,
    /// verbose), at most once a second during a flood. Not in 0.8, whose
    /// attempt list grows without bound.
    AttemptsEvicted {
        /// Attempts evicted since the last such line.
        count: u64,
        /// `--max-attempts`.
        max: usize,
    },
    /// `<n> further Stage 1 line(s) suppressed in the last second` (log,
    /// verbose): a flood of first knocks met the Stage 1 line budget. Not in 0.8.
    StageOneSuppressed {
        /// Lines held back.
        count: u64,
    },
    /// `no more sequences left in the one time sequences file for door <door> --> disabling the door`
    /// (log, stderr).
    OneTimeExhausted {
        /// The door's name.
        door: &'a str,
    },
    /// `error while marking the used one time sequence for door <door> --> not opening the door`
    /// (log, stderr). 0.8's wording ends in `--> disabling the door`; we keep
    /// the door armed with the same, still unused, sequence.
    OneTimeUpdateFailed {
        /// The door's name.
        door: &'a str,
    },
    /// `new sequence for door <door>: <sequence>` (debug).
    OneTimeNext {
        /// The door's name.
        door: &'a str,
        /// Its sequence from now on.
        sequence: &'a Sequence,
    },
    /// `step boundary: <doors> rotating door(s) moved on in <ms> ms` (verbose):
    /// how long the loop spent installing the new windows and the filter,
    /// the stall a knock arriving at that moment waits out.
    StepBoundary {
        /// The rotating doors whose windows moved.
        doors: usize,
        /// The time the loop spent on them.
        elapsed: Duration,
    },
}

impl KnockMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            KnockMessage::Stage {
                source,
                door,
                stage,
            } => {
                write!(out, "{source}: {door}: Stage {stage}")?;
                Record::new(LOG | VERBOSE, "stage")
                    .about(door, *source)
                    .stage(*stage)
            }
            KnockMessage::OpenSesame { source, door } => {
                write!(out, "{source}: {door}: OPEN SESAME")?;
                Record::new(LOG | VERBOSE, "open").about(door, *source)
            }
            KnockMessage::OpenSesameExtended { source, door } => {
                write!(
                    out,
                    "{source}: {door}: OPEN SESAME (door already open, extended)"
                )?;
                Record::new(LOG | VERBOSE, "extend").about(door, *source)
            }
            KnockMessage::OpenRefused { source, door, cap } => {
                write!(out, "{source}: {door}: OPEN SESAME refused: {cap}")?;
                Record::new(LOG | VERBOSE, "open_refused")
                    .warning()
                    .about(door, *source)
            }
            KnockMessage::SequenceTimeout {
                source,
                door,
                stage,
            } => {
                write!(out, "{source}: {door}: sequence timeout (stage {stage})")?;
                Record::new(LOG | VERBOSE, "timeout")
                    .about(door, *source)
                    .stage(*stage)
            }
            KnockMessage::AttemptsEvicted { count, max } => {
                write!(
                    out,
                    "{count} knock attempt(s) dropped: more than {max} in progress"
                )?;
                Record::new(LOG | VERBOSE, "evicted").warning()
            }
            KnockMessage::StageOneSuppressed { count } => {
                write!(
                    out,
                    "{count} further Stage 1 line(s) suppressed in the last second"
                )?;
                Record::new(LOG | VERBOSE, "stage_suppressed")
            }
            KnockMessage::OneTimeExhausted { door } => {
                write!(out, "no more sequences left in the one time sequences file for door {door} --> disabling the door")?;
                Record::new(LOG | STDERR, "one_time_exhausted")
                    .error()
                    .door(door)
            }
            KnockMessage::OneTimeUpdateFailed { door } => {
                write!(out, "error while marking the used one time sequence for door {door} --> not opening the door")?;
                Record::new(LOG | STDERR, "one_time_update_failed")
                    .error()
                    .door(door)
            }
            KnockMessage::OneTimeNext { door, sequence } => {
                write!(out, "new sequence for door {door}: {sequence}")?;
                Record::new(DEBUG, "one_time_next").door(door)
            }
            KnockMessage::StepBoundary { doors, elapsed } => {
                let ms = elapsed.as_secs_f64() * 1000.0;
                write!(
                    out,
                    "step boundary: {doors} rotating door(s) moved on in {ms:.1} ms"
                )?;
                Record::new(VERBOSE, "step_boundary")
            }
        })
    }
}
