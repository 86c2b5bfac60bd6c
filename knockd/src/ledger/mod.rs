//! The door ledger: every open door's stop command, on disk, so that a door
//! knockd opened closes even if knockd is killed.
//!
//! The ledger lives in the state directory (`--state-dir`, `StateDir`,
//! default `/var/lib/knockd`) as two files:
//!
//! * `lock`, holding the pid of the knockd that owns the directory under an
//!   exclusive `flock`, so two daemons never share one ledger and
//!   `--close-all` refuses while a daemon runs;
//! * `doors`, an append-only journal of [`record`]s: `open` is written before
//!   a start command runs, `extend` when a refreshed door's stop moves,
//!   `close` once its stop command has run.
//!
//! Durability: each record is one `write` to the file, which survives the
//! death of the process, the failure the ledger guards against. Records are
//! not fsynced: after a machine crash the kernel's firewall rules are gone
//! too, so a lost record cannot leave a door open, and a surviving one only
//! replays a harmless stop command. Compaction replaces the file atomically
//! (write a temporary, fsync, rename, fsync the directory) and keeps it to
//! the open doors plus a tail of [`TAIL`] records.
//!
//! A line that is not a record (torn by a crash, edited) is reported by line
//! number and skipped, never fatal. The journal is read a line at a time,
//! whatever its size ([`replay`]); a write that fails (a full disk) is cut
//! back to the last whole record, so the next one never glues onto it.
//!
//! The directory and every file in it must belong to knockd's user (or
//! root) and be writable by nobody else ([`trust`]), else the ledger is not
//! used: its stop commands run as that user.

pub mod record;
mod replay;
pub mod trust;

use knockd_core::sources::Cidr;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use knock_proto::file::{open_regular, Symlinks};
use knock_proto::io_message;
use nix::fcntl::{Flock, FlockArg};

use crate::log::{LedgerMessage, Logger};
use record::{Record, HEADER};
use replay::{replay, Replayed, MAX_RECORD};
use trust::{TrustError, Untrusted};

/// Records beyond the open doors that the journal may hold before it is compacted.
const TAIL: usize = 64;

/// An open door as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record id.
    pub id: u64,
    /// The door's name.
    pub door: String,
    /// The network it opened for: the knocker alone unless the door has
    /// `Open_Prefix4`/`Open_Prefix6`.
    pub source: Cidr,
    /// The stop command, `%IP%` already replaced.
    pub stop: String,
    /// When the stop command is due.
    pub deadline: SystemTime,
}

/// The ledger of the state directory this knockd owns.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    journal: File,
    /// `None` once left to another process ([`Ledger::leave_lock`]).
    lock: Option<Flock<File>>,
    open: HashMap<u64, Entry>,
    /// Records in the journal, its header not counted.
    records: usize,
    next_id: u64,
    /// The journal's length up to the end of its last whole record.
    end: u64,
    /// Whether a failed write may have left part of a record after `end`
    /// that could not be cut off: the next record then starts on a new line.
    torn: bool,
}

/// A ledger just opened, with what the previous run left in it.
#[derive(Debug)]
pub struct Opened {
    /// The ledger, now owned by this process.
    pub ledger: Ledger,
    /// Doors a previous run opened and did not close, oldest first.
    pub pending: Vec<Entry>,
    /// Lines of the journal that were not records, skipped.
    pub skipped: Vec<usize>,
    /// How many of those were doors opened (`open` records): their stop
    /// commands are lost, so those doors cannot be closed.
    pub lost: usize,
}

impl Opened {
    /// Logs what of the journal was damaged: its skipped lines, and at
    /// error priority how many doors of the previous run cannot be closed.
    pub fn report(&self, log: &mut Logger) {
        if self.skipped.is_empty() {
            return;
        }
        let path = self.ledger.path();
        log.emit(&LedgerMessage::LedgerLinesSkipped {
            path: &path,
            lines: &self.skipped,
        });
        if self.lost > 0 {
            log.emit(&LedgerMessage::DoorsLost {
                path: &path,
                count: self.lost,
            });
        }
    }
}

/// Why the ledger could not be opened.
#[derive(Debug)]
pub enum LedgerError {
    /// Another process (a running knockd) holds the state directory.
    Busy {
        /// The state directory.
        dir: PathBuf,
        /// The pid in its lock file, if readable.
        pid: Option<u32>,
    },
    /// Someone other than knockd's user or root may change the directory
    /// or a file in it.
    Untrusted(Untrusted),
    /// The directory or a file in it could not be created, read or written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Busy { dir, pid } => {
                write!(f, "state directory {} is in use", dir.display())?;
                match pid {
                    Some(pid) => write!(f, " by knockd (pid {pid})"),
                    None => f.write_str(" by another knockd"),
                }
            }
            LedgerError::Untrusted(untrusted) => untrusted.fmt(f),
            LedgerError::Io { path, error } => {
                write!(f, "door ledger {}: {}", path.display(), io_message(error))
            }
        }
    }
}

impl std::error::Error for LedgerError {}

impl Ledger {
    /// Takes the state directory `dir` (created, mode 0700, if missing),
    /// once [`trust::check`] has found it trustworthy, and reads what a
    /// previous run left open.
    pub fn open(dir: &Path) -> Result<Opened, LedgerError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |error| LedgerError::Io { path, error }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?;
        trust::check(dir).map_err(|error| match error {
            TrustError::Untrusted(untrusted) => LedgerError::Untrusted(untrusted),
            TrustError::Io { path, error } => LedgerError::Io { path, error },
        })?;
        let lock = lock(dir)?;
        let path = journal_path(dir);
        let replayed = match open_journal(&path).map_err(io_error(&path))? {
            Some(file) => replay(BufReader::new(file)).map_err(io_error(&path))?,
            None => Replayed::default(),
        };
        let Replayed {
            open,
            skipped,
            lost,
        } = replayed;
        let next_id = open.keys().max().map_or(0, |id| id + 1);
        let mut pending: Vec<Entry> = open.values().cloned().collect();
        pending.sort_by_key(|entry| (entry.deadline, entry.id));
        let (journal, torn) = match rewrite(dir, &pending) {
            Ok(journal) => (journal, false),
            // Compacting takes room that a full disk lacks: the journal as
            // it is still holds the doors, which must close.
            Err(error) => keep_journal(&path).map_err(|_| io_error(&path)(error))?,
        };
        let end = journal.metadata().map_err(io_error(&path))?.len();
        let ledger = Ledger {
            dir: dir.to_owned(),
            journal,
            lock: Some(lock),
            records: pending.len(),
            open,
            next_id,
            end,
            torn,
        };
        Ok(Opened {
            ledger,
            pending,
            skipped,
            lost,
        })
    }

    /// The journal's path, for messages.
    pub fn path(&self) -> PathBuf {
        journal_path(&self.dir)
    }

    /// Closes this process's descriptor of the lock without unlocking: in
    /// the privilege split's watcher, a copy of the opener's by `fork`.
    /// `flock` locks belong to the open file, which both share, so
    /// dropping the lock here would unlock it for the opener too.
    pub fn leave_lock(&mut self) {
        if let Some(lock) = self.lock.take() {
            // Flock has no way to give up its file without unlocking: forget
            // it, then close the descriptor it held.
            let fd = std::os::fd::AsRawFd::as_raw_fd(&*lock);
            std::mem::forget(lock);
            let _ = nix::unistd::close(fd);
        }
    }

    /// Writes this process's pid into the lock file again: after `-d` the
    /// daemon is the child of the process that took the lock.
    pub fn note_pid(&mut self) -> io::Result<()> {
        match self.lock.as_mut() {
            Some(lock) => write_pid(lock),
            None => Ok(()),
        }
    }

    /// Records a door opening before its start command runs; returns the
    /// record's id.
    pub fn record_open(
        &mut self,
        door: &str,
        source: Cidr,
        stop: &str,
        deadline: SystemTime,
    ) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let entry = Entry {
            id,
            door: door.to_owned(),
            source,
            stop: stop.to_owned(),
            deadline,
        };
        self.append(&Record::Open {
            id,
            deadline,
            source,
            door: entry.door.clone(),
            stop: entry.stop.clone(),
        })?;
        self.open.insert(id, entry);
        Ok(id)
    }

    /// Records that door `id`'s stop command moved to `deadline`.
    pub fn record_extend(&mut self, id: u64, deadline: SystemTime) -> io::Result<()> {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.deadline = deadline;
        }
        self.append(&Record::Extend { id, deadline })
    }

    /// Records that door `id`'s stop command has run, compacting the
    /// journal when its tail has grown.
    pub fn record_close(&mut self, id: u64) -> io::Result<()> {
        self.open.remove(&id);
        self.append(&Record::Close { id })?;
        if self.records > self.open.len() + TAIL {
            let mut open: Vec<Entry> = self.open.values().cloned().collect();
            open.sort_by_key(|entry| entry.id);
            self.journal = rewrite(&self.dir, &open)?;
            self.records = open.len();
            self.end = self.journal.metadata()?.len();
            self.torn = false;
        }
        Ok(())
    }

    /// Appends `record`, refusing one longer than the journal's reader
    /// takes ([`MAX_RECORD`]). A write that fails (ENOSPC) may leave part of
    /// the record: it is cut back to the last whole record, or if even that
    /// fails, the next record starts on a fresh line, so the torn part is
    /// one skipped line and never takes a later record with it.
    fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut line = String::new();
        if self.torn {
            line.push('\n');
        }
        line.push_str(&record.encode());
        line.push('\n');
        if line.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("record longer than {MAX_RECORD} bytes"),
            ));
        }
        // One write: a record is in the file whole or (after a crash in the
        // middle of it) torn, which the checksum tells.
        if let Err(error) = self.journal.write_all(line.as_bytes()) {
            self.torn = self.journal.set_len(self.end).is_err();
            return Err(error);
        }
        if self.torn {
            // Where the torn part ended is unknown: the file says.
            self.end = self.journal.metadata()?.len();
            self.torn = false;
        } else {
            self.end += line.len() as u64;
        }
        self.records += 1;
        Ok(())
    }
}

/// The journal's file name in the state directory.
const JOURNAL: &str = "doors";

fn journal_path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL)
}

/// Takes the exclusive lock of `dir`, or says who holds it.
fn lock(dir: &Path) -> Result<Flock<File>, LedgerError> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|error| LedgerError::Io {
            path: path.clone(),
            error,
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            write_pid(&mut lock).map_err(|error| LedgerError::Io { path, error })?;
            Ok(lock)
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            Err(LedgerError::Busy {
                dir: dir.to_owned(),
                pid,
            })
        }
        Err((_, errno)) => Err(LedgerError::Io {
            path,
            error: errno.into(),
        }),
    }
}

fn write_pid(lock: &mut File) -> io::Result<()> {
    lock.set_len(0)?;
    let pid = format!("{}\n", std::process::id());
    // Positioned at 0 whatever was read or written before.
    io::Seek::seek(lock, io::SeekFrom::Start(0))?;
    lock.write_all(pid.as_bytes())
}

/// The journal opened for reading, `None` if it does not exist yet.
/// Anything but a regular file is refused without blocking or following a
/// link.
fn open_journal(path: &Path) -> io::Result<Option<File>> {
    match open_regular(path, false, Symlinks::Refuse) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        opened => opened.map(Some),
    }
}

/// The journal as it is, opened for appending, and whether its last line
/// lacks its newline (a torn record, which the next must not be glued to).
fn keep_journal(path: &Path) -> io::Result<(File, bool)> {
    let journal = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let len = journal.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        std::os::unix::fs::FileExt::read_exact_at(&journal, &mut last, len - 1)?;
    }
    Ok((journal, last[0] != b'\n'))
}

/// Replaces the journal by one holding only `open`, atomically, and
/// returns it opened for appending.
fn rewrite(dir: &Path, open: &[Entry]) -> io::Result<File> {
    let path = journal_path(dir);
    let mut text = format!("{HEADER}\n");
    for entry in open {
        let record = Record::Open {
            id: entry.id,
            deadline: entry.deadline,
            source: entry.source,
            door: entry.door.clone(),
            stop: entry.stop.clone(),
        };
        text.push_str(&record.encode());
        text.push('\n');
    }
    replace_atomically(dir, JOURNAL, text.as_bytes())?;
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
}

/// Replaces the file `name` of the state directory `dir` by `bytes` so that
/// a crash leaves either the old or the new file, never a mix: write a
/// temporary (created afresh by [`trust::create_temporary`]), fsync,
/// rename, fsync the directory.
pub fn replace_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = trust::create_temporary(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join(name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
