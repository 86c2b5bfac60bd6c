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

/// An address as `knock` prints it: an IPv6 address keeps its zone, named
/// by its interface where one has that index (`fe80::1%eth0`), so a
/// link-local target reads as the one knocked.
#[derive(Debug, Clone, Copy)]
pub struct Address(pub SocketAddr);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SocketAddr::V4(v4) => v4.ip().fmt(f),
            SocketAddr::V6(v6) if v6.scope_id() == 0 => v6.ip().fmt(f),
            SocketAddr::V6(v6) => write!(f, "{}%{}", v6.ip(), Zone(v6.scope_id())),
        }
    }
}

/// An IPv6 zone: the interface's name, else its index.
struct Zone(u32);

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(unix)]
        if let Some(name) = crate::sys::interface_name(self.0) {
            return f.write_str(&name);
        }
        self.0.fmt(f)
    }
}

/// An address and port as `knock` prints them: `198.18.0.1:7000`, and an
/// IPv6 address in brackets, `[fd00::1]:7000` or `[fe80::1%eth0]:7000`, so
/// the port cannot be read as the address's last group.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<P> {
    address: SocketAddr,
    port: P,
}

impl Endpoint<u16> {
    /// `address` with its own port.
    pub fn of(address: SocketAddr) -> Endpoint<u16> {
        Endpoint {
            address,
            port: address.port(),
        }
    }
}

impl<P: fmt::Display> Endpoint<P> {
    /// `address` with `port` as typed, so a service name stays a name.
    pub fn with_port(address: SocketAddr, port: P) -> Endpoint<P> {
        Endpoint { address, port }
    }
}

impl<P: fmt::Display> fmt::Display for Endpoint<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = Address(self.address);
        match self.address {
            SocketAddr::V4(_) => write!(f, "{address}:{}", self.port),
            SocketAddr::V6(_) => write!(f, "[{address}]:{}", self.port),
        }
    }
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

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let v6 = resolve("fd00::1", Family::V6).unwrap();
        assert_eq!(
            Endpoint::with_port(v6, "7000").to_string(),
            "[fd00::1]:7000"
        );
        assert_eq!(Endpoint::with_port(v6, "ssh").to_string(), "[fd00::1]:ssh");
        assert_eq!(Address(v6).to_string(), "fd00::1");
        let v4 = resolve("198.18.0.1", Family::V4).unwrap();
        assert_eq!(Endpoint::with_port(v4, 7000).to_string(), "198.18.0.1:7000");
        let mut door = v6;
        door.set_port(22);
        assert_eq!(Endpoint::of(door).to_string(), "[fd00::1]:22");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_zone_is_kept_by_its_interface_name() {
        // The resolver turns the zone into lo's index, which is printed as
        // its name again.
        let linked = resolve("fe80::1%lo", Family::V6).unwrap();
        assert_eq!(
            Endpoint::with_port(linked, "7000").to_string(),
            "[fe80::1%lo]:7000"
        );
        assert_eq!(Address(linked).to_string(), "fe80::1%lo");
    }

    #[test]
    fn a_zone_without_an_interface_keeps_its_index() {
        let unknown = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            7000,
            0,
            u32::MAX,
        ));
        assert_eq!(
            Endpoint::of(unknown).to_string(),
            "[fe80::1%4294967295]:7000"
        );
    }
}
