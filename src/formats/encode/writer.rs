//! The writer every engine and the request layout write through: `Wild`,
//! which appends into capacity reserved beforehand with no capacity check
//! per copy, and `Piece`, fixed bytes padded to a constant length so that
//! they are copied by one copy of that length.
//!
//! It is the one place, besides the engines, that holds unsafe code: raw
//! pointer writes past the kept length. Its methods are safe to call but
//! trust the caller's `assert_room` (checked only by `debug_assert!` on
//! each write), which is why `Wild` is visible only inside `encode`: every
//! caller is one of the files beside this one, each of which asserts the
//! worst case of a whole field or request before it writes.

// One of the few files allowed unsafe code (`#![deny(unsafe_code)]` in
// lib.rs): every block says why it is sound.
#![allow(unsafe_code)]

/// How far past the bytes it keeps the writer may store: clean text is
/// stored a whole block (up to 32 bytes) at a time, and only the clean
/// part is kept.
const WILD_BYTES: usize = 32;

/// How many bytes of a padded piece `Wild::put_padded` copies at a time:
/// one vector store where the engine has 32-byte vectors.
const CHUNK_BYTES: usize = 32;

/// The padded size from which `Wild::put_padded` copies a piece whole.
const WHOLE_PIECE_BYTES_MIN: usize = 128;

/// Writes into capacity reserved beforehand, without a capacity check per
/// copy: the hot path's copies are many and short. Clean text is copied
/// by storing whole blocks (16 or 32 bytes) and keeping only their clean
/// prefix, so the reservation has `WILD_BYTES` of slack; a padded piece
/// may be stored past its length up to its padded size, which the room
/// counts. Some engine stores also begin before the cursor (the AVX2 and
/// AVX-512 tails rewrite the field's own last output bytes with the same
/// bytes), never before the field's output. Each field asserts its worst
/// case against the room left before it writes; `finish` publishes the
/// kept length.
pub(super) struct Wild<'a> {
    out: &'a mut Vec<u8>,
    /// Where the next kept byte goes, and the end of the capacity: the
    /// buffer read once, so that a store through `at` cannot make the
    /// compiler reload it, and one pointer to carry through the hot path
    /// instead of a base and a length.
    at: *mut u8,
    end: *mut u8,
}

impl<'a> Wild<'a> {
    /// Reserves room for `bytes_max` kept bytes and the slack.
    pub(super) fn new(out: &'a mut Vec<u8>, bytes_max: usize) -> Self {
        out.reserve(bytes_max.saturating_add(WILD_BYTES));
        let base = out.as_mut_ptr();
        // SAFETY: both offsets are within (or one past) the allocation.
        let (at, end) = unsafe { (base.add(out.len()), base.add(out.capacity())) };
        Wild { out, at, end }
    }

    /// The bytes between the cursor and the end of the capacity.
    #[inline(always)]
    fn room(&self) -> usize {
        // SAFETY: both point into one allocation, and `at <= end` (the
        // reservation and `assert_room`).
        unsafe { self.end.offset_from_unsigned(self.at) }
    }

    /// Whether `bytes` bytes stored at `at` lie inside the reservation:
    /// after the vector's start and before the end of its capacity. An
    /// engine asserts it (`debug_assert!`) before each store whose place
    /// it computes away from the cursor, so that the debug tests, which
    /// escape texts made of nothing but escapes, would catch a store
    /// outside the room that the byte comparisons cannot see.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) fn holds(&self, at: *const u8, bytes: usize) -> bool {
        let (start, end) = (self.out.as_ptr() as usize, self.end as usize);
        (at as usize) >= start && (at as usize).saturating_add(bytes) <= end
    }

    /// The positive and the negative space of the reservation, checked
    /// before a step that writes at most `bytes` kept bytes: a write past
    /// it would be a bug in the caller's arithmetic.
    #[inline(always)]
    pub(super) fn assert_room(&self, bytes: usize) {
        assert!(
            bytes.saturating_add(WILD_BYTES) <= self.room(),
            "reservation too small"
        );
    }

    /// Where the next kept byte goes: an engine stores a whole block there
    /// and then keeps its clean part (or, for a field's tail, stores its
    /// last 32 bytes so that they end where the field does). Only the
    /// x86_64 engines store whole blocks, so elsewhere nothing calls it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    pub(super) fn dst(&mut self) -> *mut u8 {
        self.at
    }

    /// Copies bytes and keeps them all.
    #[inline(always)]
    pub(super) fn put_slice(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len() + WILD_BYTES <= self.room());
        // SAFETY: the caller's `assert_room` covered this write, and the
        // source is a distinct slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.at, bytes.len()) }
        self.keep(bytes.len());
    }

    /// Keeps `n` of the bytes a wild store wrote.
    #[inline(always)]
    pub(super) fn keep(&mut self, n: usize) {
        debug_assert!(n + WILD_BYTES <= self.room());
        // SAFETY: inside the reservation (the caller's `assert_room`).
        self.at = unsafe { self.at.add(n) };
    }

    /// Writes a word and keeps its first `n` bytes (at most 8).
    #[inline(always)]
    pub(super) fn put_word(&mut self, bytes: u64, n: usize) {
        debug_assert!(n <= 8 && 8 <= WILD_BYTES);
        // SAFETY: the caller's `assert_room` covered `n` kept bytes, and
        // the slack covers the rest of the word.
        unsafe { self.at.cast::<u64>().write_unaligned(bytes.to_le()) }
        self.keep(n);
    }

    /// Copies a padded piece and keeps its first `n` bytes, 32 bytes at a
    /// time, each chunk one copy of constant length: as many chunks as
    /// cover `n` for a piece padded to less than `WHOLE_PIECE_BYTES_MIN`, whose
    /// length is a constant where the writer is compiled (every piece but a
    /// request's opening), so that the copy is that many vector moves; all
    /// of a longer one, an opening, whose length depends on the request and
    /// which nearly fills its padding anyway (a loop over its length ran
    /// slower than the one to three stores it saves).
    ///
    /// Why not all `N` bytes in one copy: every store counts (a request
    /// written with five fewer stores took about 1 ns less here, of about
    /// 23), and a piece of 25 bytes padded to 64 took two stores where one
    /// does; the 384 bytes of an opening, as one copy, became a call to
    /// the C library's `memcpy`. The caller's `assert_room` must cover `N`
    /// bytes, as a request's room counts each piece's padded size.
    #[inline(always)]
    pub(super) fn put_padded<const N: usize>(&mut self, bytes: &[u8; N], n: usize) {
        const { assert!(N.is_multiple_of(CHUNK_BYTES), "a piece is whole chunks") };
        debug_assert!(n <= N);
        let chunks = if N >= WHOLE_PIECE_BYTES_MIN {
            N / CHUNK_BYTES
        } else {
            n.div_ceil(CHUNK_BYTES).min(N / CHUNK_BYTES)
        };
        debug_assert!(chunks * CHUNK_BYTES <= self.room());
        // At most `N / CHUNK_BYTES` passes.
        for k in 0..chunks {
            // SAFETY: chunk `k` lies inside `bytes` (`k < N / CHUNK_BYTES`)
            // and inside the `N` bytes of room the caller asserted, and
            // the source is a distinct array.
            unsafe {
                let chunk = bytes
                    .as_ptr()
                    .add(CHUNK_BYTES * k)
                    .cast::<[u8; CHUNK_BYTES]>()
                    .read_unaligned();
                self.at
                    .add(CHUNK_BYTES * k)
                    .cast::<[u8; CHUNK_BYTES]>()
                    .write_unaligned(chunk);
            }
        }
        self.keep(n);
    }

    /// Publishes the kept length to the vector: until then its length is
    /// the one it had before the writer began.
    pub(super) fn finish(self) {
        // SAFETY: every byte below the cursor was written by this writer
        // (or was already initialised), and the cursor never passes the
        // capacity.
        unsafe {
            let len = self.at.offset_from_unsigned(self.out.as_ptr());
            self.out.set_len(len)
        }
    }
}

/// Fixed bytes padded to `N`, so that they are copied by one copy of
/// constant length and their length kept (`Wild::put_padded`); the room a
/// request reserves counts the padding.
#[derive(Clone, Copy)]
pub(super) struct Piece<const N: usize> {
    /// The bytes, then zeros up to `N`.
    pub(super) bytes: [u8; N],
    /// How many of `bytes` are the piece's.
    pub(super) len: usize,
}

impl<const N: usize> Piece<N> {
    /// No bytes yet: where a piece built at compile time starts.
    pub(super) const EMPTY: Self = Piece {
        bytes: [0; N],
        len: 0,
    };

    /// One piece; a piece longer than `N` fails the build.
    pub(super) const fn new(piece: &[u8]) -> Self {
        Self::EMPTY.then(piece)
    }

    /// Appends bytes; past `N`, the build fails.
    pub(super) const fn then(mut self, piece: &[u8]) -> Self {
        let mut i = 0;
        while i < piece.len() {
            self.bytes[self.len + i] = piece[i];
            i += 1;
        }
        self.len += piece.len();
        self
    }
}
