//! Engine behaviour, one test per engine-level item of the conformance
//! checklist (38-61). Tests named `b<N>_...` or saying `0_8_...` pin a
//! deliberate difference from knockd 0.8; the comment gives 0.8's behaviour.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1));
const LOCAL6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 99));
const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 3));
const A6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2));

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

pub(super) fn door(name: &str, sequence: &str, seq_timeout_ms: u64) -> EngineDoor {
    EngineDoor {
        name: name.into(),
        sequence: Some(Sequence::parse(sequence).unwrap()),
        seq_timeout: Duration::from_millis(seq_timeout_ms),
        tcp_flags: TcpFlags::ANY,
        target: None,
        cooldown: Duration::ZERO,
        sources: crate::sources::SourceFilter::default(),
        allow_repeats: false,
        strict: false,
        rotating: false,
        open_prefix: Default::default(),
    }
}

fn with_flags(mut door: EngineDoor, flags: &str) -> EngineDoor {
    door.tcp_flags = TcpFlags::parse(flags).unwrap();
    door
}

/// Source ports handed out to new packets: each knock comes from a port of
/// its own, as a client's new connection does; a retransmission reuses one.
static NEXT_SRC_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(40_000);

fn tcp(src: IpAddr, port: u16, flags: u8) -> Packet {
    Packet {
        src,
        dst: if src.is_ipv4() { LOCAL } else { LOCAL6 },
        protocol: Protocol::Tcp,
        src_port: NEXT_SRC_PORT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        dst_port: port,
        tcp_flags: flags,
    }
}

fn syn(src: IpAddr, port: u16) -> Packet {
    tcp(src, port, SYN)
}

fn udp(src: IpAddr, port: u16) -> Packet {
    Packet {
        protocol: Protocol::Udp,
        tcp_flags: 0,
        ..syn(src, port)
    }
}

fn to(dst: IpAddr, packet: Packet) -> Packet {
    Packet { dst, ..packet }
}

fn stage(source: IpAddr, door: usize, stage: usize) -> Event {
    Event::Stage {
        source,
        door,
        stage,
    }
}

fn open(source: IpAddr, door: usize) -> Event {
    Event::Open { source, door }
}

fn timeout(source: IpAddr, door: usize, stage: usize) -> Event {
    Event::Timeout {
        source,
        door,
        stage,
    }
}

fn invalidated(source: IpAddr, door: usize) -> Event {
    Event::Invalidated { source, door }
}

/// An engine with a fake clock starting at `t0`.
struct Bench {
    engine: Engine,
    t0: Instant,
}

impl Bench {
    fn new(doors: Vec<EngineDoor>) -> Self {
        Self::with_limits(doors, Limits::default())
    }

    fn with_limits(doors: Vec<EngineDoor>, limits: Limits) -> Self {
        Bench {
            engine: Engine::new(doors, vec![LOCAL, LOCAL6], limits),
            t0: Instant::now(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Feeds `packets` at `ms`, returning the events.
    fn knock(&mut self, ms: u64, packets: &[Packet]) -> Vec<Event> {
        let mut events = Vec::new();
        for packet in packets {
            self.engine.on_packet(packet, self.at(ms), &mut events);
        }
        events
    }

    /// Feeds `packets` one second apart from `ms` on, returning all events.
    fn knocks(&mut self, ms: u64, packets: &[Packet]) -> Vec<Event> {
        (ms..)
            .step_by(1000)
            .zip(packets)
            .flat_map(|(ms, packet)| self.knock(ms, std::slice::from_ref(packet)))
            .collect()
    }

    fn timer(&mut self, ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.engine.on_timer(self.at(ms), &mut events);
        events
    }

    fn opens(events: &[Event]) -> Vec<(IpAddr, usize)> {
        events
            .iter()
            .filter_map(|e| match *e {
                Event::Open { source, door } => Some((source, door)),
                _ => None,
            })
            .collect()
    }
}

fn syns(src: IpAddr, ports: &[u16]) -> Vec<Packet> {
    ports.iter().map(|&p| syn(src, p)).collect()
}

#[test]
fn c38_sequence_in_order_opens() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    assert_eq!(
        b.knocks(0, &syns(A, &[7000, 8000, 9000])),
        [stage(A, 0, 1), stage(A, 0, 2), stage(A, 0, 3), open(A, 0)]
    );
    assert_eq!(b.engine.attempts(), 0);
    assert_eq!(b.engine.stats().opened, 1);
}

#[test]
fn c39_port_outside_every_sequence_is_invisible() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = b.knocks(0, &syns(A, &[7000, 8000, 1234, 9000]));
    assert_eq!(
        events,
        [stage(A, 0, 1), stage(A, 0, 2), stage(A, 0, 3), open(A, 0)]
    );
}

#[test]
fn c40_out_of_order_port_invalidates_at_once() {
    // 0.8 marks the attempt failed silently and only prints the debug line
    // `removing failed knock attempt` at the next packet; we report it now.
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = b.knocks(0, &syns(A, &[7000, 9000, 8000, 9000]));
    assert_eq!(events, [stage(A, 0, 1), invalidated(A, 0)]);
    assert_eq!(b.engine.attempts(), 0);
}

#[test]
fn b4_c41_restart_right_after_a_mistake_opens() {
    // 0.8: the second 7000 only invalidates, so `7000 8000 7000 8000 9000`
    // fails there. Here it is reconsidered as a first knock (B4 fixed).
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 10_000)]);
    let events = b.knocks(0, &syns(A, &[7000, 8000, 7000, 8000, 9000]));
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            stage(A, 0, 2),
            invalidated(A, 0),
            stage(A, 0, 1),
            stage(A, 0, 2),
            stage(A, 0, 3),
            open(A, 0),
        ]
    );
    // And a clean sequence afterwards opens again, as in 0.8.
    assert_eq!(
        Bench::opens(&b.knocks(6000, &syns(A, &[7000, 8000, 9000]))),
        [(A, 0)]
    );
}

#[test]
fn c42_packet_with_wrong_flags_is_ignored_not_fatal() {
    // Door 1 has no flags and lists 8000, so an ACK to 8000 is visible.
    let mut b = Bench::new(vec![
        with_flags(door("syn", "7000,8000,9000", 5000), "syn"),
        door("other", "5000,8000", 5000),
    ]);
    let events = b.knocks(
        0,
        &[syn(A, 7000), tcp(A, 8000, ACK), syn(A, 8000), syn(A, 9000)],
    );
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            Event::FlagsIgnored {
                source: A,
                door: 0,
                flag: TcpFlag::Syn,
                must_be_set: true,
            },
            stage(A, 0, 2),
            stage(A, 0, 3),
            open(A, 0),
        ]
    );
}

#[test]
fn c42_negated_flag_is_reported_as_must_be_clear() {
    let mut b = Bench::new(vec![
        with_flags(door("d", "7000,8000", 5000), "syn,!ack"),
        door("other", "7000", 5000),
    ]);
    let events = b.knock(0, &[tcp(A, 7000, SYN | ACK)]);
    assert_eq!(
        events,
        [
            Event::FlagsIgnored {
                source: A,
                door: 0,
                flag: TcpFlag::Ack,
                must_be_set: false,
            },
            stage(A, 1, 1),
            open(A, 1),
        ]
    );
}

#[test]
fn b4_c43_door_without_flags_counts_every_tcp_packet() {
    // 0.8: SYN 7100, ACK 7100, SYN 7200 fails (the ACK invalidates and is
    // dropped). Here the ACK invalidates and restarts the attempt (B4 fixed),
    // so the door opens; it is the ACK that counts as the first knock.
    let mut b = Bench::new(vec![door("d", "7100,7200", 5000)]);
    let events = b.knocks(0, &[syn(A, 7100), tcp(A, 7100, ACK), syn(A, 7200)]);
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            invalidated(A, 0),
            stage(A, 0, 1),
            stage(A, 0, 2),
            open(A, 0),
        ]
    );
    // SYN-ACK then FIN: any flags are knocks, as in 0.8.
    let events = b.knocks(5000, &[tcp(A, 7100, SYN | ACK), tcp(A, 7200, FIN)]);
    assert_eq!(Bench::opens(&events), [(A, 0)]);
}

#[test]
fn b4_c44_duplicate_first_knock_restarts_and_opens() {
    // 0.8: `7000 7000 8000 9000` fails. With B4 fixed the second 7000 restarts.
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = b.knocks(0, &syns(A, &[7000, 7000, 8000, 9000]));
    assert_eq!(Bench::opens(&events), [(A, 0)]);
    assert_eq!(b.engine.stats().invalidated, 1);
}

#[test]
fn c45_a_second_knock_of_the_same_port_fails() {
    // A new connection to 8000 (a new source port) is a new, wrong knock, as in 0.8.
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = b.knocks(0, &syns(A, &[7000, 8000, 8000, 9000]));
    assert_eq!(events, [stage(A, 0, 1), stage(A, 0, 2), invalidated(A, 0)]);
}

#[test]
fn a_resent_syn_is_a_retransmission_and_the_door_still_opens() {
    // knockd issue #92: the firewall drops the knock, the client resends its
    // SYN from the same source port, and 0.8 counted it as a wrong knock.
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let second = syn(A, 8000);
    let events = b.knocks(0, &[syn(A, 7000), second, second, second, syn(A, 9000)]);
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            stage(A, 0, 2),
            Event::Retransmission { source: A, door: 0 },
            Event::Retransmission { source: A, door: 0 },
            stage(A, 0, 3),
            open(A, 0),
        ]
    );
    // A resent first knock too; a resent UDP datagram is a knock as in 0.8.
    let first = syn(A, 7000);
    let events = b.knocks(10_000, &[first, first]);
    assert_eq!(
        events,
        [stage(A, 0, 1), Event::Retransmission { source: A, door: 0 }]
    );
    let mut u = Bench::new(vec![door("u", "7000:udp,8000:udp", 5000)]);
    let datagram = udp(A, 7000);
    let events = u.knocks(0, &[datagram, datagram]);
    assert_eq!(events, [stage(A, 0, 1), invalidated(A, 0), stage(A, 0, 1)]);
}

#[test]
fn c46_repeat_of_the_last_knock_opens_once() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = b.knocks(0, &syns(A, &[7000, 8000, 9000, 9000]));
    assert_eq!(Bench::opens(&events), [(A, 0)]);
    assert_eq!(events.len(), 4);
}

#[test]
fn c47_knock_after_the_timeout_finds_the_attempt_expired() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 3000)]);
    b.knocks(0, &syns(A, &[7000, 8000]));
    assert_eq!(b.knock(5000, &syns(A, &[9000])), [timeout(A, 0, 2)]);
    assert_eq!(b.engine.attempts(), 0);
}

#[test]
fn c47_timer_reports_the_timeout_on_time() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 3000)]);
    b.knocks(0, &syns(A, &[7000, 8000]));
    assert_eq!(b.engine.next_deadline(), Some(b.at(3000)));
    assert_eq!(b.timer(2999), []);
    assert_eq!(b.timer(3000), [timeout(A, 0, 2)]);
    assert_eq!(b.engine.next_deadline(), None);
    assert_eq!(b.knock(4000, &syns(A, &[9000])), []);
}

#[test]
fn eager_timeout_c48_fires_without_traffic() {
    // 0.8 (#71, B2): after `7000` and silence, no timeout is logged until the
    // next filtered packet arrives, maybe hours later. Here on_timer reports it
    // at the deadline.
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 3000)]);
    b.knock(0, &syns(A, &[7000]));
    assert_eq!(b.timer(6000), [timeout(A, 0, 1)]);
    assert_eq!(b.knock(7000, &syns(B, &[8000])), []);
}

#[test]
fn c49_timeout_is_measured_from_the_first_knock() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 3000)]);
    // `knock -d 2000`: the third knock is 4 s after the first.
    let slow = [(0, 7000), (2000, 8000), (4000, 9000)];
    let events: Vec<_> = slow
        .iter()
        .flat_map(|&(ms, port)| b.knock(ms, &[syn(A, port)]))
        .collect();
    assert_eq!(events, [stage(A, 0, 1), stage(A, 0, 2), timeout(A, 0, 2)]);
    // `knock -d 1000` opens.
    assert_eq!(
        Bench::opens(&b.knocks(10_000, &syns(A, &[7000, 8000, 9000]))),
        [(A, 0)]
    );
}

#[test]
fn exact_timing_uses_sub_second_instants() {
    // 0.8 compares whole capture seconds with `>=`, so its window is between
    // seq_timeout - 1 and seq_timeout seconds. Here it is exactly seq_timeout.
    let mut b = Bench::new(vec![door("d", "7000,8000", 3000)]);
    b.knock(0, &syns(A, &[7000]));
    assert_eq!(
        b.knock(2999, &syns(A, &[8000])),
        [stage(A, 0, 2), open(A, 0)]
    );
    b.knock(10_000, &syns(A, &[7000]));
    assert_eq!(b.knock(13_000, &syns(A, &[8000])), [timeout(A, 0, 1)]);
    b.knock(20_000, &syns(A, &[7000]));
    assert_eq!(
        b.knock(22_500, &syns(A, &[8000])),
        [stage(A, 0, 2), open(A, 0)],
        "0.8 could time out here: 20.9 s and 23.4 s are three whole seconds apart"
    );
}

#[test]
fn c50_zero_timeout_only_one_knock_doors_work() {
    let mut b = Bench::new(vec![door("two", "7000,8000", 0), door("one", "6000", 0)]);
    let events = b.knocks(0, &syns(A, &[7000, 8000, 6000]));
    assert_eq!(
        events,
        [stage(A, 0, 1), timeout(A, 0, 1), stage(A, 1, 1), open(A, 1)]
    );
    // Even within the same instant the attempt is already dead.
    b.knock(5000, &syns(A, &[7000]));
    assert_eq!(b.knock(5000, &syns(A, &[8000])), [timeout(A, 0, 1)]);
}

#[test]
fn c51_descending_sweep_opens_descending_sequence() {
    // B1 is kept: non-sequence ports are invisible, so a sweep opens a
    // sequence whose ports descend.
    let mut b = Bench::new(vec![with_flags(door("d", "9149,7209,6962", 25_000), "syn")]);
    let sweep: Vec<Packet> = (6900..=9200).rev().map(|p| syn(A, p)).collect();
    let events = b.knock(0, &sweep);
    assert_eq!(Bench::opens(&events), [(A, 0)]);
}

#[test]
fn b6_c52_attempt_on_one_door_does_not_block_another() {
    // 0.8: with a Stage-1 attempt on door A, door B's full sequence fails (the
    // packet invalidates A and is not offered to B); only the retry opens B.
    // Here every door sees the packet: A is invalidated, B opens at once.
    let mut b = Bench::new(vec![
        door("a", "7000,8000,9000", 5000),
        door("b", "6000,6100", 5000),
    ]);
    let events = b.knocks(0, &syns(A, &[7000, 6000, 6100]));
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            invalidated(A, 0),
            stage(A, 1, 1),
            stage(A, 1, 2),
            open(A, 1),
        ]
    );
}

#[test]
fn a_knock_that_advances_one_door_starts_no_other() {
    // As in 0.8: the last knock of `openSSH` is the first of `closeSSH`, but it
    // is used up by the open and must not leave a closeSSH attempt to time out.
    let mut b = Bench::new(vec![
        door("openSSH", "7000,8000,9000", 5000),
        door("closeSSH", "9000,8000,7000", 5000),
    ]);
    let events = b.knocks(0, &syns(A, &[7000, 8000, 9000]));
    assert_eq!(
        events,
        [stage(A, 0, 1), stage(A, 0, 2), stage(A, 0, 3), open(A, 0)]
    );
    assert_eq!(b.engine.attempts(), 0);
    let events = b.knocks(100, &syns(A, &[9000, 8000, 7000]));
    assert_eq!(
        events,
        [stage(A, 1, 1), stage(A, 1, 2), stage(A, 1, 3), open(A, 1)]
    );
    assert_eq!(b.engine.attempts(), 0);
}

#[test]
fn b5_c53_doors_sharing_a_first_port_both_work() {
    // 0.8: D2 (listed second) never opens with `7000 8001 9001`: D1's failed
    // attempt is the list head and removing it orphans D2's attempt.
    let doors = vec![
        door("d1", "7000,8000,9000", 5000),
        door("d2", "7000,8001,9001", 5000),
    ];
    let mut b = Bench::new(doors);
    let events = b.knocks(0, &syns(A, &[7000, 8001, 9001]));
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            stage(A, 1, 1),
            invalidated(A, 0),
            stage(A, 1, 2),
            stage(A, 1, 3),
            open(A, 1),
        ]
    );
    let events = b.knocks(5000, &syns(A, &[7000, 8000, 9000]));
    assert_eq!(Bench::opens(&events), [(A, 0)]);
}

#[test]
fn b5_c54_interleaved_knockers_both_open() {
    // 0.8: B's progress vanishes when A's finished attempt (the list head) is
    // swept, so only A opens.
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let order = [
        (A, 7000),
        (B, 7000),
        (A, 8000),
        (A, 9000),
        (B, 8000),
        (B, 9000),
    ];
    let packets: Vec<Packet> = order.iter().map(|&(src, port)| syn(src, port)).collect();
    let events = b.knocks(0, &packets);
    assert_eq!(Bench::opens(&events), [(A, 0), (B, 0)]);
}

#[test]
fn c55_target_door_ignores_local_address() {
    let mut vip = door("vip", "7000,8000", 5000);
    vip.target = Some(VIP);
    let mut b = Bench::new(vec![vip]);
    assert_eq!(b.knocks(0, &syns(A, &[7000, 8000])), []);
    let to_vip: Vec<Packet> = syns(A, &[7000, 8000])
        .into_iter()
        .map(|p| to(VIP, p))
        .collect();
    assert_eq!(Bench::opens(&b.knocks(5000, &to_vip)), [(A, 0)]);
}

#[test]
fn target_compare_c56_is_by_address_not_text() {
    // 0.8 compares the address text, so `Target = FD00:1::1` never matches
    // knocks to fd00:1::1. Parsed addresses compare equal whatever the case.
    let mut vip = door("vip", "7000", 5000);
    vip.target = Some("FD00:1::1".parse().unwrap());
    let mut b = Bench::new(vec![vip]);
    let packet = to("fd00:1::1".parse().unwrap(), syn(A6, 7000));
    assert_eq!(b.knock(0, &[packet]), [stage(A6, 0, 1), open(A6, 0)]);
}

#[test]
fn c57_protocol_is_part_of_each_knock() {
    let doors = vec![door("d", "6001:udp,6002:tcp,6003:udp", 5000)];
    let mut b = Bench::new(doors.clone());
    let right = [udp(A, 6001), syn(A, 6002), udp(A, 6003)];
    assert_eq!(Bench::opens(&b.knocks(0, &right)), [(A, 0)]);

    // All UDP: 6002/udp is invisible, 6003/udp is then out of order.
    let mut b = Bench::new(doors.clone());
    let events = b.knocks(0, &[udp(A, 6001), udp(A, 6002), udp(A, 6003)]);
    assert_eq!(events, [stage(A, 0, 1), invalidated(A, 0)]);

    let mut b = Bench::new(doors);
    let swapped = [udp(A, 6001), udp(A, 6003), syn(A, 6002)];
    assert_eq!(Bench::opens(&b.knocks(0, &swapped)), []);
}

#[test]
fn c58_ipv6_knocker_is_reported_by_its_address() {
    let mut b = Bench::new(vec![door("d", "7000,8000", 5000)]);
    let events = b.knocks(0, &syns(A6, &[7000, 8000]));
    assert_eq!(events, [stage(A6, 0, 1), stage(A6, 0, 2), open(A6, 0)]);
}

#[test]
fn ipv4_and_ipv6_of_one_host_are_different_knockers() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = b.knocks(
        0,
        &[syn(A, 7000), syn(A6, 8000), syn(A, 8000), syn(A6, 9000)],
    );
    assert_eq!(events, [stage(A, 0, 1), stage(A, 0, 2)]);
}

#[test]
fn wrong_destination_is_invisible() {
    let mut b = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    b.knock(0, &syns(A, &[7000]));
    // To another host on the segment: not a knock, and not a wrong one either.
    assert_eq!(b.knock(100, &[to(VIP, syn(A, 9000))]), []);
    let events = b.knock(200, &syns(A, &[8000, 9000]));
    assert_eq!(Bench::opens(&events), [(A, 0)]);
}

#[test]
fn without_local_addresses_only_target_doors_accept_knocks() {
    // An interface waiting for its first address: as in 0.8, whose
    // destination check compared with an empty address list.
    let mut target = door("t", "7000", 5000);
    target.target = Some(VIP);
    let doors = vec![door("d", "7000", 5000), target];
    let mut engine = Engine::new(doors, vec![], Limits::default());
    let mut events = Vec::new();
    engine.on_packet(&to(LOCAL, syn(A, 7000)), Instant::now(), &mut events);
    engine.on_packet(&to(VIP, syn(A, 7000)), Instant::now(), &mut events);
    assert_eq!(events, [stage(A, 1, 1), open(A, 1)]);
    engine.set_local_addrs(vec![LOCAL]);
    events.clear();
    engine.on_packet(&to(LOCAL, syn(A, 7000)), Instant::now(), &mut events);
    assert_eq!(events, [stage(A, 0, 1), open(A, 0)]);
}

#[test]
fn one_knock_door_opens_on_every_packet() {
    // B13 kept: every matching packet fires, as in 0.8.
    let mut b = Bench::new(vec![door("d", "19132:udp", 5000)]);
    let events = b.knock(0, &[udp(A, 19132), udp(A, 19132), udp(A, 19132)]);
    assert_eq!(Bench::opens(&events).len(), 3);
    assert_eq!(b.engine.attempts(), 0);
}

#[test]
fn disabled_door_sees_nothing() {
    let mut d = door("d", "7000", 5000);
    d.sequence = None;
    let mut b = Bench::new(vec![d]);
    assert_eq!(b.knock(0, &syns(A, &[7000])), []);
}

#[test]
fn set_sequence_drops_the_doors_attempts() {
    let mut b = Bench::new(vec![
        door("otp", "1001,1002", 5000),
        door("x", "1001,5", 5000),
    ]);
    b.knock(0, &syns(A, &[1001]));
    assert_eq!(b.engine.attempts(), 2);
    b.engine
        .set_sequence(0, Some(Sequence::parse("2001,2002").unwrap()));
    assert_eq!(b.engine.attempts(), 1);
    // The old sequence's second knock means nothing to door 0 now.
    assert_eq!(b.knock(100, &syns(A, &[1002])), []);
    let events = b.knock(200, &syns(A, &[2001, 2002]));
    assert_eq!(Bench::opens(&events), [(A, 0)]);
    b.engine.set_sequence(0, None);
    assert_eq!(b.knock(300, &syns(A, &[2001])), []);
}

#[test]
fn reload_keeps_attempts_of_unchanged_doors() {
    // 0.8 (checklist 81) drops every in-progress attempt on SIGHUP.
    let kept = door("kept", "7000,8000,9000", 5000);
    let changed = door("changed", "7000,8000", 5000);
    let mut b = Bench::new(vec![kept.clone(), changed]);
    b.knocks(0, &syns(A, &[7000, 8000]));
    assert_eq!(b.engine.attempts(), 1); // `changed` opened already
    b.knock(2000, &syns(B, &[7000]));
    assert_eq!(b.engine.attempts(), 3);

    // `kept` moves to index 1; the other door's timeout changes.
    let new_door = door("new", "7000,6000", 5000);
    let changed = door("changed", "7000,8000", 6000);
    b.engine
        .reconfigure(vec![new_door, kept, changed], vec![LOCAL, LOCAL6]);
    assert_eq!(b.engine.attempts(), 2);
    assert_eq!(
        b.knock(2500, &syns(A, &[9000])),
        [stage(A, 1, 3), open(A, 1)]
    );
    // B's attempt on the changed door is gone; on `kept` it carries on.
    assert_eq!(b.knock(3000, &syns(B, &[8000])), [stage(B, 1, 2)]);
    // Kept attempts keep their deadline too.
    assert_eq!(b.timer(7000), [timeout(B, 1, 2)]);
}

#[test]
fn reload_pairs_duplicate_doors_one_to_one() {
    let d = door("dup", "7000,8000", 5000);
    let mut b = Bench::new(vec![d.clone(), d.clone()]);
    b.knock(0, &syns(A, &[7000]));
    assert_eq!(b.engine.attempts(), 2);
    b.engine.reconfigure(vec![d], vec![LOCAL]);
    assert_eq!(b.engine.attempts(), 1);
    assert_eq!(
        b.knock(100, &syns(A, &[8000])),
        [stage(A, 0, 2), open(A, 0)]
    );
}

#[test]
fn set_local_addrs_changes_what_is_local() {
    let mut b = Bench::new(vec![door("d", "7000", 5000)]);
    b.engine.set_local_addrs(vec![VIP]);
    assert_eq!(b.knock(0, &syns(A, &[7000])), []);
    assert_eq!(b.knock(0, &[to(VIP, syn(A, 7000))]).len(), 2);
}

#[test]
fn flood_of_first_knocks_evicts_stage_one_attempts_only() {
    let limits = Limits { max_attempts: 100 };
    let mut b = Bench::with_limits(vec![door("d", "7000,8000,9000", 60_000)], limits);
    // A real knocker reaches stage 2 first.
    b.knock(0, &syns(A, &[7000, 8000]));
    for n in 0..1000u32 {
        let spoofed = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
        let events = b.knock(100 + u64::from(n), &syns(spoofed, &[7000]));
        assert!(b.engine.attempts() <= 100);
        if n >= 99 {
            // Full: each newcomer pushes out the oldest spoofed attempt.
            let oldest = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n - 99));
            assert_eq!(
                events,
                [
                    Event::Evicted {
                        source: oldest,
                        door: 0,
                        stage: 1
                    },
                    stage(spoofed, 0, 1)
                ]
            );
        }
    }
    assert_eq!(b.engine.stats().evicted, 901);
    assert_eq!(
        b.knock(2000, &syns(A, &[9000])),
        [stage(A, 0, 3), open(A, 0)]
    );
}

#[test]
fn eviction_prefers_the_least_advanced_then_the_oldest() {
    let limits = Limits { max_attempts: 3 };
    let mut b = Bench::with_limits(vec![door("d", "1,2,3,4", 60_000)], limits);
    b.knock(0, &syns(A, &[1, 2, 3])); // stage 3
    b.knock(1, &syns(B, &[1, 2])); // stage 2
    b.knock(2, &syns(A6, &[1])); // stage 1
    let c = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 4));
    let d = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 5));
    let evicted = |events: Vec<Event>| {
        events.into_iter().find_map(|e| match e {
            Event::Evicted { source, stage, .. } => Some((source, stage)),
            _ => None,
        })
    };
    assert_eq!(evicted(b.knock(3, &syns(c, &[1]))), Some((A6, 1)));
    assert_eq!(evicted(b.knock(4, &syns(d, &[1, 2]))), Some((c, 1)));
    // Now B and d are both at stage 2; B got there first.
    assert_eq!(evicted(b.knock(5, &syns(c, &[1]))), Some((B, 2)));
    assert_eq!(b.engine.attempts(), 3);
}

#[test]
fn timer_fires_in_deadline_order_across_doors() {
    let mut b = Bench::new(vec![door("slow", "1,2", 5000), door("fast", "3,4", 1000)]);
    b.knock(0, &syns(A, &[1]));
    b.knock(500, &syns(A6, &[3]));
    b.knock(600, &syns(B, &[1]));
    assert_eq!(b.engine.next_deadline(), Some(b.at(1500)));
    assert_eq!(
        b.timer(10_000),
        [timeout(A6, 1, 1), timeout(A, 0, 1), timeout(B, 0, 1)]
    );
    assert_eq!(b.engine.stats().timed_out, 3);
}

#[test]
fn time_running_backwards_is_treated_as_standing_still() {
    let mut b = Bench::new(vec![door("d", "1,2", 1000)]);
    b.knock(5000, &syns(A, &[1]));
    b.knock(7000, &syns(B, &[1]));
    // An earlier instant must not bring A's expired attempt back to life.
    assert_eq!(b.knock(0, &syns(A, &[2])), [timeout(A, 0, 1)]);
    b.knock(8000, &syns(A, &[1]));
    assert_eq!(b.timer(8500), [timeout(B, 0, 1)]);
    assert_eq!(b.timer(0), []);
    assert_eq!(b.timer(9000), [timeout(A, 0, 1)]);
}

fn cooling(source: IpAddr, door: usize) -> Event {
    Event::CoolingDown { source, door }
}

fn with_cooldown(mut door: EngineDoor, ms: u64) -> EngineDoor {
    door.cooldown = Duration::from_millis(ms);
    door
}

#[test]
fn a_cooling_door_ignores_its_knocker_and_no_one_else() {
    // knockd issue #86: a one-element UDP door fired on every packet.
    let mut b = Bench::new(vec![with_cooldown(door("udp", "5000:udp", 1000), 5000)]);
    assert_eq!(b.knock(0, &[udp(A, 5000)]), [stage(A, 0, 1), open(A, 0)]);
    assert_eq!(
        b.knock(10, &[udp(A, 5000), udp(A, 5000)]),
        [cooling(A, 0), cooling(A, 0)]
    );
    assert_eq!(b.knock(20, &[udp(B, 5000)]), [stage(B, 0, 1), open(B, 0)]);
    assert_eq!(b.knock(4999, &[udp(A, 5000)]), [cooling(A, 0)]);
    assert_eq!(b.knock(5000, &[udp(A, 5000)]), [stage(A, 0, 1), open(A, 0)]);
    assert_eq!(b.engine.stats().opened, 3);
}

#[test]
fn a_prefix_door_cools_down_for_the_knockers_network() {
    let mut prefix = with_cooldown(door("udp", "5000:udp", 1000), 5000);
    prefix.open_prefix.v4 = Some(24);
    let mut b = Bench::new(vec![prefix]);
    assert_eq!(b.knock(0, &[udp(A, 5000)]), [stage(A, 0, 1), open(A, 0)]);
    // B is in A's /24: the door is cooling for both.
    assert_eq!(b.knock(10, &[udp(B, 5000)]), [cooling(B, 0)]);
    assert_eq!(b.knock(5000, &[udp(B, 5000)]), [stage(B, 0, 1), open(B, 0)]);
}

#[test]
fn a_cooling_knocker_starts_no_attempt() {
    let mut b = Bench::new(vec![with_cooldown(door("ssh", "7000,8000", 10_000), 3000)]);
    let opened = b.knocks(0, &[syn(A, 7000), syn(A, 8000)]);
    assert_eq!(opened, [stage(A, 0, 1), stage(A, 0, 2), open(A, 0)]);
    assert_eq!(b.knock(1500, &[syn(A, 7000)]), [cooling(A, 0)]);
    assert_eq!(b.engine.attempts(), 0);
    assert_eq!(b.knock(4000, &[syn(A, 7000)]), [stage(A, 0, 1)]);
}

#[test]
fn cooldowns_follow_their_door_across_a_reload() {
    let ssh = with_cooldown(door("ssh", "5000:udp", 1000), 5000);
    let mut b = Bench::new(vec![ssh.clone()]);
    b.knock(0, &[udp(A, 5000)]);
    let other = door("other", "6000", 1000);
    b.engine.reconfigure(vec![other, ssh], vec![LOCAL, LOCAL6]);
    assert_eq!(b.knock(10, &[udp(A, 5000)]), [cooling(A, 1)]);
}

#[test]
fn sources_that_cannot_knock_change_nothing() {
    let mut b = Bench::new(vec![door("one", "5000:udp", 1000)]);
    for source in [
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "::",
        "ff02::1",
        "127.0.0.1",
        "::1",
        "198.18.1.1",
        "fd00:1::1",
    ] {
        let source: IpAddr = source.parse().unwrap();
        assert_eq!(
            b.knock(0, &[udp(source, 5000)]),
            [Event::SourceRefused { source }],
            "{source}"
        );
    }
    assert_eq!(b.engine.stats().refused_sources, 10);
    assert_eq!(b.engine.stats().opened, 0);
    // Nor do they count when the packet is no knock at all.
    assert_eq!(b.knock(0, &[udp("0.0.0.0".parse().unwrap(), 5001)]), []);
}

#[test]
fn on_loopback_the_host_may_knock_itself() {
    let mut b = Bench::new(vec![door("one", "5000:udp", 1000)]);
    b.engine.set_loopback_capture(true);
    for source in [LOCAL, "127.0.0.1".parse().unwrap(), "::1".parse().unwrap()] {
        assert_eq!(
            b.knock(0, &[udp(source, 5000)]),
            [stage(source, 0, 1), open(source, 0)]
        );
    }
    let multicast: IpAddr = "224.0.0.1".parse().unwrap();
    assert_eq!(
        b.knock(0, &[udp(multicast, 5000)]),
        [Event::SourceRefused { source: multicast }]
    );
}

fn with_sources(mut door: EngineDoor, allow: &str, deny: &str) -> EngineDoor {
    let list = |t: &str| {
        if t.is_empty() {
            Vec::new()
        } else {
            crate::sources::parse_list(t).unwrap()
        }
    };
    door.sources = SourceFilter {
        allow: list(allow),
        deny: list(deny),
    };
    door
}

fn not_allowed(source: IpAddr, door: usize) -> Event {
    Event::NotAllowed { source, door }
}

#[test]
fn sources_outside_allow_from_or_inside_deny_from_create_no_state() {
    let lists = with_sources(
        door("d", "7000,8000", 5000),
        "198.18.1.0/24, fd00:1::/32",
        "198.18.1.3",
    );
    let mut b = Bench::new(vec![lists, door("open", "7000,9000", 5000)]);
    let outsider = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2));
    // The other door still sees the outsider and the denied source.
    assert_eq!(
        b.knock(0, &[syn(outsider, 7000)]),
        [not_allowed(outsider, 0), stage(outsider, 1, 1)]
    );
    assert_eq!(
        b.knock(1, &[syn(B, 7000)]),
        [not_allowed(B, 0), stage(B, 1, 1)]
    );
    assert_eq!(b.engine.attempts(), 2);
    for (at, who) in [(10, A), (20, A6)] {
        let events = b.knocks(at, &[syn(who, 7000), syn(who, 8000)]);
        assert_eq!(
            events,
            [
                stage(who, 0, 1),
                stage(who, 1, 1),
                stage(who, 0, 2),
                open(who, 0),
                invalidated(who, 1),
            ]
        );
    }
    let deny_v6 = with_sources(door("d6", "7000", 5000), "", "fd00:1::2/128");
    let mut b = Bench::new(vec![deny_v6]);
    assert_eq!(b.knock(0, &[syn(A6, 7000)]), [not_allowed(A6, 0)]);
    assert_eq!(b.knock(1, &[syn(A, 7000)]), [stage(A, 0, 1), open(A, 0)]);
}

fn repeating(mut door: EngineDoor) -> EngineDoor {
    door.allow_repeats = true;
    door
}

#[test]
fn allow_repeats_ignores_a_knock_made_twice_unless_it_is_also_the_next() {
    let resent = |source, door| Event::Retransmission { source, door };
    // A client that knocks each port twice, each time a new connection.
    let mut b = Bench::new(vec![repeating(door("d", "7000,8000,9000", 5000))]);
    let twice = syns(A, &[7000, 7000, 8000, 8000, 9000]);
    assert_eq!(
        b.knocks(0, &twice),
        [
            stage(A, 0, 1),
            resent(A, 0),
            stage(A, 0, 2),
            resent(A, 0),
            stage(A, 0, 3),
            open(A, 0),
        ]
    );
    // UDP datagrams resent by an app.
    let mut u = Bench::new(vec![repeating(door("u", "7000:udp,8000:udp", 5000))]);
    let events = u.knocks(0, &[udp(A, 7000), udp(A, 7000), udp(A, 8000)]);
    assert_eq!(
        events,
        [stage(A, 0, 1), resent(A, 0), stage(A, 0, 2), open(A, 0)]
    );
    // A sequence that repeats a port on purpose still needs both knocks.
    let mut r = Bench::new(vec![repeating(door("r", "7000,7000,8000", 5000))]);
    let events = r.knocks(0, &syns(A, &[7000, 7000, 7000, 8000]));
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            stage(A, 0, 2),
            resent(A, 0),
            stage(A, 0, 3),
            open(A, 0),
        ]
    );
    // Without Allow_Repeats the second connection breaks the attempt (c45).
    let mut plain = Bench::new(vec![door("d", "7000,8000,9000", 5000)]);
    let events = plain.knocks(0, &syns(A, &[7000, 8000, 8000, 9000]));
    assert_eq!(events, [stage(A, 0, 1), stage(A, 0, 2), invalidated(A, 0)]);
}

fn strict(mut door: EngineDoor) -> EngineDoor {
    door.strict = true;
    door
}

#[test]
fn an_in_order_sweep_opens_a_plain_door_but_not_a_strict_one() {
    // What `nmap -r -p 7000-9000` sends: every port in order, one SYN each.
    let sweep: Vec<Packet> = (7000..=9000).map(|p| syn(A, p)).collect();
    let mut plain = Bench::new(vec![door("d", "7000,8000,9000", 60_000)]);
    let events = plain.knock(0, &sweep);
    assert_eq!(Bench::opens(&events), [(A, 0)]);
    let mut guarded = Bench::new(vec![strict(door("d", "7000,8000,9000", 60_000))]);
    let events = guarded.knock(0, &sweep);
    assert_eq!(Bench::opens(&events), []);
    assert_eq!(events[..2], [stage(A, 0, 1), invalidated(A, 0)]);
}

#[test]
fn a_strict_door_ignores_established_traffic_resends_and_other_hosts() {
    let mut b = Bench::new(vec![strict(with_flags(
        door("d", "7000,8000,9000", 60_000),
        "syn",
    ))]);
    let first = syn(A, 7000);
    let mut events = b.knock(0, &[first]);
    // Established traffic (ACK set) and a connection to another host do
    // not count; the client's resent SYN is no new connection.
    events.extend(b.knock(1, &[tcp(A, 22, ACK), tcp(A, 443, SYN | ACK)]));
    events.extend(b.knock(2, &[to(VIP, syn(A, 22)), Packet { ..first }]));
    // Another source's sweep does not touch A's attempt.
    events.extend(b.knock(3, &syns(B, &[22, 80])));
    events.extend(b.knocks(4, &syns(A, &[8000, 9000])));
    assert_eq!(
        events,
        [
            stage(A, 0, 1),
            Event::Retransmission { source: A, door: 0 },
            stage(A, 0, 2),
            stage(A, 0, 3),
            open(A, 0),
        ]
    );
}

#[test]
fn on_a_strict_door_any_other_new_connection_or_datagram_breaks_the_attempt() {
    for intruder in [
        syn(A, 22),
        udp(A, 53),
        udp(A, 8000),
        tcp(A, 8000, SYN | FIN),
    ] {
        let door = strict(with_flags(door("d", "7000,8000,9000", 60_000), "syn,!fin"));
        let mut b = Bench::new(vec![door]);
        let mut events = b.knock(0, &[syn(A, 7000)]);
        events.extend(b.knock(1, &[intruder]));
        events.extend(b.knocks(2, &syns(A, &[8000, 9000])));
        assert_eq!(
            events[..2],
            [stage(A, 0, 1), invalidated(A, 0)],
            "{intruder:?}"
        );
        assert_eq!(Bench::opens(&events), [], "{intruder:?}");
    }
}

fn rotating(name: &str, seq_timeout_ms: u64) -> EngineDoor {
    EngineDoor {
        sequence: None,
        rotating: true,
        open_prefix: Default::default(),
        ..door(name, "1", seq_timeout_ms)
    }
}

fn seq(text: &str) -> Sequence {
    Sequence::parse(text).unwrap()
}

#[test]
fn a_rotating_door_opens_once_per_step_for_any_step_in_its_window() {
    let mut b = Bench::new(vec![rotating("r", 10_000)]);
    let window = vec![
        (100, seq("1001,1002")),
        (99, seq("991,992")),
        (101, seq("1011,1012")),
    ];
    b.engine.rotate([(0, window)], b.at(0));
    let events = b.knocks(0, &syns(A, &[991, 992]));
    let spent = Event::Spent { door: 0, step: 99 };
    assert_eq!(events, [stage(A, 0, 1), stage(A, 0, 2), spent, open(A, 0)]);
    // The same step again, by the knocker or anyone else: nothing.
    assert_eq!(b.knocks(5_000, &syns(B, &[991, 992])), []);
    // Another step of the window still opens.
    let events = b.knocks(10_000, &syns(B, &[1011, 1012]));
    assert_eq!(Bench::opens(&events), [(B, 0)]);
    assert_eq!(b.engine.step_sequences(0).len(), 1);
}

#[test]
fn an_attempt_keeps_its_step_across_a_rotation_until_its_timeout() {
    let mut b = Bench::new(vec![rotating("r", 10_000)]);
    b.engine
        .rotate([(0, vec![(100, seq("1001,1002,1003"))])], b.at(0));
    let mut events = b.knock(0, &[syn(A, 1001)]);
    // The step leaves the window: A's attempt goes on, nobody starts one.
    b.engine
        .rotate([(0, vec![(101, seq("1011,1012,1013"))])], b.at(1_000));
    events.extend(b.knock(1_500, &[syn(B, 1001)]));
    events.extend(b.knocks(2_000, &syns(A, &[1002, 1003])));
    assert_eq!(Bench::opens(&events), [(A, 0)]);
    assert!(!events.contains(&stage(B, 0, 1)), "{events:?}");
    // Once the timeout has passed since it left, the old step is gone.
    b.engine
        .rotate([(0, vec![(101, seq("1011,1012,1013"))])], b.at(12_000));
    assert_eq!(b.engine.step_sequences(0), [&seq("1011,1012,1013")]);
}

#[test]
fn a_first_knock_two_steps_share_binds_to_the_first_listed() {
    let mut b = Bench::new(vec![rotating("r", 10_000)]);
    let window = vec![(100, seq("5,6")), (99, seq("5,7"))];
    b.engine.rotate([(0, window)], b.at(0));
    let events = b.knocks(0, &syns(A, &[5, 7]));
    assert_eq!(Bench::opens(&events), []);
    let events = b.knocks(3_000, &syns(A, &[5, 6]));
    assert_eq!(
        events[2..],
        [Event::Spent { door: 0, step: 100 }, open(A, 0)]
    );
}

#[test]
fn a_rotating_door_without_steps_is_closed_and_keeps_attempts_across_a_reload() {
    let mut b = Bench::new(vec![rotating("r", 10_000), door("d", "7,8", 10_000)]);
    assert_eq!(b.knocks(0, &syns(A, &[1001, 1002])), []);
    b.engine
        .rotate([(0, vec![(100, seq("1001,1002"))])], b.at(0));
    let mut events = b.knock(1_000, &[syn(A, 1001)]);
    // A reload that reorders the doors keeps the attempt and its step.
    b.engine.reconfigure(
        vec![door("d", "7,8", 10_000), rotating("r", 10_000)],
        vec![LOCAL, LOCAL6],
    );
    events.extend(b.knock(2_000, &[syn(A, 1002)]));
    assert_eq!(Bench::opens(&events), [(A, 1)]);
}
