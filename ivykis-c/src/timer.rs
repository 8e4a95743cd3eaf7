//! `struct iv_timer` (SPEC 4).

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

use ivykis::engine::time::Timespec;
use ivykis::engine::timer::ExternClass;
use ivykis::engine::{self, Loop};

use crate::fd::Handler;
use crate::registration::Registration;

/// `struct iv_timer`: 64 bytes; `expires`, `cookie` @16, `handler` @24.
/// The private space holds the registration (key [`Registration::EXTERN`]
/// while registered, and the loop) and the engine's heap position word:
/// the engine keeps the timer intrusively ([`ExternClass`]), so that
/// unregistering goes from this struct straight to its heap slot.
#[repr(C)]
pub struct IvTimer {
    pub expires: Timespec,
    pub cookie: *mut c_void,
    pub handler: Handler,
    reg: Registration,
    heap_pos: u32,
    _pad: [u32; 3],
}

static CLASS: ExternClass = ExternClass {
    fire,
    pos_offset: std::mem::offset_of!(IvTimer, heap_pos),
};

const _: () = assert!(std::mem::size_of::<IvTimer>() == 64);

/// The engine has already unregistered the timer; mark the struct so before
/// the handler runs, so that the handler may register it again (or free it).
unsafe fn fire(data: NonNull<c_void>, (): ()) {
    let this = data.cast::<IvTimer>().as_ptr();
    // SAFETY: the engine calls right after removing the registration, with no
    // other code in between, so the program has not freed the struct yet.
    let (handler, cookie) = unsafe {
        (*this).reg = Registration::NONE;
        ((*this).handler, (*this).cookie)
    };
    if let Some(h) = handler {
        // SAFETY: the program's handler with its cookie.
        unsafe { h(cookie) }
    }
}

/// `void IV_TIMER_INIT(struct iv_timer *)`.
#[no_mangle]
pub unsafe extern "C" fn IV_TIMER_INIT(this: *mut IvTimer) {
    // SAFETY: the caller passes a writable iv_timer.
    unsafe { (*this).reg = Registration::NONE };
}

/// `void iv_timer_register(struct iv_timer *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_timer_register(this: *mut IvTimer) {
    const WHAT: &str = "iv_timer_register";
    let Some(ptr) = NonNull::new(this) else {
        ivykis::fatal!("{WHAT}: NULL iv_timer");
    };
    // SAFETY: the caller passes a valid iv_timer.
    let timer = unsafe { &mut *this };
    if timer.reg.is_registered() {
        ivykis::fatal!("{WHAT}: timer is already registered");
    }
    let expires = Timespec::new(timer.expires.sec, timer.expires.nsec);
    timer.reg = engine::with(WHAT, |l: &mut Loop| {
        // SAFETY: the program keeps a registered iv_timer alive and leaves
        // its private space alone (SPEC 4), so `fire` is sound and the
        // engine may write `heap_pos` until the timer fires or is
        // unregistered; it was not registered (checked above).
        unsafe { l.timers.register_extern(expires, ptr.cast(), &CLASS) };
        Registration::extern_in(l)
    });
}

/// `void iv_timer_unregister(struct iv_timer *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_timer_unregister(this: *mut IvTimer) {
    const WHAT: &str = "iv_timer_unregister";
    // SAFETY: the caller passes a valid iv_timer.
    let timer = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL iv_timer"));
    let reg = timer.reg;
    let ptr = NonNull::from(&mut *timer).cast();
    engine::with(WHAT, |l| {
        reg.key_in(l, WHAT);
        // SAFETY: `heap_pos` is a field of the live struct.
        if !unsafe { l.timers.unregister_extern(ptr, &CLASS) } {
            ivykis::fatal!(
                "{WHAT}: timer is not registered (its private fields were overwritten?)"
            );
        }
    });
    timer.reg = Registration::NONE;
}

/// `int iv_timer_registered(const struct iv_timer *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_timer_registered(this: *const IvTimer) -> c_int {
    // SAFETY: the caller passes a valid iv_timer.
    c_int::from(unsafe { (*this).reg.is_registered() })
}
