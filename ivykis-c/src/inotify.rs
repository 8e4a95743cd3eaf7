//! `iv_inotify`: not implemented yet (issue 4). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;

// ---- iv_inotify (issue 4) -------------------------------------------------

/// `int iv_inotify_register(struct iv_inotify *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_register(_inotify: *mut c_void) -> c_int {
    not_implemented!(iv_inotify_register)
}

/// `void iv_inotify_unregister(struct iv_inotify *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_unregister(_inotify: *mut c_void) {
    not_implemented!(iv_inotify_unregister)
}

/// `int iv_inotify_watch_register(struct iv_inotify_watch *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_watch_register(_watch: *mut c_void) -> c_int {
    not_implemented!(iv_inotify_watch_register)
}

/// `void iv_inotify_watch_unregister(struct iv_inotify_watch *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_watch_unregister(_watch: *mut c_void) {
    not_implemented!(iv_inotify_watch_unregister)
}
