//! Interop with Debian's knockd/knock 0.8: the core scenarios with 0.8 on one side and ours on the
//! other, plus Debian on both sides, which checks the harness itself against the reference.

mod common;

use common::scenario_tests;
use integration_tests::Pair;

// Each test needs root and the private copy of Debian's knockd 0.8 that `ci/setup` extracts
// (never /usr/sbin/knockd, which is ours once our package is installed); run without them,
// it fails saying so.

// Debian knockd + Debian knock: validates namespaces, readiness, log waits, sync and frames.
scenario_tests! {
    "needs root, network namespaces and Debian's knockd 0.8 (sudo ci/setup): run as root with --ignored",
    Pair::debian() =>
    harness_basic_open: common::basic_open,
    harness_mixed_protocols: common::mixed_protocols,
    harness_wrong_port_resets: common::wrong_port_resets,
    harness_ipv6_commands: common::ipv6_commands,
    harness_mismatching_flags_ignored: common::mismatching_flags_ignored,
    harness_duplicate_knock_resets: common::duplicate_knock_resets,
    harness_target_door: common::target_door,
    harness_only_ipv4: common::only_ipv4,
}

// Debian knockd 0.8 as the server, our knock as the client.
scenario_tests! {
    "needs root, network namespaces and Debian's knockd 0.8 (sudo ci/setup): run as root with --ignored",
    Pair::debian_server() =>
    debian_knockd_basic_open: common::basic_open,
    debian_knockd_mixed_protocols: common::mixed_protocols,
    debian_knockd_wrong_port_resets: common::wrong_port_resets,
    debian_knockd_ipv6_commands: common::ipv6_commands,
    debian_knockd_negated_flags: common::negated_flags,
    debian_knockd_target_door: common::target_door,
    debian_knockd_only_ipv4: common::only_ipv4,
}

// Our knockd as the server, Debian's knock 0.8 as the client.
scenario_tests! {
    "needs root, network namespaces and Debian's knockd 0.8 (sudo ci/setup): run as root with --ignored",
    Pair::debian_client() =>
    debian_knock_basic_open: common::basic_open,
    debian_knock_mixed_protocols: common::mixed_protocols,
    debian_knock_wrong_port_resets: common::wrong_port_resets,
    debian_knock_ipv6_commands: common::ipv6_commands,
    debian_knock_target_door: common::target_door,
    debian_knock_only_ipv4: common::only_ipv4,
}
