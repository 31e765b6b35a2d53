//! The conformance harness against `offline-im serve`: requests per second,
//! pipelined 32 cases per exchange as `conform` sends them, over the corpus
//! cases and generated cases, including JSON
//! encoding, the pipe, the reference's work and decoding. The target is
//! 50,000 requests per second (BENCHMARKS.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use offline_im::conformance::{self, ConformOptions, Driver, Process};
use std::time::Duration;

fn conform(c: &mut Criterion) {
    let corpus = conformance::corpus().expect("the embedded corpus loads");
    let opts = ConformOptions {
        cases: 200,
        ..ConformOptions::default()
    };
    let cases: Vec<_> = corpus
        .iter()
        .map(conformance::scenario_case)
        .chain(conformance::generated_cases(&corpus, &opts))
        .collect();
    let batches = conformance::batched_requests(&cases);
    let requests: u64 = batches.iter().map(|b| b.len() as u64).sum();
    let serve = format!("{} serve", env!("CARGO_BIN_EXE_offline-im"));
    let mut p = Process::spawn(&serve, Duration::from_secs(10)).expect("serve starts");
    conformance::hello(&mut p).expect("serve says hello");
    let mut group = c.benchmark_group("conform");
    group.throughput(Throughput::Elements(requests));
    group.sample_size(10);
    group.bench_function("serve_pipelined", |b| {
        b.iter(|| {
            for batch in &batches {
                let answers = p.exchange(batch).expect("serve answers");
                assert_eq!(answers.len(), batch.len());
            }
        });
    });
    group.finish();
}

/// A whole default `conform` run against `offline-im serve`: the corpus,
/// the model-based cases and the default generated cases, compared step by
/// step with the in-process reference. The target is at most 30 s on two
/// cores (BENCHMARKS.md, CONF-009).
fn default_run(c: &mut Criterion) {
    let corpus = conformance::corpus().expect("the embedded corpus loads");
    let serve = format!("{} serve", env!("CARGO_BIN_EXE_offline-im"));
    let mut group = c.benchmark_group("conform");
    group.sample_size(10);
    group.bench_function("default_run_against_serve", |b| {
        b.iter(|| {
            let mut p = Process::spawn(&serve, Duration::from_secs(10)).expect("serve starts");
            let outcome = conformance::conform(&mut p, &corpus, &ConformOptions::default())
                .expect("the default options name no case");
            assert!(
                matches!(outcome, conformance::Outcome::Conforms { .. }),
                "the reference differs from itself"
            );
        });
    });
    group.finish();
}

criterion_group!(benches, conform, default_run);
criterion_main!(benches);
