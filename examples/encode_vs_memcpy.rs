//! The encode-to-memcpy ratio, measured interleaved: 40 rounds, each of
//! 100,000 encodes of the bench's request and then 100,000 copies of its
//! bytes, keeping the best round of each. Like `benches/encode.rs`, both
//! write each request at the next of `encode::BENCHMARK_PLACEMENTS` in a
//! buffer that never moves. On a shared machine whose speed drifts between
//! criterion's separate measurements, this compares the two under the
//! same conditions. Run: `cargo run --release --example encode_vs_memcpy`.
//! BENCHMARKS.md quotes it next to criterion's figures.

use offline_im::encode::{BENCHMARK_PLACEMENTS, encode_create_item};
use std::hint::black_box;
use std::time::Instant;

/// Rounds and operations per round: bounded, so the run takes seconds.
const ROUNDS: usize = 40;
const OPS_PER_ROUND: u32 = 100_000;

/// Runs `write` once per placement in turn, `OPS_PER_ROUND` times, and
/// returns the mean nanoseconds per write. The buffer is cut or grown to
/// each placement; placements rise by less than a request's length, so
/// after the first pass it is only cut, and its capacity keeps it in place.
fn round(buf: &mut Vec<u8>, mut write: impl FnMut(&mut Vec<u8>)) -> f64 {
    let started = Instant::now();
    for k in 0..OPS_PER_ROUND as usize {
        let at = BENCHMARK_PLACEMENTS[k % BENCHMARK_PLACEMENTS.len()];
        buf.truncate(at);
        buf.resize(at, 0);
        write(buf);
        black_box(&buf);
    }
    started.elapsed().as_nanos() as f64 / f64::from(OPS_PER_ROUND)
}

fn main() {
    let r = offline_im::encode::benchmark_request();
    let mut reference = Vec::new();
    encode_create_item(&r, &mut reference);
    let (mut encoded, mut copied) = (Vec::with_capacity(8192), Vec::with_capacity(8192));
    let (mut encode_ns, mut memcpy_ns) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        encode_ns = encode_ns.min(round(&mut encoded, |b| {
            encode_create_item(black_box(&r), b)
        }));
        memcpy_ns = memcpy_ns.min(round(&mut copied, |b| {
            b.extend_from_slice(black_box(&reference))
        }));
    }
    let last = BENCHMARK_PLACEMENTS[(OPS_PER_ROUND as usize - 1) % BENCHMARK_PLACEMENTS.len()];
    assert_eq!(
        &encoded[last..],
        &reference[..],
        "every encode wrote the same request"
    );
    assert_eq!(
        &copied[last..],
        &reference[..],
        "every copy wrote the same request"
    );
    println!(
        "{} bytes, engine {:?}, {} placements: encode {encode_ns:.1} ns, memcpy {memcpy_ns:.1} ns, ratio {:.2} (target: at most 3)",
        reference.len(),
        offline_im::encode::Engine::best(),
        BENCHMARK_PLACEMENTS.len(),
        encode_ns / memcpy_ns
    );
}
