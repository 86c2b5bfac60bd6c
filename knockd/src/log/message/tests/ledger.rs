//! The door ledger and the doors it carries over.

use super::*;

#[test]
fn ledger_lines() {
    let source = Source::with_host(v4(), None);
    check(
        LedgerMessage::LedgerLinesSkipped {
            path: Path::new("/var/lib/knockd/doors"),
            lines: &[2, 5],
        },
        "door ledger /var/lib/knockd/doors: skipped line(s) 2, 5 that are not records",
        LOG | STDERR,
    );
    check(
        LedgerMessage::LeftOpenRearmed {
            source,
            door: "web",
            left: Duration::from_millis(2500),
        },
        "198.18.1.2: web: a door left open by a previous run closes in 3s",
        LOG | VERBOSE,
    );
    check(
        LedgerMessage::StopLeftPending {
            source,
            door: "web",
            in_ledger: true,
        },
        "198.18.1.2: web: start command still running at shutdown, stop command not run --> it runs at the next start or with knockd --close-all",
        LOG | STDERR,
    );
    check(
        LedgerMessage::StopLeftPending {
            source,
            door: "web",
            in_ledger: false,
        },
        "198.18.1.2: web: start command still running at shutdown, stop command not run --> the door stays open (no door ledger)",
        LOG | STDERR,
    );
    check(
        LedgerMessage::StartEnded { source, door: "web" },
        "198.18.1.2: web: start command still running at shutdown: ending it (SIGTERM, then SIGKILL) to run its stop command",
        LOG | STDERR,
    );
    let lost = LedgerMessage::DoorsLost {
        path: Path::new("/var/lib/knockd/doors"),
        count: 2,
    };
    check(
        lost,
        "door ledger /var/lib/knockd/doors: 2 door(s) left open by a previous run cannot be closed: their records are damaged --> undo by hand what their start commands did",
        LOG | STDERR,
    );
    assert_eq!(severity(lost), Severity::Error);
}
