//! The whole command line, validated into a [`Plan`] before anything is sent.

use std::time::Duration;

use knock_proto::{Protocol, TcpFlags};

use crate::cli::Cli;
use crate::error::Error;
use crate::hit::Hit;
use crate::target::Family;

/// A knock sequence ready to send: every argument has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The host as typed; resolved once when the plan is carried out.
    pub host: String,
    /// The address family `-4`/`-6` asked for.
    pub family: Family,
    /// The hits, in order (at least one).
    pub hits: Vec<Hit>,
    /// Pause after every hit.
    pub delay: Duration,
    /// With `--flags`: the flags every TCP hit's raw segment carries.
    pub raw_flags: Option<TcpFlags>,
    /// `-v`: announce each hit on stdout.
    pub verbose: bool,
}

impl Plan {
    /// Validates the command line; clap has already enforced the option syntax.
    pub fn from_cli(cli: Cli) -> Result<Plan, Error> {
        let hits = cli
            .ports
            .iter()
            .map(|arg| Hit::parse(arg, cli.udp))
            .collect::<Result<Vec<_>, _>>()?;
        let family = match (cli.ipv4, cli.ipv6) {
            (true, _) => Family::V4,
            (false, true) => Family::V6,
            (false, false) => Family::Any,
        };
        Ok(Plan {
            host: cli.host,
            family,
            hits,
            delay: Duration::from_millis(cli.delay),
            raw_flags: cli.flags.as_deref().map(parse_raw_flags).transpose()?,
            verbose: cli.verbose,
        })
    }

    /// Whether any hit goes out as a raw segment, so a raw socket is needed.
    pub fn needs_raw(&self) -> bool {
        self.raw_flags.is_some()
            && self
                .hits
                .iter()
                .any(|hit| hit.knock.protocol == Protocol::Tcp)
    }
}

/// Parses a `--flags` list: knockd's flag names, but only flags to set.
fn parse_raw_flags(list: &str) -> Result<TcpFlags, Error> {
    if list.contains('!') {
        return Err(Error::NegatedFlag {
            list: list.to_owned(),
        });
    }
    TcpFlags::parse(list).map_err(|e| Error::UnknownFlag { token: e.token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<Plan, Error> {
        let cli =
            Cli::try_parse_from(std::iter::once("knock").chain(args.iter().copied())).unwrap();
        Plan::from_cli(cli)
    }

    #[test]
    fn a_bad_port_anywhere_rejects_the_whole_sequence() {
        // Checklist 91: 0.8 sent port 1 before failing on `bogusport`.
        assert!(matches!(
            plan(&["h", "1", "nosuchservice", "2"]),
            Err(Error::UnknownService { .. })
        ));
        assert!(matches!(
            plan(&["h", "1", "99999"]),
            Err(Error::InvalidPort { .. })
        ));
    }

    #[test]
    fn options_land_in_the_plan() {
        let p = plan(&["-u", "-6", "-v", "-d", "250", "h", "1", "2:tcp"]).unwrap();
        assert_eq!(p.host, "h");
        assert_eq!(p.family, Family::V6);
        assert!(p.verbose);
        assert_eq!(p.delay, Duration::from_millis(250));
        let protocols: Vec<_> = p.hits.iter().map(|h| h.knock.protocol).collect();
        assert_eq!(protocols, [Protocol::Udp, Protocol::Udp]);
        assert_eq!(p.raw_flags, None);
        assert!(!p.needs_raw());
    }

    #[test]
    fn raw_flags_are_parsed_and_only_needed_for_tcp_hits() {
        let p = plan(&["--flags", "fin,URG, psh", "h", "1", "2:udp"]).unwrap();
        assert_eq!(p.raw_flags.unwrap().required(), 0x01 | 0x08 | 0x20);
        assert!(p.needs_raw());
        let p = plan(&["--flags", "syn", "h", "2:udp"]).unwrap();
        assert!(!p.needs_raw());
    }

    #[test]
    fn raw_flags_refuse_negation_and_unknown_names() {
        assert!(matches!(
            plan(&["--flags", "syn,!ack", "h", "1"]),
            Err(Error::NegatedFlag { .. })
        ));
        let e = plan(&["--flags", "push", "h", "1"]).unwrap_err();
        assert!(matches!(e, Error::UnknownFlag { .. }));
        assert!(e.to_string().contains("\"push\""));
        assert!(matches!(
            plan(&["--flags", "", "h", "1"]),
            Err(Error::UnknownFlag { .. })
        ));
    }
}
