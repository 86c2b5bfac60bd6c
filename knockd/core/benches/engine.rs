//! Cost of one packet through the matching engine, by number of tracked sources.
//!
//! * `hit`: a knock that advances an attempt, round-robin over the tracked sources;
//! * `miss`: a packet to a port in no sequence (what the kernel filter
//!   normally drops, and what an attacker's noise costs when there is none);
//! * `flood`: first knocks from ever new sources with the table full, so each
//!   one evicts the oldest attempt;
//! * `strict-noise`: the door is `Strict`, and a datagram to a port in no
//!   sequence comes from a source with no attempt (what a strict door's
//!   widened filter lets through from every new connection).
//! * `rotate`: a step boundary with 1 to 10,000 rotating doors, each moving
//!   its window of three steps (four TCP knocks each) one step on: what the
//!   daemon's loop does at every boundary, index rebuild included.
//!
//! `cargo bench --bench engine -- --quick` runs in well under a minute.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use knock_proto::{Knock, Protocol, Sequence, TcpFlags};
use knockd_core::engine::{Engine, EngineDoor, Limits};
use knockd_core::Packet;

mod common;

const TRACKED: [u32; 4] = [1, 1_000, 65_000, 1_000_000];
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1));
const KNOCK_PORT: u16 = 7000;
const NOISE_PORT: u16 = 1234;

/// Tracked sources: 10.0.0.0 upwards.
fn tracked(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

/// Flooding sources: 64.0.0.0 upwards, never tracked before.
fn spoofed(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x4000_0000u32.wrapping_add(n)))
}

fn packet(src: IpAddr, dst_port: u16) -> Packet {
    Packet {
        src,
        dst: LOCAL,
        protocol: Protocol::Udp,
        src_port: 40000,
        dst_port,
        tcp_flags: 0,
    }
}

/// One door knocking the same port 32 times, so that hits keep advancing
/// attempts instead of opening at once, with `sources` attempts at stage 1
/// and the table full.
fn engine_tracking(sources: u32, strict: bool, now: Instant) -> Engine {
    let knocks = vec![Knock::new(KNOCK_PORT, Protocol::Udp); Sequence::MAX_LEN];
    let door = EngineDoor {
        name: "bench".into(),
        sequence: Sequence::new(knocks).ok(),
        seq_timeout: Duration::from_secs(3600),
        tcp_flags: TcpFlags::ANY,
        target: None,
        cooldown: Duration::ZERO,
        sources: knockd_core::sources::SourceFilter::default(),
        allow_repeats: false,
        strict,
        rotating: false,
        open_prefix: Default::default(),
    };
    let limits = Limits {
        max_attempts: sources as usize,
    };
    let mut engine = Engine::new(vec![door], vec![LOCAL], limits);
    let mut events = Vec::new();
    for n in 0..sources {
        engine.on_packet(&packet(tracked(n), KNOCK_PORT), now, &mut events);
        events.clear();
    }
    assert_eq!(engine.attempts(), sources as usize);
    engine
}

const ROTATING: [usize; 4] = [1, 100, 1_000, 10_000];
const STEP: Duration = Duration::from_secs(30);

/// A rotating door (its sequences come from [`Engine::rotate`]).
fn rotating_door(n: usize) -> EngineDoor {
    EngineDoor {
        name: format!("rotating{n}"),
        sequence: None,
        seq_timeout: Duration::from_secs(5),
        tcp_flags: TcpFlags::ANY,
        target: None,
        cooldown: Duration::ZERO,
        sources: knockd_core::sources::SourceFilter::default(),
        allow_repeats: false,
        strict: false,
        rotating: true,
        open_prefix: Default::default(),
    }
}

/// Door `door`'s window at step `now`: steps `now`, `now - 1` and `now + 1`
/// (a skew of 1, the default), each of four TCP knocks spread over the
/// ports as a secret would spread them.
fn window(door: usize, now: u64) -> Vec<(u64, Sequence)> {
    [now, now - 1, now + 1]
        .into_iter()
        .map(|step| {
            let knocks = (0..4u64)
                .map(|i| {
                    let mix =
                        (door as u64 ^ step << 20 ^ i << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    Knock::new(1024 + (mix >> 48) as u16 % 64_512, Protocol::Tcp)
                })
                .collect();
            (step, Sequence::new(knocks).expect("4 knocks"))
        })
        .collect()
}

/// Installs every door's window at step `step`, as the daemon does at a boundary.
fn rotate_all(engine: &mut Engine, doors: usize, step: u64, now: Instant) {
    engine.rotate((0..doors).map(|door| (door, window(door, step))), now);
}

fn bench_rotate(c: &mut Criterion) {
    let mut group = c.benchmark_group("rotate");
    for doors in ROTATING {
        let mut now = Instant::now();
        let all = (0..doors).map(rotating_door).collect();
        let mut engine = Engine::new(all, vec![LOCAL], Limits::default());
        let mut step = 1_000u64;
        rotate_all(&mut engine, doors, step, now);
        // One boundary before timing, so that the check below holds even
        // when a filter (`-- rotate/10000`) skips this size.
        step += 1;
        now += STEP;
        rotate_all(&mut engine, doors, step, now);
        group.bench_function(BenchmarkId::from_parameter(doors), |b| {
            b.iter(|| {
                // The next boundary, one 30 s step later: the step that
                // leaves the window is kept for the doors' 5 s timeout.
                step += 1;
                now += STEP;
                rotate_all(&mut engine, doors, step, now);
            })
        });
        // The window, and the step that just left it.
        assert_eq!(engine.step_sequences(doors - 1).len(), 3 + 1);
    }
    group.finish();
}

fn bench_kind(c: &mut Criterion, kind: &str, strict: bool, next: fn(u32, u32) -> Packet) {
    let mut group = c.benchmark_group(kind);
    group.throughput(Throughput::Elements(1));
    for sources in TRACKED {
        let now = Instant::now();
        let mut engine = engine_tracking(sources, strict, now);
        let mut events = Vec::with_capacity(4);
        let mut n = 0u32;
        group.bench_function(BenchmarkId::from_parameter(sources), |b| {
            b.iter(|| {
                let packet = next(n, sources);
                n = n.wrapping_add(1);
                engine.on_packet(black_box(&packet), now, &mut events);
                events.clear();
            })
        });
        assert!(engine.attempts() <= sources as usize);
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    bench_kind(c, "hit", false, |n, sources| {
        packet(tracked(n % sources), KNOCK_PORT)
    });
    bench_kind(c, "miss", false, |n, sources| {
        packet(tracked(n % sources), NOISE_PORT)
    });
    bench_kind(c, "flood", false, |n, _| packet(spoofed(n), KNOCK_PORT));
    bench_kind(c, "strict-noise", true, |n, _| {
        packet(spoofed(n), NOISE_PORT)
    });
    bench_rotate(c);
}

criterion_group! {
    name = benches;
    config = common::short_runs();
    targets = engine
}
criterion_main!(benches);
