//! Mutexes and atomics for the engine's cross-thread protocols, from `std`,
//! or from `loom` when the model checker runs.
//!
//! The wake-up hub's sleep/post handshake (`wake.rs`) and the worker pool's
//! hand-offs (`work.rs`) take their synchronization types from here. A
//! normal build gets std's. `make loom` builds the crate's unit tests with
//! `RUSTFLAGS="--cfg loom"`, and then these are loom's instrumented types:
//! the models in `wake/loom_tests.rs` and `work/loom_tests.rs` run the real
//! protocol code while loom explores every interleaving of its threads and
//! every value the memory model lets each atomic load see (bounded by
//! `LOOM_MAX_PREEMPTIONS`).
//!
//! Only under `all(test, loom)`: loom is a dev-dependency, so a non-test
//! build with `--cfg loom` still uses std (as tokio's `src/loom/` does).
//!
//! `Arc` is not switched: the `Arc<Hub>`s these files hold are made by
//! `event.rs` and shared with `thread.rs` and the C face, and a pool's
//! state crosses a C thread start as a raw pointer. Loom's `Arc` would
//! only add leak checks, which these models do not need.
//!
//! Loom treats `SeqCst` loads and stores as acquire/release only, while it
//! does model `fence(SeqCst)`. A handshake that relies on sequential
//! consistency between two variables therefore states it with a fence,
//! which is the same guarantee in both worlds.

#[cfg(all(test, loom))]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize},
    Mutex, MutexGuard,
};
#[cfg(all(test, loom))]
pub(crate) use std::sync::atomic::Ordering;

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};
