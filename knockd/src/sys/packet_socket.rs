//! Linux packet sockets, for a capture read without libpcap: an interface's
//! hardware type, binding a socket to the interface, asking for auxiliary
//! data, and the socket's counters, which neither socket2 nor nix wraps;
//! and for their tests, a tun interface.

use std::ffi::c_char;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

/// An interface request naming `interface`, the rest zeroes; `ENODEV` for
/// a name no interface can have.
fn request_for(interface: &str) -> io::Result<libc::ifreq> {
    let name = interface.as_bytes();
    if name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    let mut request = libc::ifreq {
        ifr_name: [0; libc::IFNAMSIZ],
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_ifindex: 0 },
    };
    for (to, from) in request.ifr_name.iter_mut().zip(name) {
        *to = *from as c_char;
    }
    Ok(request)
}

/// The hardware type (`ARPHRD_*`) of the interface named `interface`,
/// asked with `SIOCGIFHWADDR` through `socket`, any socket: it names the
/// interface in the socket's network namespace, as binding it will.
pub fn hardware_type(socket: BorrowedFd<'_>, interface: &str) -> io::Result<u16> {
    let mut request = request_for(interface)?;
    // SAFETY: SIOCGIFHWADDR reads the interface name from `request`,
    // NUL-terminated since the name is shorter than IFNAMSIZ and the rest
    // is zeroes, and writes a `struct sockaddr` into its union, which has
    // room for it; `request` outlives the call and `socket` is borrowed, so
    // open.
    let status = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut request) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl succeeded, so it wrote the hardware address into
    // the union, whose family field is the hardware type.
    Ok(unsafe { request.ifr_ifru.ifru_hwaddr.sa_family })
}

/// Binds the packet socket `socket` to the interface of index `index`, for
/// frames of every protocol (`ETH_P_ALL`): from then on it receives what
/// the interface receives and sends, and nothing from other interfaces.
pub fn bind_to_interface(socket: BorrowedFd<'_>, index: u32) -> io::Result<()> {
    let address = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
        sll_ifindex: i32::try_from(index)
            .map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `address` is a whole `sockaddr_ll` and the length given is its
    // size; bind only reads it, during the call. `socket` is borrowed, so
    // open.
    let status = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::addr_of!(address).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the packet socket `socket` for each frame's auxiliary data
/// (`PACKET_AUXDATA`: the original length, the VLAN tag taken out of it).
pub fn enable_auxdata(socket: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: PACKET_AUXDATA reads an int of the length given from `on`,
    // which outlives the call; `socket` is borrowed, so open.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_AUXDATA,
            std::ptr::addr_of!(on).cast::<libc::c_void>(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The packet socket's counters (`PACKET_STATISTICS`) since they were last
/// read: reading them sets the kernel's to zero.
pub fn statistics(socket: BorrowedFd<'_>) -> io::Result<libc::tpacket_stats> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: PACKET_STATISTICS writes at most `len` bytes, a `struct
    // tpacket_stats` on a socket without a TPACKET_V3 ring, into `stats`,
    // and the length written into `len`; both outlive the call. `socket` is
    // borrowed, so open.
    let status = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            std::ptr::addr_of_mut!(stats).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stats)
}

/// Creates the tun interface `name` (no packet information header) in the
/// calling thread's network namespace, for as long as the returned
/// descriptor is open: written IP packets come in on the interface, and it
/// has a carrier, so packets routed to it go out.
#[cfg(test)]
pub fn tun(name: &str) -> io::Result<std::os::fd::OwnedFd> {
    let device = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut request = request_for(name)?;
    request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads the NUL-terminated name and the flags from
    // `request` (see `request_for`) and may write the name back into it;
    // `request` outlives the call, and `device` is open.
    let status = unsafe { libc::ioctl(device.as_raw_fd(), libc::TUNSETIFF as _, &mut request) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(device.into())
}
