//! The `mcpi` binary: parses the command line once and dispatches — `mcpi study`
//! reads reports and needs no MPI ([`mcpi::study`]); `mcpi run` (or no
//! subcommand) is the MPI job ([`mcpi::job`]), whose errors rank 0 prints.

use std::process::ExitCode;

use mcpi::cli::{self, Invocation, NotRun};
use mcpi::error::{one_line, EXIT_OK, EXIT_USAGE};

fn main() -> ExitCode {
    match cli::parse() {
        Invocation::Run(parsed) => mcpi::job::main(parsed),
        Invocation::Study(parsed) => {
            let status = match parsed {
                Ok(options) => match mcpi::study::run(&options) {
                    Ok(()) => EXIT_OK,
                    Err(e) => {
                        eprintln!("mcpi study: error: {}", one_line(&e));
                        e.exit_status()
                    }
                },
                Err(NotRun::Print(text)) => {
                    mcpi::console::print_out(&text);
                    EXIT_OK
                }
                Err(NotRun::Refused(e)) => {
                    eprintln!("mcpi study: error: {}", one_line(&e));
                    EXIT_USAGE
                }
            };
            ExitCode::from(status)
        }
    }
}
