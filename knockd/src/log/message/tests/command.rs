//! Commands.

use super::*;

#[test]
fn command_lines() {
    check(
        CommandMessage::RunningCommand {
            door: "seq3",
            command: "echo 198.18.1.2",
        },
        "seq3: running command: echo 198.18.1.2",
        LOG | VERBOSE,
    );
    check(
        CommandMessage::NonZeroStatus {
            door: "fails",
            code: 1,
        },
        "fails: command returned non-zero status code (1)",
        LOG | STDERR,
    );
    check(
        CommandMessage::KilledBySignal {
            door: "d",
            signal: 9,
        },
        "d: command killed by signal 9 (SIGKILL)",
        LOG | STDERR,
    );
    let error = io::Error::from_raw_os_error(libc::EAGAIN);
    check(
        CommandMessage::SpawnFailed {
            door: "d",
            error: &error,
        },
        "d: error: command fork failed! (Resource temporarily unavailable)",
        LOG | STDERR,
    );
    check(
        CommandMessage::CommandTruncated(CommandKind::Start),
        "error: parsed start command has been truncated! --> won't execute it",
        LOG | STDERR,
    );
    check(
        CommandMessage::CommandTruncated(CommandKind::Stop),
        "error: parsed stop command has been truncated! --> won't execute start command",
        LOG | STDERR,
    );
    let source = Source::with_host(v4(), None);
    check(
        CommandMessage::CommandDropped { source, door: "d" },
        "198.18.1.2: d: too many commands waiting, start command dropped",
        LOG | STDERR,
    );
    check(
        CommandMessage::CommandTimeout {
            source,
            door: "startstop",
        },
        "198.18.1.2: startstop: command timeout",
        LOG | VERBOSE,
    );
    check(
        CommandMessage::WaitingForChildren,
        "waiting for child processes...",
        VERBOSE,
    );
    check(
        CommandMessage::ChildrenLeftRunning { count: 2 },
        "2 command(s) still running, not waiting for them",
        LOG | STDERR,
    );
}
