//! Replays the committed fuzz inputs: shared by the stable regression tests
//! `knockd/core/tests/fuzz_regressions.rs` and `knock-proto/tests/fuzz_regressions.rs`.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

/// Runs `check` on every file in `fuzz/corpus/<target>/` (the hand-built
/// seeds) and `fuzz/regressions/<target>/` (every crash input found), and
/// panics naming each file whose check failed, or when there are no inputs.
pub fn replay(target: &str, check: fn(&[u8])) {
    // The including crate sits somewhere below the workspace root, beside `fuzz/`.
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("fuzz"))
        .find(|dir| dir.join("inputs.rs").is_file())
        .unwrap_or_else(|| panic!("no fuzz/ above {}", env!("CARGO_MANIFEST_DIR")));
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .flat_map(|kind| inputs_in(&fuzz.join(kind).join(target)))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no inputs for fuzz target {target} under {}",
        fuzz.display()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail (their panics are printed above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

/// The files in `dir`; none when it does not exist (a target without crashes
/// has no regressions directory).
fn inputs_in(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| {
                entry
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                    .path()
            })
            .filter(|path| path.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}
