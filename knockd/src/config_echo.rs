//! The `-D` configuration echo (`config: new section: 'ssh'`, ...).
//!
//! 0.8 echoes while parsing, in file order; this echoes the parsed
//! configuration: `[options]` first, then each door's settings in a fixed order.

use std::fmt::Display;

use knockd_core::config::{Config, SequenceSource};
use knockd_core::sources::list_text;

use crate::log::{ConfigEcho, Logger, Message};

/// Prints the configuration echo when `-D` is on.
pub fn echo(config: &Config, log: &mut Logger) {
    if !log.debug() {
        return;
    }
    let options = &config.options;
    if options.use_syslog {
        log.emit(&Message::Config(ConfigEcho::UseSyslog));
    }
    let paths = [
        ("log file", &options.log_file),
        ("pid file", &options.pid_file),
        ("state dir", &options.state_dir),
        ("control socket", &options.control_socket),
    ];
    for (key, path) in paths {
        if let Some(path) = path {
            setting(log, None, key, &path.display());
        }
    }
    if let Some(format) = options.log_format {
        setting(log, None, "log format", &format.name());
    }
    if let Some(interface) = &options.interface {
        setting(log, None, "interface", interface);
    }
    for door in &config.doors {
        let name = Some(door.name.as_str());
        log.emit(&Message::Config(ConfigEcho::NewSection(&door.name)));
        if let Some(target) = &door.target {
            setting(log, name, "target", target);
        }
        match &door.sequence {
            SequenceSource::Fixed(sequence) => setting(log, name, "sequence", sequence),
            SequenceSource::OneTime(path) => {
                setting(log, name, "one time sequences file", &path.display());
            }
            SequenceSource::Rotating(rotating) => {
                let r = &rotating.rotation;
                setting(
                    log,
                    name,
                    "rotating_secret",
                    &rotating.secret_file.display(),
                );
                setting(log, name, "rotating_step", &r.step());
                setting(log, name, "rotating_range", &r.range());
                setting(log, name, "rotating_length", &r.length());
                setting(log, name, "rotating_protocol", &r.protocol());
                setting(log, name, "rotating_skew", &r.skew());
            }
        }
        setting(log, name, "seq_timeout", &door.seq_timeout.as_secs());
        for (flag, required) in door.tcp_flags.constraints() {
            log.emit(&Message::Config(ConfigEcho::TcpFlag { flag, required }));
        }
        for (key, command) in door.commands() {
            if let Some(command) = command {
                setting(log, name, key, &command);
            }
        }
        setting(log, name, "cmd_timeout", &door.cmd_timeout.as_secs());
        if door.refresh {
            setting(log, name, "refresh", &"yes");
        }
        if !door.cooldown.is_zero() {
            setting(log, name, "cooldown", &door.cooldown.as_secs_f64());
        }
        if let Some(max) = door.max_open {
            setting(log, name, "max_open", &max);
        }
        if door.allow_repeats {
            setting(log, name, "allow_repeats", &"yes");
        }
        if door.strict {
            setting(log, name, "strict", &"yes");
        }
        if !door.sources.allow.is_empty() {
            setting(log, name, "allow_from", &list_text(&door.sources.allow));
        }
        if !door.sources.deny.is_empty() {
            setting(log, name, "deny_from", &list_text(&door.sources.deny));
        }
    }
}

fn setting(log: &mut Logger, door: Option<&str>, key: &'static str, value: &dyn Display) {
    log.emit(&Message::Config(ConfigEcho::Setting { door, key, value }));
}

#[cfg(test)]
mod tests {
    use knock_proto::{Sequence, TcpFlags};
    use knockd_core::config::{Door, LogFormat};

    use super::*;
    use crate::log::testing::capture;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn config_echo_lists_options_and_doors() {
        let (mut logger, captured) = capture(false, true);
        let mut config = Config::default();
        config.options.use_syslog = true;
        config.options.log_file = Some("/var/log/knockd.log".into());
        config.options.interface = Some("eth0".to_owned());
        config.options.log_format = Some(LogFormat::Json);
        let sequence = Sequence::parse("7000,8000:udp").unwrap();
        let mut door = Door::new("ssh", SequenceSource::Fixed(sequence));
        door.tcp_flags = TcpFlags::parse("syn,!ack").unwrap();
        door.start_command = Some("open %IP%".to_owned());
        door.refresh = true;
        door.cooldown = std::time::Duration::from_millis(1500);
        door.max_open = Some(8);
        config.doors.push(door);
        config.options.state_dir = Some("/var/lib/k".into());
        config.options.control_socket = Some("/run/k.sock".into());
        echo(&config, &mut logger);
        assert_eq!(
            lines(&captured.stdout.text()),
            [
                "config: usesyslog",
                "config: log file: /var/log/knockd.log",
                "config: state dir: /var/lib/k",
                "config: control socket: /run/k.sock",
                "config: log format: json",
                "config: interface: eth0",
                "config: new section: 'ssh'",
                "config: ssh: sequence: 7000:tcp,8000:udp",
                "config: ssh: seq_timeout: 25",
                "config: tcp flag: SYN",
                "config: tcp flag: !ACK",
                "config: ssh: start_command: open %IP%",
                "config: ssh: cmd_timeout: 10",
                "config: ssh: refresh: yes",
                "config: ssh: cooldown: 1.5",
                "config: ssh: max_open: 8",
            ]
        );
        assert_eq!(captured.log_lines(), Vec::<String>::new());
    }

    #[test]
    fn config_echo_is_silent_without_debug() {
        let (mut logger, captured) = capture(true, false);
        echo(&Config::default(), &mut logger);
        let door = Door::new("d", SequenceSource::OneTime("/x".into()));
        let config = Config {
            doors: vec![door],
            ..Config::default()
        };
        echo(&config, &mut logger);
        assert_eq!(captured.stdout.text(), "");
    }
}
