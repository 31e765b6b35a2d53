//! Bad input: every rejection names the file, line and column, what was
//! found and what was expected; nothing panics on arbitrary text; the CLI
//! exits 2 (OIM-023 for the cmdlet forms; README documents the codes).

mod common;

use offline_im::cli;
use offline_im::formats::scenario::{self, ScenarioError};
use offline_im::rules::cmdlets;
use proptest::prelude::*;

fn load_err(text: &str) -> ScenarioError {
    match scenario::load("bad.toml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// BASE with one line replaced.
fn base_with(from: &str, to: &str) -> String {
    assert!(common::BASE.contains(from), "BASE lacks {from}");
    common::BASE.replacen(from, to, 1)
}

fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap();
    let line = text[..offset].matches('\n').count() + 1;
    let col = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn the_seed_004_grant_line_is_rejected_with_the_repair() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad/seed-004-grant.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let e = scenario::load("tests/bad/seed-004-grant.toml", &text).unwrap_err();
    assert_eq!(
        (e.line, e.column),
        position_of(&text, "Grant -CsClientPolicy")
    );
    assert!(
        e.message
            .contains("`Grant-CsClientPolicy` written as one word"),
        "{e}"
    );
    assert!(e.message.contains("-PolicyName OfflineIM"), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with("tests/bad/seed-004-grant.toml:16:4: error:"),
        "{shown}"
    );
    insta::assert_snapshot!("seed_004_grant", shown);
}

#[test]
fn a_misspelt_boolean_points_at_the_value_inside_the_string() {
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\nend_ms = 1\n[[timeline]]\nat_ms = 0\ncmdlet = \"Set-CsImConfiguration -EnableOfflineIM $Ture\"\norg = \"contoso\"",
    );
    let e = load_err(&text);
    assert_eq!((e.line, e.column), position_of(&text, "$Ture"));
    assert!(e.message.contains("found `$Ture`"), "{e}");
    assert!(e.message.contains("did you mean `$True`"), "{e}");
}

#[test]
fn escaped_quotes_do_not_shift_the_column() {
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\n[[timeline]]\nat_ms = 0\ncmdlet = \"Grant-CsClientPolicy -Identity \\\"Tony Smith\\\" -PolicyName Nope\"\norg = \"contoso\"",
    );
    let s = scenario::load("bad.toml", &text).unwrap();
    let e = match offline_im::formats::report::run(&s) {
        Err(offline_im::formats::report::RunError::Input(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!((e.line, e.column), position_of(&text, "Nope"));
    assert!(e.message.contains("unknown policy `Nope`"), "{e}");
}

#[test]
fn unknown_user_in_a_send() {
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\n[[timeline]]\nat_ms = 0\nsend = { from = \"Tony Smith\", to = \"Nobody\" }",
    );
    let e = load_err(&text);
    assert_eq!((e.line, e.column), position_of(&text, "\"Nobody\""));
    assert!(
        e.message.contains("unknown user `Nobody`") && e.message.contains("`Ken Myer`"),
        "{e}"
    );
}

#[test]
fn unknown_grant_user_and_unknown_parameter() {
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\n[setup]\ncontoso = [\"Grant-CsClientPolicy -Identity 'Jo Nobody' -PolicyName X\"]",
    );
    let s = scenario::load("bad.toml", &text).unwrap();
    let e = match offline_im::formats::report::run(&s) {
        Err(offline_im::formats::report::RunError::Input(e)) => e,
        other => panic!("{other:?}"),
    };
    assert!(e.message.contains("unknown user `Jo Nobody`"), "{e}");
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\n[setup]\ncontoso = [\"Set-CsClientPolicy -Identity Global -EnableIMAutoArchive $False\"]",
    );
    let e = load_err(&text);
    assert_eq!(
        (e.line, e.column),
        position_of(&text, "-EnableIMAutoArchive ")
    );
    assert!(e.message.contains("-EnableIMAutoArchiving"), "{e}");
}

#[test]
fn duplicate_names_are_rejected_where_they_stand() {
    let text = common::BASE.replace("name = \"Ann Beebe\"", "name = \"ken myer\"");
    let e = load_err(&text);
    assert_eq!((e.line, e.column), position_of(&text, "\"ken myer\""));
    assert!(e.message.contains("duplicate user"), "{e}");
    let text = common::BASE.replace(
        "name = \"fabrikam\"\nprofile",
        "name = \"Contoso\"\nprofile",
    );
    let e = load_err(&text);
    assert!(e.message.contains("duplicate organisation"), "{e}");
    let text = base_with(
        "sites = [\"Redmond\"]",
        "sites = [\"Redmond\", \"redmond\"]",
    );
    let e = load_err(&text);
    assert_eq!((e.line, e.column), position_of(&text, "\"redmond\""));
    assert!(e.message.contains("duplicate site"), "{e}");
    let text = base_with(
        "federated_with = [\"fabrikam\"]",
        "federated_with = [\"fabrikam\", \"contoso\"]",
    );
    let e = load_err(&text);
    assert_eq!((e.line, e.column), position_of(&text, "\"contoso\"]"));
    assert!(e.message.contains("federated with itself"), "{e}");
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\n[setup]\ncontoso = [\"New-CsClientPolicy -Identity X\", \"New-CsClientPolicy -Identity x\"]",
    );
    let s = scenario::load("bad.toml", &text).unwrap();
    let Err(offline_im::formats::report::RunError::Input(e)) = offline_im::formats::report::run(&s)
    else {
        panic!()
    };
    assert!(e.message.contains("already exists"), "{e}");
}

#[test]
fn toml_syntax_errors_and_wrong_types_have_positions() {
    let e = load_err("name = \"x\"\n[deployment\n");
    assert_eq!(e.line, 2);
    let text = base_with("build = \"16.0.6920.1000\"", "build = \"16.0.6920\"");
    let e = load_err(&text);
    assert_eq!((e.line, e.column), position_of(&text, "\"16.0.6920\""));
    assert!(e.message.contains("four numbers"), "{e}");
    let text = base_with("mailbox = \"online\"", "mailbox = \"cloud\"");
    let e = load_err(&text);
    assert!(
        e.message.contains("cloud") && e.message.contains("on-premises"),
        "{e}"
    );
    let text = base_with("name = \"base\"", "name = \"base\"\nsurprise = 1");
    assert!(load_err(&text).message.contains("surprise"));
}

#[test]
fn timeline_errors() {
    let two = base_with(
        "name = \"base\"",
        "name = \"base\"\n[[timeline]]\nat_ms = 5\nsign_out = \"Tony Smith\"\nsign_in = \"Ken Myer\"",
    );
    assert!(load_err(&two).message.contains("exactly one"));
    let back = base_with(
        "name = \"base\"",
        "name = \"base\"\n[[timeline]]\nat_ms = 5\nsign_out = \"Tony Smith\"\n[[timeline]]\nat_ms = 4\nsign_in = \"Tony Smith\"",
    );
    let e = load_err(&back);
    assert!(e.message.contains("at or after"), "{e}");
    let twice = base_with(
        "name = \"base\"",
        "name = \"base\"\n[[timeline]]\nat_ms = 5\nsign_in = \"Tony Smith\"",
    );
    let s = scenario::load("bad.toml", &twice).unwrap();
    let Err(offline_im::formats::report::RunError::Input(e)) = offline_im::formats::report::run(&s)
    else {
        panic!()
    };
    assert!(e.message.contains("already signed in"), "{e}");
    assert_eq!((e.line, e.column), position_of(&twice, "[[timeline]]"));
}

#[test]
fn cmdlet_not_applicable_to_online() {
    let text = base_with(
        "name = \"base\"",
        "name = \"base\"\n[setup]\nfabrikam = [\"Set-CsImConfiguration -EnableOfflineIM $True\"]",
    );
    let s = scenario::load("bad.toml", &text).unwrap();
    let Err(offline_im::formats::report::RunError::Input(e)) = offline_im::formats::report::run(&s)
    else {
        panic!()
    };
    assert!(e.message.contains("Skype for Business Online"), "{e}");
}

fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let args = std::iter::once("offline-im".to_string()).chain(args.iter().map(|s| s.to_string()));
    let code = cli::main_with(args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn cli_exit_codes() {
    let (code, out, _) = cli(&["run"]);
    assert_eq!(code, cli::EXIT_OK);
    assert!(out.contains("route: m1 -> offline"));
    let (code, out, _) = cli(&["run", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["steps"].as_array().unwrap().len() > 5);
    let bad = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad/seed-004-grant.toml");
    let (code, out, err) = cli(&["run", bad]);
    assert_eq!(code, cli::EXIT_BAD_INPUT);
    assert!(out.is_empty());
    assert!(err.contains(":16:4: error:"), "{err}");
    let (code, _, err) = cli(&["run", "/nonexistent/x.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
    let (code, _, _) = cli(&["run", "--bogus"]);
    assert_eq!(code, 2);
    let (code, _, _) = cli(&["frobnicate"]);
    assert_eq!(code, 2);
}

/// DEC-050: `ews_latency_ms = 18446744073709551615` is rejected at load,
/// with exit 2 and a positioned error naming the key, the value found and
/// the allowed range, rather than wrapping `now + ews_latency_ms` round to
/// deliver at the pickup instant.
#[test]
fn dec_050_an_ews_latency_of_u64_max_is_rejected_at_its_position() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/bad/ews-latency-max.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let (line, column) = position_of(&text, "18446744073709551615");
    let (code, out, err) = cli(&["run", path]);
    assert_eq!(code, cli::EXIT_BAD_INPUT, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("ews-latency-max.toml:{line}:{column}: error: found ews_latency_ms = 18446744073709551615, expected 0 to 60000 ms")),
        "{err}"
    );
    let e = scenario::load("ews-latency-max.toml", &text).unwrap_err();
    assert_eq!((e.line, e.column), (line, column));
}

/// DEC-050: every option, the `[check]` latency and the scenario times are
/// checked against the one range table, at the value, in the scenario
/// loader; one past each bound is rejected and each bound is accepted.
#[test]
fn dec_050_every_scenario_key_is_checked_against_its_range_at_its_position() {
    use offline_im::rules::domain::RANGES;
    let options = |key: &str, v: i128| {
        base_with(
            "name = \"base\"",
            &format!("name = \"base\"\n[deployment.options]\n{key} = {v}"),
        )
    };
    let check = |v: i128| format!("{}\n[check]\news_latency_ms = {v}\n", common::BASE);
    let at = |v: i128| {
        format!(
            "{}\n[[timeline]]\nat_ms = {v}\nsign_out = \"Tony Smith\"\n",
            common::BASE
        )
    };
    let end = |v: i128| base_with("name = \"base\"", &format!("name = \"base\"\nend_ms = {v}"));
    let mut seen = 0;
    for r in RANGES {
        let (text, key): (Box<dyn Fn(i128) -> String>, String) = match r.key {
            "at_ms" => (Box::new(at), "at_ms".into()),
            "end_ms" => (Box::new(end), "end_ms".into()),
            "to_ms" => continue,
            k => (Box::new(move |v| options(k, v)), k.into()),
        };
        seen += 1;
        for v in [r.min, r.max] {
            if let Err(e) = scenario::load("bad.toml", &text(v.into())) {
                panic!("{key} = {v} rejected: {e}");
            }
        }
        for v in [i128::from(r.min) - 1, i128::from(r.max) + 1] {
            let t = text(v);
            let e = load_err(&t);
            // The error points at the value.
            let (line, column) = position_of(&t, &format!("{key} = {v}\n"));
            assert_eq!((e.line, e.column), (line, column + key.len() + 3), "{e}");
            let expected = format!("found {key} = {v}, expected {} to {}", r.min, r.max);
            assert!(e.message.starts_with(&expected), "{e}");
        }
        if r.key == "ews_latency_ms" {
            for v in [r.max.into(), i128::from(r.max) + 1] {
                let ok = scenario::load("bad.toml", &check(v));
                assert_eq!(ok.is_ok(), v <= r.max.into(), "check.ews_latency_ms = {v}");
                if let Err(e) = ok {
                    assert!(
                        e.message.starts_with(&format!(
                            "found check.ews_latency_ms = {v}, expected 0 to {}",
                            r.max
                        )),
                        "{e}"
                    );
                }
            }
        }
    }
    assert_eq!(seen, 6, "four options and two scenario times");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn cmdlet_parser_never_panics(line in ".{0,120}") {
        let _ = cmdlets::parse(&line);
    }

    #[test]
    fn cmdlet_parser_never_panics_on_near_misses(
        verb in prop::sample::select(vec!["Set", "Get", "New", "Grant", "Remove", "set", "Grant "]),
        noun in prop::sample::select(vec!["-CsImConfiguration", "-CsClientPolicy", "CsClientPolicy", " -CsClientPolicy"]),
        rest in "[ -~]{0,60}",
    ) {
        if let Err(e) = cmdlets::parse(&format!("{verb}{noun} {rest}")) {
            prop_assert!(e.column >= 1);
            prop_assert!(!e.expected.is_empty());
        }
    }

    #[test]
    fn scenario_loader_never_panics(text in "(?s).{0,400}") {
        if let Err(e) = scenario::load("fuzz.toml", &text) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }

    #[test]
    fn scenario_loader_never_panics_on_mutated_models(cut in 0usize..4000, insert in "[ -~\n]{0,12}") {
        let base = scenario::DEFAULT_MODEL;
        let mut at = cut.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        if let Ok(s) = scenario::load("fuzz.toml", &text) {
            let _ = offline_im::formats::report::run(&s);
        }
    }
}

/// Runs the real binary on a scenario text written to a temporary file, so
/// that a panic shows as exit code 101 instead of failing the test process.
fn run_binary_on(name: &str, text: &str) -> (i32, String) {
    let path = std::env::temp_dir().join(format!("offline-im-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).expect("the temporary directory is writable");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_offline-im"))
        .arg("run")
        .arg(&path)
        .output()
        .expect("the binary starts");
    let _ = std::fs::remove_file(&path);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The shape every diagnostic keeps however long its line: the positioned
/// header, a short excerpt and the caret, within a few kilobytes.
fn assert_bounded_diagnostic(code: i32, err: &str, line: usize, column: usize) {
    assert_eq!(
        code,
        2,
        "exit 2, not a panic (101): {}",
        &err[..err.len().min(2_000)]
    );
    assert!(err.len() < 4_096, "stderr is {} bytes", err.len());
    assert!(err.contains(&format!(":{line}:{column}: error:")), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let caret = lines
        .iter()
        .rev()
        .find(|l| l.ends_with('^'))
        .expect("a caret line");
    let excerpt = lines[lines.len() - 2];
    // The caret stands under the character it names, in the window shown.
    let caret_at = caret.chars().count() - 1;
    assert!(excerpt.chars().count() > caret_at, "{excerpt}\n{caret}");
}

/// DEC-034 (issue 15, item 12): an error past column 65,535 used to panic in a format
/// width (exit 101), and echoed the whole line.
#[test]
fn a_diagnostic_past_column_65535_exits_2_with_a_bounded_excerpt() {
    let body = "x".repeat(100_000);
    let text = format!(
        "{}[[timeline]]\nat_ms = 0\nsend = {{ from = \"Tony Smith\", body = \"{body}\", to = \"Nobody\" }}\n",
        base_with("name = \"base\"", "name = \"base\"\nend_ms = 1000")
    );
    let (line, column) = position_of(&text, "\"Nobody\"");
    assert!(column > 65_536, "the error is at column {column}");
    let (code, err) = run_binary_on("long-line", &text);
    assert_bounded_diagnostic(code, &err, line, column);
    assert!(err.contains("Nobody"), "{err}");
}

/// The cmdlet parser's errors are placed in the file too: a 100,000-character
/// setup line with an unknown parameter at its end.
#[test]
fn a_cmdlet_error_on_a_100000_character_line_is_bounded() {
    let padding = " ".repeat(100_000);
    let text = format!(
        "{}[setup]\ncontoso = [\"Set-CsClientPolicy{padding}-Bogus 1\"]\n",
        common::BASE
    );
    let (line, column) = position_of(&text, "-Bogus");
    assert!(column > 65_536, "the error is at column {column}");
    let (code, err) = run_binary_on("long-cmdlet", &text);
    assert_bounded_diagnostic(code, &err, line, column);
}

/// A 50 MB file of one line gives the same few lines of diagnostic.
#[test]
fn a_50_mb_single_line_file_exits_2_with_a_bounded_diagnostic() {
    let mut text = String::with_capacity(50 * 1024 * 1024 + 16);
    text.push_str("name = \"");
    text.push_str(&"a".repeat(50 * 1024 * 1024));
    // No closing quote: the TOML parser reports the unterminated string.
    let (code, err) = run_binary_on("fifty-megabytes", &text);
    assert_eq!(
        code,
        2,
        "exit 2, not a panic: {}",
        &err[..err.len().min(2_000)]
    );
    assert!(err.len() < 4_096, "stderr is {} bytes", err.len());
    assert!(err.contains(":1:"), "{err}");
}

/// A message that quotes a very long found value is cut, and says how much
/// was left out.
#[test]
fn a_very_long_found_value_is_cut_in_the_message() {
    let name = "N".repeat(100_000);
    let text = format!(
        "{}[[timeline]]\nat_ms = 0\nsend = {{ from = \"Tony Smith\", to = \"{name}\", body = \"x\" }}\n",
        base_with("name = \"base\"", "name = \"base\"\nend_ms = 1000")
    );
    let (line, column) = position_of(&text, &format!("\"{name}\""));
    let (code, err) = run_binary_on("long-name", &text);
    assert_bounded_diagnostic(code, &err, line, column);
    assert!(err.contains("more characters)"), "{err}");
}
