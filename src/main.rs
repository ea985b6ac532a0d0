//! The `mcpi` binary: everything lives in the library. `mcpi study` reads
//! reports and needs no MPI ([`mcpi::study`]); anything else is the MPI job
//! ([`mcpi::run`]).

fn main() -> std::process::ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "study") {
        mcpi::study::main()
    } else {
        mcpi::run::main()
    }
}
