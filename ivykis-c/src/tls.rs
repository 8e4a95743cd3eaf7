//! `iv_tls`: not implemented yet (issue 3). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::c_void;

use crate::stubs::not_implemented;

// ---- iv_tls (issue 3) -----------------------------------------------------

/// `void iv_tls_user_register(struct iv_tls_user *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_tls_user_register(_user: *mut c_void) {
    not_implemented!(iv_tls_user_register)
}

/// `void *iv_tls_user_ptr(const struct iv_tls_user *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_tls_user_ptr(_user: *const c_void) -> *mut c_void {
    not_implemented!(iv_tls_user_ptr)
}
