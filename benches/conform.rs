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

criterion_group!(benches, conform);
criterion_main!(benches);
