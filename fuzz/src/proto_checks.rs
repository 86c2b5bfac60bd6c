//! Checks of knock-proto's readers on arbitrary bytes: sequences, TCP flag
//! specs, one-time sequences files and knock URIs, and the round trips the configuration
//! checks of `knockd_checks` reuse.
//!
//! Shared by the fuzz targets and by `knock-proto/tests/fuzz_regressions.rs`,
//! which replays the committed corpus and crash inputs on stable Rust. A
//! check returns normally for any input the code handles correctly and
//! panics otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use knock_proto::uri::KnockUri;
use knock_proto::{OneTimeSequences, Sequence, TcpFlags};

/// Parses `data` (lossily made UTF-8) both as a knock sequence and as a TCP
/// flag spec.
pub fn sequence_and_flags(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Sequence::parse(&text) {
        Ok(sequence) => {
            assert!((1..=Sequence::MAX_LEN).contains(&sequence.len()));
            check_sequence_round_trip(&sequence);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    match TcpFlags::parse(&text) {
        Ok(flags) => {
            assert!(!flags.is_any(), "a parsed spec constrains some flag");
            check_flags_round_trip(flags);
            // Later tokens override earlier ones, so parsing in two parts
            // must give the same spec.
            if let Some((head, tail)) = text.rsplit_once(',') {
                let mut split = TcpFlags::parse(head).unwrap_or_else(|e| {
                    panic!("{text:?} parses but its head {head:?} does not: {e}")
                });
                assert!(split.add(tail).is_ok(), "tail {tail:?} of {text:?}");
                assert_eq!(split, flags, "{text:?} parsed in two parts");
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// A sequence prints in a form that reads back the same.
pub fn check_sequence_round_trip(sequence: &Sequence) {
    let printed = sequence.to_string();
    assert_eq!(
        Sequence::parse(&printed).as_ref(),
        Ok(sequence),
        "{printed:?} reads back differently"
    );
}

/// A flag spec prints in a form that reads back the same, and its two
/// matchers agree on every flag byte.
pub fn check_flags_round_trip(flags: TcpFlags) {
    assert_eq!(flags.required() & flags.forbidden(), 0, "{flags:?}");
    let printed = flags.to_string();
    assert_eq!(
        TcpFlags::parse(&printed),
        Ok(flags),
        "{printed:?} reads back differently"
    );
    for byte in 0..=u8::MAX {
        assert_eq!(
            flags.matches(byte),
            flags.first_violation(byte).is_none(),
            "{flags} on flag byte {byte:#04x}: matches and first_violation disagree"
        );
    }
}

/// Reads `data` (lossily made UTF-8) as a knock URI: one that reads prints
/// a URI that reads back the same (so every accepted URI has one canonical
/// form), and a refusal says why in a message of one line.
pub fn knock_uri(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match KnockUri::parse(&text) {
        Ok(uri) => {
            let printed = uri.to_string();
            assert_eq!(
                KnockUri::parse(&printed).as_ref(),
                Ok(&uri),
                "{printed:?} reads back differently"
            );
            assert!(printed.len() <= KnockUri::MAX_LEN, "{printed:?}");
        }
        Err(error) => {
            let message = error.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
        }
    }
}

/// Writes `data` to a scratch file and reads it as a one-time sequences file;
/// when it reads, consumes every sequence in turn, checking after each that
/// the line's first byte in the file is now `#` (a byte-order mark is the
/// first line's first byte: the mark goes over it, where 0.8 writes it) and
/// that reading the file again gives the same remaining sequences.
pub fn one_time(data: &[u8]) {
    let scratch = Scratch::new(data);
    let path = scratch.0.as_path();
    let mut sequences = match OneTimeSequences::load(path) {
        Ok(sequences) => sequences,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let total = sequences.remaining();
    for used in 1..=total {
        let line = sequences.active_line();
        assert!(
            sequences.active().is_some(),
            "sequences remain but none is active"
        );
        if let Err(error) = sequences.consume() {
            panic!("consuming line {line:?} of an unchanged file: {error}");
        }
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let marked = line
            .and_then(|line| bytes.split(|&b| b == b'\n').nth(line - 1))
            .and_then(|line| line.first());
        assert_eq!(marked, Some(&b'#'), "line {line:?} was not marked used");
        let reread = OneTimeSequences::load(path).unwrap_or_else(|e| {
            panic!("after consuming line {line:?} the file no longer reads: {e}")
        });
        assert_eq!(reread.remaining(), total - used);
        assert_eq!(reread.active(), sequences.active());
        assert_eq!(reread.active_line(), sequences.active_line());
    }
    assert!(sequences.consume().is_ok(), "consuming an exhausted file");
    assert_eq!(sequences.remaining(), 0);
}

/// A file of its own under /dev/shm (the temp dir where there is none),
/// removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(data: &[u8]) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let name = format!(
            "knockd-fuzz-one-time-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        if let Err(e) = fs::write(&path, data) {
            panic!("writing scratch file {}: {e}", path.display());
        }
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
