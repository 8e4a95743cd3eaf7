//! `iv_fd_pump`: not implemented yet (issue 4). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;

// ---- iv_fd_pump (issue 4) -------------------------------------------------

/// `void iv_fd_pump_init(struct iv_fd_pump *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_init(_pump: *mut c_void) {
    not_implemented!(iv_fd_pump_init)
}

/// `void iv_fd_pump_destroy(struct iv_fd_pump *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_destroy(_pump: *mut c_void) {
    not_implemented!(iv_fd_pump_destroy)
}

/// `int iv_fd_pump_pump(struct iv_fd_pump *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_pump(_pump: *mut c_void) -> c_int {
    not_implemented!(iv_fd_pump_pump)
}

/// `int iv_fd_pump_is_done(const struct iv_fd_pump *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_is_done(_pump: *const c_void) -> c_int {
    not_implemented!(iv_fd_pump_is_done)
}
