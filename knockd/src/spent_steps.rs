//! The spent steps of rotating doors: a (door, step) whose sequence opened
//! the door once is not accepted again, and is kept in the state directory
//! so that a knock replayed inside the window fails after a restart too.
//!
//! The spent steps file (`spent-steps` in the state directory) holds one
//! line per spent (door, step): the step number, a space, and the door's
//! name in lower-case hex (its bytes as in knockd.conf, one token). It is rewritten atomically
//! whenever a step is spent, before the door's command runs, and only the
//! steps some door may still accept are kept.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use knock_proto::file::{read_regular, Symlinks};
use knockd_core::doors::RuntimeDoor;

use crate::ledger::replace_atomically;

/// The file's name in the state directory.
const FILE: &str = "spent-steps";
/// Its first line.
const HEADER: &str = "# knockd spent rotating steps, v1";
/// The largest file read: far more lines than doors times skew ever give.
const MAX_FILE: u64 = 1 << 20;

/// What keeping the spent steps in memory only (no usable state directory)
/// means, after the number of rotating doors: said at start and by `--check`.
pub const IN_MEMORY_ONLY: &str = "rotating door(s) keep their spent steps in memory only --> a knock sniffed or replayed before a restart opens its door again after it, within Rotating_Skew steps (fix the state directory or give another with --state-dir)";

/// The spent steps, in memory and in the state directory.
#[derive(Debug, Clone)]
pub struct SpentSteps {
    /// The state directory; `None` when the spent steps are kept in memory only.
    dir: Option<PathBuf>,
    /// Spent (door name, step) pairs.
    spent: BTreeSet<(String, u64)>,
}

impl SpentSteps {
    /// Reads the spent steps of the state directory `dir` (none when the
    /// file is missing). A file that cannot be read is reported and
    /// ignored: a replay inside the current window then opens once more,
    /// which is better than no door at all.
    pub fn load(dir: Option<&Path>) -> (SpentSteps, Option<String>) {
        let mut steps = SpentSteps {
            dir: dir.map(Path::to_owned),
            spent: BTreeSet::new(),
        };
        let Some(dir) = dir else {
            return (steps, None);
        };
        let path = dir.join(FILE);
        let problem = match read_regular(&path, MAX_FILE, Symlinks::Refuse) {
            Ok(bytes) => {
                let (spent, bad) = parse(&bytes);
                steps.spent = spent;
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
        (steps, problem)
    }

    /// Whether `door` opened with the sequence of `step` already.
    pub fn contains(&self, door: &str, step: u64) -> bool {
        self.spent.contains(&(door.to_owned(), step))
    }

    /// The same spent steps, kept in memory only: the watcher's copy (the
    /// opener writes the state directory).
    pub fn in_memory(&self) -> SpentSteps {
        SpentSteps {
            dir: None,
            spent: self.spent.clone(),
        }
    }

    /// Forgets the spent steps no door of `doors` accepts at Unix second
    /// `unix` any more.
    pub fn forget_unacceptable(&mut self, doors: &[RuntimeDoor], unix: u64) {
        // Per door name, the steps its doors accept now.
        let mut acceptable: HashMap<&str, Vec<RangeInclusive<u64>>> = HashMap::new();
        for door in doors {
            if let Some(rotating) = &door.rotating {
                let rotation = &rotating.rotation;
                (acceptable.entry(&door.door.name).or_default())
                    .push(rotation.acceptable(rotation.step_at(unix)));
            }
        }
        self.spent.retain(|(name, step)| {
            (acceptable.get(name.as_str()))
                .is_some_and(|ranges| ranges.iter().any(|r| r.contains(step)))
        });
    }

    /// Records in memory that `door` opened with the sequence of `step`.
    pub fn insert(&mut self, door: &str, step: u64) {
        self.spent.insert((door.to_owned(), step));
    }

    /// Records that `door` opened with the sequence of `step`, on disk
    /// before the door's command runs. The step is spent in memory even if
    /// writing fails (then only a restart forgets it).
    pub fn spend(&mut self, door: &str, step: u64) -> io::Result<()> {
        self.insert(door, step);
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
        let (mut steps, problem) = SpentSteps::load(Some(dir.path()));
        assert_eq!(problem, None);
        steps.spend("openSSH", 7).unwrap();
        let (again, problem) = SpentSteps::load(Some(dir.path()));
        assert_eq!(problem, None);
        assert!(again.contains("openSSH", 7));
    }
}
