//! Confining the watcher: the process that faces the network (captures,
//! decoding, matching, the control socket, logging, the address watch, `-l`'s
//! resolver) once the opener has forked it off.
//!
//! Two steps, in this order, while the watcher still has a single thread
//! (capabilities belong to threads):
//!
//! 1. [`drop_privileges`]: to the unprivileged account ([`lookup`]) with no
//!    capability left, and no way back to root;
//! 2. [`install_filter`]: the platform's system-call confinement. On Linux
//!    (x86_64 and aarch64) a seccomp allow list of what the watcher does
//!    (see `confine/seccomp.rs`); any other call kills the watcher with
//!    SIGSYS, which the opener sees. The filter allows neither `setuid` nor
//!    `capset`, so it comes second.
//!
//! What the watcher must do before: open everything that needs a privilege
//! (captures, control socket, netlink socket, log file) and start no thread.

use std::fmt;
use std::io;

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod seccomp;

#[cfg(all(test, target_os = "linux"))]
mod tests;

/// The account the watcher runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its user name, for messages.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// Its primary group id: the only group the watcher keeps.
    pub gid: u32,
}

/// Looks up a user by name (`getpwnam`): `None` when there is none.
///
/// Call it before [`install_filter`]: the lookup may read files or ask nscd
/// or other name services the watcher's filter does not expect.
pub fn lookup(name: &str) -> io::Result<Option<Account>> {
    let user = nix::unistd::User::from_name(name).map_err(io::Error::from)?;
    Ok(user.map(|user| Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    }))
}

/// Why the watcher could not be confined. Any of these is fatal: the
/// watcher must exit rather than go on with what it kept.
#[derive(Debug)]
pub enum ConfineError {
    /// A step's system call failed.
    Step {
        /// What the step was, as "cannot {step}".
        step: &'static str,
        /// The system's error.
        error: io::Error,
    },
    /// The steps ran, but a check after them found a privilege still held.
    Kept(&'static str),
}

impl fmt::Display for ConfineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfineError::Step { step, error } => write!(f, "cannot {step}: {error}"),
            ConfineError::Kept(what) => {
                write!(f, "privileges still held after dropping them: {what}")
            }
        }
    }
}

impl std::error::Error for ConfineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfineError::Step { error, .. } => Some(error),
            ConfineError::Kept(_) => None,
        }
    }
}

/// A `map_err` for a step: `step` says what failed, as "cannot {step}".
fn failed<E: Into<io::Error>>(step: &'static str) -> impl FnOnce(E) -> ConfineError {
    move |error| ConfineError::Step {
        step,
        error: error.into(),
    }
}

/// Drops every privilege of the calling process, for good.
///
/// With an account (knockd started as root): drops the supplementary groups
/// (to the account's group alone), sets the real, effective and saved group
/// id, then user id, to the account's. Without one (knockd started as an
/// ordinary user, e.g. `nobody` with ambient capabilities through
/// `setpriv`): no switch.
///
/// On Linux, either way, every capability set is cleared: the bounding set
/// first, while `CAP_SETPCAP` is still held (root, before the switch; an
/// unprivileged start has no `CAP_SETPCAP` and keeps its bounding set,
/// harmless once `no_new_privs` and the filter forbid `execve`), then
/// ambient, inheritable, permitted and effective.
///
/// Then it checks: `setuid(0)` and `setgid(0)` must fail (so neither the
/// real nor the saved id is root's, which also makes `None` under root an
/// error), and on Linux the effective, permitted and ambient sets must be
/// empty.
///
/// Contract: call it while the process has a single thread (the watcher,
/// just forked, has): capabilities belong to threads, and another thread
/// would keep its own. It is not checked: /proc/self/status counts the
/// emulator's threads too under qemu-user, where the unit tests run for
/// arm64.
pub fn drop_privileges(account: Option<&Account>) -> Result<(), ConfineError> {
    #[cfg(target_os = "linux")]
    capabilities::clear_bounding()?;
    if let Some(account) = account {
        switch_to(account)?;
    }
    #[cfg(target_os = "linux")]
    capabilities::clear()?;
    cannot_regain_root()?;
    #[cfg(target_os = "linux")]
    capabilities::none_left()?;
    Ok(())
}

/// Root: the account's group alone, then its gid and its uid, real,
/// effective and saved (POSIX `setgid` and `setuid` set all three when the
/// caller is privileged; glibc applies them to every thread).
fn switch_to(account: &Account) -> Result<(), ConfineError> {
    use nix::unistd::{setgid, setuid, Gid, Uid};
    set_groups(account.gid)?;
    setgid(Gid::from_raw(account.gid)).map_err(failed("set the group id"))?;
    setuid(Uid::from_raw(account.uid)).map_err(failed("set the user id"))?;
    Ok(())
}

/// `setgroups` to the one group `gid`.
#[cfg(not(target_vendor = "apple"))]
fn set_groups(gid: u32) -> Result<(), ConfineError> {
    nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(gid)])
        .map_err(failed("drop the supplementary groups"))
}

/// `setgroups` to the one group `gid` (nix has no `setgroups` for macOS).
#[cfg(target_vendor = "apple")]
fn set_groups(gid: u32) -> Result<(), ConfineError> {
    let groups = [gid as libc::gid_t];
    // SAFETY: the pointer and the count describe `groups`, a live array of
    // one gid_t, which setgroups only reads.
    let rc = unsafe { libc::setgroups(1, groups.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(failed("drop the supplementary groups")(
            io::Error::last_os_error(),
        ))
    }
}

/// Fails if root can be had back: an unprivileged `setuid(0)` succeeds
/// when the real or saved uid is 0 (or with `CAP_SETUID`), likewise
/// `setgid(0)`. A success means the process is root again: the caller must
/// exit, as it does on any error here.
fn cannot_regain_root() -> Result<(), ConfineError> {
    use nix::unistd::{setgid, setuid, Gid, Uid};
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err(ConfineError::Kept("setuid(0) succeeded"));
    }
    if setgid(Gid::from_raw(0)).is_ok() {
        return Err(ConfineError::Kept("setgid(0) succeeded"));
    }
    Ok(())
}

/// Linux capabilities, through the `caps` crate.
#[cfg(target_os = "linux")]
mod capabilities {
    use caps::{CapSet, Capability};

    use super::{failed, ConfineError};

    /// A `map_err` for a `caps` error (its own type, with the errno's text).
    fn caps_failed(step: &'static str) -> impl FnOnce(caps::errors::CapsError) -> ConfineError {
        move |error| failed(step)(std::io::Error::other(error.to_string()))
    }

    /// Empties the bounding set, which takes `CAP_SETPCAP`: a root start
    /// has it until the uid switch; an unprivileged one normally not, and
    /// then keeps its bounding set (it only limits what `execve` could
    /// grant, which the filter forbids).
    pub fn clear_bounding() -> Result<(), ConfineError> {
        let setpcap = caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)
            .map_err(caps_failed("read the effective capabilities"))?;
        if setpcap {
            caps::clear(None, CapSet::Bounding)
                .map_err(caps_failed("clear the capability bounding set"))?;
        }
        Ok(())
    }

    /// Empties the ambient, inheritable, permitted and effective sets (the
    /// uid switch already emptied all but the inheritable one, unless
    /// SECBIT_KEEP_CAPS was set; an unprivileged start with ambient
    /// capabilities has them all until here).
    pub fn clear() -> Result<(), ConfineError> {
        caps::clear(None, CapSet::Ambient)
            .map_err(caps_failed("clear the ambient capabilities"))?;
        caps::clear(None, CapSet::Inheritable)
            .map_err(caps_failed("clear the inheritable capabilities"))?;
        // Clearing the permitted set clears the effective one with it.
        caps::clear(None, CapSet::Permitted)
            .map_err(caps_failed("clear the permitted capabilities"))?;
        caps::clear(None, CapSet::Effective)
            .map_err(caps_failed("clear the effective capabilities"))
    }

    /// Fails unless the effective, permitted and ambient sets are empty.
    pub fn none_left() -> Result<(), ConfineError> {
        let sets = [
            (CapSet::Effective, "an effective capability"),
            (CapSet::Permitted, "a permitted capability"),
            (CapSet::Ambient, "an ambient capability"),
        ];
        for (set, what) in sets {
            let held = caps::read(None, set).map_err(caps_failed("read the capabilities"))?;
            if !held.is_empty() {
                return Err(ConfineError::Kept(what));
            }
        }
        Ok(())
    }
}

/// What [`install_filter`] put in place, for the caller's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// Linux (x86_64, aarch64): `no_new_privs` and the seccomp allow list.
    /// Any other system call kills the process with SIGSYS.
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    SystemCallFilter,
    /// OpenBSD: the file system is visible read-only (`unveil`), without
    /// exec; there is no system-call filter (`pledge` does not fit, see
    /// [`install_filter`]).
    #[cfg(target_os = "openbsd")]
    ReadOnlyFileSystem,
    /// No system-call filter on this platform, or in this kernel (Linux
    /// without seccomp, or under an emulator such as qemu-user); on Linux
    /// `no_new_privs` is set all the same. The caller logs "no system-call
    /// filter on this platform".
    #[cfg(not(target_os = "openbsd"))]
    NoFilter,
}

/// What the caller logs once confined.
impl fmt::Display for Confinement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            #[cfg(all(
                target_os = "linux",
                any(target_arch = "x86_64", target_arch = "aarch64")
            ))]
            Confinement::SystemCallFilter => "system calls confined to the watcher's (seccomp)",
            #[cfg(target_os = "openbsd")]
            Confinement::ReadOnlyFileSystem => {
                "no system-call filter on this platform; the file system is read-only (unveil)"
            }
            #[cfg(not(target_os = "openbsd"))]
            Confinement::NoFilter => "no system-call filter on this platform",
        })
    }
}

/// Confines the process to what the watcher does, for the rest of its
/// life and for all its threads. Call it after [`drop_privileges`].
///
/// - Linux on x86_64 and aarch64: `PR_SET_NO_NEW_PRIVS`, then the seccomp
///   allow list (`confine/seccomp.rs`), on every thread.
///   [`Confinement::NoFilter`] when the kernel has no seccomp(2) at all
///   (ENOSYS).
/// - Linux elsewhere (s390x, ...): `no_new_privs` only: the `seccompiler`
///   crate generates filters for x86_64, aarch64 and riscv64 alone, and none
///   on big-endian targets.
/// - OpenBSD: `unveil("/", "r")`, then locked: nothing can be written,
///   created or executed by path. No `pledge`: the watcher installs capture
///   filters for as long as it runs (each rotating step, one-time door and
///   address change), which libpcap does with the `BIOCSETF` ioctl, and no
///   promise allows that ioctl (`bpf` allows `BIOCGSTATS` alone): a pledged
///   watcher would be killed at its first new filter. Were filters set by
///   the opener instead, "stdio inet unix dns recvfd sendfd bpf" would
///   cover the rest: getifaddrs takes inet or dns, and tzset's
///   /etc/localtime and zoneinfo are open to any pledge.
/// - FreeBSD: no Capsicum: `cap_enter` forbids opening paths (reloading
///   the configuration, /etc/localtime, /etc/resolv.conf and /etc/hosts
///   for `-l`), connecting to an address (DNS) and the routing sysctl
///   behind getifaddrs, all of which the watcher does after confinement.
/// - NetBSD, macOS and the rest: nothing.
pub fn install_filter() -> Result<Confinement, ConfineError> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_no_new_privs().map_err(failed("set no_new_privs"))?;
    platform_filter()
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
use seccomp::install as platform_filter;

/// OpenBSD: the whole file system read-only, then no more `unveil`.
#[cfg(target_os = "openbsd")]
fn platform_filter() -> Result<Confinement, ConfineError> {
    // SAFETY: both strings are NUL-terminated literals, which unveil only
    // reads during the call.
    let rc = unsafe { libc::unveil(c"/".as_ptr(), c"r".as_ptr()) };
    if rc != 0 {
        return Err(failed("unveil / read-only")(io::Error::last_os_error()));
    }
    // SAFETY: two null pointers lock the unveiled view, as unveil(2) says.
    let rc = unsafe { libc::unveil(std::ptr::null(), std::ptr::null()) };
    if rc != 0 {
        return Err(failed("lock unveil")(io::Error::last_os_error()));
    }
    Ok(Confinement::ReadOnlyFileSystem)
}

/// Nothing to install here (see [`install_filter`]).
#[cfg(not(any(
    all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ),
    target_os = "openbsd"
)))]
fn platform_filter() -> Result<Confinement, ConfineError> {
    Ok(Confinement::NoFilter)
}
