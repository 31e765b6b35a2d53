//! The hot paths allocate nothing: route decisions, building a request from
//! the ledger, and encoding it into a buffer that already has room.
//!
//! A counting global allocator counts per thread, so tests running in
//! parallel on other threads cannot disturb the count.

use offline_im::formats::encode::{Engine, encode_create_item, encode_create_item_on, request_for};
use offline_im::formats::{report, scenario};
use offline_im::rules::dispatch;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_counts() {
    // The negative space: an allocation is seen, so zero below means zero.
    let n = allocations_during(|| {
        black_box(vec![1u8; 16]);
    });
    assert_eq!(n, 1);
}

#[test]
fn dispatch_decide_allocates_nothing() {
    let facts = dispatch::mixed_batch();
    assert!(facts.len() >= 40);
    let mut spooled = 0;
    let n = allocations_during(|| {
        for f in &facts {
            if dispatch::decide(black_box(f)).route.spools() {
                spooled += 1;
            }
        }
    });
    assert_eq!(n, 0, "decide allocated");
    assert!(spooled > 0 && spooled < facts.len());
}

#[test]
fn building_and_encoding_a_request_allocates_nothing() {
    let s = scenario::load_path(None).expect("the default loads");
    let (_, w) = report::run_world(&s).expect("the default runs");
    let mut out = Vec::with_capacity(64 * 1024);
    let mut encoded = 0;
    let n = allocations_during(|| {
        for rec in &w.state.ledger {
            if let Some(r) = request_for(&w.deployment, &w.state, rec.id) {
                out.clear();
                encode_create_item(black_box(&r), &mut out);
                encoded += 1;
            }
        }
    });
    assert_eq!(n, 0, "request_for or encode_create_item allocated");
    assert_eq!(encoded, 2, "the default sends two offline messages");
    assert!(out.ends_with(b"</m:CreateItem>"));
}

#[test]
fn every_engine_encodes_without_allocating() {
    let s = scenario::load_path(None).expect("the default loads");
    let (_, w) = report::run_world(&s).expect("the default runs");
    let mut out = Vec::with_capacity(64 * 1024);
    let engines: Vec<Engine> = Engine::ALL.into_iter().filter(|e| e.available()).collect();
    assert!(engines.contains(&Engine::Portable));
    for engine in engines {
        let n = allocations_during(|| {
            for rec in &w.state.ledger {
                if let Some(r) = request_for(&w.deployment, &w.state, rec.id) {
                    out.clear();
                    encode_create_item_on(engine, black_box(&r), &mut out);
                }
            }
        });
        assert_eq!(n, 0, "{} allocated", engine.name());
        assert!(out.ends_with(b"</m:CreateItem>"));
    }
}
