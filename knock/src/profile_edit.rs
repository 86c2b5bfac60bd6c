//! Adding a profile to the profile file (`knock --import`): the file's
//! other profiles, comments and layout kept as they are (toml_edit), the
//! new version written beside it and renamed over it, so the file is never
//! seen half written.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use knock_proto::file::{read_regular, Symlinks, MAX_FILE_SIZE};
use knock_proto::io_message;
use knock_proto::Visible;
use toml_edit::DocumentMut;

/// The profile file as read, to add one profile to.
pub struct ProfileFile {
    /// Where it is written: the file a link at the path leads to, if any.
    path: PathBuf,
    document: DocumentMut,
    /// Whether the file exists yet.
    exists: bool,
}

/// Why the profile file cannot take the profile.
#[derive(Debug)]
pub enum EditError {
    /// It cannot be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done: `read`, `write`.
        doing: &'static str,
        /// The reason.
        source: io::Error,
    },
    /// It is not TOML: it is left alone.
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML reader's message.
        message: String,
    },
    /// It has the profile already, and `--force` was not given.
    Exists {
        /// The profile.
        name: String,
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Io {
                path,
                doing,
                source,
            } => write!(
                f,
                "cannot {doing} the profile file {}: {}",
                path.display(),
                io_message(source)
            ),
            EditError::Syntax { path, message } => write!(
                f,
                "the profile file {} is not valid TOML, so it is left alone (fix it first): {message}",
                path.display()
            ),
            EditError::Exists { name, path } => write!(
                f,
                "profile [{}] is already in {}: give --force to replace it, or --profile NAME \
                 for another name",
                Visible(name),
                path.display()
            ),
        }
    }
}

impl std::error::Error for EditError {}

impl ProfileFile {
    /// Reads the file at `path` (none there is an empty file).
    pub fn read(path: &Path) -> Result<ProfileFile, EditError> {
        // A profile file managed as a link (dotfiles) is written where it leads.
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let io_error = |source| EditError::Io {
            path: path.clone(),
            doing: "read",
            source,
        };
        let (text, exists) = match read_regular(&path, MAX_FILE_SIZE, Symlinks::Follow) {
            Ok(bytes) => (
                String::from_utf8(bytes).map_err(|_| EditError::Syntax {
                    path: path.clone(),
                    message: "not valid UTF-8".to_owned(),
                })?,
                true,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (String::new(), false),
            Err(e) => return Err(io_error(e)),
        };
        let document = text.parse::<DocumentMut>().map_err(|e| EditError::Syntax {
            path: path.clone(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Ok(ProfileFile {
            path,
            document,
            exists,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a profile of that name unless `force`.
    pub fn check_free(&self, name: &str, force: bool) -> Result<(), EditError> {
        if self.document.contains_key(name) && !force {
            return Err(EditError::Exists {
                name: name.to_owned(),
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Adds (or replaces, in place) profile `name` from `table`, one table's
    /// TOML text as `knock_proto::profile_text` writes it, and writes the
    /// file.
    pub fn put(mut self, name: &str, table: &str) -> Result<(), EditError> {
        let syntax = |message: String| EditError::Syntax {
            path: self.path.clone(),
            message,
        };
        let mut new = table
            .parse::<DocumentMut>()
            .map_err(|e| syntax(e.to_string()))?;
        let mut item = new
            .remove(name)
            .ok_or_else(|| syntax(format!("no table [{name}] in the new profile")))?;
        // A replaced profile keeps its place and the comments above it; a
        // new one comes last, after the file's last lines (comments after
        // the last table included) and a blank line.
        let old = self.document.get(name).and_then(toml_edit::Item::as_table);
        let decor = old.map(|old| (old.decor().clone(), old.position()));
        let trailing = self.document.trailing().as_str().unwrap_or("").to_owned();
        let others = !self.document.is_empty() || !trailing.trim().is_empty();
        if let Some(table) = item.as_table_mut() {
            match decor {
                Some((decor, position)) => {
                    *table.decor_mut() = decor;
                    table.set_position(position);
                }
                None if others => {
                    let mut prefix = trailing.trim_end().to_owned();
                    prefix.push_str(if prefix.is_empty() { "\n" } else { "\n\n" });
                    table.decor_mut().set_prefix(prefix);
                    self.document.set_trailing("");
                }
                None => {}
            }
        }
        self.document.insert(name, item);
        self.write()
    }

    /// Writes the document to a new file beside the old and renames it over.
    fn write(self) -> Result<(), EditError> {
        let io_error = |source| EditError::Io {
            path: self.path.clone(),
            doing: "write",
            source,
        };
        if let Some(dir) = self.path.parent() {
            private_dirs(dir).map_err(io_error)?;
        }
        let text = self.document.to_string();
        // The profile file keeps its permissions: it need not be private.
        let keep_permissions = |temp: &Path| match self.exists {
            true => fs::metadata(&self.path)
                .and_then(|meta| fs::set_permissions(temp, meta.permissions())),
            false => Ok(()),
        };
        knock_proto::file::replace_private(&self.path, text.as_bytes(), keep_permissions)
            .map_err(io_error)
    }
}

/// Creates the folders of the profile file that are missing, readable by
/// their owner only (as the XDG base directory specification asks of
/// `~/.config`).
pub fn private_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "[new]\nhost = \"h\"\nports = [1]\n";

    #[test]
    fn a_profile_is_added_and_the_rest_kept_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "# mine\n[old]   # the old one\nhost = 'x'\nports = [ 7 ]\n",
        )
        .unwrap();
        let file = ProfileFile::read(&path).unwrap();
        file.check_free("new", false).unwrap();
        file.put("new", TABLE).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# mine\n[old]   # the old one\nhost = 'x'\nports = [ 7 ]\n\n[new]\nhost = \"h\"\nports = [1]\n"
        );
        let file = ProfileFile::read(&path).unwrap();
        let e = file.check_free("old", false).unwrap_err();
        assert!(e.to_string().contains("profile [old] is already in"), "{e}");
        file.check_free("old", true).unwrap();
        file.put("old", "[old]\nhost = \"y\"\nports = [8]\n")
            .unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# mine\n[old]   # the old one\nhost = \"y\"\nports = [8]\n\n[new]\nhost = \"h\"\nports = [1]\n"
        );
    }

    #[test]
    fn a_missing_file_and_folders_are_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/config.toml");
        ProfileFile::read(&path).unwrap().put("new", TABLE).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), TABLE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("a"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_broken_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "[a\n").unwrap();
        let e = ProfileFile::read(&path).err().unwrap();
        assert!(e.to_string().contains("is not valid TOML"), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "[a\n");
    }
}
