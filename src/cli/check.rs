//! The `check` and `explore` subcommands: the model checker's report, and
//! stateright's Explorer over the same model.

use super::exit::{EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATION};
use super::input::load;
use crate::check;
use crate::formats::scenario;
use stateright::Model;
use std::io::Write;
use std::path::PathBuf;

/// Loads a scenario and builds its checker model.
fn load_model(
    path: Option<&std::path::Path>,
    err: &mut dyn Write,
) -> Option<(scenario::Scenario, check::CheckModel)> {
    let scenario = load(path, err)?;
    match check::CheckModel::new(&scenario) {
        Ok(m) => Some((scenario, m)),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            None
        }
    }
}

/// Runs `check` and prints its report as text or JSON.
pub(super) fn check(
    path: Option<PathBuf>,
    opts: check::CheckOptions,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some((scenario, model)) = load_model(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    let report = check::run(model, &scenario.file, &scenario.name, opts);
    let text = if json {
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    } else {
        check::render_text(&report)
    };
    let _ = writeln!(out, "{text}");
    if report.holds() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}

/// Serves stateright's Explorer for the model until the process is stopped.
pub(super) fn explore(
    path: Option<PathBuf>,
    addr: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some((scenario, model)) = load_model(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    // stateright's server panics if it cannot bind, so bind once first to
    // turn a taken or malformed address into a clear error.
    if let Err(e) = std::net::TcpListener::bind(addr) {
        let _ = writeln!(
            err,
            "error: cannot listen on `{addr}`: {e}; expected a free HOST:PORT such as 127.0.0.1:3000"
        );
        return EXIT_BAD_INPUT;
    }
    let _ = writeln!(
        out,
        "Explorer for {} ({}) at http://{addr}/ (Ctrl-C to stop)",
        scenario.name, scenario.file
    );
    let _ = out.flush();
    let _checker = model.checker().serve(addr);
    loop {
        std::thread::park();
    }
}
