//! The command line of `knock`.
//!
//! This module depends on nothing but `clap` and `std` so that a build script
//! can `#[path]`-include it to render the man page and shell completions.

use std::path::PathBuf;

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
                      knock [OPTIONS] <PROFILE>",
    after_help = "PORT is a number from 1 to 65535 or a service name such as ssh; \
                  PROTO is tcp or udp in any case.\n\n\
                  With neither PORT nor --one-time-file, the one argument names a profile \
                  in the TOML file given by --config, else $XDG_CONFIG_HOME/knock/config.toml, \
                  else ~/.config/knock/config.toml; options given on the command line win over \
                  the profile's.\n\n\
                  Example: knock myserver.example.com 123:tcp 456:udp 789:tcp\n\
                  Exit status: 0 when every hit was sent (and, with --verify, the port \
                  accepted a connection); 1 on any error; 2 when --verify could not connect \
                  after the last retry."
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

    /// Print `hitting PROTO ADDRESS:PORT` before each hit
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Send every TCP hit as a raw segment carrying exactly these flags, a
    /// comma-separated list of fin,syn,rst,psh,ack,urg (needs root or
    /// CAP_NET_RAW; UDP hits stay plain datagrams)
    #[arg(long = "flags", value_name = "LIST", conflicts_with = "udp")]
    pub flags: Option<String>,

    /// After knocking, connect to this TCP port (number or service name) on
    /// the address knocked; knock again when it fails
    #[arg(long = "verify", value_name = "PORT")]
    pub verify: Option<String>,

    /// With --verify: how many times to knock again after a failed
    /// connection [default: 2]
    #[arg(long = "retries", value_name = "N")]
    pub retries: Option<u32>,

    /// With --verify: how long each verification may keep trying to
    /// connect [default: 2000]
    #[arg(long = "verify-timeout", value_name = "MS", value_parser = parse_delay)]
    pub verify_timeout: Option<u64>,

    /// Knock the first unused sequence of this one-time sequences file (the
    /// format of knockd's One_Time_Sequences) and mark it used first; the file
    /// must not be accessible to group or others
    #[arg(long = "one-time-file", value_name = "FILE", conflicts_with = "ports")]
    pub one_time_file: Option<PathBuf>,

    /// Read profiles from this TOML file instead of the default one
    #[arg(long = "config", value_name = "FILE", conflicts_with_all = ["ports", "one_time_file"])]
    pub config: Option<PathBuf>,

    /// Host name or address to knock on; alone, the name of a profile
    #[arg(value_name = "HOST")]
    pub host: String,

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
}
