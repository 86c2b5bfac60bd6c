//! The arm64 client, cross-built by `ci/cross-linux` and run under qemu-aarch64, knocks a
//! native knockd across the veth pair: what an arm64 router or Raspberry Pi sends, the
//! daemon recognises, byte for byte.

use std::path::Path;

use integration_tests::{cross_binary, require_tools, Pair, Rig};

#[test]
#[ignore = "needs root, network namespaces, qemu-aarch64 and the arm64 knock of `ci/cross-linux --build`: run as root with --ignored"]
fn the_arm64_client_opens_a_native_door() {
    require_tools(&["qemu-aarch64"]);
    let knock = cross_binary("aarch64-unknown-linux-gnu", "knock");
    let rig = Rig::one_door(
        &Pair::ours(),
        "arm64",
        "7000,8000:udp,9000",
        &["tcpflags = syn"],
        &[],
    );
    let client = rig.net.client_v4();
    let server = rig.server_v4();
    let knock = knock.to_str().expect("the target directory is UTF-8");
    // qemu-aarch64 finds the arm64 loader and libc (libc6:arm64) at the host's paths.
    rig.net.knock(
        Path::new("qemu-aarch64"),
        &[knock, &server, "7000", "8000:udp", "9000"],
    );
    rig.scratch
        .expect_lines("out", &format!("arm64 {client}"), 1);
    for stage in 1..=3 {
        rig.daemon
            .expect_log(&format!("{client}: arm64: Stage {stage}"));
    }
    rig.daemon
        .expect_log(&format!("{client}: arm64: OPEN SESAME"));
}
