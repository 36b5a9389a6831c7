//! The `socbot` binary: everything lives in the library; see `socbot --help`.

fn main() -> std::process::ExitCode {
    socbot::cli::main()
}
