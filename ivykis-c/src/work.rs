//! `iv_work`: not implemented yet (issue 3). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use crate::stubs::not_implemented;

// ---- iv_work (issue 3) ----------------------------------------------------

/// `int iv_work_pool_create(struct iv_work_pool *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_create(_pool: *mut c_void) -> c_int {
    not_implemented!(iv_work_pool_create)
}

/// `void iv_work_pool_put(struct iv_work_pool *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_put(_pool: *mut c_void) {
    not_implemented!(iv_work_pool_put)
}

/// `void iv_work_pool_submit_work(struct iv_work_pool *, struct iv_work_item *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_submit_work(_pool: *mut c_void, _item: *mut c_void) {
    not_implemented!(iv_work_pool_submit_work)
}

/// `void iv_work_pool_submit_continuation(struct iv_work_pool *,
/// struct iv_work_item *)` (IVYKIS_0.42).
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_submit_continuation(_pool: *mut c_void, _item: *mut c_void) {
    not_implemented!(iv_work_pool_submit_continuation)
}
