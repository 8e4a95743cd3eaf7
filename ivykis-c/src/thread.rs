//! `iv_thread` (SPEC 7): threads that hold a reference on their creator's
//! loop until they end.

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};

use ivykis::engine::thread::{self, StartRoutine};

/// `int iv_thread_create(const char *name, void (*start_routine)(void *),
/// void *arg)`: 0, or -1 with errno set when the thread cannot be started.
#[no_mangle]
pub unsafe extern "C" fn iv_thread_create(
    name: *const c_char,
    start_routine: Option<StartRoutine>,
    arg: *mut c_void,
) -> c_int {
    const WHAT: &str = "iv_thread_create";
    let Some(routine) = start_routine else {
        ivykis::fatal!("{WHAT}: NULL start routine");
    };
    if !ivykis::engine::inited() {
        ivykis::fatal!("{WHAT}: called in a thread without iv_init");
    }
    let name = if name.is_null() {
        c"(unnamed)"
    } else {
        // SAFETY: the caller passes a NUL-terminated name.
        unsafe { CStr::from_ptr(name) }
    };
    match thread::create(name, routine, arg, WHAT) {
        Ok(()) => 0,
        Err(e) => {
            crate::fd::set_errno(e.raw_os_error().unwrap_or(libc::EAGAIN));
            -1
        }
    }
}

/// `void iv_thread_set_debug_state(int state)`.
#[no_mangle]
pub extern "C" fn iv_thread_set_debug_state(state: c_int) {
    thread::set_debug(state != 0);
}

/// `unsigned long iv_thread_get_id(void)`: the OS thread id.
#[no_mangle]
pub extern "C" fn iv_thread_get_id() -> c_ulong {
    thread::current_tid() as c_ulong
}

/// `void iv_thread_list_children(void)`: prints the calling thread's live
/// children to standard error.
#[no_mangle]
pub extern "C" fn iv_thread_list_children() {
    thread::list_children();
}
