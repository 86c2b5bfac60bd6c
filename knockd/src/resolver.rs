//! Reverse DNS for `-l`, off the packet path.
//!
//! knockd 0.8 resolves a knocker's name with a blocking lookup in the middle
//! of packet processing, so one slow DNS server stalls every knock. Here a
//! worker thread does the lookups and the log lines show a name once it is
//! known: the first lines of a new knocker may show only its address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use crate::sys;

/// How many names are remembered; the cache is cleared when it is full.
const CACHE_CAP: usize = 4096;
/// How many lookups may wait; further requests are dropped (the lines show the address).
const QUEUE_CAP: usize = 256;

type Cache = Arc<Mutex<HashMap<IpAddr, Option<String>>>>;

/// A background reverse-DNS resolver with a bounded cache.
#[derive(Debug)]
pub struct Resolver {
    requests: SyncSender<IpAddr>,
    cache: Cache,
}

impl Resolver {
    /// Starts the worker thread. Call it after daemonizing: threads do not survive `fork`.
    pub fn start() -> std::io::Result<Resolver> {
        let (requests, queue) = sync_channel(QUEUE_CAP);
        let cache: Cache = Arc::default();
        let worker_cache = Arc::clone(&cache);
        thread::Builder::new()
            .name("knockd-resolver".into())
            .spawn(move || work(&queue, &worker_cache))?;
        Ok(Resolver { requests, cache })
    }

    /// The name of `addr` if it is known; otherwise asks for it and returns `None`.
    pub fn name(&self, addr: IpAddr) -> Option<String> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = cache.get(&addr) {
            return known.clone();
        }
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        match self.requests.try_send(addr) {
            // Remember that a lookup is under way so that it is asked once.
            Ok(()) => {
                cache.insert(addr, None);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
        None
    }
}

fn work(queue: &Receiver<IpAddr>, cache: &Cache) {
    while let Ok(addr) = queue.recv() {
        let name = sys::resolve::name_of(addr);
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    #[cfg(target_os = "linux")] // expects glibc's /etc/hosts name for 127.0.0.1
    fn loopback_resolves_in_the_background() {
        let r = Resolver::start().unwrap();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            r.name(addr),
            None,
            "the first ask never blocks for an answer"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut name = None;
        while name.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            name = r.name(addr);
        }
        assert_eq!(name.as_deref(), Some("localhost"));
    }
}
