//! The import rule of the layout (README.md, "Code map"): every arrow points
//! down, from the CLI to the drivers, from the drivers to the formats and
//! the rule book, and from the formats to the rule book; no driver names
//! another; and no module, at any depth, takes part in an import cycle.
//!
//! The test reads `src/` as text. A module is named by its path from the
//! crate root (`rules::world`, `formats::scenario`, `cli::conform`); an
//! import is every `crate::…` path and every `super::…` path in a file,
//! resolved to the longest module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rooms of the layout, and which other rooms each may import.
const MAY_IMPORT: [(&str, &[&str]); 7] = [
    ("rules", &[]),
    ("formats", &["rules"]),
    ("check", &["rules", "formats"]),
    ("sim", &["rules", "formats"]),
    ("conformance", &["rules", "formats"]),
    ("ews", &["rules", "formats"]),
    (
        "cli",
        &["rules", "formats", "check", "sim", "conformance", "ews"],
    ),
];

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The module path of a file: `src/rules/world/mod.rs` is `rules::world`,
/// `src/cli/exit.rs` is `cli::exit`, `src/lib.rs` is the empty path.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments, so that a doc that names a
/// driver ("the model checker calls this") is not an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `prefix` in `code` (`crate::rules::world::step`
/// gives `["rules", "world", "step"]`). A group is expanded, so that
/// `crate::formats::{report, scenario::Bounds}` gives both paths.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(prefix) {
        let i = from + found;
        from = i + prefix.len();
        // `a::crate::x` or `super::super::x` is part of a longer path, which
        // the search for its first segment reads.
        let boundary = !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
        let after = &code[from..];
        if boundary {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            let head: Vec<&str> = after[..end].split("::").filter(|s| !s.is_empty()).collect();
            if after[..end].ends_with("::") && after[end..].starts_with('{') {
                for item in group_items(&after[end..]) {
                    let mut path = head.clone();
                    path.extend(item.split("::").filter(|s| !s.is_empty()));
                    out.push(path);
                }
            } else {
                out.push(head);
            }
        }
    }
    out
}

/// The leading path of each item of the group that `text` opens with
/// (`{report as r, scenario::{Bounds, load}}` gives `report` and
/// `scenario`), split at the group's own commas.
fn group_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(&text[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(|item| {
            let item = item.trim();
            let end = item
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(item.len());
            item[..end].trim_end_matches(':')
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// The module graph of `src/`: each module and the modules it imports.
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    // The longest known module that a path names.
    let resolve = |path: Vec<String>| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| modules.contains(m))
    };
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let code = code_of(&text);
        for grouped in ["crate::{", "super::{"] {
            assert!(
                !code.contains(grouped),
                "{}: a grouped `{grouped}…}}` import hides its arrows from this test; name each module",
                file.display()
            );
        }
        let is_mod_rs = file.ends_with("mod.rs");
        let parent: Vec<String> = if is_mod_rs {
            module.clone()
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        assert!(
            !code.contains("#[path"),
            "{}: `#[path]` moves a module where this test does not look",
            file.display()
        );
        let mut imports = BTreeSet::new();
        for path in paths_after(&code, "crate::") {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            // A `crate::` path that names no module (a re-export at the root,
            // or an exported macro) would hide an arrow.
            let target = resolve(path.clone()).unwrap_or_else(|| {
                panic!(
                    "{}: `crate::{}` names no module of src/; import from the module that defines it",
                    file.display(),
                    path.join("::")
                )
            });
            imports.insert(target);
        }
        for path in paths_after(&code, "super::") {
            // `super::` in a `mod.rs` or a leaf file names a sibling of the
            // file's own module, and each further `super` goes up one more
            // level; inline `mod tests` use `super::*`, which names the file
            // itself and adds no arrow.
            let mut base = if is_mod_rs {
                module[..module.len().saturating_sub(1)].to_vec()
            } else {
                parent.clone()
            };
            let ups = path.iter().take_while(|s| **s == "super").count();
            base.truncate(base.len().saturating_sub(ups));
            let mut full = base;
            full.extend(path.iter().skip(ups).map(|s| s.to_string()));
            imports.extend(resolve(full));
        }
        // A parent that uses a child it declares (`mod conform;` and then
        // `conform::run(…)`) depends on it, so a child that imports its
        // parent back closes a cycle.
        for line in code.lines() {
            let declared = line
                .trim()
                .trim_start_matches("pub ")
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'));
            if let Some(child) = declared
                && !paths_after(&code, &format!("{child}::")).is_empty()
            {
                let mut full = if is_mod_rs {
                    module.clone()
                } else {
                    parent.clone()
                };
                full.push(child.to_string());
                imports.extend(resolve(full));
            }
        }
        imports.remove(&module);
        graph.insert(module, imports);
    }
    graph
}

#[test]
fn every_import_points_down() {
    let graph = import_graph();
    let rooms: BTreeMap<&str, &[&str]> = MAY_IMPORT.into_iter().collect();
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        let Some(room) = module.first() else {
            continue; // lib.rs and main.rs sit above every room.
        };
        let allowed = rooms.get(room.as_str()).unwrap_or_else(|| {
            panic!("src/{room} is not a room of the layout: add it to MAY_IMPORT")
        });
        for import in imports {
            let target = import.first().map(String::as_str).unwrap_or("");
            if target != room && !allowed.contains(&target) {
                wrong.push(format!(
                    "{} imports {}",
                    module.join("::"),
                    import.join("::")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_rule_book_imports_only_itself() {
    let graph = import_graph();
    let rule_modules: Vec<_> = graph
        .keys()
        .filter(|m| m.first().is_some_and(|r| r == "rules"))
        .collect();
    assert!(
        rule_modules.len() >= 8,
        "the rule book has only {} modules: the test reads the wrong folder",
        rule_modules.len()
    );
    for module in rule_modules {
        for import in &graph[module] {
            assert_eq!(
                import.first().map(String::as_str),
                Some("rules"),
                "{} imports {}",
                module.join("::"),
                import.join("::")
            );
        }
    }
}

#[test]
fn no_module_takes_part_in_an_import_cycle() {
    let graph = import_graph();
    // Depth-first search with three colours; a grey module reached again
    // closes a cycle, which the stack spells out.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour: BTreeMap<&Vec<String>, Colour> =
        graph.keys().map(|m| (m, Colour::White)).collect();
    fn visit<'a>(
        m: &'a Vec<String>,
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        colour: &mut BTreeMap<&'a Vec<String>, Colour>,
        stack: &mut Vec<&'a Vec<String>>,
    ) -> Option<String> {
        colour.insert(m, Colour::Grey);
        stack.push(m);
        for next in graph.get(m).into_iter().flatten() {
            let Some((key, _)) = graph.get_key_value(next) else {
                continue;
            };
            match colour[key] {
                Colour::Grey => {
                    let from = stack.iter().position(|s| *s == key).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|s| s.join("::")).collect();
                    cycle.push(key.join("::"));
                    return Some(cycle.join(" -> "));
                }
                Colour::White => {
                    if let Some(cycle) = visit(key, graph, colour, stack) {
                        return Some(cycle);
                    }
                }
                Colour::Black => {}
            }
        }
        stack.pop();
        colour.insert(m, Colour::Black);
        None
    }
    let modules: Vec<&Vec<String>> = graph.keys().collect();
    for m in modules {
        if colour[m] == Colour::White {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(m, &graph, &mut colour, &mut stack) {
                panic!("import cycle: {cycle}");
            }
        }
    }
    assert!(graph.len() >= 25, "only {} modules read", graph.len());
}

/// The files that may hold `unsafe` code: the encoder's SIMD engines and
/// the writer they share, the process-group kill of the conformance
/// runner (one `libc::killpg`), and the EWS endpoint's libxml2 schema
/// check (the no-network entity loader, and sending a validation context
/// between threads).
const UNSAFE_FILES: [&str; 6] = [
    "src/formats/encode/avx2.rs",
    "src/formats/encode/avx512.rs",
    "src/formats/encode/sse2.rs",
    "src/formats/encode/writer.rs",
    "src/conformance/process.rs",
    "src/ews/schema.rs",
];

#[test]
fn unsafe_code_stays_in_its_files_and_says_why_it_is_sound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = Vec::new();
    let mut blocks = 0usize;
    for file in rust_files(&root.join("src")) {
        let rel = file
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let is_block = code.contains("unsafe {");
            let is_fn = code.contains("unsafe fn ");
            if !is_block && !is_fn {
                continue;
            }
            blocks += 1;
            if !UNSAFE_FILES.contains(&rel.as_str()) {
                wrong.push(format!(
                    "{rel}:{}: unsafe code outside {UNSAFE_FILES:?}",
                    i + 1
                ));
                continue;
            }
            // A block needs a `// SAFETY:` comment just above it (or on its
            // line); an `unsafe fn` a `# Safety` doc section or the same.
            let look_back = if is_fn { 40 } else { 8 };
            let above = &lines[i.saturating_sub(look_back)..=i];
            let said = above.iter().any(|l| l.contains("SAFETY:"))
                || (is_fn && above.iter().any(|l| l.contains("# Safety")));
            if !said {
                wrong.push(format!(
                    "{rel}:{}: `{}` has no SAFETY comment",
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        blocks >= 20,
        "only {blocks} unsafe blocks and functions found: the test reads the wrong folder"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
