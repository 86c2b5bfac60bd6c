//! The capture interface as knockd sees it: its own addresses (0.8's `local IP`
//! list) and whether the host's own knocks show on it.

use std::io;
use std::net::IpAddr;

/// Every IPv4 address of `interface`, and every IPv6 address unless
/// `ipv4_only`, in the order the kernel reports them. IPv6 scope ids are
/// dropped (0.8 cuts the `%iface` suffix). `any` has the addresses of every
/// interface, so that a packet the host forwards (to an address not its
/// own) is no knock there either; an unknown interface has none.
pub fn local_addresses(interface: &str, ipv4_only: bool) -> io::Result<Vec<IpAddr>> {
    let addresses = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    let all = addresses
        .filter(|entry| interface == "any" || entry.interface_name == interface)
        .filter_map(|entry| {
            let address = entry.address?;
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .filter(|address| !ipv4_only || address.is_ipv4());
    Ok(distinct(all))
}

/// The addresses of every interface of `interfaces`, each once: the
/// destinations of knocks when knockd listens on several.
pub fn addresses_of_all(interfaces: &[String], ipv4_only: bool) -> Vec<IpAddr> {
    distinct(
        interfaces
            .iter()
            .flat_map(|interface| local_addresses(interface, ipv4_only).unwrap_or_default()),
    )
}

/// `addresses` in order, each once: an address on several interfaces is
/// one destination.
pub fn distinct(addresses: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut all: Vec<IpAddr> = Vec::new();
    for address in addresses {
        if !all.contains(&address) {
            all.push(address);
        }
    }
    all
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

/// The interface of the IPv4 default route, if there is one (Linux only).
pub fn default_route_interface() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        let table = std::fs::read_to_string("/proc/net/route").ok()?;
        default_route_in(&table)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The interface of the first default route (destination and mask 0, up) in
/// a `/proc/net/route` table.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn default_route_in(table: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [iface, destination, _gateway, flags, _, _, _, mask, ..] = fields.as_slice() else {
            return None;
        };
        let up = u16::from_str_radix(flags, 16).is_ok_and(|f| f & 1 != 0);
        (*destination == "00000000" && *mask == "00000000" && up).then(|| (*iface).to_owned())
    })
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
    fn the_default_route_is_the_zero_route_that_is_up() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     ens3\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     wg0\t00000000\t00000000\t0000\t0\t0\t0\t00000000\t0\t0\t0\n\
                     enp1s0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_in(table).as_deref(), Some("enp1s0"));
        assert_eq!(default_route_in("Iface\tDestination\n"), None);
    }

    #[test]
    fn unknown_interfaces_have_no_addresses_and_any_has_every_one() {
        assert!(local_addresses("nosuchif0", false).unwrap().is_empty());
        let every = local_addresses("any", false).unwrap();
        for name in names() {
            for address in local_addresses(&name, false).unwrap() {
                assert!(every.contains(&address), "{name}: {address} in {every:?}");
            }
        }
        let mut unique = every.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), every.len(), "{every:?}");
    }
}
