//! The message catalogue: every line knockd prints, with where it goes.
//!
//! Each [`Message`] variant's text and its [`Record`] (sinks, event name,
//! severity, door, knocker, stage) are written side by side in one `match`
//! arm of `Message::describe`, so a message is defined in exactly one place. The texts are knockd 0.8's (reference §9); the few
//! messages 0.8 does not have say so on their variant.

use std::fmt::{self, Write as _};
use std::io;
use std::net::IpAddr;
use std::ops::BitOr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local};
use knock_proto::io_message;
use knock_proto::{Sequence, TcpFlag};

use knockd_core::Packet;

/// A set of destinations for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sinks(u8);

impl Sinks {
    /// Nowhere.
    pub const NONE: Sinks = Sinks(0);
    /// The log: the log file (`LogFile`, `-g`) and syslog (`UseSyslog`).
    pub const LOG: Sinks = Sinks(1);
    /// Standard output without a timestamp, with `-v` only.
    pub const VERBOSE: Sinks = Sinks(2);
    /// Standard error, always.
    pub const STDERR: Sinks = Sinks(4);
    /// Standard output without a timestamp, with `-D` only.
    pub const DEBUG: Sinks = Sinks(8);

    /// Whether every sink of `other` is in `self`.
    pub const fn contains(self, other: Sinks) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Sinks {
    type Output = Sinks;

    fn bitor(self, rhs: Sinks) -> Sinks {
        Sinks(self.0 | rhs.0)
    }
}

const LOG: Sinks = Sinks::LOG;
const VERBOSE: Sinks = Sinks::VERBOSE;
const STDERR: Sinks = Sinks::STDERR;
const DEBUG: Sinks = Sinks::DEBUG;

/// How bad a message is: syslog's severity for log lines, and `level` in
/// JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something failed: a command, a door that cannot open, the capture,
    /// a reload (`LOG_ERR`).
    Error,
    /// Something was refused or dropped, or looks wrong (`LOG_WARNING`).
    Warning,
    /// Everything else that goes to the log, as 0.8 logs it (`LOG_NOTICE`).
    Notice,
    /// A `-v` line that never goes to the log (`LOG_INFO`).
    Info,
    /// A `-D` line (`LOG_DEBUG`).
    Debug,
}

impl Severity {
    /// syslog's name for it: `err`, `warning`, `notice`, `info`, `debug`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

/// What a message is, beyond its text: where it goes, its event name and
/// severity, and the door, knocker and stage it is about, where it has them.
/// The JSON log writes these fields; syslog uses the severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Where the message goes.
    pub sinks: Sinks,
    /// The kind of message, one word (`stage`, `open`, `command_failed`).
    pub event: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The door it is about.
    pub door: Option<&'a str>,
    /// The knocker it is about.
    pub source: Option<Source<'a>>,
    /// The stage a knock reached.
    pub stage: Option<usize>,
}

impl<'a> Record<'a> {
    /// A record about nothing in particular, of the severity its sinks
    /// suggest: notice for log lines, info for `-v` ones, debug for the rest.
    const fn new(sinks: Sinks, event: &'static str) -> Self {
        let severity = if sinks.contains(Sinks::LOG) || sinks.contains(Sinks::STDERR) {
            Severity::Notice
        } else if sinks.contains(Sinks::VERBOSE) {
            Severity::Info
        } else {
            Severity::Debug
        };
        Record {
            sinks,
            event,
            severity,
            door: None,
            source: None,
            stage: None,
        }
    }

    const fn error(self) -> Self {
        Record {
            severity: Severity::Error,
            ..self
        }
    }

    const fn warning(self) -> Self {
        Record {
            severity: Severity::Warning,
            ..self
        }
    }

    fn door(self, door: &'a str) -> Self {
        Record {
            door: Some(door),
            ..self
        }
    }

    fn source(self, source: Source<'a>) -> Self {
        Record {
            source: Some(source),
            ..self
        }
    }

    fn stage(self, stage: usize) -> Self {
        Record {
            stage: Some(stage),
            ..self
        }
    }
}

/// A knocker as log lines show it: `198.18.1.2`, or with `-l`
/// `198.18.1.2 (knocker.example)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// The knocker's address.
    pub addr: IpAddr,
    /// Its reverse-resolved name, when `-l` found one.
    pub host: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// A knocker shown by address and, when known, host name.
    pub fn with_host(addr: IpAddr, host: Option<&'a str>) -> Self {
        Source { addr, host }
    }
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(host) = self.host {
            write!(f, " ({host})")?;
        }
        Ok(())
    }
}

/// The cap on open doors that refused an opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCap {
    /// The door's `Max_Open`.
    Door(usize),
    /// `--max-open`.
    All(usize),
}

/// Which of a door's two commands a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// The start command, run at OPEN SESAME.
    Start,
    /// The stop command, run `Cmd_Timeout` later.
    Stop,
}

/// One `-D` line of the configuration echo (reference §9.4).
#[derive(Clone, Copy)]
pub enum ConfigEcho<'a> {
    /// `config: new section: '<name>'`.
    NewSection(&'a str),
    /// `config: usesyslog`.
    UseSyslog,
    /// `config: tcp flag: <FLAG>`, `!<FLAG>` for a flag that must be clear.
    TcpFlag {
        /// The flag.
        flag: TcpFlag,
        /// Whether it must be set (`SYN`) or clear (`!SYN`).
        required: bool,
    },
    /// `config: [<door>: ]<key>: <value>`, e.g. `config: log file: /var/log/knockd.log`
    /// or `config: ssh: seq_timeout: 25`.
    Setting {
        /// The door the setting belongs to; `None` for `[options]`.
        door: Option<&'a str>,
        /// The setting's name as 0.8 echoes it (`log file`, `start_command`).
        key: &'static str,
        /// Its value.
        value: &'a dyn fmt::Display,
    },
}

impl fmt::Display for ConfigEcho<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigEcho::NewSection(name) => write!(f, "config: new section: '{name}'"),
            ConfigEcho::UseSyslog => f.write_str("config: usesyslog"),
            ConfigEcho::TcpFlag { flag, required } => {
                f.write_str("config: tcp flag: ")?;
                if !required {
                    f.write_char('!')?;
                }
                write_upper(f, flag.name())
            }
            ConfigEcho::Setting { door, key, value } => {
                f.write_str("config: ")?;
                if let Some(door) = door {
                    write!(f, "{door}: ")?;
                }
                write!(f, "{key}: {value}")
            }
        }
    }
}

/// Every message knockd prints. Render it with [`Message::write`] or
/// `Display` (the text without timestamp or newline) and hand it to
/// [`crate::log::Logger::emit`], which sends it to its sinks.
#[derive(Clone, Copy)]
pub enum Message<'a> {
    /// `listening on <iface>...` (verbose). The server logs it together with
    /// [`Message::StartingUp`], as 0.8 prints the two at the same moment.
    Listening {
        /// The capture interface.
        interface: &'a str,
    },
    /// `starting up, listening on <iface>` (log).
    StartingUp {
        /// The capture interface.
        interface: &'a str,
    },
    /// `no interface configured and no eth0: listening on <iface>, the
    /// interface of the default route` (log, verbose). Not in 0.8 (#44).
    InterfaceFromDefaultRoute {
        /// The capture interface.
        interface: &'a str,
    },
    /// `<src>: <door>: Stage <n>` (log, verbose).
    Stage {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Knocks matched so far, from 1.
        stage: usize,
    },
    /// `<src>: <door>: OPEN SESAME` (log, verbose).
    OpenSesame {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: OPEN SESAME (door already open, extended)` (log,
    /// verbose): a `Refresh` door knocked again while open. Not in 0.8.
    OpenSesameExtended {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: OPEN SESAME refused: ...` (log, verbose): a cap on open
    /// doors (`Max_Open`, `--max-open`) is reached. Not in 0.8.
    OpenRefused {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Which cap, and its value.
        cap: OpenCap,
    },
    /// `<src>: <door>: closing a door left open by a previous run` (log,
    /// verbose): the ledger held a stop command past its deadline. Not in 0.8.
    ClosingLeftOpen {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: a door left open by a previous run closes in <n>s`
    /// (log, verbose). Not in 0.8.
    LeftOpenRearmed {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Time left until its stop command.
        left: Duration,
    },
    /// `<src>: <door>: start command still running at shutdown, stop command
    /// not run --> ...` (log, stderr). Not in 0.8.
    StopLeftPending {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Whether the ledger keeps the stop command for the next start.
        in_ledger: bool,
    },
    /// `<error> --> doors opened now will not close if knockd dies ...` (log,
    /// stderr): the state directory is unusable. Not in 0.8.
    LedgerUnavailable {
        /// Why.
        error: &'a dyn fmt::Display,
    },
    /// `<error> --> running without the control socket ...` (log, stderr):
    /// `knockd status` and `knockd close` cannot reach this knockd, whose
    /// doors work all the same. Not in 0.8.
    ControlSocketUnavailable {
        /// Why.
        error: &'a dyn fmt::Display,
    },
    /// `<src>: <door>: closing on request (knockd close)` (log, verbose):
    /// the door's stop command runs now. Not in 0.8.
    ClosingOnRequest {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `status: <line>` (log, verbose): one line of the status SIGUSR1
    /// asks for, as `knockd status` prints it. Not in 0.8.
    Status(&'a dyn fmt::Display),
    /// `door ledger <path>: skipped line(s) <n>, ... that are not records`
    /// (log, stderr). Not in 0.8.
    LedgerLinesSkipped {
        /// The journal.
        path: &'a Path,
        /// The 1-based numbers of the skipped lines.
        lines: &'a [usize],
    },
    /// `error: cannot write the door ledger: <strerror> --> ...` (log,
    /// stderr). Not in 0.8.
    LedgerWriteFailed {
        /// Why.
        error: &'a io::Error,
    },
    /// `<door>: running command: <cmd>` (log, verbose). 0.8 adds a blank log
    /// line after it (B17); we do not.
    RunningCommand {
        /// The door's name.
        door: &'a str,
        /// The command after `%IP%` expansion.
        command: &'a str,
    },
    /// `<door>: command returned non-zero status code (<n>)` (log, stderr).
    NonZeroStatus {
        /// The door's name.
        door: &'a str,
        /// The exit status.
        code: i32,
    },
    /// `<door>: command killed by signal <n> (<NAME>)` (log, stderr).
    /// Not in 0.8, whose `system()` folds signals into odd status codes.
    KilledBySignal {
        /// The door's name.
        door: &'a str,
        /// The signal number.
        signal: i32,
    },
    /// `<door>: error: command fork failed! (<strerror>)` (log, stderr). 0.8
    /// prints `error: command fork failed!` without door or reason.
    SpawnFailed {
        /// The door's name.
        door: &'a str,
        /// Why the shell could not be started.
        error: &'a io::Error,
    },
    /// `error: parsed start command has been truncated! --> won't execute it`,
    /// or for the stop command `error: parsed stop command has been truncated!
    /// --> won't execute start command` (log, stderr): an expanded command
    /// longer than 0.8's 4095 characters.
    CommandTruncated(CommandKind),
    /// `<src>: <door>: too many commands waiting, start command dropped`
    /// (log, stderr). Not in 0.8, which runs any number of commands at once.
    CommandDropped {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: command timeout` (log, verbose): the stop command is due.
    CommandTimeout {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: resent knock ignored` (debug): a client's SYN
    /// retransmission. Not in 0.8, which broke the attempt on it (#92).
    Retransmission {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: knock ignored, the door opened for it less than Cooldown ago`
    /// (debug). Not in 0.8.
    CoolingDown {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: knock ignored, the source is not allowed by
    /// Allow_From/Deny_From` (debug, once per source a minute). Not in 0.8.
    NotAllowed {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: sequence timeout (stage <n>)` (log, verbose).
    SequenceTimeout {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// The stage the attempt had reached.
        stage: usize,
    },
    /// `re-reading config file: <path>` (log, verbose).
    ReReadingConfig {
        /// The configuration file.
        path: &'a Path,
    },
    /// `<error> --> keeping the previous configuration` (log, stderr). 0.8
    /// exits on a bad reload instead (#26).
    ReloadFailed {
        /// What was wrong with the new configuration.
        error: &'a dyn fmt::Display,
    },
    /// `<error> --> door <door> disabled; the other doors run` (log,
    /// stderr): a value 0.8 would have turned into something that cannot
    /// work as written. Not in 0.8, which runs the door mangled.
    DoorDisabled {
        /// The door's name.
        door: &'a str,
        /// The value at fault, with file and line.
        error: &'a dyn fmt::Display,
    },
    /// `warning: <what was read>` (log, stderr): a value read as 0.8 reads
    /// it, although it looks like a mistake (`seq_timeout = 5s`).
    ConfigWarning(&'a dyn fmt::Display),
    /// `closing log file: <path>` (verbose).
    ClosingLogFile {
        /// The log file.
        path: &'a Path,
    },
    /// `re-opening log file: <path>` (log, verbose). 0.8 sends it to syslog
    /// only, as its file is closed at that moment (B17); we log it in the
    /// reopened file.
    ReopeningLogFile {
        /// The log file.
        path: &'a Path,
    },
    /// `warning: cannot open logfile: <strerror>` (stderr).
    LogFileUnavailable {
        /// Why the log file could not be opened.
        error: &'a io::Error,
    },
    /// `could not create pid file <path>: <strerror>` (log, debug).
    PidFileFailed {
        /// The pid file.
        path: &'a Path,
        /// Why it could not be written.
        error: &'a io::Error,
    },
    /// `waiting for child processes...` (verbose), on SIGINT/SIGTERM.
    WaitingForChildren,
    /// `<n> command(s) still running, not waiting for them` (log, stderr):
    /// shutdown's bounded wait ran out. Not in 0.8, which waits for ever.
    ChildrenLeftRunning {
        /// How many commands were still running.
        count: usize,
    },
    /// `<n> knock attempt(s) dropped: more than <max> in progress` (log,
    /// verbose), at most once a second during a flood. Not in 0.8, whose
    /// attempt list grows without bound.
    AttemptsEvicted {
        /// Attempts evicted since the last such line.
        count: u64,
        /// `--max-attempts`.
        max: usize,
    },
    /// `<n> further Stage 1 line(s) suppressed in the last second` (log,
    /// verbose): a flood of first knocks met the Stage 1 line budget. Not in 0.8.
    StageOneSuppressed {
        /// Lines held back.
        count: u64,
    },
    /// `ignored <n> knock(s) from sources that cannot knock ..., the last from <src>`
    /// (debug), at most once a minute. Not in 0.8.
    SourcesRefused {
        /// Knocks ignored since the last such line.
        count: u64,
        /// The last such source.
        last: IpAddr,
    },
    /// `counters: <line>` (verbose), at shutdown. Not in 0.8.
    Counters(&'a dyn fmt::Display),
    /// `closing...` (verbose).
    Closing,
    /// `shutting down` (log).
    ShuttingDown,
    /// `no more sequences left in the one time sequences file for door <door> --> disabling the door`
    /// (log, stderr).
    OneTimeExhausted {
        /// The door's name.
        door: &'a str,
    },
    /// `error while marking the used one time sequence for door <door> --> not opening the door`
    /// (log, stderr). 0.8's wording ends in `--> disabling the door`; we keep
    /// the door armed with the same, still unused, sequence.
    OneTimeUpdateFailed {
        /// The door's name.
        door: &'a str,
    },
    /// `new sequence for door <door>: <sequence>` (debug).
    OneTimeNext {
        /// The door's name.
        door: &'a str,
        /// Its sequence from now on.
        sequence: &'a Sequence,
    },
    /// `<pcap error> --> capture on <iface> stopped, retrying every second`
    /// (log, stderr): the interface went down or vanished. 0.8 exits here.
    CaptureLost {
        /// The capture interface.
        interface: &'a str,
        /// What libpcap said.
        error: &'a dyn fmt::Display,
    },
    /// `capture on <iface> restored` (log): the interface is back.
    CaptureRestored {
        /// The capture interface.
        interface: &'a str,
    },
    /// `addresses of <iface> changed: <addr>, ...` (verbose): knocks to
    /// these count from now on. Not in 0.8, which read them once.
    AddressesChanged {
        /// The capture interface.
        interface: &'a str,
        /// Its addresses now.
        addrs: &'a [IpAddr],
    },
    /// `<iface> has no address yet: waiting for one; until then only doors
    /// with a Target can be knocked` (log, verbose).
    WaitingForAddress {
        /// The capture interface.
        interface: &'a str,
    },
    /// An error at run time, printed as is (log, stderr), e.g. `pcap: <error>`.
    Error(&'a dyn fmt::Display),
    /// A configuration echo line (debug).
    Config(ConfigEcho<'a>),
    /// `local IP: <addr>` (debug).
    LocalIp(IpAddr),
    /// `adding pcap expression for door '<door>': <expr>` (debug).
    PcapExpression {
        /// The door's name.
        door: &'a str,
        /// The filter expression.
        expression: &'a str,
    },
    /// `<YYYY-MM-DD> <HH:MM:SS>: <tcp|udp>: <src>:<sport> -> <dst>:<dport> <wirelen> bytes`
    /// (debug), in local time. 0.8 prints the month 0-based (B16); we do not.
    Packet {
        /// The capture timestamp.
        time: SystemTime,
        /// The decoded packet.
        packet: &'a Packet,
        /// The frame's length on the wire.
        wire_len: u32,
    },
    /// `removing failed knock attempt (<src>)` (debug).
    RemovingFailedAttempt(IpAddr),
    /// `packet is not <FLAG>, ignoring...`, or `packet is not !<FLAG>, ignoring...`
    /// for a flag that must be clear (debug).
    FlagMismatch {
        /// The first flag whose constraint the packet violates.
        flag: TcpFlag,
        /// Whether the door requires it set (`SYN`) or clear (`!ACK`).
        required: bool,
    },
    /// Any other `-D` line, printed as is (debug), e.g. `ethernet interface detected`.
    Debug(&'a dyn fmt::Display),
}

impl Message<'_> {
    /// Its sinks, event name, severity and subject. Formats nothing: a line
    /// no sink wants is never rendered.
    pub fn record(&self) -> Record<'_> {
        self.describe(None)
            .unwrap_or(Record::new(Sinks::NONE, "none"))
    }

    /// Writes the message text (no timestamp, no newline).
    pub fn write(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.describe(Some(out)).map(drop)
    }

    /// The one definition of every message: its [`Record`] and, when `out`
    /// is given, its text, side by side in one `match` arm.
    fn describe(&self, out: Option<&mut dyn fmt::Write>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            Message::Listening { interface } => {
                if let Some(out) = out {
                    write!(out, "listening on {interface}...")?;
                }
                Record::new(VERBOSE, "listening")
            }
            Message::StartingUp { interface } => {
                if let Some(out) = out {
                    write!(out, "starting up, listening on {interface}")?;
                }
                Record::new(LOG, "start")
            }
            Message::InterfaceFromDefaultRoute { interface } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "no interface configured and no eth0: listening on {interface}, the interface of the default route"
                    )?;
                }
                Record::new(LOG | VERBOSE, "interface_from_route")
            }
            Message::Stage {
                source,
                door,
                stage,
            } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: Stage {stage}")?;
                }
                Record::new(LOG | VERBOSE, "stage")
                    .door(door)
                    .source(*source)
                    .stage(*stage)
            }
            Message::OpenSesame { source, door } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: OPEN SESAME")?;
                }
                Record::new(LOG | VERBOSE, "open")
                    .door(door)
                    .source(*source)
            }
            Message::OpenSesameExtended { source, door } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{source}: {door}: OPEN SESAME (door already open, extended)"
                    )?;
                }
                Record::new(LOG | VERBOSE, "extend")
                    .door(door)
                    .source(*source)
            }
            Message::OpenRefused { source, door, cap } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: OPEN SESAME refused: ")?;
                    match cap {
                        OpenCap::Door(max) => write!(
                            out,
                            "the door is open for {max} knocker(s) already (Max_Open)"
                        )?,
                        OpenCap::All(max) => {
                            write!(out, "{max} doors are open already (--max-open)")?
                        }
                    }
                }
                Record::new(LOG | VERBOSE, "open_refused")
                    .warning()
                    .door(door)
                    .source(*source)
            }
            Message::ClosingLeftOpen { source, door } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{source}: {door}: closing a door left open by a previous run"
                    )?;
                }
                Record::new(LOG | VERBOSE, "close_left_open")
                    .door(door)
                    .source(*source)
            }
            Message::LeftOpenRearmed { source, door, left } => {
                if let Some(out) = out {
                    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    write!(
                        out,
                        "{source}: {door}: a door left open by a previous run closes in {secs}s"
                    )?;
                }
                Record::new(LOG | VERBOSE, "left_open")
                    .door(door)
                    .source(*source)
            }
            Message::StopLeftPending {
                source,
                door,
                in_ledger,
            } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{source}: {door}: start command still running at shutdown, stop command not run"
                    )?;
                    out.write_str(if *in_ledger {
                        " --> it runs at the next start or with knockd --close-all"
                    } else {
                        " --> the door stays open (no door ledger)"
                    })?;
                }
                Record::new(LOG | STDERR, "stop_left_pending")
                    .warning()
                    .door(door)
                    .source(*source)
            }
            Message::LedgerUnavailable { error } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{error} --> doors opened now will not close if knockd dies (fix the state directory or give another with --state-dir)"
                    )?;
                }
                Record::new(LOG | STDERR, "ledger_unavailable").error()
            }
            Message::ControlSocketUnavailable { error } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{error} --> running without the control socket: knockd status and knockd close cannot reach this knockd (its doors work as usual)"
                    )?;
                }
                Record::new(LOG | STDERR, "control_socket_unavailable").warning()
            }
            Message::ClosingOnRequest { source, door } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: closing on request (knockd close)")?;
                }
                Record::new(LOG | VERBOSE, "close_requested")
                    .door(door)
                    .source(*source)
            }
            Message::Status(line) => {
                if let Some(out) = out {
                    write!(out, "status: {line}")?;
                }
                Record::new(LOG | VERBOSE, "status")
            }
            Message::LedgerLinesSkipped { path, lines } => {
                if let Some(out) = out {
                    write!(out, "door ledger {}: skipped line(s) ", path.display())?;
                    for (i, line) in lines.iter().enumerate() {
                        if i > 0 {
                            out.write_str(", ")?;
                        }
                        write!(out, "{line}")?;
                    }
                    out.write_str(" that are not records")?;
                }
                Record::new(LOG | STDERR, "ledger_lines_skipped").warning()
            }
            Message::LedgerWriteFailed { error } => {
                if let Some(out) = out {
                    let reason = io_message(error);
                    write!(
                        out,
                        "error: cannot write the door ledger: {reason} --> this door will not close if knockd dies before its stop command runs"
                    )?;
                }
                Record::new(LOG | STDERR, "ledger_write_failed").error()
            }
            Message::RunningCommand { door, command } => {
                if let Some(out) = out {
                    write!(out, "{door}: running command: {command}")?;
                }
                Record::new(LOG | VERBOSE, "command").door(door)
            }
            Message::NonZeroStatus { door, code } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{door}: command returned non-zero status code ({code})"
                    )?;
                }
                Record::new(LOG | STDERR, "command_failed")
                    .error()
                    .door(door)
            }
            Message::KilledBySignal { door, signal } => {
                if let Some(out) = out {
                    let name = nix::sys::signal::Signal::try_from(*signal)
                        .map_or("unknown signal", |s| s.as_str());
                    write!(out, "{door}: command killed by signal {signal} ({name})")?;
                }
                Record::new(LOG | STDERR, "command_failed")
                    .error()
                    .door(door)
            }
            Message::SpawnFailed { door, error } => {
                if let Some(out) = out {
                    let reason = io_message(error);
                    write!(out, "{door}: error: command fork failed! ({reason})")?;
                }
                Record::new(LOG | STDERR, "command_failed")
                    .error()
                    .door(door)
            }
            Message::CommandTruncated(CommandKind::Start) => {
                if let Some(out) = out {
                    out.write_str(
                        "error: parsed start command has been truncated! --> won't execute it",
                    )?;
                }
                Record::new(LOG | STDERR, "command_truncated").error()
            }
            Message::CommandTruncated(CommandKind::Stop) => {
                if let Some(out) = out {
                    out.write_str(
                        "error: parsed stop command has been truncated! --> won't execute start command",
                    )?;
                }
                Record::new(LOG | STDERR, "command_truncated").error()
            }
            Message::CommandDropped { source, door } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{source}: {door}: too many commands waiting, start command dropped"
                    )?;
                }
                Record::new(LOG | STDERR, "command_dropped")
                    .error()
                    .door(door)
                    .source(*source)
            }
            Message::CommandTimeout { source, door } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: command timeout")?;
                }
                Record::new(LOG | VERBOSE, "close")
                    .door(door)
                    .source(*source)
            }
            Message::Retransmission { source, door } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: resent knock ignored")?;
                }
                Record::new(DEBUG, "retransmission")
                    .door(door)
                    .source(*source)
            }
            Message::CoolingDown { source, door } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{source}: {door}: knock ignored, the door opened for it less than Cooldown ago"
                    )?;
                }
                Record::new(DEBUG, "cooling_down")
                    .door(door)
                    .source(*source)
            }
            Message::NotAllowed { source, door } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{source}: {door}: knock ignored, the source is not allowed by Allow_From/Deny_From"
                    )?;
                }
                Record::new(DEBUG, "not_allowed").door(door).source(*source)
            }
            Message::SequenceTimeout {
                source,
                door,
                stage,
            } => {
                if let Some(out) = out {
                    write!(out, "{source}: {door}: sequence timeout (stage {stage})")?;
                }
                Record::new(LOG | VERBOSE, "timeout")
                    .door(door)
                    .source(*source)
                    .stage(*stage)
            }
            Message::ReReadingConfig { path } => {
                if let Some(out) = out {
                    write!(out, "re-reading config file: {}", path.display())?;
                }
                Record::new(LOG | VERBOSE, "reload")
            }
            Message::ReloadFailed { error } => {
                if let Some(out) = out {
                    write!(out, "{error} --> keeping the previous configuration")?;
                }
                Record::new(LOG | STDERR, "reload_failed").error()
            }
            Message::DoorDisabled { door, error } => {
                if let Some(out) = out {
                    write!(out, "{error} --> door {door} disabled; the other doors run")?;
                }
                Record::new(LOG | STDERR, "door_disabled")
                    .error()
                    .door(door)
            }
            Message::ConfigWarning(warning) => {
                if let Some(out) = out {
                    write!(out, "warning: {warning}")?;
                }
                Record::new(LOG | STDERR, "config_warning").warning()
            }
            Message::ClosingLogFile { path } => {
                if let Some(out) = out {
                    write!(out, "closing log file: {}", path.display())?;
                }
                Record::new(VERBOSE, "log_closing")
            }
            Message::ReopeningLogFile { path } => {
                if let Some(out) = out {
                    write!(out, "re-opening log file: {}", path.display())?;
                }
                Record::new(LOG | VERBOSE, "log_reopened")
            }
            Message::LogFileUnavailable { error } => {
                if let Some(out) = out {
                    let reason = io_message(error);
                    write!(out, "warning: cannot open logfile: {reason}")?;
                }
                Record::new(STDERR, "log_unavailable").warning()
            }
            Message::PidFileFailed { path, error } => {
                if let Some(out) = out {
                    let reason = io_message(error);
                    write!(
                        out,
                        "could not create pid file {}: {reason}",
                        path.display()
                    )?;
                }
                Record::new(LOG | DEBUG, "pid_file_failed").error()
            }
            Message::WaitingForChildren => {
                if let Some(out) = out {
                    out.write_str("waiting for child processes...")?;
                }
                Record::new(VERBOSE, "stopping")
            }
            Message::ChildrenLeftRunning { count } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{count} command(s) still running, not waiting for them"
                    )?;
                }
                Record::new(LOG | STDERR, "commands_left_running").warning()
            }
            Message::AttemptsEvicted { count, max } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{count} knock attempt(s) dropped: more than {max} in progress"
                    )?;
                }
                Record::new(LOG | VERBOSE, "evicted").warning()
            }
            Message::StageOneSuppressed { count } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{count} further Stage 1 line(s) suppressed in the last second"
                    )?;
                }
                Record::new(LOG | VERBOSE, "stage_suppressed")
            }
            Message::SourcesRefused { count, last } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "ignored {count} knock(s) from sources that cannot knock (unspecified, broadcast, multicast, or loopback and local addresses from the wire), the last from {last}"
                    )?;
                }
                Record::new(DEBUG, "sources_refused").source(Source::with_host(*last, None))
            }
            Message::Counters(line) => {
                if let Some(out) = out {
                    write!(out, "counters: {line}")?;
                }
                Record::new(VERBOSE, "counters")
            }
            Message::Closing => {
                if let Some(out) = out {
                    out.write_str("closing...")?;
                }
                Record::new(VERBOSE, "closing")
            }
            Message::ShuttingDown => {
                if let Some(out) = out {
                    out.write_str("shutting down")?;
                }
                Record::new(LOG, "stop")
            }
            Message::OneTimeExhausted { door } => {
                if let Some(out) = out {
                    write!(out, "no more sequences left in the one time sequences file for door {door} --> disabling the door")?;
                }
                Record::new(LOG | STDERR, "one_time_exhausted")
                    .error()
                    .door(door)
            }
            Message::OneTimeUpdateFailed { door } => {
                if let Some(out) = out {
                    write!(out, "error while marking the used one time sequence for door {door} --> not opening the door")?;
                }
                Record::new(LOG | STDERR, "one_time_update_failed")
                    .error()
                    .door(door)
            }
            Message::OneTimeNext { door, sequence } => {
                if let Some(out) = out {
                    write!(out, "new sequence for door {door}: {sequence}")?;
                }
                Record::new(DEBUG, "one_time_next").door(door)
            }
            Message::CaptureLost { interface, error } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{error} --> capture on {interface} stopped, retrying every second"
                    )?;
                }
                Record::new(LOG | STDERR, "capture_lost").error()
            }
            Message::CaptureRestored { interface } => {
                if let Some(out) = out {
                    write!(out, "capture on {interface} restored")?;
                }
                Record::new(LOG, "capture_restored")
            }
            Message::AddressesChanged { interface, addrs } => {
                if let Some(out) = out {
                    write!(out, "addresses of {interface} changed:")?;
                    if addrs.is_empty() {
                        write!(out, " none")?;
                    }
                    for (i, addr) in addrs.iter().enumerate() {
                        write!(out, "{} {addr}", if i == 0 { "" } else { "," })?;
                    }
                }
                Record::new(VERBOSE, "addresses_changed")
            }
            Message::WaitingForAddress { interface } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "{interface} has no address yet: waiting for one; until then only doors with a Target can be knocked"
                    )?;
                }
                Record::new(LOG | VERBOSE, "waiting_for_address").warning()
            }
            Message::Error(error) => {
                if let Some(out) = out {
                    write!(out, "{error}")?;
                }
                Record::new(LOG | STDERR, "error").error()
            }
            Message::Config(echo) => {
                if let Some(out) = out {
                    write!(out, "{echo}")?;
                }
                Record::new(DEBUG, "config")
            }
            Message::LocalIp(addr) => {
                if let Some(out) = out {
                    write!(out, "local IP: {addr}")?;
                }
                Record::new(DEBUG, "local_ip")
            }
            Message::PcapExpression { door, expression } => {
                if let Some(out) = out {
                    write!(
                        out,
                        "adding pcap expression for door '{door}': {expression}"
                    )?;
                }
                Record::new(DEBUG, "pcap_expression").door(door)
            }
            Message::Packet {
                time,
                packet,
                wire_len,
            } => {
                if let Some(out) = out {
                    let time = DateTime::<Local>::from(*time).format("%Y-%m-%d %H:%M:%S");
                    let Packet {
                        protocol,
                        src,
                        src_port,
                        dst,
                        dst_port,
                        ..
                    } = packet;
                    write!(
                        out,
                        "{time}: {protocol}: {src}:{src_port} -> {dst}:{dst_port} {wire_len} bytes"
                    )?;
                }
                Record::new(DEBUG, "packet")
            }
            Message::RemovingFailedAttempt(src) => {
                if let Some(out) = out {
                    write!(out, "removing failed knock attempt ({src})")?;
                }
                Record::new(DEBUG, "invalidated").source(Source::with_host(*src, None))
            }
            Message::FlagMismatch { flag, required } => {
                if let Some(out) = out {
                    out.write_str("packet is not ")?;
                    if !required {
                        out.write_char('!')?;
                    }
                    write_upper(out, flag.name())?;
                    out.write_str(", ignoring...")?;
                }
                Record::new(DEBUG, "flags_ignored")
            }
            Message::Debug(line) => {
                if let Some(out) = out {
                    write!(out, "{line}")?;
                }
                Record::new(DEBUG, "debug")
            }
        })
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

fn write_upper(out: &mut dyn fmt::Write, name: &str) -> fmt::Result {
    name.chars()
        .try_for_each(|c| out.write_char(c.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use chrono::{Datelike, TimeZone};
    use knock_proto::Protocol;

    use super::*;

    fn v4() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2))
    }

    fn check(message: Message<'_>, text: &str, sinks: Sinks) {
        assert_eq!(message.to_string(), text);
        assert_eq!(message.record().sinks, sinks, "sinks of {text:?}");
    }

    fn severity(message: Message<'_>) -> Severity {
        message.record().severity
    }

    /// What syslog's priority and JSON's `level` say (knockd(8), LOGGING).
    #[test]
    fn failures_are_errors_refusals_warnings_and_the_rest_notices() {
        let source = Source::with_host(v4(), None);
        let failed = io::Error::from_raw_os_error(libc::EAGAIN);
        for message in [
            Message::NonZeroStatus { door: "d", code: 1 },
            Message::KilledBySignal {
                door: "d",
                signal: 9,
            },
            Message::SpawnFailed {
                door: "d",
                error: &failed,
            },
            Message::CommandTruncated(CommandKind::Start),
            Message::CommandDropped { source, door: "d" },
            Message::OneTimeExhausted { door: "d" },
            Message::OneTimeUpdateFailed { door: "d" },
            Message::CaptureLost {
                interface: "eth0",
                error: &"gone",
            },
            Message::ReloadFailed { error: &"bad" },
            Message::DoorDisabled {
                door: "d",
                error: &"bad",
            },
            Message::LedgerWriteFailed { error: &failed },
            Message::Error(&"pcap: boom"),
        ] {
            assert_eq!(severity(message), Severity::Error, "{message}");
        }
        for message in [
            Message::OpenRefused {
                source,
                door: "d",
                cap: OpenCap::Door(1),
            },
            Message::ConfigWarning(&"odd"),
            Message::AttemptsEvicted { count: 1, max: 1 },
            Message::WaitingForAddress { interface: "wg0" },
            Message::ChildrenLeftRunning { count: 1 },
        ] {
            assert_eq!(severity(message), Severity::Warning, "{message}");
        }
        let stage = Message::Stage {
            source,
            door: "d",
            stage: 1,
        };
        assert_eq!(severity(stage), Severity::Notice);
        assert_eq!(severity(Message::ShuttingDown), Severity::Notice);
        assert_eq!(severity(Message::Closing), Severity::Info);
        assert_eq!(severity(Message::LocalIp(v4())), Severity::Debug);
    }

    #[test]
    fn knock_progress_lines() {
        let plain = Source::with_host(v4(), None);
        let named = Source::with_host(v4(), Some("knocker-b.test"));
        check(
            Message::Stage {
                source: plain,
                door: "seq3",
                stage: 1,
            },
            "198.18.1.2: seq3: Stage 1",
            LOG | VERBOSE,
        );
        check(
            Message::Stage {
                source: named,
                door: "seq2",
                stage: 2,
            },
            "198.18.1.2 (knocker-b.test): seq2: Stage 2",
            LOG | VERBOSE,
        );
        check(
            Message::OpenSesame {
                source: plain,
                door: "seq3",
            },
            "198.18.1.2: seq3: OPEN SESAME",
            LOG | VERBOSE,
        );
        check(
            Message::SequenceTimeout {
                source: named,
                door: "seq2",
                stage: 1,
            },
            "198.18.1.2 (knocker-b.test): seq2: sequence timeout (stage 1)",
            LOG | VERBOSE,
        );
        check(
            Message::Retransmission {
                source: plain,
                door: "ssh",
            },
            "198.18.1.2: ssh: resent knock ignored",
            DEBUG,
        );
        check(
            Message::CoolingDown {
                source: plain,
                door: "udp",
            },
            "198.18.1.2: udp: knock ignored, the door opened for it less than Cooldown ago",
            DEBUG,
        );
        check(
            Message::NotAllowed {
                source: plain,
                door: "ssh",
            },
            "198.18.1.2: ssh: knock ignored, the source is not allowed by Allow_From/Deny_From",
            DEBUG,
        );
        let v6 = Source::with_host(IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2)), None);
        check(
            Message::Stage {
                source: v6,
                door: "d",
                stage: 3,
            },
            "fd00:1::2: d: Stage 3",
            LOG | VERBOSE,
        );
    }

    #[test]
    fn command_lines() {
        let source = Source::with_host(v4(), None);
        check(
            Message::RunningCommand {
                door: "seq3",
                command: "echo 198.18.1.2",
            },
            "seq3: running command: echo 198.18.1.2",
            LOG | VERBOSE,
        );
        check(
            Message::NonZeroStatus {
                door: "fails",
                code: 1,
            },
            "fails: command returned non-zero status code (1)",
            LOG | STDERR,
        );
        check(
            Message::KilledBySignal {
                door: "d",
                signal: 9,
            },
            "d: command killed by signal 9 (SIGKILL)",
            LOG | STDERR,
        );
        let error = io::Error::from_raw_os_error(libc::EAGAIN);
        check(
            Message::SpawnFailed {
                door: "d",
                error: &error,
            },
            "d: error: command fork failed! (Resource temporarily unavailable)",
            LOG | STDERR,
        );
        check(
            Message::CommandTruncated(CommandKind::Start),
            "error: parsed start command has been truncated! --> won't execute it",
            LOG | STDERR,
        );
        check(
            Message::CommandTruncated(CommandKind::Stop),
            "error: parsed stop command has been truncated! --> won't execute start command",
            LOG | STDERR,
        );
        check(
            Message::CommandDropped { source, door: "d" },
            "198.18.1.2: d: too many commands waiting, start command dropped",
            LOG | STDERR,
        );
        check(
            Message::CommandTimeout {
                source,
                door: "startstop",
            },
            "198.18.1.2: startstop: command timeout",
            LOG | VERBOSE,
        );
        check(
            Message::ClosingOnRequest {
                source,
                door: "web",
            },
            "198.18.1.2: web: closing on request (knockd close)",
            LOG | VERBOSE,
        );
    }

    #[test]
    fn lifecycle_lines() {
        let path = Path::new("/tmp/t/knockd.conf");
        check(
            Message::Listening {
                interface: "kref-va",
            },
            "listening on kref-va...",
            VERBOSE,
        );
        check(
            Message::StartingUp {
                interface: "kref-va",
            },
            "starting up, listening on kref-va",
            LOG,
        );
        check(
            Message::ReReadingConfig { path },
            "re-reading config file: /tmp/t/knockd.conf",
            LOG | VERBOSE,
        );
        check(
            Message::ReloadFailed {
                error: &"/tmp/t/knockd.conf: line 11: syntax error",
            },
            "/tmp/t/knockd.conf: line 11: syntax error --> keeping the previous configuration",
            LOG | STDERR,
        );
        check(
            Message::ClosingLogFile {
                path: Path::new("/var/log/k.log"),
            },
            "closing log file: /var/log/k.log",
            VERBOSE,
        );
        check(
            Message::ReopeningLogFile {
                path: Path::new("/var/log/k.log"),
            },
            "re-opening log file: /var/log/k.log",
            LOG | VERBOSE,
        );
        let missing = io::Error::from_raw_os_error(libc::ENOENT);
        check(
            Message::LogFileUnavailable { error: &missing },
            "warning: cannot open logfile: No such file or directory",
            STDERR,
        );
        check(
            Message::PidFileFailed {
                path: Path::new("/run/k.pid"),
                error: &missing,
            },
            "could not create pid file /run/k.pid: No such file or directory",
            LOG | DEBUG,
        );
        check(
            Message::WaitingForChildren,
            "waiting for child processes...",
            VERBOSE,
        );
        check(
            Message::ChildrenLeftRunning { count: 2 },
            "2 command(s) still running, not waiting for them",
            LOG | STDERR,
        );
        check(
            Message::AttemptsEvicted {
                count: 3,
                max: 100_000,
            },
            "3 knock attempt(s) dropped: more than 100000 in progress",
            LOG | VERBOSE,
        );
        check(
            Message::StageOneSuppressed { count: 270_000 },
            "270000 further Stage 1 line(s) suppressed in the last second",
            LOG | VERBOSE,
        );
        check(
            Message::SourcesRefused {
                count: 2,
                last: "224.0.0.1".parse().unwrap(),
            },
            "ignored 2 knock(s) from sources that cannot knock (unspecified, broadcast, multicast, or loopback and local addresses from the wire), the last from 224.0.0.1",
            DEBUG,
        );
        check(
            Message::Counters(&"engine: 2 attempts started"),
            "counters: engine: 2 attempts started",
            VERBOSE,
        );
        check(
            Message::Status(&"knockd 0.9.0 (pid 7), up 3s"),
            "status: knockd 0.9.0 (pid 7), up 3s",
            LOG | VERBOSE,
        );
        check(
            Message::ControlSocketUnavailable {
                error: &"control socket /run/knockd.sock: Permission denied",
            },
            "control socket /run/knockd.sock: Permission denied --> running without the control socket: knockd status and knockd close cannot reach this knockd (its doors work as usual)",
            LOG | STDERR,
        );
        check(
            Message::DoorDisabled {
                door: "typo",
                error: &"k.conf: line 4: section typo: port abc is invalid",
            },
            "k.conf: line 4: section typo: port abc is invalid --> door typo disabled; the other doors run",
            LOG | STDERR,
        );
        check(
            Message::ConfigWarning(&"k.conf: line 3: seq_timeout = 5s: read as 5"),
            "warning: k.conf: line 3: seq_timeout = 5s: read as 5",
            LOG | STDERR,
        );
        check(
            Message::InterfaceFromDefaultRoute { interface: "ens3" },
            "no interface configured and no eth0: listening on ens3, the interface of the default route",
            LOG | VERBOSE,
        );
        check(Message::Closing, "closing...", VERBOSE);
        check(Message::ShuttingDown, "shutting down", LOG);
        check(Message::Error(&"pcap: boom"), "pcap: boom", LOG | STDERR);
    }

    #[test]
    fn one_time_sequence_lines() {
        check(
            Message::OneTimeExhausted { door: "otp" },
            "no more sequences left in the one time sequences file for door otp --> disabling the door",
            LOG | STDERR,
        );
        check(
            Message::OneTimeUpdateFailed { door: "otp" },
            "error while marking the used one time sequence for door otp --> not opening the door",
            LOG | STDERR,
        );
        check(
            Message::CaptureLost {
                interface: "eth0",
                error: &"pcap: The interface disappeared (eth0)",
            },
            "pcap: The interface disappeared (eth0) --> capture on eth0 stopped, retrying every second",
            LOG | STDERR,
        );
        check(
            Message::CaptureRestored { interface: "eth0" },
            "capture on eth0 restored",
            LOG,
        );
        let addrs = [
            IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1)),
        ];
        check(
            Message::AddressesChanged {
                interface: "eth0",
                addrs: &addrs,
            },
            "addresses of eth0 changed: 198.18.1.1, fd00:1::1",
            VERBOSE,
        );
        check(
            Message::AddressesChanged {
                interface: "eth0",
                addrs: &[],
            },
            "addresses of eth0 changed: none",
            VERBOSE,
        );
        check(
            Message::WaitingForAddress { interface: "wg0" },
            "wg0 has no address yet: waiting for one; until then only doors with a Target can be knocked",
            LOG | VERBOSE,
        );
        let sequence = Sequence::parse("2001,2002:udp,2003").unwrap();
        check(
            Message::OneTimeNext {
                door: "otp",
                sequence: &sequence,
            },
            "new sequence for door otp: 2001:tcp,2002:udp,2003:tcp",
            DEBUG,
        );
    }

    #[test]
    fn debug_lines() {
        check(Message::LocalIp(v4()), "local IP: 198.18.1.2", DEBUG);
        check(
            Message::PcapExpression {
                door: "seq3",
                expression: "((dst host 198.18.1.1))",
            },
            "adding pcap expression for door 'seq3': ((dst host 198.18.1.1))",
            DEBUG,
        );
        check(
            Message::RemovingFailedAttempt(v4()),
            "removing failed knock attempt (198.18.1.2)",
            DEBUG,
        );
        check(
            Message::FlagMismatch {
                flag: TcpFlag::Syn,
                required: true,
            },
            "packet is not SYN, ignoring...",
            DEBUG,
        );
        check(
            Message::FlagMismatch {
                flag: TcpFlag::Ack,
                required: false,
            },
            "packet is not !ACK, ignoring...",
            DEBUG,
        );
        check(
            Message::Debug(&"ethernet interface detected"),
            "ethernet interface detected",
            DEBUG,
        );
    }

    #[test]
    fn config_echo_lines() {
        check(
            Message::Config(ConfigEcho::NewSection("ssh")),
            "config: new section: 'ssh'",
            DEBUG,
        );
        check(
            Message::Config(ConfigEcho::UseSyslog),
            "config: usesyslog",
            DEBUG,
        );
        check(
            Message::Config(ConfigEcho::TcpFlag {
                flag: TcpFlag::Psh,
                required: false,
            }),
            "config: tcp flag: !PSH",
            DEBUG,
        );
        check(
            Message::Config(ConfigEcho::Setting {
                door: None,
                key: "interface",
                value: &"eth0",
            }),
            "config: interface: eth0",
            DEBUG,
        );
        check(
            Message::Config(ConfigEcho::Setting {
                door: Some("ssh"),
                key: "cmd_timeout",
                value: &10,
            }),
            "config: ssh: cmd_timeout: 10",
            DEBUG,
        );
    }

    /// 0.8 printed November as `-10-` (B16); the month must be the real one.
    #[test]
    fn packet_line_has_the_real_month() {
        let local = Local
            .with_ymd_and_hms(2026, 11, 24, 17, 46, 30)
            .single()
            .unwrap();
        let time = SystemTime::from(local) + Duration::from_millis(250);
        let packet = Packet {
            src: v4(),
            dst: IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
            protocol: Protocol::Tcp,
            src_port: 32820,
            dst_port: 7000,
            tcp_flags: 0x02,
        };
        let message = Message::Packet {
            time,
            packet: &packet,
            wire_len: 74,
        };
        assert_eq!(local.month(), 11);
        check(
            message,
            "2026-11-24 17:46:30: tcp: 198.18.1.2:32820 -> 198.18.1.1:7000 74 bytes",
            DEBUG,
        );
        let january = Local
            .with_ymd_and_hms(2027, 1, 5, 8, 0, 1)
            .single()
            .unwrap();
        let datagram = Packet {
            protocol: Protocol::Udp,
            tcp_flags: 0,
            ..packet
        };
        let udp = Message::Packet {
            time: january.into(),
            packet: &datagram,
            wire_len: 43,
        };
        assert!(
            udp.to_string().starts_with("2027-01-05 08:00:01: udp: "),
            "{udp}"
        );
    }
}
