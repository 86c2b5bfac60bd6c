//! `knockd status --prometheus`: the counters in Prometheus' text
//! exposition format (version 0.0.4), for node_exporter's textfile
//! collector. Every metric is named `knockd_...`; per-door ones carry a
//! `door` label, the undecoded frames a `kind` label.

use std::fmt::Write as _;

use super::status::{DoorTotals, Status};

/// A per-door counter: its name, its help text and where its value is.
type DoorMetric = (&'static str, &'static str, fn(&DoorTotals) -> u64);

/// The exposition text.
pub fn render(status: &Status) -> String {
    let mut out = Exposition(String::new());
    out.metric(
        "uptime_seconds",
        "gauge",
        "Seconds since knockd started.",
        single(status.uptime_seconds),
    );
    capture_metrics(&mut out, status);
    door_metrics(&mut out, status);
    global_metrics(&mut out, status);
    out.0
}

/// The text being written, one metric at a time.
struct Exposition(String);

impl Exposition {
    /// One metric: its `# HELP` and `# TYPE` lines, then each sample (labels
    /// and value).
    fn metric(&mut self, name: &str, kind: &str, help: &str, samples: Vec<(String, String)>) {
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP knockd_{name} {help}");
        let _ = writeln!(out, "# TYPE knockd_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "knockd_{name}{labels} {value}");
        }
    }
}

/// The one sample of a metric without labels.
fn single(value: u64) -> Vec<(String, String)> {
    vec![(String::new(), value.to_string())]
}

/// What the captures read, decoded and lost.
fn capture_metrics(out: &mut Exposition, status: &Status) {
    let capture = &status.capture;
    out.metric(
        "packets_total",
        "counter",
        "Frames read from the captures.",
        single(capture.packets),
    );
    out.metric(
        "packets_not_decoded_total",
        "counter",
        "Frames that did not decode, by kind.",
        (capture.not_decoded.iter())
            .map(|(kind, count)| (labels(&[("kind", kind)]), count.to_string()))
            .collect(),
    );
    out.metric(
        "capture_received_total",
        "counter",
        "Packets that passed the kernel filter (libpcap).",
        single(capture.received),
    );
    out.metric(
        "capture_kernel_dropped_total",
        "counter",
        "Packets the kernel dropped because the capture buffer was full (libpcap).",
        single(capture.kernel_dropped),
    );
    out.metric(
        "capture_interface_dropped_total",
        "counter",
        "Packets dropped by the interface or its driver (libpcap).",
        single(capture.interface_dropped),
    );
}

/// The per-door counters, then the attempts in progress by stage and the
/// knockers each door is open for.
fn door_metrics(out: &mut Exposition, status: &Status) {
    let per_door: [DoorMetric; 9] = [
        ("stage_hits_total", "Knocks that matched a stage.", |c| {
            c.knocks.stage_hits
        }),
        ("opens_total", "Sequences completed.", |c| c.knocks.opens),
        ("timeouts_total", "Attempts that ran out of time.", |c| {
            c.knocks.timeouts
        }),
        (
            "invalidated_total",
            "Attempts ended by a wrong knock.",
            |c| c.knocks.invalidated,
        ),
        ("evicted_total", "Attempts dropped to make room.", |c| {
            c.knocks.evicted
        }),
        (
            "flags_ignored_total",
            "TCP knocks ignored for their flags.",
            |c| c.knocks.flags_ignored,
        ),
        ("commands_run_total", "Commands started.", |c| {
            c.commands_run
        }),
        (
            "commands_failed_total",
            "Commands that exited non-zero, were killed, or could not start.",
            |c| c.commands_failed,
        ),
        (
            "commands_dropped_total",
            "Start commands never run (too long, or the queue was full).",
            |c| c.commands_dropped,
        ),
    ];
    for (name, help, value) in per_door {
        let samples = (status.doors.iter())
            .map(|door| (door_label(&door.name), value(&door.counters).to_string()))
            .collect();
        out.metric(name, "counter", help, samples);
    }
    out.metric(
        "attempts_in_progress",
        "gauge",
        "Knock attempts in progress, by door and stage.",
        (status.doors.iter())
            .flat_map(|door| {
                (door.attempts_by_stage.iter().enumerate()).map(|(i, count)| {
                    let stage = (i + 1).to_string();
                    (
                        labels(&[("door", &door.name), ("stage", &stage)]),
                        count.to_string(),
                    )
                })
            })
            .collect(),
    );
    out.metric(
        "doors_open",
        "gauge",
        "Knockers a door is open for (a scheduled stop command).",
        (status.doors.iter())
            .map(|door| (door_label(&door.name), door.open.len().to_string()))
            .collect(),
    );
}

/// The counters of knocks ignored or started, over all doors.
fn global_metrics(out: &mut Exposition, status: &Status) {
    let totals = &status.totals;
    let global: [(&str, &str, u64); 6] = [
        (
            "retransmissions_total",
            "TCP knocks ignored as a client's retransmission.",
            totals.retransmissions,
        ),
        (
            "cooling_down_total",
            "Knocks ignored while their door cooled down.",
            totals.cooling_down,
        ),
        (
            "not_allowed_total",
            "Knocks from sources Allow_From/Deny_From keep out.",
            totals.not_allowed,
        ),
        (
            "refused_sources_total",
            "Knocks from sources that cannot knock.",
            totals.refused_sources,
        ),
        (
            "copies_total",
            "Second captures of one knock, ignored.",
            totals.copies,
        ),
        (
            "attempts_started_total",
            "Knock attempts started.",
            totals.attempts_started,
        ),
    ];
    for (name, help, value) in global {
        out.metric(name, "counter", help, single(value));
    }
}

fn door_label(door: &str) -> String {
    labels(&[("door", door)])
}

/// `{door="ssh",stage="2"}`, values escaped as the format says.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let value = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{value}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::super::status::tests::sample;
    use super::*;

    #[test]
    fn every_metric_has_help_type_and_the_knockd_prefix() {
        let text = render(&sample());
        let mut helped = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                helped.push(rest.split(' ').next().unwrap().to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert_eq!(Some(&name.to_owned()), helped.last(), "{line}");
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(Some(&name.to_owned()), helped.last(), "{line}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        assert!(helped.iter().all(|name| name.starts_with("knockd_")));
    }

    #[test]
    fn samples_carry_door_stage_and_kind_labels_escaped() {
        let text = render(&sample());
        for sample in [
            "knockd_stage_hits_total{door=\"openSSH\"} 5\n",
            "knockd_opens_total{door=\"openSSH\"} 1\n",
            "knockd_stage_hits_total{door=\"smtp \\\"x\\\"\"} 0\n",
            "knockd_attempts_in_progress{door=\"openSSH\",stage=\"2\"} 1\n",
            "knockd_doors_open{door=\"openSSH\"} 1\n",
            "knockd_packets_not_decoded_total{kind=\"truncated\"} 1\n",
            "knockd_capture_kernel_dropped_total 0\n",
            "knockd_uptime_seconds 3725\n",
        ] {
            assert!(text.contains(sample), "{sample} not in:\n{text}");
        }
    }
}
