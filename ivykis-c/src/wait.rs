//! `iv_wait`: not implemented yet (issue 3). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;
use crate::stubs::Callback;

// ---- iv_wait (issue 3) ----------------------------------------------------

/// `void iv_wait_interest_register(struct iv_wait_interest *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_register(_interest: *mut c_void) {
    not_implemented!(iv_wait_interest_register)
}

/// `int iv_wait_interest_register_spawn(struct iv_wait_interest *,
/// void (*fn)(void *), void *cookie)`.
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_register_spawn(
    _interest: *mut c_void,
    _child_fn: Callback,
    _cookie: *mut c_void,
) -> c_int {
    not_implemented!(iv_wait_interest_register_spawn)
}

/// `void iv_wait_interest_unregister(struct iv_wait_interest *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_unregister(_interest: *mut c_void) {
    not_implemented!(iv_wait_interest_unregister)
}

/// `int iv_wait_interest_kill(const struct iv_wait_interest *, int sig)`.
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_kill(_interest: *const c_void, _sig: c_int) -> c_int {
    not_implemented!(iv_wait_interest_kill)
}
