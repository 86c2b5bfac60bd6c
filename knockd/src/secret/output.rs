//! What `knockd secret new` prints: the door's knockd.conf lines, the
//! client's profile and the knock URI, each under a `#` comment that says
//! where it goes (`#` starts a comment in both knockd.conf and TOML).

use std::io::{self, Write};
use std::path::Path;

use knock_proto::profile_text::{profile_toml, secret_file_name, shell_word};
use knock_proto::rotating::Rotation;
use knock_proto::uri::KnockUri;

/// The door's section for knockd.conf: its name as raw bytes (a door name
/// may be Latin-1), its secret file and settings; the skew is left to its
/// default. A commented command shows where the door's own go.
pub fn door_lines(name: &[u8], secret_file: &Path, rotation: &Rotation) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    out.push(b'[');
    out.extend_from_slice(name);
    out.extend_from_slice(b"]\n    Rotating_Secret   = ");
    out.extend_from_slice(secret_file.as_os_str().as_bytes());
    out.extend_from_slice(
        format!(
            "\n    Rotating_Step     = {}\n    Rotating_Range    = {}\n    Rotating_Length   = {}\n    \
             Rotating_Protocol = {}\n    \
             # Start_Command   = /usr/sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n",
            rotation.step(),
            rotation.range(),
            rotation.length(),
            rotation.protocol()
        )
        .as_bytes(),
    );
    out
}

/// Everything `new` prints after writing `secret_file`.
pub fn print_new(
    secret_file: &Path,
    uri: &KnockUri,
    rotation: &Rotation,
    qr: bool,
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "# Wrote a new {}-byte secret to {} (mode 0600).\n#\n\
         # knockd.conf: add this door with its commands, then reload knockd (SIGHUP):",
        uri.key().len(),
        secret_file.display()
    )?;
    out.write_all(&door_lines(uri.label().as_bytes(), secret_file, rotation))?;
    let name = String::from_utf8_lossy(uri.label().as_bytes());
    let key_file = secret_file_name(&name);
    match profile_toml(&name, uri, &key_file) {
        Some(profile) => write!(
            out,
            "\n# The client's profile, in ~/.config/knock/config.toml (on Windows \
             %APPDATA%\\knock\\config.toml),\n# with the secret file copied beside it as \
             {key_file} (mode 0600); then: knock {}\n{profile}",
            shell_word(&name)
        )?,
        None => writeln!(
            out,
            "\n# The door's name is not UTF-8, which a client profile cannot hold: \
             knock it with --secret-file and --door."
        )?,
    }
    writeln!(
        out,
        "\n# Or both at once on the client: knock --import 'URI' [--profile NAME]\n\
         # (the URI holds the secret: pass it on as privately as the secret file)"
    )?;
    print_uri(&mut out, uri, qr)?;
    out.flush()
}

/// The URI on its own line, and under it the QR code with `qr`.
pub fn print_uri(out: &mut impl Write, uri: &KnockUri, qr: bool) -> io::Result<()> {
    let text = uri.to_string();
    writeln!(out, "{text}")?;
    if qr {
        let code =
            super::qr::render(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        write!(out, "{code}")?;
    }
    Ok(())
}
