//! systemd's service notifications for `Type=notify` units (sd_notify(3)):
//! `READY=1` once the capture filter is installed, `RELOADING=1` with
//! `MONOTONIC_USEC=` on SIGHUP and `READY=1` when the reload is done,
//! `STOPPING=1` at shutdown, a `STATUS=` line with the doors open and the
//! attempts in progress, and `WATCHDOG=1` pings when the unit sets
//! `WatchdogSec=`.
//!
//! The protocol is one datagram per notification to the Unix socket named
//! by `NOTIFY_SOCKET` (a path, or `@name` in Linux's abstract namespace), so
//! it is written here in a few lines rather than taken from a crate. The
//! socket is nonblocking: a notification that cannot be sent at once is
//! dropped, and never stalls the poll loop. Without `NOTIFY_SOCKET` every
//! call does nothing.
//!
//! The pings come from the poll loop itself, at half the watchdog interval
//! (its timeout includes the next ping), so a wedged loop stops them and
//! systemd restarts knockd.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// The variables systemd sets for a notifying service.
const SOCKET_VAR: &str = "NOTIFY_SOCKET";
const WATCHDOG_USEC_VAR: &str = "WATCHDOG_USEC";
const WATCHDOG_PID_VAR: &str = "WATCHDOG_PID";

/// The shortest time between two `STATUS=` updates, so a flood of first
/// knocks costs at most one datagram a second.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest time between two watchdog pings.
const MIN_PING_INTERVAL: Duration = Duration::from_millis(1);

/// What the `STATUS=` line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Doors open now (a stop command pending).
    pub open: usize,
    /// Knock attempts in progress.
    pub attempts: usize,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} door(s) open, {} attempt(s) in progress",
            self.open, self.attempts
        )
    }
}

/// The connection to the service manager, if knockd runs under one.
#[derive(Debug)]
pub struct Notifier {
    /// The socket to send from and the manager's address; `None` without
    /// `NOTIFY_SOCKET` (or when it cannot be used).
    target: Option<(UnixDatagram, SocketAddr)>,
    /// Half of `WATCHDOG_USEC`, when the manager wants pings.
    ping_every: Option<Duration>,
    next_ping: Option<Instant>,
    /// The status last sent, and one waiting for [`STATUS_INTERVAL`] to pass.
    sent: Option<Status>,
    waiting: Option<Status>,
    next_status: Option<Instant>,
}

impl Notifier {
    /// The notifier the environment asks for. Takes `NOTIFY_SOCKET`,
    /// `WATCHDOG_USEC` and `WATCHDOG_PID` out of the environment, so that
    /// door commands do not inherit them (as sd_notify's `unset_environment`):
    /// call it before any thread starts.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os(SOCKET_VAR);
        let usec = std::env::var_os(WATCHDOG_USEC_VAR);
        let pid = std::env::var_os(WATCHDOG_PID_VAR);
        for var in [SOCKET_VAR, WATCHDOG_USEC_VAR, WATCHDOG_PID_VAR] {
            std::env::remove_var(var);
        }
        let for_us = pid.is_none_or(|pid| pid.to_str() == Some(&std::process::id().to_string()));
        let watchdog = usec
            .filter(|_| for_us)
            .and_then(|usec| usec.to_str()?.parse::<u64>().ok())
            .filter(|&usec| usec > 0)
            .map(Duration::from_micros);
        Notifier::new(socket, watchdog, Instant::now())
    }

    /// A notifier sending to `socket` (`NOTIFY_SOCKET`'s value) and pinging
    /// every half `watchdog`, counted from `now`.
    fn new(socket: Option<OsString>, watchdog: Option<Duration>, now: Instant) -> Notifier {
        let target = socket.and_then(|socket| {
            let addr = address(socket.as_bytes())?;
            let from = UnixDatagram::unbound().ok()?;
            from.set_nonblocking(true).ok()?;
            Some((from, addr))
        });
        // A WATCHDOG_USEC of a few microseconds must not make the loop spin.
        let ping_every =
            (watchdog.filter(|_| target.is_some())).map(|w| (w / 2).max(MIN_PING_INTERVAL));
        Notifier {
            target,
            ping_every,
            next_ping: ping_every.and_then(|every| now.checked_add(every)),
            sent: None,
            waiting: None,
            next_status: None,
        }
    }

    /// Start-up is done: the capture filter is installed.
    pub fn ready(&mut self, status: Status, now: Instant) {
        self.send(&format!("READY=1\nSTATUS={status}"));
        self.status_sent(status, now);
    }

    /// A reload (SIGHUP) begins; [`Notifier::ready`] ends it.
    pub fn reloading(&mut self) {
        if self.target.is_some() {
            self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
        }
    }

    /// Shutdown begins.
    pub fn stopping(&mut self) {
        self.send("STOPPING=1");
    }

    /// When [`Notifier::on_timer`] has something to send: the next ping,
    /// or a status change held back.
    pub fn deadline(&self) -> Option<Instant> {
        let held = self.waiting.and(self.next_status);
        [self.next_ping, held].into_iter().flatten().min()
    }

    /// Pings the watchdog when due, and sends `status` when it changed (at
    /// most once every [`STATUS_INTERVAL`]).
    pub fn on_timer(&mut self, now: Instant, status: Status) {
        if self.target.is_none() {
            return;
        }
        if let (Some(at), Some(every)) = (self.next_ping, self.ping_every) {
            if at <= now {
                self.send("WATCHDOG=1");
                self.next_ping = now.checked_add(every);
            }
        }
        if self.sent == Some(status) {
            self.waiting = None;
        } else if self.next_status.is_some_and(|at| at > now) {
            self.waiting = Some(status);
        } else {
            self.send(&format!("STATUS={status}"));
            self.status_sent(status, now);
        }
    }

    fn status_sent(&mut self, status: Status, now: Instant) {
        self.sent = Some(status);
        self.waiting = None;
        self.next_status = Some(now + STATUS_INTERVAL);
    }

    /// Sends one notification; a manager that is gone or busy misses it.
    fn send(&self, state: &str) {
        if let Some((socket, addr)) = &self.target {
            let _ = socket.send_to_addr(state.as_bytes(), addr);
        }
    }
}

/// The address `NOTIFY_SOCKET` names: an absolute path, or `@name` in the
/// abstract namespace (Linux). Anything else is not for us.
fn address(socket: &[u8]) -> Option<SocketAddr> {
    match socket.split_first()? {
        (b'/', _) => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(socket)).ok(),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        (b'@', name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name).ok()
        }
        _ => None,
    }
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares
/// `MONOTONIC_USEC` with.
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64) * 1_000_000 + (t.tv_nsec() as u64) / 1_000
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn listener(dir: &Path) -> (UnixDatagram, OsString) {
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        (listener, path.into_os_string())
    }

    /// Every datagram waiting on `listener`.
    fn received(listener: &UnixDatagram) -> Vec<String> {
        let mut buf = [0u8; 512];
        let mut all = Vec::new();
        while let Ok(n) = listener.recv(&mut buf) {
            all.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        all
    }

    const IDLE: Status = Status {
        open: 0,
        attempts: 0,
    };

    #[test]
    fn ready_reloading_and_stopping_reach_the_socket_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, path) = listener(dir.path());
        let now = Instant::now();
        let mut notifier = Notifier::new(Some(path), None, now);
        assert_eq!(notifier.deadline(), None, "no watchdog, nothing held");
        notifier.ready(IDLE, now);
        notifier.reloading();
        notifier.ready(IDLE, now);
        notifier.stopping();
        let got = received(&listener);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            "READY=1\nSTATUS=0 door(s) open, 0 attempt(s) in progress"
        );
        let usec: u64 = got[1]
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0 && usec <= monotonic_usec());
        assert!(got[2].starts_with("READY=1\n"));
        assert_eq!(got[3], "STOPPING=1");
    }

    #[test]
    fn watchdog_pings_at_half_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, path) = listener(dir.path());
        let start = Instant::now();
        let mut notifier = Notifier::new(Some(path), Some(Duration::from_secs(4)), start);
        assert_eq!(notifier.deadline(), Some(start + Duration::from_secs(2)));
        notifier.on_timer(start + Duration::from_secs(1), IDLE);
        assert_eq!(
            received(&listener),
            ["STATUS=0 door(s) open, 0 attempt(s) in progress"]
        );
        notifier.on_timer(start + Duration::from_secs(2), IDLE);
        assert_eq!(received(&listener), ["WATCHDOG=1"]);
        assert_eq!(notifier.deadline(), Some(start + Duration::from_secs(4)));
    }

    #[test]
    fn odd_watchdog_intervals_neither_spin_nor_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let (_listener, path) = listener(dir.path());
        let now = Instant::now();
        let tiny = Notifier::new(Some(path.clone()), Some(Duration::from_micros(1)), now);
        assert_eq!(tiny.deadline(), Some(now + MIN_PING_INTERVAL));
        let mut huge = Notifier::new(Some(path), Some(Duration::from_micros(u64::MAX)), now);
        huge.on_timer(now, IDLE);
        assert!(huge.deadline().is_none_or(|at| at > now));
    }

    #[test]
    fn status_changes_are_sent_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, path) = listener(dir.path());
        let start = Instant::now();
        let mut notifier = Notifier::new(Some(path), None, start);
        notifier.ready(IDLE, start);
        received(&listener);
        let busy = Status {
            open: 1,
            attempts: 2,
        };
        notifier.on_timer(start + Duration::from_millis(100), busy);
        assert_eq!(received(&listener), Vec::<String>::new(), "held back");
        assert_eq!(notifier.deadline(), Some(start + STATUS_INTERVAL));
        notifier.on_timer(start + STATUS_INTERVAL, busy);
        assert_eq!(
            received(&listener),
            ["STATUS=1 door(s) open, 2 attempt(s) in progress"]
        );
        notifier.on_timer(start + STATUS_INTERVAL * 3, busy);
        assert_eq!(received(&listener), Vec::<String>::new(), "unchanged");
        assert_eq!(notifier.deadline(), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn abstract_sockets_are_reached() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("knockd-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut notifier = Notifier::new(Some(format!("@{name}").into()), None, Instant::now());
        notifier.stopping();
        assert_eq!(received(&listener), ["STOPPING=1"]);
    }

    #[test]
    fn without_a_usable_socket_nothing_is_due() {
        let now = Instant::now();
        for socket in [None, Some("relative/path".into()), Some("".into())] {
            let mut notifier = Notifier::new(socket, Some(Duration::from_secs(2)), now);
            assert_eq!(notifier.deadline(), None);
            notifier.ready(IDLE, now);
            notifier.on_timer(now + Duration::from_secs(5), IDLE);
        }
    }
}
