//! The capture wrapper: errors and hints, timestamps, savefile replay through
//! generated filters, and (as root) a live loopback capture.

use std::net::UdpSocket;
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use std::path::Path;

use pcap::Offline;

use super::*;
use knockd_core::wire;

#[cfg(target_os = "linux")]
mod packet_socket;
mod replay;

impl<S: Activated + ?Sized> Capture<S> {
    /// Compiles (optimized) and installs a libpcap filter expression, as
    /// knockd did before it generated its programs: the tests compare both.
    fn set_filter(&mut self, expression: &str) -> Result<(), CaptureError> {
        let Handle::Pcap(handle) = &mut self.handle else {
            panic!("libpcap compiles filters for its own captures only");
        };
        // Compile first on its own so the two failures read as in 0.8.
        handle
            .compile(expression, true)
            .map_err(|e| CaptureError::new(format!("pcap_compile: {}", pcap_text(&e))))?;
        handle
            .filter(expression, true)
            .map_err(|e| CaptureError::new(format!("pcap_setfilter: {}", pcap_text(&e))))
    }
}

impl Capture<Offline> {
    /// Opens a pcap savefile, which the daemon never does.
    fn from_file(path: &Path) -> Result<Self, CaptureError> {
        let source = path.display().to_string();
        let handle = pcap::Capture::from_file(path).map_err(|e| {
            CaptureError::new(format!("could not open {source}: {}", pcap_text(&e)))
        })?;
        Ok(Capture {
            handle: Handle::Pcap(handle),
            source,
            installed: None,
        })
    }
}

#[test]
fn hints_name_the_fix() {
    assert!(open_hint("socket: Operation not permitted")
        .unwrap()
        .contains("CAP_NET_RAW"));
    assert!(
        open_hint("You don't have permission to capture on that device")
            .unwrap()
            .contains("root")
    );
    assert!(
        open_hint("eth9: No such device exists (No such device exists)")
            .unwrap()
            .contains("interface name")
    );
    assert_eq!(open_hint("something else"), None);
}

#[test]
fn errors_print_the_hint_on_a_second_line() {
    let error = CaptureError {
        message: "could not open eth0: socket: Operation not permitted".into(),
        hint: open_hint("Operation not permitted"),
    };
    let text = error.to_string();
    assert!(text.starts_with("could not open eth0: socket: Operation not permitted\nhint: "));
    assert_eq!(
        error.message.as_str(),
        "could not open eth0: socket: Operation not permitted"
    );
}

#[test]
fn timestamps_convert_and_clamp() {
    assert_eq!(
        timestamp(1_700_000_000i64, 250_000_000i64),
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_250)
    );
    assert_eq!(
        timestamp(1_700_000_000i64, 1_250_000_000i64),
        UNIX_EPOCH + Duration::from_millis(1_700_000_001_250)
    );
    assert_eq!(timestamp(-5i64, 0i64), UNIX_EPOCH);
    assert_eq!(timestamp(u64::MAX, 0u32), UNIX_EPOCH);
}

#[test]
#[ignore = "needs root or CAP_NET_RAW: run with --ignored"]
fn a_missing_device_says_so() {
    let error = Capture::open("nosuchif0").err().unwrap();
    assert!(
        error
            .message
            .as_str()
            .starts_with("could not open nosuchif0: "),
        "{error}"
    );
    assert!(
        error.to_string().contains("hint: check the interface name"),
        "{error}"
    );
}

#[test]
fn a_missing_savefile_says_so() {
    let error = Capture::from_file(Path::new("/nonexistent/x.pcap"))
        .err()
        .unwrap();
    assert!(
        error
            .message
            .starts_with("could not open /nonexistent/x.pcap: "),
        "{error}"
    );
}

#[test]
#[cfg(target_os = "linux")]
#[ignore = "needs root or CAP_NET_RAW: run with --ignored"]
fn live_loopback_capture_sees_a_udp_datagram() {
    let mut capture = Capture::open("lo").unwrap();
    assert_eq!(capture.link_type().unwrap(), LinkType::Ethernet);
    let flags = fcntl(capture.as_fd(), FcntlArg::F_GETFD).unwrap();
    assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));

    // A port nobody else uses: the one our receiving socket got.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    capture.set_filter(&format!("udp dst port {port}")).unwrap();
    assert!(capture
        .set_filter("udp dst port 70000")
        .unwrap_err()
        .message
        .starts_with("pcap_compile: "));
    capture.set_filter(&format!("udp dst port {port}")).unwrap();
    // Nothing sent yet: a nonblocking read returns at once with nothing.
    assert_eq!(capture.read_available(10, |_, _, _| {}).unwrap(), 0);

    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(&[0], ("127.0.0.1", port)).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.is_empty() && Instant::now() < deadline {
        let mut fds = [PollFd::new(capture.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(200u16)).unwrap();
        capture
            .read_available(10, |ts, len, frame| {
                seen.push((ts, len, wire::decode(LinkType::Ethernet, frame)));
            })
            .unwrap();
    }
    let (ts, len, packet) = seen.first().cloned().expect("no packet within 5 s");
    let packet = packet.unwrap();
    assert_eq!(packet.dst_port, port);
    assert_eq!(packet.src_port, sender.local_addr().unwrap().port());
    assert_eq!(len, 14 + 20 + 8 + 1);
    let age = SystemTime::now().duration_since(ts).unwrap();
    assert!(age < Duration::from_secs(10));
    let stats = capture.stats().unwrap();
    assert!(stats.received >= 1, "{stats:?}");
}

/// A UDP datagram from a fresh socket to `port` on `to`; returns whether the
/// capture saw it within `wait`.
#[cfg(target_os = "linux")]
fn sees_datagram(capture: &mut Capture, to: &str, port: u16, wait: Duration) -> bool {
    let sender = UdpSocket::bind((to, 0)).unwrap();
    sender.send_to(&[0], (to, port)).unwrap();
    let link = capture.link_type().unwrap();
    let deadline = Instant::now() + wait;
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        let mut fds = [PollFd::new(capture.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(100u16)).unwrap();
        capture
            .read_available(64, |_, _, frame| {
                if let Ok(packet) = wire::decode(link, frame) {
                    seen |= packet.dst_port == port;
                }
            })
            .unwrap();
    }
    seen
}

#[test]
#[cfg(target_os = "linux")]
#[ignore = "needs root or CAP_NET_RAW: run with --ignored"]
fn generated_programs_run_in_the_kernel() {
    use knock_proto::{Knock, Protocol, Sequence, TcpFlags};
    use knockd_core::filter::{self, FilterDoor};

    // A port nobody else uses: the one our receiving socket got.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let sequence = Sequence::new(vec![Knock::new(port, Protocol::Udp)]).unwrap();
    let one = [FilterDoor {
        name: "door",
        sequence: &sequence,
        tcp_flags: TcpFlags::ANY,
        target: None,
        strict: false,
    }];
    // 10,000 doors of three ports all over the range, and ours.
    let many: Vec<Sequence> = (0..10_000u32)
        .map(|i| {
            let p = |j: u32| (1 + (i * 7919 + j * 104_729) % 65_535) as u16;
            Sequence::new(vec![
                Knock::new(p(0), Protocol::Tcp),
                Knock::new(p(1), Protocol::Tcp),
                Knock::new(p(2), Protocol::Udp),
            ])
            .unwrap()
        })
        .collect();
    let mut big: Vec<FilterDoor<'_>> = many
        .iter()
        .map(|sequence| FilterDoor {
            name: "many",
            sequence,
            tcp_flags: TcpFlags::ANY,
            target: None,
            strict: false,
        })
        .collect();
    big.push(one[0]);
    // `any` has every interface's addresses, loopback's among them.
    let local = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];

    for interface in ["lo", "any"] {
        for doors in [&one[..], &big[..]] {
            let mut capture = Capture::open(interface).unwrap();
            let link = capture.link_type().unwrap();
            assert_eq!(capture.kernel_filter_len().unwrap(), Some(0), "{interface}");
            let program =
                filter::program(doors, &local, false, link, KERNEL_MAX_INSTRUCTIONS).unwrap();
            assert_eq!(
                capture.install_program(&program).unwrap(),
                Placement::Kernel,
                "{interface}, {link}: {}",
                program.headline()
            );
            assert_eq!(capture.kernel_filter_len().unwrap(), Some(program.len()));
            assert!(
                sees_datagram(&mut capture, "127.0.0.1", port, Duration::from_secs(5)),
                "{interface}, {} doors",
                doors.len()
            );
            if doors.len() == 1 {
                assert!(
                    !sees_datagram(
                        &mut capture,
                        "127.0.0.1",
                        other_port,
                        Duration::from_millis(300)
                    ),
                    "{interface}: other ports are filtered in the kernel"
                );
            }
        }
    }
}
