//! Property tests over arbitrary doors and packet/timer streams.
//!
//! Two oracles: a naive reference model (a plain list of attempts, scanned
//! linearly, no cap) that must produce exactly the engine's events while the
//! cap is out of reach; and, with a tiny cap, a history check that every open
//! is earned: the last knocks of that source that the door could see are
//! exactly its sequence, all within the timeout of the first.

use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1));
const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 99));
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 200));
const SOURCES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)),
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, 3)),
    IpAddr::V4(Ipv4Addr::new(198, 18, 2, 3)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2)),
];

#[derive(Debug, Clone)]
enum Step {
    Packet { after_ms: u64, packet: Packet },
    Timer { after_ms: u64 },
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)]
}

fn engine_door() -> impl Strategy<Value = EngineDoor> {
    let knock = (1u16..=4, protocol()).prop_map(|(port, protocol)| Knock::new(port, protocol));
    let flags = prop_oneof![
        Just(TcpFlags::ANY),
        Just(TcpFlags::parse("syn").unwrap()),
        Just(TcpFlags::parse("syn,!ack").unwrap()),
    ];
    (
        prop::collection::vec(knock, 1..=4),
        (0u64..16).prop_map(|quarters| quarters * 250),
        flags,
        prop::option::weighted(0.2, Just(TARGET)),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(knocks, timeout_ms, tcp_flags, target, disabled)| EngineDoor {
                name: "d".into(),
                sequence: Some(Sequence::new(knocks).unwrap()).filter(|_| !disabled),
                seq_timeout: Duration::from_millis(timeout_ms),
                tcp_flags,
                target,
                cooldown: Duration::ZERO,
                sources: crate::sources::SourceFilter::default(),
                allow_repeats: false,
                strict: false,
                rotating: false,
                open_prefix: Default::default(),
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    let packet = (
        prop::sample::select(SOURCES.to_vec()),
        prop::sample::select(vec![LOCAL, LOCAL, LOCAL, TARGET, ELSEWHERE]),
        protocol(),
        1u16..=5,
        prop::sample::select(vec![0x02u8, 0x02, 0x12, 0x10, 0x01]),
    )
        .prop_map(|(src, dst, protocol, dst_port, flags)| Packet {
            src,
            dst,
            protocol,
            src_port: 40000,
            dst_port,
            tcp_flags: if protocol == Protocol::Tcp { flags } else { 0 },
        });
    // Quarter-second steps, like the timeouts, so knocks land exactly on
    // deadlines often.
    let delay = (0u64..6).prop_map(|quarters| quarters * 250);
    prop_oneof![
        6 => (delay.clone(), packet).prop_map(|(after_ms, packet)| Step::Packet { after_ms, packet }),
        1 => delay.prop_map(|after_ms| Step::Timer { after_ms }),
    ]
}

/// `packet` sent from a source port of its own: the model and the history
/// oracle know nothing of retransmissions, which the unit tests cover.
fn own_port(packet: &Packet, sent: usize) -> Packet {
    Packet {
        src_port: 40000u16.wrapping_add(sent as u16),
        ..*packet
    }
}

/// The spec, written the obvious way.
struct Model {
    doors: Vec<EngineDoor>,
    local: Vec<IpAddr>,
    /// (source, door, stage, deadline), oldest first.
    attempts: Vec<(IpAddr, usize, usize, Instant)>,
}

impl Model {
    fn passes(&self, door: &EngineDoor, packet: &Packet) -> (bool, bool) {
        let dst_ok = match door.target {
            Some(target) => target == packet.dst,
            None => self.local.contains(&packet.dst),
        };
        let flags_ok = packet.protocol == Protocol::Udp || door.tcp_flags.matches(packet.tcp_flags);
        (dst_ok, flags_ok)
    }

    fn visible(&self, packet: &Packet) -> bool {
        let knock = Knock::new(packet.dst_port, packet.protocol);
        self.doors.iter().any(|door| {
            let listed = door
                .sequence
                .as_ref()
                .is_some_and(|s| s.knocks().contains(&knock));
            listed && self.passes(door, packet) == (true, true)
        })
    }

    fn on_packet(&mut self, packet: &Packet, now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        if !self.visible(packet) {
            return events;
        }
        let knock = Knock::new(packet.dst_port, packet.protocol);
        let source = packet.src;
        let mut free = Vec::new();
        let mut advanced = false;
        for (index, door) in self.doors.iter().enumerate() {
            let Some(sequence) = &door.sequence else {
                continue;
            };
            match self.passes(door, packet) {
                (false, _) => continue,
                (true, false) => {
                    let (flag, must_be_set) =
                        door.tcp_flags.first_violation(packet.tcp_flags).unwrap();
                    events.push(Event::FlagsIgnored {
                        source,
                        door: index,
                        flag,
                        must_be_set,
                    });
                    continue;
                }
                (true, true) => {}
            }
            let mine = self
                .attempts
                .iter()
                .position(|&(s, d, _, _)| s == source && d == index);
            if let Some(at) = mine {
                let (_, _, stage, deadline) = self.attempts.remove(at);
                if deadline <= now {
                    events.push(Event::Timeout {
                        source,
                        door: index,
                        stage,
                    });
                } else if sequence.knocks()[stage] == knock {
                    events.push(Event::Stage {
                        source,
                        door: index,
                        stage: stage + 1,
                    });
                    if stage + 1 == sequence.len() {
                        events.push(Event::Open {
                            source,
                            door: index,
                        });
                    } else {
                        self.attempts
                            .insert(at, (source, index, stage + 1, deadline));
                    }
                    advanced = true;
                    continue;
                } else {
                    events.push(Event::Invalidated {
                        source,
                        door: index,
                    });
                }
            }
            free.push(index);
        }
        // A knock that advanced an attempt starts nothing new.
        if advanced {
            return events;
        }
        for index in free {
            let door = &self.doors[index];
            let Some(sequence) = &door.sequence else {
                continue;
            };
            if sequence.knocks()[0] == knock {
                events.push(Event::Stage {
                    source,
                    door: index,
                    stage: 1,
                });
                if sequence.len() == 1 {
                    events.push(Event::Open {
                        source,
                        door: index,
                    });
                } else {
                    self.attempts
                        .push((source, index, 1, now + door.seq_timeout));
                }
            }
        }
        events
    }

    fn on_timer(&mut self, now: Instant) -> Vec<Event> {
        let mut due: Vec<_> = self
            .attempts
            .iter()
            .copied()
            .filter(|a| a.3 <= now)
            .collect();
        due.sort_by_key(|&(_, door, _, deadline)| (deadline, door));
        self.attempts.retain(|a| a.3 > now);
        due.into_iter()
            .map(|(source, door, stage, _)| Event::Timeout {
                source,
                door,
                stage,
            })
            .collect()
    }
}

/// Whether `source` earned an open of door `index` with the packet just fed:
/// its latest knocks that reached the door (visible, right destination,
/// right flags) are the sequence, all within the timeout of the first.
fn earned(model: &Model, history: &[(Instant, Packet)], source: IpAddr, index: usize) -> bool {
    let door = &model.doors[index];
    let sequence = door.sequence.as_ref().unwrap();
    let seen: Vec<&(Instant, Packet)> = history
        .iter()
        .filter(|(_, p)| {
            p.src == source && model.visible(p) && model.passes(door, p) == (true, true)
        })
        .collect();
    let Some(start) = seen.len().checked_sub(sequence.len()) else {
        return false;
    };
    let run = &seen[start..];
    let knocks_match = run
        .iter()
        .map(|(_, p)| Knock::new(p.dst_port, p.protocol))
        .eq(sequence.knocks().iter().copied());
    let (first, last) = (run[0].0, run[run.len() - 1].0);
    knocks_match && (sequence.len() == 1 || last < first + door.seq_timeout)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_agrees_with_the_reference_model(
        doors in prop::collection::vec(engine_door(), 1..=3),
        steps in prop::collection::vec(step(), 0..150),
    ) {
        let t0 = Instant::now();
        let mut engine = Engine::new(doors.clone(), vec![LOCAL], Limits::default());
        let mut model = Model { doors, local: vec![LOCAL], attempts: Vec::new() };
        let mut now = t0;
        for (sent, step) in steps.iter().enumerate() {
            let mut events = Vec::new();
            let expected = match step {
                Step::Packet { after_ms, packet } => {
                    now += Duration::from_millis(*after_ms);
                    let packet = &own_port(packet, sent);
                    engine.on_packet(packet, now, &mut events);
                    model.on_packet(packet, now)
                }
                Step::Timer { after_ms } => {
                    now += Duration::from_millis(*after_ms);
                    engine.on_timer(now, &mut events);
                    prop_assert!(engine.next_deadline().is_none_or(|d| d > now));
                    model.on_timer(now)
                }
            };
            prop_assert_eq!(events, expected);
            prop_assert_eq!(engine.attempts(), model.attempts.len());
        }
    }

    #[test]
    fn bounded_engine_keeps_cap_and_deadlines_and_opens_only_when_earned(
        doors in prop::collection::vec(engine_door(), 1..=3),
        steps in prop::collection::vec(step(), 0..150),
        cap in 1usize..6,
    ) {
        let t0 = Instant::now();
        let mut engine = Engine::new(doors.clone(), vec![LOCAL], Limits { max_attempts: cap });
        let oracle = Model { doors, local: vec![LOCAL], attempts: Vec::new() };
        let mut history = Vec::new();
        let mut now = t0;
        for (sent, step) in steps.iter().enumerate() {
            let mut events = Vec::new();
            match step {
                Step::Packet { after_ms, packet } => {
                    now += Duration::from_millis(*after_ms);
                    let packet = &own_port(packet, sent);
                    history.push((now, *packet));
                    engine.on_packet(packet, now, &mut events);
                }
                Step::Timer { after_ms } => {
                    now += Duration::from_millis(*after_ms);
                    engine.on_timer(now, &mut events);
                    prop_assert!(engine.next_deadline().is_none_or(|d| d > now));
                }
            }
            prop_assert!(engine.attempts() <= cap);
            for event in &events {
                if let Event::Open { source, door } = *event {
                    prop_assert!(earned(&oracle, &history, source, door), "unearned {:?}", event);
                }
            }
        }
    }
}
