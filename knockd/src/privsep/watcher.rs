//! The watcher's side of the split: confine the forked child, then run the
//! server's loop with the opener in the parent.

use std::process::ExitCode;

use knockd_core::privsep::WatcherRequest;

use super::Channel;
use crate::log::{DaemonMessage, PrivsepMessage};
use crate::server::Server;
use crate::sys::confine::{self, Account};

/// Runs in the forked child: drops what belongs to the opener, confines
/// the process (as `account`, when knockd runs as root), tells the opener
/// it is ready, and runs the loop. Exits rather than go on half confined.
pub fn run(server: Server, channel: Channel, account: Option<&Account>) -> ExitCode {
    let mut server = server.into_watcher(channel);
    if let Err(e) = confine::drop_privileges(account) {
        return give_up(
            server,
            &format_args!("cannot drop the watcher's privileges: {e}"),
        );
    }
    // Asked before the filter, which has no use for getuid.
    let uid = nix::unistd::getuid().as_raw();
    let confinement = match confine::install_filter() {
        Ok(confinement) => confinement,
        Err(e) => return give_up(server, &format_args!("cannot confine the watcher: {e}")),
    };
    let user = account.map_or_else(|| format!("uid {uid}"), |a| a.name.clone());
    server.logger().emit(&PrivsepMessage::WatcherConfined {
        pid: std::process::id(),
        user: &user,
        uid,
        confinement: &confinement,
    });
    if let Some(channel) = server.opener_channel() {
        channel.send(&WatcherRequest::Ready.encode(), None);
        test_hooks::run(channel);
    }
    server.run()
}

/// Logs why the watcher cannot run and exits 1: the opener sees the
/// hang-up and exits too.
fn give_up(mut server: Server, why: &dyn std::fmt::Display) -> ExitCode {
    server.logger().emit(&DaemonMessage::Error(why));
    server.logger().flush();
    ExitCode::FAILURE
}

/// Test builds only (debug assertions): `KNOCKD_TEST_WATCHER` makes the
/// confined watcher misbehave as a compromised one would, so that the
/// end-to-end tests can check what the opener and the filter do about it.
/// Release builds, which the packages ship, have no such hook.
#[cfg(debug_assertions)]
mod test_hooks {
    use std::net::IpAddr;

    use knockd_core::privsep::WatcherRequest;

    use crate::privsep::Channel;

    /// Acts on `KNOCKD_TEST_WATCHER`, if set: `exec` tries to run a
    /// program (the filter must kill the watcher); `forge` sends forged
    /// requests ([`forge`]).
    pub fn run(channel: &mut Channel) {
        let Some(hook) = std::env::var_os("KNOCKD_TEST_WATCHER") else {
            return;
        };
        match hook.to_str() {
            Some("exec") => {
                use std::os::unix::process::CommandExt;
                let _ = std::process::Command::new("/bin/true").exec();
            }
            Some("forge") => forge(channel),
            _ => {}
        }
    }

    /// Sends what a compromised watcher might: a door of another
    /// generation, a door that does not exist, sources no knock comes from
    /// (the host's own address, unspecified, multicast, loopback),
    /// a bad host name, garbage, a descriptor, an oversized message and a flood of
    /// openings of door 0 for distinct addresses.
    fn forge(channel: &mut Channel) {
        let open = |generation, door, source: &str, host: Option<&str>| WatcherRequest::Open {
            generation,
            door,
            source: source
                .parse::<IpAddr>()
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
            host: host.map(str::to_owned),
        };
        // One of the host's own addresses, not loopback: no knock comes from there.
        let own = crate::interfaces::local_addresses("any", true)
            .unwrap_or_default()
            .into_iter()
            .find(|ip| !ip.is_loopback())
            .map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string());
        for request in [
            open(0, 0, &own, None),
            open(7, 0, "198.18.0.99", None),
            open(0, 9999, "198.18.0.99", None),
            open(0, 0, "0.0.0.0", None),
            open(0, 0, "224.0.0.1", None),
            open(0, 0, "127.0.0.1", None),
            open(0, 0, "198.18.0.99", Some("bad name;rm -rf /")),
        ] {
            channel.send(&request.encode(), None);
        }
        channel.send(&[0xee, 1, 2, 3], None);
        use std::os::fd::AsFd;
        channel.send(
            &WatcherRequest::Report.encode(),
            Some(std::io::stdin().as_fd()),
        );
        channel.send(&[2; 4096], None);
        for n in 0..200u32 {
            let source = format!("198.19.{}.{}", n / 250, n % 250 + 1);
            channel.send(&open(0, 0, &source, None).encode(), None);
        }
    }
}

/// Release builds: no hooks.
#[cfg(not(debug_assertions))]
mod test_hooks {
    pub fn run(_channel: &mut super::Channel) {}
}
