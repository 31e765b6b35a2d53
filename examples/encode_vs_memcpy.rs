//! The encode-to-memcpy ratio, measured interleaved: 40 rounds, each of
//! 100,000 encodes of the bench's request and then 100,000 copies of its
//! bytes, keeping the best round of each. Like `benches/encode.rs`, both
//! write through `encode::BenchmarkOutput`: each request at the next of
//! `BENCHMARK_PLACEMENTS` in the next of `BENCHMARK_BUFFERS` buffers that
//! never move. On a shared machine whose speed drifts between criterion's
//! separate measurements, this compares the two under the same conditions.
//! Run: `cargo run --release --example encode_vs_memcpy`. BENCHMARKS.md
//! quotes it next to criterion's figures.

use offline_im::formats::encode::{
    BENCHMARK_BUFFERS, BENCHMARK_PLACEMENTS, BenchmarkOutput, encode_create_item,
};
use std::hint::black_box;
use std::time::Instant;

/// Rounds and operations per round: bounded, so the run takes seconds.
const ROUNDS: usize = 40;
const OPS_PER_ROUND: u32 = 100_000;

/// Runs `write` `OPS_PER_ROUND` times, each into the next place of
/// `output`, and returns the mean nanoseconds per write.
fn round(output: &mut BenchmarkOutput, mut write: impl FnMut(&mut Vec<u8>)) -> f64 {
    let started = Instant::now();
    for _ in 0..OPS_PER_ROUND {
        let buffer = output.next_buffer();
        write(buffer);
        black_box(buffer);
    }
    started.elapsed().as_nanos() as f64 / f64::from(OPS_PER_ROUND)
}

fn main() {
    let r = offline_im::formats::encode::benchmark_request();
    let mut reference = Vec::new();
    encode_create_item(&r, &mut reference);
    let (mut encoded, mut copied) = (BenchmarkOutput::new(), BenchmarkOutput::new());
    let (mut encode_ns, mut memcpy_ns) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        encode_ns = encode_ns.min(round(&mut encoded, |b| {
            encode_create_item(black_box(&r), b)
        }));
        memcpy_ns = memcpy_ns.min(round(&mut copied, |b| {
            b.extend_from_slice(black_box(&reference))
        }));
    }
    assert_eq!(
        encoded.last_written(),
        Some(&reference[..]),
        "every encode wrote the same request, and no buffer moved"
    );
    assert_eq!(
        copied.last_written(),
        Some(&reference[..]),
        "every copy wrote the same request, and no buffer moved"
    );
    println!(
        "{} bytes, engine {:?}, {} placements in {} buffers: encode {encode_ns:.1} ns, memcpy {memcpy_ns:.1} ns, ratio {:.2} (target: at most 3)",
        reference.len(),
        offline_im::formats::encode::Engine::best(),
        BENCHMARK_PLACEMENTS.len(),
        BENCHMARK_BUFFERS,
        encode_ns / memcpy_ns
    );
}
