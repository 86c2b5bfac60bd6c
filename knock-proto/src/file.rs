//! Opening the files knockd and knock read (configuration, one-time
//! sequences, the door ledger) so that no file can hang or exhaust the
//! reader: never blocking in `open` (a FIFO), never following a symlink
//! where none is expected, only regular files, and at most a size cap.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The largest file knockd reads: far beyond any real configuration,
/// one-time sequences file or door ledger.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Whether a symlink at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Follow it (a configuration file managed as a link).
    Follow,
    /// Refuse it (a file knockd writes to, which a link could redirect).
    Refuse,
}

/// Opens `path` for reading (and writing with `write`), refusing anything
/// but a regular file without blocking on a FIFO or a device.
pub fn open_regular(path: &Path, write: bool, symlinks: Symlinks) -> io::Result<File> {
    let is_link = || {
        path.symlink_metadata()
            .is_ok_and(|meta| meta.file_type().is_symlink())
    };
    let link_refused = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link, which is not followed",
        )
    };
    // Where O_NOFOLLOW exists it makes this check race-free.
    if symlinks == Symlinks::Refuse && is_link() {
        return Err(link_refused());
    }
    let mut options = OpenOptions::new();
    options.read(true).write(write);
    no_block(&mut options, symlinks);
    let file = options.open(path).map_err(|error| {
        // A link swapped in after the check: O_NOFOLLOW's ELOOP.
        if symlinks == Symlinks::Refuse && is_link() {
            link_refused()
        } else {
            error
        }
    })?;
    let meta = file.metadata()?;
    // Windows opened a link itself rather than follow it (`no_block`): the
    // opened file is the link, refused here as O_NOFOLLOW refuses it.
    if meta.file_type().is_symlink() {
        return Err(link_refused());
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `cap` bytes, opened as [`open_regular`] does.
pub fn read_regular(path: &Path, cap: u64, symlinks: Symlinks) -> io::Result<Vec<u8>> {
    read_capped(open_regular(path, false, symlinks)?, cap)
}

/// Reads an opened file to its end, refusing one larger than `cap` bytes.
pub fn read_capped(file: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        ));
    }
    Ok(bytes)
}

/// Creates `path` holding `contents`, readable and writable by its owner
/// only: a new file or an error, never an existing one overwritten nor a
/// link followed (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600 from the
/// start, so the secret is never readable by others even for an instant).
/// When writing fails, the file is removed: no partial file is left behind.
/// On Windows the file is created new too; its permissions are the folder's.
pub fn create_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    private_mode(&mut options);
    let mut file = options.open(path)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(error) = written {
        drop(file);
        // The file is ours (O_EXCL): removing it removes only what we wrote.
        let _ = std::fs::remove_file(path);
        return Err(error);
    }
    Ok(())
}

/// Replaces `path` with a private file holding `contents`: written new
/// beside it ([`create_private`]) and renamed over it, so that a failure
/// leaves the old file whole. `prepare` gets the new file's path before the
/// rename (to give it the old file's permissions, say); if it fails, or the
/// rename does, the new file is removed.
pub fn replace_private(
    path: &Path,
    contents: &[u8],
    prepare: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.new", std::process::id()));
    let temp = std::path::PathBuf::from(temp);
    create_private(&temp, contents)?;
    prepare(&temp)
        .and_then(|()| std::fs::rename(&temp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
}

#[cfg(unix)]
fn private_mode(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
}

/// Windows has no mode bits; `create_new` already refuses an existing file
/// or link at the path.
#[cfg(not(unix))]
fn private_mode(_options: &mut OpenOptions) {}

/// Why a file that holds secrets (or commands run as root) cannot be trusted:
/// someone other than the user reading it, or root, may change or read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Group or others have permission bits on the file that they must not.
    Mode {
        /// The file's permission bits.
        mode: u32,
        /// The bits that must be clear (`0o077` for a secret, `0o022` for a
        /// file only its owner may write).
        forbidden: u32,
    },
    /// The file belongs to a user other than its reader and root, who could
    /// replace what it says.
    Owner {
        /// The file's owner.
        owner: u32,
        /// The user reading it.
        user: u32,
    },
}

impl Exposure {
    /// The exposure of a file owned by `owner` with permission bits `mode`
    /// to `user`, who reads it: an owner other than `user` or root, else a
    /// bit of `forbidden` set in `mode`.
    pub fn of(mode: u32, owner: u32, user: u32, forbidden: u32) -> Option<Exposure> {
        if owner != user && owner != 0 {
            Some(Exposure::Owner { owner, user })
        } else if mode & forbidden != 0 {
            Some(Exposure::Mode {
                mode: mode & 0o7777,
                forbidden,
            })
        } else {
            None
        }
    }

    /// The exposure of the file `meta` describes to `user`; see [`Exposure::of`].
    #[cfg(unix)]
    pub fn of_file(meta: &std::fs::Metadata, user: u32, forbidden: u32) -> Option<Exposure> {
        use std::os::unix::fs::MetadataExt;
        Exposure::of(meta.mode(), meta.uid(), user, forbidden)
    }

    /// What is wrong, in words: `group or others may write it (mode 0620)`.
    pub fn reason(&self) -> String {
        match *self {
            Exposure::Mode { mode, forbidden } => {
                let bits = mode & forbidden;
                let verbs: Vec<&str> = [(0o044, "read"), (0o022, "write"), (0o011, "execute")]
                    .into_iter()
                    .filter(|(mask, _)| bits & mask != 0)
                    .map(|(_, verb)| verb)
                    .collect();
                format!("group or others may {} it (mode {mode:04o})", verbs.join(" or "))
            }
            Exposure::Owner { owner, user } => format!(
                "its owner (uid {owner}) is neither root nor the user reading it (uid {user}), and may change it"
            ),
        }
    }

    /// The command that fixes it, without the file's name: `chmod 600`,
    /// `chmod go-w` or `chown <user>`.
    pub fn fix(&self) -> String {
        match *self {
            Exposure::Mode { forbidden, .. } if forbidden & 0o044 != 0 => "chmod 600".to_owned(),
            Exposure::Mode { .. } => "chmod go-w".to_owned(),
            Exposure::Owner { user, .. } => format!("chown {user}"),
        }
    }
}

impl std::fmt::Display for Exposure {
    /// The reason and the fix: `group or others may read it (mode 0644); run chmod 600 on it`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; run {} on it", self.reason(), self.fix())
    }
}

#[cfg(unix)]
fn no_block(options: &mut OpenOptions, symlinks: Symlinks) {
    use std::os::unix::fs::OpenOptionsExt;
    let no_follow = match symlinks {
        Symlinks::Follow => 0,
        Symlinks::Refuse => libc::O_NOFOLLOW,
    };
    options.custom_flags(libc::O_NONBLOCK | no_follow);
}

/// Windows has no FIFO to block on; a link (a symbolic link or a junction)
/// that must not be followed is opened itself
/// (`FILE_FLAG_OPEN_REPARSE_POINT`) and refused by [`open_regular`] once
/// open, so that one swapped in after the check is still refused.
#[cfg(windows)]
fn no_block(options: &mut OpenOptions, symlinks: Symlinks) {
    use std::os::windows::fs::OpenOptionsExt;
    /// winbase.h's flag: open the reparse point, not what it points to.
    const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    if symlinks == Symlinks::Refuse {
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn regular_files_read_whole_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "1234").unwrap();
        assert_eq!(read_regular(&path, 4, Symlinks::Refuse).unwrap(), b"1234");
        let error = read_regular(&path, 3, Symlinks::Refuse).unwrap_err();
        assert_eq!(error.to_string(), "larger than 3 bytes");
    }

    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_directories_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|status| status.success()));
        for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let error = read_regular(path, MAX_FILE_SIZE, Symlinks::Follow).unwrap_err();
            assert_eq!(
                error.to_string(),
                "not a regular file",
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn any_group_or_other_bit_and_a_foreign_owner_expose_a_secret() {
        for mode in [0o620, 0o602, 0o622, 0o640, 0o604, 0o610, 0o601] {
            let exposure = Exposure::of(mode, 1000, 1000, 0o077);
            assert_eq!(
                exposure,
                Some(Exposure::Mode {
                    mode,
                    forbidden: 0o077
                }),
                "{mode:o}"
            );
        }
        let says = |mode| Exposure::of(mode, 0, 0, 0o077).unwrap().to_string();
        assert_eq!(
            says(0o620),
            "group or others may write it (mode 0620); run chmod 600 on it"
        );
        assert_eq!(
            says(0o644),
            "group or others may read it (mode 0644); run chmod 600 on it"
        );
        assert_eq!(
            says(0o666),
            "group or others may read or write it (mode 0666); run chmod 600 on it"
        );
        for mode in [0o600, 0o400] {
            assert_eq!(Exposure::of(mode, 1000, 1000, 0o077), None);
            assert_eq!(Exposure::of(mode, 0, 1000, 0o077), None, "root may own it");
        }
        let foreign = Exposure::of(0o600, 65534, 0, 0o077).unwrap();
        assert_eq!(
            foreign.to_string(),
            "its owner (uid 65534) is neither root nor the user reading it (uid 0), and may change it; run chown 0 on it"
        );
        let writable = Exposure::of(0o664, 0, 0, 0o022).unwrap();
        assert_eq!(writable.fix(), "chmod go-w");
        assert_eq!(Exposure::of(0o644, 0, 0, 0o022), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_new_mode_0600_and_never_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_private(&path, b"KEY\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"KEY\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = create_private(&path, b"OTHER\n").unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"KEY\n");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(create_private(&link, b"KEY\n").is_err());
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "secret\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            read_regular(&link, 100, Symlinks::Follow).unwrap(),
            b"secret\n"
        );
        let error = read_regular(&link, 100, Symlinks::Refuse).unwrap_err();
        assert_eq!(
            error.to_string(),
            "is a symbolic link, which is not followed"
        );
        assert!(open_regular(&link, true, Symlinks::Refuse).is_err());
    }
}
