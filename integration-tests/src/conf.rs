//! knockd.conf text for scenarios (the grammar both knockd 0.8 and ours read).

use std::fmt::Write;
use std::path::Path;

/// The UDP port of the sync door that [`crate::Daemon::sync`] knocks on.
pub const SYNC_PORT: u16 = 65001;

/// A one-element UDP door used as a barrier: once it opens, every earlier packet was processed.
pub fn sync_door(port: u16) -> String {
    format!(
        "[{}]\n    sequence = {port}:udp\n    seq_timeout = 5\n\n",
        sync_door_name(port)
    )
}

/// The name of the sync door on `port`.
pub fn sync_door_name(port: u16) -> String {
    format!("sync-{port}")
}

/// A door whose start command appends `<name> %IP%` to `out`, plus any `extra` directives.
pub fn door(name: &str, sequence: &str, out: &Path, extra: &[&str]) -> String {
    let command = format!("echo {name} %IP% >> {}", out.display());
    door_running(name, sequence, &command, extra)
}

/// A door whose start command is `command`, plus any `extra` directives.
pub fn door_running(name: &str, sequence: &str, command: &str, extra: &[&str]) -> String {
    let mut text = format!("[{name}]\n    sequence = {sequence}\n    start_command = {command}\n");
    for line in extra {
        let _ = writeln!(text, "    {line}");
    }
    text.push('\n');
    text
}

/// A config of `doors` followed by the sync door on `sync_port`.
pub fn config_with_sync(doors: &[String], sync_port: u16) -> String {
    let mut text = doors.concat();
    text.push_str(&sync_door(sync_port));
    text
}

/// A config of `doors` followed by the default sync door.
pub fn config(doors: &[String]) -> String {
    config_with_sync(doors, SYNC_PORT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_text_has_sequence_command_and_extras() {
        let text = door(
            "basic",
            "7000,8000",
            Path::new("/tmp/x/out"),
            &["seq_timeout = 3"],
        );
        assert_eq!(
            text,
            "[basic]\n    sequence = 7000,8000\n    start_command = echo basic %IP% >> /tmp/x/out\n    seq_timeout = 3\n\n"
        );
    }

    #[test]
    fn config_ends_with_the_sync_door() {
        let text = config(&[door("a", "1", Path::new("o"), &[])]);
        assert!(text.starts_with("[a]\n"));
        assert!(text.ends_with("[sync-65001]\n    sequence = 65001:udp\n    seq_timeout = 5\n\n"));
    }
}
