//! The shared vocabulary of `knockd` and `knock`: knock sequences, TCP flag
//! specs, the door configuration with its knockd.conf and TOML readers, and
//! one-time sequences files, and the Internet checksum both programs put on
//! (or check in) packets. Nothing here touches the network.

pub mod checksum;
pub mod config;
pub mod flags;
pub mod knockd_conf;
pub mod one_time;
pub mod sequence;
pub mod toml_config;

pub use config::{Config, ConfigError, ConfigErrorKind, Door, Options, SequenceSource};
pub use flags::{FlagError, TcpFlag, TcpFlags};
pub use one_time::{OneTimeError, OneTimeErrorKind, OneTimeSequences};
pub use sequence::{Knock, Protocol, Sequence, SequenceError};
