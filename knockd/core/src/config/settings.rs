//! A door's settings one by one, in one fixed order: the walk that both the
//! `-D` configuration echo and `--check` print a door from, each in its own
//! words.

use std::net::IpAddr;
use std::time::Duration;

use knock_proto::TcpFlags;

use super::{Door, SequenceSource};
use crate::sources::Cidr;

/// One setting of a [`Door`], as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting<'a> {
    /// `Target`, when set.
    Target(IpAddr),
    /// `Sequence`, `One_Time_Sequences` or the `Rotating_*` keys.
    Sequence(&'a SequenceSource),
    /// `Seq_Timeout`.
    SeqTimeout(Duration),
    /// `TCPFlags`, which may constrain no flag.
    TcpFlags(TcpFlags),
    /// One of the four commands, when set, under its name from
    /// [`Door::commands`].
    Command(&'static str, &'a str),
    /// `Nft_Set`, when set.
    NftSet(&'a str),
    /// `Cmd_Timeout` (`Open_For`).
    CmdTimeout(Duration),
    /// `Refresh`, when on.
    Refresh,
    /// `Cooldown`, when not zero.
    Cooldown(Duration),
    /// `Max_Open`, when set.
    MaxOpen(usize),
    /// `Allow_Repeats`, when on.
    AllowRepeats,
    /// `Strict`, when on.
    Strict,
    /// `Allow_From`, when not empty.
    AllowFrom(&'a [Cidr]),
    /// `Deny_From`, when not empty.
    DenyFrom(&'a [Cidr]),
    /// `Open_Prefix4`, when set.
    OpenPrefix4(u8),
    /// `Open_Prefix6`, when set.
    OpenPrefix6(u8),
}

impl Setting<'_> {
    /// The setting's name as knockd prints it (`seq_timeout`,
    /// `start_command`, `allow_from`).
    pub fn name(&self) -> &'static str {
        match self {
            Setting::Target(_) => "target",
            Setting::Sequence(_) => "sequence",
            Setting::SeqTimeout(_) => "seq_timeout",
            Setting::TcpFlags(_) => "tcpflags",
            Setting::Command(name, _) => name,
            Setting::NftSet(_) => "nft_set",
            Setting::CmdTimeout(_) => "cmd_timeout",
            Setting::Refresh => "refresh",
            Setting::Cooldown(_) => "cooldown",
            Setting::MaxOpen(_) => "max_open",
            Setting::AllowRepeats => "allow_repeats",
            Setting::Strict => "strict",
            Setting::AllowFrom(_) => "allow_from",
            Setting::DenyFrom(_) => "deny_from",
            Setting::OpenPrefix4(_) => "open_prefix4",
            Setting::OpenPrefix6(_) => "open_prefix6",
        }
    }
}

impl Door {
    /// The door's settings in knockd 0.8's echo order: the ones that are
    /// always there (sequence, timeouts, TCP flags) and the optional ones
    /// that are set or on.
    pub fn settings(&self) -> Vec<Setting<'_>> {
        let mut list = Vec::with_capacity(16);
        list.extend(self.target.map(Setting::Target));
        list.push(Setting::Sequence(&self.sequence));
        list.push(Setting::SeqTimeout(self.seq_timeout));
        list.push(Setting::TcpFlags(self.tcp_flags));
        let commands = self.commands().into_iter();
        list.extend(commands.filter_map(|(name, command)| Some(Setting::Command(name, command?))));
        list.extend(self.nft_set.as_deref().map(Setting::NftSet));
        list.push(Setting::CmdTimeout(self.cmd_timeout));
        list.extend(self.refresh.then_some(Setting::Refresh));
        list.extend((!self.cooldown.is_zero()).then_some(Setting::Cooldown(self.cooldown)));
        list.extend(self.max_open.map(Setting::MaxOpen));
        list.extend(self.allow_repeats.then_some(Setting::AllowRepeats));
        list.extend(self.strict.then_some(Setting::Strict));
        let (allow, deny) = (&self.sources.allow, &self.sources.deny);
        list.extend((!allow.is_empty()).then_some(Setting::AllowFrom(allow)));
        list.extend((!deny.is_empty()).then_some(Setting::DenyFrom(deny)));
        list.extend(self.open_prefix.v4.map(Setting::OpenPrefix4));
        list.extend(self.open_prefix.v6.map(Setting::OpenPrefix6));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_in_echo_order_and_optional_ones_only_when_set() {
        let sequence = SequenceSource::OneTime("/x".into());
        let mut door = Door::new("d", sequence.clone());
        assert_eq!(
            door.settings(),
            [
                Setting::Sequence(&sequence),
                Setting::SeqTimeout(crate::config::model::DEFAULT_SEQ_TIMEOUT),
                Setting::TcpFlags(TcpFlags::ANY),
                Setting::CmdTimeout(crate::config::model::DEFAULT_CMD_TIMEOUT),
            ]
        );
        door.target = Some(IpAddr::from([198, 18, 1, 1]));
        door.stop_command = Some("close".into());
        door.strict = true;
        let names: Vec<&str> = door.settings().iter().map(Setting::name).collect();
        assert_eq!(
            names,
            [
                "target",
                "sequence",
                "seq_timeout",
                "tcpflags",
                "stop_command",
                "cmd_timeout",
                "strict"
            ]
        );
    }
}
