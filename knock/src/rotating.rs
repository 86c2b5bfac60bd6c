//! `--secret-file`: knocking a rotating door, whose sequence is derived from
//! a shared secret, the door's label and the clock by knock-proto's
//! `rotating` (specified in `docs/rotating-sequences.md`), so the client and
//! knockd compute the same knocks.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use knock_proto::rotating::{Label, PortRange, RotatingProtocol, Rotation, Secret, SecretError};
use knock_proto::Sequence;

use crate::exposed::{reader_uid, SecretExposed};

/// How close to the end of its step a knock may start: closer than this (plus
/// the time the knock itself takes), the client waits for the next step
/// rather than race the boundary.
pub const MARGIN: Duration = Duration::from_secs(1);

/// Why a rotating door cannot be knocked or its sequence printed.
#[derive(Debug)]
pub enum RotatingError {
    /// A rotating door's setting (`--door`, `--step`, ...) without a secret
    /// file.
    NoSecret {
        /// The first such option given, e.g. `--door`.
        option: &'static str,
    },
    /// A rotating door's settings cannot be used.
    Invalid {
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A rotating door's secret file cannot be used (never shows the key).
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: SecretError,
    },
    /// The secret file is accessible to group or others.
    Exposed(SecretExposed),
    /// `--sequence-only` could not write its line.
    Output(io::Error),
    /// The system clock says it is before 1970: no step can be derived.
    ClockBeforeEpoch,
}

impl fmt::Display for RotatingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotatingError::NoSecret { option } => {
                write!(f, "{option} needs a secret: add --secret-file FILE")
            }
            RotatingError::Invalid { reason } => write!(f, "rotating door: {reason}"),
            RotatingError::Secret { path, source } => {
                write!(f, "secret file {}: {source}", path.display())
            }
            RotatingError::Exposed(e) => e.fmt(f),
            RotatingError::Output(source) => write!(
                f,
                "cannot write the sequence to standard output: {}",
                knock_proto::io_message(source)
            ),
            RotatingError::ClockBeforeEpoch => f.write_str(
                "the system clock is set before 1970: set the clock (rotating doors need it within a step of the server's)",
            ),
        }
    }
}

impl std::error::Error for RotatingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RotatingError::Secret { source, .. } => Some(source),
            RotatingError::Exposed(e) => Some(e),
            RotatingError::Output(source) => Some(source),
            _ => None,
        }
    }
}

/// A rotating door's settings as given on the command line or in a profile,
/// not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotatingArgs {
    /// `--secret-file`, `secret_file`.
    pub secret_file: Option<PathBuf>,
    /// `--door`, `door`: the label's bytes.
    pub door: Option<Vec<u8>>,
    /// `--step`, `step`.
    pub step: Option<u64>,
    /// `--range`, `range`.
    pub range: Option<String>,
    /// `--length`, `length`.
    pub length: Option<usize>,
    /// `--protocol`, `protocol`.
    pub protocol: Option<String>,
}

impl RotatingArgs {
    /// These settings, with what they leave unset taken from `fallback`.
    pub fn or(self, fallback: RotatingArgs) -> RotatingArgs {
        RotatingArgs {
            secret_file: self.secret_file.or(fallback.secret_file),
            door: self.door.or(fallback.door),
            step: self.step.or(fallback.step),
            range: self.range.or(fallback.range),
            length: self.length.or(fallback.length),
            protocol: self.protocol.or(fallback.protocol),
        }
    }

    /// The first setting given that describes a rotating door, as its
    /// command-line option: an error when there is no rotating door.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("--door", self.door.is_some()),
            ("--step", self.step.is_some()),
            ("--range", self.range.is_some()),
            ("--length", self.length.is_some()),
            ("--protocol", self.protocol.is_some()),
        ]
        .into_iter()
        .find_map(|(option, given)| given.then_some(option))
    }

    /// Checks the settings; unset ones take knockd's defaults.
    pub fn check(self) -> Result<RotatingDoor, RotatingError> {
        let invalid = |reason: String| RotatingError::Invalid { reason };
        let first_given = self.first_given();
        let secret_file = self.secret_file.ok_or(RotatingError::NoSecret {
            option: first_given.unwrap_or("--door"),
        })?;
        let door = self.door.ok_or_else(|| {
            invalid("a rotating door needs its label: add --door LABEL (its section name in knockd.conf)".to_owned())
        })?;
        let label = Label::new(&door).ok_or_else(|| {
            invalid(format!(
                "--door: a label is 1 to {} bytes (the door's section name in knockd.conf), not {}",
                Label::MAX_LEN,
                door.len()
            ))
        })?;
        let defaults = Rotation::default();
        let range = match &self.range {
            Some(text) => text.parse::<PortRange>().map_err(|()| {
                invalid(format!(
                    "--range '{text}': write LO-HI, two ports from 1 to 65535 with LO <= HI"
                ))
            })?,
            None => defaults.range(),
        };
        let protocol = match &self.protocol {
            Some(text) => text
                .parse::<RotatingProtocol>()
                .map_err(|()| invalid(format!("--protocol '{text}': write tcp, udp or mixed")))?,
            None => defaults.protocol(),
        };
        let rotation = Rotation::new(
            self.step.unwrap_or(defaults.step()),
            range,
            self.length.unwrap_or(defaults.length()),
            protocol,
            defaults.skew(),
        )
        .map_err(|e| invalid(e.to_string()))?;
        Ok(RotatingDoor {
            secret_file,
            label,
            rotation,
        })
    }
}

/// A rotating door, checked: what the client derives its knocks from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatingDoor {
    /// The file holding the shared secret.
    pub secret_file: PathBuf,
    /// The door's label.
    pub label: Label,
    /// Step, range, length and protocol.
    pub rotation: Rotation,
}

impl RotatingDoor {
    /// Reads the secret, refusing a file that group or others may read or
    /// write, or that a user other than this one or root owns.
    /// No error carries any of the key.
    pub fn open(&self) -> Result<RotatingKnock<'_>, RotatingError> {
        let secret = Secret::read_file(&self.secret_file, reader_uid())
            .map_err(|source| secret_error(&self.secret_file, source))?;
        Ok(RotatingKnock { door: self, secret })
    }
}

fn secret_error(path: &Path, source: SecretError) -> RotatingError {
    match source {
        SecretError::Exposed(exposure) => RotatingError::Exposed(SecretExposed {
            file: "secret file",
            path: path.to_owned(),
            exposure,
        }),
        source => RotatingError::Secret {
            path: path.to_owned(),
            source,
        },
    }
}

/// A rotating door whose secret has been read.
pub struct RotatingKnock<'a> {
    door: &'a RotatingDoor,
    secret: Secret,
}

impl RotatingKnock<'_> {
    /// The door's settings.
    pub fn rotation(&self) -> &Rotation {
        &self.door.rotation
    }

    /// The sequence of step `t`.
    pub fn sequence(&self, t: u64) -> Sequence {
        self.door
            .rotation
            .sequence(&self.secret, &self.door.label, t)
    }
}

/// `--sequence-only`: prints the sequence of the step holding `at` (Unix
/// seconds; now when `None`) on one line.
pub fn print_sequence(door: &RotatingDoor, at: Option<u64>) -> Result<(), RotatingError> {
    let knock = door.open()?;
    let at = match at {
        Some(at) => at,
        None => unix_now()?.as_secs(),
    };
    let sequence = knock.sequence(door.rotation.step_at(at));
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{sequence}")
        .and_then(|()| stdout.flush())
        .map_err(RotatingError::Output)
}

/// The step a knock starting at `now` (since the Unix epoch) should use, and
/// how long to wait first: none, unless the current step ends within
/// [`MARGIN`] plus `busy`, the time the knock takes to send. Then the knock
/// waits for the next step, so that it never straddles a boundary the server
/// may already have crossed.
pub fn step_to_knock(
    rotation: &Rotation,
    now: Duration,
    busy: Duration,
) -> (u64, Option<Duration>) {
    let t = rotation.step_at(now.as_secs());
    let next = t.saturating_add(1);
    let left = Duration::from_secs(rotation.step_start(next)).saturating_sub(now);
    if left < MARGIN.saturating_add(busy) {
        (next, Some(left))
    } else {
        (t, None)
    }
}

/// The time since the Unix epoch.
pub fn unix_now() -> Result<Duration, RotatingError> {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| RotatingError::ClockBeforeEpoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(door: &str) -> RotatingArgs {
        RotatingArgs {
            secret_file: Some("/k".into()),
            door: Some(door.as_bytes().to_vec()),
            ..RotatingArgs::default()
        }
    }

    #[test]
    fn unset_settings_take_knockds_defaults() {
        let door = args("openSSH").check().unwrap();
        assert_eq!(door.rotation, Rotation::default());
        assert_eq!(door.label, Label::new(b"openSSH").unwrap());
    }

    #[test]
    fn the_first_settings_win_over_the_fallback() {
        let given = RotatingArgs {
            step: Some(60),
            ..RotatingArgs::default()
        };
        let fallback = RotatingArgs {
            step: Some(10),
            length: Some(6),
            ..args("d")
        };
        let door = given.or(fallback).check().unwrap();
        assert_eq!(door.rotation.step(), 60);
        assert_eq!(door.rotation.length(), 6);
    }

    #[test]
    fn bad_settings_say_what_to_write() {
        let bad = |change: fn(&mut RotatingArgs), needle: &str| {
            let mut a = args("d");
            change(&mut a);
            let e = a.check().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        bad(
            |a| a.range = Some("9-3".into()),
            "--range '9-3': write LO-HI",
        );
        bad(|a| a.range = Some("0-3".into()), "--range '0-3'");
        bad(
            |a| a.protocol = Some("sctp".into()),
            "write tcp, udp or mixed",
        );
        bad(|a| a.step = Some(0), "step of 0 seconds");
        bad(|a| a.length = Some(33), "length 33");
        bad(
            |a| {
                a.range = Some("5-6".into());
                a.length = Some(3);
            },
            "length 3 is out of range (1 to 2",
        );
        bad(
            |a| a.door = Some(Vec::new()),
            "--door: a label is 1 to 255 bytes",
        );
        bad(|a| a.door = Some(vec![b'x'; 256]), "not 256");
        bad(|a| a.door = None, "add --door LABEL");
        bad(
            |a| a.secret_file = None,
            "--door needs a secret: add --secret-file FILE",
        );
    }

    #[test]
    fn settings_without_a_secret_are_named() {
        let a = RotatingArgs {
            length: Some(4),
            ..RotatingArgs::default()
        };
        assert_eq!(a.first_given(), Some("--length"));
        assert_eq!(RotatingArgs::default().first_given(), None);
    }

    #[test]
    fn a_knock_well_inside_its_step_goes_at_once() {
        let r = Rotation::default();
        let now = Duration::from_secs(30 * 1000 + 10);
        assert_eq!(step_to_knock(&r, now, Duration::ZERO), (1000, None));
        // 28.999 s into the step: 1.001 s left, just enough.
        let now = Duration::from_millis(30_000 * 1000 + 28_999);
        assert_eq!(step_to_knock(&r, now, Duration::ZERO), (1000, None));
    }

    #[test]
    fn a_knock_too_close_to_the_boundary_waits_for_the_next_step() {
        let r = Rotation::default();
        let now = Duration::from_millis(30_000 * 1000 + 29_400);
        assert_eq!(
            step_to_knock(&r, now, Duration::ZERO),
            (1001, Some(Duration::from_millis(600)))
        );
        // A slow knock (delays between hits) needs more room.
        let now = Duration::from_secs(30 * 1000 + 25);
        assert_eq!(
            step_to_knock(&r, now, Duration::from_secs(5)),
            (1001, Some(Duration::from_secs(5)))
        );
        assert_eq!(
            step_to_knock(&r, now, Duration::from_millis(3_999)),
            (1000, None)
        );
    }

    #[test]
    fn one_second_steps_always_knock_at_a_boundary() {
        let r = Rotation::new(
            1,
            PortRange::new(1, 9).unwrap(),
            1,
            RotatingProtocol::Tcp,
            0,
        )
        .unwrap();
        let now = Duration::from_millis(5_200);
        assert_eq!(
            step_to_knock(&r, now, Duration::ZERO),
            (6, Some(Duration::from_millis(800)))
        );
        // Exactly at a boundary, the whole step lies ahead.
        let now = Duration::from_secs(5);
        assert_eq!(step_to_knock(&r, now, Duration::ZERO), (5, None));
    }
}
