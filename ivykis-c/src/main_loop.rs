//! Loop lifetime and running (SPEC 1, 9): `iv_init`, `iv_main`, ...

use std::ffi::{c_char, c_int, c_ulong};

use ivykis::engine::{self, InitError};

/// `void iv_init(void)`. Calling it again in a thread that already has a
/// loop does nothing.
#[no_mangle]
pub extern "C" fn iv_init() {
    crate::fatal::install_panic_hook();
    match engine::init() {
        Ok(()) | Err(InitError::AlreadyInitialized) => {}
        Err(InitError::Io(e)) => ivykis::fatal!("iv_init: cannot open the poll method: {e}"),
    }
}

/// `int iv_inited(void)`: one thread-local load.
#[no_mangle]
pub extern "C" fn iv_inited() -> c_int {
    c_int::from(engine::inited())
}

/// `void iv_deinit(void)`.
#[no_mangle]
pub extern "C" fn iv_deinit() {
    if !engine::deinit() {
        ivykis::fatal!("iv_deinit: called in a thread without iv_init");
    }
}

/// `void iv_main(void)`.
#[no_mangle]
pub extern "C" fn iv_main() {
    if !engine::inited() {
        ivykis::fatal!("iv_main: called in a thread without iv_init");
    }
    engine::run();
}

/// `void iv_quit(void)`. syslog-ng uses it as an event handler, so it may be
/// called with an ignored argument; with the C calling convention that is
/// harmless.
#[no_mangle]
pub extern "C" fn iv_quit() {
    engine::quit();
}

/// `const char *iv_poll_method_name(void)`: the method of this thread's
/// loop, or of the process once any thread has chosen it; NULL before the
/// first `iv_init`.
#[no_mangle]
pub extern "C" fn iv_poll_method_name() -> *const c_char {
    match engine::poll_method_name() {
        Some("epoll") => c"epoll".as_ptr(),
        Some("ppoll") => c"ppoll".as_ptr(),
        Some("poll") => c"poll".as_ptr(),
        Some("kqueue") => c"kqueue".as_ptr(),
        Some(other) => ivykis::fatal!("iv_poll_method_name: unknown method {other}"),
        None => std::ptr::null(),
    }
}

/// `unsigned long iv_get_thread_id(void)`: the OS thread id.
#[no_mangle]
pub extern "C" fn iv_get_thread_id() -> c_ulong {
    ivykis::engine::thread::current_tid() as c_ulong
}
