//! A drop-in that never locks an admin out (drop-in issue): a configuration
//! knockd 0.8 runs keeps running, and a typo in one door does not take the
//! others down.

use integration_tests::{config, door, Pair, Rig, Scratch};

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_door_0_8_would_mangle_is_disabled_and_the_others_run() {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("ssh", "7000,8000", &out, &["seq_timeout = 5s"]),
        door("typo", "7000,abc", &out, &[]),
    ];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    rig.daemon
        .expect_stderr("--> door typo disabled; the other doors run");
    rig.daemon
        .expect_stderr("seq_timeout = 5s: read as 5, the text after the number ignored");
    let client = rig.net.client_v4();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch.expect_lines("out", &format!("ssh {client}"), 1);
    rig.assert_opened("ssh", 1);
    assert_eq!(
        rig.daemon.log_count("typo"),
        1,
        "only the line saying it is disabled"
    );
}
