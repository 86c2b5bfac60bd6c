//! One-time sequences files: one sequence per line, used once each.
//!
//! Blank lines and lines starting with `#` (after trimming ASCII blanks) are
//! skipped, whatever bytes follow the `#`; the active sequence is the first
//! remaining line. Consuming it writes `#` over the first byte of exactly that
//! line and syncs the file to disk before returning, so a crash right after
//! can never make the sequence valid again. Hence knockd's advice to start
//! every line with a space: ` 1001,1002` becomes `#1001,1002`, while
//! `3001,3002` becomes `#001,3002`.
//!
//! A UTF-8 byte-order mark before the first line is not part of its text, but
//! it is the line's first byte, and the mark goes there, as 0.8 writes it.
//! 0.8 does not skip a byte-order mark (it reads that line's first port as 0),
//! so a `#` after the mark would leave the used line a sequence to 0.8, while
//! over it the line is a comment to both; the two bytes left of the
//! byte-order mark are not UTF-8, which a comment line may contain.
//!
//! Unlike 0.8, a line that is not a valid sequence is an error naming the line
//! (0.8 reports it and skips it, and then may mark the wrong line as used),
//! lines are compared whole, and running out of sequences is a state the
//! caller handles, not a crash.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::file::{open_regular, read_capped, read_regular, Symlinks, MAX_FILE_SIZE};
use crate::io_message;
use crate::sequence::{Sequence, SequenceError};
use crate::visible::Visible;

/// The UTF-8 byte-order mark, which an editor may put before the first line.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// An error reading or consuming a one-time sequences file.
#[derive(Debug)]
pub struct OneTimeError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line to blame, if any.
    pub line: Option<usize>,
    /// What went wrong.
    pub kind: OneTimeErrorKind,
}

/// What went wrong with a one-time sequences file.
#[derive(Debug)]
pub enum OneTimeErrorKind {
    /// Opening, reading, writing or syncing failed.
    Io(io::Error),
    /// The file cannot be opened for writing, so no sequence could be marked used.
    NotWritable(io::Error),
    /// A line is not valid UTF-8.
    NotUtf8,
    /// A line is not a valid sequence.
    Sequence(SequenceError),
    /// The active line is no longer where it was read: the file was edited.
    Changed,
}

impl fmt::Display for OneTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Visible(&self.path.to_string_lossy()))?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        match &self.kind {
            OneTimeErrorKind::Io(e) => write!(f, ": {}", io_message(e)),
            OneTimeErrorKind::NotWritable(e) => write!(
                f,
                ": cannot be marked used: {} (the door's sequences must be writable)",
                io_message(e)
            ),
            OneTimeErrorKind::NotUtf8 => f.write_str(": line is not valid UTF-8"),
            OneTimeErrorKind::Sequence(e) => write!(f, ": {e}"),
            OneTimeErrorKind::Changed => f.write_str(
                ": the file changed since it was read; its active sequence was not marked used",
            ),
        }
    }
}

impl std::error::Error for OneTimeError {}

/// One unused sequence line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Entry {
    /// 1-based line number.
    line: usize,
    /// Byte offset of the line's first byte.
    offset: usize,
    /// The line's bytes, without the newline.
    raw: Vec<u8>,
    sequence: Sequence,
}

/// The unused sequences of a one-time sequences file, as last read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OneTimeSequences {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl OneTimeSequences {
    /// Reads `path`; every line that is not blank or a comment must be a valid sequence.
    ///
    /// The file must be a regular file of at most [`MAX_FILE_SIZE`] bytes,
    /// not a symbolic link: it is written to, and a link could redirect the
    /// mark (and echo another file's lines in errors).
    pub fn load(path: &Path) -> Result<Self, OneTimeError> {
        let bytes = read_regular(path, MAX_FILE_SIZE, Symlinks::Refuse)
            .map_err(|e| error(path, None, OneTimeErrorKind::Io(e)))?;
        Self::parse(path, &bytes)
    }

    /// Checks that the file can be marked, as it must be before its door
    /// opens: a read-only file system or missing permission is reported
    /// now, not at the first knock. Opens the file for writing and writes nothing.
    pub fn check_writable(&self) -> Result<(), OneTimeError> {
        open_regular(&self.path, true, Symlinks::Refuse)
            .map(drop)
            .map_err(|e| error(&self.path, None, OneTimeErrorKind::NotWritable(e)))
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self, OneTimeError> {
        let mut entries = Vec::new();
        let mut offset = 0;
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let start = offset;
            offset += raw.len() + 1;
            // A byte-order mark is not part of the first line's text, as in
            // knockd.conf, but it is part of the line: the mark goes over its
            // first byte, where 0.8 puts it (see the module docs).
            let content = match index {
                0 => raw.strip_prefix(BYTE_ORDER_MARK).unwrap_or(raw),
                _ => raw,
            }
            .trim_ascii();
            // Before the UTF-8 check: `#` over a byte-order mark leaves two
            // stray bytes, and the line is a comment all the same.
            if content.is_empty() || content.starts_with(b"#") {
                continue;
            }
            let text = std::str::from_utf8(content)
                .map_err(|_| error(path, Some(line), OneTimeErrorKind::NotUtf8))?;
            let sequence = Sequence::parse(text)
                .map_err(|e| error(path, Some(line), OneTimeErrorKind::Sequence(e)))?;
            entries.push(Entry {
                line,
                offset: start,
                raw: raw.to_vec(),
                sequence,
            });
        }
        Ok(OneTimeSequences {
            path: path.to_owned(),
            entries,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence to knock now, or `None` when every line is used.
    pub fn active(&self) -> Option<&Sequence> {
        self.entries.first().map(|e| &e.sequence)
    }

    /// The 1-based line of the active sequence.
    pub fn active_line(&self) -> Option<usize> {
        self.entries.first().map(|e| e.line)
    }

    /// How many unused sequences remain.
    pub fn remaining(&self) -> usize {
        self.entries.len()
    }

    /// Marks the active sequence used on disk (`#` over its line's first byte,
    /// then fsync) and moves on to the next line.
    ///
    /// The file is read again first: if the active line is no longer at the same
    /// place with the same bytes, nothing is written and [`OneTimeErrorKind::Changed`]
    /// is returned, after which this value holds the file's current state. On any
    /// error the sequence must be treated as not consumed: the door must not open.
    pub fn consume(&mut self) -> Result<(), OneTimeError> {
        let Some(active) = self.entries.first() else {
            return Ok(());
        };
        let io_err = |e| error(&self.path, Some(active.line), OneTimeErrorKind::Io(e));
        let mut file = open_regular(&self.path, true, Symlinks::Refuse).map_err(io_err)?;
        let bytes =
            read_capped(file.try_clone().map_err(io_err)?, MAX_FILE_SIZE).map_err(io_err)?;
        let current = Self::parse(&self.path, &bytes)?;
        if current.entries.first() != Some(active) {
            let line = active.line;
            *self = current;
            return Err(error(&self.path, Some(line), OneTimeErrorKind::Changed));
        }
        // Seek and write rather than a positioned write: the same on every
        // platform, and the descriptor is ours alone.
        file.seek(SeekFrom::Start(active.offset as u64))
            .and_then(|_| file.write_all(b"#"))
            .and_then(|()| file.sync_data())
            .map_err(io_err)?;
        self.entries.remove(0);
        Ok(())
    }
}

fn error(path: &Path, line: Option<usize>, kind: OneTimeErrorKind) -> OneTimeError {
    OneTimeError {
        path: path.to_owned(),
        line,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    const FILE: &str = " 1001,1002,1003\n 2001,2002:udp,2003\n# a comment line\n\n3001,3002\n";

    fn write(content: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        fs::write(f.path(), content).unwrap();
        f
    }

    #[test]
    fn consuming_marks_exactly_the_active_line_and_reopening_yields_the_next() {
        // Checklist 69 and 70.
        let f = write(FILE);
        let mut ots = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(
            ots.active().unwrap().to_string(),
            "1001:tcp,1002:tcp,1003:tcp"
        );
        ots.consume().unwrap();
        assert_eq!(
            fs::read_to_string(f.path()).unwrap(),
            "#1001,1002,1003\n 2001,2002:udp,2003\n# a comment line\n\n3001,3002\n"
        );
        let mut reopened = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(reopened.active(), ots.active());
        assert_eq!(reopened.active_line(), Some(2));
        reopened.consume().unwrap();
        let mut last = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(last.active().unwrap().to_string(), "3001:tcp,3002:tcp");
        last.consume().unwrap();
        assert_eq!(
            fs::read_to_string(f.path()).unwrap(),
            "#1001,1002,1003\n#2001,2002:udp,2003\n# a comment line\n\n#001,3002\n"
        );
        assert_eq!(last.active(), None);
        assert_eq!(OneTimeSequences::load(f.path()).unwrap().remaining(), 0);
    }

    #[test]
    fn exhaustion_is_a_value_not_a_crash() {
        let f = write("# nothing left\n\n");
        let mut ots = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(ots.active(), None);
        ots.consume().unwrap();
        assert_eq!(fs::read_to_string(f.path()).unwrap(), "# nothing left\n\n");
    }

    #[test]
    fn a_bad_line_is_an_error_naming_it() {
        // 0.8 skips it and may then mark it instead of the active line (checklist 73).
        let f = write("1001,abc\n1101,1102\n");
        let err = OneTimeSequences::load(f.path()).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.to_string().contains("port abc is invalid"), "{err}");
    }

    #[test]
    fn a_line_starting_with_a_no_break_space_is_refused() {
        // Only ASCII blanks are trimmed, so it is not a sequence (found by
        // fuzzing: marking it left `#\xa0...`, not UTF-8, when comments had
        // to be UTF-8 as well).
        let f = write("\u{a0}1001,1002\n 2001\n");
        let err = OneTimeSequences::load(f.path()).unwrap_err();
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn crlf_lines_are_accepted() {
        let f = write(" 1,2\r\n 3,4\r\n");
        let mut ots = OneTimeSequences::load(f.path()).unwrap();
        ots.consume().unwrap();
        assert_eq!(fs::read_to_string(f.path()).unwrap(), "#1,2\r\n 3,4\r\n");
        assert_eq!(ots.active().unwrap().to_string(), "3:tcp,4:tcp");
    }

    #[test]
    fn an_edited_file_is_not_marked_and_is_reread() {
        let f = write(" 1,2\n 3,4\n");
        let mut ots = OneTimeSequences::load(f.path()).unwrap();
        fs::write(f.path(), " 5,6\n 1,2\n").unwrap();
        let err = ots.consume().unwrap_err();
        assert!(matches!(err.kind, OneTimeErrorKind::Changed));
        assert_eq!(fs::read_to_string(f.path()).unwrap(), " 5,6\n 1,2\n");
        assert_eq!(ots.active().unwrap().to_string(), "5:tcp,6:tcp");
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_the_mark_goes_over_it() {
        // Where 0.8 writes it: 0.8 reads the line after the byte-order mark as
        // a sequence, so `#` after the byte-order mark would not retire it there.
        let f = write("\u{feff} 1,2\n 3,4\n");
        let mut ots = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(ots.active().unwrap().to_string(), "1:tcp,2:tcp");
        ots.consume().unwrap();
        assert_eq!(fs::read(f.path()).unwrap(), b"#\xBB\xBF 1,2\n 3,4\n");
        let reread = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(reread.active().unwrap().to_string(), "3:tcp,4:tcp");
        assert_eq!(reread.active_line(), Some(2));
    }

    #[test]
    fn a_comment_may_hold_bytes_that_are_not_utf8() {
        // What 0.8, or we, leave of a used line that started with a multibyte
        // character; the sequence lines themselves must still be UTF-8.
        let f = tempfile::NamedTempFile::new().unwrap();
        fs::write(f.path(), b"#\xBB\xBF 1,2\n\t#\xA0 T\xFCr\n 3,4\n").unwrap();
        let ots = OneTimeSequences::load(f.path()).unwrap();
        assert_eq!(ots.active().unwrap().to_string(), "3:tcp,4:tcp");
        assert_eq!(ots.remaining(), 1);
        fs::write(f.path(), b" 1,2\n \xFC3,4\n").unwrap();
        let err = OneTimeSequences::load(f.path()).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(matches!(err.kind, OneTimeErrorKind::NotUtf8), "{err}");
    }

    #[test]
    fn errors_show_invisible_characters() {
        let f = write(" 1,2\n\u{200b}3,4\n");
        let err = OneTimeSequences::load(f.path()).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.to_string().contains("port \\u{200b}3 is invalid"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_neither_followed_nor_echoed_nor_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("shadow");
        fs::write(&target, "root:secret\n").unwrap();
        let otp = dir.path().join("otp");
        fs::write(&otp, " 1,2\n").unwrap();
        let mut ots = OneTimeSequences::load(&otp).unwrap();
        ots.check_writable().unwrap();
        // Swapped for a link after loading.
        fs::remove_file(&otp).unwrap();
        std::os::unix::fs::symlink(&target, &otp).unwrap();
        let err = ots.consume().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is a symbolic link, which is not followed"),
            "{err}"
        );
        assert!(ots.check_writable().is_err());
        let err = OneTimeSequences::load(&otp).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "root:secret\n");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = OneTimeSequences::load(Path::new("/nonexistent/otp")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/otp: No such file or directory"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = OneTimeSequences::parse(Path::new("p"), &bytes);
        }
    }
}
