//! Replaying the journal, one line at a time: however many doors it holds,
//! the knockd that wrote it reads it back (no cap on the file, only on a
//! line, and [`MAX_RECORD`] is also the most a record written may take).

use std::collections::HashMap;
use std::io::{self, BufRead, Read};

use super::record::{Record, HEADER};
use super::Entry;

/// The longest record line, its newline included, that is written or read
/// back: an `open` record with the longest stop command knockd runs (every
/// byte of it escaped) and a door name of thousands of bytes fits.
pub const MAX_RECORD: usize = 64 << 10;

/// What replaying a journal leaves.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The doors still open, by record id.
    pub open: HashMap<u64, Entry>,
    /// The 1-based numbers of the lines that were not records.
    pub skipped: Vec<usize>,
    /// How many of those were `open` records: doors whose stop command is
    /// lost with them.
    pub lost: usize,
}

/// Replays the journal read from `reader`.
pub fn replay(mut reader: impl BufRead) -> io::Result<Replayed> {
    let mut replayed = Replayed::default();
    let mut line = Vec::new();
    let mut number = 0;
    while let Some(whole) = next_line(&mut reader, &mut line)? {
        number += 1;
        // A last line without its newline was cut short by a crash; a line
        // longer than any record was never written by knockd.
        let record = if whole {
            String::from_utf8(line.clone()).ok()
        } else {
            None
        };
        if number == 1 && record.as_deref() == Some(HEADER) {
            continue;
        }
        match record.as_deref().and_then(Record::decode) {
            Some(record) => apply(record, &mut replayed.open),
            None => {
                replayed.skipped.push(number);
                replayed.lost += usize::from(line.starts_with(b"open\t"));
            }
        }
    }
    Ok(replayed)
}

/// Reads the next line into `line`, without its newline: `Some(true)` for
/// a line that ended with one and is at most [`MAX_RECORD`] bytes long,
/// `Some(false)` for one cut short by the end of the file or too long (kept
/// to its first [`MAX_RECORD`] bytes, the rest read past), `None` at the end.
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let cap = MAX_RECORD as u64;
    reader.by_ref().take(cap).read_until(b'\n', line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Some(true));
    }
    if line.len() < MAX_RECORD {
        return Ok(Some(false));
    }
    // Too long: skip to the end of the line, a bounded piece at a time.
    let mut rest = Vec::new();
    loop {
        rest.clear();
        reader.by_ref().take(cap).read_until(b'\n', &mut rest)?;
        if rest.is_empty() || rest.ends_with(b"\n") {
            return Ok(Some(false));
        }
    }
}

/// Applies one record to the doors still open.
fn apply(record: Record, open: &mut HashMap<u64, Entry>) {
    match record {
        Record::Open {
            id,
            deadline,
            source,
            door,
            stop,
        } => {
            let entry = Entry {
                id,
                door,
                source,
                stop,
                deadline,
            };
            open.insert(id, entry);
        }
        Record::Extend { id, deadline } => {
            if let Some(entry) = open.get_mut(&id) {
                entry.deadline = deadline;
            }
        }
        Record::Close { id } => {
            open.remove(&id);
        }
    }
}
