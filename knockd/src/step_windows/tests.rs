use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use knockd_core::doors::{self, Loaded};
use knockd_core::engine::{Engine, Limits};

use super::StepWindows;

/// Rotating_Step of the doors below, and a Unix time inside one step.
const STEP: u64 = 30;
const UNIX: u64 = 1_800_000_000;

/// `count` rotating doors `r0`, `r1`, ... sharing one private secret, with
/// the default skew of 1 (three steps in each window).
fn rotating_doors(dir: &Path, count: usize) -> Loaded {
    let key = dir.join("doors.key");
    fs::write(&key, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let text: String = (0..count)
        .map(|n| format!("[r{n}]\nRotating_Secret = doors.key\nRotating_Step = {STEP}\n"))
        .collect();
    let conf = dir.join("knockd.conf");
    fs::write(&conf, text).unwrap();
    doors::load(&conf, dir, nix::unistd::geteuid().as_raw()).unwrap()
}

#[test]
fn a_step_boundary_rebuilds_the_knock_index_once_for_all_rotating_doors() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = rotating_doors(dir.path(), 300);
    assert_eq!(loaded.doors.len(), 300);
    let mut engine = Engine::new(loaded.engine_doors(), Vec::new(), Limits::default());
    let (mut windows, problem) = StepWindows::load(None);
    assert_eq!(problem, None);
    let start = Instant::now();
    // At start, then at two boundaries.
    for n in 0..3 {
        let (unix, now) = (UNIX + n * STEP, start + Duration::from_secs(n * STEP));
        let before = engine.stats().knock_index_builds;
        assert!(windows.install(&mut engine, &loaded.doors, unix, now));
        assert_eq!(engine.stats().knock_index_builds - before, 1, "at {unix}");
    }
    // Every door follows its window, and the step that just left it until
    // the doors' timeout.
    for door in 0..loaded.doors.len() {
        assert_eq!(engine.step_sequences(door).len(), 3 + 1, "door {door}");
    }
}

#[test]
fn spent_steps_leave_the_window_and_are_forgotten_once_no_door_accepts_them() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = rotating_doors(dir.path(), 3);
    let mut engine = Engine::new(loaded.engine_doors(), Vec::new(), Limits::default());
    let (mut windows, _) = StepWindows::load(None);
    let now = Instant::now();
    let step = UNIX / STEP;
    windows.spend("r1", step).unwrap();
    windows.install(&mut engine, &loaded.doors, UNIX, now);
    assert!(windows.spent.contains("r1", step));
    // r1's window lacks the spent step; the other doors' do not.
    assert_eq!(engine.step_sequences(1).len(), 2);
    assert_eq!(engine.step_sequences(2).len(), 3);
    // One step on, step - 1 + 1 is still acceptable (skew 1); two on, not.
    windows.install(&mut engine, &loaded.doors, UNIX + STEP, now);
    assert!(windows.spent.contains("r1", step));
    windows.install(&mut engine, &loaded.doors, UNIX + 2 * STEP, now);
    assert!(!windows.spent.contains("r1", step));
}
