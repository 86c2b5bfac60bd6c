//! What `--check` says of `Open_Prefix4`/`Open_Prefix6`: the network a
//! sample knock would open the door for, as the commands get it, and a
//! warning for a prefix that opens a door to many hosts.

use std::net::IpAddr;

use knockd_core::config::open_prefix::{WIDE_V4, WIDE_V6};
use knockd_core::config::Door;

/// The sample IPv4 knocker.
const SAMPLE_V4: [u8; 4] = [198, 51, 100, 7];
/// The sample IPv6 knocker.
const SAMPLE_V6: [u16; 8] = [0x2001, 0xdb8, 1, 2, 0xa, 0xb, 0xc, 0xd];

/// `24 (a knock from 198.51.100.7 opens 198.51.100.0/24: %NET% ...)`:
/// `door`'s prefix length for one family, with what a knock from that
/// family's sample address would give its commands (an `Nft_Set` door's
/// set: the network alone).
pub(super) fn example(door: &Door, ipv6: bool) -> String {
    let knocker = if ipv6 {
        IpAddr::from(SAMPLE_V6)
    } else {
        IpAddr::from(SAMPLE_V4)
    };
    let network = door.open_prefix.network(knocker);
    let prefix = network.prefix();
    if door.nft_set.is_some() {
        // Such a door runs no command: the network is what enters its set.
        return format!("{prefix} (a knock from {knocker} opens {network})");
    }
    format!(
        "{prefix} (a knock from {knocker} opens {network}: %IP% {knocker}, %NET% {network}, %PREFIX% {prefix})"
    )
}

/// One warning for each door whose prefix opens it to many hosts (shorter
/// than /24 for IPv4, /48 for IPv6).
pub(super) fn warnings<'a>(doors: impl IntoIterator<Item = &'a Door>) -> Vec<String> {
    doors
        .into_iter()
        .flat_map(|door| {
            door.open_prefix.wide().into_iter().map(move |wide| {
                format!(
                    "door {}: {wide} opens the door for every host of the knocker's network \
                     (shorter than /{WIDE_V4} for IPv4 or /{WIDE_V6} for IPv6 is many hosts); \
                     a longer prefix lets fewer in",
                    door.name
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use knockd_core::SequenceSource;

    fn door(v4: Option<u8>, v6: Option<u8>) -> Door {
        let mut door = Door::new("ssh", SequenceSource::OneTime("/x".into()));
        door.open_prefix.v4 = v4;
        door.open_prefix.v6 = v6;
        door
    }

    #[test]
    fn the_example_shows_what_the_commands_get() {
        let d = door(Some(24), Some(64));
        assert_eq!(
            example(&d, false),
            "24 (a knock from 198.51.100.7 opens 198.51.100.0/24: \
             %IP% 198.51.100.7, %NET% 198.51.100.0/24, %PREFIX% 24)"
        );
        assert!(example(&d, true)
            .starts_with("64 (a knock from 2001:db8:1:2:a:b:c:d opens 2001:db8:1:2::/64"));
    }

    #[test]
    fn only_wide_prefixes_are_warned_about() {
        let doors = [door(Some(24), Some(48)), door(Some(16), Some(32))];
        let warnings = warnings(&doors);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("door ssh: Open_Prefix4 /16 opens"));
        assert!(warnings[1].starts_with("door ssh: Open_Prefix6 /32 opens"));
    }
}
