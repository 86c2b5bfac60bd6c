//! Checks of knockd-core's input paths on arbitrary bytes: the knockd.conf
//! and TOML readers, the frame decoder, the matching engine and the opener
//! process's reader of the watcher's requests.
//!
//! Shared by the fuzz targets and by `knockd/core/tests/fuzz_regressions.rs`,
//! which replays the committed corpus and crash inputs on stable Rust. A
//! check returns normally for any input the code handles correctly and
//! panics otherwise.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use knock_proto::{Knock, Protocol, Sequence, TcpFlag, TcpFlags};
use knockd_core::config::{self, Config, ConfigError, SequenceSource};
use knockd_core::engine::{Engine, EngineDoor, Event, Limits};
use knockd_core::wire::LinkType;
use knockd_core::Packet;
use knockd_testkit::PacketBuilder;

use crate::proto_checks::{check_flags_round_trip, check_sequence_round_trip};

/// Reads `data` as knockd.conf.
pub fn knockd_conf(data: &[u8]) {
    let path = Path::new("fuzz/knockd.conf");
    check_config(path, data, config::knockd_conf::parse(path, data));
}

/// Reads `data` as a TOML configuration.
pub fn toml_config(data: &[u8]) {
    let path = Path::new("fuzz/knockd.toml");
    check_config(path, data, config::toml::parse(path, data));
}

/// What either reader must give: an error that names the file and a line
/// that exists, or doors whose sequences and flag specs print in a form that
/// reads back the same.
fn check_config(path: &Path, data: &[u8], result: Result<Config, ConfigError>) {
    match result {
        Ok(config) => {
            for door in &config.doors {
                if let SequenceSource::Fixed(sequence) = &door.sequence {
                    check_sequence_round_trip(sequence);
                }
                if !door.tcp_flags.is_any() {
                    check_flags_round_trip(door.tcp_flags);
                }
            }
        }
        Err(error) => {
            assert_eq!(error.path, path, "the error names another file");
            let lines = data.split(|&b| b == b'\n').count();
            assert!(
                error.line.is_none_or(|line| (1..=lines).contains(&line)),
                "error on line {:?} of a {lines}-line file: {error}",
                error.line
            );
            assert!(error.to_string().contains("knockd"), "{error}");
        }
    }
}

/// Decodes `data[1..]` as a frame of the link type `data[0]` picks.
///
/// Besides never panicking, a frame that decodes must survive a rebuild: the
/// builder's frame for the decoded packet decodes to the same packet.
pub fn decode(data: &[u8]) {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType::ALL[usize::from(pick) % LinkType::ALL.len()];
    match knockd_core::wire::decode(link, frame) {
        Ok(packet) => {
            let rebuilt = PacketBuilder::from_packet(&packet).frame(link);
            assert_eq!(
                knockd_core::wire::decode(link, &rebuilt),
                Ok(packet),
                "the rebuilt {link} frame of a decoded packet decodes differently"
            );
        }
        Err(error) => {
            assert!(!error.to_string().is_empty() && !error.kind().name().is_empty());
        }
    }
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1));
const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 99));
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 200));
const SOURCES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)),
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, 3)),
    IpAddr::V4(Ipv4Addr::new(198, 18, 2, 3)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2)),
];
const DESTINATIONS: [IpAddr; 4] = [LOCAL, LOCAL, TARGET, ELSEWHERE];
/// Door timeouts: the edge cases (zero, one tick, one so long that deadlines
/// overflow `Instant`) and the multiples of the time steps below, so knocks
/// often land exactly on a deadline.
const TIMEOUTS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(25),
    Duration::MAX,
];
/// Packet flag bytes: SYN, SYN+ACK, ACK, FIN, none, RST, all six, all eight.
const PACKET_FLAGS: [u8; 8] = [0x02, 0x12, 0x10, 0x01, 0x00, 0x04, 0x3f, 0xff];
/// Time steps in milliseconds; `None` steps one second back, which the
/// engine must take as time standing still.
const STEPS: [Option<u64>; 8] = [
    Some(0),
    Some(0),
    Some(250),
    Some(500),
    Some(1000),
    Some(2000),
    Some(30_000),
    None,
];

/// Feeds the engine the doors and the packet/timer stream that `data`
/// spells, checking after every step that attempts stay within the cap, that
/// no attempt outlives its deadline once the timer ran, and that every stage,
/// open and timeout is backed by the knocks the door actually saw.
///
/// Layout: one byte for the cap (low bits) and whether the interface has no
/// address (bit 7); one for the number of doors (1 to 3); per door a header
/// byte (knock count, timeout, flags, target) and one byte per knock (port 1
/// to 4, protocol; a first knock byte of `0xf?` disables the door). Then
/// operations: an opcode byte (low nibble: kind, high bits: time step) and
/// its operands, until the input runs out.
pub fn engine(data: &[u8]) {
    let mut input = Reader(data.iter());
    let (Some(setup), Some(door_count)) = (input.byte(), input.byte()) else {
        return;
    };
    let cap = 1 + usize::from(setup % 6);
    let local = if setup & 0x80 != 0 {
        vec![]
    } else {
        vec![LOCAL]
    };
    let mut doors = Vec::new();
    for _ in 0..1 + door_count % 3 {
        let Some(door) = read_door(&mut input) else {
            return;
        };
        doors.push(door);
    }

    let base = Instant::now();
    let mut offset_ms = 60_000u64;
    let mut engine = Engine::new(doors.clone(), local.clone(), Limits { max_attempts: cap });
    let mut tracker = Tracker {
        doors,
        local,
        reached: HashMap::new(),
        clock: base,
    };
    let mut sent = 0u16;
    while let Some(op) = input.byte() {
        offset_ms = match STEPS[usize::from(op >> 4) % STEPS.len()] {
            Some(step) => offset_ms + step,
            None => offset_ms.saturating_sub(1000),
        };
        let now = base + Duration::from_millis(offset_ms);
        let mut events = Vec::new();
        match op & 0x0f {
            0..=11 => {
                let (Some(shape), Some(port)) = (input.byte(), input.byte()) else {
                    return;
                };
                // Each packet from a port of its own: the history oracle
                // below knows nothing of retransmissions.
                let packet = Packet {
                    src_port: 40000u16.wrapping_add(sent),
                    ..read_packet(shape, port)
                };
                sent = sent.wrapping_add(1);
                tracker.clock = tracker.clock.max(now);
                tracker.record(&packet);
                engine.on_packet(&packet, now, &mut events);
                tracker.check(&events, Some(&packet));
            }
            12 | 13 => {
                tracker.clock = tracker.clock.max(now);
                engine.on_timer(now, &mut events);
                tracker.check(&events, None);
                assert!(
                    engine.next_deadline().is_none_or(|d| d > tracker.clock),
                    "an attempt outlived its deadline after on_timer"
                );
            }
            14 => {
                let Some(pick) = input.byte() else {
                    return;
                };
                let door = usize::from(pick) % tracker.doors.len();
                let sequence = if pick & 0x80 != 0 {
                    None
                } else {
                    let Some(sequence) = read_knocks(&mut input, 1 + usize::from(pick >> 4 & 3))
                    else {
                        return;
                    };
                    Some(sequence)
                };
                engine.set_sequence(door, sequence.clone());
                tracker.set_sequence(door, sequence);
            }
            _ => {
                let local = match input.byte() {
                    Some(pick) if pick % 3 == 0 => vec![],
                    Some(pick) if pick % 3 == 1 => vec![LOCAL],
                    Some(_) => vec![ELSEWHERE, LOCAL],
                    None => return,
                };
                engine.set_local_addrs(local.clone());
                tracker.local = local;
            }
        }
        assert!(engine.attempts() <= cap, "more attempts than the cap");
    }
}

/// A fuzz input read a byte at a time.
struct Reader<'a>(std::slice::Iter<'a, u8>);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        self.0.next().copied()
    }
}

fn read_door(input: &mut Reader<'_>) -> Option<EngineDoor> {
    let header = input.byte()?;
    let mut tcp_flags = TcpFlags::ANY;
    match header >> 5 & 3 {
        0 => {}
        1 => tcp_flags.require(TcpFlag::Syn),
        2 => {
            tcp_flags.require(TcpFlag::Syn);
            tcp_flags.forbid(TcpFlag::Ack);
        }
        _ => tcp_flags.forbid(TcpFlag::Ack),
    }
    let sequence = read_knocks(input, 1 + usize::from(header & 3))?;
    let disabled = sequence.knocks().first().is_some_and(|k| k.port >= 0xf0);
    Some(EngineDoor {
        name: "door".into(),
        sequence: (!disabled).then_some(sequence),
        seq_timeout: TIMEOUTS[usize::from(header >> 2 & 7)],
        tcp_flags,
        target: (header & 0x80 != 0).then_some(TARGET),
        // The history oracle below knows nothing of cooldowns.
        cooldown: Duration::ZERO,
        sources: knockd_core::sources::SourceFilter::default(),
        allow_repeats: false,
        strict: false,
        rotating: false,
        open_prefix: Default::default(),
    })
}

/// `count` knocks, one byte each: port 1 to 4 in the low bits, UDP in bit 2.
/// A byte of `0xf?` knocks port `0xf?`, which no packet reaches (packets
/// knock 1 to 5) and which marks a door disabled when it comes first.
fn read_knocks(input: &mut Reader<'_>, count: usize) -> Option<Sequence> {
    let mut knocks = Vec::with_capacity(count);
    for _ in 0..count {
        let byte = input.byte()?;
        let protocol = if byte & 4 != 0 {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let port = if byte >= 0xf0 {
            u16::from(byte)
        } else {
            1 + u16::from(byte & 3)
        };
        knocks.push(Knock::new(port, protocol));
    }
    Sequence::new(knocks).ok()
}

/// A packet to port 1 to 5 (5 is in no sequence) from one of four sources.
fn read_packet(shape: u8, port: u8) -> Packet {
    let protocol = if shape & 0x10 != 0 {
        Protocol::Udp
    } else {
        Protocol::Tcp
    };
    Packet {
        src: SOURCES[usize::from(shape & 3)],
        dst: DESTINATIONS[usize::from(shape >> 2 & 3)],
        protocol,
        src_port: 40000,
        dst_port: 1 + u16::from(port % 5),
        tcp_flags: PACKET_FLAGS[usize::from(shape >> 5)],
    }
}

/// What the engine was shown, from the outside: for each source and door, the
/// knocks that reached the door (visible, right destination, right flags).
struct Tracker {
    doors: Vec<EngineDoor>,
    local: Vec<IpAddr>,
    reached: HashMap<(IpAddr, usize), Vec<(Instant, Knock)>>,
    /// The engine's notion of now: the latest time fed to it so far (the
    /// other operations do not show it the time).
    clock: Instant,
}

impl Tracker {
    fn reaches(&self, door: &EngineDoor, packet: &Packet) -> bool {
        let destination = match door.target {
            Some(target) => target == packet.dst,
            None => self.local.contains(&packet.dst),
        };
        let flags = packet.protocol == Protocol::Udp || door.tcp_flags.matches(packet.tcp_flags);
        door.sequence.is_some() && destination && flags
    }

    fn record(&mut self, packet: &Packet) {
        let knock = Knock::new(packet.dst_port, packet.protocol);
        let visible = self.doors.iter().any(|door| {
            let listed = door
                .sequence
                .as_ref()
                .is_some_and(|s| s.knocks().contains(&knock));
            listed && self.reaches(door, packet)
        });
        if !visible {
            return;
        }
        for index in 0..self.doors.len() {
            if self
                .doors
                .get(index)
                .is_some_and(|d| self.reaches(d, packet))
            {
                let history = self.reached.entry((packet.src, index)).or_default();
                history.push((self.clock, knock));
            }
        }
    }

    /// The engine drops the door's attempts, so earlier knocks no longer count.
    fn set_sequence(&mut self, door: usize, sequence: Option<Sequence>) {
        if let Some(entry) = self.doors.get_mut(door) {
            entry.sequence = sequence;
        }
        self.reached.retain(|&(_, d), _| d != door);
    }

    /// Checks the events of one step; `packet` is the packet just fed, if any.
    fn check(&self, events: &[Event], packet: Option<&Packet>) {
        for event in events {
            match *event {
                Event::Stage {
                    source,
                    door,
                    stage,
                } => {
                    let (first, timeout) = self.attempt(source, door, stage, 0);
                    assert!(
                        stage == 1 || first.checked_add(timeout).is_none_or(|d| self.clock < d),
                        "{event:?}: stage reached after the door's timeout"
                    );
                }
                Event::Open { source, door } => {
                    let length = self.sequence(door).len();
                    let (first, timeout) = self.attempt(source, door, length, 0);
                    assert!(
                        length == 1 || first.checked_add(timeout).is_none_or(|d| self.clock < d),
                        "{event:?}: opened after the door's timeout"
                    );
                }
                Event::Timeout {
                    source,
                    door,
                    stage,
                } => {
                    // On a packet, the timed-out attempt ends just before it.
                    let (first, timeout) =
                        self.attempt(source, door, stage, usize::from(packet.is_some()));
                    assert!(
                        first.checked_add(timeout).is_some_and(|d| d <= self.clock),
                        "{event:?}: timed out before its deadline"
                    );
                }
                Event::FlagsIgnored {
                    door,
                    flag,
                    must_be_set,
                    ..
                } => {
                    let flags = packet.map(|p| p.tcp_flags);
                    let spec = self.doors.get(door).map(|d| d.tcp_flags);
                    assert_eq!(
                        spec.zip(flags).and_then(|(s, f)| s.first_violation(f)),
                        Some((flag, must_be_set)),
                        "{event:?}: the packet's flags are fine for the door"
                    );
                }
                Event::Invalidated { .. } | Event::Evicted { .. } => {}
                Event::CoolingDown { .. } => panic!("{event:?} from a door without a cooldown"),
                Event::SourceRefused { .. } | Event::NotAllowed { .. } => {
                    panic!("{event:?}: every source here may knock")
                }
                Event::Retransmission { .. } => {
                    panic!("{event:?}: every packet here has its own source port")
                }
                Event::Spent { .. } => panic!("{event:?}: no door here rotates"),
            }
        }
    }

    fn sequence(&self, door: usize) -> &Sequence {
        let sequence = self.doors.get(door).and_then(|d| d.sequence.as_ref());
        sequence.unwrap_or_else(|| panic!("an event for door {door}, which has no sequence"))
    }

    /// The `stage` knocks of `source`'s attempt on `door`, which end `skip`
    /// knocks before the latest one the door saw: asserts they are the start
    /// of the door's sequence; returns the first one's time and the door's
    /// timeout.
    fn attempt(
        &self,
        source: IpAddr,
        door: usize,
        stage: usize,
        skip: usize,
    ) -> (Instant, Duration) {
        let sequence = self.sequence(door);
        let history = self
            .reached
            .get(&(source, door))
            .map_or(&[][..], Vec::as_slice);
        let end = history.len().saturating_sub(skip);
        let run = history
            .get(end.saturating_sub(stage)..end)
            .filter(|run| stage > 0 && run.len() == stage)
            .unwrap_or_else(|| {
                panic!("{source} reached door {door} fewer than {stage} times for that stage")
            });
        assert!(
            run.iter()
                .map(|&(_, knock)| knock)
                .eq(sequence.knocks().iter().take(stage).copied()),
            "{source}'s last {stage} knocks on door {door} are not the start of its sequence"
        );
        let first = run.first().map_or(self.clock, |&(at, _)| at);
        let timeout = self
            .doors
            .get(door)
            .map_or(Duration::ZERO, |d| d.seq_timeout);
        (first, timeout)
    }
}

/// Reads `data` as a request from knockd's watcher process to its opener
/// (root reads these): any bytes give a request or an error, and a request
/// encodes back to bytes that read as the same request.
pub fn privsep_request(data: &[u8]) {
    use knockd_core::privsep::WatcherRequest;
    if let Ok(request) = WatcherRequest::decode(data) {
        assert_eq!(
            WatcherRequest::decode(&request.encode()),
            Ok(request),
            "a decoded request does not survive its own encoding"
        );
    }
}

/// Reads `data` as the kernel's answer to an nftables request (root reads
/// these): acknowledgements, errors, sets, set elements and rules. Any bytes
/// give messages or an error; each element listed open is one of the keys
/// the dump held, never an interval's end.
pub fn nft_reply(data: &[u8]) {
    use knockd_core::nft::reply::{self, Replies, Reply, SetInfo};
    for message in Replies::new(data).take(data.len() / 16 + 1) {
        let Ok(Reply::Data { attrs, .. }) = message else {
            continue;
        };
        let _ = SetInfo::parse(attrs);
        let _ = reply::referenced_sets(attrs);
        let Ok(live) = reply::elements(attrs) else {
            continue;
        };
        let starts: Vec<IpAddr> = (live.iter())
            .filter(|e| !e.interval_end)
            .map(|e| e.key)
            .collect();
        let open = reply::open_elements(live);
        assert_eq!(open.len(), starts.len(), "one open element per start key");
        for element in open {
            assert!(
                starts.contains(&element.element.network()),
                "an open element that is no start key"
            );
        }
    }
}
