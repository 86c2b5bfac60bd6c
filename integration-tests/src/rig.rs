//! The usual test set-up in one value: a net, a scratch dir and a running server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::conf::{config, door};
use crate::daemon::Daemon;
use crate::env::Pair;
use crate::net::Net;
use crate::process::run_bounded;
use crate::scratch::Scratch;
use crate::wait::WAIT;

/// File name of the config inside the scratch dir.
const CONFIG: &str = "knockd.conf";
/// File name, inside the scratch dir, of the file that [`Rig::one_door`]'s command appends to.
const OUT: &str = "out";

/// A server from `pair` running on a fresh [`Net`] with a config in a [`Scratch`] dir.
///
/// Fields drop in declaration order: the server dies before its namespaces are deleted.
#[derive(Debug)]
pub struct Rig {
    /// The running server.
    pub daemon: Daemon,
    /// The namespaces it runs in.
    pub net: Net,
    /// Config, log and command output files.
    pub scratch: Scratch,
    /// The binaries under test.
    pub pair: Pair,
}

impl Rig {
    /// Writes `config` into `scratch`, creates a net and starts `pair.knockd` with `args` on it.
    pub fn start(pair: &Pair, scratch: Scratch, config: &str, args: &[&str]) -> Rig {
        Rig::start_on(pair, Net::new(), scratch, config, args)
    }

    /// `pair.knockd` started with `args` on a config of one door and the sync door: the door
    /// `name` opens for `sequence`, with the `extra` directives (e.g. `seq_timeout = 2`), and its
    /// command appends `<name> <knocker's address>` to [`Rig::out`] (see [`door`]).
    pub fn one_door(pair: &Pair, name: &str, sequence: &str, extra: &[&str], args: &[&str]) -> Rig {
        let scratch = Scratch::new();
        let config = config(&[door(name, sequence, &scratch.path(OUT), extra)]);
        Rig::start(pair, scratch, &config, args)
    }

    /// Like [`Rig::start`] with a config of any bytes (a Latin-1 section name).
    pub fn start_bytes(pair: &Pair, scratch: Scratch, config: &[u8], args: &[&str]) -> Rig {
        Rig::start_bytes_on(pair, Net::new(), scratch, config, args)
    }

    /// Like [`Rig::start`] on a net made beforehand (when the config needs its addresses).
    pub fn start_on(pair: &Pair, net: Net, scratch: Scratch, config: &str, args: &[&str]) -> Rig {
        Rig::start_bytes_on(pair, net, scratch, config.as_bytes(), args)
    }

    fn start_bytes_on(
        pair: &Pair,
        net: Net,
        scratch: Scratch,
        config: &[u8],
        args: &[&str],
    ) -> Rig {
        let path = scratch.path(CONFIG);
        std::fs::write(&path, config)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        let daemon = Daemon::start(&net, &scratch, &pair.knockd, &path, args);
        Rig {
            daemon,
            net,
            scratch,
            pair: pair.clone(),
        }
    }

    /// The config file the server reads (rewrite it before a SIGHUP).
    pub fn config_path(&self) -> PathBuf {
        self.scratch.path(CONFIG)
    }

    /// Stops the server (SIGTERM, bounded wait) and starts it again with `args` on the same files.
    pub fn restart(&mut self, args: &[&str]) {
        self.daemon.signal(nix::sys::signal::Signal::SIGTERM);
        self.daemon.wait_exit();
        let config = self.config_path();
        self.daemon = Daemon::start(&self.net, &self.scratch, &self.pair.knockd, &config, args);
    }

    /// Runs the pair's client in the client namespace; fails the test unless it exits 0.
    pub fn knock(&self, args: &[&str]) -> Output {
        self.net.knock(&self.pair.knock, args)
    }

    /// Runs `knockd <args>` (`status`, `close ...`) against the server's control socket, as
    /// an operator on the server would, within [`WAIT`]; returns what it printed and its exit.
    /// The arguments may be any bytes (a door name that is not UTF-8).
    pub fn control<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        run_bounded(
            Command::new(&self.pair.knockd)
                .args(args)
                .arg("--control-socket")
                .arg(self.daemon.control_socket()),
            WAIT,
        )
    }

    /// The server's IPv4 address as text, for client command lines.
    pub fn server_v4(&self) -> String {
        self.net.server_v4().to_string()
    }

    /// The server's IPv6 address as text, for client command lines.
    pub fn server_v6(&self) -> String {
        self.net.server_v6().to_string()
    }

    /// Waits until the sync door has opened again: every packet sent before was processed.
    pub fn sync(&self) {
        self.daemon.sync(&self.net);
    }

    /// The file the command of a [`Rig::one_door`] door appends to (`out` in the scratch dir).
    pub fn out(&self) -> PathBuf {
        self.file(OUT)
    }

    /// Asserts, once the server has processed every packet sent so far ([`Rig::sync`]), that
    /// door `name` has logged `OPEN SESAME` exactly `count` times.
    pub fn assert_opened(&self, name: &str, count: usize) {
        self.sync();
        assert_eq!(
            self.daemon.log_count(&format!("{name}: OPEN SESAME")),
            count,
            "times door {name} opened; the log:\n{}",
            self.daemon.log()
        );
    }

    /// `knockd --close-all` on the rig's state directory and config, as an
    /// operator runs it (bounded by [`WAIT`]).
    pub fn close_all(&self) -> Output {
        run_bounded(
            Command::new(&self.pair.knockd)
                .arg("--close-all")
                .arg("--state-dir")
                .arg(self.file("state"))
                .arg("-c")
                .arg(self.config_path()),
            WAIT,
        )
    }

    /// Path of a file in the scratch dir (e.g. the `out` file commands append to).
    pub fn file(&self, name: &str) -> PathBuf {
        self.scratch.path(name)
    }

    /// The scratch dir.
    pub fn dir(&self) -> &Path {
        self.scratch.dir()
    }
}
