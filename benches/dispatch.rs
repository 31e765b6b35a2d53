//! criterion benchmarks of the rule book's hot path.
//!
//! - `dispatch/decide`: ns per route decision over a mixed batch of facts
//!   (every presence, signed out, gate failures), as elements per second.
//! - `scenario/default`: one full run of the embedded default scenario
//!   (setup, timeline, invariant checks after every step, report).
//!
//! Run with `cargo bench --bench dispatch`; CI smoke-runs it with
//! `cargo bench -- --test`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use offline_im::dispatch::{self, Facts, RecipientState, WriterFacts};
use offline_im::domain::{Build, Install, MailboxLocation, Presence};
use offline_im::policy::SwitchVerdict;
use std::hint::black_box;

/// A deterministic mixed batch: each presence and signed out, crossed with
/// a passing and four failing writer gates.
fn batch() -> Vec<Facts> {
    let good = WriterFacts {
        install: Install::C2r,
        build: Build::ON_PREMISES_MIN,
        mailbox: MailboxLocation::OnPremises,
        ews_published: true,
        auto_archiving: true,
        switch: SwitchVerdict::On,
        spool_full: false,
    };
    let writers = [
        good,
        WriterFacts {
            install: Install::Msi,
            ..good
        },
        WriterFacts {
            build: Build::OFFLINE_IM_MIN,
            ..good
        },
        WriterFacts {
            auto_archiving: false,
            ..good
        },
        WriterFacts {
            switch: SwitchVerdict::Off,
            ..good
        },
    ];
    let mut recipients: Vec<RecipientState> = Presence::ALL
        .iter()
        .map(|p| RecipientState::SignedIn(*p))
        .collect();
    recipients.push(RecipientState::SignedOut);
    let mut out = Vec::new();
    for (i, w) in writers.iter().enumerate() {
        for (j, r) in recipients.iter().enumerate() {
            out.push(Facts {
                self_addressed: false,
                sender_signed_in: true,
                same_org: (i + j) % 2 == 0,
                federated: (i + j) % 3 != 0,
                recipient: *r,
                sender: *w,
                recipient_writer: writers[(i + j) % writers.len()],
            });
        }
    }
    out
}

fn bench_dispatch(c: &mut Criterion) {
    let facts = batch();
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
    let s = offline_im::scenario::load_path(None).expect("embedded default loads");
    c.bench_function("scenario/default", |b| {
        b.iter(|| offline_im::report::run(black_box(&s)).expect("default runs"))
    });
}

criterion_group!(benches, bench_dispatch, bench_scenario);
criterion_main!(benches);
