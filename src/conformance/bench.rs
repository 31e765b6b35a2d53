//! `conform --bench`: per-request latency and throughput of an
//! implementation, side by side with the reference served over the same
//! kind of pipe.
//!
//! Invariants it keeps: both sides get the same requests (the corpus, then
//! the generated cases of the run's seed), and answers are read and decoded
//! exactly as in `conform`, so the figures include the protocol's cost.
//!
//! What it deliberately does not do: judge answers (run `conform` for
//! that), or feed any measured time back into a decision; the wall clock is
//! read here and nowhere in the rule book.

use super::process::Process;
use super::protocol::Fault;
use super::runner::{
    Case, ConformOptions, CorpusEntry, batched_requests, generated_cases, hello, scenario_case,
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The figures of one side.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    /// The command line measured.
    pub command: String,
    /// The name the implementation gave in `hello`.
    pub implementation: String,
    /// Requests sent in each of the two passes, lock step and pipelined, which
    /// run the same cases; `hello` is not counted.
    pub requests: u64,
    /// Round-trip latency of one request in lock step, in microseconds.
    pub latency_us_p50: f64,
    /// The 99th percentile of the same round trips, in microseconds.
    pub latency_us_p99: f64,
    /// The longest of them, in microseconds.
    pub latency_us_max: f64,
    /// Requests per second in lock step (one request in flight).
    pub lock_step_per_s: f64,
    /// Requests per second with the requests of 32 cases pipelined per
    /// exchange, as `conform` sends them.
    pub pipelined_per_s: f64,
}

/// Both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// The implementation under test.
    pub implementation: LatencySummary,
    /// The reference, served over the same kind of pipe.
    pub reference: LatencySummary,
}

impl BenchReport {
    /// A side-by-side table.
    pub fn render(&self) -> String {
        let row = |name: &str, s: &LatencySummary| {
            format!(
                "{name:<16} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>14.0} {:>14.0}\n",
                s.requests,
                s.latency_us_p50,
                s.latency_us_p99,
                s.latency_us_max,
                s.lock_step_per_s,
                s.pipelined_per_s
            )
        };
        let mut out = format!(
            "{:<16} {:>9} {:>10} {:>10} {:>10} {:>14} {:>14}\n",
            "", "requests", "p50 µs", "p99 µs", "max µs", "lock-step/s", "pipelined/s"
        );
        out += &row("implementation", &self.implementation);
        out += &row("reference", &self.reference);
        out += &format!(
            "implementation: {}\nreference:      {}\n",
            self.implementation.implementation, self.reference.implementation
        );
        out
    }
}

/// Measures `impl_command` and `reference_command` on the same cases.
pub fn bench(
    impl_command: &str,
    reference_command: &str,
    corpus: &[CorpusEntry],
    opts: &ConformOptions,
    timeout: Duration,
) -> Result<BenchReport, Fault> {
    let cases: Vec<Case> = corpus
        .iter()
        .map(scenario_case)
        .chain(generated_cases(corpus, opts))
        .collect();
    Ok(BenchReport {
        implementation: measure(impl_command, &cases, timeout)?,
        reference: measure(reference_command, &cases, timeout)?,
    })
}

fn measure(command: &str, cases: &[Case], timeout: Duration) -> Result<LatencySummary, Fault> {
    let mut p = Process::spawn(command, timeout)?;
    let implementation = hello(&mut p)?;
    let mut latencies: Vec<Duration> = Vec::new();
    let started = Instant::now();
    for case in cases {
        p.exchange_timed(&case.requests(), true, |d| latencies.push(d))?;
    }
    let lock_step = started.elapsed();
    let batches = batched_requests(cases);
    let requests: u64 = batches.iter().map(|b| b.len() as u64).sum();
    let started = Instant::now();
    for batch in &batches {
        p.exchange_timed(batch, false, |_| {})?;
    }
    let pipelined = started.elapsed();
    latencies.sort_unstable();
    let at = |q: usize| {
        latencies
            .get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    let per_s = |d: Duration| requests as f64 / d.as_secs_f64().max(1e-9);
    Ok(LatencySummary {
        command: command.to_string(),
        implementation,
        requests,
        latency_us_p50: at(50),
        latency_us_p99: at(99),
        latency_us_max: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        lock_step_per_s: per_s(lock_step),
        pipelined_per_s: per_s(pipelined),
    })
}
