//! Start, stop, the pid file, the log file, errors and debug lines.

use super::*;

#[test]
fn daemon_lines() {
    check(
        DaemonMessage::StartingUp {
            interface: "kref-va",
        },
        "starting up, listening on kref-va",
        LOG,
    );
    check(
        DaemonMessage::ClosingLogFile {
            path: Path::new("/var/log/k.log"),
        },
        "closing log file: /var/log/k.log",
        VERBOSE,
    );
    check(
        DaemonMessage::ReopeningLogFile {
            path: Path::new("/var/log/k.log"),
        },
        "re-opening log file: /var/log/k.log",
        LOG | VERBOSE,
    );
    let missing = io::Error::from_raw_os_error(libc::ENOENT);
    check(
        DaemonMessage::LogFileUnavailable { error: &missing },
        "warning: cannot open logfile: No such file or directory",
        STDERR,
    );
    check(
        DaemonMessage::PidFileFailed {
            path: Path::new("/run/k.pid"),
            error: &missing,
        },
        "could not create pid file /run/k.pid: No such file or directory",
        LOG | DEBUG,
    );
    check(DaemonMessage::Closing, "closing...", VERBOSE);
    check(DaemonMessage::ShuttingDown, "shutting down", LOG);
    check(
        DaemonMessage::Error(&"pcap: boom"),
        "pcap: boom",
        LOG | STDERR,
    );
    check(
        DaemonMessage::Debug(&"ethernet interface detected"),
        "ethernet interface detected",
        DEBUG,
    );
}
