//! The capture handler must not allocate: it may interrupt a thread inside `malloc`. A counting
//! global allocator counts allocations made on the interrupted thread while the handler runs.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
// A `#[global_allocator]` is necessarily an `unsafe impl GlobalAlloc`; this one only counts and
// forwards every call to `System` unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use tokmon::stack;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if let Some(active) = stack::handler_active_on()
        && active == rustix::thread::gettid().as_raw_nonzero().get()
    {
        IN_HANDLER.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only atomics and makes a syscall, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn tid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

#[inline(never)]
fn churn_the_allocator(stop: &AtomicBool) {
    let mut keep = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let v: Vec<u64> = (0..64).collect();
        keep.push(black_box(v));
        if keep.len() > 100 {
            keep.clear();
        }
    }
}

#[test]
fn the_handler_allocates_nothing_even_when_it_interrupts_malloc() {
    stack::prepare().expect("stack capture sets up");
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    let (s, t) = (stop.clone(), tx.clone());
    handles.push(thread::spawn(move || {
        t.send(tid()).expect("main alive");
        churn_the_allocator(&s);
    }));
    let (s, t) = (stop.clone(), tx.clone());
    handles.push(thread::spawn(move || {
        t.send(tid()).expect("main alive");
        while !s.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
        }
    }));
    let (s, t) = (stop.clone(), tx);
    handles.push(thread::spawn(move || {
        t.send(tid()).expect("main alive");
        while !s.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    }));
    let tids: Vec<i32> = (0..3).map(|_| rx.recv().expect("thread started")).collect();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut frames = 0;
    for round in 0..600 {
        let tid = tids[round % tids.len()];
        let raw = stack::capture(tid, None, Duration::from_secs(2)).expect("capture");
        frames += raw.addresses.len();
    }
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().expect("thread");
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!("600 captures, {frames} frames; {allocations} allocations in the process meanwhile");
    assert!(allocations > 0, "the counting allocator is in use");
    assert!(frames >= 600 * 3, "stacks are deep: {frames}");
    assert_eq!(
        IN_HANDLER.load(Ordering::Relaxed),
        0,
        "the handler allocated"
    );
}
