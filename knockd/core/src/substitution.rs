//! What a door's command is run with: `%IP%`, `%NET%` and `%PREFIX%`
//! replaced by the knocker's address, network and prefix length.
//!
//! `%IP%` is knockd 0.8's, and keeps its meaning: the knocker's address,
//! dotted quad or compressed lower-case IPv6. `%NET%` is the network the
//! door opens for, in CIDR (`198.51.100.0/24`, `2001:db8:1:2::/64`; a
//! door without `Open_Prefix4`/`Open_Prefix6` opens for the knocker alone,
//! `198.51.100.7/32`), and `%PREFIX%` its length alone (`24`).

use std::net::IpAddr;

use crate::sources::Cidr;

/// The longest text `%IP%` becomes (an IPv6 address without zeros to
/// compress: `ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`).
const LONGEST_ADDRESS: usize = 39;

/// Each token with the longest text it can become.
const TOKENS: [(&str, usize); 3] = [
    ("%IP%", LONGEST_ADDRESS),
    ("%NET%", LONGEST_ADDRESS + "/128".len()),
    ("%PREFIX%", "128".len()),
];

/// `command` with every token replaced for a knock from `knocker` that
/// opens its door for `network`.
pub fn expand(command: &str, knocker: IpAddr, network: Cidr) -> String {
    // No replacement text holds a `%`, so one token's text never forms another.
    command
        .replace("%IP%", &knocker.to_string())
        .replace("%NET%", &network.to_string())
        .replace("%PREFIX%", &network.prefix().to_string())
}

/// The length of `command` once every token is as long as it can be.
pub fn longest_expansion(command: &str) -> usize {
    TOKENS.iter().fold(command.len(), |len, (token, longest)| {
        let count = command.matches(token).count();
        (len + count * longest).saturating_sub(count * token.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_replaced() {
        let knocker: IpAddr = "2001:db8:1:2:a:b:c:d".parse().unwrap();
        let network = Cidr::of(knocker, 64);
        assert_eq!(
            expand("add %NET% (%IP%, /%PREFIX%) %IP%", knocker, network),
            "add 2001:db8:1:2::/64 (2001:db8:1:2:a:b:c:d, /64) 2001:db8:1:2:a:b:c:d"
        );
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            expand("%NET% %IP% %PREFIX% %ip%", v4, Cidr::of(v4, 32)),
            "198.51.100.7/32 198.51.100.7 32 %ip%"
        );
    }

    #[test]
    fn the_longest_expansion_is_an_upper_bound() {
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        assert_eq!(longest.to_string().len(), LONGEST_ADDRESS);
        let command = "x %IP% %NET% %PREFIX% %NET%";
        let widest = expand(command, longest, Cidr::of(longest, 128));
        assert_eq!(longest_expansion(command), widest.len());
        assert_eq!(longest_expansion("no tokens"), 9);
    }
}
