//! The `mcpi` binary: parses the command line once and dispatches — `mcpi study`
//! reads reports and `mcpi plan` prints a decomposition, neither needs MPI
//! ([`mcpi::study`], [`mcpi::decompose`]); `mcpi run` (or no subcommand) is the
//! MPI job ([`mcpi::job`]), whose errors rank 0 prints.

use std::process::ExitCode;

use mcpi::cli::{self, Invocation, NotRun};
use mcpi::console::print_out;
use mcpi::decompose::Decomposition;
use mcpi::error::{one_line, EXIT_OK, EXIT_USAGE};

fn main() -> ExitCode {
    let command: Box<dyn FnOnce() -> u8> = match cli::parse() {
        Invocation::Run(parsed) => return mcpi::job::main(parsed),
        Invocation::Study(parsed) => Box::new(move || {
            without_mpi("mcpi study", parsed, |options| {
                mcpi::study::run(&options).map_err(|e| (one_line(&e), e.exit_status()))
            })
        }),
        Invocation::Plan(parsed) => Box::new(move || {
            without_mpi("mcpi plan", parsed, |request| {
                let d = Decomposition::new(request.plan, request.ranks);
                if request.json {
                    print_out(&String::from_utf8_lossy(&d.json()));
                } else {
                    print_out(&d.text());
                }
                Ok(())
            })
        }),
    };
    // Under a launcher, every rank must still agree on the arguments (an MPMD
    // launch may have started `run` on other ranks).
    if mcpi::host::under_mpi_launcher() {
        mcpi::job::main_launched(command)
    } else {
        ExitCode::from(command())
    }
}

/// Runs a command that needs no MPI: prints help, or its error once as
/// `PROGRAM: error: ...`, and returns the exit status.
fn without_mpi<T>(
    program: &str,
    parsed: Result<T, NotRun>,
    command: impl FnOnce(T) -> Result<(), (String, u8)>,
) -> u8 {
    let failed = match parsed {
        Ok(args) => command(args).err(),
        Err(NotRun::Print(text)) => {
            print_out(&text);
            None
        }
        Err(NotRun::Refused(e)) => Some((one_line(&e), EXIT_USAGE)),
    };
    match failed {
        None => EXIT_OK,
        Some((line, status)) => {
            mcpi::console::eprint_line(&format!("{program}: error: {line}"));
            status
        }
    }
}
