//! `knock NAME`: profiles read from the user's TOML file. Nothing here sends
//! a packet anywhere but to 127.0.0.1.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;

use assert_cmd::Command;
use predicates::str::{contains, starts_with};

use common::{hits, knock_port};

/// `knock` with neither XDG_CONFIG_HOME nor HOME from the environment that
/// runs the tests, so the user's own profiles never leak in.
fn knock() -> Command {
    let mut command = Command::cargo_bin("knock").unwrap();
    command.env_remove("XDG_CONFIG_HOME").env_remove("HOME");
    command
}

/// The usage line knock 0.8 showed when the ports were missing, as clap renders it.
const USAGE: &str = "Usage: knock [OPTIONS] <HOST> <PORT[:PROTO]>...";

/// Writes `content` to `dir/rel`, creating the directories on the way.
fn write(dir: &Path, rel: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    path
}

#[test]
fn a_profile_named_with_config_is_knocked() {
    let (socket, port) = knock_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "k.toml",
        &format!("[home]\nhost = \"127.0.0.1\"\nports = [\"{port}:udp\", {port}]\nudp = true\n"),
    );
    knock()
        .args(["-v", "--config"])
        .arg(&config)
        .arg("home")
        .assert()
        .success()
        .stdout(format!(
            "hitting udp 127.0.0.1:{port}\nhitting udp 127.0.0.1:{port}\n"
        ))
        .stderr("");
    assert_eq!(hits(&socket), 2);
}

#[test]
fn the_default_file_is_under_xdg_config_home_then_home() {
    let (socket, port) = knock_port();
    let profile = format!("[home]\nhost = \"127.0.0.1\"\nports = [\"{port}:udp\"]\n");
    let xdg = tempfile::tempdir().unwrap();
    write(xdg.path(), "knock/config.toml", &profile);
    knock()
        .env("XDG_CONFIG_HOME", xdg.path())
        .arg("home")
        .assert()
        .success();
    assert_eq!(hits(&socket), 1);

    let home = tempfile::tempdir().unwrap();
    write(home.path(), ".config/knock/config.toml", &profile);
    knock()
        .env("HOME", home.path())
        .arg("home")
        .assert()
        .success();
    assert_eq!(hits(&socket), 1);
}

#[test]
fn the_command_line_overrides_the_profile() {
    let (socket, port) = knock_port();
    let door = TcpListener::bind("127.0.0.1:0").unwrap();
    let door_port = door.local_addr().unwrap().port();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "k.toml",
        &format!(
            "[home]\nhost = \"127.0.0.1\"\nports = [\"{port}:udp\"]\n\
             verify = {closed}\nretries = 0\nverify_timeout = 100\n"
        ),
    );
    // As written, the profile verifies a closed port: exit 2 after one knock.
    knock()
        .arg("--config")
        .arg(&config)
        .arg("home")
        .assert()
        .code(2)
        .stderr(contains(format!(
            "could not connect to 127.0.0.1:{closed} after knocking 1 time, trying for 100 ms"
        )));
    assert_eq!(hits(&socket), 1);
    knock()
        .args(["-v", "--verify", &door_port.to_string(), "--config"])
        .arg(&config)
        .arg("home")
        .assert()
        .success()
        .stdout(contains(format!("verifying tcp 127.0.0.1:{door_port}")));
    assert_eq!(hits(&socket), 1);
}

#[test]
fn an_unknown_key_is_an_error_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "k.toml",
        "[home]\nhost = \"127.0.0.1\"\nport = [7101]\n",
    );
    knock()
        .arg("--config")
        .arg(&config)
        .arg("home")
        .assert()
        .code(1)
        .stderr(contains(format!("error: {}: ", config.display())))
        .stderr(contains("unknown field `port`"));
}

#[test]
fn a_missing_profile_names_the_file_searched() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "knock/config.toml",
        "[home]\nhost = \"127.0.0.1\"\nports = [7101]\n",
    );
    knock()
        .env("XDG_CONFIG_HOME", dir.path())
        .arg("work")
        .assert()
        .code(1)
        .stderr(format!(
            "{USAGE}\nerror: no profile [work] in {}: add it there, or give the host's ports\n",
            config.display()
        ));
    knock()
        .arg("home")
        .assert()
        .code(1)
        .stderr(starts_with(USAGE))
        .stderr(contains("neither XDG_CONFIG_HOME nor HOME is set"));
}

#[test]
fn a_lone_host_leads_with_the_usage_then_names_the_profile_file() {
    // Issue 26: a knock 0.8 user typed a host and forgot the ports; the
    // message said only that the profile file cannot be read.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("knock/config.toml");
    knock()
        .env("XDG_CONFIG_HOME", dir.path())
        .arg("myserver.example.com")
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "{USAGE}\nerror: no PORT given, so the argument names a profile, but the profile \
             file {} cannot be read: No such file or directory\n",
            config.display()
        ));
}

#[test]
fn an_explicit_profile_request_gets_no_usage_line() {
    // With --config or --sequence-only the argument can only be a profile.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("k.toml");
    knock()
        .arg("--config")
        .arg(&missing)
        .arg("home")
        .assert()
        .code(1)
        .stderr(starts_with("error: "))
        .stderr(contains(format!("{} cannot be read", missing.display())));
    knock()
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--sequence-only", "home"])
        .assert()
        .code(1)
        .stderr(starts_with("error: "));
}

#[test]
fn a_profile_file_takes_no_ports() {
    knock()
        .args(["--config", "k.toml", "127.0.0.1", "7101"])
        .assert()
        .code(1)
        .stderr(contains("cannot be used with"));
}

#[cfg(unix)]
#[test]
fn a_profiles_one_time_file_is_walked_and_must_be_private() {
    use std::os::unix::fs::PermissionsExt;

    let (socket, port) = knock_port();
    let dir = tempfile::tempdir().unwrap();
    // The profile file itself may be readable by anyone: it holds no secret.
    let config = write(
        dir.path(),
        "k.toml",
        "[otp]\nhost = \"127.0.0.1\"\none_time_file = \"secret/sequences\"\n",
    );
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    let content = format!(" {port}:udp\n {port}:udp,{port}:udp\n");
    let sequences = write(dir.path(), "secret/sequences", &content);
    fs::set_permissions(&sequences, fs::Permissions::from_mode(0o644)).unwrap();
    let run = || {
        let mut command = knock();
        command.arg("--config").arg(&config).arg("otp");
        command
    };
    run()
        .assert()
        .code(1)
        .stderr(contains(format!("run `chmod 600 {}`", sequences.display())));
    assert_eq!(fs::read_to_string(&sequences).unwrap(), content);
    assert_eq!(hits(&socket), 0);

    fs::set_permissions(&sequences, fs::Permissions::from_mode(0o600)).unwrap();
    run().assert().success();
    assert_eq!(hits(&socket), 1);
    run().assert().success();
    assert_eq!(hits(&socket), 2);
    assert_eq!(
        fs::read_to_string(&sequences).unwrap(),
        format!("#{port}:udp\n#{port}:udp,{port}:udp\n")
    );
}
