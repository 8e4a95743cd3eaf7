//! `struct iv_event_raw` (SPEC 6): an event posted through a descriptor of
//! its own, so posting is async-signal-safe and works from a forked child.
//!
//! The engine opens the descriptor (`engine::event_raw::RawEvent`: an
//! eventfd, or a pipe), posts to it and drains it. This face keeps the
//! descriptor numbers in the caller's struct (the embedded `iv_fd`'s `fd`
//! is the read end, `event_wfd` the write end, equal for an eventfd) and
//! registers the embedded `iv_fd` through the C face's own fd functions,
//! with an internal input handler that drains the descriptor and then calls
//! the program's handler. Draining first means a post made while the
//! handler runs gives another call afterwards; posts made before it are
//! coalesced into one call.
//!
//! Across `fork`, the child shares the descriptor: its posts wake the
//! parent's handler (the man page's "from a different process").

use std::ffi::{c_int, c_void};
use std::ptr::addr_of_mut;

use ivykis::engine::event_raw::{drain_fd, post_fd, RawEvent};

use crate::fd::{
    iv_fd_register_try, iv_fd_registered, iv_fd_unregister, Handler, IvFd, IV_FD_INIT,
};

/// `struct iv_event_raw`: 152 bytes, public fields first.
#[repr(C)]
pub struct IvEventRaw {
    pub cookie: *mut c_void,
    pub handler: Handler,
    /// The embedded iv_fd: private to the library (`iv_signal` uses it too).
    pub(crate) event_rfd: IvFd,
    event_wfd: c_int,
}

const _: () = assert!(std::mem::size_of::<IvEventRaw>() == 152);
const _: () = assert!(std::mem::offset_of!(IvEventRaw, event_rfd) == 16);
const _: () = assert!(std::mem::offset_of!(IvEventRaw, event_wfd) == 144);

fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = value };
}

/// The embedded iv_fd's input handler; `cookie` is the iv_event_raw.
unsafe extern "C" fn on_readable(cookie: *mut c_void) {
    let this = cookie.cast::<IvEventRaw>();
    // SAFETY: the iv_fd is registered, so its iv_event_raw is registered and
    // alive (the program unregisters before freeing it). The fields are
    // copied out before the call, so the handler may unregister and free it.
    let (handler, cookie) = unsafe {
        drain_fd((*this).event_rfd.fd);
        ((*this).handler, (*this).cookie)
    };
    if let Some(handler) = handler {
        // SAFETY: the program's handler, called with its cookie.
        unsafe { handler(cookie) };
    }
}

/// `int iv_event_raw_register(struct iv_event_raw *)`: 0, or -1 with errno
/// set when no descriptor can be opened (EMFILE...) or watched; nothing
/// stays registered then.
#[no_mangle]
pub unsafe extern "C" fn iv_event_raw_register(this: *mut IvEventRaw) -> c_int {
    const WHAT: &str = "iv_event_raw_register";
    if this.is_null() {
        ivykis::fatal!("{WHAT}: NULL iv_event_raw");
    }
    if !ivykis::engine::inited() {
        ivykis::fatal!("{WHAT}: called in a thread without iv_init");
    }
    let event = match RawEvent::open() {
        Ok(event) => event,
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EMFILE));
            return -1;
        }
    };
    // SAFETY: the caller passes a valid, writable iv_event_raw
    // (IV_EVENT_RAW_INIT prepares nothing, so every private field is set
    // here before use). The embedded iv_fd is registered with the struct's
    // address as its cookie; the program keeps the struct alive and in place
    // while it is registered.
    unsafe {
        let fd = addr_of_mut!((*this).event_rfd);
        IV_FD_INIT(fd);
        let (read, write) = event.into_raw_fds();
        (*fd).fd = read;
        (*fd).cookie = this.cast();
        (*fd).handler_in = Some(on_readable);
        (*this).event_wfd = write;
        if iv_fd_register_try(fd) != 0 {
            let saved = *libc::__errno_location();
            drop(RawEvent::from_raw_fds(read, write));
            (*fd).fd = -1;
            (*this).event_wfd = -1;
            set_errno(saved);
            return -1;
        }
    }
    0
}

/// `void iv_event_raw_unregister(struct iv_event_raw *)`: closes the
/// descriptor(s). Fatal if the object is not registered.
#[no_mangle]
pub unsafe extern "C" fn iv_event_raw_unregister(this: *mut IvEventRaw) {
    const WHAT: &str = "iv_event_raw_unregister";
    if this.is_null() {
        ivykis::fatal!("{WHAT}: NULL iv_event_raw");
    }
    // SAFETY: the caller passes a valid iv_event_raw; a registered one holds
    // an open descriptor pair that this face gave out and nobody else closes.
    unsafe {
        let fd = addr_of_mut!((*this).event_rfd);
        if iv_fd_registered(fd) == 0 {
            ivykis::fatal!("{WHAT}: object is not registered");
        }
        iv_fd_unregister(fd);
        drop(RawEvent::from_raw_fds((*fd).fd, (*this).event_wfd));
        // A post after unregistering then writes to no descriptor at all,
        // rather than to whatever reuses the number.
        (*fd).fd = -1;
        (*this).event_wfd = -1;
    }
}

/// `void iv_event_raw_post(const struct iv_event_raw *)`: one `write`;
/// async-signal-safe, errno preserved, callable from any thread and from a
/// forked child.
#[no_mangle]
pub unsafe extern "C" fn iv_event_raw_post(this: *const IvEventRaw) {
    // SAFETY: the caller passes a registered iv_event_raw; only the
    // descriptor number is read.
    let fd = unsafe { (*this).event_wfd };
    post_fd(fd);
}
