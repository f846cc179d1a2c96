//! The `lossgp` binary; everything is in the library ([`lossgp_cli::run`]).

fn main() -> std::process::ExitCode {
    lossgp_cli::run()
}
