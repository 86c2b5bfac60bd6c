//! knockd's configuration: the model ([`Config`], [`Door`]) and its two
//! readers, knockd 0.8's knockd.conf syntax ([`knockd_conf`]) and TOML
//! ([`toml`]), chosen by the file's extension in [`Config::load`].
//!
//! The readers share the model, the errors and the value parsers of
//! the private `value` module; this module only dispatches to them.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod error;
pub mod knockd_conf;
mod model;
pub mod open_prefix;
mod rotating;
pub mod settings;
pub mod toml;
mod value;

use std::path::Path;

use knock_proto::file::{read_regular, Symlinks, MAX_FILE_SIZE};

pub use error::ConfigError;
pub use error::ConfigErrorKind;
pub use model::DisabledDoor;
pub use model::{Config, Door, LogFormat, Options, RotatingSource, SequenceSource};
pub use value::MAX_COMMAND_LEN;

impl Config {
    /// Reads a configuration file, choosing the reader by extension: `.toml`
    /// files are TOML, everything else is knockd.conf syntax. The file must
    /// be a regular file (a symbolic link to one is fine) of at most
    /// [`MAX_FILE_SIZE`] bytes; a FIFO or a device is refused without
    /// blocking.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = read_regular(path, MAX_FILE_SIZE, Symlinks::Follow)
            .map_err(|e| ConfigError::io(path, &e))?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            toml::parse(path, &bytes)
        } else {
            knockd_conf::parse(path, &bytes)
        }
    }
}
