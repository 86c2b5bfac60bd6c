//! `--check`'s warnings about guessable doors: doors that a stranger could
//! open without knowing their sequence (a port sweep, a guess, a service's
//! own traffic), and each door's guessing space. They are warnings, not
//! problems: the configuration works as written, so the exit status stays.

use knock_proto::rotating::{RotatingProtocol, Rotation};
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
            Some(listed_space(door.active_sequence()?, door.door.strict))
        }
        SequenceSource::Rotating(source) => {
            let rotation = &source.rotation;
            let knocks = rotation.length();
            Some(format!(
                "{:.1} bits ({knocks} knock{} of {} ports each{}), a new sequence every {} s, \
                 each opening the door once",
                rotation.entropy_bits(),
                plural(knocks),
                rotation.range().span(),
                if rotation.protocol() == RotatingProtocol::Mixed {
                    ", TCP or UDP"
                } else {
                    ""
                },
                rotation.step()
            ))
        }
    }
}

/// A listed sequence: `Length × log2(65535)` bits for a blind guess; but
/// unless the door is strict, the capture filter shows knockd only the
/// sequence's ports, so a sweep's misses cost nothing and break no attempt.
fn listed_space(sequence: &Sequence, strict: bool) -> String {
    let knocks = sequence.len();
    let against_sweeps = if strict {
        "a sweep breaks the attempt (Strict)"
    } else {
        "far less against port sweeps, whose misses knockd never sees (Strict = yes stops them)"
    };
    format!(
        "{:.1} bits ({knocks} knock{} of {PORTS} ports each) against a blind guess; {against_sweeps}",
        bits(knocks, PORTS),
        plural(knocks)
    )
}

/// Rotating doors weaker than this many bits are warned about.
const FEWEST_ROTATING_BITS: f64 = 32.0;

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
        let found = match (&door.sequence, runtime.active_sequence()) {
            (SequenceSource::Rotating(source), _) => rotating_warnings(door, &source.rotation),
            (_, Some(sequence)) => listed_warnings(door, sequence, listening),
            (_, None) => continue,
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

/// What makes a rotating door guessable: too few bits, or any segment
/// counting as a knock.
fn rotating_warnings(door: &Door, rotation: &Rotation) -> Vec<String> {
    let mut warnings = Vec::new();
    let bits = rotation.entropy_bits();
    if bits < FEWEST_ROTATING_BITS {
        warnings.push(format!(
            "a rotating sequence of {bits:.1} bits can be guessed within a step; use a longer \
             Rotating_Length or a wider Rotating_Range for at least {FEWEST_ROTATING_BITS:.0}"
        ));
    }
    if door.tcp_flags.is_any() && rotation.protocol() != RotatingProtocol::Udp {
        warnings.push(NO_TCP_FLAGS.to_owned());
    }
    warnings
}

/// The warning for a door with TCP knocks and no `TCPFlags`.
const NO_TCP_FLAGS: &str = "no TCPFlags: any TCP segment to its ports counts as a knock (a stray \
     ACK or RST, a scanner's FIN or Xmas probe); add TCPFlags = syn, which knock sends";

/// What makes a listed sequence guessable.
fn listed_warnings(door: &Door, sequence: &Sequence, listening: &Listening) -> Vec<String> {
    let mut warnings = Vec::new();
    // A strict door breaks a sweep's attempt at its first miss: only a
    // sequence of neighbouring ports is swept without one.
    let swept = monotone(sequence).filter(|_| !door.strict || neighbouring(sequence));
    if let Some(order) = swept {
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
        warnings.push(NO_TCP_FLAGS.to_owned());
    }
    warnings
}

/// Whether each knock's port is next to the one before (`7000,7001,7002`).
fn neighbouring(sequence: &Sequence) -> bool {
    sequence
        .knocks()
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.port.abs_diff(b.port) == 1))
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
            rotating: None,
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
    fn a_strict_door_is_warned_of_its_order_only_for_neighbouring_ports() {
        let strict = |sequence| {
            let mut d = door("d", sequence, "syn");
            d.door.strict = true;
            d
        };
        assert!(warned(&strict("7000,8000,9000")).is_empty());
        let w = warned(&strict("7000,7001,7002"));
        assert!(w[0].contains("is in ascending order"), "{w:?}");
        let space = guessing_space(&strict("7000,8000,9000")).unwrap();
        assert!(
            space.ends_with("a sweep breaks the attempt (Strict)"),
            "{space}"
        );
    }

    #[test]
    fn rotating_doors_show_their_entropy_and_are_warned_under_32_bits() {
        let rotating = |range: &str, length| {
            let rotation =
                Rotation::new(30, range.parse().unwrap(), length, RotatingProtocol::Tcp, 1);
            let source = knockd_core::config::RotatingSource {
                secret_file: "k".into(),
                rotation: rotation.unwrap(),
            };
            let mut door = Door::new("r", SequenceSource::Rotating(source));
            door.tcp_flags = TcpFlags::parse("syn").unwrap();
            RuntimeDoor {
                door,
                one_time: None,
                rotating: None,
            }
        };
        let strong = rotating("1024-65535", 4);
        assert!(warned(&strong).is_empty());
        assert_eq!(
            guessing_space(&strong).unwrap(),
            "63.9 bits (4 knocks of 64512 ports each), a new sequence every 30 s, each opening \
             the door once"
        );
        let w = warned(&rotating("40000-40999", 3));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("door r: a rotating sequence of 29.9 bits"),
            "{w:?}"
        );
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
             port sweeps, whose misses knockd never sees (Strict = yes stops them)"
        );
        assert!(guessing_space(&door("d", "8153", "syn"))
            .unwrap()
            .starts_with("16.0 bits (1 knock of"));
    }
}
