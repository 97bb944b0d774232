//! The process's Rust heap, counted (native builds): a global allocator wrapper that keeps the
//! bytes in use and their peak. `ezigen bench` reports the peak of a model load with it, the
//! figure that bounds the page's wasm linear memory (the same loader code runs there), and a
//! test holds the loader to it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts the bytes in use and their peak since the last [`Counting::reset_peak`].
pub struct Counting {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Counting {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self { now: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }
    /// Bytes in use now.
    pub fn now(&self) -> usize {
        self.now.load(Relaxed)
    }
    /// The most bytes in use since the last reset.
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }
    /// Starts a new peak from the bytes in use now.
    pub fn reset_peak(&self) {
        self.peak.store(self.now(), Relaxed);
    }
    fn grew(&self, by: usize) {
        let now = self.now.fetch_add(by, Relaxed) + by;
        self.peak.fetch_max(now, Relaxed);
    }
}

impl Default for Counting {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.now.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                self.grew(new_size - layout.size());
            } else {
                self.now.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}
