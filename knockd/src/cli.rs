//! knockd's command line: knockd 0.8's options, plus `--check`, tuning flags
//! and the operator's subcommands: `status` and `close`, which talk to a
//! running daemon through its control socket, and `secret new` and `secret
//! show`, which provision a rotating door.
//!
//! This module has no dependencies on the rest of the crate so that a build
//! script can include it to generate the man page's option list and shell
//! completions.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The default configuration file, as in 0.8.
pub const DEFAULT_CONFIG: &str = "/etc/knockd.conf";
/// The default pid file, as in 0.8.
pub const DEFAULT_PID_FILE: &str = "/var/run/knockd.pid";
/// The state directory (the door ledger) when neither `--state-dir` nor
/// `StateDir` names one: where each system keeps a daemon's state.
#[cfg(target_os = "linux")]
pub const DEFAULT_STATE_DIR: &str = "/var/lib/knockd";
/// The state directory (the door ledger) when neither `--state-dir` nor
/// `StateDir` names one: where each system keeps a daemon's state.
#[cfg(not(target_os = "linux"))]
pub const DEFAULT_STATE_DIR: &str = "/var/db/knockd";
/// The control socket when neither `--control-socket` nor `ControlSocket`
/// names one (the BSDs and macOS have no `/run`).
#[cfg(target_os = "linux")]
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/knockd.sock";
/// The control socket when neither `--control-socket` nor `ControlSocket`
/// names one (the BSDs and macOS have no `/run`).
#[cfg(not(target_os = "linux"))]
pub const DEFAULT_CONTROL_SOCKET: &str = "/var/run/knockd.sock";
/// The default capture interface when neither `-i` nor `Interface` names one,
/// as in 0.8 (where it does not exist, the default route's interface is used).
pub const DEFAULT_INTERFACE: &str = "eth0";

/// knockd's arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "knockd",
    version,
    about = "Port-knock server: watches an interface for secret knock sequences and runs a command for each",
    long_about = None,
    after_help = "Signals: SIGHUP reloads the configuration and reopens the log file; \
                  SIGUSR1 writes the status (as `knockd status` prints it) to the log; \
                  SIGTERM and SIGINT run the stop commands of open doors and exit."
)]
pub struct Args {
    /// Network interface to listen on (overrides Interface in the config);
    /// give it again to listen on several
    #[arg(short = 'i', long = "interface", value_name = "INT", value_hint = clap::ValueHint::Other)]
    pub interface: Vec<String>,

    /// Run in the background, writing the pid file
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,

    /// Configuration file; a name ending in .toml is read as TOML
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_CONFIG,
          global = true)]
    pub config: PathBuf,

    /// Print debugging messages
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,

    /// Look up the DNS names of knockers for the log (never delays matching)
    #[arg(short = 'l', long = "lookup")]
    pub lookup: bool,

    /// Pid file for daemon mode (PidFile in the config wins, as in knockd 0.8)
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Log file (LogFile in the config wins, as in knockd 0.8)
    #[arg(short = 'g', long = "logfile", value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Print verbose status messages
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// How log file and -v/-D lines are written: text (knockd 0.8's lines) or json,
    /// one object per line (wins over LogFormat in the config; default text)
    #[arg(long = "log-format", value_name = "FORMAT",
          value_parser = clap::builder::PossibleValuesParser::new(["text", "json"]))]
    pub log_format: Option<String>,

    /// Ignore the interface's IPv6 addresses (IPv6 knocks are not seen)
    #[arg(short = '4', long = "only-ip-v4")]
    pub only_ipv4: bool,

    /// Check the configuration: print each door and its capture filter, then exit 0 (knockd
    /// would run it), 1 (knockd would not start) or 2 (it would start, but a door would not work)
    #[arg(long = "check")]
    pub check: bool,

    /// Most knock attempts tracked at once; beyond it the least advanced, oldest attempt is dropped
    #[arg(long = "max-attempts", value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// Most doors with a stop command open at once; beyond it an opening is refused and logged
    #[arg(long = "max-open", value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open: u32,

    /// Directory of the door ledger (wins over StateDir in the config; default /var/lib/knockd,
    /// /var/db/knockd on the BSDs and macOS)
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Run the stop command of every door the ledger holds open, then exit
    #[arg(long = "close-all")]
    pub close_all: bool,

    /// Most door commands running at once; more wait in a queue
    #[arg(long = "max-commands", value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_commands: u32,

    /// Account the unprivileged watcher process runs as (wins over User in the config;
    /// default knockd where that user exists, else nobody)
    #[arg(long = "user", value_name = "USER", value_hint = clap::ValueHint::Username)]
    pub user: Option<String>,

    /// Run as one root process instead of a root opener and an unprivileged watcher
    /// (weaker: the process that parses packets keeps root's power; also Privsep = no)
    #[arg(long = "no-privsep")]
    pub no_privsep: bool,

    /// Control socket that status and close talk to (wins over ControlSocket in the config;
    /// default /run/knockd.sock, /var/run/knockd.sock on the BSDs and macOS)
    #[arg(long = "control-socket", value_name = "PATH", global = true)]
    pub control_socket: Option<PathBuf>,

    /// A request to the running daemon, or a secret to make, instead of running one.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// `status` and `close`.
    #[command(flatten)]
    Request(Request),
    /// Make or show a rotating door's secret, for knockd.conf and the clients (no daemon needed)
    #[command(subcommand)]
    Secret(SecretCommand),
}

/// `knockd secret new` and `knockd secret show`.
#[derive(Debug, Clone, Subcommand)]
pub enum SecretCommand {
    /// Write a new random secret to FILE (mode 0600, never over an existing file) and print the
    /// door's knockd.conf lines, the client's profile and the knock URI
    New(NewSecret),
    /// Print the knock URI and the current step's sequence of the door (of the -c configuration)
    /// whose Rotating_Secret is FILE (root only: it reads the secret)
    Show {
        /// The secret file, as a door's Rotating_Secret names it
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The door, when several doors use FILE
        #[arg(long = "door", value_name = "NAME")]
        door: Option<OsString>,
        /// The name or address clients knock on, for the URI [default: this host's name]
        #[arg(long = "host", value_name = "HOST", value_hint = clap::ValueHint::Hostname)]
        host: Option<String>,
        /// Also print the knock URI as a QR code
        #[arg(long = "qr")]
        qr: bool,
    },
}

/// The subcommands: requests to a running knockd over its control socket.
#[derive(Debug, Clone, Subcommand)]
pub enum Request {
    /// Print the running daemon's doors, knocks in progress, open doors and counters
    Status {
        /// Only this door (a byte that is not UTF-8 as the raw byte or as \xHH, as status prints it)
        #[arg(value_name = "DOOR")]
        door: Option<OsString>,
        /// Print one JSON object (schema in knockd(8))
        #[arg(long = "json")]
        json: bool,
        /// Print the counters in the Prometheus text format
        #[arg(long = "prometheus", conflicts_with_all = ["json", "door"])]
        prometheus: bool,
    },
    /// Close a door now: run its pending stop command for IP (delete its element, for an Nft_Set door), or every one with --all
    Close {
        /// The door (a byte that is not UTF-8 as the raw byte or as \xHH, as status prints it)
        #[arg(value_name = "DOOR", required_unless_present = "all")]
        door: Option<OsString>,
        /// The knocker it is open for
        #[arg(value_name = "IP", required_unless_present = "all")]
        source: Option<IpAddr>,
        /// Close every open door
        #[arg(long = "all", conflicts_with_all = ["door", "source"])]
        all: bool,
    },
}

/// What `knockd secret new` makes.
#[derive(Debug, Clone, clap::Args)]
pub struct NewSecret {
    /// The secret file to create
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The door's name, its section in knockd.conf [default: FILE's name without extension]
    #[arg(long = "door", value_name = "NAME")]
    pub door: Option<OsString>,
    /// Seconds per step (Rotating_Step)
    #[arg(long = "step", value_name = "S", default_value_t = 30)]
    pub step: u64,
    /// The ports to draw from (Rotating_Range)
    #[arg(long = "range", value_name = "LO-HI", default_value = "1024-65535")]
    pub range: String,
    /// Knocks per sequence (Rotating_Length)
    #[arg(long = "length", value_name = "N", default_value_t = 4)]
    pub length: usize,
    /// The knocks' protocol (Rotating_Protocol)
    #[arg(long = "protocol", value_name = "PROTO", default_value = "tcp",
          value_parser = clap::builder::PossibleValuesParser::new(["tcp", "udp", "mixed"]))]
    pub protocol: String,
    /// The name or address clients knock on, for the URI and profile [default: this host's name]
    #[arg(long = "host", value_name = "HOST", value_hint = clap::ValueHint::Hostname)]
    pub host: Option<String>,
    /// Also print the knock URI as a QR code, for a phone
    #[arg(long = "qr")]
    pub qr: bool,
}
