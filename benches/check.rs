//! criterion benchmark of the model checker: states per second.
//!
//! - `check/default`: the whole default check (models/default.toml, BFS on
//!   one thread, every property), with throughput in generated states, so
//!   criterion reports states per second.
//! - `check/symmetric`: models/check-symmetric.toml depth-first with
//!   symmetry reduction, which costs a renaming per permutation per state.
//!
//! Run with `cargo bench --bench check`; CI smoke-runs it with
//! `cargo bench -- --test`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use offline_im::check::{self, CheckModel, CheckOptions};
use offline_im::formats::scenario;
use std::path::Path;
use std::time::Duration;

fn model(path: Option<&Path>) -> CheckModel {
    let s = scenario::load_path(path).expect("the model loads");
    CheckModel::new(&s).expect("the model builds")
}

fn bench_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let symmetric = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/check-symmetric.toml");
    for (name, m) in [
        ("default", model(None)),
        ("symmetric", model(Some(&symmetric))),
    ] {
        // The throughput is the number of states one run generates.
        let generated = check::run(m.clone(), name, name, CheckOptions::default())
            .totals
            .states_generated;
        group.throughput(Throughput::Elements(generated as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let r = check::run(m.clone(), name, name, CheckOptions::default());
                assert!(r.holds());
                r.totals.states_unique
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
