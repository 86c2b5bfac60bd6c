//! Configuration reloads and the echo.

use super::*;

#[test]
fn config_lines() {
    let path = Path::new("/tmp/t/knockd.conf");
    check(
        ConfigMessage::ReReadingConfig { path },
        "re-reading config file: /tmp/t/knockd.conf",
        LOG | VERBOSE,
    );
    check(
        ConfigMessage::ReloadFailed {
            error: &"/tmp/t/knockd.conf: line 11: syntax error",
        },
        "/tmp/t/knockd.conf: line 11: syntax error --> keeping the previous configuration",
        LOG | STDERR,
    );
    check(
        ConfigMessage::DoorDisabled {
            door: "typo",
            error: &"k.conf: line 4: section typo: port abc is invalid",
        },
        "k.conf: line 4: section typo: port abc is invalid --> door typo disabled; the other doors run",
        LOG | STDERR,
    );
    check(
        ConfigMessage::ConfigWarning(&"k.conf: line 3: seq_timeout = 5s: read as 5"),
        "warning: k.conf: line 3: seq_timeout = 5s: read as 5",
        LOG | STDERR,
    );
    check(
        ConfigMessage::Echo(ConfigEcho::NewSection("ssh")),
        "config: new section: 'ssh'",
        DEBUG,
    );
    check(
        ConfigMessage::Echo(ConfigEcho::UseSyslog),
        "config: usesyslog",
        DEBUG,
    );
    check(
        ConfigMessage::Echo(ConfigEcho::TcpFlag {
            flag: TcpFlag::Psh,
            required: false,
        }),
        "config: tcp flag: !PSH",
        DEBUG,
    );
    check(
        ConfigMessage::Echo(ConfigEcho::Setting {
            door: None,
            key: "interface",
            value: &"eth0",
        }),
        "config: interface: eth0",
        DEBUG,
    );
    check(
        ConfigMessage::Echo(ConfigEcho::Setting {
            door: Some("ssh"),
            key: "cmd_timeout",
            value: &10,
        }),
        "config: ssh: cmd_timeout: 10",
        DEBUG,
    );
}
