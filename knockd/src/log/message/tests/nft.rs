//! The `Nft_Set` doors' lines.

use super::*;

#[test]
fn nft_lines() {
    let source = Source::with_host(v4(), None);
    check(
        NftMessage::Added {
            source,
            door: "ssh",
            set: &"inet knockd ssh_v4",
            seconds: 30,
        },
        "198.18.1.2: ssh: added to nft set inet knockd ssh_v4 for 30 s",
        LOG | VERBOSE,
    );
    check(
        NftMessage::Rearmed {
            source,
            door: "ssh",
            set: &"inet knockd ssh_v4",
            seconds: 30,
        },
        "198.18.1.2: ssh: nft set inet knockd ssh_v4: element re-armed for 30 s",
        LOG | VERBOSE,
    );
    check(
        NftMessage::OpenFailed {
            source,
            door: "ssh",
            why: &"No such file or directory",
        },
        "198.18.1.2: ssh: error: the door did not open: No such file or directory",
        LOG | STDERR,
    );
    check(
        NftMessage::SetCreated {
            set: &"inet knockd ssh_v4",
        },
        "created nft set inet knockd ssh_v4",
        LOG | VERBOSE,
    );
    check(
        NftMessage::DoorUnusable {
            door: "ssh",
            why: &"set ssh_v4 has another key type",
        },
        "ssh: error: set ssh_v4 has another key type; the door opens nothing until this is fixed",
        LOG | STDERR,
    );
}
