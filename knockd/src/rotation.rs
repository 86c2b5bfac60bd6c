//! Rotating doors in the daemon: each door's window of step sequences,
//! installed in the engine at start, on reload and at every step boundary,
//! and the spent steps, kept in the state directory so that a knock replayed
//! inside the window fails after a restart too.
//!
//! The spent steps file (`spent-steps` in the state directory) holds one
//! line per spent (door, step): the step number, a space, and the door's
//! name in lower-case hex (its bytes as in knockd.conf, one token). It is rewritten atomically
//! whenever a step is spent, before the door's command runs, and only the
//! steps some door may still accept are kept.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use knock_proto::file::{read_regular, Symlinks};
use knockd_core::doors::RuntimeDoor;
use knockd_core::engine::Engine;

use crate::ledger::replace_atomically;

/// The file's name in the state directory.
const FILE: &str = "spent-steps";
/// Its first line.
const HEADER: &str = "# knockd spent rotating steps, v1";
/// The largest file read: far more lines than doors times skew ever give.
const MAX_FILE: u64 = 1 << 20;

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

/// The rotating doors' state in the daemon.
#[derive(Debug)]
pub struct Rotations {
    /// The state directory; `None` when the spent steps are kept in memory only.
    dir: Option<PathBuf>,
    /// Spent (door name, step) pairs.
    spent: BTreeSet<(String, u64)>,
    /// The Unix second of the next step boundary of any rotating door.
    next_boundary: Option<u64>,
}

impl Rotations {
    /// Reads the spent steps of the state directory `dir` (none when the
    /// file is missing). A file that cannot be read is reported and
    /// ignored: a replay inside the current window then opens once more,
    /// which is better than no door at all.
    pub fn load(dir: Option<&Path>) -> (Rotations, Option<String>) {
        let mut rotations = Rotations {
            dir: dir.map(Path::to_owned),
            spent: BTreeSet::new(),
            next_boundary: None,
        };
        let Some(dir) = dir else {
            return (rotations, None);
        };
        let path = dir.join(FILE);
        let problem = match read_regular(&path, MAX_FILE, Symlinks::Refuse) {
            Ok(bytes) => {
                let (spent, bad) = parse(&bytes);
                rotations.spent = spent;
                bad.map(|line| {
                    format!(
                        "{}: line {line} is not a spent step, ignored",
                        path.display()
                    )
                })
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => Some(format!(
                "{}: {}; spent rotating steps are forgotten",
                path.display(),
                knock_proto::io_message(&error)
            )),
        };
        (rotations, problem)
    }

    /// Installs every rotating door's window for the time `unix`, and
    /// forgets spent steps no door accepts any more. Returns whether some
    /// door rotates.
    pub fn install(
        &mut self,
        engine: &mut Engine,
        doors: &[RuntimeDoor],
        unix: u64,
        now: Instant,
    ) -> bool {
        let mut next: Option<u64> = None;
        for (index, door) in doors.iter().enumerate() {
            let Some(rotating) = &door.rotating else {
                continue;
            };
            let name = &door.door.name;
            let window = rotating.window(unix, |step| self.spent.contains(&(name.clone(), step)));
            engine.rotate(index, window, now);
            let rotation = &rotating.rotation;
            let boundary = rotation.step_start(rotation.step_at(unix).saturating_add(1));
            next = Some(next.map_or(boundary, |n| n.min(boundary)));
        }
        self.spent.retain(|(name, step)| {
            doors.iter().any(|d| {
                d.door.name == *name
                    && d.rotating.as_ref().is_some_and(|r| {
                        let now = r.rotation.step_at(unix);
                        r.rotation.acceptable(now).contains(step)
                    })
            })
        });
        self.next_boundary = next;
        next.is_some()
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

    /// Records that `door` opened with the sequence of `step`, on disk
    /// before the door's command runs. The step is spent in memory even if
    /// writing fails (then only a restart forgets it).
    pub fn spend(&mut self, door: &str, step: u64) -> io::Result<()> {
        self.spent.insert((door.to_owned(), step));
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        replace_atomically(dir, FILE, render(&self.spent).as_bytes())
    }
}

fn render(spent: &BTreeSet<(String, u64)>) -> String {
    let mut text = format!("{HEADER}\n");
    for (door, step) in spent {
        let _ = write!(text, "{step} ");
        for byte in knockd_core::bytes::encode(door).iter() {
            let _ = write!(text, "{byte:02x}");
        }
        text.push('\n');
    }
    text
}

/// The spent steps of a file, and the first line that is not one.
fn parse(bytes: &[u8]) -> (BTreeSet<(String, u64)>, Option<usize>) {
    let mut spent = BTreeSet::new();
    let mut bad = None;
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        match parse_line(line) {
            Some(entry) => {
                spent.insert(entry);
            }
            None => {
                bad.get_or_insert(number + 1);
            }
        }
    }
    (spent, bad)
}

fn parse_line(line: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(line).ok()?;
    let (step, hex) = text.split_once(' ')?;
    let step = step.parse().ok()?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((knockd_core::bytes::decode(&bytes).into_owned(), step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_steps_round_trip_with_any_door_name() {
        let spent: BTreeSet<(String, u64)> = [
            ("openSSH".to_owned(), 59_647_167),
            ("Grüße [x] y".to_owned(), 0),
            ("a b\tc".to_owned(), u64::MAX),
        ]
        .into_iter()
        .collect();
        let text = render(&spent);
        assert!(text.starts_with(HEADER));
        assert!(text.contains("59647167 6f70656e535348\n"), "{text}");
        assert_eq!(parse(text.as_bytes()), (spent, None));
    }

    #[test]
    fn lines_that_are_not_spent_steps_are_skipped_and_named() {
        let text = b"# header\n12 6f\n13 6\nx 6f\n14 zz\n15 6f70\n";
        let (spent, bad) = parse(text);
        assert_eq!(bad, Some(3));
        let kept: Vec<_> = spent.into_iter().collect();
        assert_eq!(kept, [("o".to_owned(), 12), ("op".to_owned(), 15)]);
    }

    #[test]
    fn a_spent_step_is_on_disk_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rotations, problem) = Rotations::load(Some(dir.path()));
        assert_eq!(problem, None);
        rotations.spend("openSSH", 7).unwrap();
        let (again, problem) = Rotations::load(Some(dir.path()));
        assert_eq!(problem, None);
        assert!(again.spent.contains(&("openSSH".to_owned(), 7)));
    }
}
