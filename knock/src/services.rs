//! Service names on Windows, which has no `/etc/services` database behind
//! `getservbyname` for a program without Winsock calls: the same file that
//! Windows' own `getservbyname` reads,
//! `%SystemRoot%\System32\drivers\etc\services`, in the format of Unix's
//! `/etc/services` (`name port/protocol [aliases...] [# comment]`).

/// The services file as `knock` names it in messages.
#[cfg(windows)]
pub const FILE: &str = r"%SystemRoot%\System32\drivers\etc\services";

/// The port `%SystemRoot%\System32\drivers\etc\services` gives `name` (or
/// an alias) for `protocol` (`tcp` or `udp`); `None` when the file cannot
/// be read, or names no such service, or gives it port 0.
#[cfg(windows)]
pub fn port(name: &str, protocol: &str) -> Option<u16> {
    use knock_proto::file::{read_regular, Symlinks, MAX_FILE_SIZE};

    let root = std::env::var_os("SystemRoot")?;
    let path = std::path::Path::new(&root).join(r"System32\drivers\etc\services");
    let bytes = read_regular(&path, MAX_FILE_SIZE, Symlinks::Follow).ok()?;
    lookup(&String::from_utf8_lossy(&bytes), name, protocol)
}

/// The port a services file's `text` gives `name` for `protocol`: the first
/// line whose name or one of whose aliases is `name` (exactly, as glibc
/// matches) and whose protocol is `protocol`.
fn lookup(text: &str, name: &str, protocol: &str) -> Option<u16> {
    text.lines().find_map(|line| {
        let entry = line.split('#').next().unwrap_or_default();
        let mut fields = entry.split_whitespace();
        let service = fields.next()?;
        let (port, proto) = fields.next()?.split_once('/')?;
        let named = service == name || fields.any(|alias| alias == name);
        if named && proto.eq_ignore_ascii_case(protocol) {
            port.parse::<u16>().ok().filter(|&port| port != 0)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of Windows' own services file, CRLF endings included.
    const WINDOWS: &str = "# Copyright (c) 1993-2004 Microsoft Corp.\r\n\
        #\r\n\
        echo                7/tcp\r\n\
        ssh                22/tcp                           #SSH Remote Login Protocol\r\n\
        domain             53/tcp                           #Domain Name Server\r\n\
        domain             53/udp                           #Domain Name Server\r\n\
        http               80/tcp    www www-http           #World Wide Web\r\n\
        zero                0/tcp\r\n\
        broken            abc/tcp\r\n";

    #[test]
    fn names_and_aliases_resolve_for_their_protocol() {
        assert_eq!(lookup(WINDOWS, "ssh", "tcp"), Some(22));
        assert_eq!(lookup(WINDOWS, "domain", "udp"), Some(53));
        assert_eq!(lookup(WINDOWS, "www-http", "tcp"), Some(80));
        assert_eq!(lookup(WINDOWS, "ssh", "udp"), None);
    }

    #[test]
    fn comments_unknown_names_and_bad_ports_give_nothing() {
        for name in ["SSH", "Remote", "#SSH", "Copyright", "zero", "broken", ""] {
            assert_eq!(lookup(WINDOWS, name, "tcp"), None, "{name}");
        }
    }
}
