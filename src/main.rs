//! The `mcpi` binary: everything lives in the library; see `mcpi::run`.

fn main() -> std::process::ExitCode {
    mcpi::run::main()
}
