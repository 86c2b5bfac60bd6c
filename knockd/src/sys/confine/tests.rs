//! Confinement for good can only be tried in a process that may end
//! confined: each test forks a child, confines it, lets it do what the
//! watcher does (or what it must not) and reads how it ended.

use std::fmt::Display;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, ForkResult, Gid, Uid};

use super::*;

/// The longest a child may take: a child stuck on a lock that another test
/// thread held at the fork fails its test instead of hanging the run.
const CHILD_TIME: Duration = Duration::from_secs(60);

/// What a child wrote to report what it got to.
const NO_FILTER: &str = "no system-call filter here";

/// How a forked child ended, and the lines it reported.
struct Ended {
    status: WaitStatus,
    report: String,
}

/// The write end of a child's report pipe.
struct Report(OwnedFd);

impl Report {
    /// One line for the parent (lost if the pipe is full: a child says little).
    fn say(&self, line: &str) {
        let _ = nix::unistd::write(&self.0, format!("{line}\n").as_bytes());
    }
}

/// An error as the text a child reports.
fn text(error: impl Display) -> String {
    error.to_string()
}

/// Runs `body` in a forked child, which then `_exit`s: 0 when `body`
/// returned `Ok`, 1 when it returned an error (reported), 2 when it
/// panicked. The child dumps no core (it may die of SIGSYS on purpose).
///
/// The harness runs other tests on threads the child does not have: a lock
/// one of them held at the fork stays held in the child. The bodies keep to
/// glibc's malloc (which takes its locks around fork) and system calls,
/// and never print (std's stdout and stderr locks); [`CHILD_TIME`] turns
/// any other deadlock into a failure.
fn in_child(body: impl FnOnce(&Report) -> Result<(), String>) -> Ended {
    let (from, to) = nix::unistd::pipe().unwrap();
    // SAFETY: the child runs `body` and `_exit`s; the contract above keeps
    // it to calls that do not depend on another thread's locks.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(from);
            let report = Report(to);
            let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&report)));
            let code = match ran {
                Ok(Ok(())) => 0,
                Ok(Err(error)) => {
                    report.say(&error);
                    1
                }
                Err(_) => {
                    report.say("panicked");
                    2
                }
            };
            exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(to);
            let started = Instant::now();
            let status = loop {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)).unwrap() {
                    WaitStatus::StillAlive if started.elapsed() > CHILD_TIME => {
                        let _ = kill(child, Signal::SIGKILL);
                        let _ = waitpid(child, None);
                        panic!("the child took over {CHILD_TIME:?}: killed");
                    }
                    WaitStatus::StillAlive => std::thread::sleep(Duration::from_millis(5)),
                    status => break status,
                }
            };
            Ended {
                status,
                report: drain(from),
            }
        }
    }
}

/// `_exit`: ends the child at once, without the exit handlers and buffer
/// flushes of the parent's copy, which are not the child's to run.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes no pointer and never returns; it is
    // async-signal-safe, as a forked child of a threaded process needs.
    unsafe { libc::_exit(code) }
}

/// What is in the pipe once its child has ended. Without blocking: a child
/// another test forked meanwhile may hold the write end open.
fn drain(from: OwnedFd) -> String {
    let mut pipe = std::fs::File::from(from);
    nix::fcntl::fcntl(
        &pipe,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut report = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = pipe.read(&mut chunk) {
        report.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&report).into_owned()
}

fn assert_exited_0(ended: &Ended) {
    assert!(
        matches!(ended.status, WaitStatus::Exited(_, 0)),
        "{:?}; the child reported:\n{}",
        ended.status,
        ended.report
    );
}

/// Runs `forbidden` in a filtered child, which must die of SIGSYS at it.
fn assert_killed_by_the_filter(forbidden: impl FnOnce() -> Result<(), String>) {
    let ended = in_child(|report| {
        if install_filter().map_err(text)? != Confinement::SystemCallFilter {
            report.say(NO_FILTER);
            return Ok(());
        }
        report.say("filtered");
        let survived = forbidden();
        report.say(&format!("survived: {survived:?}"));
        Ok(())
    });
    if ended.report.contains(NO_FILTER) {
        println!("skipped: {NO_FILTER} (a kernel without seccomp, or qemu-user)");
        return;
    }
    assert!(
        matches!(ended.status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "{:?}; the child reported:\n{}",
        ended.status,
        ended.report
    );
    assert_eq!(ended.report, "filtered\n");
}

#[test]
fn a_filtered_child_still_does_what_the_watcher_does() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    // Reverse DNS from /etc/hosts only: were 127.0.0.1 missing, glibc would
    // ask the network.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let localhost_in_hosts = hosts
        .lines()
        .any(|line| line.split_whitespace().next() == Some("127.0.0.1"));
    let ended = in_child(|report| {
        // Opened before, as the watcher's are for it.
        let listener = UnixListener::bind(&socket).map_err(text)?;
        let (from, to) = nix::unistd::pipe().map_err(text)?;
        if install_filter().map_err(text)? != Confinement::SystemCallFilter {
            // Nothing to try, and qemu-user cannot start a thread in a child
            // forked from a threaded process (it exits 127).
            report.say(NO_FILTER);
            return Ok(());
        }
        report.say("pipe");
        poll_read_and_write(&from, &to)?;
        report.say("thread");
        spawn_and_join()?;
        report.say("addresses and files");
        read_addresses_and_files()?;
        report.say("control client");
        serve_a_control_client(&listener, &socket)?;
        if localhost_in_hosts {
            report.say("name of 127.0.0.1");
            let name = crate::sys::resolve::name_of(IpAddr::V4(Ipv4Addr::LOCALHOST));
            name.ok_or("no name for 127.0.0.1")?;
        }
        report.say("signals and sleep");
        signal_and_sleep()
    });
    assert_exited_0(&ended);
    if ended.report.contains(NO_FILTER) {
        println!("skipped: {NO_FILTER} (a kernel without seccomp, or qemu-user)");
    }
}

fn poll_read_and_write(from: &OwnedFd, to: &OwnedFd) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    nix::unistd::write(to, b"x").map_err(text)?;
    let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::from(1000u16)).map_err(text)?;
    let mut byte = [0];
    let read = nix::unistd::read(from, &mut byte).map_err(text)?;
    match (ready, read, byte) {
        (1, 1, [b'x']) => Ok(()),
        other => Err(format!("poll and read on a pipe: {other:?}")),
    }
}

fn spawn_and_join() -> Result<(), String> {
    let worker = std::thread::Builder::new()
        .name("knockd-confined".into())
        .spawn(|| 6 * 7)
        .map_err(text)?;
    match worker.join() {
        Ok(42) => Ok(()),
        other => Err(format!("thread: {other:?}")),
    }
}

fn read_addresses_and_files() -> Result<(), String> {
    use knockd_core::filter::bpf::Instruction;
    if nix::ifaddrs::getifaddrs().map_err(text)?.count() == 0 {
        return Err("getifaddrs: no address".into());
    }
    nix::net::if_::if_nametoindex("lo").map_err(text)?;
    // BPF_RET|BPF_K 0xffffffff: keep every packet.
    let accept_all = Instruction {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: u32::MAX,
    };
    if crate::capture::kernel_takes(&[accept_all]) != Some(true) {
        return Err("kernel_takes: no".into());
    }
    // Its result depends on the machine (IPv6 may be off); surviving is the test.
    let _ = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None);
    crate::capture::kernel_budget();
    std::fs::read_to_string("/etc/hosts").map_err(text)?;
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
    if now.is_empty() {
        return Err("chrono: no local time".into());
    }
    nix::unistd::geteuid();
    Ok(())
}

fn serve_a_control_client(listener: &UnixListener, path: &Path) -> Result<(), String> {
    let mut client = UnixStream::connect(path).map_err(text)?;
    let (mut served, _) = listener.accept().map_err(text)?;
    served.set_nonblocking(true).map_err(text)?;
    let mut reply_to = served.try_clone().map_err(text)?;
    client.write_all(b"status\n").map_err(text)?;
    let mut request = [0; 7];
    served.read_exact(&mut request).map_err(text)?;
    reply_to.write_all(&request).map_err(text)?;
    reply_to.shutdown(std::net::Shutdown::Both).map_err(text)?;
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).map_err(text)?;
    match reply.as_slice() {
        b"status\n" => Ok(()),
        other => Err(format!("control reply: {other:?}")),
    }
}

fn signal_and_sleep() -> Result<(), String> {
    // Ignored by default: raise (tgkill) and kill reach the child itself.
    nix::sys::signal::raise(Signal::SIGURG).map_err(text)?;
    kill(getpid(), Signal::SIGURG).map_err(text)?;
    std::thread::sleep(Duration::from_millis(1));
    Ok(())
}

#[test]
fn exec_after_the_filter_kills() {
    assert_killed_by_the_filter(|| {
        let Err(error) = nix::unistd::execv(c"/bin/true", &[c"true"]);
        Err(text(error))
    });
}

#[test]
fn opening_a_file_for_writing_after_the_filter_kills() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written");
    assert_killed_by_the_filter(|| {
        std::fs::File::create(&path).map_err(text)?;
        Ok(())
    });
    assert!(!path.exists());
}

#[test]
fn opening_a_file_for_appending_after_the_filter_kills() {
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_killed_by_the_filter(|| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(file.path())
            .map_err(text)?;
        Ok(())
    });
}

#[test]
fn a_packet_socket_after_the_filter_kills() {
    assert_killed_by_the_filter(|| {
        socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, None).map_err(text)?;
        Ok(())
    });
}

#[test]
fn forking_after_the_filter_kills() {
    assert_killed_by_the_filter(|| {
        // SAFETY: were the fork allowed, the child would `_exit` at once.
        if let ForkResult::Child = unsafe { fork() }.map_err(text)? {
            exit_now(0);
        }
        Ok(())
    });
}

#[test]
fn signalling_another_process_after_the_filter_kills() {
    let parent = getpid();
    assert_killed_by_the_filter(move || {
        // Signal 0 only asks whether it could: the parent is not disturbed.
        kill(parent, None).map_err(text)?;
        Ok(())
    });
}

#[test]
fn changing_user_after_the_filter_kills() {
    assert_killed_by_the_filter(|| {
        nix::unistd::setuid(Uid::from_raw(65534)).map_err(text)?;
        Ok(())
    });
}

/// The capability sets and ids in /proc/self/status that must show no
/// privilege: each line's name and its required value.
fn status_lines() -> Result<Vec<(String, String)>, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(text)?;
    Ok(status
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| {
            (
                name.to_string(),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect())
}

/// Fails unless each of `expected`'s lines of /proc/self/status has its value.
fn status_shows(expected: &[(&str, String)]) -> Result<(), String> {
    let lines = status_lines()?;
    for (name, value) in expected {
        let found = lines.iter().find(|(line, _)| line == name).map(|(_, v)| v);
        if found != Some(value) {
            return Err(format!(
                "/proc/self/status {name}: {found:?}, not {value:?}"
            ));
        }
    }
    Ok(())
}

const NO_CAPABILITY: &str = "0000000000000000";

#[test]
#[ignore = "needs root (switches to nobody): run with --ignored"]
fn root_drops_to_nobody_for_good() {
    if !Uid::effective().is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs the root-only tests as root"
        );
        println!("skipped: needs root");
        return;
    }
    let nobody = lookup("nobody").unwrap().expect("a nobody account");
    let ended = in_child(|_| {
        drop_privileges(Some(&nobody)).map_err(text)?;
        let (uid, gid) = (nobody.uid.to_string(), nobody.gid.to_string());
        status_shows(&[
            ("Uid", [uid.as_str(); 4].join(" ")),
            ("Gid", [gid.as_str(); 4].join(" ")),
            ("CapInh", NO_CAPABILITY.into()),
            ("CapPrm", NO_CAPABILITY.into()),
            ("CapEff", NO_CAPABILITY.into()),
            ("CapBnd", NO_CAPABILITY.into()),
            ("CapAmb", NO_CAPABILITY.into()),
        ])?;
        let groups = status_lines()?
            .into_iter()
            .find(|(name, _)| name == "Groups")
            .map(|(_, groups)| groups);
        match groups.as_deref() {
            Some("") => {}
            Some(only) if only == gid => {}
            other => return Err(format!("supplementary groups: {other:?}")),
        }
        if nix::unistd::setuid(Uid::from_raw(0)).is_ok()
            || nix::unistd::setgid(Gid::from_raw(0)).is_ok()
        {
            return Err("root again".into());
        }
        // Then the filter, as the watcher does, and life goes on.
        install_filter().map_err(text)?;
        nix::ifaddrs::getifaddrs().map_err(text)?;
        Ok(())
    });
    assert_exited_0(&ended);

    // Root without an account to switch to would stay root: refused.
    let ended = in_child(|_| match drop_privileges(None) {
        Err(ConfineError::Kept(_)) => Ok(()),
        other => Err(format!("{other:?}")),
    });
    assert_exited_0(&ended);
}

#[test]
fn without_an_account_every_capability_goes() {
    let ended = in_child(|report| {
        if Uid::effective().is_root() {
            // As `setpriv --reuid nobody --ambient-caps +net_raw` would
            // start knockd: not root, a capability in every set but the
            // bounding one, which stays full.
            become_nobody_with_net_raw()?;
            report.say("as nobody with CAP_NET_RAW");
        }
        drop_privileges(None).map_err(text)?;
        status_shows(&[
            ("CapInh", NO_CAPABILITY.into()),
            ("CapPrm", NO_CAPABILITY.into()),
            ("CapEff", NO_CAPABILITY.into()),
            ("CapAmb", NO_CAPABILITY.into()),
        ])
    });
    assert_exited_0(&ended);
}

/// Root to uid and gid 65534 (a gid of 0 left would be refused: setgid(0)
/// would succeed), keeping CAP_NET_RAW permitted, effective, inheritable
/// and ambient.
fn become_nobody_with_net_raw() -> Result<(), String> {
    use caps::{CapSet, Capability::CAP_NET_RAW};
    nix::sys::prctl::set_keepcaps(true).map_err(text)?;
    let (nobody, nogroup) = (Uid::from_raw(65534), Gid::from_raw(65534));
    nix::unistd::setgroups(&[]).map_err(text)?;
    nix::unistd::setresgid(nogroup, nogroup, nogroup).map_err(text)?;
    nix::unistd::setresuid(nobody, nobody, nobody).map_err(text)?;
    for set in [CapSet::Effective, CapSet::Inheritable, CapSet::Ambient] {
        caps::raise(None, set, CAP_NET_RAW).map_err(text)?;
    }
    status_shows(&[("CapAmb", format!("{:016x}", CAP_NET_RAW.bitmask()))])
}

#[test]
fn lookup_finds_root_and_no_stranger() {
    let root = lookup("root").unwrap().unwrap();
    assert_eq!((root.name.as_str(), root.uid, root.gid), ("root", 0, 0));
    assert_eq!(lookup("knockd-no-such-user").unwrap(), None);
}

#[test]
fn errors_say_what_failed() {
    let step = ConfineError::Step {
        step: "set the user id",
        error: io::Error::from_raw_os_error(libc::EPERM),
    };
    assert!(
        step.to_string().starts_with("cannot set the user id: "),
        "{step}"
    );
    assert_eq!(
        ConfineError::Kept("setuid(0) succeeded").to_string(),
        "privileges still held after dropping them: setuid(0) succeeded"
    );
}

#[test]
fn each_confinement_reads_well_in_the_log() {
    assert_eq!(
        Confinement::SystemCallFilter.to_string(),
        "system calls confined to the watcher's (seccomp)"
    );
    assert_eq!(
        Confinement::NoFilter.to_string(),
        "no system-call filter on this platform"
    );
}
