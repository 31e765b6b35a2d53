//! The `check` and `explore` subcommands: the model checker's report, and
//! stateright's Explorer over the same model.

use super::exit::{EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, EXIT_VIOLATION};
use super::input::{load, write_page};
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
    html: Option<&std::path::Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some((scenario, model)) = load_model(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let progress = |p: &check::search::Snapshot| {
        bar.set_message(progress_line(p, resident_bytes()));
        bar.tick();
    };
    let report = check::run_with_progress(model, &scenario.file, &scenario.name, opts, &progress);
    bar.finish_and_clear();
    let text = if json {
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    } else {
        check::render_text(&report)
    };
    let _ = writeln!(out, "{text}");
    if let Some(path) = html
        && !write_page(path, "counterexamples", &check::render_html(&report), err)
    {
        return EXIT_BAD_INPUT;
    }
    if !report.holds_where_explored() {
        EXIT_VIOLATION
    } else if !report.totals.complete() {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

/// The progress line of a running check: what it has visited, how fast,
/// how deep, what waits, and the process's resident memory.
pub(crate) fn progress_line(p: &check::search::Snapshot, resident: Option<u64>) -> String {
    let rate = p.states_generated as f64 / p.seconds.max(1e-9);
    let memory = resident.map_or_else(|| "?".to_string(), |b| format!("{} MiB", b >> 20));
    format!(
        "{} states ({} generated, {rate:.0}/s), depth {}, {} pending, {memory}",
        p.states_unique, p.states_generated, p.depth_max, p.states_pending
    )
}

/// This process's resident set size, from `/proc/self/status`; `None`
/// where there is no such file.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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
    let _checker = check::explorer::ExplorerModel::new(model)
        .checker()
        .serve(addr);
    loop {
        std::thread::park();
    }
}
