//! ivykis: a per-thread, callback-driven event loop.
//!
//! (The Rust face is being written; see `engine` for the core.)

#![deny(unsafe_op_in_unsafe_fn)]

#[doc(hidden)]
pub mod engine;
#[doc(hidden)]
pub mod sys;
