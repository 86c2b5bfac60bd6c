//! Carries out a [`Plan`]: resolve once, open what needs privileges, mark a
//! one-time sequence used or read a rotating door's secret, then hit, and
//! with `--verify` (or `--proxy`) check and knock again; with `--proxy`,
//! relay over the connection that checked.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;

use knock_proto::rotating::RotatingProtocol;
use knock_proto::Protocol;

use crate::error::Error;
use crate::hit::Hit;
use crate::one_time::OneTimeKnock;
use crate::plan::{Hits, Plan};
use crate::raw::RawSender;
use crate::rotating::{self, RotatingKnock};
use crate::target::Endpoint;
use crate::verify::{self, Verify};
use crate::{proxy, send, target};

/// The hits of each knock: the same every time, or a rotating door's,
/// derived anew for each knock.
enum Knocks<'a> {
    Fixed(Vec<Hit>),
    Rotating(RotatingKnock<'a>),
}

impl Knocks<'_> {
    /// Whether any hit may be TCP, so `--flags` needs a raw socket.
    fn may_hit_tcp(&self) -> bool {
        match self {
            Knocks::Fixed(hits) => needs_raw(hits),
            Knocks::Rotating(door) => door.rotation().protocol() != RotatingProtocol::Udp,
        }
    }

    /// The hits to send now. A rotating door's knock waits for the next step
    /// when the current one is about to end (said at `-v`).
    fn hits(&self, plan: &Plan) -> Result<Vec<Hit>, Error> {
        let door = match self {
            Knocks::Fixed(hits) => return Ok(hits.clone()),
            Knocks::Rotating(door) => door,
        };
        let rotation = door.rotation();
        let hits_after_first =
            u32::try_from(rotation.length().saturating_sub(1)).unwrap_or(u32::MAX);
        let busy = plan.delay.saturating_mul(hits_after_first);
        let (step, wait) = rotating::step_to_knock(rotation, rotating::unix_now()?, busy);
        if let Some(wait) = wait {
            announce(
                plan,
                format_args!(
                    "waiting {} ms for step {step}: the current step ends too soon to knock in it",
                    wait.as_millis()
                ),
            );
            thread::sleep(wait);
        }
        Ok(door
            .sequence(step)
            .knocks()
            .iter()
            .copied()
            .map(Hit::from_knock)
            .collect())
    }
}

/// Sends the sequence of `plan`, and with `--verify` connects to the port it
/// guards, knocking again after a failed connection as many times as
/// `--retries` allows; with `--proxy`, then relays standard input and output
/// over that connection until the server closes it.
///
/// Everything that can fail before the first hit (resolution, reading the
/// one-time file, raw socket privileges, routing) is done up front; a
/// one-time sequence is marked used just before its first hit, and a retry
/// sends it again (the server has not used it unless its door opened); a
/// rotating door's retry sends the sequence of the step it falls in.
pub fn run(plan: &Plan) -> Result<(), Error> {
    let target = target::resolve(&plan.host, plan.family)?;
    let (sequence, one_time) = match &plan.hits {
        Hits::Listed(hits) => (Knocks::Fixed(hits.clone()), None),
        Hits::OneTimeFile(path) => {
            let pending = OneTimeKnock::open(path)?;
            (Knocks::Fixed(pending.hits().to_vec()), Some(pending))
        }
        Hits::Rotating(door) => (Knocks::Rotating(door.open()?), None),
    };
    let raw = match plan.raw_flags {
        Some(flags) if sequence.may_hit_tcp() => Some(RawSender::open(target, flags)?),
        _ => None,
    };
    if let Some(pending) = one_time {
        pending.consume()?;
    }
    let knock = || send_sequence(plan, target, &sequence.hits(plan)?, raw.as_ref());
    let Some(check) = plan.verify else {
        return knock();
    };
    let mut door = target;
    door.set_port(check.port);
    let connection = knock_until_open(plan, door, check, knock)?;
    if plan.proxy {
        proxy::relay(connection, door, io::stdin(), io::stdout())?;
    }
    // Otherwise `--verify` closes the connection as soon as it is made.
    Ok(())
}

/// Knocks with `knock` and connects to `door` (the knocked address with
/// `check.port`), knocking again after a failed connection as many times as
/// `check.retries` allows; returns the connection made, or why there was
/// none.
fn knock_until_open(
    plan: &Plan,
    door: SocketAddr,
    check: Verify,
    knock: impl Fn() -> Result<(), Error>,
) -> Result<TcpStream, Error> {
    let mut knocks = 0;
    loop {
        knock()?;
        knocks += 1;
        announce(plan, format_args!("verifying tcp {}", Endpoint::of(door)));
        match verify::connect(door, check.timeout) {
            Ok(connection) => return Ok(connection),
            Err(source) if knocks > check.retries => {
                return Err(Error::DoorShut(verify::DoorShut {
                    target: door,
                    knocks,
                    timeout: check.timeout,
                    source,
                }))
            }
            Err(_) => {}
        }
    }
}

/// Whether any hit goes out as a raw segment under `--flags`, so a raw socket is needed.
fn needs_raw(hits: &[Hit]) -> bool {
    hits.iter().any(|hit| hit.knock.protocol == Protocol::Tcp)
}

/// Sends every hit in order, pausing `plan.delay` after each one (the last
/// included, as knock 0.8 does, so a following command finds the door
/// already open). An error stops the sequence at the failing hit.
fn send_sequence(
    plan: &Plan,
    target: SocketAddr,
    hits: &[Hit],
    raw: Option<&RawSender>,
) -> Result<(), Error> {
    for hit in hits {
        let protocol = hit.knock.protocol;
        let endpoint = Endpoint::with_port(target, &hit.port_text);
        announce(plan, format_args!("hitting {protocol} {endpoint}"));
        let mut destination = target;
        destination.set_port(hit.knock.port);
        let sent = match (protocol, raw) {
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

/// Prints one `-v` line: on standard output, as knock 0.8 does, except with
/// `--proxy`, whose standard output carries nothing but the server's bytes.
fn announce(plan: &Plan, line: std::fmt::Arguments<'_>) {
    if !plan.verbose {
        return;
    }
    // A closed output must not stop the knock, so write errors are ignored.
    let _ = if plan.proxy {
        writeln!(io::stderr().lock(), "{line}")
    } else {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{line}").and_then(|()| stdout.flush())
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use knock_proto::Knock;

    #[test]
    fn raw_sockets_are_needed_for_tcp_hits_only() {
        let hit = |protocol| Hit::from_knock(Knock::new(1, protocol));
        assert!(needs_raw(&[hit(Protocol::Udp), hit(Protocol::Tcp)]));
        assert!(!needs_raw(&[hit(Protocol::Udp)]));
    }
}
