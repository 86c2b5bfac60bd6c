//! `--one-time-file`: the client's walk through a one-time sequences file.
//!
//! The file has knockd's format and is marked by knock-proto's rule, the
//! server's own, so a client and a server given copies of one file stay in
//! step: each knock uses the first unused line on both sides.

use std::path::Path;

use knock_proto::OneTimeSequences;

use crate::error::Error;
use crate::hit::Hit;

/// The first unused sequence of a one-time sequences file, read but not yet
/// marked used.
#[derive(Debug)]
pub struct OneTimeKnock {
    file: OneTimeSequences,
    hits: Vec<Hit>,
}

impl OneTimeKnock {
    /// Reads `path`, refusing a file that group or others may access (it
    /// holds secrets, Unix only) and one whose sequences are all used.
    pub fn open(path: &Path) -> Result<OneTimeKnock, Error> {
        check_private(path)?;
        let file = OneTimeSequences::load(path).map_err(Error::OneTime)?;
        let hits = file
            .active()
            .ok_or_else(|| Error::OneTimeExhausted {
                path: path.to_owned(),
            })?
            .knocks()
            .iter()
            .copied()
            .map(Hit::from_knock)
            .collect();
        Ok(OneTimeKnock { file, hits })
    }

    /// The sequence's hits.
    pub fn hits(&self) -> &[Hit] {
        &self.hits
    }

    /// Marks the sequence used on disk and returns its hits. Called before
    /// the first hit goes out: a knock interrupted halfway must not leave a
    /// sequence that someone watching the wire has seen reusable.
    pub fn consume(mut self) -> Result<Vec<Hit>, Error> {
        self.file.consume().map_err(Error::OneTime)?;
        Ok(self.hits)
    }
}

/// Refuses a secret file that group or others may read or write, or that
/// a user other than this one or root owns, as ssh does with a private key.
/// A symbolic link is left to the load, which refuses it as one: knock marks
/// used lines in the file and never writes through a link.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Error> {
    use crate::exposed::SecretExposed;
    use knock_proto::file::Exposure;

    // A file that cannot be examined is reported by the load that follows.
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    match Exposure::of_file(&meta, crate::exposed::reader_uid(), 0o077) {
        None => Ok(()),
        Some(exposure) => Err(Error::SecretExposed(SecretExposed {
            file: "one-time sequences file",
            path: path.to_owned(),
            exposure,
        })),
    }
}

/// Other platforms have no Unix mode bits to check.
#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use knock_proto::{Knock, Protocol};
    use std::fs;

    fn secret(content: &str) -> tempfile::NamedTempFile {
        // NamedTempFile creates the file with mode 0600.
        let f = tempfile::NamedTempFile::new().unwrap();
        fs::write(f.path(), content).unwrap();
        f
    }

    #[test]
    fn the_first_unused_line_is_knocked_and_marked() {
        let f = secret("#1,2\n 3,4:udp\n 5\n");
        let knock = OneTimeKnock::open(f.path()).unwrap();
        let expected = [Knock::new(3, Protocol::Tcp), Knock::new(4, Protocol::Udp)];
        let knocks = |hits: &[Hit]| hits.iter().map(|h| h.knock).collect::<Vec<_>>();
        assert_eq!(knocks(knock.hits()), expected);
        // Reading marks nothing.
        assert_eq!(
            fs::read_to_string(f.path()).unwrap(),
            "#1,2\n 3,4:udp\n 5\n"
        );
        let hits = knock.consume().unwrap();
        assert_eq!(knocks(&hits), expected);
        assert_eq!(
            fs::read_to_string(f.path()).unwrap(),
            "#1,2\n#3,4:udp\n 5\n"
        );
    }

    #[test]
    fn a_used_up_file_is_an_error_naming_it() {
        let f = secret("#1,2\n\n");
        let e = OneTimeKnock::open(f.path()).unwrap_err();
        assert!(matches!(e, Error::OneTimeExhausted { .. }));
        assert!(e.to_string().contains(&f.path().display().to_string()));
    }

    #[test]
    fn a_bad_line_is_knock_protos_error() {
        let f = secret(" 1,x\n");
        let e = OneTimeKnock::open(f.path()).unwrap_err();
        assert!(matches!(e, Error::OneTime(_)));
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_access_is_refused_naming_the_fix() {
        use std::os::unix::fs::PermissionsExt;

        let f = secret(" 1,2\n");
        for mode in [0o640, 0o604, 0o620, 0o602, 0o622] {
            fs::set_permissions(f.path(), fs::Permissions::from_mode(mode)).unwrap();
            let e = OneTimeKnock::open(f.path()).unwrap_err();
            assert!(matches!(e, Error::SecretExposed(_)), "{mode:o}: {e}");
            assert!(
                e.to_string()
                    .contains(&format!("chmod 600 {}", f.path().display())),
                "{e}"
            );
        }
        fs::set_permissions(f.path(), fs::Permissions::from_mode(0o400)).unwrap();
        assert!(OneTimeKnock::open(f.path()).is_ok());
        assert_eq!(fs::read_to_string(f.path()).unwrap(), " 1,2\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_refused_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = secret(" 1,2\n");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(target.path(), &link).unwrap();
        let e = OneTimeKnock::open(&link).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert!(!e.contains("mode"), "{e}");
        assert_eq!(fs::read_to_string(target.path()).unwrap(), " 1,2\n");
    }

    /// Root only: a file chowned to another user.
    #[cfg(unix)]
    #[test]
    fn a_file_another_user_owns_is_refused_naming_the_fix() {
        if crate::sys::effective_uid() != 0 {
            eprintln!("skipped: needs root to give a file away");
            return;
        }
        let f = secret(" 1,2\n");
        std::os::unix::fs::chown(f.path(), Some(65534), None).unwrap();
        let e = OneTimeKnock::open(f.path()).unwrap_err();
        assert!(matches!(e, Error::SecretExposed(_)), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("(uid 65534) is neither root nor the user reading it (uid 0), and may change it: run `chown 0 {}`", f.path().display())),
            "{e}"
        );
    }
}
