//! TCP flag specs: `fin,syn,rst,psh,ack,urg`, each optionally negated with `!`.
//!
//! A spec is a pair of bit masks: flags that must be set and flags that must
//! be clear; every other flag is "don't care".

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::str::FromStr;

use crate::visible::Visible;

/// One of the six TCP flags knockd can test, with its bit in the TCP header's flag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpFlag {
    /// FIN, bit 0x01.
    Fin,
    /// SYN, bit 0x02.
    Syn,
    /// RST, bit 0x04.
    Rst,
    /// PSH, bit 0x08.
    Psh,
    /// ACK, bit 0x10.
    Ack,
    /// URG, bit 0x20.
    Urg,
}

impl TcpFlag {
    /// All flags in header-bit order, which is also the order of 0.8's filter clauses.
    pub const ALL: [TcpFlag; 6] = [
        TcpFlag::Fin,
        TcpFlag::Syn,
        TcpFlag::Rst,
        TcpFlag::Psh,
        TcpFlag::Ack,
        TcpFlag::Urg,
    ];

    /// The flag's bit in the TCP header's flag byte (offset 13).
    pub const fn bit(self) -> u8 {
        match self {
            TcpFlag::Fin => 0x01,
            TcpFlag::Syn => 0x02,
            TcpFlag::Rst => 0x04,
            TcpFlag::Psh => 0x08,
            TcpFlag::Ack => 0x10,
            TcpFlag::Urg => 0x20,
        }
    }

    /// The lower-case name used in specs (`fin` ... `urg`).
    pub const fn name(self) -> &'static str {
        match self {
            TcpFlag::Fin => "fin",
            TcpFlag::Syn => "syn",
            TcpFlag::Rst => "rst",
            TcpFlag::Psh => "psh",
            TcpFlag::Ack => "ack",
            TcpFlag::Urg => "urg",
        }
    }

    /// The name libpcap's filter language uses for the flag's constant (`tcp-push` for PSH).
    pub const fn bpf_name(self) -> &'static str {
        match self {
            TcpFlag::Psh => "push",
            other => other.name(),
        }
    }

    fn from_name(name: &str) -> Option<TcpFlag> {
        TcpFlag::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for TcpFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flag token that is not one of `fin syn rst psh ack urg` (with optional `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    /// The offending token, trimmed, as written.
    pub token: String,
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unrecognized flag \"{}\" (expected fin, syn, rst, psh, ack or urg, each optionally prefixed by !)",
            Visible(&self.token)
        )
    }
}

impl std::error::Error for FlagError {}

/// What a door demands of a TCP packet's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TcpFlags {
    required: u8,
    forbidden: u8,
}

impl TcpFlags {
    /// The spec that accepts every packet (0.8's default).
    pub const ANY: TcpFlags = TcpFlags {
        required: 0,
        forbidden: 0,
    };

    /// Parses a comma-separated list such as `syn,!ack`.
    ///
    /// Tokens are case-insensitive and may carry blanks (`syn, ack`, which 0.8
    /// refuses). An empty token, as left by a trailing comma, is an error.
    pub fn parse(text: &str) -> Result<Self, FlagError> {
        let mut flags = TcpFlags::ANY;
        flags.add(text)?;
        Ok(flags)
    }

    /// Adds the tokens of `text` to this spec; a later token for the same flag
    /// overrides an earlier one. This is how several `TCPFlags` lines accumulate in 0.8.
    pub fn add(&mut self, text: &str) -> Result<(), FlagError> {
        for raw in text.split(',') {
            let token = raw.trim_ascii();
            let (negated, name) = match token.strip_prefix('!') {
                Some(rest) => (true, rest.trim_ascii_start()),
                None => (false, token),
            };
            let flag = TcpFlag::from_name(name).ok_or_else(|| FlagError {
                token: token.to_owned(),
            })?;
            if negated {
                self.forbid(flag);
            } else {
                self.require(flag);
            }
        }
        Ok(())
    }

    /// Demands that `flag` be set.
    pub fn require(&mut self, flag: TcpFlag) {
        self.required |= flag.bit();
        self.forbidden &= !flag.bit();
    }

    /// Demands that `flag` be clear.
    pub fn forbid(&mut self, flag: TcpFlag) {
        self.forbidden |= flag.bit();
        self.required &= !flag.bit();
    }

    /// Bits that must be set.
    pub const fn required(self) -> u8 {
        self.required
    }

    /// Bits that must be clear.
    pub const fn forbidden(self) -> u8 {
        self.forbidden
    }

    /// True when the spec accepts every packet.
    pub const fn is_any(self) -> bool {
        self.required == 0 && self.forbidden == 0
    }

    /// Whether a TCP header flag byte satisfies the spec.
    pub const fn matches(self, flags: u8) -> bool {
        flags & self.required == self.required && flags & self.forbidden == 0
    }

    /// Each constrained flag with `true` when it must be set, in header-bit order.
    pub fn constraints(self) -> impl Iterator<Item = (TcpFlag, bool)> {
        TcpFlag::ALL.into_iter().filter_map(move |f| {
            if self.required & f.bit() != 0 {
                Some((f, true))
            } else if self.forbidden & f.bit() != 0 {
                Some((f, false))
            } else {
                None
            }
        })
    }

    /// The first constraint that `flags` violates, for 0.8's debug line
    /// `packet is not SYN, ignoring...`.
    pub fn first_violation(self, flags: u8) -> Option<(TcpFlag, bool)> {
        self.constraints()
            .find(|&(f, set)| (flags & f.bit() != 0) != set)
    }
}

impl fmt::Display for TcpFlags {
    /// The canonical spec (`syn,!ack`), empty for [`TcpFlags::ANY`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (flag, set)) in self.constraints().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if !set {
                f.write_str("!")?;
            }
            f.write_str(flag.name())?;
        }
        Ok(())
    }
}

impl FromStr for TcpFlags {
    type Err = FlagError;

    fn from_str(s: &str) -> Result<Self, FlagError> {
        TcpFlags::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    #[test]
    fn syn_spec_matches_syn_and_syn_ack_but_not_ack() {
        let f = TcpFlags::parse("syn").unwrap();
        assert!(f.matches(SYN));
        assert!(f.matches(SYN | ACK));
        assert!(!f.matches(ACK));
    }

    #[test]
    fn negation_forbids() {
        let f = TcpFlags::parse("fin,!ack").unwrap();
        assert!(f.matches(FIN));
        assert!(!f.matches(FIN | ACK));
        assert!(!f.matches(SYN));
    }

    #[test]
    fn blanks_and_case_are_accepted() {
        assert_eq!(
            TcpFlags::parse("Syn, ACK").unwrap(),
            TcpFlags::parse("syn,ack").unwrap()
        );
        assert_eq!(
            TcpFlags::parse(" ! ack").unwrap(),
            TcpFlags::parse("!ack").unwrap()
        );
    }

    #[test]
    fn unknown_and_empty_tokens_are_named() {
        // Checklist 22.
        assert_eq!(TcpFlags::parse("syn,foo").unwrap_err().token, "foo");
        assert_eq!(TcpFlags::parse("syn,").unwrap_err().token, "");
        assert_eq!(TcpFlags::parse("push").unwrap_err().token, "push");
        assert_eq!(TcpFlags::parse("ece").unwrap_err().token, "ece");
    }

    #[test]
    fn later_tokens_override_and_lines_accumulate() {
        let mut f = TcpFlags::parse("syn,!syn").unwrap();
        assert_eq!(f.to_string(), "!syn");
        f.add("ack").unwrap();
        assert_eq!(f.to_string(), "!syn,ack");
    }

    #[test]
    fn constraints_come_in_header_bit_order() {
        // Checklist 23.
        let f = TcpFlags::parse("Syn,!ack,fin,!rst,psh,!urg").unwrap();
        assert_eq!(f.to_string(), "fin,syn,!rst,psh,!ack,!urg");
    }

    #[test]
    fn first_violation_names_the_flag() {
        let f = TcpFlags::parse("syn,!ack").unwrap();
        assert_eq!(f.first_violation(ACK), Some((TcpFlag::Syn, true)));
        assert_eq!(f.first_violation(SYN | ACK), Some((TcpFlag::Ack, false)));
        assert_eq!(f.first_violation(SYN), None);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(required in 0u8..64, forbidden in 0u8..64) {
            let f = TcpFlags { required: required & !forbidden, forbidden };
            if f.is_any() {
                prop_assert_eq!(f.to_string(), "");
            } else {
                prop_assert_eq!(TcpFlags::parse(&f.to_string()), Ok(f));
            }
        }

        #[test]
        fn matches_agrees_with_first_violation(required in 0u8..64, forbidden in 0u8..64, flags: u8) {
            let f = TcpFlags { required: required & !forbidden, forbidden };
            prop_assert_eq!(f.matches(flags), f.first_violation(flags).is_none());
        }

        #[test]
        fn parse_never_panics(text in ".{0,80}") {
            let _ = TcpFlags::parse(&text);
        }
    }
}
