//! Knock sequences: `port[:tcp|udp][,port[:proto]]...`.
//!
//! The syntax is knockd 0.8's, read strictly: what 0.8 accepts and uses
//! meaningfully (blanks around elements and protocols, `9000:UDP`) is accepted,
//! what it silently turns into something else (`-1` becoming 65535, `abc` or an
//! empty element becoming port 0) is an error naming the element.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::str::FromStr;

use crate::visible::Visible;

/// The transport protocol of one knock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Protocol {
    /// A TCP segment (normally a SYN).
    Tcp,
    /// A UDP datagram.
    Udp,
}

impl Protocol {
    /// The lower-case name used in sequences and log lines (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ();

    /// Parses `tcp` or `udp` in any case, ignoring surrounding blanks (as 0.8 does).
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim_ascii();
        if s.eq_ignore_ascii_case("tcp") {
            Ok(Protocol::Tcp)
        } else if s.eq_ignore_ascii_case("udp") {
            Ok(Protocol::Udp)
        } else {
            Err(())
        }
    }
}

/// One element of a sequence: a hit on `port` with `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Knock {
    /// Destination port of the hit.
    pub port: u16,
    /// Transport protocol of the hit.
    pub protocol: Protocol,
}

impl Knock {
    /// A knock on `port` with `protocol`.
    pub const fn new(port: u16, protocol: Protocol) -> Self {
        Knock { port, protocol }
    }
}

impl fmt::Display for Knock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.port, self.protocol)
    }
}

/// Why a sequence (or one element of it) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceError {
    /// The sequence has no elements at all.
    Empty,
    /// An element between two commas is blank (0.8 silently knocks port 0).
    EmptyElement {
        /// 1-based position of the element.
        position: usize,
    },
    /// The port is not a decimal number from 0 to 65535.
    InvalidPort {
        /// The element as written (trimmed).
        element: String,
    },
    /// The protocol after `:` is neither `tcp` nor `udp`.
    UnknownProtocol {
        /// The element as written (trimmed).
        element: String,
    },
    /// More than [`Sequence::MAX_LEN`] elements.
    TooLong {
        /// How many elements were given.
        len: usize,
    },
}

impl fmt::Display for SequenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceError::Empty => {
                f.write_str("empty knock sequence (expected port[:tcp|udp],...)")
            }
            SequenceError::EmptyElement { position } => write!(
                f,
                "element {position} of the knock sequence is empty (remove the extra comma)"
            ),
            SequenceError::InvalidPort { element } => write!(
                f,
                "port {} is invalid (expected a number from 0 to 65535, optionally followed by :tcp or :udp)",
                Visible(element)
            ),
            SequenceError::UnknownProtocol { element } => write!(
                f,
                "unknown protocol in knock sequence element {} (expected tcp or udp)",
                Visible(element)
            ),
            SequenceError::TooLong { len } => write!(
                f,
                "too many ports in knock sequence ({len}; at most {} are allowed)",
                Sequence::MAX_LEN
            ),
        }
    }
}

impl std::error::Error for SequenceError {}

/// A knock sequence: 1 to [`Sequence::MAX_LEN`] knocks, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sequence(Vec<Knock>);

impl Sequence {
    /// The longest sequence knockd 0.8 accepts.
    pub const MAX_LEN: usize = 32;

    /// A sequence of the given knocks, checked for length.
    pub fn new(knocks: Vec<Knock>) -> Result<Self, SequenceError> {
        match knocks.len() {
            0 => Err(SequenceError::Empty),
            len if len > Self::MAX_LEN => Err(SequenceError::TooLong { len }),
            _ => Ok(Sequence(knocks)),
        }
    }

    /// A sequence whose length the caller has already checked.
    pub(crate) fn from_checked(knocks: Vec<Knock>) -> Self {
        debug_assert!((1..=Self::MAX_LEN).contains(&knocks.len()));
        Sequence(knocks)
    }

    /// Parses `port[:proto][,port[:proto]]...` as knockd.conf spells it.
    ///
    /// Blanks around elements, ports and protocols are ignored; the protocol is
    /// case-insensitive and defaults to TCP. Text after a second `:` is
    /// ignored, as in 0.8.
    pub fn parse(text: &str) -> Result<Self, SequenceError> {
        if text.trim_ascii().is_empty() {
            return Err(SequenceError::Empty);
        }
        let elements: Vec<&str> = text.split(',').collect();
        if elements.len() > Self::MAX_LEN {
            return Err(SequenceError::TooLong {
                len: elements.len(),
            });
        }
        let knocks = elements
            .iter()
            .enumerate()
            .map(|(i, element)| parse_element(element, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Sequence::new(knocks)
    }

    /// The knocks in order.
    pub fn knocks(&self) -> &[Knock] {
        &self.0
    }

    /// Number of knocks (never zero).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a sequence has at least one knock. Present for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The knock at 0-based `index`, if any.
    pub fn get(&self, index: usize) -> Option<Knock> {
        self.0.get(index).copied()
    }

    /// Ports of the knocks that use `protocol`, in sequence order, duplicates kept.
    pub fn ports(&self, protocol: Protocol) -> impl Iterator<Item = u16> + '_ {
        self.0
            .iter()
            .filter(move |k| k.protocol == protocol)
            .map(|k| k.port)
    }
}

fn parse_element(element: &str, position: usize) -> Result<Knock, SequenceError> {
    let trimmed = element.trim_ascii();
    if trimmed.is_empty() {
        return Err(SequenceError::EmptyElement { position });
    }
    let mut parts = trimmed.splitn(3, ':');
    let port_text = parts.next().unwrap_or_default().trim_ascii();
    let protocol = match parts.next() {
        None => Protocol::Tcp,
        Some(p) => p.parse().map_err(|()| SequenceError::UnknownProtocol {
            element: trimmed.to_owned(),
        })?,
    };
    let port = parse_port(port_text).ok_or_else(|| SequenceError::InvalidPort {
        element: trimmed.to_owned(),
    })?;
    Ok(Knock { port, protocol })
}

/// A port written as plain decimal digits from 0 to 65535 (a leading `+` is
/// refused too: it is never meant).
pub fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Sequence {
    /// Writes the canonical form `7000:tcp,8000:udp`, which 0.8's debug echo also uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, knock) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{knock}")?;
        }
        Ok(())
    }
}

impl FromStr for Sequence {
    type Err = SequenceError;

    fn from_str(s: &str) -> Result<Self, SequenceError> {
        Sequence::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seq(s: &str) -> Result<String, SequenceError> {
        Sequence::parse(s).map(|s| s.to_string())
    }

    #[test]
    fn plain_ports_default_to_tcp() {
        assert_eq!(seq("7000,8000,9000").unwrap(), "7000:tcp,8000:tcp,9000:tcp");
    }

    #[test]
    fn blanks_and_upper_case_protocols_are_accepted_as_in_0_8() {
        // Checklist 17, less the elements 0.8 mangles.
        assert_eq!(
            seq("0,65535, 8000 , 9000:UDP ,10000: tcp").unwrap(),
            "0:tcp,65535:tcp,8000:tcp,9000:udp,10000:tcp"
        );
    }

    #[test]
    fn text_after_a_second_colon_is_ignored_as_in_0_8() {
        assert_eq!(seq("7000:udp:whatever").unwrap(), "7000:udp");
    }

    #[test]
    fn ports_0_8_mangles_are_refused_with_the_element() {
        for (input, element) in [
            ("-1", "-1"),
            ("abc", "abc"),
            ("7000,1e3", "1e3"),
            ("+5", "+5"),
        ] {
            assert_eq!(
                Sequence::parse(input),
                Err(SequenceError::InvalidPort {
                    element: element.into()
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn ports_above_65535_are_invalid() {
        // Checklist 16.
        let err = Sequence::parse("7000,70000").unwrap_err();
        assert_eq!(
            err.to_string().split(" (").next(),
            Some("port 70000 is invalid")
        );
    }

    #[test]
    fn empty_sequences_and_elements_are_refused() {
        // Checklist 20: 0.8 turns these into port 0.
        assert_eq!(Sequence::parse(""), Err(SequenceError::Empty));
        assert_eq!(Sequence::parse("  "), Err(SequenceError::Empty));
        assert_eq!(
            Sequence::parse("1,,2"),
            Err(SequenceError::EmptyElement { position: 2 })
        );
        assert_eq!(
            Sequence::parse("1,2,"),
            Err(SequenceError::EmptyElement { position: 3 })
        );
    }

    #[test]
    fn unknown_protocols_are_refused() {
        // Checklist 18.
        assert_eq!(
            Sequence::parse("7000:icmp"),
            Err(SequenceError::UnknownProtocol {
                element: "7000:icmp".into()
            })
        );
        assert!(Sequence::parse("7000:").is_err());
    }

    #[test]
    fn thirty_two_elements_are_the_limit() {
        // Checklist 19.
        let ports = |n: usize| (1..=n).map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(Sequence::parse(&ports(32)).unwrap().len(), 32);
        assert_eq!(
            Sequence::parse(&ports(33)),
            Err(SequenceError::TooLong { len: 33 })
        );
    }

    #[test]
    fn repeated_ports_are_allowed() {
        assert_eq!(seq("19132:udp,19132:udp").unwrap(), "19132:udp,19132:udp");
    }

    #[test]
    fn ports_by_protocol_keep_order_and_duplicates() {
        let s = Sequence::parse("6001:udp,6002,6003:udp,6001:udp").unwrap();
        assert_eq!(
            s.ports(Protocol::Udp).collect::<Vec<_>>(),
            [6001, 6003, 6001]
        );
        assert_eq!(s.ports(Protocol::Tcp).collect::<Vec<_>>(), [6002]);
    }

    fn knock() -> impl Strategy<Value = Knock> {
        (
            any::<u16>(),
            prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
        )
            .prop_map(|(port, protocol)| Knock { port, protocol })
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(knocks in prop::collection::vec(knock(), 1..=32)) {
            let s = Sequence::new(knocks).unwrap();
            prop_assert_eq!(Sequence::parse(&s.to_string()), Ok(s));
        }

        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = Sequence::parse(&text);
        }

        #[test]
        fn parsed_sequences_display_canonically(text in "[0-9 ,:tcpudTCPUD]{0,60}") {
            if let Ok(s) = Sequence::parse(&text) {
                prop_assert_eq!(Sequence::parse(&s.to_string()), Ok(s));
            }
        }
    }
}
