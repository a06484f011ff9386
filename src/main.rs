//! The `ladder` binary: the server (`ladder serve`) and the staff CLI.

fn main() -> std::process::ExitCode {
    ladder::cli::main()
}
