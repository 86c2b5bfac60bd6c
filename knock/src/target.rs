//! The host to knock on: resolved once, so every hit of a sequence goes to
//! the same address (0.8 resolved again per hit and could spread a sequence
//! over several addresses of a round-robin name).

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// The address family `-4`/`-6` restrict resolution to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Whatever the resolver returns first.
    Any,
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

impl Family {
    /// Whether `addr` belongs to this family.
    pub fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Any => "usable",
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Why the host gave no address to knock on.
#[derive(Debug)]
pub enum ResolveError {
    /// Name resolution failed.
    Failed {
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
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Failed { host, source } => {
                write!(f, "failed to resolve hostname '{host}': {source}")
            }
            ResolveError::NoAddress { host, family } => write!(
                f,
                "hostname '{host}' has no {family} address: drop -4/-6 or give an address of that family"
            ),
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResolveError::Failed { source, .. } => Some(source),
            ResolveError::NoAddress { .. } => None,
        }
    }
}

/// Resolves `host` to the first address of `family` the system resolver
/// offers. The port of the result is 0; each hit sets its own.
pub fn resolve(host: &str, family: Family) -> Result<SocketAddr, ResolveError> {
    let resolve_error = |source: io::Error| ResolveError::Failed {
        host: host.to_owned(),
        source,
    };
    let mut addrs = (host, 0).to_socket_addrs().map_err(resolve_error)?;
    addrs
        .find(|addr| family.admits(addr))
        .ok_or_else(|| ResolveError::NoAddress {
            host: host.to_owned(),
            family,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_resolve_to_themselves() {
        let v4 = resolve("127.0.0.1", Family::V4).unwrap();
        assert_eq!(v4, "127.0.0.1:0".parse().unwrap());
        let v6 = resolve("::1", Family::Any).unwrap();
        assert_eq!(v6, "[::1]:0".parse().unwrap());
    }

    #[test]
    fn family_mismatch_is_an_error() {
        // Checklist 94.
        let e = resolve("127.0.0.1", Family::V6).unwrap_err();
        assert!(matches!(
            e,
            ResolveError::NoAddress {
                family: Family::V6,
                ..
            }
        ));
        assert!(e.to_string().contains("no IPv6 address"));
        let e = resolve("::1", Family::V4).unwrap_err();
        assert!(matches!(
            e,
            ResolveError::NoAddress {
                family: Family::V4,
                ..
            }
        ));
    }

    #[test]
    fn unresolvable_host_is_named() {
        // .invalid is reserved (RFC 6761): no resolver can answer it.
        let e = resolve("nosuchhost.invalid", Family::Any).unwrap_err();
        assert!(matches!(e, ResolveError::Failed { .. }));
        assert!(e.to_string().contains("'nosuchhost.invalid'"));
    }
}
