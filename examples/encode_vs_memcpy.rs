//! The encode-to-memcpy ratio, measured interleaved: 40 rounds, each of
//! 100,000 encodes of the bench's request and then 100,000 copies of its
//! bytes, keeping the best round of each. On a shared machine whose speed
//! drifts between criterion's separate measurements, this compares the two
//! under the same conditions. Run: `cargo run --release --example
//! encode_vs_memcpy`. BENCHMARKS.md quotes it next to criterion's figures.

use offline_im::encode::encode_create_item;
use std::hint::black_box;
use std::time::Instant;

/// Rounds and operations per round: bounded, so the run takes seconds.
const ROUNDS: usize = 40;
const OPS_PER_ROUND: u32 = 100_000;

fn main() {
    let r = offline_im::encode::benchmark_request();
    let mut encoded = Vec::with_capacity(4096);
    let mut copied = Vec::with_capacity(4096);
    encode_create_item(&r, &mut encoded);
    let reference = encoded.clone();
    let (mut encode_ns, mut memcpy_ns) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..OPS_PER_ROUND {
            encoded.clear();
            encode_create_item(black_box(&r), &mut encoded);
            black_box(&encoded);
        }
        encode_ns = encode_ns.min(started.elapsed().as_nanos() as f64 / f64::from(OPS_PER_ROUND));
        let started = Instant::now();
        for _ in 0..OPS_PER_ROUND {
            copied.clear();
            copied.extend_from_slice(black_box(&reference));
            black_box(&copied);
        }
        memcpy_ns = memcpy_ns.min(started.elapsed().as_nanos() as f64 / f64::from(OPS_PER_ROUND));
    }
    assert_eq!(encoded, reference, "every encode wrote the same request");
    println!(
        "{} bytes, engine {:?}: encode {encode_ns:.1} ns, memcpy {memcpy_ns:.1} ns, ratio {:.2} (target: at most 3)",
        reference.len(),
        offline_im::encode::Engine::best(),
        encode_ns / memcpy_ns
    );
}
