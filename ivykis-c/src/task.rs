//! `struct iv_task` (SPEC 5).

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

use ivykis::engine::callback::Callback;
use ivykis::engine::{self, Loop};

use crate::fd::Handler;
use crate::registration::Registration;

/// `struct iv_task`: 64 bytes, `cookie`, `handler`, then private space.
#[repr(C)]
pub struct IvTask {
    pub cookie: *mut c_void,
    pub handler: Handler,
    reg: Registration,
    /// The task round this task last ran in, for the fairness rule.
    last_round: u64,
    _pad: [*mut c_void; 3],
}

const _: () = assert!(std::mem::size_of::<IvTask>() == 64);

unsafe fn run(data: NonNull<c_void>, round: u64) {
    let this = data.cast::<IvTask>().as_ptr();
    // SAFETY: the engine calls right after removing the registration, before
    // any other code runs, so the struct is still the program's live task.
    let (handler, cookie) = unsafe {
        (*this).reg = Registration::NONE;
        (*this).last_round = round;
        ((*this).handler, (*this).cookie)
    };
    if let Some(h) = handler {
        // SAFETY: the program's handler with its cookie.
        unsafe { h(cookie) }
    }
}

/// `void IV_TASK_INIT(struct iv_task *)`.
#[no_mangle]
pub unsafe extern "C" fn IV_TASK_INIT(this: *mut IvTask) {
    // SAFETY: the caller passes a writable iv_task.
    unsafe {
        (*this).reg = Registration::NONE;
        (*this).last_round = 0;
    }
}

/// `void iv_task_register(struct iv_task *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_task_register(this: *mut IvTask) {
    const WHAT: &str = "iv_task_register";
    let Some(ptr) = NonNull::new(this) else {
        ivykis::fatal!("{WHAT}: NULL iv_task");
    };
    // SAFETY: the caller passes a valid iv_task.
    let task = unsafe { &mut *this };
    if task.reg.is_registered() {
        ivykis::fatal!("{WHAT}: task is already registered");
    }
    // SAFETY: `run` is sound for this pointer while the task is registered:
    // the program keeps a registered iv_task alive (SPEC 5).
    let callback = unsafe { Callback::raw(run, ptr.cast()) };
    let last_round = task.last_round;
    task.reg = engine::with(WHAT, |l: &mut Loop| {
        let key = l.tasks.register(callback, last_round);
        Registration::new(l, key)
    });
}

/// `void iv_task_unregister(struct iv_task *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_task_unregister(this: *mut IvTask) {
    const WHAT: &str = "iv_task_unregister";
    // SAFETY: the caller passes a valid iv_task.
    let task = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL iv_task"));
    let reg = task.reg;
    engine::with(WHAT, |l| {
        let key = reg.key_in(l, WHAT);
        l.tasks.unregister(key);
    });
    task.reg = Registration::NONE;
}

/// `int iv_task_registered(const struct iv_task *)`: one field read.
#[no_mangle]
pub unsafe extern "C" fn iv_task_registered(this: *const IvTask) -> c_int {
    // SAFETY: the caller passes a valid iv_task.
    c_int::from(unsafe { (*this).reg.is_registered() })
}
