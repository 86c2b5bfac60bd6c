//! The watcher's system-call allow list (Linux on x86_64 and aarch64), as
//! seccomp-BPF built by the `seccompiler` crate. Any call not on it kills
//! the whole process (`SECCOMP_RET_KILL_PROCESS`: the opener sees SIGSYS).
//!
//! The list is what the watcher was seen to call in its loop (`strace -f`
//! of the end-to-end tests and of `-l` lookups, commands aside: those are
//! the opener's), plus what glibc 2.36 and std call on paths rarer than a
//! test takes; each entry says who needs it. Arguments are checked where a
//! register says enough: files open read-only, sockets of four families,
//! threads but no processes, signals to itself, a few ioctl, fcntl and
//! setsockopt requests.
//!
//! `clone3` is the exception: its flags sit in memory, where seccomp cannot
//! look, so a second filter answers it ENOSYS (`SECCOMP_RET_ERRNO` wins over
//! `ALLOW`), and glibc falls back to `clone`, whose flags are checked.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    apply_filter_all_threads, BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen,
    SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use super::{failed, ConfineError, Confinement};

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Installs both filters on every thread; [`Confinement::NoFilter`] when
/// the kernel (or an emulator: qemu-user) has no seccomp(2).
pub fn install() -> Result<Confinement, ConfineError> {
    let build =
        |error: BackendError| failed("build the system-call filter")(io::Error::other(error));
    // Both are built before either is installed: allocating is fine after,
    // but a filter that cannot be built should leave none behind.
    let clone3 = program(
        [(libc::SYS_clone3, Vec::new())].into(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )
    .map_err(build)?;
    let allowed = allow_list(std::process::id())
        .and_then(|rules| program(rules, SeccompAction::KillProcess, SeccompAction::Allow))
        .map_err(build)?;
    let installing = |error: seccompiler::Error| {
        failed("install the system-call filter")(io::Error::other(error))
    };
    match apply_filter_all_threads(&clone3) {
        Err(seccompiler::Error::Seccomp(error)) if error.raw_os_error() == Some(libc::ENOSYS) => {
            return Ok(Confinement::NoFilter);
        }
        result => result.map_err(installing)?,
    }
    apply_filter_all_threads(&allowed).map_err(installing)?;
    Ok(Confinement::SystemCallFilter)
}

/// A BPF program of `rules`: `on_match` for the calls they match,
/// `otherwise` for the rest.
fn program(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    otherwise: SeccompAction,
    on_match: SeccompAction,
) -> Result<BpfProgram, BackendError> {
    SeccompFilter::new(rules, otherwise, on_match, ARCH)?.try_into()
}

/// Argument `index` is `value`. The low 32 bits are compared: every
/// argument tested here is an `int` or `unsigned int` to the kernel (flags
/// included), so the high half a caller leaves in the register means nothing.
fn arg_is(index: u8, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
}

/// Argument `index`, masked with `mask`, is `value`.
fn arg_masked(index: u8, mask: u64, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(
        index,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(mask),
        value,
    )
}

/// Rules allowing the call when argument `index` is one of `values`.
fn arg_in(index: u8, values: &[u64]) -> Result<Vec<SeccompRule>, BackendError> {
    values
        .iter()
        .map(|&value| SeccompRule::new(vec![arg_is(index, value)?]))
        .collect()
}

/// The open flags that write, create or truncate.
const WRITING: u64 =
    (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u64;

/// Rules allowing an open whose flags (argument `index`) only read: the
/// watcher writes to the descriptors it was handed, never to a path.
/// O_TMPFILE needs O_WRONLY or O_RDWR, so it is refused too.
fn read_only(index: u8) -> Result<Vec<SeccompRule>, BackendError> {
    let writes_nothing = arg_masked(index, WRITING, 0)?;
    Ok(vec![SeccompRule::new(vec![writes_nothing])?])
}

/// The allow list, for the process `own_pid`: system call number to the
/// rules one of which its arguments must match (none: any arguments).
fn allow_list(own_pid: u32) -> Result<BTreeMap<i64, Vec<SeccompRule>>, BackendError> {
    use libc::*;
    let any = Vec::new;
    let own_pid = u64::from(own_pid);
    let thread = CLONE_THREAD as u64;
    #[rustfmt::skip]
    let list = vec![
        // Memory.
        (SYS_brk, any()), // malloc growing its heap
        (SYS_mmap, any()), // malloc's large blocks and arenas; thread stacks and signal stacks
        (SYS_munmap, any()), // freeing those
        (SYS_mremap, any()), // realloc of a large block
        (SYS_mprotect, any()), // guard pages of thread stacks; a malloc arena growing
        (SYS_madvise, any()), // glibc returning a finished thread's stack (MADV_DONTNEED)
        // Threads: the resolver thread (-l) and the reload worker, std::thread.
        (SYS_clone, vec![SeccompRule::new(vec![arg_masked(0, thread, thread)?])?]), // threads only (CLONE_THREAD): no fork
        (SYS_clone3, any()), // answered ENOSYS by the other filter, so glibc uses clone
        (SYS_set_robust_list, any()), // glibc starting a thread
        (SYS_rseq, any()), // glibc registering a new thread's restartable sequence
        (SYS_futex, any()), // std's locks, channels and thread join
        (SYS_sched_yield, any()), // std's channels backing off under contention
        (SYS_sched_getaffinity, any()), // glibc sizing malloc arenas when a new thread first allocates
        (SYS_prctl, arg_in(0, &[PR_SET_NAME as u64])?), // std naming a thread (knockd-resolver)
        (SYS_gettid, any()), // std's stack-overflow handler of a new thread
        (SYS_exit, any()), // a thread ending
        (SYS_exit_group, any()), // the watcher exiting
        // Signals.
        (SYS_rt_sigaction, any()), // signal handlers (signal-hook; abort resetting SIGABRT)
        (SYS_rt_sigprocmask, any()), // glibc masking signals around thread start and exit
        (SYS_rt_sigreturn, any()), // returning from a signal handler
        (SYS_sigaltstack, any()), // std's stack-overflow handler, one stack per thread
        (SYS_restart_syscall, any()), // a call a signal interrupted, restarted
        (SYS_kill, arg_in(0, &[own_pid])?), // a signal to itself only
        (SYS_tgkill, arg_in(0, &[own_pid])?), // abort() and raise(), to its own threads only
        (SYS_getpid, any()), // its own pid (the status reply shows it)
        (SYS_geteuid, any()), // a reload checking who owns the configuration
        // Files: read-only (see read_only), writes only to handed descriptors.
        (SYS_openat, read_only(2)?), // /etc/localtime, /proc/sys/net/core/optmem_max, the configuration, -l's /etc/hosts, resolv.conf, host.conf, nsswitch.conf
        (SYS_read, any()), // files, pipes, sockets, the opener's socket
        (SYS_write, any()), // the log file, control replies, the signal pipe, stderr
        (SYS_writev, any()), // glibc's fatal messages (malloc corruption) to stderr
        (SYS_lseek, any()), // glibc rewinding /etc/hosts between lookups
        (SYS_newfstatat, any()), // glibc's fstat and stat of what it opens (resolv.conf, nsswitch.conf)
        (SYS_statx, any()), // std's metadata: chrono's look at /etc/localtime, a reload
        (SYS_readlinkat, any()), // chrono finding the zone /etc/localtime links to, when it cannot read it
        (SYS_close, any()), // closing descriptors
        (SYS_fcntl, arg_in(1, &[F_GETFD as u64, F_SETFD as u64, F_GETFL as u64, F_SETFL as u64, F_DUPFD_CLOEXEC as u64])?), // std's try_clone and close-on-exec; libpcap's O_NONBLOCK while it swaps a filter
        (SYS_ioctl, arg_in(1, &[FIONBIO, SIOCGIFINDEX, SIOCGIFFLAGS])?), // std's set_nonblocking (control clients); if_nametoindex; libpcap asking whether a capture's interface is up
        (SYS_uname, any()), // glibc's resolver (gethostname), libpcap's poll timeout
        (SYS_getrandom, any()), // std's HashMap keys, one draw per thread
        // Time: the vDSO answers, and calls the kernel when the clock
        // source cannot be read in user space.
        (SYS_clock_gettime, any()), // std's Instant and SystemTime; chrono
        (SYS_clock_nanosleep, any()), // std::thread::sleep
        // Sockets: no AF_PACKET (no new capture), no raw sockets (no
        // CAP_NET_RAW left anyway).
        (SYS_socket, vec![
            SeccompRule::new(vec![arg_is(0, AF_UNIX as u64)?])?, // syslog's /dev/log, sd_notify, nscd
            SeccompRule::new(vec![arg_is(0, AF_INET as u64)?])?, // DNS (-l); kernel_takes' probe socket
            SeccompRule::new(vec![arg_is(0, AF_INET6 as u64)?])?, // DNS over IPv6 (-l)
            SeccompRule::new(vec![arg_is(0, AF_NETLINK as u64)?, arg_is(2, NETLINK_ROUTE as u64)?])?, // getifaddrs; if_nametoindex
        ]),
        (SYS_socketpair, arg_in(0, &[AF_UNIX as u64])?), // std's UnixStream::pair (a reload's wake-up pair)
        (SYS_connect, any()), // DNS server (-l), /dev/log, sd_notify's socket, nscd's
        (SYS_bind, any()), // getifaddrs' netlink socket
        (SYS_getsockname, any()), // getifaddrs' netlink socket; libpcap: whether the interface is gone
        (SYS_accept4, any()), // control socket clients
        (SYS_shutdown, any()), // ending a control connection
        (SYS_getsockopt, any()), // libpcap's PACKET_STATISTICS and SO_ERROR; SO_GET_FILTER (the filter the kernel took)
        (SYS_setsockopt, vec![
            SeccompRule::new(vec![arg_is(1, SOL_SOCKET as u64)?])?, // SO_ATTACH_FILTER: capture filters, kernel_takes' probe
            SeccompRule::new(vec![arg_is(1, SOL_IP as u64)?])?, // glibc's resolver: IP_RECVERR (-l)
            SeccompRule::new(vec![arg_is(1, SOL_IPV6 as u64)?])?, // glibc's resolver: IPV6_RECVERR (-l)
            SeccompRule::new(vec![arg_is(1, SOL_PACKET as u64)?, arg_is(2, PACKET_RX_RING as u64)?])?, // pcap_close tearing a capture's ring down; no other SOL_PACKET option (no promiscuous membership)
        ]),
        (SYS_sendto, any()), // control replies, syslog, sd_notify, netlink requests, DNS queries
        (SYS_sendmsg, any()), // to the opener (SCM_RIGHTS)
        (SYS_sendmmsg, any()), // glibc's resolver sending two queries at once (-l)
        (SYS_recvfrom, any()), // control requests, DNS answers, libpcap draining a capture while it swaps a filter
        (SYS_recvmsg, any()), // netlink address events and getifaddrs; from the opener (SCM_RIGHTS)
        (SYS_ppoll, any()), // poll's form on aarch64: the main loop, libpcap, glibc's resolver
    ];
    // x86_64's older forms of calls that aarch64 has only as openat,
    // ppoll and readlinkat.
    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    let older_forms = vec![
        (SYS_open, read_only(1)?), // as openat, where glibc or a crate calls open(2)
        (SYS_poll, any()), // the main loop, libpcap, glibc's resolver
        (SYS_readlink, any()), // as readlinkat
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let older_forms = Vec::new();
    Ok(list.into_iter().chain(older_forms).collect())
}
