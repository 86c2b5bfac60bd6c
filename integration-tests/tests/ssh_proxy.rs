//! `knock --proxy` end to end: OpenSSH's `ssh` in the client namespace
//! reaches an `sshd` in the server namespace through `ProxyCommand knock
//! --proxy ...`, behind an nft rule that drops the sshd's port for every
//! address the door has not opened it to; and a plain TCP echo server gets
//! 1 MiB through the relay and sends it back, byte for byte.
//!
//! The sshd is OpenSSH's (`ci/setup` installs it without its service), run
//! by the test with `-f /dev/null` and every setting on its command line: a
//! throwaway host key and authorized key in the scratch directory, no PAM.
//! It and knockd are killed at the end whatever happens ([`Sshd`]'s drop,
//! and the namespaces' deletion, which kills what is left in them).

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use integration_tests::{
    config, door_running, echo_once, pseudo_random, require_tools, run_bounded, run_ok,
    run_with_input, wait_until, Pair, Rig, Scratch, WAIT,
};

/// The port the sshd listens on, which the firewall drops until the door opens.
const SSH_PORT: u16 = 2222;

/// Debian's sshd; it must be run by its absolute path (it re-executes itself).
const SSHD: &str = "/usr/sbin/sshd";

/// An sshd running in the server namespace, killed when dropped.
struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Sshd {
    /// Starts an sshd on `address` with a new host key, accepting the
    /// public half of `client_key` for root; waits until it accepts
    /// connections (from the client, before any firewall).
    fn start(rig: &Rig, address: SocketAddr, client_key: &Path) -> Sshd {
        assert!(
            Path::new(SSHD).is_file(),
            "{SSHD} is missing: install openssh-server (`sudo ci/setup`)"
        );
        let host_key = keygen(&rig.scratch, "host_key");
        let authorized = rig.file("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        // sshd refuses to start without the directory its unprivileged
        // child chroots to, which Debian's service unit creates.
        fs::create_dir_all("/run/sshd").unwrap();
        let log = rig.file("sshd.log");
        let options = [
            format!("ListenAddress={address}"),
            format!("HostKey={}", host_key.display()),
            format!("AuthorizedKeysFile={}", authorized.display()),
            "PidFile=none".to_owned(),
            "UsePAM=no".to_owned(),
            // The scratch directory is under /tmp, writable by all.
            "StrictModes=no".to_owned(),
            "PermitRootLogin=prohibit-password".to_owned(),
            "PasswordAuthentication=no".to_owned(),
            "KbdInteractiveAuthentication=no".to_owned(),
            "LogLevel=VERBOSE".to_owned(),
        ];
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                rig.net.server_ns(),
                SSHD,
                "-D",
                "-e",
                "-f",
                "/dev/null",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        for option in &options {
            command.args(["-o", option]);
        }
        let sshd = Sshd {
            child: command.spawn().unwrap(),
            log,
        };
        let listening = wait_until(WAIT, || {
            (rig.net.client_connects(address, None, 1)).then_some(())
        });
        assert!(listening.is_some(), "sshd does not listen: {}", sshd.log());
        sshd
    }

    /// What the sshd has logged.
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generates an ed25519 key pair without a passphrase in `scratch`: `name`
/// and `name.pub`; returns the private key's path.
fn keygen(scratch: &Scratch, name: &str) -> PathBuf {
    let path = scratch.path(name);
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path),
        WAIT,
    );
    path
}

/// The doors' firewall in the server namespace: TCP to the sshd's port is
/// dropped except from the addresses in the set `open`, which the door
/// `ssh` fills.
fn guard_ssh_port(rig: &Rig) {
    let rules = rig.scratch.write(
        "guard.nft",
        &format!(
            "table inet guard {{\n  set open {{ type ipv4_addr; }}\n  chain input {{\n    \
             type filter hook input priority 0;\n    \
             tcp dport {SSH_PORT} ip saddr != @open drop\n  }}\n}}\n"
        ),
    );
    let loaded = rig.net.run_server("nft", &["-f", rules.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", describe(&loaded));
}

/// The ssh_config the client uses: everything on the command line's behalf
/// (key, known hosts, no prompts), after `first`, whose settings win.
fn ssh_config(rig: &Rig, name: &str, first: &str, client_key: &Path) -> PathBuf {
    rig.scratch.write(
        name,
        &format!(
            "{first}Host *\n    User root\n    Port {SSH_PORT}\n    IdentityFile {}\n    \
             IdentitiesOnly yes\n    UserKnownHostsFile {}\n    GlobalKnownHostsFile /dev/null\n    \
             StrictHostKeyChecking no\n    BatchMode yes\n    ConnectTimeout 2\n    \
             LogLevel ERROR\n",
            client_key.display(),
            rig.file("known_hosts").display()
        ),
    )
}

/// Runs `ssh -F config [extra...] SERVER echo ok` in the client namespace,
/// with the profiles of `rig`'s scratch directory; returns its output and
/// how long it took.
fn ssh(rig: &Rig, config: &Path, extra: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let output = run_bounded(
        Command::new("ip")
            .args(["netns", "exec", rig.net.client_ns(), "ssh", "-F"])
            .arg(config)
            .args(extra)
            .args([&rig.server_v4(), "echo", "ok"])
            .env("XDG_CONFIG_HOME", rig.dir()),
        WAIT,
    );
    (output, start.elapsed())
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
#[ignore = "needs root, network namespaces, nft, OpenSSH's ssh and sshd: run as root with --ignored"]
fn ssh_reaches_sshd_behind_the_door_through_knock_proxy() {
    require_tools(&["nft", "nc", "ssh", "ssh-keygen"]);
    let scratch = Scratch::new();
    let doors = [door_running(
        "ssh",
        "7000,8000,9000",
        "nft add element inet guard open { %IP% }",
        &[],
    )];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    let client_key = keygen(&rig.scratch, "client_key");
    let sshd = Sshd::start(&rig, (rig.net.server_v4(), SSH_PORT).into(), &client_key);
    guard_ssh_port(&rig);
    let server = rig.server_v4();
    let knock = rig.pair.knock.display().to_string();
    let plain = ssh_config(&rig, "ssh_config", "", &client_key);

    // No knock: the firewall drops the connection; ssh gives up after its
    // ConnectTimeout.
    let shut = |when: &str| {
        let (output, took) = ssh(&rig, &plain, &[]);
        assert_eq!(
            output.status.code(),
            Some(255),
            "{when}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("timed out"),
            "{when}: {}",
            describe(&output)
        );
        assert!(took < Duration::from_secs(8), "{when}: {took:?}");
        assert!(output.stdout.is_empty(), "{when}: {}", describe(&output));
    };
    shut("before any knock");

    // A wrong sequence: knock finds the door shut and says so on ssh's
    // stderr; ssh fails.
    let wrong = format!(
        "ProxyCommand={knock} --proxy %p --retries 0 --verify-timeout 500 %h 7001 8001 9001"
    );
    let (output, _) = ssh(&rig, &plain, &["-o", &wrong]);
    assert_eq!(output.status.code(), Some(255), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!(
            "error: could not connect to {server}:{SSH_PORT} after knocking 1 time"
        )),
        "{}",
        describe(&output)
    );
    rig.assert_opened("ssh", 0);

    // The sequence on ProxyCommand's command line.
    let right = format!("ProxyCommand={knock} --proxy %p %h 7000 8000 9000");
    let (output, _) = ssh(&rig, &plain, &["-o", &right]);
    assert!(
        output.status.success(),
        "{}\nsshd: {}",
        describe(&output),
        sshd.log()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    rig.assert_opened("ssh", 1);

    // Shut again, then knock.1's ssh_config example: `%h` names no profile
    // but is the host of one.
    let flushed = rig
        .net
        .run_server("nft", &["flush", "set", "inet", "guard", "open"]);
    assert!(flushed.status.success(), "{}", describe(&flushed));
    shut("after the door was shut again");
    fs::create_dir_all(rig.file("knock")).unwrap();
    rig.scratch.write(
        "knock/config.toml",
        &format!("[lab]\nhost = \"{server}\"\nports = [7000, 8000, 9000]\n"),
    );
    let proxied = ssh_config(
        &rig,
        "ssh_config_proxy",
        &format!("Host {server}\n    ProxyCommand {knock} --proxy %p %h\n\n"),
        &client_key,
    );
    let (output, _) = ssh(&rig, &proxied, &[]);
    assert!(
        output.status.success(),
        "{}\nsshd: {}",
        describe(&output),
        sshd.log()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    rig.assert_opened("ssh", 2);
}

/// How long the mebibyte may take each way, at worst, on a loaded machine.
const RELAY_WAIT: Duration = Duration::from_secs(60);

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn proxy_relays_a_mebibyte_each_way_byte_exact() {
    let rig = Rig::one_door(&Pair::ours(), "echo", "7000,8000,9000", &[], &[]);
    // Over IPv6, the family the IPv4 ssh test leaves out.
    let echo = echo_once(
        rig.net
            .listen_in_server(SocketAddr::from((rig.net.server_v6(), 7777))),
    );
    let sent = pseudo_random(1 << 20, 28);
    let output = run_with_input(
        Command::new("ip")
            .args(["netns", "exec", rig.net.client_ns()])
            .arg(&rig.pair.knock)
            .args(["--proxy", "7777", &rig.server_v6(), "7000", "8000", "9000"]),
        sent.clone(),
        RELAY_WAIT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    assert_eq!(stderr, "");
    assert!(
        output.stdout == sent,
        "knock's stdout: {} bytes, not the {} sent back",
        output.stdout.len(),
        sent.len()
    );
    let echoed = echo.join().unwrap().unwrap();
    assert!(
        echoed == sent,
        "the server read {} bytes, not the {} sent",
        echoed.len(),
        sent.len()
    );
    rig.assert_opened("echo", 1);
}
