//! Conformance snapshots: an implementation's transcript of each corpus
//! scenario, written as insta `.snap` files so that implementers can commit
//! them and review changes with `cargo insta review`.
//!
//! Invariants it keeps:
//! - The file format is insta's own: a YAML header (`source`, `expression`)
//!   between `---` lines, then the contents with trailing whitespace
//!   trimmed and one final newline. A test reads the files back with
//!   `insta::assert_snapshot!`.
//! - The contents depend only on the answers, so the reference and a
//!   conforming implementation write byte-identical files.
//!
//! What it deliberately does not do: compare. `conform` does; snapshots
//! record.

use super::protocol::{Answer, Driver, Fault, Op, answer_json};
use super::runner::{CorpusEntry, scenario_case};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `source` recorded in every snapshot header.
const SOURCE: &str = "offline-im snapshot";

/// The snapshot contents of one case: each request (the deployment of
/// `reset` by file name) and its answer, one line each.
pub fn snapshot_text(file: &str, requests: &[Op], answers: &[Answer]) -> String {
    let mut out = String::new();
    for (op, answer) in requests.iter().zip(answers) {
        let request = match op {
            Op::Reset { .. } => format!("{{\"op\":\"reset\",\"deployment\":\"{file}\"}}"),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        let _ = writeln!(out, "> {request}");
        let _ = writeln!(out, "< {}", answer_json(answer));
    }
    out
}

/// A whole `.snap` file, exactly as insta writes one.
fn snap_file(expression: &str, contents: &str) -> String {
    format!(
        "---\nsource: {SOURCE}\nexpression: {expression}\n---\n{}\n",
        contents.trim_end().replace("\r\n", "\n")
    )
}

/// How writing snapshots failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The implementation broke the protocol (exit code 3).
    #[error("{0}")]
    Fault(Fault),
    /// A snapshot file or the directory could not be written.
    #[error("cannot write {path}: {error}")]
    Io {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
}

/// Runs every corpus scenario against `imp` and writes `<stem>.snap` into
/// `dir` for each. Returns the files written, in corpus order.
pub fn write_snapshots(
    imp: &mut dyn Driver,
    corpus: &[CorpusEntry],
    dir: &Path,
) -> Result<Vec<PathBuf>, SnapshotError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| SnapshotError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::with_capacity(corpus.len());
    for entry in corpus {
        let case = scenario_case(entry);
        let requests = case.requests();
        let answers = imp.exchange(&requests).map_err(SnapshotError::Fault)?;
        let stem = Path::new(&case.file)
            .file_stem()
            .map_or_else(|| case.file.clone(), |s| s.to_string_lossy().into_owned());
        let path = dir.join(format!("{stem}.snap"));
        let text = snap_file(&case.file, &snapshot_text(&case.file, &requests, &answers));
        std::fs::write(&path, text).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
