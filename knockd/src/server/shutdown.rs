//! SIGTERM/SIGINT: the stop commands of open doors run, and knockd exits.

use std::process::ExitCode;
use std::time::Duration;

use super::{OpenerSide, Server};
use crate::log::DaemonMessage;

/// How long shutdown waits for commands (stop commands included) to finish:
/// with the start commands it ends on the way (see
/// [`CommandRunner::shutdown`](crate::commands::CommandRunner::shutdown)),
/// knockd exits within 5 s of SIGTERM.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

impl Server {
    /// SIGTERM/SIGINT: run the stop commands of doors still open (ending
    /// start commands they wait for), wait a bounded time for commands, print the counters with `-v`, log
    /// `shutting down` and exit 0.
    pub(super) fn shut_down(&mut self) -> ExitCode {
        if let OpenerSide::Here(here) = &mut self.side {
            self.opener_state.commands = here.stop_commands(&mut self.logger);
        }
        self.refresh_counters();
        self.counters.report(&mut self.logger);
        self.logger.emit(&DaemonMessage::Closing);
        self.logger.emit(&DaemonMessage::ShuttingDown);
        self.logger.flush();
        ExitCode::SUCCESS
    }
}
