//! The kernel's view of the `Nft_Set` doors: the elements `knockd status`
//! lists, and `knockd close` deleting them.

use std::net::IpAddr;

use knockd_core::doors::RuntimeDoor;
use knockd_core::nft::request::Batch;
use knockd_core::nft::SetRef;
use knockd_core::Door;

use super::NftDoors;
use crate::commands::OpenDoor;
use crate::log::{ControlMessage, DaemonMessage, Logger, Source};
use crate::sys::netlink::NetlinkError;

impl NftDoors {
    /// Deletes the door's element that holds `addr` (the address itself,
    /// or the network of a door with `Open_Prefix4`/`6`); true if there was one.
    fn close(&mut self, door: &Door, addr: IpAddr) -> Result<bool, NetlinkError> {
        let mut closed = false;
        for set in self
            .sets(door)
            .into_iter()
            .filter(|s| s.ipv6 == addr.is_ipv6())
        {
            closed |= self.close_in(&set, addr)?;
        }
        Ok(closed)
    }

    /// Deletes the element of `set` that holds `addr`; true if there was one.
    pub(super) fn close_in(&mut self, set: &SetRef, addr: IpAddr) -> Result<bool, NetlinkError> {
        let found = self.elements(set)?;
        let Some(open) = found.iter().find(|o| o.element.contains(addr)) else {
            return Ok(false);
        };
        let socket = self.socket()?;
        let mut batch = Batch::new(socket.next_seq(3));
        batch.delete_element(set, &open.element);
        let result = socket.transact(&batch.finish(), |_, _| Ok(()));
        self.keep_socket(&result);
        result.map(|()| true)
    }

    /// The elements the kernel holds in the sets of `doors`, as the status
    /// lists open doors: the time left is the kernel's.
    pub fn open_doors(&mut self, doors: &[RuntimeDoor]) -> Vec<OpenDoor> {
        let mut open = Vec::new();
        for door in doors.iter().map(|r| &r.door) {
            for set in self.sets(door) {
                // An unreadable set shows nothing open: the opening
                // logged why it did not open.
                let elements = self.elements(&set).unwrap_or_default();
                open.extend(elements.into_iter().map(|e| OpenDoor {
                    door: door.name.clone(),
                    source: e.element.network(),
                    network: e.element,
                    closes_in: e.expires,
                    nft_set: Some(set.to_string()),
                }));
            }
        }
        open
    }

    /// `knockd close`: deletes the element of `door` (name and knocker)
    /// among `doors`, or with `None` every element of their sets; logs
    /// each close, and an error for a set that could not be changed.
    pub fn close_on_request(
        &mut self,
        doors: &[RuntimeDoor],
        door: Option<(&str, IpAddr)>,
        log: &mut Logger,
    ) {
        let named = |d: &&Door| door.is_none_or(|(name, _)| d.name == name);
        let nft_doors = doors
            .iter()
            .map(|r| &r.door)
            .filter(|d| d.nft_set.is_some());
        for nft_door in nft_doors.filter(named) {
            let closed = match door {
                Some((_, addr)) => self.close(nft_door, addr).map(|closed| {
                    if closed {
                        log.emit(&ControlMessage::ClosingOnRequest {
                            source: Source::with_host(addr, None),
                            door: &nft_door.name,
                        });
                    }
                }),
                None => self.close_all(nft_door),
            };
            if let Err(e) = closed {
                log.emit(&DaemonMessage::Error(&format_args!(
                    "{}: cannot close: {e}",
                    nft_door.name
                )));
            }
        }
    }

    /// Deletes every element of the door's sets.
    fn close_all(&mut self, door: &Door) -> Result<(), NetlinkError> {
        for set in self.sets(door) {
            let socket = self.socket()?;
            let mut batch = Batch::new(socket.next_seq(3));
            batch.flush_set(&set);
            let result = socket.transact(&batch.finish(), |_, _| Ok(()));
            self.keep_socket(&result);
            result?;
        }
        Ok(())
    }
}
