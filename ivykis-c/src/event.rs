//! `iv_event`: not implemented yet (issue 3). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;

// ---- iv_event (issue 3) ---------------------------------------------------

/// `int iv_event_register(struct iv_event *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_event_register(_event: *mut c_void) -> c_int {
    not_implemented!(iv_event_register)
}

/// `void iv_event_unregister(struct iv_event *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_event_unregister(_event: *mut c_void) {
    not_implemented!(iv_event_unregister)
}

/// `void iv_event_post(struct iv_event *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_event_post(_event: *mut c_void) {
    not_implemented!(iv_event_post)
}
