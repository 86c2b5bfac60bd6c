//! `Nft_Set` doors: the opener adds the knocker to a kernel set with a
//! timeout, in one netlink batch, and the kernel removes it when the
//! timeout runs out. Nothing is forked, no stop command waits in knockd,
//! and the ledger has no entry for these doors: a knockd that dies, a lost
//! ledger or a full disk cannot leave such a door open.
//!
//! A door `Nft_Set = ssh` uses the sets `ssh_v4` (`ipv4_addr`) and `ssh_v6`
//! (`ipv6_addr`) of `Nft_Table` (`inet knockd` by default; an `ip` table
//! holds only the first, an `ip6` table only the second). knockd creates
//! the table and the sets when they are missing, at start, at reload and
//! when an opening finds them gone, and never touches another table or
//! set. The rule that lets the sets' addresses in is the administrator's
//! (`ip saddr @ssh_v4 tcp dport 22 accept`); `--check` warns about a set
//! that no rule of the table looks up.
//!
//! Here: the connection and the sets (start, reload); `open`: opening and
//! re-arming; `view`: the status and `knockd close`; `check`: `--check`.

mod check;
#[cfg(all(test, target_os = "linux"))]
mod kernel_tests;
mod open;
mod view;

use std::collections::HashSet;

use knockd_core::doors::RuntimeDoor;
use knockd_core::nft::consts::{NFT_MSG_NEWSET, NFT_MSG_NEWSETELEM};
use knockd_core::nft::reply::{self, OpenElement, SetInfo};
use knockd_core::nft::request::{self, Batch};
use knockd_core::nft::{SetRef, Table};
use knockd_core::Door;
use libc::ENOENT;

use crate::log::{Logger, NftMessage};
use crate::sys::netlink::{Netlink, NetlinkError};

pub use check::check;

/// The opener's connection to the kernel's sets, and which doors' sets
/// cannot be used.
#[derive(Debug)]
pub struct NftDoors {
    /// Opened on first use, and again after a socket error.
    socket: Option<Netlink>,
    table: Table,
    /// Sets, by name, that exist but are unfit (another key type, no
    /// `flags timeout`) or could not be created, as found at start or
    /// reload: a knock checks such a set again before it uses it.
    unusable: HashSet<String>,
}

impl NftDoors {
    /// No connection yet; doors' sets go in `table` (`inet knockd` when None).
    pub fn new(table: Option<&Table>) -> NftDoors {
        NftDoors {
            socket: None,
            table: table.cloned().unwrap_or_else(Table::default_table),
            unusable: HashSet::new(),
        }
    }

    /// The sets of `door`: one per family its table holds.
    pub fn sets(&self, door: &Door) -> Vec<SetRef> {
        door_sets(&self.table, door)
    }

    /// At start and at each reload (with the reloaded `table`): makes sure
    /// every `Nft_Set` door's table and sets exist, creating what is
    /// missing, and logs each door whose set is unfit.
    pub fn prepare(&mut self, table: Option<&Table>, doors: &[RuntimeDoor], log: &mut Logger) {
        self.table = table.cloned().unwrap_or_else(Table::default_table);
        self.unusable.clear();
        for runtime in doors.iter().filter(|r| r.door.nft_set.is_some()) {
            let door = &runtime.door;
            for set in self.sets(door) {
                if let Err(why) = self.ensure(&set, log) {
                    log.emit(&NftMessage::DoorUnusable {
                        door: &door.name,
                        why: &why,
                    });
                    self.unusable.insert(set.name.clone());
                }
            }
        }
    }

    /// Creates `set` (and its table) if missing; an error if it exists
    /// but cannot hold the door's elements, or the kernel refuses.
    fn ensure(&mut self, set: &SetRef, log: &mut Logger) -> Result<(), String> {
        match self.set_info(set) {
            Ok(info) => return info.unfit_for(set).map_or(Ok(()), Err),
            Err(NetlinkError::Kernel { errno: ENOENT, .. }) => {}
            Err(e) => {
                return Err(format!(
                    "cannot read set {set_name}: {e}",
                    set_name = set.name
                ))
            }
        }
        let socket = self.socket().map_err(|e| e.to_string())?;
        let mut batch = Batch::new(socket.next_seq(4));
        batch.new_table(&set.table);
        batch.new_set(set, 1);
        let created = socket.transact(&batch.finish(), |_, _| Ok(()));
        self.keep_socket(&created);
        created.map_err(|e| {
            format!(
                "cannot create `{}` in table {}: {e}",
                set.declaration(),
                set.table
            )
        })?;
        log.emit(&NftMessage::SetCreated { set });
        Ok(())
    }

    /// The kernel's description of `set`.
    fn set_info(&mut self, set: &SetRef) -> Result<SetInfo, NetlinkError> {
        let socket = self.socket()?;
        let mut info = None;
        let get = request::get_set(socket.next_seq(1), set);
        let result = socket.transact(&get, |cmd, attrs| {
            if cmd == NFT_MSG_NEWSET {
                info = Some(SetInfo::parse(attrs)?);
            }
            Ok(())
        });
        self.keep_socket(&result);
        result?;
        info.ok_or(NetlinkError::Kernel {
            errno: ENOENT,
            index: 0,
        })
    }

    /// The elements of `set` as the kernel holds them now.
    pub fn elements(&mut self, set: &SetRef) -> Result<Vec<OpenElement>, NetlinkError> {
        let socket = self.socket()?;
        let mut live = Vec::new();
        let dump = request::dump_elements(socket.next_seq(1), set);
        let result = socket.transact(&dump, |cmd, attrs| {
            if cmd == NFT_MSG_NEWSETELEM {
                live.extend(reply::elements(attrs)?);
            }
            Ok(())
        });
        self.keep_socket(&result);
        result.map(|()| reply::open_elements(live))
    }

    fn socket(&mut self) -> Result<&mut Netlink, NetlinkError> {
        if self.socket.is_none() {
            self.socket = Some(Netlink::open().map_err(NetlinkError::Io)?);
        }
        self.socket
            .as_mut()
            .ok_or_else(|| NetlinkError::Io(std::io::Error::other("no netlink socket")))
    }

    /// After a socket error the socket may hold a half-read answer:
    /// the next request opens a fresh one.
    fn keep_socket<T>(&mut self, result: &Result<T, NetlinkError>) {
        if let Err(NetlinkError::Io(_) | NetlinkError::Parse(_)) = result {
            self.socket = None;
        }
    }
}

/// The sets of `door` in `table`: `<Nft_Set>_v4` and `<Nft_Set>_v6`, those
/// the table's family holds; a family the door opens for a prefix of
/// (`Open_Prefix4`/`Open_Prefix6`) has a set with `flags interval`.
pub fn door_sets(table: &Table, door: &Door) -> Vec<SetRef> {
    let Some(base) = door.nft_set.as_deref() else {
        return Vec::new();
    };
    let prefix = door.open_prefix;
    [false, true]
        .into_iter()
        .filter(|&ipv6| table.family.holds(ipv6))
        .map(|ipv6| {
            let interval = if ipv6 { prefix.v6 } else { prefix.v4 }.is_some();
            SetRef::new(table, base, ipv6, interval)
        })
        .collect()
}
