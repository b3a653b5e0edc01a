//! A global allocator that counts allocations and frees per phase, for the instruction-count
//! bench (`benches/instructions.rs`), which counts what `send()` and the sender's turn allocate
//! and free per record. It lives here because implementing `GlobalAlloc` is `unsafe`, and
//! `unsafe` is allowed in `io` only; the bench installs it with `#[global_allocator]` and needs
//! none of its own.
//!
//! Every call goes to the system allocator unchanged; the counters are relaxed atomics, indexed
//! by the phase the program last set ([`CountingAllocator::set_phase`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Phases counted apart (0 is conventionally "not counted").
pub const PHASES: usize = 4;

/// The system allocator, counting allocations and frees per phase (a reallocation counts as
/// one of each).
#[derive(Debug)]
pub struct CountingAllocator {
    phase: AtomicUsize,
    allocs: [AtomicU64; PHASES],
    frees: [AtomicU64; PHASES],
}

impl CountingAllocator {
    /// All counters at zero, in phase 0.
    pub const fn new() -> Self {
        CountingAllocator {
            phase: AtomicUsize::new(0),
            allocs: [const { AtomicU64::new(0) }; PHASES],
            frees: [const { AtomicU64::new(0) }; PHASES],
        }
    }

    /// Counts what follows, on any thread, in `phase` (below [`PHASES`]).
    ///
    /// # Panics
    /// If `phase` is not below [`PHASES`].
    pub fn set_phase(&self, phase: usize) {
        assert!(phase < PHASES, "phase {phase} out of 0..{PHASES}");
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// Allocations counted in `phase` so far.
    pub fn allocations(&self, phase: usize) -> u64 {
        self.allocs[phase].load(Ordering::Relaxed)
    }

    /// Frees counted in `phase` so far.
    pub fn frees(&self, phase: usize) -> u64 {
        self.frees[phase].load(Ordering::Relaxed)
    }

    #[inline]
    fn count_alloc(&self) {
        self.allocs[self.phase.load(Ordering::Relaxed)].fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    fn count_free(&self) {
        self.frees[self.phase.load(Ordering::Relaxed)].fetch_add(1, Ordering::Relaxed);
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds
// `GlobalAlloc`'s contract; the only other thing done is counting, in atomics, which neither
// allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count_alloc();
        // SAFETY: our caller's guarantees on `layout` are `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count_alloc();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.count_free();
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count_alloc();
        self.count_free();
        // SAFETY: `ptr` was allocated by `System` with `layout`; our caller's guarantees on
        // `new_size` are `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
