//! The command line of `knock`.
//!
//! This module depends on nothing but `clap` and `std` so that a build script
//! can `#[path]`-include it to render the man page and shell completions.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::Parser;

/// Sends a port-knock sequence to a host running knockd.
///
/// Each PORT[:PROTO] is one hit, sent in the order given: a TCP hit is a
/// single SYN (a connection attempt that is abandoned at once), a UDP hit is
/// one datagram carrying a single zero byte. Every argument is checked and the
/// host is resolved once before anything is sent, so a typo never leaves half
/// a sequence on the wire.
#[derive(Debug, Parser)]
#[command(
    name = "knock",
    version,
    arg_required_else_help = true,
    override_usage = "knock [OPTIONS] <HOST> <PORT[:PROTO]>...\n       \
                      knock [OPTIONS] --one-time-file <FILE> <HOST>\n       \
                      knock [OPTIONS] --secret-file <FILE> --door <LABEL> <HOST>\n       \
                      knock --sequence-only [--at <UNIX_SECONDS>] --secret-file <FILE> --door <LABEL>\n       \
                      knock [OPTIONS] <PROFILE>\n       \
                      knock [OPTIONS] --proxy <PORT> <HOST|PROFILE> [PORT[:PROTO]]...\n       \
                      knock --import <URI> [--profile <NAME>] [--force] [--config <FILE>]",
    after_help = "PORT is a number from 1 to 65535 or a service name such as ssh; \
                  PROTO is tcp or udp in any case.\n\n\
                  With --secret-file, the sequence is derived from the secret, the door's label \
                  and the clock (docs/rotating-sequences.md); the rotating options default to \
                  knockd's: --step 30 --range 1024-65535 --length 4 --protocol tcp.\n\n\
                  With neither PORT, --one-time-file nor --secret-file, the one argument names a profile \
                  (by its name, else by its host) in the TOML file given by --config, else $XDG_CONFIG_HOME/knock/config.toml, \
                  else ~/.config/knock/config.toml (on Windows, %APPDATA%\\knock\\config.toml); \
                  options given on the command line win over the profile's.\n\n\
                  Example: knock myserver.example.com 123:tcp 456:udp 789:tcp\n\
                  Exit status: 0 when every hit was sent (and, with --verify, the port \
                  accepted a connection; with --proxy, the server closed the relayed connection); \
                  1 on any error; 2 when --verify or --proxy could not connect after the last retry."
)]
pub struct Cli {
    /// Send every hit as UDP, even one written PORT:tcp (as knock 0.8 does)
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,

    /// Wait this many milliseconds after every hit, the last one included (as
    /// knock 0.8 does), giving knockd time to act before the next command runs
    /// [default: 0]
    #[arg(
        short = 'd',
        long = "delay",
        value_name = "MS",
        allow_negative_numbers = true,
        value_parser = parse_delay
    )]
    pub delay: Option<u64>,

    /// Resolve the host to an IPv4 address only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Resolve the host to an IPv6 address only
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Print `hitting PROTO ADDRESS:PORT` before each hit (an IPv6 address in
    /// brackets), `verifying tcp ADDRESS:PORT` before each verification, and when
    /// a rotating door's knock waits for the next step
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Send every TCP hit as a raw segment carrying exactly these flags, a
    /// comma-separated list of fin,syn,rst,psh,ack,urg (needs root or
    /// CAP_NET_RAW; UDP hits stay plain datagrams). Refused on Windows, which
    /// does not send TCP on raw sockets
    #[arg(long = "flags", value_name = "LIST", conflicts_with = "udp", value_hint = clap::ValueHint::Other)]
    pub flags: Option<String>,

    /// After knocking, connect to this TCP port (number or service name) on
    /// the address knocked; knock again when it fails
    #[arg(long = "verify", value_name = "PORT")]
    pub verify: Option<String>,

    /// With --verify or --proxy: how many times to knock again after a failed
    /// connection [default: 2]
    #[arg(long = "retries", value_name = "N")]
    pub retries: Option<u32>,

    /// With --verify or --proxy: how long each verification may keep trying
    /// to connect [default: 2000]
    #[arg(long = "verify-timeout", value_name = "MS", value_parser = parse_delay)]
    pub verify_timeout: Option<u64>,

    /// For ssh's ProxyCommand: knock, connect to this TCP port on the
    /// address knocked (as --verify does, knocking again when it fails), then
    /// relay standard input and output over the connection until the server
    /// closes it; -v goes to standard error. Alone, HOST may be a profile's
    /// host, as ssh's %h
    #[arg(long = "proxy", value_name = "PORT", conflicts_with_all = ["verify", "sequence_only"])]
    pub proxy: Option<String>,

    /// Knock the first unused sequence of this one-time sequences file (the
    /// format of knockd's One_Time_Sequences) and mark it used first; the file
    /// must not be accessible to group or others (on Windows: must not be a
    /// link)
    #[arg(long = "one-time-file", value_name = "FILE", conflicts_with = "ports")]
    pub one_time_file: Option<PathBuf>,

    /// Knock a rotating door: derive the current step's sequence from the
    /// base32 secret in this file, which must not be readable by group or
    /// others (on Windows: must not be a link)
    #[arg(
        long = "secret-file",
        value_name = "FILE",
        conflicts_with_all = ["ports", "one_time_file", "config"],
        requires = "door"
    )]
    pub secret_file: Option<PathBuf>,

    /// With --secret-file: the rotating door's label, its section name in
    /// knockd.conf exactly as written (1 to 255 bytes)
    #[arg(long = "door", value_name = "LABEL")]
    pub door: Option<OsString>,

    /// With --secret-file: seconds per step, as the door's Rotating_Step
    /// [default: 30]
    #[arg(long = "step", value_name = "S")]
    pub step: Option<u64>,

    /// With --secret-file: the ports to draw from, as the door's
    /// Rotating_Range [default: 1024-65535]
    #[arg(long = "range", value_name = "LO-HI")]
    pub range: Option<String>,

    /// With --secret-file: knocks per sequence, as the door's Rotating_Length
    /// [default: 4]
    #[arg(long = "length", value_name = "N")]
    pub length: Option<usize>,

    /// With --secret-file: the knocks' protocol, as the door's
    /// Rotating_Protocol [default: tcp]
    #[arg(
        long = "protocol",
        value_name = "PROTO",
        ignore_case = true,
        value_parser = PossibleValuesParser::new(["tcp", "udp", "mixed"])
    )]
    pub protocol: Option<String>,

    /// Print the rotating door's sequence (PORT:PROTO,...) on one line
    /// instead of knocking; HOST may be left out and is not resolved
    #[arg(long = "sequence-only")]
    pub sequence_only: bool,

    /// With --sequence-only: derive the sequence of the step that holds this
    /// moment instead of now
    #[arg(long = "at", value_name = "UNIX_SECONDS", requires = "sequence_only")]
    pub at: Option<u64>,

    /// Save the rotating door of this knock URI (as knockd secret new prints it) as a secret
    /// file and a profile, then exit; `knock NAME` knocks it
    #[arg(
        long = "import",
        value_name = "URI",
        conflicts_with_all = ["host", "ports", "one_time_file", "secret_file", "sequence_only",
                              "door", "step", "range", "length", "protocol", "udp", "delay",
                              "ipv4", "ipv6", "flags", "verify", "retries", "verify_timeout", "proxy"]
    )]
    pub import: Option<String>,

    /// With --import: the profile's name [default: the door's]
    #[arg(long = "profile", value_name = "NAME", requires = "import")]
    pub profile: Option<String>,

    /// With --import: replace a profile or secret file of that name
    #[arg(long = "force", requires = "import")]
    pub force: bool,

    /// Read profiles from this TOML file instead of the default one (--import writes there)
    #[arg(long = "config", value_name = "FILE", conflicts_with_all = ["ports", "one_time_file"])]
    pub config: Option<PathBuf>,

    /// Host name or address to knock on; alone, the name of a profile (or a
    /// profile's host)
    #[arg(value_name = "HOST", required_unless_present_any = ["sequence_only", "import"])]
    pub host: Option<String>,

    /// Ports to hit, in order, each optionally followed by :tcp or :udp
    // No `allow_negative_numbers` here: `-4`/`-6` must stay options wherever
    // they appear (as with 0.8's getopt), so `-5` is an unknown option unless
    // it follows `--`, where the port validator refuses it.
    #[arg(value_name = "PORT[:PROTO]")]
    pub ports: Vec<String>,
}

/// Reads a number of milliseconds (`--delay`, `--verify-timeout`), refusing
/// negative values with knock 0.8's wording.
fn parse_delay(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') && trimmed.len() > 1 {
        return Err("delay cannot be negative".to_owned());
    }
    trimmed
        .parse()
        .map_err(|_| "expected a whole number of milliseconds".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn delay_parser_refuses_negative_and_garbage() {
        assert_eq!(parse_delay("250"), Ok(250));
        assert_eq!(
            parse_delay("-5"),
            Err("delay cannot be negative".to_owned())
        );
        assert!(parse_delay("abc").is_err());
        assert!(parse_delay("").is_err());
    }

    #[test]
    fn family_options_may_follow_the_ports() {
        let cli = Cli::try_parse_from(["knock", "h", "1", "-6"]).unwrap();
        assert_eq!(cli.ports, ["1"]);
        assert!(cli.ipv6);
    }

    #[test]
    fn negative_ports_reach_the_validator_after_double_dash() {
        let cli = Cli::try_parse_from(["knock", "h", "--", "-5"]).unwrap();
        assert_eq!(cli.ports, ["-5"]);
    }

    #[test]
    fn sequence_only_needs_no_host() {
        let args = [
            "knock",
            "--sequence-only",
            "--secret-file",
            "k",
            "--door",
            "d",
        ];
        let cli = Cli::try_parse_from(args).unwrap();
        assert_eq!(cli.host, None);
        assert!(Cli::try_parse_from(["knock", "-v", "--secret-file", "k", "--door", "d"]).is_err());
    }

    #[test]
    fn rotating_options_refuse_nonsense_combinations() {
        for args in [
            &["knock", "--secret-file", "k", "--door", "d", "h", "1"][..],
            &[
                "knock",
                "--secret-file",
                "k",
                "--door",
                "d",
                "--one-time-file",
                "f",
                "h",
            ],
            &["knock", "--secret-file", "k", "h"],
            &[
                "knock",
                "--secret-file",
                "k",
                "--door",
                "d",
                "--at",
                "5",
                "h",
            ],
            &[
                "knock",
                "--protocol",
                "sctp",
                "--secret-file",
                "k",
                "--door",
                "d",
                "h",
            ],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        let cli = Cli::try_parse_from(["knock", "--protocol", "MIXED", "home"]).unwrap();
        assert_eq!(cli.protocol.as_deref(), Some("MIXED"));
    }
}
