//! What the daemon and `--check` both derive from the command line and the
//! configuration file, with 0.8's precedence between the two.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use knock_proto::io_message;
use knockd_core::config::{Config, LogFormat};
use knockd_core::doors::{self, LoadError, Loaded};

use crate::cli::{
    Args, DEFAULT_CONTROL_SOCKET, DEFAULT_INTERFACE, DEFAULT_PID_FILE, DEFAULT_STATE_DIR,
};
use crate::interfaces;
use crate::log::LogSettings;

/// The arguments, the loaded configuration and what follows from both.
#[derive(Debug)]
pub struct Setup {
    /// The command line.
    pub args: Args,
    /// The directory knockd started in: relative paths resolve against it,
    /// also after `-d` changed to `/`.
    pub base: PathBuf,
    /// The configuration file, absolute.
    pub config_path: PathBuf,
    /// The configuration and its doors.
    pub loaded: Loaded,
    /// The capture interfaces (at least one, each once): every `-i`, else
    /// those `Interface` lists, else `eth0`, else (no `eth0` here) the
    /// interface of the default route.
    pub interfaces: Vec<String>,
    /// Set when the interface is the default route's, to be logged: knockd
    /// issue #44, hosts whose interfaces are called `ens3` or `enp1s0`.
    pub interface_from_default_route: bool,
}

/// Why the configuration could not be read.
#[derive(Debug)]
pub enum SetupError {
    /// The current directory is unreadable (deleted under us).
    CurrentDir(io::Error),
    /// The configuration or a one-time sequences file it names.
    Load(LoadError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::CurrentDir(e) => {
                write!(f, "cannot read the current directory: {}", io_message(e))
            }
            SetupError::Load(e) => e.fmt(f),
        }
    }
}

impl Setup {
    /// Reads the configuration `args` names.
    pub fn read(args: Args) -> Result<Setup, SetupError> {
        let base = std::env::current_dir().map_err(SetupError::CurrentDir)?;
        let config_path = base.join(&args.config);
        let loaded = doors::load(&config_path, &base, nix::unistd::geteuid().as_raw())
            .map_err(SetupError::Load)?;
        let configured = if args.interface.is_empty() {
            // `Interface = eth0, wg0`: 0.8 took the whole value as one name.
            let listed = loaded.config.options.interface.as_deref().unwrap_or("");
            listed
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            args.interface.clone()
        };
        let mut interfaces: Vec<String> = Vec::with_capacity(configured.len());
        for name in configured {
            if !interfaces.contains(&name) {
                interfaces.push(name);
            }
        }
        let mut interface_from_default_route = false;
        if interfaces.is_empty() {
            let (interface, from_route) = default_interface();
            interfaces.push(interface);
            interface_from_default_route = from_route;
        }
        Ok(Setup {
            args,
            base,
            config_path,
            loaded,
            interfaces,
            interface_from_default_route,
        })
    }

    /// The interfaces as the log names them: `eth0, wg0`.
    pub fn interface_list(&self) -> String {
        self.interfaces.join(", ")
    }

    /// The log's sinks for `config`: as in 0.8, `LogFile` in the
    /// configuration wins over `-g`.
    pub fn log_settings(&self, config: &Config) -> LogSettings {
        log_settings(&self.args, &self.base, Some(config))
    }

    /// The state directory: `--state-dir` wins over `StateDir`, like `-i`
    /// over `Interface`.
    pub fn state_dir(&self) -> PathBuf {
        state_dir(&self.args, &self.base, Some(&self.loaded.config))
    }

    /// The control socket: `--control-socket` wins over `ControlSocket`.
    pub fn control_socket(&self) -> PathBuf {
        control_socket(&self.args, &self.base, Some(&self.loaded.config))
    }

    /// Whether knockd splits into a root opener and an unprivileged watcher:
    /// unless `--no-privsep` or `Privsep = no`.
    pub fn privsep(&self) -> bool {
        !self.args.no_privsep && self.loaded.config.options.privsep != Some(false)
    }

    /// The watcher's account as asked for: `--user` wins over `User`;
    /// `None` for the default.
    pub fn watcher_user(&self) -> Option<&str> {
        (self.args.user.as_deref()).or(self.loaded.config.options.user.as_deref())
    }

    /// The pid file: `PidFile` in the configuration wins over `-p`, as in 0.8.
    pub fn pid_file_path(&self) -> PathBuf {
        self.loaded
            .config
            .options
            .pid_file
            .clone()
            .or_else(|| self.args.pid_file.as_ref().map(|p| self.base.join(p)))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PID_FILE))
    }
}

/// The interface when none is configured: `eth0` as in 0.8 where it exists,
/// else the default route's (and whether it is that), else `eth0` (which
/// then fails to open, naming it).
fn default_interface() -> (String, bool) {
    if interfaces::names()
        .iter()
        .any(|name| name == DEFAULT_INTERFACE)
    {
        return (DEFAULT_INTERFACE.to_owned(), false);
    }
    match interfaces::default_route_interface() {
        Some(interface) => (interface, true),
        None => (DEFAULT_INTERFACE.to_owned(), false),
    }
}

/// The log's sinks and format for `args` and, if it could be read,
/// `config`: as in 0.8, `LogFile` in the configuration wins over `-g`.
pub fn log_settings(args: &Args, base: &Path, config: Option<&Config>) -> LogSettings {
    let options = config.map(|c| &c.options);
    LogSettings {
        log_file: options
            .and_then(|o| o.log_file.clone())
            .or_else(|| args.log_file.as_ref().map(|p| base.join(p))),
        use_syslog: options.is_some_and(|o| o.use_syslog),
        verbose: args.verbose,
        debug: args.debug,
        // `--log-format` wins, like `--state-dir` over `StateDir`.
        format: (args.log_format.as_deref())
            .and_then(LogFormat::parse)
            .or_else(|| options.and_then(|o| o.log_format))
            .unwrap_or_default(),
    }
}

/// The state directory for `args` and, if it could be read, `config`.
pub fn state_dir(args: &Args, base: &Path, config: Option<&Config>) -> PathBuf {
    args.state_dir
        .as_ref()
        .map(|dir| base.join(dir))
        .or_else(|| config.and_then(|c| c.options.state_dir.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// The control socket for `args` and, if it could be read, `config`; the
/// daemon and `knockd status` both find it this way.
pub fn control_socket(args: &Args, base: &Path, config: Option<&Config>) -> PathBuf {
    args.control_socket
        .as_ref()
        .map(|path| base.join(path))
        .or_else(|| config.and_then(|c| c.options.control_socket.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET))
}
