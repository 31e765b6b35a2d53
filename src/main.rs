//! The `offline-im` binary: a thin wrapper over `offline_im::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = offline_im::cli::main_with(std::env::args(), &mut stdout.lock(), &mut stderr.lock());
    ExitCode::from(code)
}
