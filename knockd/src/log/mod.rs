//! knockd 0.8's log lines and where they go.
//!
//! Design: a plain [`Logger`] that the server owns and passes by `&mut` to
//! whoever logs, over the typed catalogue in [`message`], one enum per
//! subsystem. Each message's text and record (sinks, event name, severity,
//! door, knocker, stage) are defined once, in one arm of its enum's
//! `describe`; [`Logger::emit`] first asks only
//! for the record, and renders the text once, into a reused buffer, only when
//! one of its sinks is on: the log file (`[YYYY-MM-DD HH:MM] ` prefix, local
//! time), syslog (at the message's severity), verbose or debug stdout and
//! stderr, as the message and the `-v`/`-D` flags say. A `-D` line is never
//! formatted without `-D`. With `LogFormat = json` the log file and stdout get
//! the record and the text as one JSON object per line ([`json`]); syslog and
//! stderr keep the text.
//!
//! `tracing` is not used: its events would be a second, unread path that
//! formats every line, and its global subscriber would hide the state the
//! server changes at run time (reopening the file on SIGHUP, switching syslog
//! on) behind a lock; a struct with injectable stdout and stderr writers is
//! synchronous, needs no global state, and gives each test its own sinks.
//!
//! Fault tolerance: nothing here returns an error or panics on I/O. A line
//! that cannot be written is dropped; a log file that cannot be opened is
//! reported once on stderr (`warning: cannot open logfile: ...`, as 0.8) and
//! retried on each later line; a log file deleted under the daemon is
//! recreated at its path on the next line.

mod file;
mod json;
mod message;
mod syslog;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::Local;
use knockd_core::config::LogFormat;

use file::LogFile;
pub use message::{
    CaptureMessage, CommandKind, CommandMessage, ConfigEcho, ConfigMessage, ControlMessage,
    DaemonMessage, IgnoredMessage, KnockMessage, LedgerMessage, Message, NftMessage, OpenCap,
    PrivsepMessage, Sinks, Source,
};
use syslog::Syslog;

/// Which sinks are on: the global `[options]` and the `-v`/`-D` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// `LogFile` / `-g`: append log lines to this file.
    pub log_file: Option<PathBuf>,
    /// `UseSyslog`: send log lines to syslog.
    pub use_syslog: bool,
    /// `-v`: print verbose lines on stdout.
    pub verbose: bool,
    /// `-D`: print debug lines on stdout.
    pub debug: bool,
    /// `--log-format`, else `LogFormat`: how log file and stdout lines are
    /// written. Syslog and stderr always get the text.
    pub format: LogFormat,
}

/// The sinks of knockd's messages.
pub struct Logger {
    file: Option<LogFile>,
    syslog: Option<Syslog>,
    verbose: bool,
    debug: bool,
    stdout: Box<dyn Write>,
    stderr: Box<dyn Write>,
    format: LogFormat,
    /// The text of the message being emitted, reused from line to line.
    text: String,
    /// Its JSON line, with [`LogFormat::Json`].
    json: String,
    /// Whether log file lines wait for [`Logger::flush`].
    buffered: bool,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("log_file", &self.log_file())
            .field("syslog", &self.syslog.is_some())
            .field("verbose", &self.verbose)
            .field("debug", &self.debug)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// A logger on the process's stdout and stderr. Opens the log file (a
    /// failure prints `warning: cannot open logfile: <strerror>` on stderr and
    /// logging goes on without it) and, when enabled, syslog.
    pub fn new(settings: &LogSettings) -> Logger {
        Logger::with_writers(settings, Box::new(io::stdout()), Box::new(io::stderr()))
    }

    /// A logger printing on the given writers instead of stdout and stderr.
    pub fn with_writers(
        settings: &LogSettings,
        stdout: Box<dyn Write>,
        stderr: Box<dyn Write>,
    ) -> Logger {
        let mut logger = Logger {
            file: None,
            syslog: settings.use_syslog.then(Syslog::open),
            verbose: settings.verbose,
            debug: settings.debug,
            stdout,
            stderr,
            format: settings.format,
            text: String::new(),
            json: String::new(),
            buffered: false,
        };
        if let Some(path) = &settings.log_file {
            logger.open_file(path.clone());
        }
        logger
    }

    /// Whether `-D` lines are printed; lets callers skip building costly ones.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// The log file's path, if one is configured.
    pub fn log_file(&self) -> Option<&Path> {
        self.file.as_ref().map(LogFile::path)
    }

    /// Sends a message (a [`Message`] or any subsystem's, such as a
    /// [`KnockMessage`]) to its sinks; renders it only if one of them is on.
    /// With [`LogFormat::Json`] the log file and stdout get its JSON line.
    pub fn emit<'m>(&mut self, message: &(impl Into<Message<'m>> + Copy)) {
        let message: Message<'m> = (*message).into();
        let record = message.record();
        let sinks = record.sinks;
        let to_log = sinks.contains(Sinks::LOG) && (self.file.is_some() || self.syslog.is_some());
        let to_stdout = (self.verbose && sinks.contains(Sinks::VERBOSE))
            || (self.debug && sinks.contains(Sinks::DEBUG));
        let to_stderr = sinks.contains(Sinks::STDERR);
        if !(to_log || to_stdout || to_stderr) {
            return;
        }
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        if message.write(&mut text).is_ok() {
            let now = Local::now();
            let json = (self.format == LogFormat::Json
                && ((to_log && self.file.is_some()) || to_stdout))
                .then(|| {
                    self.json.clear();
                    json::write_line(&mut self.json, now, &record, &text);
                    self.json.as_str()
                });
            if to_log {
                if let Some(file) = self.file.as_mut() {
                    match json {
                        Some(line) => file.write_line(&"", line),
                        None => file.write_line(&now.format("[%Y-%m-%d %H:%M] "), &text),
                    }
                    if !self.buffered {
                        file.flush();
                    }
                }
                if let Some(syslog) = &self.syslog {
                    syslog.send(record.severity, &text);
                }
            }
            if to_stdout {
                print_line(&mut self.stdout, json.unwrap_or(&text));
            }
            if to_stderr {
                print_line(&mut self.stderr, &text);
            }
        }
        self.text = text;
    }

    /// Writes later lines of the log file and stdout in `format` (a reload
    /// that changed `LogFormat`).
    pub fn set_format(&mut self, format: LogFormat) {
        self.format = format;
    }

    /// The privilege split's watcher: the log file is never (re)opened by
    /// this process, only handed over by the opener ([`Logger::adopt_file`]).
    pub fn hand_over_files(&mut self) {
        if let Some(file) = self.file.as_mut() {
            file.hand_over();
        }
    }

    /// Writes the log file's lines to `file`, which the opener (re)opened,
    /// from now on.
    pub fn adopt_file(&mut self, file: File) {
        let log = self.file.get_or_insert_with(|| {
            // A LogFile first named by a reload: the path is the opener's.
            let mut log = LogFile::new(PathBuf::new());
            log.hand_over();
            log
        });
        log.adopt(file);
    }

    /// The open log file, to hand to the watcher.
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref().and_then(LogFile::file)
    }

    /// Lets log file lines wait for [`Logger::flush`] (the server flushes
    /// once per wake-up), so a flood of lines costs one write per batch.
    pub fn set_buffered(&mut self, buffered: bool) {
        self.buffered = buffered;
        self.flush();
    }

    /// Writes the log file lines that wait.
    pub fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            file.flush();
        }
    }

    /// Closes the log file and opens it again in append mode, at `new_path`
    /// if given, else at the current path (SIGHUP, logrotate's `postrotate`).
    /// Prints `closing log file: <old>` (verbose) and logs
    /// `re-opening log file: <path>`, which lands in the reopened file. Does
    /// nothing when no log file was ever configured.
    pub fn reopen(&mut self, new_path: Option<PathBuf>) {
        // Lines logged before the reopen belong in the old file.
        self.flush();
        let old = self.file.take();
        if let Some(old) = &old {
            self.emit(&DaemonMessage::ClosingLogFile { path: old.path() });
        }
        let Some(path) = new_path.or_else(|| old.map(|f| f.path().to_owned())) else {
            return;
        };
        self.open_file(path.clone());
        self.emit(&DaemonMessage::ReopeningLogFile { path: &path });
    }

    /// Turns syslog on (a reload that added `UseSyslog`); as in 0.8 it cannot
    /// be turned off again.
    pub fn enable_syslog(&mut self) {
        if self.syslog.is_none() {
            self.syslog = Some(Syslog::open());
        }
    }

    fn open_file(&mut self, path: PathBuf) {
        let mut file = LogFile::new(path);
        if let Err(error) = file.open() {
            self.emit(&DaemonMessage::LogFileUnavailable { error: &error });
        }
        self.file = Some(file);
    }
}

/// Writes one line and flushes it, as stdout may be a pipe or file read line
/// by line; errors (a closed pipe) are ignored so printing never stops knockd.
/// Writes `text` and a newline, byte for byte as knockd.conf held it.
fn print_line(out: &mut dyn Write, text: &str) {
    let bytes = knockd_core::bytes::encode(text);
    let _ = out
        .write_all(&bytes)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// Loggers whose output a test can read back.
#[cfg(test)]
pub(crate) mod testing {
    use std::cell::RefCell;
    use std::io::{self, Write};
    use std::path::PathBuf;
    use std::rc::Rc;

    use knockd_core::config::LogFormat;

    use super::{LogSettings, Logger};

    /// A writer into a buffer shared with the test.
    #[derive(Clone, Default)]
    pub(crate) struct SharedBuf(Rc<RefCell<Vec<u8>>>);

    impl SharedBuf {
        /// Everything written so far.
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.borrow()).into_owned()
        }
    }

    impl Write for SharedBuf {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What a captured logger wrote: stdout, stderr and a log file in a temporary directory.
    pub(crate) struct Captured {
        pub(crate) stdout: SharedBuf,
        pub(crate) stderr: SharedBuf,
        pub(crate) log_path: PathBuf,
        pub(crate) dir: tempfile::TempDir,
    }

    impl Captured {
        /// The log file's lines without their `[YYYY-MM-DD HH:MM] ` prefix.
        pub(crate) fn log_lines(&self) -> Vec<String> {
            let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            text.lines()
                .map(|line| line.get(PREFIX_LEN..).unwrap_or(line).to_owned())
                .collect()
        }
    }

    /// Length of `[YYYY-MM-DD HH:MM] `.
    pub(crate) const PREFIX_LEN: usize = 19;

    /// A logger writing text lines to a fresh log file and to buffers.
    pub(crate) fn capture(verbose: bool, debug: bool) -> (Logger, Captured) {
        capture_as(LogFormat::Text, verbose, debug)
    }

    /// A logger writing lines in `format` to a fresh log file and to buffers.
    pub(crate) fn capture_as(format: LogFormat, verbose: bool, debug: bool) -> (Logger, Captured) {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("knockd.log");
        let stdout = SharedBuf::default();
        let stderr = SharedBuf::default();
        let settings = LogSettings {
            log_file: Some(log_path.clone()),
            use_syslog: false,
            verbose,
            debug,
            format,
        };
        let logger = Logger::with_writers(
            &settings,
            Box::new(stdout.clone()),
            Box::new(stderr.clone()),
        );
        let captured = Captured {
            stdout,
            stderr,
            log_path,
            dir,
        };
        (logger, captured)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::SystemTime;

    use knock_proto::Protocol;

    use super::testing::{capture, PREFIX_LEN};
    use super::*;
    use knockd_core::Packet;

    fn source() -> Source<'static> {
        Source::with_host(IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)), None)
    }

    /// Checks `[YYYY-MM-DD HH:MM] `, the regex `^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}\] `.
    fn has_prefix(line: &str) -> bool {
        let pattern = "[dddd-dd-dd dd:dd] ";
        line.len() > pattern.len()
            && line.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
                b'd' => c.is_ascii_digit(),
                _ => c == p,
            })
    }

    /// One of each kind of message, as the server logs them on a typical run.
    fn run(logger: &mut Logger) {
        let s = source();
        let error = io::Error::from_raw_os_error(libc::ENOENT);
        let messages: [Message<'_>; 16] = [
            CaptureMessage::Listening { interface: "eth0" }.into(),
            DaemonMessage::StartingUp { interface: "eth0" }.into(),
            CaptureMessage::LocalIp(s.addr).into(),
            KnockMessage::Stage {
                source: s,
                door: "ssh",
                stage: 1,
            }
            .into(),
            KnockMessage::OpenSesame {
                source: s,
                door: "ssh",
            }
            .into(),
            CommandMessage::RunningCommand {
                door: "ssh",
                command: "open 198.18.1.2",
            }
            .into(),
            CommandMessage::NonZeroStatus {
                door: "ssh",
                code: 3,
            }
            .into(),
            CommandMessage::CommandTimeout {
                source: s,
                door: "ssh",
            }
            .into(),
            KnockMessage::SequenceTimeout {
                source: s,
                door: "ssh",
                stage: 2,
            }
            .into(),
            ConfigMessage::ReReadingConfig {
                path: Path::new("/etc/knockd.conf"),
            }
            .into(),
            IgnoredMessage::RemovingFailedAttempt(s.addr).into(),
            KnockMessage::OneTimeExhausted { door: "otp" }.into(),
            DaemonMessage::PidFileFailed {
                path: Path::new("/run/knockd.pid"),
                error: &error,
            }
            .into(),
            CommandMessage::WaitingForChildren.into(),
            DaemonMessage::Closing.into(),
            DaemonMessage::ShuttingDown.into(),
        ];
        for message in &messages {
            logger.emit(message);
        }
    }

    const LOGGED: [&str; 11] = [
        "starting up, listening on eth0",
        "198.18.1.2: ssh: Stage 1",
        "198.18.1.2: ssh: OPEN SESAME",
        "ssh: running command: open 198.18.1.2",
        "ssh: command returned non-zero status code (3)",
        "198.18.1.2: ssh: command timeout",
        "198.18.1.2: ssh: sequence timeout (stage 2)",
        "re-reading config file: /etc/knockd.conf",
        "no more sequences left in the one time sequences file for door otp --> disabling the door",
        "could not create pid file /run/knockd.pid: No such file or directory",
        "shutting down",
    ];

    const VERBOSE: [&str; 9] = [
        "listening on eth0...",
        "198.18.1.2: ssh: Stage 1",
        "198.18.1.2: ssh: OPEN SESAME",
        "ssh: running command: open 198.18.1.2",
        "198.18.1.2: ssh: command timeout",
        "198.18.1.2: ssh: sequence timeout (stage 2)",
        "re-reading config file: /etc/knockd.conf",
        "waiting for child processes...",
        "closing...",
    ];

    const STDERR: [&str; 2] = [
        "ssh: command returned non-zero status code (3)",
        "no more sequences left in the one time sequences file for door otp --> disabling the door",
    ];

    const DEBUG: [&str; 3] = [
        "local IP: 198.18.1.2",
        "removing failed knock attempt (198.18.1.2)",
        "could not create pid file /run/knockd.pid: No such file or directory",
    ];

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn log_file_gets_exact_lines_without_blank_ones() {
        let (mut logger, captured) = capture(false, false);
        run(&mut logger);
        let bytes = fs::read_to_string(&captured.log_path).unwrap();
        assert!(bytes.ends_with('\n'));
        let raw: Vec<&str> = bytes.lines().collect();
        assert_eq!(raw.len(), LOGGED.len(), "{bytes}");
        for (line, expected) in raw.iter().zip(LOGGED) {
            assert!(has_prefix(line), "{line:?}");
            assert_eq!(line.get(PREFIX_LEN..), Some(expected));
        }
        // The stamp is the local time of writing, to the minute.
        let stamp = Local::now().format("[%Y-%m-%d ").to_string();
        assert!(bytes.starts_with(&stamp), "{bytes}");
    }

    /// With the JSON format the log file and stdout get one object per
    /// line, holding the same text; stderr keeps the text.
    #[test]
    fn json_format_writes_objects_to_the_file_and_stdout_and_text_to_stderr() {
        let (mut logger, captured) = testing::capture_as(LogFormat::Json, true, false);
        run(&mut logger);
        let bytes = fs::read_to_string(&captured.log_path).unwrap();
        let file: Vec<&str> = bytes.lines().collect();
        assert_eq!(file.len(), LOGGED.len(), "{bytes}");
        for (line, expected) in file.iter().zip(LOGGED) {
            assert!(line.starts_with("{\"time\":\""), "{line}");
            assert!(
                line.ends_with(&format!(",\"message\":\"{expected}\"}}")),
                "{line}"
            );
        }
        assert!(file[1].contains("\"event\":\"stage\",\"level\":\"notice\",\"door\":\"ssh\",\"source\":\"198.18.1.2\",\"stage\":1,"), "{}", file[1]);
        assert!(
            file[4].contains("\"event\":\"command_failed\",\"level\":\"err\","),
            "{}",
            file[4]
        );
        let stdout = captured.stdout.text();
        let printed = lines(&stdout);
        assert_eq!(printed.len(), VERBOSE.len());
        assert!(
            printed[0].contains(
                "\"event\":\"listening\",\"level\":\"info\",\"message\":\"listening on eth0...\"}"
            ),
            "{}",
            printed[0]
        );
        assert_eq!(lines(&captured.stderr.text()), STDERR);
    }

    #[test]
    fn quiet_run_prints_errors_only() {
        let (mut logger, captured) = capture(false, false);
        run(&mut logger);
        assert_eq!(captured.stdout.text(), "");
        assert_eq!(lines(&captured.stderr.text()), STDERR);
    }

    #[test]
    fn verbose_run_prints_verbose_lines_without_timestamps() {
        let (mut logger, captured) = capture(true, false);
        run(&mut logger);
        assert_eq!(lines(&captured.stdout.text()), VERBOSE);
        assert_eq!(lines(&captured.stderr.text()), STDERR);
    }

    #[test]
    fn debug_run_prints_debug_lines_but_no_stage_lines() {
        let (mut logger, captured) = capture(false, true);
        run(&mut logger);
        assert_eq!(lines(&captured.stdout.text()), DEBUG);
        assert_eq!(captured.log_lines(), LOGGED);
    }

    #[test]
    fn verbose_and_debug_share_stdout_in_order() {
        let (mut logger, captured) = capture(true, true);
        run(&mut logger);
        let stdout = captured.stdout.text();
        let printed = lines(&stdout);
        assert_eq!(printed.len(), VERBOSE.len() + DEBUG.len());
        assert_eq!(
            printed.get(..3),
            Some(
                &[
                    "listening on eth0...",
                    "local IP: 198.18.1.2",
                    "198.18.1.2: ssh: Stage 1"
                ][..]
            )
        );
    }

    #[test]
    fn reopen_after_rename_keeps_old_lines_in_the_renamed_file() {
        let (mut logger, captured) = capture(true, false);
        logger.emit(&DaemonMessage::StartingUp { interface: "eth0" });
        let rotated = captured.dir.path().join("knockd.log.1");
        fs::rename(&captured.log_path, &rotated).unwrap();
        // Until the reopen, lines follow the open file to its new name.
        logger.emit(&KnockMessage::OpenSesame {
            source: source(),
            door: "ssh",
        });
        logger.reopen(None);
        logger.emit(&DaemonMessage::ShuttingDown);

        let old = fs::read_to_string(&rotated).unwrap();
        let old: Vec<_> = old.lines().filter_map(|l| l.get(PREFIX_LEN..)).collect();
        assert_eq!(
            old,
            [
                "starting up, listening on eth0",
                "198.18.1.2: ssh: OPEN SESAME"
            ]
        );
        let path = captured.log_path.display();
        assert_eq!(
            captured.log_lines(),
            [
                format!("re-opening log file: {path}"),
                "shutting down".to_owned()
            ]
        );
        let stdout = captured.stdout.text();
        assert!(
            stdout.contains(&format!(
                "closing log file: {path}\nre-opening log file: {path}\n"
            )),
            "{stdout}"
        );
    }

    #[test]
    fn reopen_can_move_to_a_new_path() {
        let (mut logger, captured) = capture(false, false);
        let new_path = captured.dir.path().join("other.log");
        logger.reopen(Some(new_path.clone()));
        logger.emit(&DaemonMessage::ShuttingDown);
        assert_eq!(logger.log_file(), Some(new_path.as_path()));
        let new = fs::read_to_string(&new_path).unwrap();
        assert!(new.ends_with("] shutting down\n"), "{new}");
        assert_eq!(captured.log_lines(), Vec::<String>::new());
    }

    #[test]
    fn deleted_log_file_is_recreated() {
        let (mut logger, captured) = capture(false, false);
        logger.emit(&DaemonMessage::StartingUp { interface: "eth0" });
        fs::remove_file(&captured.log_path).unwrap();
        logger.emit(&DaemonMessage::ShuttingDown);
        assert_eq!(captured.log_lines(), ["shutting down"]);
    }

    #[test]
    fn unopenable_log_file_warns_and_logging_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let missing_dir = dir.path().join("no/such/dir/knockd.log");
        let stderr = testing::SharedBuf::default();
        let stdout = testing::SharedBuf::default();
        let settings = LogSettings {
            log_file: Some(missing_dir.clone()),
            verbose: true,
            ..LogSettings::default()
        };
        let mut logger = Logger::with_writers(
            &settings,
            Box::new(stdout.clone()),
            Box::new(stderr.clone()),
        );
        logger.emit(&KnockMessage::Stage {
            source: source(),
            door: "d",
            stage: 1,
        });
        logger.reopen(None);
        assert_eq!(
            lines(&stderr.text()),
            ["warning: cannot open logfile: No such file or directory"; 2]
        );
        assert!(stdout.text().starts_with("198.18.1.2: d: Stage 1\n"));
        // Once the directory exists, the next line recreates the file.
        fs::create_dir_all(missing_dir.parent().unwrap()).unwrap();
        logger.emit(&DaemonMessage::ShuttingDown);
        assert!(fs::read_to_string(&missing_dir)
            .unwrap()
            .ends_with("] shutting down\n"));
    }

    #[test]
    fn reopen_without_a_log_file_does_nothing() {
        let stderr = testing::SharedBuf::default();
        let stdout = testing::SharedBuf::default();
        let settings = LogSettings {
            verbose: true,
            ..LogSettings::default()
        };
        let mut logger = Logger::with_writers(
            &settings,
            Box::new(stdout.clone()),
            Box::new(stderr.clone()),
        );
        logger.reopen(None);
        assert_eq!(stdout.text(), "");
        assert_eq!(stderr.text(), "");
        assert_eq!(logger.log_file(), None);
    }

    #[test]
    #[cfg(target_os = "linux")] // reads /proc
    fn log_file_is_not_inherited_by_children() {
        let (mut logger, captured) = capture(false, false);
        logger.emit(&DaemonMessage::ShuttingDown);
        let listing = std::process::Command::new("/bin/sh")
            .args(["-c", "ls -l /proc/$$/fd"])
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            !listing.contains(captured.log_path.to_str().unwrap()),
            "{listing}"
        );
    }

    #[test]
    fn packet_debug_line_reaches_stdout() {
        let (mut logger, captured) = capture(false, true);
        let s = source();
        let packet = Packet {
            src: s.addr,
            dst: s.addr,
            protocol: Protocol::Udp,
            src_port: 5,
            dst_port: 6,
            tcp_flags: 0,
        };
        logger.emit(&CaptureMessage::Packet {
            time: SystemTime::now(),
            packet: &packet,
            wire_len: 43,
        });
        let month = Local::now().format("-%m-").to_string();
        let stdout = captured.stdout.text();
        assert_eq!(stdout.get(4..8), Some(month.as_str()), "{stdout}");
        assert!(stdout.ends_with(": udp: 198.18.1.2:5 -> 198.18.1.2:6 43 bytes\n"));
    }
}
