//! The AVX2 engine (x86_64 processors with AVX2, the common case without
//! AVX-512 VBMI2: many AMD EPYC and Ryzen parts and most laptops): one
//! text field escaped 32 bytes a step.
//!
//! - A block is classified by one table lookup by low nibble and one
//!   compare for the markup bytes, and one maximum and one compare for the
//!   control characters (`flagged_lanes`, seven instructions).
//! - A field of 64 bytes or more is read in windows of 64 (two blocks, one
//!   `vptest` for both), then of 32. A clean window is stored whole; a
//!   window with flagged bytes has them escaped inside it
//!   (`escape_window`): each escape written where its byte would be, the
//!   clean bytes after it stored behind it. The windows' starts do not
//!   depend on the text (save after U+FFFE or U+FFFF across a window's
//!   end, and near a field's end), so the loads of the next window do not
//!   wait on an escape.
//! - The last 1 to 31 bytes are written by storing the field's last 32
//!   bytes over their own output when the input bytes before them among
//!   those 32 were copied as they are.
//! - A field under 64 bytes is two overlapping loads and stores that lie
//!   inside it (32 from each end, 16 or 8: `escape_short`), tested
//!   together, when it is clean.
//! - What is left (a short field with a byte to escape, or under 8 bytes)
//!   goes to the SSE2 engine's loop (`sse2::escape_from`).
//!
//! Nothing before or past the text is read.
//!
//! Why a hand-written engine rather than a crate: the bytes to find are a
//! class, three markup bytes, the lead byte 0xEF and a range of control
//! characters (`escape::flagged`), and the crates that find bytes were
//! measured on the benchmark request's six fields (`cargo bench --bench
//! encode -- class-search/`, each writing this engine's bytes): this
//! engine 48 ns; `aho-corasick`'s packed Teddy searcher over the 34 bytes
//! of the class, one pattern each, 212 ns (with its pattern-count
//! heuristics lifted: by default it refuses Teddy for more than 16 one-byte
//! patterns); `memchr::memchr3` over the markup alone 77 ns, and it finds
//! neither the control characters nor 0xEF, so an engine on it would need
//! a second pass. A byte-class DFA (`regex-automata`) steps a byte at a
//! time.
//!
//! The unsafe code lives here, in the AVX-512 engine's pattern: the
//! intrinsics need AVX2, and the functions that use them are inlined into
//! the two functions compiled with it (`encode_avx2`, the request writer's
//! AVX2 instance, and `escape_text_avx2`). `Avx2Escaper` is the proof that
//! the processor has AVX2: only this file makes one, and only after the
//! detection in `escape.rs` said yes.

// One of the few files allowed unsafe code (`#![deny(unsafe_code)]` in
// lib.rs): every block says why it is sound.
#![allow(unsafe_code)]

use super::escape::{Engine, Escaper, escape_of, flagged};
use super::request::{CreateItem, write_request};
use super::writer::Wild;
use std::arch::x86_64::{
    __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8,
    _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8, _mm256_shuffle_epi8,
    _mm256_storeu_si256, _mm256_testz_si256,
};

/// The AVX2 engine, as the request writer drives it, and the proof that
/// the processor has AVX2: its one field is private, and this file makes
/// one only where `Engine::available` found the feature (`detect`) or
/// `Engine::best` remembered finding it (`if_best`).
#[derive(Clone, Copy)]
pub(super) struct Avx2Escaper(());

impl Avx2Escaper {
    /// The engine, if this processor has AVX2.
    #[inline]
    pub(super) fn detect() -> Option<Avx2Escaper> {
        Engine::Avx2.available().then_some(Avx2Escaper(()))
    }

    /// The engine, if `Engine::best` has already chosen it: one relaxed
    /// load and one compare.
    #[inline(always)]
    pub(super) fn if_best() -> Option<Avx2Escaper> {
        Engine::Avx2.is_known_best().then_some(Avx2Escaper(()))
    }

    /// Appends the `m:CreateItem` element with this engine, written by the
    /// request writer's instance compiled with AVX2.
    #[inline(always)]
    pub(super) fn write_create_item(self, r: &CreateItem<'_>, out: &mut Vec<u8>) {
        // SAFETY: `self` exists only where the processor has AVX2.
        unsafe { encode_avx2(r, out) }
    }

    /// Appends one field, escaped, in a function compiled with AVX2, for
    /// `escape_text`, which has no request around it.
    #[inline(always)]
    pub(super) fn escape_text(self, text: &str, w: &mut Wild<'_>) {
        // SAFETY: `self` exists only where the processor has AVX2.
        unsafe { escape_text_avx2(text, w) }
    }
}

impl Escaper for Avx2Escaper {
    #[inline(always)]
    fn escape(self, text: &str, w: &mut Wild<'_>) {
        // SAFETY: `self` exists only where the processor has AVX2; the
        // writer runs it inside `encode_avx2` or `escape_text_avx2`, which
        // are compiled with it.
        unsafe { escape_field_avx2(text, w) }
    }
}

/// `escape_field_avx2` compiled with AVX2.
///
/// # Safety
/// The processor must have AVX2 (`Engine::Avx2.available()`).
#[target_feature(enable = "avx2")]
unsafe fn escape_text_avx2(text: &str, w: &mut Wild<'_>) {
    // SAFETY: this function's own contract.
    unsafe { escape_field_avx2(text, w) }
}

/// The AVX2 instance of `write_request`, compiled with AVX2 so that its
/// escapes inline.
///
/// # Safety
/// The processor must have AVX2 (`Engine::Avx2.available()`).
#[target_feature(enable = "avx2")]
unsafe fn encode_avx2(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    // The proof is this function's own contract.
    write_request(Avx2Escaper(()), r, out);
}

/// For each low nibble, the one markup byte (`&`, `<`, `>` or 0xEF, the
/// flagged bytes of `escape::flagged` from 0x20 up) with that low nibble,
/// or the control character equal to the nibble where there is none, twice:
/// once for each 128-bit lane, which `vpshufb` looks up separately. A byte
/// `v` is flagged exactly when it equals its entry (`v == entry[v & 0x0F]`)
/// or is a control character (`v <= 0x1F`): an entry that is a control
/// character matches only itself, which the control test flags anyway.
/// The build checks this against `flagged` for every byte.
///
/// A constant reference rather than a static, as `ESCAPES_LOW` is: read at a
/// fixed offset from the code, not through the GOT.
const MARKUP_BY_LOW_NIBBLE: &[u8; 32] = &{
    let mut t = [0u8; 32];
    let mut lo = 0;
    while lo < 16 {
        t[lo] = lo as u8;
        let mut high = 2;
        while high < 16 {
            let b = (high << 4 | lo) as u8;
            if flagged(b) {
                assert!(t[lo] == lo as u8, "two markup bytes share a low nibble");
                t[lo] = b;
            }
            high += 1;
        }
        t[lo + 16] = t[lo];
        lo += 1;
    }
    // The class the two compares find is `flagged`, with every control
    // character in it (tabs and newlines too, which `escape_of` copies as
    // they are), for each of the 256 bytes.
    let mut b = 0;
    while b < 256 {
        let v = b as u8;
        let found = t[b & 0x0F] == v || v <= 0x1F;
        assert!(
            found == (flagged(v) || v <= 0x1F),
            "the table misses the class"
        );
        b += 1;
    }
    t
};

/// The flagged lanes of a 32-byte block (`escape::flagged`, with tabs and
/// newlines flagged too, as in the SSE2 engine: `escape_of` copies them as
/// they are), as a bit mask: one table lookup by low nibble and one
/// compare find the markup bytes (`MARKUP_BY_LOW_NIBBLE`), one maximum and
/// one compare the control characters. Seven instructions, where one
/// compare per markup byte took eleven.
///
/// # Safety
/// The processor must have AVX2; the table's load reads its 32 bytes, and
/// nothing else is accessed.
#[inline(always)]
unsafe fn flagged32(v: __m256i) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { _mm256_movemask_epi8(flagged_lanes(v)) as u32 }
}

/// The flagged lanes of a 32-byte block as a vector: all ones in each
/// flagged lane, zeros elsewhere. `flagged32` is its bit mask; a window of
/// two blocks tests the two vectors' union with one `vptest` and makes
/// the mask only when that finds a flagged lane.
///
/// # Safety
/// As `flagged32`.
#[inline(always)]
unsafe fn flagged_lanes(v: __m256i) -> __m256i {
    // SAFETY: the caller's contract; the load reads the 32-byte table.
    unsafe {
        let table = _mm256_loadu_si256(MARKUP_BY_LOW_NIBBLE.as_ptr().cast::<__m256i>());
        let low_nibbles = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
        let markup = _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, low_nibbles), v);
        let control_max = _mm256_set1_epi8(0x1F);
        // max(v, 0x1F) == 0x1F exactly where v <= 0x1F, unsigned.
        let control = _mm256_cmpeq_epi8(_mm256_max_epu8(v, control_max), control_max);
        _mm256_or_si256(markup, control)
    }
}

/// Appends one text field, escaped. A field under 32 bytes goes to
/// `escape_short`. A longer one is read in windows of 64 input bytes (two
/// blocks with one test for both), then of 32: a clean window is stored
/// whole, and one with flagged bytes is written by `escape_window`. The
/// last 1 to 31 bytes, when the input bytes before them among the field's
/// last 32 were copied as they are, are written by storing those 32 over
/// their own output (when they are clean); otherwise by `escape_short`.
///
/// Where the windows start does not depend on what the text holds (save
/// after U+FFFE or U+FFFF across a window's end, and near the end of a
/// field, see `escape_window`): the loads of the next
/// window need not wait for the escapes of this one. Starting the next
/// block after each escape instead, as the first version did, made each
/// escape cost the whole chain from a load to the next load's address
/// (load, classify, mask, count): about 4 ns per escape here.
///
/// # Safety
/// The processor must have AVX2, and the caller's `assert_room` must have
/// covered the field's worst case plus `WILD_BYTES` (32), as for every
/// engine.
#[inline(always)]
unsafe fn escape_field_avx2(text: &str, w: &mut Wild<'_>) {
    let s = text.as_bytes();
    let n = s.len();
    if n < 32 {
        // SAFETY: the caller's contract, passed on; `n < 32`.
        unsafe { escape_short(s, 0, w) };
        return;
    }
    let load = |at: usize| {
        debug_assert!(at + 32 <= n);
        // SAFETY: every call passes an `at` with `at + 32 <= n`, so the
        // 32 bytes loaded lie inside `s`; AVX2 by contract.
        unsafe { _mm256_loadu_si256(s.as_ptr().add(at).cast::<__m256i>()) }
    };
    if n < 64 {
        // 32 to 63 bytes, a subject's usual length: the first and the
        // last 32, overlapping, tested together; when clean, two stores
        // write them, the overlap twice with the same bytes.
        let (head, tail) = (load(0), load(n - 32));
        // SAFETY: AVX2 by contract; the table's load only.
        let both = unsafe { _mm256_or_si256(flagged_lanes(head), flagged_lanes(tail)) };
        // SAFETY: AVX2 by contract; registers only.
        if unsafe { _mm256_testz_si256(both, both) } == 1 {
            // SAFETY: both stores end within the field's `n` bytes past
            // the cursor, inside the room the caller asserted.
            unsafe {
                _mm256_storeu_si256(w.dst().cast::<__m256i>(), head);
                _mm256_storeu_si256(w.dst().add(n - 32).cast::<__m256i>(), tail);
            }
            w.keep(n);
            return;
        }
    }
    let mut i = 0;
    // Where the run of input bytes copied as they are, up to `i`, began:
    // the output's last `i - verbatim_from` bytes are `s[verbatim_from..i]`.
    let mut verbatim_from = 0;
    // Each pass of each loop consumes at least one input byte, so each
    // loop ends.
    while i + 64 <= n {
        let (a, b) = (load(i), load(i + 32));
        // SAFETY: AVX2 by contract; the table's load only.
        let (flagged_a, flagged_b) = unsafe { (flagged_lanes(a), flagged_lanes(b)) };
        // SAFETY: AVX2 by contract; registers only.
        let either = unsafe { _mm256_or_si256(flagged_a, flagged_b) };
        // SAFETY: AVX2 by contract; registers only.
        if unsafe { _mm256_testz_si256(either, either) } == 1 {
            let dst = w.dst();
            // SAFETY: the 64 bytes from `w.dst()` lie inside the room the
            // caller asserted (64 input bytes have a worst case of more
            // than 64 output bytes).
            unsafe {
                _mm256_storeu_si256(dst.cast::<__m256i>(), a);
                _mm256_storeu_si256(dst.add(32).cast::<__m256i>(), b);
            }
            w.keep(64);
            i += 64;
        } else {
            // The two blocks lie side by side, so their masks make one
            // mask of 64 lanes.
            // SAFETY: AVX2 by contract; registers only.
            let mask = unsafe {
                u64::from(_mm256_movemask_epi8(flagged_a) as u32)
                    | u64::from(_mm256_movemask_epi8(flagged_b) as u32) << 32
            };
            // SAFETY: the caller's contract; `a` and `b` are the 64 bytes
            // from `i`, and `mask` their flagged lanes.
            let (consumed, last_escape_end) = unsafe { escape_window(s, i, 64, [a, b], mask, w) };
            verbatim_from = i + last_escape_end;
            i += consumed;
        }
    }
    while i + 32 <= n {
        let block = load(i);
        // SAFETY: AVX2 by contract; the table's load only.
        let mask = unsafe { flagged32(block) };
        if mask == 0 {
            // SAFETY: as above, for 32 bytes.
            unsafe { _mm256_storeu_si256(w.dst().cast::<__m256i>(), block) };
            w.keep(32);
            i += 32;
        } else {
            // SAFETY: as above, for a window of 32 bytes.
            let (consumed, last_escape_end) =
                unsafe { escape_window(s, i, 32, [block, block], u64::from(mask), w) };
            verbatim_from = i + last_escape_end;
            i += consumed;
        }
    }
    if i >= n {
        return;
    }
    let rest = n - i;
    if n - 32 >= verbatim_from {
        // The last 32 input bytes: the `32 - rest` before `i` are already
        // in the output as they are, just before `w.dst()`, so storing the
        // block there rewrites them unchanged and writes the rest.
        let last = load(n - 32);
        // SAFETY: AVX2 by contract; the table's load only.
        if unsafe { flagged32(last) } == 0 {
            let start = w.dst().wrapping_sub(32 - rest);
            debug_assert!(w.holds(start, 32));
            // SAFETY: the verbatim run puts at least `32 - rest` output
            // bytes of this field before `w.dst()`, so the store starts
            // inside them and ends `rest` bytes after the cursor, inside
            // the room.
            unsafe { _mm256_storeu_si256(w.dst().sub(32 - rest).cast::<__m256i>(), last) };
            w.keep(rest);
            return;
        }
    }
    // SAFETY: the caller's contract, passed on; `0 < rest < 32`.
    unsafe { escape_short(s, i, w) };
}

/// Writes a window of `lanes` (32 or 64) input bytes of `s` from `j` with
/// its flagged lanes escaped, keeps what it stands for, and returns the
/// input bytes it consumed and where, from `j`, its last escape ended.
///
/// The window's first block is stored where it begins, and its second
/// only when the first escape lies past it. Then each flagged lane in
/// turn: its escape goes where the lane would be (moved by the bytes
/// earlier escapes added), and the clean lanes after it, up to the next
/// escape or the window's end, are stored moved past it: the 32 input
/// bytes from the end of the escape, and the window's last block when
/// those do not reach that far. Later escapes overwrite what these stores
/// put past their own lane. No store is made that a later one wholly
/// replaces, save the first block's when the first escape is its first
/// byte, since every store counts (see `Wild::put_padded`).
///
/// When the 32 bytes after an escape would reach past the text (an escape
/// in the last 32 lanes of a field's last window), the window ends at the
/// escape, and the caller goes on from there.
///
/// # Safety
/// As `escape_field_avx2`; `j + lanes <= s.len()`, `blocks` holds the
/// window's one or two blocks (the same block twice for 32 lanes), and
/// `mask` is its non-empty mask of flagged lanes.
#[inline(always)]
unsafe fn escape_window(
    s: &[u8],
    j: usize,
    lanes: usize,
    blocks: [__m256i; 2],
    mut mask: u64,
    w: &mut Wild<'_>,
) -> (usize, usize) {
    debug_assert!((lanes == 32 || lanes == 64) && j + lanes <= s.len() && mask != 0);
    let dst = w.dst();
    let last_block = blocks[1];
    let first_escape = mask.trailing_zeros() as usize;
    debug_assert!(w.holds(dst, lanes));
    // SAFETY: both stores end within `lanes` bytes of the cursor, and the
    // room covers the worst case of the `lanes` or more bytes left in the
    // field, plus the slack; AVX2 by contract.
    unsafe {
        _mm256_storeu_si256(dst.cast::<__m256i>(), blocks[0]);
        if first_escape > 32 {
            _mm256_storeu_si256(dst.add(32).cast::<__m256i>(), last_block);
        }
    }
    // The output bytes this window added so far.
    let mut grown = 0usize;
    let mut consumed = lanes;
    let mut escape_end = 0;
    // At most one pass per lane: each clears its lane.
    while mask != 0 {
        let k = mask.trailing_zeros() as usize;
        let (bytes, len, taken) = escape_of(s, j + k);
        debug_assert!(w.holds(dst.wrapping_add(k + grown), 8));
        // SAFETY: inside the field's room plus the slack: the window's
        // output so far is at most its worst case.
        unsafe {
            dst.add(k + grown)
                .cast::<u64>()
                .write_unaligned(bytes.to_le())
        };
        grown = grown + len - taken;
        escape_end = k + taken;
        if escape_end >= lanes {
            // The escape ends the window, or (U+FFFE or U+FFFF split by its
            // end) takes input past it.
            consumed = escape_end;
            break;
        }
        // Clearing lane `k` alone clears every flagged lane below
        // `escape_end`: the two bytes that U+FFFE and U+FFFF take after
        // 0xEF (0xBF, then 0xBE or 0xBF) are never flagged. So the next
        // escape's lane does not wait for this one's length from the table.
        debug_assert!(mask & ((1u64 << escape_end) - 1) == 1u64 << k);
        mask &= mask - 1;
        // The lane of the next escape, or the window's end: the clean lanes
        // from `escape_end` up to it are this escape's to store.
        let next = if mask == 0 {
            lanes
        } else {
            mask.trailing_zeros() as usize
        };
        if escape_end == next {
            continue;
        }
        if j + escape_end + 32 > s.len() {
            // The 32 bytes after the escape are not all text.
            consumed = escape_end;
            break;
        }
        debug_assert!(w.holds(dst.wrapping_add(grown + escape_end), 32));
        debug_assert!(w.holds(dst.wrapping_add(grown + lanes - 32), 32));
        // SAFETY: the 32 bytes from `j + escape_end` lie inside `s`
        // (checked above); lane `l` of the window goes to `dst + grown +
        // l`, and both stores end within the window's output plus 32
        // bytes, inside the room and the slack; AVX2 by contract.
        unsafe {
            let after = _mm256_loadu_si256(s.as_ptr().add(j + escape_end).cast::<__m256i>());
            _mm256_storeu_si256(dst.add(grown + escape_end).cast::<__m256i>(), after);
            if escape_end + 32 < next {
                // The last block covers the rest: `next <= lanes`, and it
                // starts at lane `lanes - 32 <= escape_end + 32`.
                _mm256_storeu_si256(dst.add(grown + lanes - 32).cast::<__m256i>(), last_block);
            }
        }
    }
    w.keep(consumed + grown);
    (consumed, escape_end)
}

/// The last 0 to 31 bytes of a field, from `i` (all of a short field):
/// when they are clean and at least 8, two overlapping loads that both lie
/// inside them (16 bytes from each end, or 8), classified together in one
/// 256-bit block, and two overlapping stores copy them; otherwise, and
/// below 8 bytes, the SSE2 loop escapes them. Nothing before `i` or past
/// the end is read, and what the stores overlap they write twice with the
/// same bytes.
///
/// # Safety
/// As `escape_field_avx2`; `i <= s.len()`, and `s.len() - i < 32`.
#[inline(always)]
unsafe fn escape_short(s: &[u8], i: usize, w: &mut Wild<'_>) {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_set_epi64x, _mm_storeu_si128, _mm256_set_m128i,
        _mm256_zextsi128_si256,
    };
    let n = s.len();
    let r = n - i;
    debug_assert!(r < 32);
    let at = s.as_ptr();
    if r >= 16 {
        // SAFETY: 16 bytes from `i` and the last 16 bytes are inside `s`,
        // since `i + 16 <= n`; AVX2 by contract.
        let (head, tail) = unsafe {
            (
                _mm_loadu_si128(at.add(i).cast::<__m128i>()),
                _mm_loadu_si128(at.add(n - 16).cast::<__m128i>()),
            )
        };
        // SAFETY: AVX2 by contract; registers and the table only.
        if unsafe { flagged32(_mm256_set_m128i(tail, head)) } == 0 {
            // SAFETY: the room asserted covers `r` bytes and 32 more past
            // the cursor; both stores end within `r` bytes of it.
            unsafe {
                _mm_storeu_si128(w.dst().cast::<__m128i>(), head);
                _mm_storeu_si128(w.dst().add(r - 16).cast::<__m128i>(), tail);
            }
            w.keep(r);
            return;
        }
    } else if r >= 8 {
        // Unaligned reads and writes of whole words: the text and the
        // cursor have any alignment (`_mm_loadh_pd` and `_mm_storeh_pd`,
        // which would load and store the high half directly, dereference
        // an `f64` pointer, which must be aligned).
        // SAFETY: 8 bytes from `i` and the last 8 bytes are inside `s`,
        // since `i + 8 <= n`.
        let (head, tail) = unsafe {
            (
                at.add(i).cast::<u64>().read_unaligned(),
                at.add(n - 8).cast::<u64>().read_unaligned(),
            )
        };
        // The first 8 bytes in the low lanes, the last 8 above them, zeros
        // above the 16 lanes: zeros are flagged, so only the low 16 lanes
        // of the mask are asked.
        // SAFETY: AVX2 by contract; registers and the table only.
        let both = unsafe { _mm256_zextsi128_si256(_mm_set_epi64x(tail as i64, head as i64)) };
        // SAFETY: as above.
        if unsafe { flagged32(both) } & 0xFFFF == 0 {
            // SAFETY: the room asserted covers `r` bytes and 32 more past
            // the cursor; both 8-byte writes end within `r` bytes of it.
            unsafe {
                w.dst().cast::<u64>().write_unaligned(head);
                w.dst().add(r - 8).cast::<u64>().write_unaligned(tail);
            }
            w.keep(r);
            return;
        }
    }
    super::sse2::escape_from(s, i, w);
}
