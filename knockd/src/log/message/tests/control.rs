//! The control socket, the status and the counters.

use super::*;

#[test]
fn control_lines() {
    let source = Source::with_host(v4(), None);
    check(
        ControlMessage::ClosingOnRequest {
            source,
            door: "web",
        },
        "198.18.1.2: web: closing on request (knockd close)",
        LOG | VERBOSE,
    );
    check(
        ControlMessage::Counters(&"engine: 2 attempts started"),
        "counters: engine: 2 attempts started",
        VERBOSE,
    );
    check(
        ControlMessage::Status(&"knockd 0.9.0 (pid 7), up 3s"),
        "status: knockd 0.9.0 (pid 7), up 3s",
        LOG | VERBOSE,
    );
    check(
        ControlMessage::ControlSocketUnavailable {
            error: &"control socket /run/knockd.sock: Permission denied",
        },
        "control socket /run/knockd.sock: Permission denied --> running without the control socket: knockd status and knockd close cannot reach this knockd (its doors work as usual)",
        LOG | STDERR,
    );
}
