//! Exported functions whose implementation has not landed yet.
//!
//! Every symbol of the binary interface (SPEC 10) must exist from the start,
//! so that programs link and `tests/check_symbols.sh` passes. The functions
//! here have the real C signatures (struct pointers are passed as opaque
//! pointers until their `#[repr(C)]` mirrors exist) and end the process
//! through `iv_fatal`'s path with "<name>: not implemented". Each group moves
//! to its own module when the issue named above it is done.

use std::ffi::{c_char, c_int, c_ulong, c_void};

use ivykis::engine::fatal::fatal_message;

/// A `void (*)(void *)` callback as C passes it (NULL allowed).
type Callback = Option<unsafe extern "C" fn(*mut c_void)>;

/// Aborts with "`name`: not implemented".
macro_rules! not_implemented {
    ($name:ident) => {
        fatal_message(concat!(stringify!($name), ": not implemented"))
    };
}

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

// ---- iv_event_raw (issue 3) -----------------------------------------------

/// `int iv_event_raw_register(struct iv_event_raw *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_event_raw_register(_event: *mut c_void) -> c_int {
    not_implemented!(iv_event_raw_register)
}

/// `void iv_event_raw_unregister(struct iv_event_raw *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_event_raw_unregister(_event: *mut c_void) {
    not_implemented!(iv_event_raw_unregister)
}

/// `void iv_event_raw_post(const struct iv_event_raw *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_event_raw_post(_event: *const c_void) {
    not_implemented!(iv_event_raw_post)
}

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

// ---- iv_inotify (issue 4) -------------------------------------------------

/// `int iv_inotify_register(struct iv_inotify *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_register(_inotify: *mut c_void) -> c_int {
    not_implemented!(iv_inotify_register)
}

/// `void iv_inotify_unregister(struct iv_inotify *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_unregister(_inotify: *mut c_void) {
    not_implemented!(iv_inotify_unregister)
}

/// `int iv_inotify_watch_register(struct iv_inotify_watch *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_watch_register(_watch: *mut c_void) -> c_int {
    not_implemented!(iv_inotify_watch_register)
}

/// `void iv_inotify_watch_unregister(struct iv_inotify_watch *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_watch_unregister(_watch: *mut c_void) {
    not_implemented!(iv_inotify_watch_unregister)
}
