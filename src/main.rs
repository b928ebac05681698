//! The `tokmon` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    tokmon::cli::main()
}
