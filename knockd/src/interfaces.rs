//! The capture interface as knockd sees it: its own addresses (0.8's `local IP`
//! list) and whether the host's own knocks show on it.

use std::io;
use std::net::IpAddr;

/// Every IPv4 address of `interface`, and every IPv6 address unless
/// `ipv4_only`, in the order the kernel reports them. IPv6 scope ids are
/// dropped (0.8 cuts the `%iface` suffix). An unknown interface, or `any`,
/// has no addresses.
pub fn local_addresses(interface: &str, ipv4_only: bool) -> io::Result<Vec<IpAddr>> {
    let addresses = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    Ok(addresses
        .filter(|entry| entry.interface_name == interface)
        .filter_map(|entry| {
            let address = entry.address?;
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .filter(|address| !ipv4_only || address.is_ipv4())
        .collect())
}

/// The names of the host's interfaces, each once, in the kernel's order.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Ok(addresses) = nix::ifaddrs::getifaddrs() {
        for entry in addresses {
            if !names.contains(&entry.interface_name) {
                names.push(entry.interface_name);
            }
        }
    }
    names
}

/// Whether knocks on `interface` may come from the host itself: a loopback
/// interface, or `any`, which also sees loopback traffic.
pub fn sees_the_host_itself(interface: &str) -> bool {
    interface == "any"
        || nix::ifaddrs::getifaddrs().is_ok_and(|mut addresses| {
            addresses.any(|entry| {
                entry.interface_name == interface
                    && entry
                        .flags
                        .contains(nix::net::if_::InterfaceFlags::IFF_LOOPBACK)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")] // Linux calls loopback `lo`
    fn loopback_has_127_0_0_1() {
        let addresses = local_addresses("lo", false).unwrap();
        assert!(
            addresses.contains(&"127.0.0.1".parse().unwrap()),
            "{addresses:?}"
        );
    }

    #[test]
    #[cfg(target_os = "linux")] // Linux calls loopback `lo`
    fn ipv4_only_keeps_only_ipv4() {
        let all = local_addresses("lo", false).unwrap();
        let v4 = local_addresses("lo", true).unwrap();
        assert!(v4.iter().all(IpAddr::is_ipv4));
        let expected: Vec<IpAddr> = all.into_iter().filter(IpAddr::is_ipv4).collect();
        assert_eq!(v4, expected);
    }

    #[test]
    #[cfg(target_os = "linux")] // Linux calls loopback `lo`
    fn loopback_and_any_see_the_host_itself() {
        assert!(sees_the_host_itself("lo"));
        assert!(sees_the_host_itself("any"));
        assert!(!sees_the_host_itself("nosuchif0"));
    }

    #[test]
    #[cfg(target_os = "linux")] // Linux calls loopback `lo`
    fn interface_names_include_loopback_once() {
        let names = names();
        assert_eq!(names.iter().filter(|n| *n == "lo").count(), 1, "{names:?}");
    }

    #[test]
    fn unknown_interfaces_and_any_have_no_addresses() {
        assert!(local_addresses("nosuchif0", false).unwrap().is_empty());
        assert!(local_addresses("any", false).unwrap().is_empty());
    }
}
