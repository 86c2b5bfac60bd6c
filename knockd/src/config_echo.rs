//! The `-D` configuration echo (`config: new section: 'ssh'`, ...).
//!
//! 0.8 echoes while parsing, in file order; this echoes the parsed
//! configuration: `[options]` first, then each door's settings in a fixed order.

use std::fmt::Display;

use knockd_core::config::settings::Setting;
use knockd_core::config::{Config, Door, SequenceSource};
use knockd_core::sources::list_text;

use crate::log::{ConfigEcho, ConfigMessage, Logger};

/// Prints the configuration echo when `-D` is on.
pub fn echo(config: &Config, log: &mut Logger) {
    if !log.debug() {
        return;
    }
    echo_options(config, log);
    for door in &config.doors {
        echo_door(door, log);
    }
}

fn echo_options(config: &Config, log: &mut Logger) {
    let options = &config.options;
    if options.use_syslog {
        log.emit(&ConfigMessage::Echo(ConfigEcho::UseSyslog));
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
    if let Some(table) = &options.nft_table {
        setting(log, None, "nft table", table);
    }
    if let Some(interface) = &options.interface {
        setting(log, None, "interface", interface);
    }
}

/// A door's section line and its settings, in [`Door::settings`]' order.
fn echo_door(door: &Door, log: &mut Logger) {
    let name = Some(door.name.as_str());
    log.emit(&ConfigMessage::Echo(ConfigEcho::NewSection(&door.name)));
    for each in door.settings() {
        let key = each.name();
        match each {
            Setting::Target(target) => setting(log, name, key, &target),
            Setting::Sequence(sequence) => echo_sequence(sequence, name, log),
            Setting::SeqTimeout(timeout) | Setting::CmdTimeout(timeout) => {
                setting(log, name, key, &timeout.as_secs());
            }
            Setting::TcpFlags(flags) => {
                for (flag, required) in flags.constraints() {
                    log.emit(&ConfigMessage::Echo(ConfigEcho::TcpFlag { flag, required }));
                }
            }
            Setting::Command(_, command) | Setting::NftSet(command) => {
                setting(log, name, key, &command)
            }
            Setting::Cooldown(cooldown) => setting(log, name, key, &cooldown.as_secs_f64()),
            Setting::MaxOpen(max) => setting(log, name, key, &max),
            Setting::OpenPrefix4(prefix) | Setting::OpenPrefix6(prefix) => {
                setting(log, name, key, &prefix);
            }
            Setting::Refresh | Setting::AllowRepeats | Setting::Strict => {
                setting(log, name, key, &"yes");
            }
            Setting::AllowFrom(list) | Setting::DenyFrom(list) => {
                setting(log, name, key, &list_text(list));
            }
        }
    }
}

fn echo_sequence(sequence: &SequenceSource, name: Option<&str>, log: &mut Logger) {
    match sequence {
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
}

fn setting(log: &mut Logger, door: Option<&str>, key: &'static str, value: &dyn Display) {
    log.emit(&ConfigMessage::Echo(ConfigEcho::Setting {
        door,
        key,
        value,
    }));
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
