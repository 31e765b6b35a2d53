//! criterion benchmark of the simulator: events per second.
//!
//! - `simulate/2000-users-24h`: the embedded workload with 2,000 users for
//!   24 simulated hours, invariants checked hourly; throughput is the number
//!   of events the run applies, so criterion reports events per second.
//!
//! The documented 100,000-user day is a single run (BENCHMARKS.md):
//! `offline-im simulate --users 100000 --hours 24 --seed 1 --report r.html`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use offline_im::sim::{self, SimConfig};
use std::time::Duration;

fn bench_simulate(c: &mut Criterion) {
    let mut config = SimConfig::default_config();
    config.users = 2_000;
    config.hours = 24;
    let events = sim::run(&config, None, &mut sim::Quiet).summary.events;
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(events));
    g.bench_function("2000-users-24h", |b| {
        b.iter(|| sim::run(&config, None, &mut sim::Quiet).summary.events)
    });
    g.finish();
}

criterion_group!(benches, bench_simulate);
criterion_main!(benches);
