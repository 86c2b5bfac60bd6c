//! Which ports local services listen on, for `--check`'s warning about a
//! knock on a service's port. Linux lists its sockets in `/proc/net`
//! (read by [`knockd_core::listening`]); elsewhere the question cannot be
//! answered.

#[cfg(target_os = "linux")]
use knock_proto::Protocol;
pub use knockd_core::listening::Listening;

/// Reads this network namespace's listening sockets.
#[cfg(target_os = "linux")]
pub fn read() -> Listening {
    let mut knocks = std::collections::HashSet::new();
    for (file, protocol) in [
        ("/proc/net/tcp", Protocol::Tcp),
        ("/proc/net/tcp6", Protocol::Tcp),
        ("/proc/net/udp", Protocol::Udp),
        ("/proc/net/udp6", Protocol::Udp),
    ] {
        match std::fs::read_to_string(file) {
            Ok(table) => knocks.extend(knockd_core::listening::proc_net_table(&table, protocol)),
            // No IPv6 in this kernel: no IPv6 socket either.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.ends_with('6') => {}
            Err(e) => {
                return Listening::Unknown(format!("{file}: {}", knock_proto::io_message(&e)))
            }
        }
    }
    Listening::Known(knocks)
}

/// Other systems have no `/proc/net` to read.
#[cfg(not(target_os = "linux"))]
pub fn read() -> Listening {
    Listening::Unknown("only Linux lists its sockets in /proc/net".to_owned())
}
