//! `knock --import URI`: the secret file and profile it writes, `knock NAME`
//! deriving the published vectors from them, and every refusal (a tampered
//! URI, an existing profile or secret). Sends nothing.

use std::fs;
use std::path::Path;

use assert_cmd::Command;

/// The first URI of `docs/knock-uri-vectors.json`: door openSSH, the
/// vectors' secret, 30 s steps, 20000-60000, 4 TCP knocks.
const URI: &str = "knock://knock.example.net/openSSH?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
&step=30&range=20000-60000&length=4&protocol=tcp&v=1&check=7c6a5b48";
/// Step 59647167 of that door, from `docs/rotating-vectors.json`.
const AT: &str = "1789415010";
const SEQUENCE: &str = "58140:tcp,51910:tcp,56206:tcp,22825:tcp\n";

/// `knock` with its profile file under `home` (`XDG_CONFIG_HOME` on Unix,
/// `APPDATA` on Windows).
fn knock(home: &Path) -> Command {
    let mut command = Command::cargo_bin("knock").unwrap();
    command
        .env("XDG_CONFIG_HOME", home)
        .env("APPDATA", home)
        .env_remove("HOME");
    command
}

fn import(home: &Path, args: &[&str]) -> std::process::Output {
    knock(home).arg("--import").args(args).output().unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// `knock --sequence-only` of the imported profile gives the published
/// vector's sequence.
fn assert_profile_derives_the_vector(home: &Path) {
    let output = knock(home)
        .args(["--sequence-only", "--at", AT, "openSSH"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        SEQUENCE,
        "{output:?}"
    );
}

#[test]
fn an_imported_door_knocks_as_the_vectors_say() {
    let home = tempfile::tempdir().unwrap();
    let output = import(home.path(), &[URI]);
    assert!(output.status.success(), "{output:?}");
    let dir = home.path().join("knock");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.ends_with("knock it with: knock openSSH\n"),
        "{stdout}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("openSSH.key")).unwrap(),
        "# knock-rotating-v1 secret (docs/rotating-sequences.md); keep it private\n\
         GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("config.toml")).unwrap(),
        "[openSSH]\nhost = \"knock.example.net\"\nsecret_file = \"openSSH.key\"\n\
         door = \"openSSH\"\nstep = 30\nrange = \"20000-60000\"\nlength = 4\nprotocol = \"tcp\"\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("openSSH.key")), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    assert_profile_derives_the_vector(home.path());
}

#[test]
fn nothing_is_overwritten_without_force() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("knock");
    fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    fs::write(
        &config,
        "# my profiles\n[openSSH]\nhost = \"h\"\nports = [1]\n",
    )
    .unwrap();
    let before = fs::read(&config).unwrap();
    let e = stderr(&import(home.path(), &[URI]));
    assert!(e.contains("profile [openSSH] is already in"), "{e}");
    assert!(e.contains("give --force"), "{e}");
    assert_eq!(fs::read(&config).unwrap(), before);
    assert!(!dir.join("openSSH.key").exists());

    // Another name is free in the profile file, but its secret file is not.
    fs::write(dir.join("work.key"), "OLD\n").unwrap();
    let e = stderr(&import(home.path(), &[URI, "--profile", "work"]));
    assert!(e.contains("work.key exists: give --force"), "{e}");
    assert_eq!(fs::read(&config).unwrap(), before);
    assert_eq!(fs::read(dir.join("work.key")).unwrap(), b"OLD\n");

    // --force replaces the profile in place, keeping the rest of the file.
    let output = import(home.path(), &[URI, "--force"]);
    assert!(output.status.success(), "{output:?}");
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("# my profiles\n[openSSH]\nhost = \"knock.example.net\"\n"),
        "{text}"
    );
    assert_profile_derives_the_vector(home.path());
}

#[test]
fn a_tampered_uri_is_refused_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    for (uri, expected) in [
        (
            URI.replacen("GEZDG", "GEZDH", 1),
            "check value does not match",
        ),
        (
            URI.replace("length=4", "length=5"),
            "check value does not match",
        ),
        (URI.replace("&v=1", ""), "lacks parameter v"),
        (
            URI.replace("knock://", "http://"),
            "must begin with knock://",
        ),
        (format!("{URI}&x=1"), "unknown parameter 'x'"),
    ] {
        let e = stderr(&import(home.path(), &[&uri]));
        assert!(e.starts_with("error: --import: "), "{e}");
        assert!(e.contains(expected), "{uri}: {e}");
        assert!(!e.contains("GEZDG"), "the secret leaked: {e}");
    }
    assert!(!home.path().join("knock").exists());
}

#[test]
fn odd_door_names_import_under_their_own_name() {
    let json: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/knock-uri-vectors.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("knock");
    for (index, name, key) in [
        (2, "Grüße Tür", "Gr__e_T_r.key"),
        (3, "open SSH/2 & more", "open_SSH_2___more.key"),
    ] {
        let uri = json["valid"][index]["uri"].as_str().unwrap();
        let output = import(home.path(), &[uri]);
        assert!(output.status.success(), "{output:?}");
        assert!(dir.join(key).exists(), "{key}");
        let output = knock(home.path())
            .args(["--sequence-only", "--at", "0", name])
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {output:?}");
    }
    // A Latin-1 name cannot be a profile's door.
    let latin1 = json["valid"][4]["uri"].as_str().unwrap();
    let e = stderr(&import(home.path(), &[latin1]));
    assert!(e.contains("not UTF-8"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_profile_file_that_is_a_link_stays_one_and_finds_its_secret() {
    let home = tempfile::tempdir().unwrap();
    let dotfiles = home.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    fs::create_dir_all(home.path().join("knock")).unwrap();
    fs::write(dotfiles.join("config.toml"), "# shared\n").unwrap();
    let link = home.path().join("knock/config.toml");
    std::os::unix::fs::symlink(dotfiles.join("config.toml"), &link).unwrap();
    let output = import(home.path(), &[URI]);
    assert!(output.status.success(), "{output:?}");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let text = fs::read_to_string(dotfiles.join("config.toml")).unwrap();
    assert!(text.starts_with("# shared\n\n[openSSH]\n"), "{text}");
    assert_profile_derives_the_vector(home.path());
}
