//! Embeds the scenario corpus (models/*.toml) so that `offline-im conform`
//! and `offline-im snapshot` carry it wherever the binary goes.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("models/ is part of the crate")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    // Sorted, so that the corpus order (and every report) is the same on
    // every file system.
    files.sort();
    let mut out = String::from(
        "/// The scenario corpus: (path, text), sorted by path.\npub const CORPUS: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        let path = dir.join(f);
        writeln!(
            out,
            "    (\"models/{f}\", include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("corpus.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
