//! `struct iv_tls_user` (SPEC 7): per-thread state for code built on
//! ivykis. The engine (`ivykis::engine::tls`) keeps the registrations and
//! the per-thread blocks; this module checks arguments and calls the
//! program's hooks. `state_offset`, private to the library, holds the
//! engine's slot for the user.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;

use ivykis::engine::tls::{self, RegisterError};

use crate::fd::Handler;

/// `struct iv_tls_user`: 48 bytes; `sizeof_state`, `init_thread`,
/// `deinit_thread`, then an `iv_list_head` (unused here) and
/// `state_offset`.
#[repr(C)]
pub struct IvTlsUser {
    pub sizeof_state: usize,
    pub init_thread: Handler,
    pub deinit_thread: Handler,
    list: [*mut c_void; 2],
    state_offset: c_int,
}

const _: () = assert!(std::mem::size_of::<IvTlsUser>() == 48);

/// Calls `init_thread`, read from the struct at call time (NULL: nothing).
unsafe fn call_init(user: NonNull<c_void>, state: NonNull<u8>) {
    // SAFETY: a registered iv_tls_user lives for the rest of the process
    // (the registration cannot be undone).
    let hook = unsafe { (*user.cast::<IvTlsUser>().as_ptr()).init_thread };
    if let Some(h) = hook {
        // SAFETY: the program's hook with this thread's area for it.
        unsafe { h(state.as_ptr().cast()) }
    }
}

/// Calls `deinit_thread`, as [`call_init`] does `init_thread`.
unsafe fn call_deinit(user: NonNull<c_void>, state: NonNull<u8>) {
    // SAFETY: as in `call_init`.
    let hook = unsafe { (*user.cast::<IvTlsUser>().as_ptr()).deinit_thread };
    if let Some(h) = hook {
        // SAFETY: the program's hook with this thread's area for it.
        unsafe { h(state.as_ptr().cast()) }
    }
}

/// `void iv_tls_user_register(struct iv_tls_user *)`: before the first
/// `iv_init` of the process only.
#[no_mangle]
pub unsafe extern "C" fn iv_tls_user_register(this: *mut IvTlsUser) {
    const WHAT: &str = "iv_tls_user_register";
    let Some(ptr) = NonNull::new(this) else {
        ivykis::fatal!("{WHAT}: NULL iv_tls_user");
    };
    // SAFETY: the caller passes a valid iv_tls_user.
    let user = unsafe { &mut *this };
    // SAFETY: the program keeps a registered iv_tls_user alive for good (it
    // cannot be unregistered), and the hooks read it and pass the area on
    // to the program's own callbacks, which may run in any ivykis thread.
    let slot = unsafe { tls::register(ptr.cast(), user.sizeof_state, call_init, call_deinit) };
    let slot = match slot {
        Ok(slot) => slot,
        Err(RegisterError::AfterInit) => ivykis::fatal!("{WHAT}: called after iv_init"),
        Err(RegisterError::AlreadyRegistered) => {
            ivykis::fatal!("{WHAT}: iv_tls_user is already registered")
        }
        Err(RegisterError::TooLarge) => {
            ivykis::fatal!("{WHAT}: sizeof_state {} is too large", user.sizeof_state)
        }
    };
    user.state_offset =
        c_int::try_from(slot).unwrap_or_else(|_| ivykis::fatal!("{WHAT}: too many iv_tls_users"));
}

/// `void *iv_tls_user_ptr(const struct iv_tls_user *)`: this thread's area
/// for the user, NULL in a thread without a loop.
#[no_mangle]
pub unsafe extern "C" fn iv_tls_user_ptr(this: *const IvTlsUser) -> *mut c_void {
    const WHAT: &str = "iv_tls_user_ptr";
    let Some(ptr) = NonNull::new(this.cast_mut()) else {
        ivykis::fatal!("{WHAT}: NULL iv_tls_user");
    };
    // SAFETY: the caller passes a valid iv_tls_user.
    let offset = unsafe { (*this).state_offset };
    // A negative value cannot be a slot; usize::MAX finds nothing.
    let slot = usize::try_from(offset).unwrap_or(usize::MAX);
    match tls::state(slot, ptr.cast()) {
        Ok(Some(area)) => area.as_ptr().cast(),
        Ok(None) => std::ptr::null_mut(),
        Err(_) => ivykis::fatal!("{WHAT}: iv_tls_user is not registered"),
    }
}
