//! The encode-to-memcpy ratio, measured interleaved: 40 rounds, each of
//! 100,000 encodes of the bench's request and then 100,000 copies of its
//! bytes, keeping the best round of each. Like `benches/encode.rs`, both
//! write through `encode::BenchmarkOutput`: each request at the next of
//! `BENCHMARK_PLACEMENTS` in the next of `BENCHMARK_BUFFERS` buffers that
//! never move. On a shared machine whose speed drifts between criterion's
//! separate measurements, this compares the two under the same conditions.
//! Run: `cargo run --release --example encode_vs_memcpy`, which encodes
//! with the best engine this processor has (`encode_create_item`), or
//! `cargo run --release --example encode_vs_memcpy -- avx2` to pin one
//! engine by its name (`Engine::name`: portable, sse2, avx2, avx512), as
//! the criterion group `engine/` does. An unknown name, or an engine this
//! processor lacks, is an error with exit code 2. BENCHMARKS.md quotes it
//! next to criterion's figures.

use offline_im::formats::encode::{
    BENCHMARK_BUFFERS, BENCHMARK_PLACEMENTS, BenchmarkOutput, CreateItem, Engine,
    encode_create_item, encode_create_item_on,
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

/// The engine named on the command line, if any, or why the name is not
/// one this processor can run.
fn pinned_engine() -> Result<Option<Engine>, String> {
    let Some(name) = std::env::args().nth(1) else {
        return Ok(None);
    };
    let names: Vec<&str> = Engine::ALL.iter().map(|e| e.name()).collect();
    match Engine::ALL.into_iter().find(|e| e.name() == name) {
        Some(engine) if engine.available() => Ok(Some(engine)),
        Some(_) => Err(format!("this processor cannot run the engine {name:?}")),
        None => Err(format!(
            "no engine is named {name:?}; expected one of {}",
            names.join(", ")
        )),
    }
}

/// `encode_create_item_on`, kept out of line and unmangled so that
/// `benches/count_instructions.py` can stop at it by its name (the release
/// build has no debug entry for an example's own functions).
#[inline(never)]
#[unsafe(no_mangle)]
fn encode_pinned(engine: Engine, r: &CreateItem<'_>, out: &mut Vec<u8>) {
    encode_create_item_on(engine, r, out)
}

fn main() {
    let pinned = pinned_engine().unwrap_or_else(|why| {
        eprintln!("error: {why}");
        std::process::exit(2)
    });
    let engine = pinned.unwrap_or_else(Engine::best);
    // The best engine through the public hot path, or the pinned one.
    let encode = |r: &_, b: &mut Vec<u8>| match pinned {
        Some(engine) => encode_pinned(engine, r, b),
        None => encode_create_item(r, b),
    };
    let r = offline_im::formats::encode::benchmark_request();
    let mut reference = Vec::new();
    encode_create_item_on(Engine::Portable, &r, &mut reference);
    let (mut encoded, mut copied) = (BenchmarkOutput::new(), BenchmarkOutput::new());
    let (mut encode_ns, mut memcpy_ns) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        encode_ns = encode_ns.min(round(&mut encoded, |b| encode(black_box(&r), b)));
        memcpy_ns = memcpy_ns.min(round(&mut copied, |b| {
            b.extend_from_slice(black_box(&reference))
        }));
    }
    assert_eq!(
        encoded.last_written(),
        Some(&reference[..]),
        "every encode wrote the portable engine's request, and no buffer moved"
    );
    assert_eq!(
        copied.last_written(),
        Some(&reference[..]),
        "every copy wrote the same request, and no buffer moved"
    );
    println!(
        "{} bytes, engine {:?}, {} placements in {} buffers: encode {encode_ns:.1} ns, memcpy {memcpy_ns:.1} ns, ratio {:.2} (target: at most 3)",
        reference.len(),
        engine,
        BENCHMARK_PLACEMENTS.len(),
        BENCHMARK_BUFFERS,
        encode_ns / memcpy_ns
    );
}
