//! criterion benchmarks of the rule book's hot path.
//!
//! - `dispatch/decide`: ns per route decision over a mixed batch of facts
//!   (every presence, signed out, gate failures), as elements per second.
//! - `scenario/default`: one full run of the embedded default scenario
//!   (setup, timeline, invariant checks after every step, report).
//!
//! Run with `cargo bench --bench dispatch`; CI smoke-runs it once in
//! `cargo test --all-targets`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use offline_im::rules::dispatch;
use std::hint::black_box;

fn bench_dispatch(c: &mut Criterion) {
    let facts = dispatch::mixed_batch();
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(facts.len() as u64));
    g.bench_function("decide", |b| {
        b.iter(|| {
            let mut offline = 0u32;
            for f in &facts {
                if dispatch::decide(black_box(f)).route.spools() {
                    offline += 1;
                }
            }
            offline
        })
    });
    g.finish();
}

fn bench_scenario(c: &mut Criterion) {
    let s = offline_im::formats::scenario::load_path(None).expect("embedded default loads");
    c.bench_function("scenario/default", |b| {
        b.iter(|| offline_im::formats::report::run(black_box(&s)).expect("default runs"))
    });
}

criterion_group!(benches, bench_dispatch, bench_scenario);
criterion_main!(benches);
