//! The configuration model: global options and doors, as both readers produce them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use knock_proto::rotating::Rotation;
use knock_proto::{Sequence, TcpFlags};

use super::open_prefix::OpenPrefix;
use super::ConfigError;
use crate::sources::SourceFilter;

/// knockd 0.8's default `Seq_Timeout`.
pub(crate) const DEFAULT_SEQ_TIMEOUT: Duration = Duration::from_secs(25);
/// knockd 0.8's default `Cmd_Timeout`.
pub(crate) const DEFAULT_CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole configuration: global options and doors in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The `[options]` section.
    pub options: Options,
    /// Every door, in file order. Names may repeat: each is its own door, as in 0.8.
    pub doors: Vec<Door>,
    /// Doors left out because a value of theirs is one knockd 0.8 would
    /// silently turn into something that cannot work as written (`port
    /// abc`, a negative timeout): the other doors run.
    pub disabled: Vec<DisabledDoor>,
    /// Values read as 0.8 reads them although they look like mistakes
    /// (`seq_timeout = 5s` is 5).
    pub warnings: Vec<ConfigError>,
}

/// A door left out of a configuration, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledDoor {
    /// The door's name.
    pub door: String,
    /// The value at fault, with its file and line.
    pub error: ConfigError,
}

/// Global settings (`[options]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `UseSyslog`: log to syslog as well.
    pub use_syslog: bool,
    /// `LogFile`: append log lines to this file.
    pub log_file: Option<PathBuf>,
    /// `PidFile`: where `-d` writes the daemon's pid.
    pub pid_file: Option<PathBuf>,
    /// `Interface`: capture interface when `-i` is not given.
    pub interface: Option<String>,
    /// `StateDir`: where the door ledger lives when `--state-dir` is not given.
    pub state_dir: Option<PathBuf>,
    /// `LogFormat`: how log file and stdout lines are written, when
    /// `--log-format` is not given.
    pub log_format: Option<LogFormat>,
    /// `ControlSocket`: the Unix socket `knockd status` and `knockd close`
    /// talk to, when `--control-socket` is not given.
    pub control_socket: Option<PathBuf>,
    /// `User`: the account knockd's watcher process (everything that reads
    /// packets) runs as, when `--user` is not given.
    pub user: Option<String>,
    /// `Privsep`: whether knockd splits into a root opener and an
    /// unprivileged watcher (the default); `--no-privsep` turns it off too.
    pub privsep: Option<bool>,
    /// `Open_Prefix4` and `Open_Prefix6` of `[options]`: the lengths of
    /// every door that sets none of its own (already applied to
    /// [`Config::doors`]).
    pub open_prefix: OpenPrefix,
    /// `Nft_Table`: the table that holds the `Nft_Set` doors' sets (when
    /// no door has one, nothing; when unset, `inet knockd`).
    pub nft_table: Option<crate::nft::Table>,
    /// `Allow_From` and `Deny_From` of `[options]`: the lists of every door
    /// that sets none of its own (already applied to [`Config::doors`]).
    pub(crate) sources: SourceFilter,
}

/// How the log file and `-v`/`-D` stdout lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum LogFormat {
    /// knockd 0.8's lines, byte for byte.
    #[default]
    Text,
    /// One JSON object per line, holding 0.8's text in `message`.
    Json,
}

impl LogFormat {
    /// Reads `text` or `json`, in any case.
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text.trim_ascii().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    /// The value's name in the configuration: `text` or `json`.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Where a door's sequence comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SequenceSource {
    /// `Sequence = ...`: a fixed sequence.
    Fixed(Sequence),
    /// `One_Time_Sequences = path`: the first unused line of this file, consumed on use.
    OneTime(PathBuf),
    /// `Rotating_Secret = path` and the other `Rotating_*` keys: a sequence
    /// derived from the secret, the door's name and the clock.
    Rotating(RotatingSource),
}

/// A rotating door's settings as configured (the secret is read with the
/// door's other files, not by the config readers).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RotatingSource {
    /// `Rotating_Secret`: the file holding the base32 secret.
    pub secret_file: PathBuf,
    /// `Rotating_Step`, `_Range`, `_Length`, `_Protocol` and `_Skew`.
    pub rotation: Rotation,
}

/// One door: a knock sequence and what to do when it is knocked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Door {
    /// The section name.
    pub name: String,
    /// The sequence, fixed or from a one-time sequences file.
    pub sequence: SequenceSource,
    /// `Seq_Timeout`: the whole sequence must be knocked within this time of its first knock.
    pub(crate) seq_timeout: Duration,
    /// `TCPFlags`: what TCP knocks' flags must look like.
    pub tcp_flags: TcpFlags,
    /// `Start_Command` (alias `Command`): run for IPv4 knockers.
    pub start_command: Option<String>,
    /// `Start_Command_6` (alias `Command_6`): run for IPv6 knockers.
    pub start_command_6: Option<String>,
    /// `Stop_Command`: run `cmd_timeout` after the start command.
    pub stop_command: Option<String>,
    /// `Stop_Command_6`: the IPv6 stop command.
    pub(crate) stop_command_6: Option<String>,
    /// `Cmd_Timeout`: delay between the start and the stop command.
    pub cmd_timeout: Duration,
    /// `Target`: match knocks to this address instead of the interface's own.
    pub(crate) target: Option<IpAddr>,
    /// `Refresh`: a knock on a door already open for the knocker moves its
    /// stop command to `cmd_timeout` after that knock instead of running the
    /// start command again.
    pub refresh: bool,
    /// `Cooldown`: after the door opens for a knocker, that knocker's
    /// further knocks on it are ignored this long.
    pub cooldown: Duration,
    /// `Max_Open`: most knockers this door may be open for at once.
    pub max_open: Option<usize>,
    /// `Allow_From` and `Deny_From`: who may knock on this door (the
    /// `[options]` lists for a list the door does not set).
    pub(crate) sources: SourceFilter,
    /// `Allow_Repeats`: a knock on the port just matched is ignored rather
    /// than breaking the attempt, unless the next knock is that same port.
    pub(crate) allow_repeats: bool,
    /// `Strict`: while a source has an attempt in progress, any other
    /// connection-opening TCP segment or UDP datagram from it to this host
    /// breaks the attempt, so that a port sweep cannot open the door.
    pub strict: bool,
    /// `Open_Prefix4` and `Open_Prefix6`: the door opens for the knocker's
    /// network of that length; `Refresh`, `Cooldown`, `Max_Open` and the
    /// ledger then count networks, not addresses.
    pub open_prefix: OpenPrefix,
    /// `Nft_Set`: the door opens by adding the knocker to the kernel sets
    /// `<name>_v4` and `<name>_v6` of `Nft_Table`, for `Cmd_Timeout`
    /// (alias `Open_For`), instead of running commands.
    pub nft_set: Option<String>,
}

impl Door {
    /// A door with 0.8's defaults and no commands.
    pub fn new(name: impl Into<String>, sequence: SequenceSource) -> Self {
        Door {
            name: name.into(),
            sequence,
            seq_timeout: DEFAULT_SEQ_TIMEOUT,
            tcp_flags: TcpFlags::ANY,
            start_command: None,
            start_command_6: None,
            stop_command: None,
            stop_command_6: None,
            cmd_timeout: DEFAULT_CMD_TIMEOUT,
            target: None,
            refresh: false,
            cooldown: Duration::ZERO,
            max_open: None,
            sources: SourceFilter::default(),
            allow_repeats: false,
            strict: false,
            open_prefix: OpenPrefix::default(),
            nft_set: None,
        }
    }

    /// Why this door cannot be an `Nft_Set` door, if it is one and cannot:
    /// it also has commands, its time open is zero, or the system has no
    /// nftables. Both readers disable such a door.
    pub fn nft_problem(&self) -> Option<String> {
        self.nft_set.as_ref()?;
        let problem = if !cfg!(target_os = "linux") {
            "Nft_Set needs Linux's nftables, which this system does not have: \
             open the door with Start_Command instead"
        } else if self.commands().iter().any(|(_, command)| command.is_some()) {
            "a door has either commands or Nft_Set, not both: remove the commands \
             (the kernel closes an Nft_Set door) or the Nft_Set line"
        } else if self.cmd_timeout.is_zero() {
            "Open_For (Cmd_Timeout) is 0, but an Nft_Set door needs at least 1 second \
             (an element without a timeout would never expire)"
        } else {
            return None;
        };
        Some(problem.to_owned())
    }

    /// The four command settings under the names 0.8 echoes them with
    /// (`start_command`, `start_command_6`, `stop_command`, `stop_command_6`),
    /// set or not, in that order.
    pub fn commands(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("start_command", self.start_command.as_deref()),
            ("start_command_6", self.start_command_6.as_deref()),
            ("stop_command", self.stop_command.as_deref()),
            ("stop_command_6", self.stop_command_6.as_deref()),
        ]
    }

    /// The start command for a knocker of the given family, as 0.8 chooses it:
    /// an IPv6 knocker gets `Start_Command_6`, falling back to `Start_Command`
    /// only when `Start_Command_6` was never set. An empty command is none.
    pub fn start_command_for(&self, ipv6: bool) -> Option<&str> {
        pick(ipv6, &self.start_command, &self.start_command_6)
    }

    /// The stop command for a knocker of the given family, chosen like the start
    /// command. It runs only when a start command ran.
    pub fn stop_command_for(&self, ipv6: bool) -> Option<&str> {
        self.start_command_for(ipv6)?;
        pick(ipv6, &self.stop_command, &self.stop_command_6)
    }

    /// Gives the door the `[options]` value of each of `Allow_From`,
    /// `Deny_From`, `Open_Prefix4` and `Open_Prefix6` it does not set itself.
    pub(super) fn inherit_options(&mut self, options: &Options) {
        let defaults = &options.sources;
        self.open_prefix.inherit(options.open_prefix);
        if self.sources.allow.is_empty() {
            self.sources.allow.clone_from(&defaults.allow);
        }
        if self.sources.deny.is_empty() {
            self.sources.deny.clone_from(&defaults.deny);
        }
    }

    /// Forgets the door's four commands: the door as knockd's unprivileged
    /// watcher process gets it, which matches knocks but runs nothing.
    pub fn strip_commands(&mut self) {
        self.start_command = None;
        self.start_command_6 = None;
        self.stop_command = None;
        self.stop_command_6 = None;
    }

    /// Whether the door has a stop command for either family (its
    /// `Cmd_Timeout` then matters).
    pub fn has_stop_command(&self) -> bool {
        self.stop_command.is_some() || self.stop_command_6.is_some()
    }
}

fn pick<'a>(ipv6: bool, v4: &'a Option<String>, v6: &'a Option<String>) -> Option<&'a str> {
    let chosen = if ipv6 && v6.is_some() { v6 } else { v4 };
    chosen.as_deref().filter(|c| !c.trim_ascii().is_empty())
}

impl Config {
    /// Makes every relative path in the configuration (log file, pid file,
    /// state directory, one-time sequences and secret files) absolute against `base`, so
    /// that a daemon that later changes directory still finds them.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.options.log_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.options.pid_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.options.state_dir.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.options.control_socket.as_mut() {
            resolve(p);
        }
        for door in &mut self.doors {
            match &mut door.sequence {
                SequenceSource::OneTime(p) => resolve(p),
                SequenceSource::Rotating(r) => resolve(&mut r.secret_file),
                SequenceSource::Fixed(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door() -> Door {
        Door::new("d", SequenceSource::Fixed(Sequence::parse("1").unwrap()))
    }

    #[test]
    fn ipv6_knockers_fall_back_to_the_ipv4_command_only_when_the_6_key_is_absent() {
        // Checklist 65.
        let mut d = door();
        d.start_command = Some("v4 %IP%".into());
        assert_eq!(d.start_command_for(true), Some("v4 %IP%"));
        d.start_command_6 = Some("v6 %IP%".into());
        assert_eq!(d.start_command_for(true), Some("v6 %IP%"));
        assert_eq!(d.start_command_for(false), Some("v4 %IP%"));
        d.start_command_6 = Some(String::new());
        assert_eq!(d.start_command_for(true), None);
    }

    #[test]
    fn no_stop_command_without_a_start_command() {
        // Checklist 66.
        let mut d = door();
        d.stop_command = Some("stop".into());
        assert_eq!(d.stop_command_for(false), None);
        d.start_command = Some("start".into());
        assert_eq!(d.stop_command_for(false), Some("stop"));
        assert_eq!(d.stop_command_for(true), Some("stop"));
        d.stop_command_6 = Some("stop6".into());
        assert_eq!(d.stop_command_for(true), Some("stop6"));
    }

    #[test]
    fn commands_are_labelled_in_0_8_echo_order() {
        let mut d = door();
        d.start_command_6 = Some("b".into());
        d.stop_command = Some("c".into());
        assert_eq!(
            d.commands(),
            [
                ("start_command", None),
                ("start_command_6", Some("b")),
                ("stop_command", Some("c")),
                ("stop_command_6", None),
            ]
        );
        assert!(d.has_stop_command());
        assert!(!door().has_stop_command());
    }

    #[test]
    fn relative_paths_resolve_against_the_base() {
        let mut c = Config::default();
        c.options.log_file = Some("log".into());
        c.options.pid_file = Some("/run/k.pid".into());
        let mut d = door();
        d.sequence = SequenceSource::OneTime("otp".into());
        c.doors.push(d);
        c.resolve_paths(Path::new("/etc/knockd"));
        assert_eq!(c.options.log_file, Some("/etc/knockd/log".into()));
        assert_eq!(c.options.pid_file, Some("/run/k.pid".into()));
        assert_eq!(
            c.doors[0].sequence,
            SequenceSource::OneTime("/etc/knockd/otp".into())
        );
    }
}
