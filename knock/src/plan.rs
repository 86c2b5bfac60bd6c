//! The whole command line, merged with the profile it names, validated into
//! a [`Plan`] before anything is sent.

use std::path::PathBuf;
use std::time::Duration;

use knock_proto::{Protocol, TcpFlags};

use crate::cli::Cli;
use crate::error::Error;
use crate::hit::{self, Hit};
use crate::profile::{self, Knocks, Profile};
use crate::target::Family;
use crate::verify::{self, Verify};

/// The hits to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hits {
    /// Given as `PORT[:PROTO]` arguments (at least one).
    Listed(Vec<Hit>),
    /// The first unused sequence of this one-time sequences file, read when
    /// the knock is carried out.
    OneTimeFile(PathBuf),
}

/// A knock sequence ready to send: every argument has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The host as typed; resolved once when the plan is carried out.
    pub host: String,
    /// The address family `-4`/`-6` asked for.
    pub family: Family,
    /// The hits, in order.
    pub hits: Hits,
    /// Pause after every hit.
    pub delay: Duration,
    /// With `--flags`: the flags every TCP hit's raw segment carries.
    pub raw_flags: Option<TcpFlags>,
    /// `-v`: announce each hit on stdout.
    pub verbose: bool,
    /// With `--verify`: the port that must then accept a connection.
    pub verify: Option<Verify>,
}

impl Plan {
    /// Validates the command line; clap has already enforced the option
    /// syntax. With neither PORT nor `--one-time-file`, HOST names a profile,
    /// which is read first.
    pub fn from_cli(cli: Cli) -> Result<Plan, Error> {
        let profile = if cli.ports.is_empty() && cli.one_time_file.is_none() {
            let path = profile::config_path(cli.config.as_deref()).map_err(Error::Profile)?;
            Some(profile::load(&path, &cli.host).map_err(Error::Profile)?)
        } else {
            None
        };
        Plan::merge(cli, profile)
    }

    /// Fills what the command line leaves unset from `profile`.
    fn merge(cli: Cli, profile: Option<Profile>) -> Result<Plan, Error> {
        let from_profile = profile.as_ref();
        let udp = cli.udp || from_profile.is_some_and(|p| p.udp);
        let family = match (cli.ipv4, cli.ipv6) {
            (true, _) => Family::V4,
            (false, true) => Family::V6,
            (false, false) => from_profile.map_or(Family::Any, |p| p.family),
        };
        let delay = cli.delay.or(from_profile.and_then(|p| p.delay));
        let flags = cli
            .flags
            .or_else(|| from_profile.and_then(|p| p.flags.clone()));
        let verify_port = cli
            .verify
            .or_else(|| from_profile.and_then(|p| p.verify.clone()));
        let retries = cli.retries.or(from_profile.and_then(|p| p.retries));
        let timeout = cli
            .verify_timeout
            .or(from_profile.and_then(|p| p.verify_timeout));
        let (host, knocks) = match profile {
            Some(profile) => (profile.host, profile.knocks),
            None => (
                cli.host,
                cli.one_time_file
                    .map_or(Knocks::Ports(cli.ports), Knocks::OneTimeFile),
            ),
        };

        let hits = match knocks {
            Knocks::Ports(ports) => Hits::Listed(
                ports
                    .iter()
                    .map(|arg| Hit::parse(arg, udp))
                    .collect::<Result<_, _>>()?,
            ),
            Knocks::OneTimeFile(_) if udp => return Err(Error::UdpWithOneTime),
            Knocks::OneTimeFile(path) => Hits::OneTimeFile(path),
        };
        if udp && flags.is_some() {
            return Err(Error::FlagsWithUdp);
        }
        let verify = match verify_port {
            Some(port) => Some(Verify {
                port: hit::port(&port, Protocol::Tcp)?,
                retries: retries.unwrap_or(verify::DEFAULT_RETRIES),
                timeout: match timeout {
                    Some(0) => return Err(Error::ZeroVerifyTimeout),
                    Some(ms) => Duration::from_millis(ms),
                    None => verify::DEFAULT_TIMEOUT,
                },
            }),
            None if retries.is_some() => {
                return Err(Error::VerifyOptionAlone {
                    option: "--retries",
                })
            }
            None if timeout.is_some() => {
                return Err(Error::VerifyOptionAlone {
                    option: "--verify-timeout",
                })
            }
            None => None,
        };
        Ok(Plan {
            host,
            family,
            hits,
            delay: Duration::from_millis(delay.unwrap_or(0)),
            raw_flags: flags.as_deref().map(parse_raw_flags).transpose()?,
            verbose: cli.verbose,
            verify,
        })
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

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("knock").chain(args.iter().copied())).unwrap()
    }

    fn plan(args: &[&str]) -> Result<Plan, Error> {
        Plan::from_cli(cli(args))
    }

    fn protocols(p: &Plan) -> Vec<Protocol> {
        match &p.hits {
            Hits::Listed(hits) => hits.iter().map(|h| h.knock.protocol).collect(),
            Hits::OneTimeFile(path) => panic!("one-time file {path:?}"),
        }
    }

    fn profile(knocks: Knocks) -> Profile {
        Profile {
            host: "server".into(),
            knocks,
            udp: false,
            delay: Some(100),
            family: Family::V4,
            flags: None,
            verify: Some("22".into()),
            retries: Some(5),
            verify_timeout: Some(300),
        }
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
        assert_eq!(protocols(&p), [Protocol::Udp, Protocol::Udp]);
        assert_eq!(p.raw_flags, None);
        assert_eq!(p.verify, None);
    }

    #[test]
    fn raw_flags_are_parsed() {
        let p = plan(&["--flags", "fin,URG, psh", "h", "1", "2:udp"]).unwrap();
        assert_eq!(p.raw_flags.unwrap().required(), 0x01 | 0x08 | 0x20);
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

    #[test]
    fn verify_has_defaults_and_takes_service_names() {
        let p = plan(&["--verify", "ssh", "h", "1"]).unwrap();
        assert_eq!(
            p.verify,
            Some(Verify {
                port: 22,
                retries: 2,
                timeout: Duration::from_millis(2000)
            })
        );
        let p = plan(&[
            "--verify",
            "2222",
            "--retries",
            "0",
            "--verify-timeout",
            "50",
            "h",
            "1",
        ])
        .unwrap();
        assert_eq!(
            p.verify,
            Some(Verify {
                port: 2222,
                retries: 0,
                timeout: Duration::from_millis(50)
            })
        );
    }

    #[test]
    fn verify_options_need_a_port_and_time() {
        let e = plan(&["--retries", "3", "h", "1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--retries needs a port to verify: add --verify PORT"
        );
        assert!(matches!(
            plan(&["--verify-timeout", "3", "h", "1"]),
            Err(Error::VerifyOptionAlone {
                option: "--verify-timeout"
            })
        ));
        assert!(matches!(
            plan(&["--verify", "22", "--verify-timeout", "0", "h", "1"]),
            Err(Error::ZeroVerifyTimeout)
        ));
        assert!(matches!(
            plan(&["--verify", "0", "h", "1"]),
            Err(Error::InvalidPort { .. })
        ));
    }

    #[test]
    fn a_one_time_file_replaces_the_ports_and_refuses_udp() {
        let p = plan(&["--one-time-file", "/f", "h"]).unwrap();
        assert_eq!(p.hits, Hits::OneTimeFile("/f".into()));
        assert!(matches!(
            plan(&["-u", "--one-time-file", "/f", "h"]),
            Err(Error::UdpWithOneTime)
        ));
    }

    #[test]
    fn a_profile_fills_what_the_command_line_leaves_unset() {
        let p = Plan::merge(
            cli(&["home"]),
            Some(profile(Knocks::Ports(vec!["1".into(), "2:udp".into()]))),
        )
        .unwrap();
        assert_eq!(p.host, "server");
        assert_eq!(p.family, Family::V4);
        assert_eq!(p.delay, Duration::from_millis(100));
        assert_eq!(protocols(&p), [Protocol::Tcp, Protocol::Udp]);
        assert_eq!(
            p.verify,
            Some(Verify {
                port: 22,
                retries: 5,
                timeout: Duration::from_millis(300)
            })
        );
    }

    #[test]
    fn the_command_line_wins_over_the_profile() {
        let args = [
            "-6",
            "-u",
            "-d",
            "7",
            "--verify",
            "23",
            "--retries",
            "1",
            "--verify-timeout",
            "9",
            "home",
        ];
        let p = Plan::merge(
            cli(&args),
            Some(profile(Knocks::Ports(vec!["1:tcp".into()]))),
        )
        .unwrap();
        assert_eq!(p.family, Family::V6);
        assert_eq!(p.delay, Duration::from_millis(7));
        assert_eq!(protocols(&p), [Protocol::Udp]);
        assert_eq!(
            p.verify,
            Some(Verify {
                port: 23,
                retries: 1,
                timeout: Duration::from_millis(9)
            })
        );
    }

    #[test]
    fn a_profile_conflict_with_the_command_line_is_refused() {
        let mut flagged = profile(Knocks::Ports(vec!["1".into()]));
        flagged.flags = Some("fin".into());
        assert!(matches!(
            Plan::merge(cli(&["-u", "home"]), Some(flagged)),
            Err(Error::FlagsWithUdp)
        ));
        let mut udp = profile(Knocks::OneTimeFile("/f".into()));
        udp.udp = true;
        assert!(matches!(
            Plan::merge(cli(&["home"]), Some(udp)),
            Err(Error::UdpWithOneTime)
        ));
    }
}
