//! Replays a synthesized savefile through the generated capture filter and the
//! decoder, as the daemon would see a live capture — no root needed.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use knock_proto::{Sequence, TcpFlags};
use knockd_core::filter::{self, FilterDoor};
use knockd_core::wire::{self, LinkType};
use knockd_core::Packet;
use knockd_testkit::bpf::ProgramExt;
use knockd_testkit::PacketBuilder;

use crate::capture::Capture;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn sa(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn write_savefile(path: &Path, link: LinkType, frames: &[Vec<u8>]) {
    let dead = pcap::Capture::dead(pcap::Linktype(link.dlt())).unwrap();
    let mut savefile = dead.savefile(path).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: 1_700_000_000 + i as libc::time_t,
                tv_usec: 0,
            },
            caplen: frame.len() as u32,
            len: frame.len() as u32,
        };
        savefile.write(&pcap::Packet::new(&header, frame));
    }
    savefile.flush().unwrap();
}

fn replay(path: &Path, expression: &str) -> Vec<Packet> {
    let mut capture = Capture::from_file(path).unwrap();
    capture.set_filter(expression).unwrap();
    let link = capture.link_type().unwrap();
    let mut packets = Vec::new();
    // Bounded: the file holds a handful of frames.
    for _ in 0..100 {
        let read = capture
            .read_available(16, |_, _, frame| {
                packets.push(wire::decode(link, frame).unwrap())
            })
            .unwrap();
        if read == 0 {
            break;
        }
    }
    packets
}

#[test]
fn only_knock_candidates_come_out_of_a_replayed_capture() {
    let sequence = Sequence::parse("7000,8000,9000:udp").unwrap();
    let doors = [FilterDoor {
        name: "door",
        sequence: &sequence,
        tcp_flags: TcpFlags::parse("syn").unwrap(),
        target: None,
        strict: false,
    }];
    let local: Vec<IpAddr> = vec!["198.18.1.1".parse().unwrap(), "fd00:1::1".parse().unwrap()];
    let expression = filter::expression(&doors, &local, false).whole;

    let knocker4 = "198.18.1.2:40000";
    let knocker6 = "[fd00:1::2]:40000";
    let wanted = [
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:7000"), SYN),
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:8000"), SYN | ACK)
            .ipv4_options(&[0x94, 4, 0, 0]),
        PacketBuilder::udp(sa(knocker4), sa("198.18.1.1:9000")),
        PacketBuilder::tcp(sa(knocker6), sa("[fd00:1::1]:7000"), SYN),
        PacketBuilder::tcp(sa(knocker6), sa("[fd00:1::1]:8000"), SYN).ipv6_destination_options(),
        PacketBuilder::udp(sa(knocker6), sa("[fd00:1::1]:9000")),
    ];
    let unwanted = [
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:7000"), ACK),
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:7001"), SYN),
        PacketBuilder::udp(sa(knocker4), sa("198.18.1.1:7000")),
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.3:7000"), SYN),
        PacketBuilder::tcp(sa(knocker6), sa("[fd00:1::1]:7000"), ACK),
        PacketBuilder::tcp(sa(knocker6), sa("[fd00:1::3]:8000"), SYN).ipv6_destination_options(),
    ];

    for link in [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
    ] {
        // Interleave so order is checked too.
        let frames: Vec<Vec<u8>> = wanted
            .iter()
            .zip(&unwanted)
            .flat_map(|(w, u)| [u.frame(link), w.frame(link)])
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knocks.pcap");
        write_savefile(&path, link, &frames);

        let expected: Vec<Packet> = wanted.iter().map(PacketBuilder::packet).collect();
        assert_eq!(replay(&path, &expression), expected, "{link}");
        assert_eq!(replay(&path, filter::MATCH_NOTHING), [], "{link}");
    }
}

/// `builder` with an (empty, padded) extension header of type `next_header`
/// (hop-by-hop 0, routing 43, destination options 60) before its transport
/// header, in a frame of `link`.
fn with_extension(builder: &PacketBuilder, link: LinkType, next_header: u8) -> Vec<u8> {
    let mut frame = builder.clone().ipv6_destination_options().frame(link);
    let ip_len = builder.clone().ipv6_destination_options().ip().len();
    let start = frame.len() - ip_len;
    frame[start + 6] = next_header;
    frame
}

/// Replays `frames` through `program` installed with `pcap_setfilter`, so
/// libpcap's own interpreter runs it, and returns which frames came out.
fn replay_program(link: LinkType, frames: &[Vec<u8>], program: &filter::Program) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.pcap");
    write_savefile(&path, link, frames);
    let mut capture = Capture::from_file(&path).unwrap();
    capture.set_program(program).unwrap();
    let mut out = Vec::new();
    // Bounded: the file holds a known number of frames.
    for _ in 0..frames.len() + 1 {
        let read = capture
            .read_available(64, |_, _, frame| out.push(frame.to_vec()))
            .unwrap();
        if read == 0 {
            break;
        }
    }
    out
}

#[test]
fn libpcap_runs_generated_programs_as_the_core_does() {
    let sequence = Sequence::parse("7000,8000,9000:udp").unwrap();
    let doors = [FilterDoor {
        name: "door",
        sequence: &sequence,
        tcp_flags: TcpFlags::parse("syn,!ack").unwrap(),
        target: None,
        strict: false,
    }];
    let local: Vec<IpAddr> = vec!["198.18.1.1".parse().unwrap(), "fd00:1::1".parse().unwrap()];
    let knocker4 = "198.18.1.2:40000";
    let knocker6 = "[fd00:1::2]:40000";
    let builders = [
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:7000"), SYN),
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:7000"), SYN | ACK),
        PacketBuilder::tcp(sa(knocker4), sa("198.18.1.1:7001"), SYN).ipv4_options(&[0x94, 4, 0, 0]),
        PacketBuilder::udp(sa(knocker4), sa("198.18.1.1:9000")),
        PacketBuilder::udp(sa(knocker4), sa("198.18.1.3:9000")),
        PacketBuilder::tcp(sa(knocker6), sa("[fd00:1::1]:8000"), SYN),
        PacketBuilder::tcp(sa(knocker6), sa("[fd00:1::1]:8001"), SYN),
        PacketBuilder::udp(sa(knocker6), sa("[fd00:1::1]:9000")),
        PacketBuilder::udp(sa(knocker6), sa("[fd00:1::3]:9000")),
    ];
    for link in LinkType::ALL {
        let program = filter::program(&doors, &local, false, link, 4096).unwrap();
        let mut frames: Vec<Vec<u8>> = builders.iter().map(|b| b.frame(link)).collect();
        for b in builders.iter().filter(|b| b.packet().dst.is_ipv6()) {
            for next_header in [0, 43, 60] {
                frames.push(with_extension(b, link, next_header));
            }
        }
        let expected: Vec<Vec<u8>> = frames
            .iter()
            .filter(|f| program.passes(f))
            .cloned()
            .collect();
        // Three IPv4 knocks... of which two pass; three IPv6 ones, each also
        // behind three extension headers.
        assert_eq!(expected.len(), 2 + 2 * 4, "{link}");
        assert_eq!(replay_program(link, &frames, &program), expected, "{link}");
    }
}

#[test]
fn libpcap_runs_a_ten_thousand_door_program_as_the_core_does() {
    let sequences: Vec<Sequence> = (0..10_000u32)
        .map(|i| {
            let port = |j: u32| 1 + (i * 7919 + j * 104_729) % 65_535;
            Sequence::parse(&format!("{},{},{}", port(0), port(1), port(2))).unwrap()
        })
        .collect();
    let flags = TcpFlags::parse("syn").unwrap();
    let doors: Vec<FilterDoor<'_>> = sequences
        .iter()
        .map(|sequence| FilterDoor {
            name: "door",
            sequence,
            tcp_flags: flags,
            target: None,
            strict: false,
        })
        .collect();
    let local: Vec<IpAddr> = vec!["198.18.1.1".parse().unwrap()];
    let link = LinkType::LinuxSll;
    let program = filter::program(&doors, &local, false, link, 4096).unwrap();
    let frames: Vec<Vec<u8>> = (1..=4000u16)
        .map(|i| {
            let port = i.wrapping_mul(16);
            PacketBuilder::tcp(sa(knocker()), sa(&format!("198.18.1.1:{port}")), SYN).frame(link)
        })
        .collect();
    let expected: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| program.passes(f))
        .cloned()
        .collect();
    assert!(!expected.is_empty() && expected.len() < frames.len());
    assert_eq!(replay_program(link, &frames, &program), expected);
}

fn knocker() -> &'static str {
    "198.18.1.2:40000"
}
