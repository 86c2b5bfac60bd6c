//! Two network namespaces, a server and a client, joined by a veth pair.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::env::require_namespaces;
use crate::frame::{Mac, Packet};
use crate::inject::send_frames;
use crate::process::{run_bounded, run_ok, try_run_bounded};
use crate::wait::WAIT;

/// Numbers the nets of this process; with the pid it makes names unique across parallel tests.
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// Serialises namespace creation: the first `ip netns add` sets up /run/netns and racing it is unreliable.
static CREATE: Mutex<()> = Mutex::new(());

/// The server (`.1`) and client (`.2`) hosts of 198.18.X.0/24 and fd00:X::/64, in their own namespaces.
///
/// Dropping it kills every process still inside the two namespaces and deletes them,
/// also when the test failed.
#[derive(Debug)]
pub struct Net {
    server_ns: String,
    client_ns: String,
    server_iface: String,
    client_iface: String,
    server_mac: Mac,
    client_mac: Mac,
    subnet: u8,
}

impl Net {
    /// Creates the namespaces, the veth pair and the addresses (IPv6 without duplicate address detection).
    ///
    /// Fails the test, saying what to do, without root or `ip` ([`require_namespaces`]).
    pub fn new() -> Net {
        require_namespaces();
        let pid = std::process::id();
        let n = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        // Addresses live inside private namespaces, so they only need to be distinct for readable logs.
        let subnet = 1 + ((pid.wrapping_mul(31).wrapping_add(n)) % 250) as u8;
        let tag = format!(
            "{:x}",
            ((u64::from(pid) << 8) | u64::from(n & 0xff)) & 0xff_ffff_ffff
        );
        let id = n.to_be_bytes();
        let pid_bytes = pid.to_be_bytes();
        let mac = |host: u8| [0x02, 0x6b, pid_bytes[2], pid_bytes[3], id[3], host];
        let net = Net {
            server_ns: format!("knit-{pid}-{n}-srv"),
            client_ns: format!("knit-{pid}-{n}-cli"),
            // Interface names are at most 15 bytes: 3 + at most 10 hex digits.
            server_iface: format!("kis{tag}"),
            client_iface: format!("kic{tag}"),
            server_mac: mac(1),
            client_mac: mac(2),
            subnet,
        };
        {
            let _guard = CREATE
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            ip(&["netns", "add", &net.server_ns]);
            ip(&["netns", "add", &net.client_ns]);
        }
        net.configure();
        net
    }

    fn configure(&self) {
        let (server, client) = (&self.server_ns, &self.client_ns);
        ip(&[
            "-n",
            server,
            "link",
            "add",
            &self.server_iface,
            "address",
            &mac_text(self.server_mac),
            "type",
            "veth",
            "peer",
            "name",
            &self.client_iface,
            "address",
            &mac_text(self.client_mac),
            "netns",
            client,
        ]);
        for (ns, iface, host) in [
            (server, &self.server_iface, 1),
            (client, &self.client_iface, 2),
        ] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/24", self.host_v4(host)),
                "dev",
                iface,
            ]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/64", self.host_v6(host)),
                "dev",
                iface,
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", iface, "up"]);
        }
    }

    /// Deletes the veth pair, as when the server's interface is removed under a running server.
    pub fn delete_link(&self) {
        ip(&["-n", &self.server_ns, "link", "del", &self.server_iface]);
    }

    /// Creates the veth pair again after [`Net::delete_link`]: same names, MACs and addresses.
    pub fn recreate_link(&self) {
        self.configure();
    }

    /// Sets the server's veth administratively up or down (the client's end loses its carrier).
    pub fn set_server_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.server_ns,
            "link",
            "set",
            &self.server_iface,
            state,
        ]);
    }

    /// Name of the server namespace.
    pub fn server_ns(&self) -> &str {
        &self.server_ns
    }

    /// Name of the client namespace.
    pub fn client_ns(&self) -> &str {
        &self.client_ns
    }

    /// The server's veth interface (what knockd captures on).
    pub fn server_iface(&self) -> &str {
        &self.server_iface
    }

    /// The client's veth interface.
    pub fn client_iface(&self) -> &str {
        &self.client_iface
    }

    /// `198.18.X.host` in this net's /24.
    pub fn host_v4(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, host)
    }

    /// `fd00:X::host` in this net's /64.
    pub fn host_v6(&self, host: u8) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfd00,
            u16::from(self.subnet),
            0,
            0,
            0,
            0,
            0,
            u16::from(host),
        )
    }

    /// The server's IPv4 address, 198.18.X.1.
    pub fn server_v4(&self) -> Ipv4Addr {
        self.host_v4(1)
    }

    /// The server's IPv6 address, fd00:X::1.
    pub fn server_v6(&self) -> Ipv6Addr {
        self.host_v6(1)
    }

    /// The client's IPv4 address, 198.18.X.2.
    pub fn client_v4(&self) -> Ipv4Addr {
        self.host_v4(2)
    }

    /// The client's IPv6 address, fd00:X::2.
    pub fn client_v6(&self) -> Ipv6Addr {
        self.host_v6(2)
    }

    /// Adds 198.18.X.host to the client, a second knocker on the same wire; returns it.
    pub fn add_client_v4(&self, host: u8) -> Ipv4Addr {
        let addr = self.host_v4(host);
        ip(&[
            "-n",
            &self.client_ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &self.client_iface,
        ]);
        addr
    }

    /// Adds `fd00:X::host` to the client, a second address of its /64, and returns it. It is
    /// deprecated at once (`preferred_lft 0`), so the client's own connections and knocks keep
    /// coming from [`Net::client_v6`]; a program that binds to it still sends from it.
    pub fn add_client_v6(&self, host: u8) -> Ipv6Addr {
        let addr = self.host_v6(host);
        ip(&[
            "-n",
            &self.client_ns,
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            &self.client_iface,
            "nodad",
            "preferred_lft",
            "0",
        ]);
        addr
    }

    /// Makes the client deliver packets for `addr` to the server's MAC without asking ARP/ND,
    /// like traffic to a virtual IP the server does not own (what `Target` is for).
    pub fn route_to_server_mac(&self, addr: IpAddr) {
        let addr = addr.to_string();
        let mac = mac_text(self.server_mac);
        let iface = &self.client_iface;
        ip(&[
            "-n",
            &self.client_ns,
            "neigh",
            "replace",
            &addr,
            "lladdr",
            &mac,
            "dev",
            iface,
            "nud",
            "permanent",
        ]);
    }

    /// Runs a knock client in the client namespace; returns its output (exit code included).
    pub fn run_client(&self, client: &Path, args: &[&str]) -> Output {
        run_bounded(
            Command::new("ip")
                .args(["netns", "exec", &self.client_ns])
                .arg(client)
                .args(args),
            WAIT,
        )
    }

    /// Whether a TCP connection from the client's namespace to `target` (sent from `source`,
    /// one of the client's addresses, if given) completes within `seconds` (`nc -z`).
    pub fn client_connects(
        &self,
        target: SocketAddr,
        source: Option<IpAddr>,
        seconds: u32,
    ) -> bool {
        let (host, port, wait) = (
            target.ip().to_string(),
            target.port().to_string(),
            seconds.to_string(),
        );
        let source = source.map(|s| s.to_string());
        let mut args = vec!["-z", "-w", &wait];
        if let Some(source) = &source {
            args.extend(["-s", source]);
        }
        args.extend([host.as_str(), &port]);
        self.run_client(Path::new("nc"), &args).status.success()
    }

    /// Runs `program` with `args` in the server namespace (a firewall tool, say); returns its
    /// output (exit code included).
    pub fn run_server(&self, program: &str, args: &[&str]) -> Output {
        run_bounded(
            Command::new("ip")
                .args(["netns", "exec", &self.server_ns, program])
                .args(args),
            WAIT,
        )
    }

    /// A TCP listener on `address` in the server's namespace: a service a door guards.
    /// Namespaces are per thread, so a short-lived thread joins the server's to bind it; the
    /// socket stays there, and any thread may accept on it.
    pub fn listen_in_server(&self, address: SocketAddr) -> TcpListener {
        use nix::sched::{setns, CloneFlags};
        let ns = Path::new("/run/netns").join(&self.server_ns);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(ns)?;
            setns(&ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            TcpListener::bind(address)
        })
        .join()
        .expect("listener thread")
        .unwrap_or_else(|e| panic!("cannot listen on {address} in the server's namespace: {e}"))
    }

    /// Runs a knock client in the client namespace and fails the test unless it exits 0.
    pub fn knock(&self, client: &Path, args: &[&str]) -> Output {
        let output = self.run_client(client, args);
        assert!(
            output.status.success(),
            "{} {args:?} exited with {}: {}",
            client.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Sends hand-built packets, in order, from the client's veth to the server's MAC.
    pub fn send(&self, packets: &[Packet]) {
        let frames: Vec<Vec<u8>> = packets
            .iter()
            .map(|packet| packet.ethernet_frame(self.client_mac, self.server_mac))
            .collect();
        self.send_frames(&frames);
    }

    /// Sends raw (possibly malformed) frames, in order, out of the client's veth.
    pub fn send_frames(&self, frames: &[Vec<u8>]) {
        send_frames(&self.client_ns, &self.client_iface, frames)
            .unwrap_or_else(|e| panic!("cannot send frames on {}: {e}", self.client_iface));
    }

    /// The client's MAC address (source of hand-built frames).
    pub fn client_mac(&self) -> Mac {
        self.client_mac
    }

    /// The server's MAC address (destination of hand-built frames).
    pub fn server_mac(&self) -> Mac {
        self.server_mac
    }

    /// Kills every process left in `ns`; a few rounds because a dying shell may just have forked.
    fn kill_processes(ns: &str) {
        for _ in 0..5 {
            let Ok(output) = try_run_bounded(Command::new("ip").args(["netns", "pids", ns]), WAIT)
            else {
                return;
            };
            let pids: Vec<i32> = String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.client_ns] {
            Net::kill_processes(ns);
            // Deleting the server namespace also destroys the veth pair.
            if let Err(e) = try_run_bounded(Command::new("ip").args(["netns", "del", ns]), WAIT) {
                eprintln!("warning: {e}");
            }
        }
    }
}

fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args), WAIT);
}

fn mac_text(mac: Mac) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_text_is_colon_separated_hex() {
        assert_eq!(
            mac_text([0x02, 0x6b, 0, 0xff, 0x10, 1]),
            "02:6b:00:ff:10:01"
        );
    }
}
