//! `iv_signal`: not implemented yet (issue 3). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;

// ---- iv_signal (issue 3) --------------------------------------------------

/// `int iv_signal_register(struct iv_signal *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_signal_register(_signal: *mut c_void) -> c_int {
    not_implemented!(iv_signal_register)
}

/// `void iv_signal_unregister(struct iv_signal *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_signal_unregister(_signal: *mut c_void) {
    not_implemented!(iv_signal_unregister)
}
