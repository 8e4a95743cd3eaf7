//! `iv_thread`: not implemented yet (issue 3). Every function ends the
//! process through `iv_fatal`'s path with "<name>: not implemented", so that
//! the symbol exists and a program that calls it fails loudly.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_ulong, c_void};

use crate::stubs::not_implemented;
use crate::stubs::Callback;

// ---- iv_thread (issue 3); iv_get_thread_id lives in main_loop.rs ----------

/// `int iv_thread_create(const char *name, void (*start)(void *), void *arg)`.
#[no_mangle]
pub unsafe extern "C" fn iv_thread_create(
    _name: *const c_char,
    _start_routine: Callback,
    _arg: *mut c_void,
) -> c_int {
    not_implemented!(iv_thread_create)
}

/// `void iv_thread_set_debug_state(int state)`.
#[no_mangle]
pub unsafe extern "C" fn iv_thread_set_debug_state(_state: c_int) {
    not_implemented!(iv_thread_set_debug_state)
}

/// `unsigned long iv_thread_get_id(void)`.
#[no_mangle]
pub unsafe extern "C" fn iv_thread_get_id() -> c_ulong {
    not_implemented!(iv_thread_get_id)
}

/// `void iv_thread_list_children(void)`.
#[no_mangle]
pub unsafe extern "C" fn iv_thread_list_children() {
    not_implemented!(iv_thread_list_children)
}
