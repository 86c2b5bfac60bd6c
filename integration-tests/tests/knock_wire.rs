//! What `knock` puts on the wire, captured on `lo` inside a private network
//! namespace per test. Needs root, so every test is `#[ignore]`d; run as root
//! with `--ignored`, where a missing prerequisite fails the test.
//!
//! Only the client's own packets are kept: they go to a knocked port (7000 to
//! 7999, or 22 for `ssh`) from an ephemeral port, whereas the kernel's answers
//! (RSTs, ICMP) come from the knocked port.

#![allow(unsafe_code)]

use std::net::IpAddr;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

const FILTER: &str =
    "(tcp or udp) and (dst port 22 or dst portrange 7000-7999) and src portrange 32768-65535";

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

/// Transport header of a captured packet.
#[derive(Debug, Clone, PartialEq)]
enum Transport {
    Tcp {
        flags: u8,
        header_len: usize,
        checksum_ok: bool,
    },
    Udp {
        payload: Vec<u8>,
    },
}

/// One captured packet sent by `knock`.
#[derive(Debug, Clone)]
struct Sent {
    at: Duration,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    transport: Transport,
}

impl Sent {
    fn tcp_flags(&self) -> Option<u8> {
        match self.transport {
            Transport::Tcp { flags, .. } => Some(flags),
            Transport::Udp { .. } => None,
        }
    }
}

/// Runs `body` on a thread of its own inside a fresh network namespace whose
/// `lo` is up. Namespaces are per thread, and children started from the
/// thread inherit it; the namespace dies with the thread. Fails the test
/// without root or `ip`.
fn in_private_netns(body: impl FnOnce() + Send + 'static) {
    integration_tests::require_namespaces();
    let worker = thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        let status = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(status.success(), "ip link set lo up: {status}");
        body();
    });
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `program args` (normally knock) while capturing on `lo`, and returns
/// its output with the client packets seen, in order.
fn capture(program: &str, args: &[&str]) -> (Output, Vec<Sent>) {
    let mut cap = pcap::Capture::from_device("lo")
        .unwrap()
        .immediate_mode(true)
        .snaplen(256)
        .timeout(10)
        .open()
        .unwrap();
    assert_eq!(cap.get_datalink(), pcap::Linktype::ETHERNET);
    cap.filter(FILTER, true).unwrap();
    let mut cap = cap.setnonblock().unwrap();

    let output = Command::new(program).args(args).output().unwrap();

    // Loopback delivery is synchronous, so everything is buffered by now;
    // drain until the capture stays quiet for a moment, within a hard bound.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut quiet_since = Instant::now();
    let mut sent = Vec::new();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_millis(200) {
        match cap.next_packet() {
            Ok(packet) => {
                let ts = packet.header.ts;
                let at = Duration::new(
                    u64::try_from(ts.tv_sec).unwrap(),
                    u32::try_from(ts.tv_usec).unwrap() * 1000,
                );
                sent.push(decode(at, packet.data));
                quiet_since = Instant::now();
            }
            Err(pcap::Error::TimeoutExpired) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("capture: {e}"),
        }
    }
    (output, sent)
}

/// The workspace's `knock`, built before these tests run.
fn knock_binary() -> String {
    integration_tests::workspace_binary("knock")
        .display()
        .to_string()
}

fn knock(args: &[&str]) -> (Output, Vec<Sent>) {
    capture(&knock_binary(), args)
}

/// Decodes an Ethernet frame (lo's link type) carrying IPv4 or IPv6 without
/// extension headers, which is all the filter lets through.
fn decode(at: Duration, frame: &[u8]) -> Sent {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[14..];
    let (src, dst, segment): (IpAddr, IpAddr, &[u8]) = match ethertype {
        0x0800 => {
            let header_len = usize::from(ip[0] & 0x0f) * 4;
            let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let src: [u8; 4] = ip[12..16].try_into().unwrap();
            let dst: [u8; 4] = ip[16..20].try_into().unwrap();
            (src.into(), dst.into(), &ip[header_len..total_len])
        }
        0x86dd => {
            let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let src: [u8; 16] = ip[8..24].try_into().unwrap();
            let dst: [u8; 16] = ip[24..40].try_into().unwrap();
            (src.into(), dst.into(), &ip[40..40 + payload_len])
        }
        other => panic!("unexpected ethertype {other:#06x}"),
    };
    let next = if ethertype == 0x0800 { ip[9] } else { ip[6] };
    let src_port = u16::from_be_bytes([segment[0], segment[1]]);
    let dst_port = u16::from_be_bytes([segment[2], segment[3]]);
    let transport = match next {
        6 => Transport::Tcp {
            flags: segment[13],
            header_len: usize::from(segment[12] >> 4) * 4,
            checksum_ok: tcp_checksum_ok(src, dst, segment),
        },
        17 => Transport::Udp {
            payload: segment[8..].to_vec(),
        },
        other => panic!("unexpected protocol {other}"),
    };
    Sent {
        at,
        src,
        dst,
        src_port,
        dst_port,
        transport,
    }
}

/// Independent check of a TCP checksum: pseudo-header plus segment must sum
/// to 0xffff in one's complement arithmetic.
fn tcp_checksum_ok(src: IpAddr, dst: IpAddr, segment: &[u8]) -> bool {
    fn words(bytes: &[u8]) -> u64 {
        bytes
            .chunks(2)
            .map(|c| u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0)))
            .sum()
    }
    let octets = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let mut sum = words(&octets(src)) + words(&octets(dst)) + 6 + segment.len() as u64;
    sum += words(segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "knock failed: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn dst_ports(sent: &[Sent]) -> Vec<u16> {
    sent.iter().map(|s| s.dst_port).collect()
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn plain_tcp_hits_are_one_syn_each() {
    in_private_netns(|| {
        let (output, sent) = knock(&["127.0.0.1", "7001", "ssh", "7003"]);
        assert_success(&output);
        assert_eq!(dst_ports(&sent), [7001, 22, 7003], "{sent:#?}");
        for s in &sent {
            assert_eq!(s.tcp_flags(), Some(SYN), "{s:?}");
            assert_eq!(s.dst, IpAddr::from([127, 0, 0, 1]));
        }
        let mut sources: Vec<u16> = sent.iter().map(|s| s.src_port).collect();
        sources.sort_unstable();
        sources.dedup();
        assert_eq!(sources.len(), 3, "a fresh source port per hit");
    });
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn udp_hits_carry_a_single_zero_byte() {
    in_private_netns(|| {
        let (output, sent) = knock(&["-u", "127.0.0.1", "7011", "7012:tcp", "7013:UDP"]);
        assert_success(&output);
        assert_eq!(dst_ports(&sent), [7011, 7012, 7013], "{sent:#?}");
        // -u makes every hit UDP, `:tcp` included, as knock 0.8's.
        let one_zero = Transport::Udp { payload: vec![0] };
        for hit in &sent {
            assert_eq!(hit.transport, one_zero, "{hit:?}");
        }
    });
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn ipv6_hits_go_to_the_ipv6_address() {
    in_private_netns(|| {
        let (output, sent) = knock(&["-6", "-v", "::1", "7021", "7022:udp"]);
        assert_success(&output);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "hitting tcp [::1]:7021\nhitting udp [::1]:7022\n"
        );
        assert_eq!(dst_ports(&sent), [7021, 7022], "{sent:#?}");
        assert!(sent
            .iter()
            .all(|s| s.dst == IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])));
        assert_eq!(sent[0].tcp_flags(), Some(SYN));
        assert_eq!(sent[1].transport, Transport::Udp { payload: vec![0] });
    });
}

/// Checks a raw knock: exactly `flags`, a bare 20-byte header, a valid
/// checksum and a source port from the ephemeral range.
fn assert_raw(s: &Sent, flags: u8) {
    match &s.transport {
        Transport::Tcp {
            flags: seen,
            header_len,
            checksum_ok,
        } => {
            assert_eq!(*seen, flags, "{s:?}");
            assert_eq!(*header_len, 20, "{s:?}");
            assert!(checksum_ok, "bad checksum: {s:?}");
            assert!((32768..=60999).contains(&s.src_port), "{s:?}");
        }
        Transport::Udp { .. } => panic!("expected TCP: {s:?}"),
    }
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn raw_ipv4_knocks_carry_exactly_the_requested_flags() {
    in_private_netns(|| {
        let (output, sent) = knock(&[
            "--flags",
            "fin,psh,urg",
            "127.0.0.1",
            "7031",
            "7032:udp",
            "7033",
        ]);
        assert_success(&output);
        assert_eq!(dst_ports(&sent), [7031, 7032, 7033], "{sent:#?}");
        assert_raw(&sent[0], FIN | PSH | URG);
        assert_eq!(sent[1].transport, Transport::Udp { payload: vec![0] });
        assert_raw(&sent[2], FIN | PSH | URG);
        assert_eq!(sent[0].src, IpAddr::from([127, 0, 0, 1]));
    });
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn raw_ipv6_knocks_carry_exactly_the_requested_flags() {
    in_private_netns(|| {
        let (output, sent) = knock(&["--flags", "ack,SYN", "-6", "::1", "7041", "7042"]);
        assert_success(&output);
        assert_eq!(dst_ports(&sent), [7041, 7042], "{sent:#?}");
        assert_raw(&sent[0], SYN | ACK);
        assert_raw(&sent[1], SYN | ACK);
    });
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn delay_separates_the_hits() {
    in_private_netns(|| {
        let delay = Duration::from_millis(300);
        let start = Instant::now();
        let (output, sent) = knock(&["-d", "300", "127.0.0.1", "7051", "7052:udp", "7053"]);
        let elapsed = start.elapsed();
        assert_success(&output);
        assert_eq!(dst_ports(&sent), [7051, 7052, 7053], "{sent:#?}");
        for pair in sent.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(gap >= delay, "gap {gap:?} shorter than {delay:?}");
            assert!(gap < delay * 3, "gap {gap:?} far longer than {delay:?}");
        }
        // The delay also follows the last hit, as in 0.8.
        assert!(elapsed >= delay * 3, "{elapsed:?}");
    });
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture): run as root with --ignored"]
fn invalid_arguments_send_nothing() {
    in_private_netns(|| {
        for args in [
            &["127.0.0.1", "7061", "99999"][..],
            &["127.0.0.1", "7061", "nosuchservice", "7062"],
            &["127.0.0.1", "7061", "7062:icmp"],
            &["--flags", "syn,!ack", "127.0.0.1", "7061"],
            &["-6", "127.0.0.1", "7061"],
        ] {
            let (output, sent) = knock(args);
            assert_eq!(output.status.code(), Some(1), "{args:?}");
            assert!(sent.is_empty(), "{args:?} sent {sent:#?}");
        }
    });
}

/// Runs knock with `args` through `setpriv`, as root but without any capability.
fn knock_without_capabilities(args: &[&str]) -> (Output, Vec<Sent>) {
    let knock = knock_binary();
    let mut setpriv_args = vec!["--inh-caps=-all", "--bounding-set=-all", &knock];
    setpriv_args.extend(args);
    capture("setpriv", &setpriv_args)
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture) and setpriv: run as root with --ignored"]
fn plain_knocks_need_no_privileges() {
    integration_tests::require_tools(&["setpriv"]);
    in_private_netns(|| {
        let (output, sent) = knock_without_capabilities(&["127.0.0.1", "7071", "7072:udp"]);
        assert_success(&output);
        assert_eq!(dst_ports(&sent), [7071, 7072], "{sent:#?}");
        assert_eq!(sent[0].tcp_flags(), Some(SYN));
    });
}

#[test]
#[ignore = "needs root (a private network namespace and packet capture) and setpriv: run as root with --ignored"]
fn raw_knocks_without_cap_net_raw_fail_before_sending() {
    integration_tests::require_tools(&["setpriv"]);
    in_private_netns(|| {
        // The UDP hit comes first: it must not leave either.
        let (output, sent) =
            knock_without_capabilities(&["--flags", "syn", "127.0.0.1", "7081:udp", "7082"]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("need root or CAP_NET_RAW"), "{stderr}");
        assert!(sent.is_empty(), "{sent:#?}");
    });
}
