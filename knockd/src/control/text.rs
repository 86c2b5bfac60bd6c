//! The status as a compact table, for `knockd status` and SIGUSR1.

use std::fmt::Write as _;
use std::time::Duration;

use super::status::{DoorStatus, Status};

/// Whether the table shows fixed sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequences {
    /// In full: `knockd status`, on the 0600 socket only the operator reaches.
    Shown,
    /// As their kind and length only (`fixed, 3 knocks`): the log (SIGUSR1),
    /// which others may read.
    Hidden,
}

/// The status as lines of text, each ending in a newline.
pub fn render(status: &Status) -> String {
    render_with(status, Sequences::Shown)
}

/// The status as [`render`] prints it, with `sequences` shown or not.
pub fn render_with(status: &Status, sequences: Sequences) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "knockd {} (pid {}), up {}",
        status.version,
        status.pid,
        duration(Duration::from_secs(status.uptime_seconds))
    );
    for interface in &status.interfaces {
        let state = if interface.capturing {
            "capturing"
        } else {
            "down, retrying"
        };
        let _ = writeln!(
            out,
            "interface {}: {}, {state}; addresses: {}",
            interface.name,
            interface.link_type,
            list(&interface.addresses)
        );
    }
    let capture = &status.capture;
    let not_decoded: u64 = capture.not_decoded.values().sum();
    let _ = write!(
        out,
        "packets: {} captured, {} decoded, {not_decoded} not decoded",
        capture.packets, capture.decoded
    );
    let kinds: Vec<String> = (capture.not_decoded.iter())
        .filter(|(_, &count)| count > 0)
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    if !kinds.is_empty() {
        let _ = write!(out, " ({})", kinds.join(", "));
    }
    let _ = writeln!(
        out,
        "; kernel: {} received, {} dropped, {} dropped by the interface",
        capture.received, capture.kernel_dropped, capture.interface_dropped
    );
    out.push_str(&doors_table(&status.doors, sequences));
    out.push_str(&open_table(&status.doors));
    let t = &status.totals;
    let _ = writeln!(
        out,
        "knocks: {} stage hits, {} opens, {} timeouts, {} invalidated, {} evicted, \
         {} ignored for their flags, {} resent, {} while cooling down, {} not allowed, \
         {} from sources that cannot knock, {} captured twice",
        t.doors.knocks.stage_hits,
        t.doors.knocks.opens,
        t.doors.knocks.timeouts,
        t.doors.knocks.invalidated,
        t.doors.knocks.evicted,
        t.doors.knocks.flags_ignored,
        t.retransmissions,
        t.cooling_down,
        t.not_allowed,
        t.refused_sources,
        t.copies
    );
    let _ = writeln!(
        out,
        "attempts: {} in progress, {} started; doors open: {}",
        t.attempts_in_progress, t.attempts_started, t.doors_open
    );
    let _ = writeln!(
        out,
        "commands: {} run, {} failed, {} dropped",
        t.doors.commands_run, t.doors.commands_failed, t.doors.commands_dropped
    );
    out
}

/// One row per door: its sequence, attempts by stage and counters.
fn doors_table(doors: &[DoorStatus], sequences: Sequences) -> String {
    let header = [
        "DOOR", "SEQUENCE", "ATTEMPTS", "OPEN", "HITS", "OPENS", "TIMEOUTS", "INVALID", "EVICTED",
        "FLAGS", "COMMANDS",
    ]
    .map(str::to_owned);
    let rows = doors.iter().map(|door| {
        let c = &door.counters;
        [
            door.name.clone(),
            match sequences {
                Sequences::Shown => door.sequence.to_string(),
                Sequences::Hidden => door.sequence.summary(),
            },
            stages(&door.attempts_by_stage),
            door.open.len().to_string(),
            c.knocks.stage_hits.to_string(),
            c.knocks.opens.to_string(),
            c.knocks.timeouts.to_string(),
            c.knocks.invalidated.to_string(),
            c.knocks.evicted.to_string(),
            c.knocks.flags_ignored.to_string(),
            format!(
                "{} run, {} failed, {} dropped",
                c.commands_run, c.commands_failed, c.commands_dropped
            ),
        ]
    });
    table(std::iter::once(header).chain(rows).collect())
}

/// One row per open door and knocker, soonest to close first.
fn open_table(doors: &[DoorStatus]) -> String {
    let mut rows: Vec<[String; 3]> = Vec::new();
    for door in doors {
        for open in &door.open {
            let closes = match open.closes_in_seconds {
                // Rounded up: 0.4 s left shows as 1s, not as a closed-looking 0s.
                Some(seconds) => {
                    duration(Duration::try_from_secs_f64(seconds.ceil()).unwrap_or_default())
                }
                None => "at shutdown".to_owned(),
            };
            // A door open for a network shows it: any address of it gets in.
            let knocker = if open.network.is_host() {
                open.source.to_string()
            } else if open.source == open.network.network() {
                // The kernel's element of an Nft_Set door: the network alone.
                open.network.to_string()
            } else {
                format!("{} ({})", open.source, open.network)
            };
            rows.push([door.name.clone(), knocker, closes]);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let header = ["OPEN DOOR", "KNOCKER", "CLOSES IN"].map(str::to_owned);
    table(std::iter::once(header).chain(rows).collect())
}

/// `s1:3 s2:1` (stages with attempts only), or `-`.
fn stages(by_stage: &[usize]) -> String {
    let parts: Vec<String> = (by_stage.iter().enumerate())
        .filter(|(_, &count)| count > 0)
        .map(|(i, count)| format!("s{}:{count}", i + 1))
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Rows as left-aligned columns two spaces apart, without trailing blanks.
fn table<const N: usize>(rows: Vec<[String; N]>) -> String {
    let mut widths = [0usize; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `8s`, `2m05s`, `1h02m05s`, `3d04h`.
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m{seconds:02}s"),
        (0, _, _) => format!("{hours}h{minutes:02}m{seconds:02}s"),
        _ => format!("{days}d{hours:02}h"),
    }
}

/// `198.18.7.1, fd00:7::1`, or `none`.
fn list(addrs: &[std::net::IpAddr]) -> String {
    if addrs.is_empty() {
        return "none".to_owned();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::status::tests::sample;
    use super::*;

    #[test]
    fn the_table_shows_doors_attempts_open_doors_and_totals() {
        let text = render(&sample());
        let expected = "\
knockd 0.9.0 (pid 42), up 1h02m05s
interface veth0: ethernet, capturing; addresses: 198.18.7.1
packets: 7 captured, 6 decoded, 1 not decoded (1 truncated); kernel: 7 received, 0 dropped, 0 dropped by the interface
DOOR      SEQUENCE                    ATTEMPTS  OPEN  HITS  OPENS  TIMEOUTS  INVALID  EVICTED  FLAGS  COMMANDS
openSSH   7000:tcp,8000:tcp,9000:tcp  s2:1      1     5     1      0         0        0        0      1 run, 0 failed, 0 dropped
smtp \"x\"  one-time, 2 unused          -         0     0     0      0         0        0        0      0 run, 0 failed, 0 dropped
OPEN DOOR  KNOCKER     CLOSES IN
openSSH    198.18.7.2  9s
knocks: 5 stage hits, 1 opens, 0 timeouts, 0 invalidated, 0 evicted, 0 ignored for their flags, 0 resent, 0 while cooling down, 0 not allowed, 0 from sources that cannot knock, 0 captured twice
attempts: 1 in progress, 2 started; doors open: 1
commands: 1 run, 0 failed, 0 dropped
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_table_for_the_log_shows_a_fixed_sequence_as_its_kind_and_length() {
        let text = render_with(&sample(), Sequences::Hidden);
        assert!(!text.contains("7000"), "{text}");
        let row = text.lines().find(|l| l.starts_with("openSSH ")).unwrap();
        assert!(row.starts_with("openSSH   fixed, 3 knocks   "), "{row}");
        assert!(text.contains("one-time, 2 unused"), "{text}");
    }

    #[test]
    fn durations_are_compact() {
        let d = Duration::from_secs;
        assert_eq!(duration(d(0)), "0s");
        assert_eq!(duration(d(125)), "2m05s");
        assert_eq!(duration(d(3725)), "1h02m05s");
        assert_eq!(duration(d(3 * 86_400 + 4 * 3600 + 7)), "3d04h");
    }
}
