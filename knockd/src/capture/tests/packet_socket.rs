//! A capture read from a packet socket: opened as the privileged opener
//! does, taken over as the watcher does, and read as libpcap would, in a
//! network namespace of its own (as root) so that no host interface is
//! touched.

use std::net::{IpAddr, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use socket2::SockRef;

use knock_proto::{Knock, Protocol, Sequence, TcpFlags};
use knockd_core::filter::{self, FilterDoor, Program, KERNEL_MAX_INSTRUCTIONS};
use knockd_core::wire::{self, DecodeError, LinkType, Unsupported};
use knockd_testkit::PacketBuilder;

use crate::capture::{open_packet_socket, Capture, CaptureStats, Placement};
use crate::sys;

/// Runs `test` on a thread of its own in a new network namespace, which
/// holds only its own loopback and whatever `test` creates in it, and goes
/// away with the thread and the sockets opened in it. `ip` commands the
/// thread runs act in it too.
fn in_new_netns<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
        test()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip");
    assert!(status.success(), "ip {}", args.join(" "));
}

/// The generated program of one door, a UDP knock on `port` to `local`.
fn udp_program(port: u16, link: LinkType, local: &[IpAddr]) -> Program {
    let sequence = Sequence::new(vec![Knock::new(port, Protocol::Udp)]).unwrap();
    let door = FilterDoor {
        name: "door",
        sequence: &sequence,
        tcp_flags: TcpFlags::ANY,
        target: None,
        strict: false,
    };
    filter::program(&[door], local, false, link, KERNEL_MAX_INSTRUCTIONS).unwrap()
}

/// Everything `capture` reads within `wait`: timestamp, length on the
/// wire, captured bytes.
fn read_for(capture: &mut Capture, wait: Duration) -> Vec<(SystemTime, u32, Vec<u8>)> {
    let deadline = Instant::now() + wait;
    let mut frames = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let mut fds = [PollFd::new(capture.as_fd(), PollFlags::POLLIN)];
        let millis = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        poll(&mut fds, PollTimeout::from(millis)).unwrap();
        capture
            .read_available(64, |ts, len, frame| frames.push((ts, len, frame.to_vec())))
            .unwrap();
    }
    frames
}

/// A libpcap capture of `interface` with `program`, which must read what
/// a packet socket with it reads.
fn libpcap_twin(interface: &str, program: &Program) -> Capture {
    let mut twin = Capture::open(interface).unwrap();
    assert_eq!(twin.install_program(program).unwrap(), Placement::Kernel);
    twin
}

/// The lengths and bytes of frames read, without their timestamps.
fn contents(seen: &[(SystemTime, u32, Vec<u8>)]) -> Vec<(u32, Vec<u8>)> {
    seen.iter()
        .map(|(_, len, frame)| (*len, frame.clone()))
        .collect()
}

/// Sends `payload` to 127.0.0.1:`port` from a fresh socket; returns its port.
fn send_local(port: u16, payload: &[u8]) -> u16 {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(payload, ("127.0.0.1", port)).unwrap();
    sender.local_addr().unwrap().port()
}

#[test]
fn any_and_missing_interfaces_are_refused() {
    let any = open_packet_socket("any").unwrap_err().to_string();
    assert!(any.starts_with("could not open any: "), "{any}");
    let missing = open_packet_socket("nosuchif0").unwrap_err().to_string();
    assert!(
        missing.starts_with("could not open nosuchif0: if_nametoindex: No such device"),
        "{missing}"
    );
    assert!(
        missing.contains("hint: check the interface name"),
        "{missing}"
    );
}

#[test]
#[ignore = "needs root (a network namespace, CAP_NET_RAW): run with --ignored"]
fn loopback_is_read_once_and_filtered_in_the_kernel() {
    in_new_netns(|| {
        ip(&["link", "set", "lo", "up"]);
        // Bound, so that no datagram comes back as an ICMP error.
        let _receivers = [7000, 7001].map(|port| UdpSocket::bind(("127.0.0.1", port)).unwrap());

        let (fd, link) = open_packet_socket("lo").unwrap();
        assert_eq!(link, LinkType::Ethernet);
        let mut capture = Capture::from_packet_socket(fd, link, "lo").unwrap();
        assert_eq!(capture.link_type().unwrap(), LinkType::Ethernet);
        let flags = fcntl(capture.as_fd(), FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));

        // Until a program is installed, the opener's filter passes nothing.
        assert_eq!(capture.kernel_filter_len().unwrap(), Some(1));
        send_local(7000, b"early");
        assert!(read_for(&mut capture, Duration::from_millis(200)).is_empty());

        let local = ["127.0.0.1".parse().unwrap()];
        let program = udp_program(7000, link, &local);
        assert_eq!(
            capture.install_program(&program).unwrap(),
            Placement::Kernel
        );
        assert_eq!(capture.kernel_filter_len().unwrap(), Some(program.len()));
        assert_eq!(
            capture.install_program(&program).unwrap(),
            Placement::Kernel
        );
        let mut twin = libpcap_twin("lo", &program);

        send_local(7001, b"other");
        let src_port = send_local(7000, b"knock");
        let mut seen = read_for(&mut capture, Duration::from_millis(500));
        // Once: the outgoing copy on loopback is dropped, as libpcap does.
        assert_eq!(seen.len(), 1, "{seen:?}");
        let (ts, len, frame) = &seen[0];
        let packet = wire::decode(link, frame).unwrap();
        assert_eq!((packet.src_port, packet.dst_port), (src_port, 7000));
        assert_eq!(*len as usize, 14 + 20 + 8 + 5);
        assert_eq!(frame.len(), *len as usize);
        let age = SystemTime::now().duration_since(*ts).unwrap();
        assert!(age < Duration::from_secs(10), "{age:?}");

        // At most `max_packets` a read.
        for _ in 0..3 {
            send_local(7000, b"knock");
        }
        thread::sleep(Duration::from_millis(100));
        let mut keep = |ts, len, frame: &[u8]| seen.push((ts, len, frame.to_vec()));
        assert_eq!(capture.read_available(2, &mut keep).unwrap(), 2);
        assert_eq!(capture.read_available(2, &mut keep).unwrap(), 1);
        assert_eq!(capture.read_available(2, &mut keep).unwrap(), 0);
        let twin_seen = read_for(&mut twin, Duration::from_millis(200));
        assert_eq!(contents(&seen), contents(&twin_seen));

        // As libpcap counts: both copies of the four datagrams that passed.
        let stats = capture.stats().unwrap();
        let expected = CaptureStats {
            received: 8,
            dropped: 0,
            interface_dropped: 0,
        };
        assert_eq!(stats, expected);
        assert_eq!(twin.stats().unwrap(), expected);
        // The kernel's counters start again from zero when read; ours not.
        assert_eq!(capture.stats().unwrap(), expected);
    });
}

#[test]
#[ignore = "needs root (a network namespace, CAP_NET_RAW): run with --ignored"]
fn a_veth_is_read_with_its_ethernet_header_until_it_goes_down() {
    in_new_netns(|| {
        let (here, there) = ([0x02, 0x6b, 0, 0, 0, 1], [0x02, 0x6b, 0, 0, 0, 2]);
        ip(&[
            "link",
            "add",
            "kv0",
            "address",
            "02:6b:00:00:00:01",
            "type",
            "veth",
            "peer",
            "name",
            "kv1",
            "address",
            "02:6b:00:00:00:02",
        ]);
        // Down: the open fails, as libpcap's does.
        let down = open_packet_socket("kv0").unwrap_err().to_string();
        assert!(down.contains("Network is down"), "{down}");
        ip(&["link", "set", "kv1", "up"]);
        ip(&["link", "set", "kv0", "up"]);

        let (fd, link) = open_packet_socket("kv0").unwrap();
        assert_eq!(link, LinkType::Ethernet);
        let mut capture = Capture::from_packet_socket(fd, link, "kv0").unwrap();
        let local = ["198.18.0.1".parse().unwrap()];
        let program = udp_program(7000, link, &local);
        assert_eq!(
            capture.install_program(&program).unwrap(),
            Placement::Kernel
        );

        let mut twin = libpcap_twin("kv0", &program);

        // Frames sent on kv1 come in on kv0.
        let (peer, _) = open_packet_socket("kv1").unwrap();
        let knock = |port: u16| {
            let dst = format!("198.18.0.1:{port}").parse().unwrap();
            PacketBuilder::udp("198.18.0.2:40000".parse().unwrap(), dst).macs(there, here)
        };
        // The last one on VLAN 100, which the kernel takes out of the frame
        // before the filter runs, and which comes back as libpcap puts it
        // back: the frame is VLAN 100's, not kv0's.
        let vlan = knock(7000).ethernet_vlan(&[100]);
        for frame in [
            knock(7001).frame(LinkType::Ethernet),
            knock(7000).frame(LinkType::Ethernet),
            vlan.clone(),
        ] {
            SockRef::from(&peer).send(&frame).unwrap();
        }
        let seen = read_for(&mut capture, Duration::from_millis(500));
        let frames: Vec<&Vec<u8>> = seen.iter().map(|(_, _, frame)| frame).collect();
        assert_eq!(
            frames,
            [&knock(7000).frame(LinkType::Ethernet), &vlan],
            "{seen:?}"
        );
        assert!(seen
            .iter()
            .all(|(_, len, frame)| *len as usize == frame.len()));
        assert_eq!(wire::decode(link, frames[0]), Ok(knock(7000).packet()));
        assert_eq!(
            wire::decode(link, frames[1]),
            Err(DecodeError::Unsupported(Unsupported::Vlan(100)))
        );
        let twin_seen = read_for(&mut twin, Duration::from_millis(200));
        assert_eq!(contents(&seen), contents(&twin_seen));
        assert_eq!(capture.stats().unwrap(), twin.stats().unwrap());

        // The link going down is an error, as with libpcap.
        ip(&["link", "set", "kv0", "down"]);
        let error = capture.read_available(64, |_, _, _| {}).unwrap_err();
        assert_eq!(error.to_string(), "recvmsg: Network is down (kv0)");
    });
}

#[test]
#[ignore = "needs root (a network namespace, CAP_NET_RAW): run with --ignored"]
fn a_tun_is_read_from_the_ip_header_both_ways() {
    in_new_netns(|| {
        let tun = sys::packet_socket::tun("kt0").unwrap();
        ip(&["addr", "add", "198.18.1.1/24", "dev", "kt0"]);
        ip(&["link", "set", "kt0", "up"]);

        let (fd, link) = open_packet_socket("kt0").unwrap();
        assert_eq!(link, LinkType::RawIp);
        let mut capture = Capture::from_packet_socket(fd, link, "kt0").unwrap();
        let local = ["198.18.1.1".parse().unwrap(), "198.18.1.2".parse().unwrap()];
        let program = udp_program(7000, link, &local);
        assert_eq!(
            capture.install_program(&program).unwrap(),
            Placement::Kernel
        );
        let mut twin = libpcap_twin("kt0", &program);
        assert_eq!(twin.link_type().unwrap(), LinkType::RawIp);

        // Out through the tun, and in from it.
        let sender = UdpSocket::bind("198.18.1.1:0").unwrap();
        sender.send_to(b"out", "198.18.1.2:7000").unwrap();
        let incoming = PacketBuilder::udp(
            "198.18.1.2:40000".parse().unwrap(),
            "198.18.1.1:7000".parse().unwrap(),
        );
        let written = nix::unistd::write(&tun, &incoming.ip()).unwrap();
        assert_eq!(written, incoming.ip().len());

        let seen = read_for(&mut capture, Duration::from_millis(500));
        let frames: Vec<&Vec<u8>> = seen.iter().map(|(_, _, frame)| frame).collect();
        assert_eq!(frames.len(), 2, "{seen:?}");
        let out = wire::decode(link, frames[0]).unwrap();
        assert_eq!(out.src, sender.local_addr().unwrap().ip());
        assert_eq!(
            (out.dst, out.dst_port),
            ("198.18.1.2".parse().unwrap(), 7000)
        );
        assert_eq!(frames[1], &incoming.ip());
        assert_eq!(wire::decode(link, frames[1]), Ok(incoming.packet()));
        assert!(seen
            .iter()
            .all(|(_, len, frame)| *len as usize == frame.len()));
        let twin_seen = read_for(&mut twin, Duration::from_millis(200));
        assert_eq!(contents(&seen), contents(&twin_seen));
    });
}
