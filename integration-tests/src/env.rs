//! What the suite needs from the machine: root, iproute2, the binaries under test.

use std::env;
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

/// Debian's knockd 0.8, the reference server.
pub const DEBIAN_KNOCKD: &str = "/usr/sbin/knockd";
/// Debian's knock 0.8, the reference client.
pub const DEBIAN_KNOCK: &str = "/usr/bin/knock";

/// True when running in CI, where missing prerequisites fail instead of skipping.
fn in_ci() -> bool {
    env::var("CI").is_ok_and(|value| value == "true")
}

/// Reports a missing prerequisite: a panic under `CI=true`, otherwise a printed skip.
fn missing(what: &str) -> bool {
    assert!(!in_ci(), "CI=true but this test cannot run: {what}");
    println!("skipped: {what}");
    false
}

fn ip_available() -> bool {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .any(|path| Path::new(path).exists())
}

/// Whether namespace tests can run here (root and `ip`); prints a skip or, under `CI=true`, panics.
pub fn root_and_iproute2() -> bool {
    if Uid::effective().is_root() && ip_available() {
        true
    } else {
        missing("needs root and iproute2")
    }
}

/// Whether Debian's knockd and knock are installed; prints a skip or, under `CI=true`, panics.
pub fn debian_peer() -> bool {
    if Path::new(DEBIAN_KNOCKD).exists() && Path::new(DEBIAN_KNOCK).exists() {
        true
    } else {
        missing("needs Debian's knockd package (/usr/sbin/knockd, /usr/bin/knock)")
    }
}

/// The cargo target directory of the workspace (honours `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A debug binary of the workspace; panics with a hint when it has not been built.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

/// A server and a client binary that a scenario runs against each other.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The knockd-compatible server.
    pub knockd: PathBuf,
    /// The knock-compatible client.
    pub knock: PathBuf,
}

impl Pair {
    /// Our knockd and our knock.
    pub fn ours() -> Pair {
        Pair {
            knockd: workspace_binary("knockd"),
            knock: workspace_binary("knock"),
        }
    }

    /// Debian's knockd 0.8 and knock 0.8 (validates the harness itself).
    pub fn debian() -> Pair {
        Pair {
            knockd: DEBIAN_KNOCKD.into(),
            knock: DEBIAN_KNOCK.into(),
        }
    }

    /// Debian's knockd 0.8 serving our knock.
    pub fn debian_server() -> Pair {
        Pair {
            knockd: DEBIAN_KNOCKD.into(),
            knock: workspace_binary("knock"),
        }
    }

    /// Our knockd serving Debian's knock 0.8.
    pub fn debian_client() -> Pair {
        Pair {
            knockd: workspace_binary("knockd"),
            knock: DEBIAN_KNOCK.into(),
        }
    }
}
