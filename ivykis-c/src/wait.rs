//! `struct iv_wait_interest` (SPEC 6): child-process state changes.
//!
//! `IV_WAIT_INTEREST_INIT` is an empty inline function, so the private
//! space holds garbage until registration; registration stores the engine's
//! interest there (a leaked `Box`), and unregistering takes it back and
//! nulls it.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

use ivykis::engine::callback::Callback;
use ivykis::engine::wait::{self, Delivery, Interest, RegisterError, SpawnFn};

/// `void (*handler)(void *cookie, int status, const struct rusage *rusage)`.
pub type WaitHandler = Option<unsafe extern "C" fn(*mut c_void, c_int, *const libc::rusage)>;

/// `struct iv_wait_interest`: 128 bytes; `pid`, `cookie`, `handler`, then
/// private space (an avl node, an iv_event, a list head, a pointer, flags).
#[repr(C)]
pub struct IvWaitInterest {
    pub pid: libc::pid_t,
    pub cookie: *mut c_void,
    pub handler: WaitHandler,
    interest: *mut Interest,
    _pad: [*mut c_void; 12],
}

const _: () = assert!(std::mem::size_of::<IvWaitInterest>() == 128);

unsafe fn deliver(data: NonNull<c_void>, (status, rusage): Delivery) {
    let this = data.cast::<IvWaitInterest>().as_ptr();
    // SAFETY: the engine delivers only while the interest is registered,
    // and the program keeps a registered struct alive. Fields are read
    // before the call, which may unregister and free the struct.
    let (handler, cookie) = unsafe { ((*this).handler, (*this).cookie) };
    if let Some(h) = handler {
        // SAFETY: the program's handler; `rusage` is valid for the call.
        unsafe { h(cookie, status, rusage) }
    }
}

fn callback(this: *mut IvWaitInterest, what: &str) -> Callback<Delivery> {
    let Some(ptr) = NonNull::new(this) else {
        ivykis::fatal!("{what}: NULL iv_wait_interest");
    };
    // SAFETY: `deliver` is sound for this pointer while the interest is
    // registered: the program keeps it alive until it unregisters (SPEC 6).
    unsafe { Callback::raw(deliver, ptr.cast()) }
}

fn check_inited(what: &str) {
    if !ivykis::engine::inited() {
        ivykis::fatal!("{what}: called in a thread without iv_init");
    }
}

fn store(this: *mut IvWaitInterest, result: Result<Interest, RegisterError>, what: &str) -> c_int {
    match result {
        Ok(interest) => {
            // SAFETY: the caller passes a writable iv_wait_interest.
            unsafe {
                (*this).pid = interest.pid();
                (*this).interest = Box::into_raw(Box::new(interest));
            }
            0
        }
        Err(RegisterError::Duplicate) => {
            // SAFETY: as above.
            let pid = unsafe { (*this).pid };
            ivykis::fatal!("{what}: pid {pid} already has a registered interest")
        }
        Err(RegisterError::Io(e)) => {
            crate::fd::set_errno(e.raw_os_error().unwrap_or(libc::EAGAIN));
            -1
        }
    }
}

/// `void iv_wait_interest_register(struct iv_wait_interest *)`: watch
/// `->pid`, a child of this process. Fatal when no descriptor is left for
/// the SIGCHLD watch (the call cannot report failure).
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_register(this: *mut IvWaitInterest) {
    const WHAT: &str = "iv_wait_interest_register";
    check_inited(WHAT);
    let cb = callback(this, WHAT);
    // SAFETY: `callback` checked that `this` is non-null.
    let pid = unsafe { (*this).pid };
    if pid <= 0 {
        ivykis::fatal!("{WHAT}: invalid pid {pid}");
    }
    if store(this, wait::register(pid, cb, WHAT), WHAT) != 0 {
        ivykis::fatal!(
            "{WHAT}: cannot watch pid {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// `int iv_wait_interest_register_spawn(struct iv_wait_interest *,
/// void (*fn)(void *), void *cookie)`: fork a child running `fn(cookie)`
/// (then `exit(1)`) and watch it; 0, or -1 with errno set.
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_register_spawn(
    this: *mut IvWaitInterest,
    child: Option<SpawnFn>,
    cookie: *mut c_void,
) -> c_int {
    const WHAT: &str = "iv_wait_interest_register_spawn";
    check_inited(WHAT);
    let cb = callback(this, WHAT);
    let Some(child) = child else {
        ivykis::fatal!("{WHAT}: NULL child function");
    };
    // SAFETY: the program's function, meant to run in the child.
    let result = unsafe { wait::register_spawn(child, cookie, cb, WHAT) };
    store(this, result, WHAT)
}

fn take_interest(this: *mut IvWaitInterest, what: &str) -> Box<Interest> {
    // SAFETY: the caller passes a valid iv_wait_interest.
    let w =
        unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{what}: NULL iv_wait_interest"));
    if w.interest.is_null() {
        ivykis::fatal!("{what}: interest is not registered");
    }
    // SAFETY: a non-null `interest` is the Box leaked at registration.
    let interest = unsafe { Box::from_raw(w.interest) };
    w.interest = std::ptr::null_mut();
    interest
}

/// `void iv_wait_interest_unregister(struct iv_wait_interest *)`: in the
/// registering thread, also from the interest's own handler.
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_unregister(this: *mut IvWaitInterest) {
    const WHAT: &str = "iv_wait_interest_unregister";
    if ivykis::engine::current_id() != registered_loop(this, WHAT) {
        ivykis::fatal!("{WHAT}: interest is registered in another thread's loop");
    }
    take_interest(this, WHAT).unregister();
}

fn registered_loop(this: *const IvWaitInterest, what: &str) -> Option<u64> {
    // SAFETY: the caller passes a valid iv_wait_interest.
    let w =
        unsafe { this.as_ref() }.unwrap_or_else(|| ivykis::fatal!("{what}: NULL iv_wait_interest"));
    // SAFETY: a non-null `interest` is the live Box leaked at registration.
    let interest = unsafe { w.interest.as_ref() }
        .unwrap_or_else(|| ivykis::fatal!("{what}: interest is not registered"));
    Some(interest.loop_id())
}

/// `int iv_wait_interest_kill(const struct iv_wait_interest *, int sig)`:
/// 0, or -1 with errno set (ESRCH once the child's exit was collected).
#[no_mangle]
pub unsafe extern "C" fn iv_wait_interest_kill(this: *const IvWaitInterest, sig: c_int) -> c_int {
    const WHAT: &str = "iv_wait_interest_kill";
    registered_loop(this, WHAT);
    // SAFETY: checked registered just above.
    let interest = unsafe { &*(*this).interest };
    match interest.kill(sig) {
        Ok(()) => 0,
        Err(e) => {
            crate::fd::set_errno(e.raw_os_error().unwrap_or(libc::ESRCH));
            -1
        }
    }
}
