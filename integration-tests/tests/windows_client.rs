//! The Windows client end to end: `knock.exe`, built by `ci/build-windows`
//! with mingw-w64, runs under wine in the client namespace and knocks our
//! Linux knockd in the server namespace, and what knockd sees of it matches
//! what it sees of the Linux client. Needs root (namespaces), wine64 and
//! mingw-w64 (`ci/setup --windows`), and the exe (`ci/build-windows`); the
//! test is `#[ignore]`d and fails, saying what to do, when one is missing.
//!
//! Wine (and its wineserver, which creates the sockets of every wine
//! process) runs inside the client namespace only, so it cannot reach
//! anything outside the test's two namespaces; its prefix lives in the
//! test's scratch directory.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use integration_tests::{
    config, door, door_running, echo_once, pseudo_random, require_tools, run_bounded,
    run_with_input, workspace_binary, Rig, Scratch, SYNC_PORT,
};

/// Debian 12's 64-bit wine loader (package wine64), not on the PATH.
const WINE: &str = "/usr/lib/wine/wine64";

/// What may take long under wine: the first run creates the prefix.
const WINE_WAIT: Duration = Duration::from_secs(300);

/// Rust's std takes its random numbers (the hash maps' keys) from
/// `ProcessPrng` in `bcryptprimitives.dll`, which wine 8 lacks. This
/// stand-in, built here and placed next to the exe only for the test (never
/// shipped), forwards to `RtlGenRandom` (advapi32's `SystemFunction036`),
/// which wine has.
const PROCESS_PRNG: &str = r#"#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
"#;

/// A wine prefix with `knock.exe` and the `ProcessPrng` stand-in, whose
/// programs run in one network namespace.
struct Wine {
    prefix: PathBuf,
    exe: PathBuf,
    home: PathBuf,
    namespace: String,
}

impl Wine {
    /// Copies the exe into `scratch`, builds the stand-in DLL beside it and
    /// creates the prefix by running `knock.exe --version` in `namespace`;
    /// prints how long the prefix took.
    fn new(scratch: &Scratch, namespace: &str) -> Wine {
        require_tools(&["x86_64-w64-mingw32-gcc"]);
        assert!(
            Path::new(WINE).is_file(),
            "{WINE} is missing: install wine64 (`sudo ci/setup --windows`)"
        );
        let dir = scratch.path("win");
        fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("knock.exe");
        fs::copy(windows_exe(), &exe).unwrap();
        let source = scratch.write("process_prng.c", PROCESS_PRNG);
        let built = run_bounded(
            Command::new("x86_64-w64-mingw32-gcc")
                .args(["-shared", "-O2", "-o"])
                .arg(dir.join("bcryptprimitives.dll"))
                .arg(&source)
                .arg("-ladvapi32"),
            Duration::from_secs(60),
        );
        assert!(built.status.success(), "mingw: {built:?}");
        let wine = Wine {
            prefix: scratch.path("prefix"),
            exe,
            home: scratch.dir().to_owned(),
            namespace: namespace.to_owned(),
        };
        let started = Instant::now();
        let version = wine.run(&["--version"]);
        eprintln!(
            "windows_client: wine prefix created and knock.exe --version run in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert!(version.status.success(), "{}", describe(&version));
        let stdout = String::from_utf8_lossy(&version.stdout);
        assert!(stdout.starts_with("knock "), "{stdout}");
        wine
    }

    /// `knock.exe args` under wine in the namespace.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace, WINE])
            .arg(&self.exe)
            .args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("HOME", &self.home)
            // No Mono or Gecko installer prompts, no debug channels, no display.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("WINEDEBUG", "-all")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        command
    }

    /// Runs `knock.exe args` under wine in the namespace, within [`WINE_WAIT`].
    fn run(&self, args: &[&str]) -> Output {
        run_bounded(&mut self.command(args), WINE_WAIT)
    }

    /// Runs `knock.exe args` and fails the test unless it exits 0.
    fn knock(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "knock.exe {args:?}: {}",
            describe(&output)
        );
        output
    }

    /// `%APPDATA%` of the prefix's user, as a Unix path.
    fn appdata(&self) -> PathBuf {
        let users = self.prefix.join("drive_c/users");
        fs::read_dir(&users)
            .unwrap()
            .map(|entry| entry.unwrap().path().join("AppData/Roaming"))
            .find(|dir| dir.is_dir() && !dir.starts_with(users.join("Public")))
            .unwrap_or_else(|| panic!("no AppData/Roaming under {}", users.display()))
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        // The namespace's deletion kills it too; this lets it go cleanly first.
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.namespace,
                "/usr/lib/wine/wineserver64",
                "-k",
            ])
            .env("WINEPREFIX", &self.prefix)
            .status();
    }
}

/// A Unix path as wine's Windows programs name it: on drive Z:, the root.
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// `knock.exe`, where `ci/build-windows` puts it.
fn windows_exe() -> PathBuf {
    let exe = workspace_binary("knock")
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("windows/x86_64-pc-windows-gnu/release/knock.exe");
    assert!(
        exe.is_file(),
        "{} is missing: build it with ci/build-windows",
        exe.display()
    );
    exe
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The packets from `client` that knockd logged (`-D`) since line `from`,
/// as `proto port bytes`, the sync door's left out: what it saw on the wire.
fn seen(rig: &Rig, client: &str, from: usize) -> Vec<String> {
    rig.sync();
    rig.daemon
        .stdout()
        .lines()
        .skip(from)
        .filter_map(|line| {
            // `<date> <time>: tcp: SRC:SPORT -> DST:DPORT N bytes`
            let (proto, packet) = ["tcp", "udp"].into_iter().find_map(|proto| {
                let (_, packet) = line.split_once(&format!(": {proto}: "))?;
                Some((proto, packet))
            })?;
            let fields: Vec<&str> = packet.split_whitespace().collect();
            let [source, "->", destination, bytes, "bytes"] = fields[..] else {
                return None;
            };
            let port = destination.rsplit_once(':')?.1;
            (source.rsplit_once(':')?.0 == client && port != SYNC_PORT.to_string())
                .then(|| format!("{proto} {port} {bytes}"))
        })
        .collect()
}

fn log_lines(rig: &Rig) -> usize {
    rig.daemon.stdout().lines().count()
}

/// The secret of the rotating door.
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// The doors: `plain` (TCP and UDP hits), `gate` (opens TCP port 22, where a
/// listener waits, to the knocker: what `--verify ssh` connects to) and the
/// rotating door `rot`.
fn doors(scratch: &Scratch) -> String {
    let out = scratch.path("out");
    let key = scratch.write("door.key", &format!("# test secret\n{SECRET}\n"));
    // knockd refuses a secret that others may read.
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let rotating = format!(
        "[rot]\n    Rotating_Secret = {}\n    Rotating_Step = 30\n    \
         Rotating_Range = 20000-29999\n    Rotating_Length = 4\n    \
         Rotating_Protocol = mixed\n    seq_timeout = 10\n    \
         start_command = echo rot %IP% >> {}\n\n",
        key.display(),
        out.display()
    );
    config(&[
        door("plain", "7000,8000:udp,9000", &out, &[]),
        door_running(
            "gate",
            "7100:udp,7200,7300:udp",
            "nft add element inet guard open { %IP% }",
            &[],
        ),
        rotating,
    ])
}

/// In the server namespace: TCP port 22 dropped except for the addresses
/// in the set `open` (which the door `gate` fills), and a listener on it.
fn guard_port_22(rig: &Rig) -> std::process::Child {
    let rules = rig.scratch.write(
        "guard.nft",
        "table inet guard {\n  set open { type ipv4_addr; }\n  chain input {\n    \
         type filter hook input priority 0;\n    tcp dport 22 ip saddr != @open drop\n  }\n}\n",
    );
    let loaded = rig.net.run_server("nft", &["-f", rules.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", describe(&loaded));
    Command::new("ip")
        .args(["netns", "exec", rig.net.server_ns(), "nc", "-lk"])
        .arg(rig.server_v4())
        .arg("22")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
#[ignore = "needs root, network namespaces, nft, wine64, mingw-w64 and ci/build-windows: run as root with --ignored"]
fn knock_exe_under_wine_knocks_a_linux_knockd_as_the_linux_client_does() {
    require_tools(&["nft", "nc"]);
    let scratch = Scratch::new();
    let text = doors(&scratch);
    let rig = Rig::start(&integration_tests::Pair::ours(), scratch, &text, &["-D"]);
    let wine = Wine::new(&rig.scratch, rig.net.client_ns());
    let mut listener = guard_port_22(&rig);
    same_hits_as_the_linux_client(&rig, &wine);
    proxy_relays_a_mebibyte_over_pipes(&rig, &wine);
    a_profile_from_appdata_verifies_the_door(&rig, &wine);
    a_rotating_door_opens_with_the_secret_file(&rig, &wine);
    flags_are_refused_before_anything_is_sent(&rig, &wine);
    let _ = listener.kill();
    let _ = listener.wait();
}

/// TCP and UDP hits: knockd sees the same packets, in the same order, from
/// both clients (protocol, port, length on the wire), and `-v` says the same.
fn same_hits_as_the_linux_client(rig: &Rig, wine: &Wine) {
    let server = rig.server_v4();
    let client = rig.net.client_v4().to_string();
    let args = ["-v", &server, "7000", "8000:udp", "9000"];
    let from = log_lines(rig);
    let linux = rig.knock(&args);
    let linux_seen = seen(rig, &client, from);
    let from = log_lines(rig);
    let windows = wine.knock(&args);
    let windows_seen = seen(rig, &client, from);
    assert_eq!(linux_seen.len(), 3, "{}", rig.daemon.log());
    assert_eq!(windows_seen, linux_seen, "{}", rig.daemon.log());
    assert_eq!(
        String::from_utf8_lossy(&windows.stdout),
        String::from_utf8_lossy(&linux.stdout)
    );
    rig.assert_opened("plain", 2);
}

/// `--proxy` with Windows' pipes and sockets: the exe knocks the door
/// `plain`, connects to an echo server and relays 1 MiB each way, byte for
/// byte, its `-v` lines on stderr.
fn proxy_relays_a_mebibyte_over_pipes(rig: &Rig, wine: &Wine) {
    let server = rig.server_v4();
    let echo = echo_once(
        rig.net
            .listen_in_server(SocketAddr::from((rig.net.server_v4(), 7777))),
    );
    let sent = pseudo_random(1 << 20, 95);
    let args = ["-v", "--proxy", "7777", &server, "7000", "8000:udp", "9000"];
    let output = run_with_input(&mut wine.command(&args), sent.clone(), WINE_WAIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    assert!(
        stderr.contains(&format!("verifying tcp {server}:7777")),
        "{stderr}"
    );
    assert!(
        output.stdout == sent,
        "knock.exe's stdout: {} bytes, not the {} sent back; stderr: {stderr}",
        output.stdout.len(),
        sent.len()
    );
    let echoed = echo.join().unwrap().unwrap();
    assert!(echoed == sent, "the server read {} bytes", echoed.len());
    rig.assert_opened("plain", 3);
}

/// A profile in `%APPDATA%\knock\config.toml` with a service name: before the
/// door opens, `--verify ssh` fails (exit 2); the profile's knock opens it
/// and its `verify = "ssh"` connects.
fn a_profile_from_appdata_verifies_the_door(rig: &Rig, wine: &Wine) {
    let server = rig.server_v4();
    let shut = wine.run(&[
        "--verify",
        "ssh",
        "--retries",
        "0",
        "--verify-timeout",
        "500",
        &server,
        "1",
    ]);
    assert_eq!(shut.status.code(), Some(2), "{}", describe(&shut));
    let dir = wine.appdata().join("knock");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        format!("[gate]\nhost = \"{server}\"\nports = [\"7100:udp\", 7200, \"7300:udp\"]\nverify = \"ssh\"\n"),
    )
    .unwrap();
    let output = wine.knock(&["-v", "gate"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // ssh was found in the prefix's services file.
    assert!(
        stdout.contains(&format!("verifying tcp {server}:22")),
        "{stdout}"
    );
    rig.assert_opened("gate", 1);
}

/// `--secret-file` on a rotating door: the exe derives the sequence the
/// Linux client derives, knocks it, and the door opens.
fn a_rotating_door_opens_with_the_secret_file(rig: &Rig, wine: &Wine) {
    let server = rig.server_v4();
    let client = rig.net.client_v4().to_string();
    let key = windows_path(&rig.scratch.path("door.key"));
    let rotation = [
        "--door",
        "rot",
        "--range",
        "20000-29999",
        "--protocol",
        "mixed",
    ];
    let from = log_lines(rig);
    let mut args = vec!["-v", "--secret-file", &key];
    args.extend(rotation);
    args.push(&server);
    let output = wine.knock(&args);
    rig.assert_opened("rot", 1);
    // The exe's hits, as `-v` printed them, were the Linux client's sequence
    // for the step knocked, and knockd saw those.
    let hits: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("hitting "))
        .map(|hit| {
            let (proto, target) = hit.split_once(' ').unwrap();
            format!("{}:{proto}", target.rsplit_once(':').unwrap().1)
        })
        .collect();
    let at = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH))
        .unwrap()
        .as_secs();
    let linux_key = rig.scratch.path("door.key");
    let sequence = |at: u64| {
        let mut args = vec![
            "--sequence-only".to_owned(),
            "--at".to_owned(),
            at.to_string(),
        ];
        args.extend(["--secret-file".to_owned(), linux_key.display().to_string()]);
        args.extend(rotation.iter().map(|arg| (*arg).to_owned()));
        let output = run_bounded(
            Command::new(workspace_binary("knock")).args(&args),
            integration_tests::WAIT,
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    // The knock may have waited for the next step, or crossed into it since.
    let expected = [sequence(at), sequence(at - 30)];
    assert!(
        expected.contains(&hits.join(",")),
        "{hits:?} not in {expected:?}"
    );
    let wire: Vec<String> = seen(rig, &client, from)
        .iter()
        .map(|packet| {
            let fields: Vec<&str> = packet.split(' ').collect();
            format!("{}:{}", fields[1], fields[0])
        })
        .collect();
    assert_eq!(wire, hits, "{}", rig.daemon.log());
}

/// `--flags` is refused on Windows with its reason, and nothing is sent.
fn flags_are_refused_before_anything_is_sent(rig: &Rig, wine: &Wine) {
    let server = rig.server_v4();
    let client = rig.net.client_v4().to_string();
    let from = log_lines(rig);
    let output = wine.run(&["--flags", "fin", &server, "7000"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--flags (raw TCP knocks) is not supported on Windows"),
        "{stderr}"
    );
    assert_eq!(seen(rig, &client, from), Vec::<String>::new());
}
