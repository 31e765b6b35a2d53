//! The checker's search: a depth-first walk of every reachable state of a
//! `CheckModel`, on one or more threads, that keeps only a 64-bit
//! fingerprint of each state it has seen.
//!
//! What it owns:
//! - the visited set, `Visited`: fingerprints in shards, so that two
//!   threads rarely wait for one another;
//! - the work split between threads: each walks its own stack and, when
//!   another thread is idle, gives away half of the untried events of its
//!   shallowest unfinished state, with the path to it;
//! - the discoveries: for each property, the path to the first state that
//!   violates it (or, for a probe, reaches it). A property already decided
//!   is not evaluated again, which changes no verdict;
//! - the limits (`Limits`): depth, states and seconds, and the reason a run
//!   stopped early (`Stop`);
//! - progress: a `Snapshot` of the counters, handed to the caller's
//!   function at most every `Limits::progress_interval`.
//!
//! Invariants it keeps:
//! - every transition is `CheckModel::next_state`, which is `world::step`;
//!   no rule is written here;
//! - with one thread the walk, and so every discovered path, is the same on
//!   every run: events are tried in `CheckModel::actions` order and the
//!   visited set's answers do not depend on the order of its buckets;
//! - every queue is bounded by the walk itself: a thread's stack is at most
//!   the depth of the state graph (finite under the budgets), and the
//!   shared pool holds at most one job per idle thread request.
//!
//! What it deliberately does not do: it keeps no parent pointers (a path is
//! the walk's own stack, copied when a discovery is made), it does no I/O
//! (the caller renders progress), and it does not shrink counterexamples
//! (`check::shrink` does, from the path found here).
//!
//! Two distinct states share a fingerprint with probability about
//! n²/2⁶⁵ for n states: below 10⁻⁵ at 14 million states. A collision would
//! make the walk skip the second state; SPEC.md §5 states this limit.

use stateright::{Expectation, Model, Property};
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The fixed keys of the fingerprint hash: fingerprints, and so the walk,
/// are the same on every run.
const FINGERPRINT_SEEDS: [u64; 4] = [
    0x6f66_666c_696e_6521,
    0x696d_2063_6865_636b,
    0x2073_7461_7465_7321,
    0x0000_0000_0000_0005,
];

/// The 64-bit fingerprint of a value under the fixed keys.
pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    ahash::RandomState::with_seeds(
        FINGERPRINT_SEEDS[0],
        FINGERPRINT_SEEDS[1],
        FINGERPRINT_SEEDS[2],
        FINGERPRINT_SEEDS[3],
    )
    .hash_one(value)
}

/// What the search needs of a model beyond stateright's `Model`: how to
/// key a state in the visited set and how to evaluate a property with
/// per-thread scratch. `CheckModel` is the model it exists for; the tests
/// also search small hand-made models with it.
pub trait Searchable:
    Model<State: Clone + Hash + Send + Sync, Action: Clone + Send + Sync> + Sync
{
    /// Scratch each thread keeps for evaluating properties (the checker's
    /// memo of fair continuations).
    type Scratch: Default;

    /// The key of `s` in the visited set: its fingerprint, or with
    /// `symmetry` that of the representative of its orbit.
    fn key(&self, s: &Self::State, symmetry: bool) -> u64 {
        let _ = symmetry;
        fingerprint(s)
    }

    /// The state after `action` in `s`, or `None` if it is not a
    /// transition: `Model::next_state`, without taking the action by value,
    /// so that the search clones an action only for a path it keeps.
    fn successor(&self, s: &Self::State, action: &Self::Action) -> Option<Self::State> {
        self.next_state(s, action.clone())
    }

    /// The value of property `p` (number `i` of `properties()`) at `s`,
    /// the `visit`-th state this thread evaluates.
    fn condition(
        &self,
        i: usize,
        p: &Property<Self>,
        s: &Self::State,
        visit: u64,
        scratch: &mut Self::Scratch,
    ) -> bool {
        let _ = (i, visit, scratch);
        (p.condition)(self, s)
    }
}

/// The number of shards of the visited set: a power of two well above the
/// thread count, so that two threads rarely take the same lock.
const VISITED_SHARDS: usize = 64;

/// Every fingerprint seen so far, in `VISITED_SHARDS` locked sets chosen by
/// the fingerprint's top bits.
struct Visited {
    shards: Vec<Mutex<HashSet<u64, ahash::RandomState>>>,
}

impl Visited {
    fn new() -> Visited {
        Visited {
            shards: (0..VISITED_SHARDS)
                .map(|_| {
                    Mutex::new(HashSet::with_hasher(ahash::RandomState::with_seeds(
                        1, 2, 3, 4,
                    )))
                })
                .collect(),
        }
    }

    /// Whether `fp` is new; it is seen from now on.
    fn insert(&self, fp: u64) -> bool {
        let shard = (fp >> 58) as usize % VISITED_SHARDS;
        match self.shards[shard].lock() {
            Ok(mut set) => set.insert(fp),
            Err(poisoned) => poisoned.into_inner().insert(fp),
        }
    }
}

/// Where and how far to search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Threads to walk on; 0 is taken as 1.
    pub threads: usize,
    /// States more than this many events from the initial state are not
    /// visited. `None`: no limit, the budgets keep the graph finite.
    pub depth_max: Option<usize>,
    /// Stop once this many distinct states were visited.
    pub states_max: Option<u64>,
    /// Stop once this much wall-clock time has passed.
    pub duration_max: Option<Duration>,
    /// Fingerprint the representative of each state under renaming of
    /// interchangeable users (symmetry reduction) instead of the state.
    pub symmetry: bool,
    /// How often the progress function is called.
    pub progress_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            threads: 1,
            depth_max: None,
            states_max: None,
            duration_max: None,
            symmetry: false,
            progress_interval: Duration::from_secs(1),
        }
    }
}

/// Why a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// Every reachable state was visited.
    Complete,
    /// Some state was not visited because it lies deeper than
    /// `Limits::depth_max`.
    DepthMax,
    /// `Limits::states_max` distinct states were visited.
    StatesMax,
    /// `Limits::duration_max` passed.
    DurationMax,
    /// Every property was decided (each invariant violated, each probe
    /// reached), so nothing more could change the report.
    AllDecided,
}

/// The counters of a running search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// Distinct states visited.
    pub states_unique: u64,
    /// Successor states computed, duplicates included.
    pub states_generated: u64,
    /// The deepest state visited, in events from the initial state.
    pub depth_max: usize,
    /// States on the threads' stacks and in the shared pool.
    pub states_pending: u64,
    /// Seconds since the search started.
    pub seconds: f64,
}

/// What a search found.
#[derive(Clone, Debug)]
pub struct Outcome<A> {
    /// For each property of `Model::properties`, in order, the path to
    /// the first state found that violates it (an `always`) or reaches it
    /// (a `sometimes`).
    pub found: Vec<Option<Vec<A>>>,
    /// The counters at the end.
    pub totals: Snapshot,
    /// Why the search ended.
    pub stop: Stop,
}

/// Work for one thread: a state, the path to it and the events still to
/// try from it.
struct Job<M: Searchable> {
    state: M::State,
    path: Vec<M::Action>,
    actions: Vec<M::Action>,
}

/// One state on a thread's stack.
struct Frame<M: Searchable> {
    state: M::State,
    actions: Vec<M::Action>,
    next: usize,
}

/// The shared pool and the count of threads waiting on it.
struct Pool<M: Searchable> {
    jobs: Vec<Job<M>>,
    idle: usize,
    done: bool,
}

/// Everything the threads share.
struct Shared<'m, M: Searchable> {
    model: &'m M,
    properties: Vec<Property<M>>,
    limits: Limits,
    threads: usize,
    started: Instant,
    visited: Visited,
    found: Vec<Mutex<Option<Vec<M::Action>>>>,
    decided: Vec<AtomicBool>,
    decided_count: AtomicUsize,
    generated: AtomicU64,
    unique: AtomicU64,
    /// Each thread's stack height at its last look.
    pending: Vec<AtomicU64>,
    depth_max: AtomicUsize,
    depth_cut: AtomicBool,
    stop: Mutex<Option<Stop>>,
    stopping: AtomicBool,
    idle: AtomicUsize,
    pool: Mutex<Pool<M>>,
    work: Condvar,
    finished: Condvar,
}

/// The steps a thread takes between looks at the limits and the pool.
const STEPS_PER_LOOK: u32 = 256;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<M: Searchable> Shared<'_, M> {
    fn key(&self, s: &M::State) -> u64 {
        self.model.key(s, self.limits.symmetry)
    }

    /// Evaluates every undecided property at `s`, recording `path` for
    /// each one it decides.
    fn evaluate(&self, s: &M::State, path: &[M::Action], visit: u64, scratch: &mut M::Scratch) {
        for (i, p) in self.properties.iter().enumerate() {
            if self.decided[i].load(Ordering::Relaxed) {
                continue;
            }
            let condition = self.model.condition(i, p, s, visit, scratch);
            let discovered = match p.expectation {
                Expectation::Always => !condition,
                Expectation::Sometimes => condition,
                // stateright's `eventually` misses cycles, so no model
                // searched here declares one: the checker states progress
                // as an `always` over the fair continuation instead.
                Expectation::Eventually => false,
            };
            if discovered {
                let mut slot = lock(&self.found[i]);
                if slot.is_none() {
                    *slot = Some(path.to_vec());
                    self.decided[i].store(true, Ordering::Relaxed);
                    let n = self.decided_count.fetch_add(1, Ordering::Relaxed) + 1;
                    if n == self.properties.len() {
                        self.request_stop(Stop::AllDecided);
                    }
                }
            }
        }
    }

    fn request_stop(&self, why: Stop) {
        let mut stop = lock(&self.stop);
        if stop.is_none() {
            *stop = Some(why);
        }
        self.stopping.store(true, Ordering::Relaxed);
        let mut pool = lock(&self.pool);
        pool.done = true;
        self.work.notify_all();
        self.finished.notify_all();
    }

    /// Whether the limits say stop.
    fn over_limits(&self) -> bool {
        if self.stopping.load(Ordering::Relaxed) {
            return true;
        }
        if let Some(n) = self.limits.states_max
            && self.unique.load(Ordering::Relaxed) >= n
        {
            self.request_stop(Stop::StatesMax);
            return true;
        }
        if let Some(d) = self.limits.duration_max
            && self.started.elapsed() >= d
        {
            self.request_stop(Stop::DurationMax);
            return true;
        }
        false
    }

    /// The next job, waiting while another thread may still give one away;
    /// `None` once every thread is idle and the pool is empty, or the
    /// search stops.
    fn take(&self) -> Option<Job<M>> {
        let mut pool = lock(&self.pool);
        loop {
            if pool.done {
                return None;
            }
            if let Some(job) = pool.jobs.pop() {
                return Some(job);
            }
            pool.idle += 1;
            self.idle.store(pool.idle, Ordering::Relaxed);
            if pool.idle == self.threads {
                pool.done = true;
                self.work.notify_all();
                self.finished.notify_all();
                return None;
            }
            pool = self
                .work
                .wait(pool)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pool.idle -= 1;
            self.idle.store(pool.idle, Ordering::Relaxed);
        }
    }

    /// Gives half of the untried events of the shallowest frame that has
    /// two or more to the pool, if a thread waits for work.
    fn share(&self, stack: &mut [Frame<M>], path: &[M::Action], root_depth: usize) {
        if self.idle.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(i) = stack.iter().position(|f| f.actions.len() - f.next >= 2) else {
            return;
        };
        let f = &mut stack[i];
        let mid = f.next + (f.actions.len() - f.next) / 2;
        let job = Job {
            state: f.state.clone(),
            path: path[..root_depth + i].to_vec(),
            actions: f.actions.split_off(mid),
        };
        let mut pool = lock(&self.pool);
        if pool.idle > 0 && !pool.done {
            pool.jobs.push(job);
            self.work.notify_one();
        } else {
            // Nobody waits any more: take the events back.
            drop(pool);
            stack[i].actions.extend(job.actions);
        }
    }

    /// Walks depth-first from a job's state until its subtree is done or
    /// the search stops.
    fn run(&self, thread: usize, job: Job<M>, scratch: &mut M::Scratch, visits: &mut u64) {
        let root_depth = job.path.len();
        let mut path = job.path;
        let mut stack = vec![Frame {
            state: job.state,
            actions: job.actions,
            next: 0,
        }];
        let mut actions = Vec::new();
        let (mut generated, mut unique) = (0u64, 0u64);
        let mut steps = 0u32;
        while let Some(top) = stack.last_mut() {
            steps += 1;
            if steps == STEPS_PER_LOOK {
                steps = 0;
                self.generated.fetch_add(generated, Ordering::Relaxed);
                self.unique.fetch_add(unique, Ordering::Relaxed);
                (generated, unique) = (0, 0);
                self.pending[thread].store(stack.len() as u64, Ordering::Relaxed);
                if self.over_limits() {
                    break;
                }
                self.share(&mut stack, &path, root_depth);
                continue;
            }
            if top.next == top.actions.len() {
                stack.pop();
                if !stack.is_empty() {
                    path.pop();
                }
                continue;
            }
            let action = &top.actions[top.next];
            top.next += 1;
            let Some(next) = self.model.successor(&top.state, action) else {
                continue;
            };
            generated += 1;
            if !self.visited.insert(self.key(&next)) {
                continue;
            }
            unique += 1;
            path.push(action.clone());
            let depth = path.len();
            self.depth_max.fetch_max(depth, Ordering::Relaxed);
            *visits += 1;
            self.evaluate(&next, &path, *visits, scratch);
            if self.limits.depth_max.is_some_and(|d| depth >= d) {
                self.model.actions(&next, &mut actions);
                if !actions.is_empty() {
                    self.depth_cut.store(true, Ordering::Relaxed);
                }
                actions.clear();
                path.pop();
                continue;
            }
            self.model.actions(&next, &mut actions);
            stack.push(Frame {
                state: next,
                actions: std::mem::take(&mut actions),
                next: 0,
            });
        }
        self.generated.fetch_add(generated, Ordering::Relaxed);
        self.unique.fetch_add(unique, Ordering::Relaxed);
        self.pending[thread].store(0, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            states_unique: self.unique.load(Ordering::Relaxed),
            states_generated: self.generated.load(Ordering::Relaxed),
            depth_max: self.depth_max.load(Ordering::Relaxed),
            states_pending: self
                .pending
                .iter()
                .map(|p| p.load(Ordering::Relaxed))
                .sum::<u64>()
                + lock(&self.pool).jobs.len() as u64,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// Searches every state reachable from the model's initial state within
/// the limits, calling `progress` with the counters at most every
/// `limits.progress_interval` while it runs.
pub fn search<M: Searchable>(
    m: &M,
    limits: Limits,
    progress: &(dyn Fn(&Snapshot) + Sync),
) -> Outcome<M::Action> {
    let properties = m.properties();
    let n = properties.len();
    let threads = limits.threads.max(1);
    let shared = Shared {
        model: m,
        properties,
        limits,
        threads,
        started: Instant::now(),
        visited: Visited::new(),
        found: (0..n).map(|_| Mutex::new(None)).collect(),
        decided: (0..n).map(|_| AtomicBool::new(false)).collect(),
        decided_count: AtomicUsize::new(0),
        generated: AtomicU64::new(0),
        unique: AtomicU64::new(0),
        pending: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        depth_max: AtomicUsize::new(0),
        depth_cut: AtomicBool::new(false),
        stop: Mutex::new(None),
        stopping: AtomicBool::new(false),
        idle: AtomicUsize::new(0),
        pool: Mutex::new(Pool {
            jobs: Vec::new(),
            idle: 0,
            done: false,
        }),
        work: Condvar::new(),
        finished: Condvar::new(),
    };
    let mut scratch = M::Scratch::default();
    for init in m.init_states() {
        if !shared.visited.insert(shared.key(&init)) {
            continue;
        }
        // stateright counts an initial state as generated too; so does
        // this search, so that the pinned counts mean the same.
        shared.generated.fetch_add(1, Ordering::Relaxed);
        shared.unique.fetch_add(1, Ordering::Relaxed);
        shared.evaluate(&init, &[], 0, &mut scratch);
        let mut actions = Vec::new();
        m.actions(&init, &mut actions);
        if limits.depth_max == Some(0) {
            if !actions.is_empty() {
                shared.depth_cut.store(true, Ordering::Relaxed);
            }
            actions.clear();
        }
        lock(&shared.pool).jobs.push(Job {
            state: init,
            path: Vec::new(),
            actions,
        });
    }
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let shared = &shared;
            scope.spawn(move || {
                let mut scratch = M::Scratch::default();
                let mut visits = 0u64;
                while let Some(job) = shared.take() {
                    shared.run(thread, job, &mut scratch, &mut visits);
                }
            });
        }
        let mut pool = lock(&shared.pool);
        while !pool.done {
            pool = shared
                .finished
                .wait_timeout(pool, limits.progress_interval)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            if !pool.done {
                drop(pool);
                progress(&shared.snapshot());
                pool = lock(&shared.pool);
            }
        }
    });
    let stop = lock(&shared.stop).unwrap_or(if shared.depth_cut.load(Ordering::Relaxed) {
        Stop::DepthMax
    } else {
        Stop::Complete
    });
    let totals = shared.snapshot();
    Outcome {
        found: shared
            .found
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
            .collect(),
        totals,
        stop,
    }
}
