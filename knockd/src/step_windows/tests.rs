use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use knockd_core::doors::{self, Loaded};
use knockd_core::engine::{Engine, Limits};

use super::StepWindows;
use crate::spent_steps::SpentSteps;

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
    let mut windows = StepWindows::new(SpentSteps::load(None).0);
    let start = Instant::now();
    // At start, then at two boundaries.
    for n in 0..3 {
        let (unix, now) = (UNIX + n * STEP, start + Duration::from_secs(n * STEP));
        let before = engine.stats().knock_index_builds;
        assert_eq!(windows.install(&mut engine, &loaded.doors, unix, now), 300);
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
    let mut windows = StepWindows::new(SpentSteps::load(None).0);
    let now = Instant::now();
    let step = UNIX / STEP;
    windows.spend("r1", step);
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

#[test]
fn a_boundary_derives_only_the_entering_step_and_a_reload_derives_all_again() {
    let dir = tempfile::tempdir().unwrap();
    let old = rotating_doors(dir.path(), 2);
    let mut engine = Engine::new(old.engine_doors(), Vec::new(), Limits::default());
    let mut windows = StepWindows::new(SpentSteps::load(None).0);
    let now = Instant::now();
    windows.install(&mut engine, &old.doors, UNIX, now);
    // The secret changes on disk; the doors, as the engine sees them, do not.
    fs::write(
        dir.path().join("doors.key"),
        "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U\n",
    )
    .unwrap();
    let new = doors::load(
        &dir.path().join("knockd.conf"),
        dir.path(),
        nix::unistd::geteuid().as_raw(),
    )
    .unwrap();
    engine.reconfigure(new.engine_doors(), Vec::new());
    let derived = |loaded: &Loaded, unix: u64| {
        let rotating = loaded.doors[0].rotating.as_ref().unwrap();
        rotating.window(unix, |_| false, |_| None)
    };
    let held = |engine: &Engine, step: u64| engine.step_sequence(0, step).cloned();
    let step = UNIX / STEP;

    // A boundary keeps the sequences of the steps still in the window (the
    // old secret's here, which only a reload can make differ, and a reload
    // installs) and derives the one that enters (from the new secret).
    windows.advance(&mut engine, &new.doors, UNIX + STEP, now);
    let before = derived(&old, UNIX + STEP);
    let after = derived(&new, UNIX + STEP);
    for (t, sequence) in &before {
        if *t <= step + 1 {
            assert_eq!(held(&engine, *t).as_ref(), Some(sequence), "step {t}");
        }
    }
    let entering = after.iter().find(|(t, _)| *t == step + 2).unwrap();
    assert_eq!(held(&engine, step + 2).as_ref(), Some(&entering.1));

    // A reload installs with every step derived from the doors it loaded.
    windows.install(&mut engine, &new.doors, UNIX + STEP, now);
    for (t, sequence) in &after {
        assert_eq!(held(&engine, *t).as_ref(), Some(sequence), "step {t}");
    }
    assert_ne!(before, after);
}
