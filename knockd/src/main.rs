//! knockd: the port-knock server. All the work is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match knockd::cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // --help and --version succeed; every usage error exits 1 (0.8 exits 0, clap 2).
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    knockd::server::run(args)
}
