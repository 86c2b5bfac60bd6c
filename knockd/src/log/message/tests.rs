//! The message catalogue's texts, sinks and severities, one file per
//! subsystem.

mod capture;
mod command;
mod config;
mod control;
mod daemon;
mod ignored;
mod knock;
mod ledger;
mod nft;
mod privsep;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{Datelike, Local, TimeZone};
use knock_proto::{Protocol, Sequence, TcpFlag};
use knockd_core::Packet;

use super::*;

fn v4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2))
}

fn check<'a>(message: impl Into<Message<'a>>, text: &str, sinks: Sinks) {
    let message = message.into();
    assert_eq!(message.to_string(), text);
    assert_eq!(message.record().sinks, sinks, "sinks of {text:?}");
}

fn severity<'a>(message: impl Into<Message<'a>>) -> Severity {
    message.into().record().severity
}

const LOG: Sinks = Sinks::LOG;
const VERBOSE: Sinks = Sinks::VERBOSE;
const STDERR: Sinks = Sinks::STDERR;
const DEBUG: Sinks = Sinks::DEBUG;

/// What syslog's priority and JSON's `level` say (knockd(8), LOGGING).
#[test]
fn failures_are_errors_refusals_warnings_and_the_rest_notices() {
    let source = Source::with_host(v4(), None);
    let failed = io::Error::from_raw_os_error(libc::EAGAIN);
    let errors: [Message<'_>; 12] = [
        CommandMessage::NonZeroStatus { door: "d", code: 1 }.into(),
        CommandMessage::KilledBySignal {
            door: "d",
            signal: 9,
        }
        .into(),
        CommandMessage::SpawnFailed {
            door: "d",
            error: &failed,
        }
        .into(),
        CommandMessage::CommandTruncated(CommandKind::Start).into(),
        CommandMessage::CommandDropped { source, door: "d" }.into(),
        KnockMessage::OneTimeExhausted { door: "d" }.into(),
        KnockMessage::OneTimeUpdateFailed { door: "d" }.into(),
        CaptureMessage::CaptureLost {
            interface: "eth0",
            error: &"gone",
        }
        .into(),
        ConfigMessage::ReloadFailed { error: &"bad" }.into(),
        ConfigMessage::DoorDisabled {
            door: "d",
            error: &"bad",
        }
        .into(),
        LedgerMessage::LedgerWriteFailed { error: &failed }.into(),
        DaemonMessage::Error(&"pcap: boom").into(),
    ];
    for message in errors {
        assert_eq!(severity(message), Severity::Error, "{message}");
    }
    let warnings: [Message<'_>; 5] = [
        KnockMessage::OpenRefused {
            source,
            door: "d",
            cap: OpenCap::Door(1),
        }
        .into(),
        ConfigMessage::ConfigWarning(&"odd").into(),
        KnockMessage::AttemptsEvicted { count: 1, max: 1 }.into(),
        CaptureMessage::WaitingForAddress { interface: "wg0" }.into(),
        CommandMessage::ChildrenLeftRunning { count: 1 }.into(),
    ];
    for message in warnings {
        assert_eq!(severity(message), Severity::Warning, "{message}");
    }
    let stage = KnockMessage::Stage {
        source,
        door: "d",
        stage: 1,
    };
    assert_eq!(severity(stage), Severity::Notice);
    assert_eq!(severity(DaemonMessage::ShuttingDown), Severity::Notice);
    assert_eq!(severity(DaemonMessage::Closing), Severity::Info);
    assert_eq!(severity(CaptureMessage::LocalIp(v4())), Severity::Debug);
}
