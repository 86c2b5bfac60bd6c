//! Each firewall recipe of `examples/` works under the shipped, hardened service unit.
//!
//! Every test boots a throwaway systemd ([`Systemd`]) in the server namespace, installs
//! `packaging/knockd.service` as it is, our knockd as `/usr/sbin/knockd`, the examples where
//! the package puts them and one recipe as `/etc/knockd.conf`, and starts the service with
//! `systemctl`: knockd then runs under the unit's real sandbox (read-only system,
//! capability bounding set, system call filter, namespaces). A client knocks over IPv4 and
//! IPv6; the test asserts what an admin would see: the recipe's log file
//! (`/var/log/knockd.log`, the README's) fills, the firewall tool's own listing shows the
//! knocker, no command failed, and, for doors knockd closes, the rule is gone again after
//! `cmd_timeout`.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::{
    require_tools, wait_for_line, wait_until, workspace_binary, Net, Staged, Systemd, WAIT,
};

/// Where the recipes' `LogFile` points.
const LOG: &str = "/var/log/knockd.log";

/// The `cmd_timeout` of the recipes with a stop command.
const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// A path of the repository.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// knockd running as `knockd.service` on the recipe `examples/<recipe>`.
///
/// Fields drop in declaration order: the container dies before its namespaces.
struct Service {
    systemd: Systemd,
    net: Net,
    /// The ports of the recipe's `sequence`, as `knock` takes them.
    sequence: Vec<String>,
}

impl Service {
    /// Boots the container, runs `prepare` in it (loading a ruleset, enabling the firewall)
    /// and starts the service; waits until knockd listens.
    fn start(recipe: &str, prepare: &str) -> Service {
        let net = Net::new();
        let unit = read(&repo("packaging/knockd.service"));
        let knockd = read(&workspace_binary("knockd"));
        let options = format!("KNOCKD_OPTS=\"-i {}\"\n", net.server_iface());
        let examples: Vec<(String, Vec<u8>)> = fs::read_dir(repo("examples"))
            .unwrap_or_else(|e| panic!("cannot list examples/: {e}"))
            .flatten()
            .map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                (
                    format!("/usr/share/doc/knockd/examples/{name}"),
                    read(&entry.path()),
                )
            })
            .collect();
        let conf = read(&repo(&format!("examples/{recipe}")));
        let sequence = String::from_utf8_lossy(&conf)
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "sequence")
                    .then(|| value.split(',').map(|p| p.trim().to_owned()).collect())
            })
            .unwrap_or_else(|| panic!("examples/{recipe} has no sequence"));
        let mut files = vec![
            Staged {
                path: "/etc/systemd/system/knockd.service",
                bytes: &unit,
                mode: 0o644,
            },
            Staged {
                path: "/usr/sbin/knockd",
                bytes: &knockd,
                mode: 0o755,
            },
            Staged {
                path: "/etc/default/knockd",
                bytes: options.as_bytes(),
                mode: 0o644,
            },
            Staged {
                path: "/etc/knockd.conf",
                bytes: &conf,
                mode: 0o644,
            },
        ];
        files.extend(examples.iter().map(|(path, bytes)| Staged {
            path,
            bytes,
            mode: 0o644,
        }));
        let systemd = Systemd::boot(&net, &files);
        systemd.run_ok(prepare);
        systemd.run_ok("systemctl start knockd.service");
        let service = Service {
            systemd,
            net,
            sequence,
        };
        service.expect_log("listening on");
        service.assert_sandboxed();
        service
    }

    /// Asserts that knockd runs under the unit's sandbox, not beside it: only the unit's
    /// four capabilities in its bounding set (CAP_NET_ADMIN and CAP_NET_RAW, CAP_SETUID and
    /// CAP_SETGID for the switch to the watcher's user), no new privileges, a seccomp filter.
    fn assert_sandboxed(&self) {
        let status = self
            .systemd
            .run_ok("cat /proc/$(systemctl show --property MainPID --value knockd.service)/status");
        for line in ["CapBnd:\t00000000000030c0", "NoNewPrivs:\t1", "Seccomp:\t2"] {
            assert!(
                status.lines().any(|l| l == line),
                "knockd's status lacks {line:?}:\n{status}"
            );
        }
        // Its watcher, the child running knockd's own program, dropped to an
        // account with no capability left, under the unit as outside it.
        let watcher = self.systemd.run_ok(
            "main=$(systemctl show --property MainPID --value knockd.service); \
             for c in $(cat /proc/$main/task/*/children); do \
             [ \"$(readlink /proc/$c/exe)\" = \"$(readlink /proc/$main/exe)\" ] && cat /proc/$c/status; \
             done; true",
        );
        for line in [
            "CapEff:\t0000000000000000",
            "CapPrm:\t0000000000000000",
            "Seccomp:\t2",
        ] {
            assert!(
                watcher.lines().any(|l| l == line),
                "knockd's watcher lacks {line:?}:\n{watcher}"
            );
        }
        assert!(
            !watcher.lines().any(|l| l.starts_with("Uid:\t0")),
            "the watcher runs as root:\n{watcher}"
        );
    }

    /// Waits for a line of the log file containing `pattern`; fails with the log and journal.
    fn expect_log(&self, pattern: &str) -> String {
        wait_for_line(&self.systemd.path(LOG), pattern, WAIT).unwrap_or_else(|| {
            panic!(
                "no {pattern:?} in {LOG}; it holds:\n{}\nthe journal:\n{}",
                fs::read_to_string(self.systemd.path(LOG)).unwrap_or_default(),
                self.systemd.journal("knockd.service")
            )
        })
    }

    /// Knocks the recipe's sequence from the client to the server's address of `family`
    /// (4 or 6), and waits until knockd has run the start command for the client.
    fn knock(&self, family: u8) -> IpAddr {
        let (server, client) = match family {
            4 => (
                IpAddr::from(self.net.server_v4()),
                IpAddr::from(self.net.client_v4()),
            ),
            _ => (
                IpAddr::from(self.net.server_v6()),
                IpAddr::from(self.net.client_v6()),
            ),
        };
        let server = server.to_string();
        let mut args = vec![server.as_str()];
        args.extend(self.sequence.iter().map(String::as_str));
        self.net.knock(&workspace_binary("knock"), &args);
        self.expect_log(&format!("{client}: openSSH: OPEN SESAME"));
        client
    }

    /// Waits until the output of `listing` in the container does (`present`) or does not
    /// contain `text`, within `timeout`; fails with the listing, log and journal.
    fn expect_listing(&self, listing: &str, text: &str, present: bool, timeout: Duration) {
        let seen = wait_until(timeout, || {
            let shown = self.systemd.run_ok(listing);
            (shown.contains(text) == present).then_some(())
        });
        assert!(
            seen.is_some(),
            "`{listing}` {} {text:?} after {timeout:?}:\n{}\n{LOG}:\n{}\nthe journal:\n{}",
            if present {
                "never showed"
            } else {
                "still shows"
            },
            self.systemd.run_ok(listing),
            fs::read_to_string(self.systemd.path(LOG)).unwrap_or_default(),
            self.systemd.journal("knockd.service")
        );
    }

    /// Asserts that every command knockd ran exited 0.
    fn assert_no_failed_command(&self) {
        let log = fs::read_to_string(self.systemd.path(LOG)).unwrap_or_default();
        assert!(
            !log.contains("non-zero status"),
            "a command failed under the unit; {LOG}:\n{log}\nthe journal:\n{}",
            self.systemd.journal("knockd.service")
        );
    }
}

#[test]
#[ignore = "needs root: boots systemd in a container in network namespaces"]
fn the_nftables_recipe_adds_knockers_to_kernel_timeout_sets() {
    require_tools(&["nft"]);
    let service = Service::start(
        "nftables.conf",
        "nft -f /usr/share/doc/knockd/examples/knockd.nft",
    );
    for (family, set) in [(4, "allowed4"), (6, "allowed6")] {
        let client = service.knock(family);
        service.expect_listing(
            &format!("nft list set inet knockd {set}"),
            &format!("{client} timeout 30s"),
            true,
            WAIT,
        );
        // As logrotate does: the log file renamed, knockd reloaded. The new file is created
        // in /var/log, which the unit keeps writable, and the next knock (the IPv6 one)
        // must be logged there.
        service
            .systemd
            .run_ok("mv /var/log/knockd.log /var/log/knockd.log.1 && systemctl reload knockd");
    }
    service.assert_no_failed_command();
}

/// The `Nft_Set` recipe: the unit's opener reaches the kernel over netlink
/// (AF_NETLINK and CAP_NET_ADMIN are the unit's), no command runs.
#[test]
#[ignore = "needs root: boots systemd in a container in network namespaces"]
fn the_nft_set_recipe_opens_through_netlink_under_the_unit() {
    require_tools(&["nft"]);
    let service = Service::start(
        "nft-set.conf",
        "nft -f /usr/share/doc/knockd/examples/nft-set.nft",
    );
    for (family, set) in [(4, "ssh_v4"), (6, "ssh_v6")] {
        let client = service.knock(family);
        service.expect_log(&format!(
            "{client}: openSSH: added to nft set inet knockd {set} for 30 s"
        ));
        service.expect_listing(
            &format!("nft list set inet knockd {set}"),
            &format!("{client} timeout 30s"),
            true,
            WAIT,
        );
    }
}

#[test]
#[ignore = "needs root: boots systemd in a container in network namespaces"]
fn the_iptables_recipe_opens_and_closes_the_door() {
    require_tools(&["iptables", "ip6tables"]);
    let service = Service::start("iptables.conf", "true");
    for (family, tool, prefix) in [(4, "iptables", 32), (6, "ip6tables", 128)] {
        let client = service.knock(family);
        let rule = format!("-A INPUT -s {client}/{prefix} -p tcp -m tcp --dport 22 -j ACCEPT");
        let listing = format!("{tool} -S INPUT");
        service.expect_listing(&listing, &rule, true, WAIT);
        service.expect_listing(&listing, &rule, false, CMD_TIMEOUT + WAIT);
    }
    service.assert_no_failed_command();
}

#[test]
#[ignore = "needs root: boots systemd in a container in network namespaces"]
fn the_ufw_recipe_writes_etc_ufw_and_closes_the_door() {
    require_tools(&["ufw"]);
    let service = Service::start("ufw.conf", "ufw --force enable");
    for family in [4, 6] {
        let client = service.knock(family);
        // user.rules/user6.rules are ufw's files in /etc/ufw; `ufw status` reads them.
        service.expect_listing("ufw status", &client.to_string(), true, WAIT);
        service.expect_listing("ufw status", &client.to_string(), false, CMD_TIMEOUT + WAIT);
    }
    service.assert_no_failed_command();
}

#[test]
#[ignore = "needs root: boots systemd in a container in network namespaces"]
fn the_firewalld_recipe_adds_and_removes_a_rich_rule() {
    require_tools(&["firewall-cmd", "firewalld"]);
    let service = Service::start(
        "firewalld.conf",
        "systemctl start firewalld.service && firewall-cmd --state",
    );
    for family in [4, 6] {
        let client = service.knock(family);
        let rule = format!("source address=\"{client}\" service name=\"ssh\" accept");
        let listing = "firewall-cmd --list-rich-rules";
        service.expect_listing(listing, &rule, true, WAIT);
        service.expect_listing(listing, &rule, false, CMD_TIMEOUT + WAIT);
    }
    service.assert_no_failed_command();
}
