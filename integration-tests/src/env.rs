//! What the suite needs from the machine: root, tools, the binaries under test and the reference.
//!
//! The end-to-end tests are `#[ignore]`d, because they need root; when they are asked for
//! (`--ignored`, `--include-ignored`), a missing prerequisite fails them with a message that
//! says what to do, instead of letting them pass without running.

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::Uid;

use crate::process::run_bounded;
use crate::wait::WAIT;

/// Where `ci/setup` extracts Debian's knockd 0.8 package: the reference server
/// (`usr/sbin/knockd`) and client (`usr/bin/knock`) of the interop tests and `ci/bench`.
///
/// A private copy, never `/usr/sbin/knockd`: our own package replaces Debian's, so once it is
/// installed that is ours. `ci/setup` defines the same directory (a unit test checks it).
pub const KNOCKD_08_DIR: &str = "/var/cache/knockd-rs/knockd-0.8";

/// How to run the root-only tests, for failure messages.
const HOW_TO_RUN: &str = "run the root-only tests as root, after building the binaries: \
     `sudo ci/setup && cargo build --workspace --bins && sudo cargo test -p integration-tests -- --include-ignored`";

/// Fails the test unless it runs as root with iproute2's `ip` on the PATH: what creating
/// network namespaces, veth pairs and packet sockets takes. [`crate::Net::new`] calls it.
pub fn require_namespaces() {
    assert!(
        Uid::effective().is_root(),
        "this test needs root (network namespaces, veth pairs, packet capture) and is \
         #[ignore]d for that reason; {HOW_TO_RUN}"
    );
    require_tools(&["ip"]);
}

/// Fails the test unless every one of `tools` is an executable on the PATH.
pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        assert!(
            on_path(tool),
            "this test runs `{tool}`, which is not on the PATH ({}): install it \
             (`sudo ci/setup` installs every tool the end-to-end tests use)",
            env::var("PATH").unwrap_or_default()
        );
    }
}

/// Whether `tool` is an executable file in a directory of the PATH, as `Command` would find it.
fn on_path(tool: &str) -> bool {
    env::var_os("PATH").is_some_and(|path| {
        env::split_paths(&path).any(|dir| {
            dir.join(tool)
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Debian's knockd 0.8 from the private copy in [`KNOCKD_08_DIR`]; fails the test with what to
/// do when it is missing or is not 0.8.
pub fn debian_knockd() -> PathBuf {
    reference("usr/sbin/knockd", "knockd 0.8")
}

/// Debian's knock 0.8 from the private copy in [`KNOCKD_08_DIR`]; fails the test with what to
/// do when it is missing or is not 0.8.
pub fn debian_knock() -> PathBuf {
    reference("usr/bin/knock", "knock 0.8")
}

/// `binary` under [`KNOCKD_08_DIR`], once its `-V` has printed `version` on its first line.
fn reference(binary: &str, version: &str) -> PathBuf {
    let path = Path::new(KNOCKD_08_DIR).join(binary);
    let fix = "run `sudo ci/setup`, which extracts Debian's knockd package there";
    assert!(
        path.is_file(),
        "{} is missing: the interop tests need Debian's knockd 0.8 as a private copy; {fix}",
        path.display()
    );
    let output = run_bounded(Command::new(&path).arg("-V"), WAIT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        version,
        "{} -V does not say {version:?}: {fix}",
        path.display()
    );
    path
}

/// The cargo target directory of the workspace (honours `CARGO_TARGET_DIR`; a relative one
/// is taken from the workspace root, where `ci/test` runs cargo, not from this crate's
/// directory, where cargo runs the tests).
fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// A debug binary of the workspace; panics with a hint when it has not been built.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// A release binary of the workspace cross-built for `target` by `ci/cross-linux` (the
/// arm64 client, say); panics with a hint when it has not been built.
pub fn cross_binary(target: &str, name: &str) -> PathBuf {
    let path = target_dir().join(target).join("release").join(name);
    assert!(
        path.is_file(),
        "{} is missing: `ci/cross-linux --build` cross-builds it",
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
            knockd: debian_knockd(),
            knock: debian_knock(),
        }
    }

    /// Debian's knockd 0.8 serving our knock.
    pub fn debian_server() -> Pair {
        Pair {
            knockd: debian_knockd(),
            knock: workspace_binary("knock"),
        }
    }

    /// Our knockd serving Debian's knock 0.8.
    pub fn debian_client() -> Pair {
        Pair {
            knockd: workspace_binary("knockd"),
            knock: debian_knock(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn ci_setup_places_the_reference_where_the_tests_look() {
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/setup");
        let text = fs::read_to_string(&setup).unwrap();
        let line = format!("KNOCKD_08_DIR={KNOCKD_08_DIR}\n");
        assert!(
            text.contains(&line),
            "{} does not define {line:?}",
            setup.display()
        );
    }

    #[test]
    fn finds_tools_on_the_path_only() {
        assert!(on_path("sh"));
        assert!(!on_path("knit-no-such-tool"));
    }
}
