//! criterion benchmark of the model checker: whole checks, with throughput
//! in generated states, so criterion reports states per second.
//!
//! - `check/default/1-thread` and `check/default/2-threads`: the whole
//!   default check (models/default.toml, every property);
//! - `check/symmetric/1-thread`: models/check-symmetric.toml with symmetry
//!   reduction, which costs a renaming per permutation per state;
//! - `check/three-messages/1-thread` and `check/three-messages/2-threads`:
//!   the default world with `messages_max = 3`, 14,118,480 states. Issue
//!   17's targets: at most 60 s, and two threads at least 1.6 times as fast
//!   as one. Each run takes about a minute, so `cargo bench --bench check`
//!   takes about twenty.
//!
//! Run with `cargo bench --bench check`. CI smoke-runs every bench once in
//! `cargo test --all-targets` (criterion's test mode, as under
//! `cargo bench -- --test`); in that mode the three-message world stops at
//! `SMOKE_STATES_MAX` states, so CI proves the bench runs without paying a
//! minute per thread count. Peak memory is measured outside criterion, with
//! `/usr/bin/time -v` (BENCHMARKS.md).

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use offline_im::check::{self, CheckModel, CheckOptions};
use offline_im::formats::scenario;
use std::path::Path;
use std::time::Duration;

/// Where a smoke run (criterion's test mode) stops the three-message world.
const SMOKE_STATES_MAX: u64 = 100_000;

fn model(path: Option<&Path>) -> CheckModel {
    let s = scenario::load_path(path).expect("the model loads");
    CheckModel::new(&s).expect("the model builds")
}

/// The default world with one more message.
fn three_messages() -> CheckModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.toml");
    let text = std::fs::read_to_string(path).expect("models/default.toml is readable");
    let three = text.replace("messages_max = 2", "messages_max = 3");
    assert_ne!(three, text, "models/default.toml sets messages_max = 2");
    let s = scenario::load("default-three-messages.toml", &three).expect("the model loads");
    CheckModel::new(&s).expect("the model builds")
}

fn options(threads: usize, states_max: Option<u64>) -> CheckOptions {
    CheckOptions {
        threads,
        states_max,
        ..CheckOptions::default()
    }
}

fn bench_check(c: &mut Criterion) {
    // criterion's own rule for its test mode: `--test`, or no `--bench`.
    // `cargo test --all-targets` passes neither, and there a full run of the
    // three-message world would cost minutes of every CI run.
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let symmetric = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/check-symmetric.toml");
    let large_states_max = smoke.then_some(SMOKE_STATES_MAX);
    let cases: [(&str, CheckModel, usize, Option<u64>, Duration); 5] = [
        (
            "default/1-thread",
            model(None),
            1,
            None,
            Duration::from_secs(10),
        ),
        (
            "default/2-threads",
            model(None),
            2,
            None,
            Duration::from_secs(10),
        ),
        (
            "symmetric/1-thread",
            model(Some(&symmetric)),
            1,
            None,
            Duration::from_secs(10),
        ),
        (
            "three-messages/1-thread",
            three_messages(),
            1,
            large_states_max,
            Duration::from_secs(600),
        ),
        (
            "three-messages/2-threads",
            three_messages(),
            2,
            large_states_max,
            Duration::from_secs(400),
        ),
    ];
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    for (name, m, threads, states_max, measurement) in cases {
        let opts = options(threads, states_max);
        group.measurement_time(measurement);
        // A run of a minute is one sample: flat sampling, not criterion's
        // linear ramp of iterations per sample.
        group.sampling_mode(if measurement > Duration::from_secs(60) {
            SamplingMode::Flat
        } else {
            SamplingMode::Auto
        });
        // The throughput is the number of states one run generates, counted
        // by a run before measuring (the same with any thread count).
        let generated = if smoke {
            1
        } else {
            check::run(m.clone(), name, name, options(2, states_max))
                .totals
                .states_generated
        };
        group.throughput(Throughput::Elements(generated as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let r = check::run(m.clone(), name, name, opts);
                assert!(r.holds_where_explored(), "{}", check::render_text(&r));
                assert_eq!(r.totals.complete(), states_max.is_none());
                r.totals.states_unique
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
