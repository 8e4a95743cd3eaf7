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
//! Two habits keep the code checkable without changing what it does:
//!
//! - Loom treats `SeqCst` loads and stores as acquire/release only, while
//!   it does model `fence(SeqCst)`. A handshake that relies on sequential
//!   consistency between two variables (the hub's `sleeping`/`queued`)
//!   states it with a fence, the same guarantee in both worlds.
//! - Loom orders a plain store only partially against another thread's
//!   earlier read-modify-writes of the same variable, and then lets later
//!   reads see values the C11 model forbids. A flag that threads raise
//!   with `swap` is therefore lowered with `swap` too (the hub's
//!   `notified`, the pool's `completion_posted`); on x86 a `SeqCst` store
//!   is the same `xchg` instruction.

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
