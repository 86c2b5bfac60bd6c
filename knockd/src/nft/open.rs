//! Opening an `Nft_Set` door: whether it may open (what the kernel holds
//! decides `Refresh` and `Max_Open`), and the one batch that adds, or
//! re-arms, the knocker's element.

use std::time::Duration;

use knockd_core::nft::request::Batch;
use knockd_core::nft::SetRef;
use knockd_core::sources::Cidr;
use knockd_core::Door;
use libc::ENOENT;

use super::NftDoors;
use crate::commands::Opening;
use crate::log::{Logger, NftMessage, Source};
use crate::sys::netlink::NetlinkError;

impl NftDoors {
    /// Whether the door may open for `element`, by what the kernel holds:
    /// [`Opening::Extend`] when it is open for it already and refreshes,
    /// [`Opening::DoorFull`] when `Max_Open` elements are live. A door with
    /// neither `Refresh` nor `Max_Open` needs no look: adding an element
    /// that is there already leaves it as it is.
    pub fn opening(&mut self, door: &Door, element: &Cidr) -> Opening {
        if !door.refresh && door.max_open.is_none() {
            return Opening::Open;
        }
        let mut live = Vec::new();
        for set in self.sets(door) {
            // A set that cannot be read opens nothing either: the opening
            // itself reports why.
            live.extend(self.elements(&set).unwrap_or_default());
        }
        if live.iter().any(|e| e.element == *element) {
            return if door.refresh {
                Opening::Extend
            } else {
                Opening::Open
            };
        }
        match door.max_open {
            Some(max) if live.len() >= max => Opening::DoorFull { max },
            _ => Opening::Open,
        }
    }

    /// Adds `element` to the door's set for `door.cmd_timeout`, in one
    /// batch; with `rearm`, the same batch deletes it first so that its
    /// timeout starts again (a zero-cost add before the delete keeps the
    /// batch valid if the element has just expired). A missing set is
    /// created and the batch tried once more. Logs the outcome.
    pub fn open(
        &mut self,
        door: &Door,
        source: Source<'_>,
        element: Cidr,
        rearm: bool,
        log: &mut Logger,
    ) {
        let outcome = self.try_open(door, element, rearm, log);
        let seconds = door.cmd_timeout.as_secs();
        match outcome {
            Ok(set) => {
                let (door, set) = (door.name.as_str(), &set);
                log.emit(&match rearm {
                    true => NftMessage::Rearmed {
                        source,
                        door,
                        set,
                        seconds,
                    },
                    false => NftMessage::Added {
                        source,
                        door,
                        set,
                        seconds,
                    },
                });
            }
            Err(why) => log.emit(&NftMessage::OpenFailed {
                source,
                door: &door.name,
                why: &why,
            }),
        }
    }

    fn try_open(
        &mut self,
        door: &Door,
        element: Cidr,
        rearm: bool,
        log: &mut Logger,
    ) -> Result<SetRef, String> {
        let Some(set) = self.set_for(door, &element) else {
            return Err(format!(
                "table {} holds no set for {} addresses (use an inet table)",
                self.table,
                if element.network().is_ipv6() {
                    "IPv6"
                } else {
                    "IPv4"
                }
            ));
        };
        if self.unusable.contains(&set.name) {
            // The administrator may have fixed it since: the door then works.
            self.ensure(&set, log)?;
            self.unusable.remove(&set.name);
        }
        let mut result = self.add(&set, &element, door.cmd_timeout, rearm);
        if let Err(NetlinkError::Kernel { errno: ENOENT, .. }) = result {
            self.ensure(&set, log)?;
            result = self.add(&set, &element, door.cmd_timeout, rearm);
        }
        match result {
            Ok(()) => Ok(set),
            Err(e) => Err(format!(
                "{e} (adding {} to set {} of table {}; `knockd --check` tells what is wrong)",
                element.brief(),
                set.name,
                set.table
            )),
        }
    }

    pub(super) fn add(
        &mut self,
        set: &SetRef,
        element: &Cidr,
        timeout: Duration,
        rearm: bool,
    ) -> Result<(), NetlinkError> {
        let socket = self.socket()?;
        let mut batch = Batch::new(socket.next_seq(5));
        batch.add_element(set, element, timeout);
        if rearm {
            batch.delete_element(set, element);
            batch.add_element(set, element, timeout);
        }
        let result = socket.transact(&batch.finish(), |_, _| Ok(()));
        self.keep_socket(&result);
        result
    }

    /// The set of `door` that takes `element`'s family, if its table holds one.
    fn set_for(&self, door: &Door, element: &Cidr) -> Option<SetRef> {
        let ipv6 = element.network().is_ipv6();
        self.sets(door).into_iter().find(|s| s.ipv6 == ipv6)
    }
}
