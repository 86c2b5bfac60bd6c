//! A knock's progress, its one-time sequence and the flood summaries.

use super::*;

#[test]
fn knock_progress_lines() {
    let plain = Source::with_host(v4(), None);
    check(
        KnockMessage::Stage {
            source: plain,
            door: "seq3",
            stage: 1,
        },
        "198.18.1.2: seq3: Stage 1",
        LOG | VERBOSE,
    );
    let named = Source::with_host(v4(), Some("knocker-b.test"));
    check(
        KnockMessage::Stage {
            source: named,
            door: "seq2",
            stage: 2,
        },
        "198.18.1.2 (knocker-b.test): seq2: Stage 2",
        LOG | VERBOSE,
    );
    check(
        KnockMessage::OpenSesame {
            source: plain,
            door: "seq3",
        },
        "198.18.1.2: seq3: OPEN SESAME",
        LOG | VERBOSE,
    );
    check(
        KnockMessage::SequenceTimeout {
            source: named,
            door: "seq2",
            stage: 1,
        },
        "198.18.1.2 (knocker-b.test): seq2: sequence timeout (stage 1)",
        LOG | VERBOSE,
    );
    let v6 = Source::with_host(IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2)), None);
    check(
        KnockMessage::Stage {
            source: v6,
            door: "d",
            stage: 3,
        },
        "fd00:1::2: d: Stage 3",
        LOG | VERBOSE,
    );
    check(
        KnockMessage::AttemptsEvicted {
            count: 3,
            max: 100_000,
        },
        "3 knock attempt(s) dropped: more than 100000 in progress",
        LOG | VERBOSE,
    );
    check(
        KnockMessage::StageOneSuppressed { count: 270_000 },
        "270000 further Stage 1 line(s) suppressed in the last second",
        LOG | VERBOSE,
    );
    check(
        KnockMessage::OneTimeExhausted { door: "otp" },
        "no more sequences left in the one time sequences file for door otp --> disabling the door",
        LOG | STDERR,
    );
    check(
        KnockMessage::OneTimeUpdateFailed { door: "otp" },
        "error while marking the used one time sequence for door otp --> not opening the door",
        LOG | STDERR,
    );
    let sequence = Sequence::parse("2001,2002:udp,2003").unwrap();
    check(
        KnockMessage::OneTimeNext {
            door: "otp",
            sequence: &sequence,
        },
        "new sequence for door otp: 2001:tcp,2002:udp,2003:tcp",
        DEBUG,
    );
    check(
        KnockMessage::StepBoundary {
            doors: 10_000,
            elapsed: Duration::from_micros(38_240),
        },
        "step boundary: 10000 rotating door(s) moved on in 38.2 ms",
        VERBOSE,
    );
}

#[test]
fn open_refused_lines_name_the_cap() {
    let source = Source::with_host(v4(), None);
    check(
        KnockMessage::OpenRefused {
            source,
            door: "d",
            cap: OpenCap::Door(2),
        },
        "198.18.1.2: d: OPEN SESAME refused: the door is open for 2 knocker(s) already (Max_Open)",
        LOG | VERBOSE,
    );
    check(
        KnockMessage::OpenRefused {
            source,
            door: "d",
            cap: OpenCap::All(3),
        },
        "198.18.1.2: d: OPEN SESAME refused: 3 doors are open already (--max-open)",
        LOG | VERBOSE,
    );
}
