//! Which ports local services listen on, for `knockd --check`'s warning
//! about a knock on a service's port, and the reader of Linux's `/proc/net`
//! socket tables that tells. The daemon reads the files; other systems have
//! no such table, and there the answer is [`Listening::Unknown`].

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use knock_proto::{Knock, Protocol};

/// The knocks that would reach a local service, or why that is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listening {
    /// Every (protocol, port) a non-loopback socket listens on.
    Known(HashSet<Knock>),
    /// The sockets could not be read; the reason.
    Unknown(String),
}

impl Listening {
    /// Whether a local service listens where `knock` goes; `false` when unknown.
    pub fn serves(&self, knock: Knock) -> bool {
        match self {
            Listening::Known(knocks) => knocks.contains(&knock),
            Listening::Unknown(_) => false,
        }
    }
}

/// The socket state that means a listening TCP socket.
const TCP_LISTEN: &str = "0A";
/// The state of an unconnected UDP socket, as a service's is (a connected one
/// is a client's).
const UDP_UNCONNECTED: &str = "07";

/// The (protocol, port) of each listening socket of one `/proc/net` table
/// (`tcp`, `tcp6`, `udp` or `udp6`, given as `protocol`)
/// that is not bound to a loopback address (no knock from the wire reaches
/// those). Lines that do not parse are skipped.
pub fn proc_net_table(table: &str, protocol: Protocol) -> impl Iterator<Item = Knock> + '_ {
    let listening = match protocol {
        Protocol::Tcp => TCP_LISTEN,
        Protocol::Udp => UDP_UNCONNECTED,
    };
    table.lines().skip(1).filter_map(move |line| {
        let mut fields = line.split_ascii_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        if state != listening {
            return None;
        }
        let (address, port) = local.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        if address_of(address)?.is_loopback() {
            return None;
        }
        Some(Knock::new(port, protocol))
    })
}

/// An address as `/proc/net` prints it: 32-bit words in hexadecimal, each the
/// network-order bytes read as a native-endian integer.
fn address_of(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| {
        let digits = hex.get(i * 8..i * 8 + 8)?;
        u32::from_str_radix(digits, 16).ok().map(u32::to_ne_bytes)
    };
    match hex.len() {
        8 => Some(Ipv4Addr::from(word(0)?).into()),
        32 => {
            let mut bytes = [0; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some(Ipv6Addr::from(bytes).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hex` of an address as this machine's kernel would print it.
    fn hex(bytes: &[u8]) -> String {
        bytes
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    #[test]
    fn listening_sockets_off_loopback_are_found() {
        let any4 = hex(&[0, 0, 0, 0]);
        let lo4 = hex(&[127, 0, 0, 1]);
        let lan4 = hex(&[198, 18, 0, 1]);
        let tcp = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: {any4}:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n\
             \x20  1: {lo4}:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2\n\
             \x20  2: {lan4}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3\n\
             \x20  3: {lan4}:0016 {lan4}:D431 01 00000000:00000000 00:00000000 00000000     0        0 4\n\
             garbage\n"
        );
        let found: Vec<Knock> = proc_net_table(&tcp, Protocol::Tcp).collect();
        assert_eq!(
            found,
            [
                Knock::new(22, Protocol::Tcp),
                Knock::new(8080, Protocol::Tcp)
            ]
        );
    }

    #[test]
    fn udp_services_are_unconnected_sockets_and_ipv6_is_read() {
        let any6 = hex(&[0; 16]);
        let lo6 = hex(&Ipv6Addr::LOCALHOST.octets());
        let udp6 = format!(
            "  sl  local_address                         remote_address                        st\n\
             \x20 0: {any6}:0035 {any6}:0000 07 0\n\
             \x20 1: {lo6}:0202 {any6}:0000 07 0\n\
             \x20 2: {any6}:D000 {any6}:0035 01 0\n"
        );
        let found: Vec<Knock> = proc_net_table(&udp6, Protocol::Udp).collect();
        assert_eq!(found, [Knock::new(53, Protocol::Udp)]);
    }

    #[test]
    fn addresses_read_back_in_network_order() {
        assert_eq!(
            address_of(&hex(&[198, 18, 0, 1])),
            Some("198.18.0.1".parse().unwrap())
        );
        let v6: Ipv6Addr = "fd00::1:2".parse().unwrap();
        assert_eq!(address_of(&hex(&v6.octets())), Some(v6.into()));
        assert_eq!(address_of("XYZ"), None);
        assert_eq!(address_of("0000000G"), None);
    }

    #[test]
    fn unknown_listeners_serve_nothing() {
        let unknown = Listening::Unknown("no".into());
        assert!(!unknown.serves(Knock::new(22, Protocol::Tcp)));
        let known = Listening::Known([Knock::new(22, Protocol::Tcp)].into());
        assert!(known.serves(Knock::new(22, Protocol::Tcp)));
        assert!(!known.serves(Knock::new(22, Protocol::Udp)));
    }
}
