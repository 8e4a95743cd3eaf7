//! The C face of ivykis: `extern "C"` functions with the ABI of ivykis 0.43.
//!
//! Each function checks its arguments, converts the caller's `struct iv_*`
//! and calls the engine (`ivykis::engine`); no event-loop logic lives here.
//! Cargo builds this crate as `libivykis_c.a`; the top-level Makefile links
//! it into `libivykis.so.0` with the version script `ivykis.map` and copies
//! it to `libivykis.a`.

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_snake_case, clippy::missing_safety_doc)]

mod avl;
mod event;
mod event_raw;
mod fatal;
mod fd;
mod fd_pump;
mod inotify;
mod main_loop;
mod popen;
mod registration;
mod signal;
mod task;
mod thread;
mod time;
mod timer;
mod tls;
mod wait;
mod work;
