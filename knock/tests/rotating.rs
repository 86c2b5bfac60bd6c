//! Rotating doors: `--secret-file`, `--sequence-only` and `--at` against the
//! published vectors, the secret file's checks, and a knock that sends the
//! derived hits. Nothing here sends a packet anywhere but to 127.0.0.1.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;

use common::{hits, knock_port};

/// The secret of the first vectors, and its decoded bytes.
const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const SECRET_BYTES: &str = "12345678901234567890";

fn knock() -> Command {
    let mut command = Command::cargo_bin("knock").unwrap();
    command.env_remove("XDG_CONFIG_HOME").env_remove("HOME");
    command
}

/// Writes a private secret file (mode 0600 on Unix), under a fresh directory.
fn secret_file(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("door.key");
    fs::write(&path, content).unwrap();
    #[cfg(unix)]
    set_mode(&path, 0o600);
    (dir, path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Asserts that neither the base32 secret (in any case) nor its bytes show
/// in `output`.
fn assert_secret_hidden(output: &[u8]) {
    let text = String::from_utf8_lossy(output).to_ascii_uppercase();
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains(&SECRET[..8]), "{text}");
    assert!(!text.contains(SECRET_BYTES), "{text}");
}

struct Vector {
    secret: String,
    label: String,
    step: u64,
    t: u64,
    range: String,
    length: u64,
    protocol: String,
    sequence: String,
}

fn vectors() -> Vec<Vector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rotating-vectors.json");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    assert_eq!(json["derivation"], "knock-rotating-v1");
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap().to_owned();
    json["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            secret: text(v, "secret"),
            label: text(v, "label"),
            step: v["step"].as_u64().unwrap(),
            t: v["t"].as_u64().unwrap(),
            range: text(v, "range"),
            length: v["length"].as_u64().unwrap(),
            protocol: text(v, "protocol"),
            sequence: text(v, "sequence"),
        })
        .collect()
}

#[test]
fn sequence_only_at_reproduces_every_published_vector() {
    let vectors = vectors();
    assert!(vectors.len() >= 13, "{} vectors", vectors.len());
    for v in vectors {
        let (_dir, key) = secret_file(&format!("# {}\n\n{}\n", v.label, v.secret));
        // The step's first second, a second in its middle and its last one.
        let start = v.t * v.step;
        for at in [start, start + v.step / 2, start + v.step - 1] {
            knock()
                .arg("--sequence-only")
                .arg("--secret-file")
                .arg(&key)
                .args(["--door", &v.label, "--step", &v.step.to_string()])
                .args(["--range", &v.range, "--length", &v.length.to_string()])
                .args(["--protocol", &v.protocol, "--at", &at.to_string()])
                .assert()
                .success()
                .stdout(format!("{}\n", v.sequence))
                .stderr("");
        }
    }
}

#[test]
fn the_defaults_are_knockds() {
    // 1024-65535, 4 TCP knocks, 30 s steps: T = 59647167 at 1789415010.
    let (_dir, key) = secret_file(SECRET);
    let at = 59_647_167 * 30 + 10;
    let defaults = knock()
        .args([
            "--sequence-only",
            "--door",
            "openSSH",
            "--at",
            &at.to_string(),
        ])
        .arg("--secret-file")
        .arg(&key)
        .output()
        .unwrap();
    let explicit = knock()
        .args([
            "--sequence-only",
            "--door",
            "openSSH",
            "--at",
            &at.to_string(),
        ])
        .args(["--step", "30", "--range", "1024-65535", "--length", "4"])
        .args(["--protocol", "tcp", "--secret-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(defaults.status.success());
    assert_eq!(defaults.stdout, explicit.stdout);
    let line = String::from_utf8(defaults.stdout).unwrap();
    assert_eq!(line.trim_end().split(',').count(), 4, "{line}");
    assert!(
        line.trim_end().split(',').all(|k| k.ends_with(":tcp")),
        "{line}"
    );
}

#[test]
fn a_profile_can_name_a_rotating_door() {
    let (dir, _key) = secret_file(SECRET);
    let config = dir.path().join("k.toml");
    fs::write(
        &config,
        "[ssh]\nhost = \"127.0.0.1\"\nsecret_file = \"door.key\"\ndoor = \"openSSH\"\n\
         range = \"20000-60000\"\n",
    )
    .unwrap();
    knock()
        .args([
            "--sequence-only",
            "--at",
            &(59_647_167 * 30).to_string(),
            "--config",
        ])
        .arg(&config)
        .arg("ssh")
        .assert()
        .success()
        .stdout("58140:tcp,51910:tcp,56206:tcp,22825:tcp\n");
}

#[test]
fn a_rotating_knock_waits_for_a_fresh_step_and_sends_the_derived_hits() {
    // A range of one port, the one listened on: the sequence is that port.
    // With 1-second steps the current one always ends within a second (bar
    // the very nanosecond it begins), so the knock waits for the next.
    let (socket, port) = knock_port();
    let (_dir, key) = secret_file(SECRET);
    let output = knock()
        .args(["-v", "--door", "openSSH", "--protocol", "udp"])
        .args(["--length", "1", "--step", "1"])
        .args(["--range", &format!("{port}-{port}"), "--secret-file"])
        .arg(&key)
        .arg("127.0.0.1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("waiting "), "{stdout}");
    assert!(
        lines[0].ends_with(": the current step ends too soon to knock in it"),
        "{stdout}"
    );
    assert_eq!(lines[1], format!("hitting udp 127.0.0.1:{port}"));
    assert_eq!(hits(&socket), 1);
    assert_secret_hidden(&output.stdout);
    assert_secret_hidden(&output.stderr);
}

#[cfg(unix)]
#[test]
fn a_secret_file_others_may_read_or_write_is_refused_naming_the_file_and_the_fix() {
    for mode in [0o640, 0o604, 0o644, 0o620, 0o602, 0o622] {
        let (_dir, key) = secret_file(SECRET);
        set_mode(&key, mode);
        let output = knock()
            .args(["--sequence-only", "--door", "d", "--secret-file"])
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8(output.stderr.clone()).unwrap();
        assert!(
            stderr.contains(&format!("secret file {}", key.display())),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("chmod 600 {}", key.display())),
            "{stderr}"
        );
        assert_secret_hidden(&output.stderr);
    }
}

#[test]
fn the_secret_never_shows_in_any_error() {
    // Bad keys that still carry most of the secret, and good keys with bad
    // settings.
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
            &[],
            "character 32 of the secret is not base32",
        ),
        ("GEZDGNBVGY3TQOJQ", &[], "the secret is 10 bytes long"),
        ("# only a comment\n", &[], "no secret in the file"),
        (SECRET, &["--range", "9-3"], "--range '9-3'"),
        (SECRET, &["--length", "40"], "length 40"),
    ];
    for (content, extra, needle) in cases {
        let (_dir, key) = secret_file(content);
        let output = knock()
            .args(["--sequence-only", "--door", "d"])
            .args(extra)
            .arg("--secret-file")
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{content}");
        let stderr = String::from_utf8(output.stderr.clone()).unwrap();
        assert!(stderr.contains(needle), "{stderr}");
        assert_secret_hidden(&output.stdout);
        assert_secret_hidden(&output.stderr);
    }
}

#[test]
fn nonsense_combinations_are_refused() {
    let (_dir, key) = secret_file(SECRET);
    let key = key.to_str().unwrap();
    for (args, needle) in [
        (
            &["--secret-file", key, "--door", "d", "127.0.0.1", "7000"][..],
            "cannot be used with",
        ),
        (&["--secret-file", key, "127.0.0.1"], "--door"),
        (
            &[
                "--secret-file",
                key,
                "--door",
                "d",
                "--at",
                "5",
                "127.0.0.1",
            ],
            "--sequence-only",
        ),
        (
            &["--door", "d", "127.0.0.1", "7000"],
            "--door needs a rotating door",
        ),
        (
            &["-u", "--secret-file", key, "--door", "d", "127.0.0.1"],
            "-u cannot be used with a rotating door",
        ),
        (
            &["--sequence-only", "127.0.0.1", "7000"],
            "--sequence-only prints a rotating door's sequence",
        ),
    ] {
        knock()
            .args(args)
            .assert()
            .code(1)
            .stdout("")
            .stderr(contains(needle));
    }
}
