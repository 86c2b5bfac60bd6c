//! `--check`'s warnings about guessable doors: doors that a stranger could
//! open without knowing their sequence (a port sweep, a guess, a service's
//! own traffic), and each door's guessing space. They are warnings, not
//! problems: the configuration works as written, so the exit status stays.

use knock_proto::{Knock, Protocol, Sequence, TcpFlags};
use knockd_core::config::{Door, SequenceSource};
use knockd_core::doors::RuntimeDoor;

use super::listening::Listening;

/// Fewest knocks a door should have.
const FEWEST_KNOCKS: usize = 3;
/// Ports below this are well-known service ports, which scanners try first.
const WELL_KNOWN_BELOW: u16 = 1024;
/// How many ports a listed sequence's knocks are chosen from.
const PORTS: u32 = 65_535;

/// How hard the door is to guess, shown with it; `None` for a door that has
/// no sequence left.
pub fn guessing_space(door: &RuntimeDoor) -> Option<String> {
    match &door.door.sequence {
        SequenceSource::Fixed(_) | SequenceSource::OneTime(_) => {
            Some(listed_space(door.active_sequence()?))
        }
    }
}

/// A listed sequence: `Length × log2(65535)` bits for a blind guess, but the
/// capture filter shows knockd only the sequence's ports, so a sweep's
/// misses cost nothing and break no attempt.
fn listed_space(sequence: &Sequence) -> String {
    let knocks = sequence.len();
    format!(
        "{:.1} bits ({knocks} knock{} of {PORTS} ports each) against a blind guess; \
         far less against port sweeps, whose misses knockd never sees",
        bits(knocks, PORTS),
        plural(knocks)
    )
}

/// `knocks × log2(ports)`.
fn bits(knocks: usize, ports: u32) -> f64 {
    knocks as f64 * f64::from(ports).log2()
}

/// Every warning about `doors`, each naming its door, in door order; the
/// doors that share a first knock last.
pub fn warnings(doors: &[RuntimeDoor], listening: &Listening) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Listening::Unknown(reason) = listening {
        warnings.push(format!(
            "cannot check whether a knock port is one a local service listens on: {reason}"
        ));
    }
    for runtime in doors {
        let door = &runtime.door;
        let Some(sequence) = runtime.active_sequence() else {
            continue;
        };
        let found = match &door.sequence {
            SequenceSource::Fixed(_) | SequenceSource::OneTime(_) => {
                listed_warnings(door, sequence, listening)
            }
        };
        warnings.extend(
            found
                .into_iter()
                .map(|warning| format!("door {}: {warning}", door.name)),
        );
    }
    warnings.extend(shared_first_knocks(doors));
    warnings
}

/// What makes a listed sequence guessable.
fn listed_warnings(door: &Door, sequence: &Sequence, listening: &Listening) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(order) = monotone(sequence) {
        warnings.push(format!(
            "sequence {sequence} is in {order} order: a single port sweep in that order \
             (nmap -r) knocks it; put its ports out of order"
        ));
    }
    let knocks = sequence.len();
    if knocks < FEWEST_KNOCKS {
        warnings.push(format!(
            "only {knocks} knock{}: easy to guess and to hit by chance; use at least {FEWEST_KNOCKS}",
            plural(knocks)
        ));
    }
    let mut seen: Vec<Knock> = Vec::with_capacity(knocks);
    for &knock in sequence.knocks() {
        if seen.contains(&knock) {
            continue;
        }
        seen.push(knock);
        if listening.serves(knock) {
            warnings.push(format!(
                "knock {knock} is a port a local service listens on: its clients' connections \
                 count as knocks, and scanners that find it open probe it; use a port nothing listens on"
            ));
        } else if knock.port < WELL_KNOWN_BELOW {
            warnings.push(format!(
                "knock {knock} is a well-known service port (below {WELL_KNOWN_BELOW}), which \
                 scanners try first; use a port above 1023"
            ));
        }
    }
    if door.tcp_flags.is_any() && sequence.ports(Protocol::Tcp).next().is_some() {
        warnings.push(
            "no TCPFlags: any TCP segment to its ports counts as a knock (a stray ACK or RST, \
             a scanner's FIN or Xmas probe); add TCPFlags = syn, which knock sends"
                .to_owned(),
        );
    }
    warnings
}

/// `ascending` or `descending` when every knock's port is above (or below)
/// the one before; a sequence of one knock has no order.
fn monotone(sequence: &Sequence) -> Option<&'static str> {
    let knocks = sequence.knocks();
    if knocks.len() < 2 {
        return None;
    }
    let pairs = || {
        knocks
            .windows(2)
            .filter_map(|w| Some((w.first()?.port, w.get(1)?.port)))
    };
    if pairs().all(|(a, b)| a < b) {
        Some("ascending")
    } else if pairs().all(|(a, b)| a > b) {
        Some("descending")
    } else {
        None
    }
}

/// Pairs of doors whose first knock is the same TCP port under different
/// `TCPFlags`: a segment that one takes and the other ignores decides which
/// door starts, and the looser flags widen the capture on that port.
fn shared_first_knocks(doors: &[RuntimeDoor]) -> Vec<String> {
    let firsts: Vec<(&Door, Knock)> = doors
        .iter()
        .filter_map(|d| Some((&d.door, d.active_sequence()?.get(0)?)))
        .filter(|(_, knock)| knock.protocol == Protocol::Tcp)
        .collect();
    let mut warnings = Vec::new();
    for (i, &(a, first)) in firsts.iter().enumerate() {
        for &(b, other) in firsts.iter().skip(i + 1) {
            if first == other && a.tcp_flags != b.tcp_flags {
                warnings.push(format!(
                    "doors {} and {} both begin with {first} but with different TCPFlags \
                     ({}; {}): which door a knock starts hangs on its flags, and the looser \
                     TCPFlags lets more segments to that port through; give them different \
                     first knocks or the same TCPFlags",
                    a.name,
                    b.name,
                    flags_text(a.tcp_flags),
                    flags_text(b.tcp_flags)
                ));
            }
        }
    }
    warnings
}

fn flags_text(flags: TcpFlags) -> String {
    if flags.is_any() {
        "any".to_owned()
    } else {
        flags.to_string()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(name: &str, sequence: &str, flags: &str) -> RuntimeDoor {
        let mut door = Door::new(
            name,
            SequenceSource::Fixed(Sequence::parse(sequence).unwrap()),
        );
        door.tcp_flags = TcpFlags::parse(flags).unwrap_or(TcpFlags::ANY);
        RuntimeDoor {
            door,
            one_time: None,
        }
    }

    fn nothing_listens() -> Listening {
        Listening::Known(Default::default())
    }

    fn warned(d: &RuntimeDoor) -> Vec<String> {
        warnings(std::slice::from_ref(d), &nothing_listens())
    }

    #[test]
    fn a_well_chosen_door_gets_no_warning() {
        assert_eq!(
            warned(&door("ssh", "8153,2261,49870,31044:udp", "syn")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn monotone_sequences_are_named_with_their_order() {
        let w = warned(&door("d", "7000,8000,9000", "syn"));
        assert_eq!(
            w,
            [
                "door d: sequence 7000:tcp,8000:tcp,9000:tcp is in ascending order: a single port \
              sweep in that order (nmap -r) knocks it; put its ports out of order"
            ]
        );
        let w = warned(&door("d", "9000,8000:udp,7000", "syn"));
        assert!(w[0].contains("is in descending order"), "{w:?}");
        // A repeat breaks the order: no single sweep hits a port twice.
        assert!(warned(&door("d", "7000,7000,8000", "syn")).is_empty());
        assert!(warned(&door("d", "7000,9000,8000", "syn")).is_empty());
    }

    #[test]
    fn short_sequences_are_warned() {
        let w = warned(&door("d", "9000,7000", "syn"));
        assert_eq!(
            w,
            ["door d: sequence 9000:tcp,7000:tcp is in descending order: a single port sweep in \
              that order (nmap -r) knocks it; put its ports out of order",
             "door d: only 2 knocks: easy to guess and to hit by chance; use at least 3"]
        );
        let w = warned(&door("d", "9000", "syn"));
        assert_eq!(
            w,
            ["door d: only 1 knock: easy to guess and to hit by chance; use at least 3"]
        );
    }

    #[test]
    fn service_ports_are_warned_once_per_knock() {
        let listening = Listening::Known([Knock::new(8080, Protocol::Tcp)].into());
        let d = door("d", "8080,22,8080:udp,53:udp,22,9000", "syn");
        let w = warnings(std::slice::from_ref(&d), &listening);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("door d: knock 8080:tcp is a port a local service listens on"));
        assert!(w[1].starts_with("door d: knock 22:tcp is a well-known service port (below 1024)"));
        assert!(w[2].starts_with("door d: knock 53:udp is a well-known service port"));
    }

    #[test]
    fn sockets_that_cannot_be_read_are_said_once() {
        let w = warnings(
            &[
                door("a", "8153,2261,49870", "syn"),
                door("b", "8154,2261,49870", "syn"),
            ],
            &Listening::Unknown("only Linux lists its sockets in /proc/net".into()),
        );
        assert_eq!(
            w,
            [
                "cannot check whether a knock port is one a local service listens on: only Linux \
              lists its sockets in /proc/net"
            ]
        );
    }

    #[test]
    fn a_door_without_tcpflags_is_warned_when_it_has_tcp_knocks() {
        let w = warned(&door("d", "8153,2261,49870", ""));
        assert_eq!(
            w,
            [
                "door d: no TCPFlags: any TCP segment to its ports counts as a knock (a stray ACK \
              or RST, a scanner's FIN or Xmas probe); add TCPFlags = syn, which knock sends"
            ]
        );
        assert!(warned(&door("d", "8153:udp,2261:udp,49870:udp", "")).is_empty());
    }

    #[test]
    fn doors_sharing_a_first_knock_with_different_flags_are_warned() {
        let doors = [
            door("open", "8153,2261,49870", "syn"),
            door("close", "8153,49870,2261", ""),
            door("same", "8153,3000,2000", "syn"),
            door("udp", "8153:udp,3000,2000", "syn"),
        ];
        let w: Vec<String> = warnings(&doors, &nothing_listens())
            .into_iter()
            .filter(|w| w.starts_with("doors "))
            .collect();
        assert_eq!(
            w,
            [
                "doors open and close both begin with 8153:tcp but with different TCPFlags (syn; \
                 any): which door a knock starts hangs on its flags, and the looser TCPFlags lets \
                 more segments to that port through; give them different first knocks or the same \
                 TCPFlags",
                "doors close and same both begin with 8153:tcp but with different TCPFlags (any; \
                 syn): which door a knock starts hangs on its flags, and the looser TCPFlags lets \
                 more segments to that port through; give them different first knocks or the same \
                 TCPFlags",
            ]
        );
    }

    #[test]
    fn the_guessing_space_is_length_times_log2_of_65535() {
        assert_eq!(
            guessing_space(&door("d", "8153,2261,49870", "syn")).unwrap(),
            "48.0 bits (3 knocks of 65535 ports each) against a blind guess; far less against \
             port sweeps, whose misses knockd never sees"
        );
        assert!(guessing_space(&door("d", "8153", "syn"))
            .unwrap()
            .starts_with("16.0 bits (1 knock of"));
    }
}
