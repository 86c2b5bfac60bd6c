//! Provisioning a rotating door end to end, as an operator and a user do it:
//! `knockd secret new` on the server, its door lines in knockd.conf,
//! `knock --import` of its URI on the client, then `knock NAME` opens the
//! door for the client's address.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use integration_tests::{config, run_bounded, Net, Pair, Rig, Scratch, WAIT};

/// Runs `program args` with `XDG_CONFIG_HOME` set to `home` (outside the
/// namespaces: nothing is sent); it must exit 0.
fn run_with_home(program: &Path, home: &Path, args: &[&str]) -> Output {
    let output = run_bounded(
        Command::new(program)
            .env("XDG_CONFIG_HOME", home)
            .env_remove("HOME")
            .args(args),
        WAIT,
    );
    assert!(
        output.status.success(),
        "{} {args:?}: {output:?}",
        program.display()
    );
    output
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_door_made_by_secret_new_and_imported_by_knock_opens_for_knock_name() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let net = Net::new();
    let server = net.server_v4().to_string();
    let client = net.client_v4();
    let key = scratch.path("door.key");
    // A name with a blank: escaped in the URI, quoted in the profile.
    let door = "open SSH";
    let made = run_bounded(
        Command::new(&pair.knockd).args([
            "secret",
            "new",
            key.to_str().unwrap(),
            "--door",
            door,
            "--host",
            &server,
            "--range",
            "20000-29999",
        ]),
        WAIT,
    );
    assert!(made.status.success(), "{made:?}");
    let printed = String::from_utf8(made.stdout).unwrap();
    // The door's lines exactly as printed, and a command for them.
    let mut lines: String = printed
        .lines()
        .skip_while(|l| *l != "[open SSH]")
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        lines.contains("Rotating_Range    = 20000-29999"),
        "{printed}"
    );
    let out = scratch.path("out");
    lines.push_str(&format!(
        "    seq_timeout = 10\n    start_command = echo rot %IP% >> {}\n\n",
        out.display()
    ));
    let uri = printed
        .lines()
        .find(|l| l.starts_with("knock://"))
        .unwrap_or_else(|| panic!("no URI in: {printed}"))
        .to_owned();
    assert!(uri.contains("/open%20SSH?"), "{uri}");
    let rig = Rig::start_on(&pair, net, scratch, &config(&[lines]), &["-D"]);

    let home = rig.scratch.path("home");
    run_with_home(&pair.knock, &home, &["--import", &uri]);
    assert!(home.join("knock/open_SSH.key").is_file());
    let knock = pair.knock.to_str().unwrap();
    let xdg = format!("XDG_CONFIG_HOME={}", home.display());
    rig.net
        .knock(Path::new("env"), &["-u", "HOME", &xdg, knock, door]);
    rig.scratch
        .expect_lines_within("out", &format!("rot {client}"), 1, Duration::from_secs(10));
    assert_eq!(rig.scratch.lines("out"), [format!("rot {client}")]);
    rig.assert_opened(door, 1);
}
