//! `--check` on `Nft_Set` doors: each set exists and fits the door, or the
//! running kernel would create it (tried in a batch that is then undone),
//! and some rule of the table looks it up.

use std::collections::HashSet;

use knockd_core::nft::consts::NFT_MSG_NEWRULE;
use knockd_core::nft::reply::referenced_sets;
use knockd_core::nft::request::{self, Batch};
use knockd_core::nft::{SetRef, Table};
use knockd_core::Door;

use libc::ENOENT;

use super::NftDoors;
use crate::sys::netlink::NetlinkError;

/// What `--check` found about the doors' sets.
#[derive(Debug, Default)]
pub struct Findings {
    /// Sets that would not work: each breaks its door.
    pub problems: Vec<String>,
    /// Sets that work but that no rule looks up: they open nothing.
    pub warnings: Vec<String>,
    /// One line per set on what knockd would do with it.
    pub notes: Vec<String>,
}

/// Checks the sets of every `Nft_Set` door of `doors` in `table`.
pub fn check(table: Option<&Table>, doors: &[&Door]) -> Findings {
    let mut nft = NftDoors::new(table);
    let mut findings = Findings::default();
    let mut usable = Vec::new();
    for door in doors.iter().filter(|d| d.nft_set.is_some()) {
        for set in nft.sets(door) {
            match state(&mut nft, &set) {
                Ok(note) => {
                    findings.notes.push(note);
                    usable.push(set);
                }
                Err(why) => findings.problems.push(format!(
                    "door {}: {why} --> the door would open nothing",
                    door.name
                )),
            }
        }
    }
    if usable.is_empty() {
        return findings;
    }
    match looked_up(&mut nft) {
        Ok(names) => {
            for set in usable.iter().filter(|s| !names.contains(&s.name)) {
                let family = if set.ipv6 { "ip6" } else { "ip" };
                findings.warnings.push(format!(
                    "no rule of table {} looks up set {}, so an address knockd adds to it \
                     opens nothing: add a rule such as `{family} saddr @{} tcp dport 22 accept` \
                     to an input chain of that table",
                    set.table, set.name, set.name
                ));
            }
        }
        Err(e) => findings
            .warnings
            .push(format!("cannot read the rules of table {}: {e}", nft.table)),
    }
    findings
}

/// What knockd would do with `set`: use it, or create it (the kernel
/// accepts it: a batch creating it, ended by a change that fails on
/// purpose so the kernel undoes it all, fails only at that change).
fn state(nft: &mut NftDoors, set: &SetRef) -> Result<String, String> {
    let declared = format!("`{}` in table {}", set.declaration(), set.table);
    match nft.set_info(set) {
        Ok(info) => {
            return info
                .unfit_for(set)
                .map_or(Ok(format!("uses {declared}")), Err)
        }
        Err(NetlinkError::Kernel { errno: ENOENT, .. }) => {}
        Err(e) => return Err(format!("cannot read set {}: {e}", set.name)),
    }
    let socket = nft.socket().map_err(|e| e.to_string())?;
    let mut batch = Batch::new(socket.next_seq(4));
    batch.new_table(&set.table);
    batch.new_set(set, 1);
    // No set has this name: knockd's are letters, digits, `_`, `.` and `/`.
    let sentinel = SetRef::new(&set.table, "knockd check: undo", false, false);
    batch.flush_set(&sentinel);
    match socket.transact(&batch.finish(), |_, _| Ok(())) {
        Err(NetlinkError::Kernel {
            errno: ENOENT,
            index: 2,
        }) => Ok(format!("would create {declared}")),
        Err(e) => Err(format!("cannot create {declared}: {e}")),
        Ok(()) => Err(format!(
            "checking {declared} changed nothing it should have"
        )),
    }
}

/// The names of the sets the rules of the table look up (none when the
/// table does not exist yet).
fn looked_up(nft: &mut NftDoors) -> Result<HashSet<String>, NetlinkError> {
    let table = nft.table.clone();
    let socket = nft.socket()?;
    let mut names = HashSet::new();
    let dump = request::dump_rules(socket.next_seq(1), &table);
    let result = socket.transact(&dump, |cmd, attrs| {
        if cmd == NFT_MSG_NEWRULE {
            names.extend(referenced_sets(attrs)?);
        }
        Ok(())
    });
    match result {
        Err(NetlinkError::Kernel { errno: ENOENT, .. }) => Ok(names),
        other => other.map(|()| names),
    }
}
