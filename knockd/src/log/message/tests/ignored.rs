//! Knocks left out.

use super::*;

#[test]
fn ignored_knock_lines() {
    let plain = Source::with_host(v4(), None);
    check(
        IgnoredMessage::Retransmission {
            source: plain,
            door: "ssh",
        },
        "198.18.1.2: ssh: resent knock ignored",
        DEBUG,
    );
    check(
        IgnoredMessage::CoolingDown {
            source: plain,
            door: "udp",
        },
        "198.18.1.2: udp: knock ignored, the door opened for it less than Cooldown ago",
        DEBUG,
    );
    check(
        IgnoredMessage::NotAllowed {
            source: plain,
            door: "ssh",
        },
        "198.18.1.2: ssh: knock ignored, the source is not allowed by Allow_From/Deny_From",
        DEBUG,
    );
    check(
        IgnoredMessage::SourcesRefused {
            count: 2,
            last: "224.0.0.1".parse().unwrap(),
        },
        "ignored 2 knock(s) from sources that cannot knock (unspecified, broadcast, multicast, or loopback and local addresses from the wire), the last from 224.0.0.1",
        DEBUG,
    );
    check(
        IgnoredMessage::RemovingFailedAttempt(v4()),
        "removing failed knock attempt (198.18.1.2)",
        DEBUG,
    );
    check(
        IgnoredMessage::FlagMismatch {
            flag: TcpFlag::Syn,
            required: true,
        },
        "packet is not SYN, ignoring...",
        DEBUG,
    );
    check(
        IgnoredMessage::FlagMismatch {
            flag: TcpFlag::Ack,
            required: false,
        },
        "packet is not !ACK, ignoring...",
        DEBUG,
    );
}
