//! The netlink path against the running kernel, in a network namespace of
//! the test thread's own (a namespace is a thread's attribute; it goes when
//! the thread ends): prefixes in interval sets, IPv6, re-arming and
//! deleting, which the end-to-end tests reach only through single addresses.

use std::time::Duration;

use knockd_core::nft::{SetRef, Table};
use knockd_core::sources::Cidr;

use super::NftDoors;
use crate::log::{LogSettings, Logger};

/// Runs `test` on a thread in a fresh network namespace.
fn in_own_namespace(test: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET): run as root");
        test();
    })
    .join()
    .expect("the test thread");
}

fn shown(nft: &mut NftDoors, set: &SetRef) -> Vec<(String, Duration)> {
    let elements = nft.elements(set).expect("the dump");
    (elements.into_iter())
        .map(|e| (e.element.to_string(), e.expires.expect("a timeout")))
        .collect()
}

#[test]
#[ignore = "needs root: a network namespace of its own"]
fn prefixes_live_in_interval_sets_and_are_rearmed_and_deleted() {
    in_own_namespace(|| {
        let table = Table::parse("inet knockd").unwrap();
        let mut nft = NftDoors::new(Some(&table));
        let mut log = Logger::new(&LogSettings::default());
        for (ipv6, addr, prefix, text) in [
            (false, "198.18.5.77", 24, "198.18.5.0/24"),
            (true, "fd00::1:2", 64, "fd00::/64"),
        ] {
            let set = SetRef::new(&table, "net", ipv6, true);
            nft.ensure(&set, &mut log).expect("created");
            let element = Cidr::of(addr.parse().unwrap(), prefix);
            let timeout = Duration::from_secs(30);
            nft.add(&set, &element, timeout, false).expect("added");
            let first = shown(&mut nft, &set);
            assert_eq!(first.len(), 1, "{first:?}");
            assert_eq!(first[0].0, text);
            assert!(first[0].1 <= timeout && first[0].1 > Duration::from_secs(25));
            nft.add(&set, &element, Duration::from_secs(90), true)
                .expect("re-armed");
            let rearmed = shown(&mut nft, &set);
            assert!(rearmed[0].1 > Duration::from_secs(80), "{rearmed:?}");
            let closed = nft.close_in(&set, element.network()).expect("deleted");
            assert!(closed);
            assert_eq!(shown(&mut nft, &set), []);
        }
    });
}

#[test]
#[ignore = "needs root: a network namespace of its own"]
fn a_host_element_expires_in_the_kernel() {
    in_own_namespace(|| {
        let table = Table::parse("ip knockd").unwrap();
        let mut nft = NftDoors::new(Some(&table));
        let mut log = Logger::new(&LogSettings::default());
        let set = SetRef::new(&table, "ssh", false, false);
        nft.ensure(&set, &mut log).expect("created");
        let element = Cidr::host("198.18.0.9".parse().unwrap());
        nft.add(&set, &element, Duration::from_millis(300), false)
            .expect("added");
        assert_eq!(shown(&mut nft, &set).len(), 1);
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(shown(&mut nft, &set), []);
    });
}
