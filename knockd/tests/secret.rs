//! `knockd secret new` and `knockd secret show` as an operator meets them:
//! the file written, what is printed, the QR code read back by a QR reader,
//! and every refusal. No packets.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use knock_proto::rotating::{Label, Rotation, Secret};
use knock_proto::uri::KnockUri;

fn knockd() -> Command {
    Command::cargo_bin("knockd").unwrap()
}

/// Runs `knockd ARGS`, which must exit 0; its stdout.
fn ok(args: &[&str]) -> String {
    let output = knockd().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `knockd ARGS`, which must exit 1; its stderr.
fn refused(args: &[&str]) -> String {
    let output = knockd().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// The printed knock URI.
fn uri_line(stdout: &str) -> &str {
    let mut uris = stdout.lines().filter(|l| l.starts_with("knock://"));
    let uri = uris.next().expect("a knock URI");
    assert!(uris.next().is_none(), "{stdout}");
    uri
}

fn euid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn new_writes_a_private_secret_and_prints_both_sides_setup() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("openSSH.key");
    let out = ok(&[
        "secret",
        "new",
        key.to_str().unwrap(),
        "--host",
        "knock.example.net",
        "--range",
        "20000-60000",
        "--length",
        "5",
    ]);
    let meta = fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), euid());
    let secret = Secret::read_key(&key, euid()).unwrap();
    assert_eq!(secret.len(), 32);
    // The door lines as knockd.conf takes them, under their comment.
    assert!(
        out.contains(&format!(
            "[openSSH]\n    Rotating_Secret   = {}\n    Rotating_Step     = 30\n    \
             Rotating_Range    = 20000-60000\n    Rotating_Length   = 5\n    \
             Rotating_Protocol = tcp\n",
            key.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "[openSSH]\nhost = \"knock.example.net\"\nsecret_file = \"openSSH.key\"\n\
             door = \"openSSH\"\nstep = 30\nrange = \"20000-60000\"\nlength = 5\nprotocol = \"tcp\"\n"
        ),
        "{out}"
    );
    assert!(out.contains("%APPDATA%\\knock\\config.toml"), "{out}");
    let uri = KnockUri::parse(uri_line(&out)).unwrap();
    assert_eq!(uri.key(), secret.as_slice());
    assert_eq!(uri.host(), "knock.example.net");
    assert_eq!(uri.label().as_bytes(), b"openSSH");
    assert_eq!(uri.rotation().length(), 5);
    // Every door line but the commented command is a knockd.conf knockd
    // accepts as it is, with a command added.
    let door: String = out
        .lines()
        .skip_while(|l| !l.starts_with("[openSSH]"))
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let conf = dir.path().join("knockd.conf");
    fs::write(&conf, format!("{door}    command = true\n")).unwrap();
    if euid() == 0 {
        knockd()
            .args(["-c", conf.to_str().unwrap(), "--check"])
            .assert()
            .code(0);
    }
}

#[test]
fn new_never_overwrites_nor_follows_a_link_and_leaves_nothing_when_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("door.key");
    fs::write(&key, "OLD\n").unwrap();
    let run = |path: &Path| refused(&["secret", "new", path.to_str().unwrap(), "--host", "h"]);
    let error = run(&key);
    assert!(
        error.contains("exists: a secret is never overwritten"),
        "{error}"
    );
    assert_eq!(fs::read(&key).unwrap(), b"OLD\n");
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(dir.path().join("target.key"), &link).unwrap();
    run(&link);
    assert!(!dir.path().join("target.key").exists());
    // Bad settings are refused before any file is made.
    for (extra, expected) in [
        (&["--host", "h", "--range", "9-3"][..], "--range '9-3'"),
        (
            &["--host", "h", "--length", "40"],
            "length 40 is out of range",
        ),
        (&["--host", "h", "--door", "options"], "not \"options\""),
        (&["--host", "h", "--door", "a\nb"], "no line break"),
        (&["--host", "a b"], "--host: host 'a b'"),
    ] {
        let fresh = dir.path().join("fresh.key");
        let mut a = vec!["secret", "new", fresh.to_str().unwrap()];
        a.extend_from_slice(extra);
        let error = refused(&a);
        assert!(error.contains(expected), "{extra:?}: {error}");
        assert!(!fresh.exists(), "{extra:?}");
    }
}

/// Reads a QR code drawn in half blocks (light modules drawn, as
/// `--qr` prints it) with rqrr, a QR reader independent of the encoder.
fn read_qr(drawing: &str) -> String {
    let rows: Vec<Vec<char>> = drawing.lines().map(|l| l.chars().collect()).collect();
    let width = rows.iter().map(Vec::len).max().unwrap();
    // One module as 4x4 pixels, so the detector sees clean edges.
    const SCALE: usize = 4;
    let module = |x: usize, y: usize| -> bool {
        let c = rows[y / 2].get(x).copied().unwrap_or(' ');
        match (c, y % 2) {
            ('█', _) | ('▀', 0) | ('▄', 1) => true,
            (' ' | '▀' | '▄', _) => false,
            (other, _) => panic!("not a half block: {other:?}"),
        }
    };
    let (w, h) = (width * SCALE, rows.len() * 2 * SCALE);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if module(x / SCALE, y / SCALE) {
            255
        } else {
            0
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one code in:\n{drawing}");
    grids[0].decode().unwrap().1
}

#[test]
fn the_qr_code_reads_back_as_the_uri() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("d.key");
    let out = ok(&[
        "secret",
        "new",
        key.to_str().unwrap(),
        "--door",
        "Grüße Tür",
        "--host",
        "2001:db8::1",
        "--protocol",
        "mixed",
        "--qr",
    ]);
    let uri = uri_line(&out);
    let drawing: String = out
        .lines()
        .skip_while(|l| !l.starts_with("knock://"))
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(drawing.lines().count() > 10, "{out}");
    assert_eq!(read_qr(&drawing), uri);
    let parsed = KnockUri::parse(uri).unwrap();
    assert_eq!(parsed.label().as_bytes(), "Grüße Tür".as_bytes());
    assert!(
        uri.starts_with("knock://[2001:db8::1]/Gr%C3%BC%C3%9Fe%20T%C3%BCr?"),
        "{uri}"
    );
}

/// `secret show` reads the secret as root: as another user it is refused,
/// under CI a failure.
fn require_root() -> bool {
    if euid() == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "knockd secret show needs root: run the tests as root"
    );
    eprintln!("skipped: knockd secret show needs root");
    false
}

#[test]
fn show_prints_the_uri_and_the_sequence_knockd_expects_now() {
    if !require_root() {
        let error = refused(&["secret", "show", "/nonexistent"]);
        assert!(error.contains("run it as root"), "{error}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let new = ok(&[
        "secret",
        "new",
        key.to_str().unwrap(),
        "--door",
        "rot",
        "--host",
        "h",
        "--step",
        "3600",
    ]);
    let conf = dir.path().join("knockd.conf");
    let other = dir.path().join("other.key");
    fs::write(&other, format!("{}\n", "A".repeat(32))).unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(
        &conf,
        format!(
            "[plain]\n  sequence = 1,2,3\n  command = true\n\
             [other]\n  Rotating_Secret = {}\n  command = true\n\
             [rot]\n  Rotating_Secret = {}\n  Rotating_Step = 3600\n  command = true\n\
             [rot2]\n  Rotating_Secret = {}\n  command = true\n",
            other.display(),
            key.display(),
            key.display()
        ),
    )
    .unwrap();
    let several = refused(&[
        "secret",
        "show",
        "-c",
        conf.to_str().unwrap(),
        key.to_str().unwrap(),
    ]);
    assert!(several.contains("doors [rot], [rot2] all use"), "{several}");
    let before = now();
    let out = ok(&[
        "secret",
        "show",
        "-c",
        conf.to_str().unwrap(),
        key.to_str().unwrap(),
        "--door",
        "rot",
        "--host",
        "h",
    ]);
    let after = now();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(uri_line(&new)));
    let line = lines.next().unwrap();
    let rotation = Rotation::new(
        3600,
        "1024-65535".parse().unwrap(),
        4,
        "tcp".parse().unwrap(),
        1,
    )
    .unwrap();
    let secret = Secret::read_file(&key, 0).unwrap();
    let label = Label::new(b"rot").unwrap();
    let (prefix, sequence) = line.split_once("): ").unwrap();
    let matches_step = |t: u64| {
        let step = rotation.step_at(t);
        prefix.starts_with(&format!("step {step} ("))
            && prefix.ends_with(" s left, skew 1")
            && sequence == rotation.sequence(&secret, &label, step).to_string()
    };
    // The step may have turned between the two readings of the clock.
    assert!(matches_step(before) || matches_step(after), "{line}");
    assert_eq!(lines.next(), None);
    // A file no door uses is named, as is the configuration searched.
    let error = refused(&[
        "secret",
        "show",
        "-c",
        conf.to_str().unwrap(),
        "/elsewhere.key",
    ]);
    assert!(
        error.contains("no door of") && error.contains("Rotating_Secret = /elsewhere.key"),
        "{error}"
    );
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
