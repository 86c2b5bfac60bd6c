//! One `PORT[:PROTO]` argument, validated into a [`Hit`].
//!
//! Stricter than 0.8 on purpose: 0.8 reduced numbers modulo 65536, read any
//! suffix but exactly `udp` as TCP, and found bad service names only after
//! sending the hits before them.

use std::fmt;

use knock_proto::sequence::parse_port;
use knock_proto::{Knock, Protocol};

/// Why a `PORT[:PROTO]` argument (or a bare PORT) is refused.
#[derive(Debug)]
pub enum HitError {
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
    UnknownService {
        /// The service name as typed.
        name: String,
        /// The hit's protocol.
        protocol: Protocol,
    },
}

impl fmt::Display for HitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HitError::InvalidPort { arg } => write!(
                f,
                "invalid port in '{arg}': a port is a number from 1 to 65535 or a service name such as ssh"
            ),
            HitError::UnknownProtocol { arg } => write!(
                f,
                "unknown protocol in '{arg}': write PORT, PORT:tcp or PORT:udp"
            ),
            HitError::UnknownService { name, protocol } => write!(
                f,
                "unknown {protocol} service '{name}': give a port number or a service name listed in {SERVICES_FILE}"
            ),
        }
    }
}

impl std::error::Error for HitError {}

/// One validated hit of the sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Where the hit goes and with which protocol.
    pub knock: Knock,
    /// The port as typed (`ssh`, `7000`), echoed by `-v` as 0.8 does.
    pub port_text: String,
}

impl Hit {
    /// Parses `PORT[:PROTO]`. PROTO is `tcp` or `udp` in any case, TCP when
    /// absent; `all_udp` (`-u`) makes the hit UDP whatever the suffix says, as
    /// 0.8 did. PORT is 1 to 65535 or a service name known for the hit's
    /// protocol.
    pub fn parse(arg: &str, all_udp: bool) -> Result<Hit, HitError> {
        let (port_text, suffix) = match arg.split_once(':') {
            None => (arg.trim(), Protocol::Tcp),
            Some((port, suffix)) => {
                let protocol = suffix.parse().map_err(|()| HitError::UnknownProtocol {
                    arg: arg.to_owned(),
                })?;
                (port.trim(), protocol)
            }
        };
        let protocol = if all_udp { Protocol::Udp } else { suffix };
        let port = match port(port_text, protocol) {
            // The whole argument, suffix included, is what the user can find.
            Err(HitError::InvalidPort { .. }) => {
                return Err(HitError::InvalidPort {
                    arg: arg.to_owned(),
                })
            }
            result => result?,
        };
        Ok(Hit {
            knock: Knock::new(port, protocol),
            port_text: port_text.to_owned(),
        })
    }

    /// A hit read from a one-time sequences file, echoed by `-v` as a number.
    pub fn from_knock(knock: Knock) -> Hit {
        Hit {
            knock,
            port_text: knock.port.to_string(),
        }
    }
}

/// Parses a bare PORT: 1 to 65535 or a service name known for `protocol`.
pub fn port(text: &str, protocol: Protocol) -> Result<u16, HitError> {
    if looks_numeric(text) {
        parse_port(text)
            .filter(|&port| port != 0)
            .ok_or_else(|| HitError::InvalidPort {
                arg: text.to_owned(),
            })
    } else {
        service_port(text, protocol)
    }
}

/// Whether the text is meant as a number (so `-5`, `99999` and the empty
/// string are bad ports rather than unknown service names).
fn looks_numeric(text: &str) -> bool {
    text.trim_start_matches(['-', '+'])
        .bytes()
        .all(|b| b.is_ascii_digit())
}

/// The services database a service name is looked up in, as messages name it.
#[cfg(unix)]
const SERVICES_FILE: &str = "/etc/services";
#[cfg(windows)]
const SERVICES_FILE: &str = crate::services::FILE;

/// Looks a service name up in the services database for `protocol`: on Unix
/// through getservbyname, as 0.8's getaddrinfo call did; on Windows in the
/// services file Windows' own getservbyname reads ([`crate::services`]).
fn service_port(name: &str, protocol: Protocol) -> Result<u16, HitError> {
    #[cfg(unix)]
    let found = crate::sys::service_port(
        name,
        match protocol {
            Protocol::Tcp => c"tcp",
            Protocol::Udp => c"udp",
        },
    );
    #[cfg(windows)]
    let found = crate::services::port(name, protocol.as_str());
    found.ok_or_else(|| HitError::UnknownService {
        name: name.to_owned(),
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(arg: &str) -> Result<Knock, HitError> {
        Hit::parse(arg, false).map(|h| h.knock)
    }

    #[test]
    fn protocol_suffix_is_case_insensitive() {
        // Checklist 93, with 0.8's `:UDP`-means-TCP defect fixed.
        assert_eq!(hit("5101:UDP").unwrap(), Knock::new(5101, Protocol::Udp));
        assert_eq!(hit("5102:udp").unwrap(), Knock::new(5102, Protocol::Udp));
        assert_eq!(hit("5103:Tcp").unwrap(), Knock::new(5103, Protocol::Tcp));
        assert_eq!(hit("5104").unwrap(), Knock::new(5104, Protocol::Tcp));
    }

    #[test]
    fn all_udp_overrides_every_suffix() {
        // knock 0.8's -u: `7000:tcp` goes out as UDP too.
        let udp = |arg| Hit::parse(arg, true).unwrap().knock;
        assert_eq!(udp("7000"), Knock::new(7000, Protocol::Udp));
        assert_eq!(udp("7000:tcp"), Knock::new(7000, Protocol::Udp));
        assert_eq!(udp("domain:TCP"), Knock::new(53, Protocol::Udp));
        assert!(matches!(
            Hit::parse("7000:icmp", true),
            Err(HitError::UnknownProtocol { .. })
        ));
    }

    #[test]
    fn unknown_protocols_are_refused() {
        for arg in ["7000:icmp", "7000:", "7000:udp:x", "ssh:xyz"] {
            let e = hit(arg).unwrap_err();
            assert!(matches!(e, HitError::UnknownProtocol { .. }), "{arg}: {e}");
            assert!(e.to_string().contains(arg));
        }
    }

    #[test]
    fn out_of_range_ports_are_refused_not_wrapped() {
        // Checklist 92 has 0.8 sending 99999 as 34463.
        for arg in [
            "99999",
            "70000:udp",
            "-5",
            "-1",
            "0",
            "",
            ":udp",
            "+",
            "65536",
        ] {
            let e = hit(arg).unwrap_err();
            assert!(matches!(e, HitError::InvalidPort { .. }), "{arg}: {e}");
            assert!(e.to_string().contains(&format!("'{arg}'")));
        }
        assert_eq!(hit("65535").unwrap().port, 65535);
        assert_eq!(hit("1").unwrap().port, 1);
    }

    #[test]
    fn service_names_resolve_for_the_hits_protocol() {
        let h = Hit::parse("ssh", false).unwrap();
        assert_eq!(h.knock, Knock::new(22, Protocol::Tcp));
        assert_eq!(h.port_text, "ssh");
        assert_eq!(hit("domain:udp").unwrap(), Knock::new(53, Protocol::Udp));
    }

    #[test]
    fn unknown_services_are_refused() {
        let e = hit("nosuchservice").unwrap_err();
        assert!(matches!(e, HitError::UnknownService { .. }));
        assert!(e.to_string().contains("'nosuchservice'"));
        assert!(matches!(hit("a\0b"), Err(HitError::UnknownService { .. })));
    }

    #[test]
    fn bare_ports_take_numbers_and_service_names_only() {
        assert_eq!(port("22", Protocol::Tcp).unwrap(), 22);
        assert_eq!(port("ssh", Protocol::Tcp).unwrap(), 22);
        assert!(matches!(
            port("0", Protocol::Tcp),
            Err(HitError::InvalidPort { .. })
        ));
        assert!(matches!(
            port("22:tcp", Protocol::Tcp),
            Err(HitError::UnknownService { .. })
        ));
    }

    #[test]
    fn hits_from_a_file_echo_the_number() {
        let h = Hit::from_knock(Knock::new(2001, Protocol::Udp));
        assert_eq!(h.port_text, "2001");
        assert_eq!(h.knock, Knock::new(2001, Protocol::Udp));
    }

    #[test]
    fn port_text_is_kept_as_typed() {
        assert_eq!(Hit::parse("7000:udp", false).unwrap().port_text, "7000");
    }
}
