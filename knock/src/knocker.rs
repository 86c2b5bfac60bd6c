//! Carries out a [`Plan`]: resolve once, open what needs privileges, then hit.

use std::io::{self, Write};
use std::thread;

use knock_proto::Protocol;

use crate::error::Error;
use crate::plan::Plan;
use crate::raw::RawSender;
use crate::{send, target};

/// Sends every hit of `plan` in order, pausing `plan.delay` after each one
/// (the last included, as knock 0.8 does, so a following command finds the
/// door already open).
///
/// Everything that can fail before the first hit (resolution, raw socket
/// privileges, routing) is done up front; an error after that stops the
/// sequence at the failing hit.
pub fn knock(plan: &Plan) -> Result<(), Error> {
    let target = target::resolve(&plan.host, plan.family)?;
    let raw = match plan.raw_flags {
        Some(flags) if plan.needs_raw() => Some(RawSender::open(target, flags)?),
        _ => None,
    };
    let mut stdout = io::stdout().lock();
    for hit in &plan.hits {
        let protocol = hit.knock.protocol;
        if plan.verbose {
            // A closed stdout must not stop the knock, so write errors are ignored.
            let _ = writeln!(
                stdout,
                "hitting {protocol} {}:{}",
                target.ip(),
                hit.port_text
            )
            .and_then(|()| stdout.flush());
        }
        let mut destination = target;
        destination.set_port(hit.knock.port);
        let sent = match (protocol, &raw) {
            (Protocol::Tcp, Some(raw)) => raw.send(destination),
            (Protocol::Tcp, None) => send::tcp_syn(destination),
            (Protocol::Udp, _) => send::udp_datagram(destination),
        };
        sent.map_err(|source| Error::Send {
            protocol,
            target: destination,
            source,
        })?;
        if !plan.delay.is_zero() {
            thread::sleep(plan.delay);
        }
    }
    Ok(())
}
