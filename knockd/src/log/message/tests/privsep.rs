//! The privilege split's lines.

use super::*;

#[test]
fn privsep_lines() {
    check(
        PrivsepMessage::WatcherConfined {
            pid: 42,
            user: "knockd",
            uid: 104,
            confinement: &"system calls confined to the watcher's (seccomp)",
        },
        "watcher process 42 runs as knockd (uid 104) with no capabilities; system calls \
         confined to the watcher's (seccomp)",
        VERBOSE,
    );
    check(
        PrivsepMessage::UserFallback {
            wanted: "knockd",
            taken: "nobody",
        },
        "warning: no user knockd; the watcher runs as nobody",
        LOG,
    );
    check(
        PrivsepMessage::Refused {
            why: &"configuration 0 has no door 9",
        },
        "refused the watcher's request: configuration 0 has no door 9 (further requests \
         refused for this reason are not logged)",
        LOG | STDERR,
    );
    check(
        PrivsepMessage::WatcherDied {
            pid: 42,
            how: &"was killed by signal SIGSYS",
        },
        "watcher process 42 was killed by signal SIGSYS; the opener exits and leaves open \
         doors to the ledger",
        LOG | STDERR,
    );
    check(
        PrivsepMessage::OpenerGone,
        "the opener process is gone; the watcher exits",
        LOG | STDERR,
    );
}
