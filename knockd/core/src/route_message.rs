//! Routing-socket (`PF_ROUTE`) messages of FreeBSD, OpenBSD, NetBSD and
//! macOS: which of them say that the host's addresses or interfaces changed,
//! so that the daemon reads its addresses again on those and not on every
//! route the kernel adds or drops.
//!
//! Every message on the four systems starts the same way: `u_short
//! rtm_msglen` (the whole message, in the host's byte order), `u_char
//! rtm_version`, `u_char rtm_type` (`rt_msghdr`, `ifa_msghdr`,
//! `if_msghdr` and `if_announcemsghdr` alike). What follows differs per
//! system and is not read here; what differs in that prefix (the version and
//! the type numbers) is a [`Layout`]. The daemon checks the layout of the
//! system it is built for against libc's constants at compile time.

/// The version and type numbers of one system's routing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `RTM_VERSION`: messages of another version are not understood.
    pub version: u8,
    /// The types that say an address or interface came, went or changed:
    /// `RTM_NEWADDR`, `RTM_DELADDR`, `RTM_IFINFO`, `RTM_IFANNOUNCE` where it
    /// exists, and OpenBSD's `RTM_DESYNC` (messages were lost).
    pub address_types: &'static [u8],
}

/// FreeBSD's `<net/route.h>`.
pub const FREEBSD: Layout = Layout {
    version: 5,
    address_types: &[0x0c, 0x0d, 0x0e, 0x11],
};

/// OpenBSD's `<net/route.h>`: `RTM_IFANNOUNCE` is 0x0f, `RTM_DESYNC` 0x10.
pub const OPENBSD: Layout = Layout {
    version: 5,
    address_types: &[0x0c, 0x0d, 0x0e, 0x0f, 0x10],
};

/// NetBSD's `<net/route.h>` (version 4, other numbers than the rest).
pub const NETBSD: Layout = Layout {
    version: 4,
    address_types: &[0x16, 0x17, 0x14, 0x10],
};

/// macOS's `<net/route.h>`: no `RTM_IFANNOUNCE`.
pub const MACOS: Layout = Layout {
    version: 5,
    address_types: &[0x0c, 0x0d, 0x0e],
};

/// The bytes every message starts with: length (2), version, type.
const PREFIX: usize = 4;

impl Layout {
    /// Whether this layout is `version` with exactly `types` (libc's
    /// constants, as the C headers declare them), in this order; for the
    /// daemon's compile-time check.
    pub const fn is(&self, version: i32, types: &[i32]) -> bool {
        if self.version as i32 != version || self.address_types.len() != types.len() {
            return false;
        }
        let mut i = 0;
        while i < types.len() {
            if self.address_types[i] as i32 != types[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Whether `read` (what one read from a routing socket returned: one or
    /// more whole messages) says the host's addresses may have changed: a
    /// message of an address type, or one this layout cannot tell (another
    /// version, or a length that does not fit: a truncated read lost its
    /// end). Routes coming and going say nothing.
    pub fn addresses_changed(&self, read: &[u8]) -> bool {
        let mut rest = read;
        while !rest.is_empty() {
            let Some(&[len_lo, len_hi, version, kind]) = rest.get(..PREFIX) else {
                return true;
            };
            let len = usize::from(u16::from_ne_bytes([len_lo, len_hi]));
            if len < PREFIX || len > rest.len() || version != self.version {
                return true;
            }
            if self.address_types.contains(&kind) {
                return true;
            }
            rest = &rest[len..];
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `RTM_ADD` and `RTM_DELETE`, the same on the four systems.
    const RTM_ADD: u8 = 0x1;
    const RTM_DELETE: u8 = 0x2;

    /// A message as the kernel writes it: the common prefix, then `header`
    /// bytes of the type's own header (zeros, with interface index 7 in the
    /// two bytes at offset `index_at` of the message), then a `sockaddr_in`
    /// of 198.18.0.1.
    fn message(layout: &Layout, kind: u8, header: usize, index_at: usize) -> Vec<u8> {
        let sockaddr_in = [16, 2, 0, 0, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let len = PREFIX + header + sockaddr_in.len();
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
        bytes.extend_from_slice(&[layout.version, kind]);
        bytes.resize(PREFIX + header, 0);
        bytes[index_at..index_at + 2].copy_from_slice(&7u16.to_ne_bytes());
        bytes.extend_from_slice(&sockaddr_in);
        bytes
    }

    /// Per system: its layout, the sizes after the prefix of `rt_msghdr` and
    /// of `ifa_msghdr` on x86_64, and the offset of the latter's
    /// `ifam_index`.
    fn systems() -> [(&'static str, Layout, usize, usize, usize); 4] {
        [
            ("freebsd", FREEBSD, 148, 16, 12),
            ("openbsd", OPENBSD, 92, 20, 6),
            ("netbsd", NETBSD, 132, 28, 4),
            ("macos", MACOS, 88, 16, 12),
        ]
    }

    #[test]
    fn routes_coming_and_going_change_no_address() {
        for (name, layout, rt_header, _, _) in systems() {
            let mut read = message(&layout, RTM_ADD, rt_header, 4);
            read.extend(message(&layout, RTM_DELETE, rt_header, 4));
            assert!(!layout.addresses_changed(&read), "{name}");
            assert!(!layout.addresses_changed(&[]), "{name}");
        }
    }

    #[test]
    fn every_address_and_interface_type_is_a_change() {
        for (name, layout, rt_header, ifa_header, index_at) in systems() {
            for &kind in layout.address_types {
                let mut read = message(&layout, RTM_ADD, rt_header, 4);
                read.extend(message(&layout, kind, ifa_header, index_at));
                assert!(layout.addresses_changed(&read), "{name}: type {kind:#x}");
            }
        }
    }

    #[test]
    fn the_systems_number_their_types_differently() {
        // NetBSD's RTM_NEWADDR is 0x16; 0x0c there is RTM_RESOLVE.
        let freebsd_new_address = message(&FREEBSD, 0x0c, 16, 12);
        let mut as_netbsd = freebsd_new_address.clone();
        as_netbsd[2] = NETBSD.version;
        assert!(!NETBSD.addresses_changed(&as_netbsd));
        // OpenBSD's RTM_IFANNOUNCE is macOS's RTM_NEWMADDR (multicast).
        let announce = message(&OPENBSD, 0x0f, 20, 6);
        assert!(OPENBSD.addresses_changed(&announce));
        assert!(!MACOS.addresses_changed(&announce));
    }

    #[test]
    fn what_cannot_be_read_counts_as_a_change() {
        let route = message(&FREEBSD, RTM_ADD, 148, 4);
        // Another version of the messages.
        let mut other_version = route.clone();
        other_version[2] = 4;
        assert!(FREEBSD.addresses_changed(&other_version));
        // Truncated: the length says more than was read, or the prefix is cut.
        assert!(FREEBSD.addresses_changed(&route[..route.len() - 1]));
        assert!(FREEBSD.addresses_changed(&route[..3]));
        // A length shorter than the prefix would never move on.
        let mut too_short = route;
        too_short[..2].copy_from_slice(&3u16.to_ne_bytes());
        assert!(FREEBSD.addresses_changed(&too_short));
    }

    #[test]
    fn layouts_check_against_the_headers_numbers() {
        assert!(FREEBSD.is(5, &[0x0c, 0x0d, 0x0e, 0x11]));
        assert!(!FREEBSD.is(4, &[0x0c, 0x0d, 0x0e, 0x11]));
        assert!(!FREEBSD.is(5, &[0x0c, 0x0d, 0x0e]));
        assert!(!NETBSD.is(4, &[0x0c, 0x0d, 0x0e, 0x0f]));
    }
}
