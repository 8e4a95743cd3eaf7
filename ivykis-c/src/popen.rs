//! `iv_popen`: not implemented yet (issue 4). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;

// ---- iv_popen (issue 4) ---------------------------------------------------

/// `int iv_popen_request_submit(struct iv_popen_request *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_popen_request_submit(_request: *mut c_void) -> c_int {
    not_implemented!(iv_popen_request_submit)
}

/// `void iv_popen_request_close(struct iv_popen_request *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_popen_request_close(_request: *mut c_void) {
    not_implemented!(iv_popen_request_close)
}
