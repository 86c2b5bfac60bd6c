//! Everything that can stop a knock, each with a message that says what to do.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use knock_proto::rotating::SecretError;
use knock_proto::{OneTimeError, Protocol};

use crate::profile::ProfileError;
use crate::target::Family;

/// Why `knock` gives up; see [`Error::exit_code`].
#[derive(Debug)]
pub enum Error {
    /// A port that is not a number from 1 to 65535 (negative, too big, zero or empty).
    InvalidPort {
        /// The whole argument as typed, e.g. `99999:udp`.
        arg: String,
    },
    /// A `:proto` suffix other than `tcp` or `udp`.
    UnknownProtocol {
        /// The whole argument as typed.
        arg: String,
    },
    /// A service name that the services database does not know for the hit's protocol.
    // Only Unix can look services up or send raw segments.
    #[cfg_attr(not(unix), allow(dead_code))]
    UnknownService {
        /// The service name as typed.
        name: String,
        /// The hit's protocol.
        protocol: Protocol,
    },
    /// Service names cannot be looked up on this platform.
    #[cfg(not(unix))]
    ServiceNamesUnsupported {
        /// The service name as typed.
        name: String,
    },
    /// `--flags` names something other than `fin,syn,rst,psh,ack,urg`.
    UnknownFlag {
        /// The offending entry of the list, trimmed.
        token: String,
    },
    /// `--flags` contains a `!`, which only makes sense for matching.
    NegatedFlag {
        /// The list as typed.
        list: String,
    },
    /// `--flags` on a platform that cannot send raw TCP segments.
    #[cfg(not(unix))]
    RawUnsupported,
    /// Name resolution failed.
    Resolve {
        /// The host as typed.
        host: String,
        /// The resolver's reason.
        source: io::Error,
    },
    /// The host resolved, but not to an address of the requested family.
    NoAddress {
        /// The host as typed.
        host: String,
        /// The family `-4`/`-6` asked for.
        family: Family,
    },
    /// The raw socket for `--flags` could not be opened for lack of privilege.
    // Only Unix can look services up or send raw segments.
    #[cfg_attr(not(unix), allow(dead_code))]
    RawPermission(io::Error),
    /// No route to the target, so no source address for the raw segments' checksum.
    // Only Unix can look services up or send raw segments.
    #[cfg_attr(not(unix), allow(dead_code))]
    NoRoute {
        /// The target.
        target: SocketAddr,
        /// The kernel's reason.
        source: io::Error,
    },
    /// The profile named on the command line could not be read.
    Profile(ProfileError),
    /// `-u` (or a profile's `udp`) with a one-time sequences file, whose
    /// lines say each hit's protocol.
    UdpWithOneTime,
    /// `--flags` and `-u` after merging a profile with the command line.
    FlagsWithUdp,
    /// An option that means nothing without another one (`--retries`
    /// without `--verify`, `--door` without `--secret-file`).
    OptionAlone {
        /// The option given, e.g. `--retries`.
        option: &'static str,
        /// What it needs and how to give it.
        needs: &'static str,
    },
    /// `-u` (or a profile's `udp`) with a rotating door, whose derivation
    /// says each hit's protocol.
    UdpWithRotating,
    /// No host to knock on.
    NoHost,
    /// `--sequence-only` without a rotating door to derive from.
    SequenceOnlyWithoutSecret,
    /// A rotating door's settings cannot be used.
    InvalidRotation {
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A rotating door's secret file cannot be used (never shows the key).
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: SecretError,
    },
    /// `--sequence-only` could not write its line.
    Output(io::Error),
    /// The system clock says it is before 1970: no step can be derived.
    ClockBeforeEpoch,
    /// `--verify-timeout 0`: no connection could ever be tried.
    ZeroVerifyTimeout,
    /// The one-time sequences file could not be read or marked.
    OneTime(OneTimeError),
    /// Every sequence of the one-time sequences file is used.
    OneTimeExhausted {
        /// The file.
        path: PathBuf,
    },
    /// A file holding secrets (a one-time sequences file, a rotating door's
    /// secret) is accessible to group or others.
    SecretExposed {
        /// What the file is, e.g. `secret file`.
        file: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `--verify`: no connection succeeded after the last knock.
    DoorShut {
        /// The address and port that were tried.
        target: SocketAddr,
        /// How many times the whole sequence was sent.
        knocks: u32,
        /// How long each verification tried.
        timeout: Duration,
        /// Why the last attempt failed.
        source: io::Error,
    },
    /// Creating or sending on a socket failed.
    Send {
        /// The protocol of the hit.
        protocol: Protocol,
        /// Where the hit was going.
        target: SocketAddr,
        /// The kernel's reason.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidPort { arg } => write!(
                f,
                "invalid port in '{arg}': a port is a number from 1 to 65535 or a service name such as ssh"
            ),
            Error::UnknownProtocol { arg } => write!(
                f,
                "unknown protocol in '{arg}': write PORT, PORT:tcp or PORT:udp"
            ),
            Error::UnknownService { name, protocol } => write!(
                f,
                "unknown {protocol} service '{name}': give a port number or a service name listed in /etc/services"
            ),
            #[cfg(not(unix))]
            Error::ServiceNamesUnsupported { name } => write!(
                f,
                "service names such as '{name}' are not supported on this platform: give the port number"
            ),
            Error::UnknownFlag { token } => write!(
                f,
                "--flags: unrecognized flag \"{token}\": list some of fin, syn, rst, psh, ack, urg, separated by commas"
            ),
            Error::NegatedFlag { list } => write!(
                f,
                "--flags '{list}': negated flags (!) only make sense in knockd's TCPFlags; list the flags the segments should carry"
            ),
            #[cfg(not(unix))]
            Error::RawUnsupported => f.write_str(
                "--flags (raw TCP knocks) is not supported on this platform: knock without --flags to send plain SYNs",
            ),
            Error::Resolve { host, source } => {
                write!(f, "failed to resolve hostname '{host}': {source}")
            }
            Error::NoAddress { host, family } => write!(
                f,
                "hostname '{host}' has no {family} address: drop -4/-6 or give an address of that family"
            ),
            Error::RawPermission(source) => write!(
                f,
                "raw knocks (--flags) need root or CAP_NET_RAW ({source}): run knock as root, \
                 grant the capability with `setcap cap_net_raw+ep $(command -v knock)`, or knock without --flags"
            ),
            Error::NoRoute { target, source } => write!(
                f,
                "no route to {}: {source}",
                target.ip()
            ),
            Error::Send {
                protocol,
                target,
                source,
            } => write!(f, "failed to send the {protocol} hit to {target}: {source}"),
            Error::Profile(e) => e.fmt(f),
            Error::UdpWithOneTime => f.write_str(
                "-u cannot be used with a one-time sequences file: its lines say each hit's protocol",
            ),
            Error::FlagsWithUdp => f.write_str(
                "--flags cannot be used with -u (here, from the profile or the command line): \
                 drop one of them",
            ),
            Error::OptionAlone { option, needs } => write!(f, "{option} needs {needs}"),
            Error::UdpWithRotating => f.write_str(
                "-u cannot be used with a rotating door (--secret-file): the derivation says each \
                 hit's protocol; for UDP knocks give --protocol udp, as the door's Rotating_Protocol",
            ),
            Error::NoHost => f.write_str("no HOST given: name the host to knock on"),
            Error::SequenceOnlyWithoutSecret => f.write_str(
                "--sequence-only prints a rotating door's sequence: add --secret-file FILE --door LABEL, \
                 or name a profile that has a secret_file",
            ),
            Error::InvalidRotation { reason } => write!(f, "rotating door: {reason}"),
            Error::Secret { path, source } => {
                write!(f, "secret file {}: {source}", path.display())
            }
            Error::Output(source) => write!(
                f,
                "cannot write the sequence to standard output: {}",
                knock_proto::io_message(source)
            ),
            Error::ClockBeforeEpoch => f.write_str(
                "the system clock is set before 1970: set the clock (rotating doors need it within a step of the server's)",
            ),
            Error::ZeroVerifyTimeout => {
                f.write_str("--verify-timeout must be at least 1 millisecond")
            }
            Error::OneTime(e) => write!(f, "one-time sequences file {e}"),
            Error::OneTimeExhausted { path } => write!(
                f,
                "one-time sequences file {}: every sequence is used: add new ones, the same on the server",
                path.display()
            ),
            Error::SecretExposed { file, path, mode } => write!(
                f,
                "{file} {path} holds secrets but group or others may access it \
                 (mode {mode:04o}): run `chmod 600 {path}`",
                path = path.display()
            ),
            Error::DoorShut {
                target,
                knocks,
                timeout,
                source,
            } => write!(
                f,
                "could not connect to {target} after knocking {knocks} time{s}, trying for {ms} ms \
                 after each knock: {reason}",
                s = if *knocks == 1 { "" } else { "s" },
                ms = timeout.as_millis(),
                reason = knock_proto::io_message(source)
            ),
        }
    }
}

impl Error {
    /// The exit status: 2 when the knock went out but `--verify` found the
    /// door shut, so a script can tell that from a knock that never left; 1
    /// for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::DoorShut { .. } => 2,
            _ => 1,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Resolve { source, .. }
            | Error::NoRoute { source, .. }
            | Error::Send { source, .. }
            | Error::DoorShut { source, .. }
            | Error::RawPermission(source)
            | Error::Output(source) => Some(source),
            Error::Profile(e) => Some(e),
            Error::OneTime(e) => Some(e),
            Error::Secret { source, .. } => Some(source),
            _ => None,
        }
    }
}
