//! The whole command line, merged with the profile it names, validated into
//! a [`Request`] (usually a [`Plan`]) before anything is sent.

use std::path::PathBuf;
use std::time::Duration;

use knock_proto::{Protocol, TcpFlags};

use crate::cli::Cli;
use crate::error::Error;
use crate::hit::{self, Hit};
use crate::profile::{self, Knocks, Profile, ProfileError};
use crate::rotating::{RotatingArgs, RotatingDoor};
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
    /// The current step's sequence of a rotating door, derived when the
    /// knock is carried out (again for each retry of `--verify`).
    Rotating(RotatingDoor),
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Send a knock.
    Knock(Plan),
    /// `--sequence-only`: print a rotating door's sequence, for the step
    /// holding `at` (Unix seconds; now when `None`), and send nothing.
    PrintSequence {
        /// The door.
        door: RotatingDoor,
        /// `--at`.
        at: Option<u64>,
    },
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
    /// `-v`: announce each hit on stdout (on stderr with `--proxy`).
    pub verbose: bool,
    /// With `--verify` or `--proxy`: the port that must then accept a connection.
    pub verify: Option<Verify>,
    /// `--proxy`: relay standard input and output over the connection to
    /// `verify`'s port once it is made.
    pub proxy: bool,
}

impl Request {
    /// Validates the command line; clap has already enforced the option
    /// syntax. With neither PORT, `--one-time-file` nor `--secret-file`,
    /// HOST names a profile, which is read first.
    pub fn from_cli(cli: Cli) -> Result<Request, Error> {
        let names_profile =
            cli.ports.is_empty() && cli.one_time_file.is_none() && cli.secret_file.is_none();
        let profile = match &cli.host {
            Some(name) if names_profile => Some(load_profile(&cli, name)?),
            // Only --sequence-only lets HOST out, and it needs a rotating door.
            None if names_profile => return Err(Error::SequenceOnlyWithoutSecret),
            _ => None,
        };
        Request::merge(cli, profile)
    }

    /// Fills what the command line leaves unset from `profile`.
    fn merge(cli: Cli, profile: Option<Profile>) -> Result<Request, Error> {
        let options = Options::merge(&cli, profile.as_ref());
        let rotating = RotatingArgs {
            secret_file: cli.secret_file,
            door: cli.door.map(label_bytes).transpose()?,
            step: cli.step,
            range: cli.range,
            length: cli.length,
            protocol: cli.protocol,
        };
        let (host, knocks) = match profile {
            Some(profile) => (Some(profile.host), profile.knocks),
            None if rotating.secret_file.is_some() => {
                // All the settings are the command line's, merged below as
                // over a profile's.
                (cli.host, Knocks::Rotating(RotatingArgs::default()))
            }
            None => (
                cli.host,
                cli.one_time_file
                    .map_or(Knocks::Ports(cli.ports), Knocks::OneTimeFile),
            ),
        };
        let hits = check_hits(knocks, rotating, options.udp)?;
        if options.udp && options.flags.is_some() {
            return Err(Error::FlagsWithUdp);
        }
        let verify = check_verify(options.verify, options.retries, options.verify_timeout)?;
        let raw_flags = options.flags.as_deref().map(parse_raw_flags).transpose()?;
        if cli.sequence_only {
            return match hits {
                Hits::Rotating(door) => Ok(Request::PrintSequence { door, at: cli.at }),
                _ => Err(Error::SequenceOnlyWithoutSecret),
            };
        }
        // clap requires HOST unless --sequence-only is given.
        let host = host.ok_or(Error::NoHost)?;
        Ok(Request::Knock(Plan {
            host,
            family: options.family,
            hits,
            delay: Duration::from_millis(options.delay.unwrap_or(0)),
            raw_flags,
            verbose: cli.verbose,
            verify,
            proxy: cli.proxy.is_some(),
        }))
    }
}

/// Reads the profile `name`. When nothing but the lone argument asked for a
/// profile (no `--config`, no `--sequence-only`) and there is none of that
/// name, the user may as well have typed a host and forgotten its ports, as
/// knock 0.8 took it: the error is then [`Error::LoneHost`].
fn load_profile(cli: &Cli, name: &str) -> Result<Profile, Error> {
    let loaded =
        profile::config_path(cli.config.as_deref()).and_then(|path| profile::load(&path, name));
    let asked_for_profile = cli.config.is_some() || cli.sequence_only;
    loaded.map_err(|e| match e {
        ProfileError::NoConfigHome | ProfileError::Read { .. } | ProfileError::Missing { .. }
            if !asked_for_profile =>
        {
            Error::LoneHost(e)
        }
        e => Error::Profile(e),
    })
}

/// The options a profile may give too, the command line's winning; not yet
/// checked.
struct Options {
    /// `-u`, `udp`: set by either.
    udp: bool,
    /// `-4`/`-6`, `family`.
    family: Family,
    /// `-d`, `delay`.
    delay: Option<u64>,
    /// `--flags`, `flags`.
    flags: Option<String>,
    /// `--proxy`, else `--verify`, else `verify`: `--proxy PORT` verifies
    /// the port it relays to, and clap refuses it beside `--verify`.
    verify: Option<String>,
    /// `--retries`, `retries`.
    retries: Option<u32>,
    /// `--verify-timeout`, `verify_timeout`.
    verify_timeout: Option<u64>,
}

impl Options {
    /// The command line's options, with what it leaves unset taken from
    /// `profile`.
    fn merge(cli: &Cli, profile: Option<&Profile>) -> Options {
        Options {
            udp: cli.udp || profile.is_some_and(|p| p.udp),
            family: match (cli.ipv4, cli.ipv6) {
                (true, _) => Family::V4,
                (false, true) => Family::V6,
                (false, false) => profile.map_or(Family::Any, |p| p.family),
            },
            delay: cli.delay.or(profile.and_then(|p| p.delay)),
            flags: cli
                .flags
                .clone()
                .or_else(|| profile.and_then(|p| p.flags.clone())),
            verify: cli
                .proxy
                .clone()
                .or_else(|| cli.verify.clone())
                .or_else(|| profile.and_then(|p| p.verify.clone())),
            retries: cli.retries.or(profile.and_then(|p| p.retries)),
            verify_timeout: cli
                .verify_timeout
                .or(profile.and_then(|p| p.verify_timeout)),
        }
    }
}

/// The hits `knocks` describes, all UDP with `udp` (`-u`); `rotating` is the
/// command line's rotating door settings, which only a rotating door takes.
fn check_hits(knocks: Knocks, rotating: RotatingArgs, udp: bool) -> Result<Hits, Error> {
    if !matches!(knocks, Knocks::Rotating(_)) {
        if let Some(option) = rotating.first_given() {
            return Err(Error::OptionAlone {
                option,
                needs: "a rotating door: add --secret-file FILE, or name a profile that has a secret_file",
            });
        }
    }
    Ok(match knocks {
        Knocks::Ports(ports) => Hits::Listed(
            ports
                .iter()
                .map(|arg| Hit::parse(arg, udp))
                .collect::<Result<_, _>>()?,
        ),
        Knocks::OneTimeFile(_) if udp => return Err(Error::UdpWithOneTime),
        Knocks::OneTimeFile(path) => Hits::OneTimeFile(path),
        Knocks::Rotating(_) if udp => return Err(Error::UdpWithRotating),
        Knocks::Rotating(from_profile) => Hits::Rotating(rotating.or(from_profile).check()?),
    })
}

/// `--verify PORT` with its `--retries` and `--verify-timeout` (in
/// milliseconds), which mean nothing without it.
fn check_verify(
    port: Option<String>,
    retries: Option<u32>,
    timeout: Option<u64>,
) -> Result<Option<Verify>, Error> {
    let Some(port) = port else {
        return match (retries, timeout) {
            (Some(_), _) => Err(Error::OptionAlone {
                option: "--retries",
                needs: VERIFY_PORT,
            }),
            (None, Some(_)) => Err(Error::OptionAlone {
                option: "--verify-timeout",
                needs: VERIFY_PORT,
            }),
            (None, None) => Ok(None),
        };
    };
    Ok(Some(Verify {
        port: hit::port(&port, Protocol::Tcp)?,
        retries: retries.unwrap_or(verify::DEFAULT_RETRIES),
        timeout: match timeout {
            Some(0) => return Err(Error::ZeroVerifyTimeout),
            Some(ms) => Duration::from_millis(ms),
            None => verify::DEFAULT_TIMEOUT,
        },
    }))
}

/// What `--retries` and `--verify-timeout` need.
const VERIFY_PORT: &str = "a port to verify: add --verify PORT";

/// A `--door` label's bytes: on Unix exactly as given, so that a section name
/// that is not UTF-8 can be named; elsewhere it must be Unicode.
fn label_bytes(label: std::ffi::OsString) -> Result<Vec<u8>, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Ok(label.into_vec())
    }
    #[cfg(not(unix))]
    {
        use crate::rotating::RotatingError;
        label.into_string().map(String::into_bytes).map_err(|_| {
            Error::Rotating(RotatingError::Invalid {
                reason: "--door: the label is not valid Unicode".to_owned(),
            })
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
    use crate::hit::HitError;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("knock").chain(args.iter().copied())).unwrap()
    }

    fn knock(request: Result<Request, Error>) -> Result<Plan, Error> {
        request.map(|r| match r {
            Request::Knock(plan) => plan,
            other => panic!("{other:?}"),
        })
    }

    fn plan(args: &[&str]) -> Result<Plan, Error> {
        knock(Request::from_cli(cli(args)))
    }

    fn merge(args: &[&str], profile: Profile) -> Result<Plan, Error> {
        knock(Request::merge(cli(args), Some(profile)))
    }

    fn protocols(p: &Plan) -> Vec<Protocol> {
        match &p.hits {
            Hits::Listed(hits) => hits.iter().map(|h| h.knock.protocol).collect(),
            other => panic!("{other:?}"),
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
            Err(Error::Hit(HitError::UnknownService { .. }))
        ));
        assert!(matches!(
            plan(&["h", "1", "99999"]),
            Err(Error::Hit(HitError::InvalidPort { .. }))
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
            Err(Error::OptionAlone {
                option: "--verify-timeout",
                ..
            })
        ));
        assert!(matches!(
            plan(&["--verify", "22", "--verify-timeout", "0", "h", "1"]),
            Err(Error::ZeroVerifyTimeout)
        ));
        assert!(matches!(
            plan(&["--verify", "0", "h", "1"]),
            Err(Error::Hit(HitError::InvalidPort { .. }))
        ));
    }

    #[test]
    fn proxy_verifies_its_port_with_the_profiles_retries() {
        let p = plan(&["--proxy", "ssh", "--retries", "1", "h", "1"]).unwrap();
        assert!(p.proxy);
        assert_eq!(
            p.verify,
            Some(Verify {
                port: 22,
                retries: 1,
                timeout: verify::DEFAULT_TIMEOUT
            })
        );
        // The port ssh gives wins over the profile's verify port.
        let p = merge(
            &["--proxy", "2222", "home"],
            profile(Knocks::Ports(vec!["1".into()])),
        )
        .unwrap();
        assert!(p.proxy);
        assert_eq!(
            p.verify,
            Some(Verify {
                port: 2222,
                retries: 5,
                timeout: Duration::from_millis(300)
            })
        );
        assert!(!plan(&["--verify", "22", "h", "1"]).unwrap().proxy);
        for args in [
            &["knock", "--proxy", "22", "--verify", "22", "h", "1"][..],
            &["knock", "--proxy", "22", "--sequence-only", "home"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        assert!(matches!(
            plan(&["--proxy", "0", "h", "1"]),
            Err(Error::Hit(HitError::InvalidPort { .. }))
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
        let p = merge(
            &["home"],
            profile(Knocks::Ports(vec!["1".into(), "2:udp".into()])),
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
        let p = merge(&args, profile(Knocks::Ports(vec!["1:tcp".into()]))).unwrap();
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
            merge(&["-u", "home"], flagged),
            Err(Error::FlagsWithUdp)
        ));
        let mut udp = profile(Knocks::OneTimeFile("/f".into()));
        udp.udp = true;
        assert!(matches!(merge(&["home"], udp), Err(Error::UdpWithOneTime)));
    }

    fn rotating_profile() -> Profile {
        profile(Knocks::Rotating(RotatingArgs {
            secret_file: Some("/k".into()),
            door: Some(b"openSSH".to_vec()),
            step: Some(60),
            ..RotatingArgs::default()
        }))
    }

    #[test]
    fn a_rotating_door_comes_from_the_command_line() {
        let p = plan(&[
            "--secret-file",
            "/k",
            "--door",
            "closeSSH",
            "--step",
            "10",
            "--range",
            "2000-3000",
            "--length",
            "5",
            "--protocol",
            "Mixed",
            "-v",
            "h",
        ])
        .unwrap();
        let Hits::Rotating(door) = p.hits else {
            panic!("{:?}", p.hits)
        };
        assert_eq!(door.secret_file, PathBuf::from("/k"));
        assert_eq!(
            door.label,
            knock_proto::rotating::Label::new(b"closeSSH").unwrap()
        );
        let r = door.rotation;
        assert_eq!(
            (r.step(), r.range().to_string(), r.length()),
            (10, "2000-3000".into(), 5)
        );
        assert_eq!(r.protocol(), knock_proto::rotating::RotatingProtocol::Mixed);
    }

    #[cfg(unix)]
    #[test]
    fn a_label_need_not_be_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let args = [
            "knock".into(),
            "--secret-file".into(),
            "/k".into(),
            "--door".into(),
            std::ffi::OsString::from_vec(b"caf\xe9".to_vec()),
            "h".into(),
        ];
        let p = knock(Request::from_cli(Cli::try_parse_from(args).unwrap())).unwrap();
        let Hits::Rotating(door) = p.hits else {
            panic!("{:?}", p.hits)
        };
        assert_eq!(
            door.label,
            knock_proto::rotating::Label::new(b"caf\xe9").unwrap()
        );
    }

    #[test]
    fn the_command_line_overrides_a_rotating_profile() {
        let p = merge(
            &["--door", "closeSSH", "--length", "3", "home"],
            rotating_profile(),
        )
        .unwrap();
        let Hits::Rotating(door) = p.hits else {
            panic!("{:?}", p.hits)
        };
        assert_eq!(
            door.label,
            knock_proto::rotating::Label::new(b"closeSSH").unwrap()
        );
        assert_eq!((door.rotation.step(), door.rotation.length()), (60, 3));
        assert_eq!(p.host, "server");
    }

    #[test]
    fn sequence_only_prints_instead_of_knocking() {
        let request = Request::from_cli(cli(&[
            "--sequence-only",
            "--at",
            "90",
            "--secret-file",
            "/k",
            "--door",
            "d",
        ]))
        .unwrap();
        let Request::PrintSequence { door, at } = request else {
            panic!("{request:?}")
        };
        assert_eq!(
            (door.rotation, at),
            (knock_proto::rotating::Rotation::default(), Some(90))
        );
        let request = Request::merge(cli(&["--sequence-only", "home"]), Some(rotating_profile()));
        assert!(matches!(
            request,
            Ok(Request::PrintSequence { at: None, .. })
        ));
    }

    #[test]
    fn rotating_options_need_a_rotating_door() {
        let e = plan(&["--length", "4", "h", "1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--length needs a rotating door: add --secret-file FILE, or name a profile that has a secret_file"
        );
        let e = merge(
            &["--door", "x", "home"],
            profile(Knocks::Ports(vec!["1".into()])),
        );
        assert!(matches!(
            e,
            Err(Error::OptionAlone {
                option: "--door",
                ..
            })
        ));
        assert!(matches!(
            Request::from_cli(cli(&["--sequence-only", "h", "1"])),
            Err(Error::SequenceOnlyWithoutSecret)
        ));
        assert!(matches!(
            Request::merge(
                cli(&["--sequence-only", "home"]),
                Some(profile(Knocks::Ports(vec!["1".into()])))
            ),
            Err(Error::SequenceOnlyWithoutSecret)
        ));
        assert!(matches!(
            Request::from_cli(cli(&["--sequence-only"])),
            Err(Error::SequenceOnlyWithoutSecret)
        ));
    }

    #[test]
    fn udp_is_refused_with_a_rotating_door() {
        assert!(matches!(
            plan(&["-u", "--secret-file", "/k", "--door", "d", "h"]),
            Err(Error::UdpWithRotating)
        ));
        let mut udp = rotating_profile();
        udp.udp = true;
        assert!(matches!(merge(&["home"], udp), Err(Error::UdpWithRotating)));
    }
}
