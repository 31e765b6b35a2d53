//! What the encoding benchmarks share (`benches/encode.rs`,
//! `examples/encode_vs_memcpy.rs`): the request they encode, and the
//! output buffers and placements they write it to, so that the encoder and
//! the memory copy it is compared with are measured over the same ones.
//! Nothing here is on the encoder's path.

use super::request::{Address, CreateItem, Disposition, TargetFolder};
use crate::rules::domain::MessageClass;
use std::borrow::Cow;

/// The request the benchmarks encode (`benches/encode.rs`,
/// `examples/encode_vs_memcpy.rs`): a realistic IM of a few hundred bytes
/// with markup characters to escape, quotes and a non-BMP character.
pub fn benchmark_request() -> CreateItem<'static> {
    let body = "Can you review the contract draft before 3pm? Section 4 says fees < 5% & \
                payment within 30 days; legal wants \"net 45\". I'll be in meetings until \
                then, so leave comments in the doc 📄 and I will pick them up tonight. Thanks!";
    let address = |name: &'static str, email: &'static str| Address {
        name: Cow::Borrowed(name),
        email: Cow::Borrowed(email),
    };
    CreateItem {
        disposition: Disposition::SendAndSaveCopy,
        saved_folder: Some(TargetFolder::ConversationHistory),
        class: MessageClass::MissedConversation,
        subject: Cow::Borrowed("Can you review the contract draft before 3pm?"),
        body: Cow::Borrowed(body),
        to: address("Ken Myer", "ken.myer@contoso.com"),
        from: address("Tony Smith", "tony.smith@contoso.com"),
    }
}

/// Where the benchmarks put each request in their output buffer, in turn
/// (`benches/encode.rs`, `examples/encode_vs_memcpy.rs`, through
/// `BenchmarkOutput`): 16 offsets that step 264 bytes through a 4 KiB
/// page, so that they cover every position in a page and every 8-byte
/// alignment within a cache line. On this project's machine one placement
/// can be up to 50 % slower than another, for the encoder (most likely a
/// load from the request's text waiting on an earlier store whose address
/// matches it modulo 4 KiB) and for a memory copy (the alignment of its
/// destination), so a figure from one placement alone is luck. The encoder
/// and the memory copy are measured over the same ones.
pub const BENCHMARK_PLACEMENTS: [usize; 16] = {
    let mut at = [0; 16];
    let mut k = 0;
    while k < 16 {
        at[k] = k * 264;
        k += 1;
    }
    at
};

/// How many separate output buffers the benchmarks write to, in turn. On
/// this project's machine the same code at the same placements ran about
/// 40 % slower in some buffers than in others, and which buffers were slow
/// changed from run to run with the same virtual addresses (so most likely
/// with the physical pages behind them). A figure from one buffer was
/// therefore a lottery drawn once per process; over several it is a mean.
pub const BENCHMARK_BUFFERS: usize = 4;

/// The benchmarks' output: `BENCHMARK_BUFFERS` buffers that never move,
/// and each write in the next buffer at the next of
/// `BENCHMARK_PLACEMENTS`, so that a run of 64 writes covers every buffer
/// at every placement. The encoder and the memory copy each get their own.
pub struct BenchmarkOutput {
    buffers: [Vec<u8>; BENCHMARK_BUFFERS],
    writes: usize,
}

impl BenchmarkOutput {
    /// Each buffer's capacity: the last placement and a request of up to
    /// 4 KiB (its room included) fit, so a buffer never moves.
    pub const BUFFER_BYTES: usize = 8192;

    /// The buffers, allocated once with `BUFFER_BYTES` each; no write made.
    pub fn new() -> Self {
        BenchmarkOutput {
            buffers: std::array::from_fn(|_| Vec::with_capacity(Self::BUFFER_BYTES)),
            writes: 0,
        }
    }

    /// The buffer for the next write, cut (or, on the first pass, grown
    /// with zeros) to its placement.
    #[inline]
    pub fn next_buffer(&mut self) -> &mut Vec<u8> {
        let (buffer, at) = Self::place(self.writes);
        self.writes = self.writes.wrapping_add(1);
        let buffer = &mut self.buffers[buffer];
        buffer.truncate(at);
        buffer.resize(at, 0);
        buffer
    }

    /// How many writes `next_buffer` has handed out.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// What the last write appended, if every buffer still has the
    /// capacity it was allocated with: a buffer that had grown would have
    /// moved, and the write that moved it would have measured an
    /// allocation too.
    pub fn last_written(&self) -> Option<&[u8]> {
        let (buffer, at) = Self::place(self.writes.checked_sub(1)?);
        let unmoved = self
            .buffers
            .iter()
            .all(|b| b.capacity() == Self::BUFFER_BYTES);
        unmoved.then(|| &self.buffers[buffer][at..])
    }

    /// Write `k`'s buffer and placement.
    #[inline]
    fn place(k: usize) -> (usize, usize) {
        let at = BENCHMARK_PLACEMENTS[k / BENCHMARK_BUFFERS % BENCHMARK_PLACEMENTS.len()];
        (k % BENCHMARK_BUFFERS, at)
    }
}

impl Default for BenchmarkOutput {
    fn default() -> Self {
        Self::new()
    }
}
