//! Everything that can stop a knock, each with a message that says what to do.
//!
//! The modules below this one (a hit, the host, a profile, a rotating door,
//! `--verify`, `--proxy`'s relay) have their own error types, which [`Error`] wraps; the rest are
//! the command line's as a whole and sending's.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use knock_proto::{OneTimeError, Protocol};

use crate::exposed::SecretExposed;
use crate::hit::HitError;
use crate::profile::ProfileError;
use crate::proxy::RelayError;
use crate::rotating::RotatingError;
use crate::target::{Endpoint, ResolveError};
use crate::verify::DoorShut;

/// Why `knock` gives up; see [`Error::exit_code`].
#[derive(Debug)]
pub enum Error {
    /// A `PORT[:PROTO]` argument, or the port of `--verify`, is refused.
    Hit(HitError),
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
    /// The host gave no address to knock on.
    Resolve(ResolveError),
    /// The raw socket for `--flags` could not be opened for lack of privilege
    /// (only Unix sends raw segments).
    #[cfg(unix)]
    RawPermission(io::Error),
    /// No route to the target, so no source address for the raw segments'
    /// checksum (only Unix sends raw segments).
    #[cfg(unix)]
    NoRoute {
        /// The target.
        target: SocketAddr,
        /// The kernel's reason.
        source: io::Error,
    },
    /// The profile named on the command line could not be read.
    Profile(ProfileError),
    /// A lone HOST, with no profile of that name to be found: the ports may
    /// have been forgotten as much as the profile, so the usage leads the
    /// message (see [`Error::shows_usage`]).
    LoneHost(ProfileError),
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
    /// A rotating door cannot be knocked or its sequence printed.
    Rotating(RotatingError),
    /// `--verify-timeout 0`: no connection could ever be tried.
    ZeroVerifyTimeout,
    /// The one-time sequences file could not be read or marked.
    OneTime(OneTimeError),
    /// Every sequence of the one-time sequences file is used.
    OneTimeExhausted {
        /// The file.
        path: PathBuf,
    },
    /// The one-time sequences file is accessible to group or others.
    SecretExposed(SecretExposed),
    /// `--verify`: no connection succeeded after the last knock.
    DoorShut(DoorShut),
    /// `--proxy`: the relay stopped before the server closed the connection.
    Relay(RelayError),
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
            Error::Hit(e) => e.fmt(f),
            Error::Resolve(e) => e.fmt(f),
            Error::Profile(e) | Error::LoneHost(e) => e.fmt(f),
            Error::Rotating(e) => e.fmt(f),
            Error::SecretExposed(e) => e.fmt(f),
            Error::DoorShut(e) => e.fmt(f),
            Error::Relay(e) => e.fmt(f),
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
                "--flags (raw TCP knocks) is not supported on Windows, which does not send TCP on raw sockets: knock without --flags to send plain SYNs",
            ),
            #[cfg(unix)]
            Error::RawPermission(source) => write!(
                f,
                "raw knocks (--flags) need root or CAP_NET_RAW ({source}): run knock as root, \
                 grant the capability with `setcap cap_net_raw+ep $(command -v knock)`, or knock without --flags"
            ),
            #[cfg(unix)]
            Error::NoRoute { target, source } => {
                write!(f, "no route to {}: {source}", crate::target::Address(*target))
            }
            Error::Send {
                protocol,
                target,
                source,
            } => write!(
                f,
                "failed to send the {protocol} hit to {}: {source}",
                Endpoint::of(*target)
            ),
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
            Error::ZeroVerifyTimeout => {
                f.write_str("--verify-timeout must be at least 1 millisecond")
            }
            Error::OneTime(e) => write!(f, "one-time sequences file {e}"),
            Error::OneTimeExhausted { path } => write!(
                f,
                "one-time sequences file {}: every sequence is used: add new ones, the same on the server",
                path.display()
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
            Error::DoorShut(_) => 2,
            _ => 1,
        }
    }

    /// Whether the usage line should come before the message, as for a
    /// usage error: a knock 0.8 user who forgot the ports sees what 0.8
    /// showed first, then what became of the lone argument.
    pub fn shows_usage(&self) -> bool {
        matches!(self, Error::LoneHost(_))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(unix)]
            Error::NoRoute { source, .. } | Error::RawPermission(source) => Some(source),
            Error::Send { source, .. } => Some(source),
            Error::Hit(e) => Some(e),
            Error::Resolve(e) => Some(e),
            Error::Profile(e) | Error::LoneHost(e) => Some(e),
            Error::Rotating(e) => Some(e),
            Error::SecretExposed(e) => Some(e),
            Error::DoorShut(e) => Some(e),
            Error::Relay(e) => Some(e),
            Error::OneTime(e) => Some(e),
            _ => None,
        }
    }
}

/// Each lower module's error becomes the crate's, so `?` passes it on.
macro_rules! from_module_error {
    ($($variant:ident($error:ty)),* $(,)?) => {$(
        impl From<$error> for Error {
            fn from(e: $error) -> Error {
                Error::$variant(e)
            }
        }
    )*};
}

from_module_error!(
    Hit(HitError),
    Resolve(ResolveError),
    Profile(ProfileError),
    Rotating(RotatingError),
    SecretExposed(SecretExposed),
    DoorShut(DoorShut),
    Relay(RelayError),
);
