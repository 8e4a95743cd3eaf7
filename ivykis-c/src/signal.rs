//! `struct iv_signal` (SPEC 6): POSIX signals as callbacks in the
//! registering thread.
//!
//! The engine (`engine::signal::Signal`) holds the process-wide table, the
//! signal handler and each object's raw event; see its documentation for
//! who gets a signal, exclusivity, threads and fork. This face boxes the
//! engine object and keeps the pointer, with the id of the registering
//! loop, in the struct's private space (the `an` node, which this library
//! does not need as a tree node). The embedded `iv_event_raw`'s `iv_fd`
//! watches the engine object's descriptor, registered through the C face's
//! own fd functions; its input handler asks the engine whether a signal
//! arrived since the last call ([`Signal::take`]) and, if so, calls the
//! program's handler.
//!
//! `IV_SIGNAL_INIT` prepares nothing, so a struct that was never registered
//! holds whatever its memory held. Unregistering one that was (the pointer
//! is cleared then) or a zeroed one is caught and fatal; garbage cannot be
//! told from a registration.

use std::ffi::{c_int, c_uint, c_void};
use std::os::fd::{AsFd, AsRawFd};
use std::ptr::{addr_of_mut, null_mut};

use ivykis::engine::{self, signal::Signal};

use crate::event_raw::IvEventRaw;
use crate::fd::{iv_fd_register_try, iv_fd_unregister, Handler, IvFd, IV_FD_INIT};

/// What this face keeps in `struct iv_signal`'s `an` (32 bytes).
#[repr(C)]
struct Private {
    /// From `Box::into_raw`; null when not registered.
    signal: *mut Signal,
    /// The loop it was registered in.
    loop_id: u64,
    _unused: [*mut c_void; 2],
}

/// `struct iv_signal`: 216 bytes, public fields first.
#[repr(C)]
pub struct IvSignal {
    pub signum: c_int,
    pub flags: c_uint,
    pub cookie: *mut c_void,
    pub handler: Handler,
    private: Private,
    active: u8,
    ev: IvEventRaw,
}

const _: () = assert!(std::mem::size_of::<IvSignal>() == 216);
const _: () = assert!(std::mem::offset_of!(IvSignal, private) == 24);
const _: () = assert!(std::mem::offset_of!(IvSignal, active) == 56);
const _: () = assert!(std::mem::offset_of!(IvSignal, ev) == 64);

/// The iv_fd embedded in the struct's iv_event_raw.
fn embedded_fd(this: *mut IvSignal) -> *mut IvFd {
    // SAFETY: only address computation inside the caller's struct; nothing
    // is read.
    unsafe { addr_of_mut!((*this).ev.event_rfd) }
}

fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = value };
}

/// The embedded iv_fd's input handler; `cookie` is the iv_signal.
unsafe extern "C" fn on_readable(cookie: *mut c_void) {
    let this = cookie.cast::<IvSignal>();
    // SAFETY: the iv_fd is registered, so the iv_signal is registered and
    // alive, and `private.signal` is the engine object boxed at register
    // time. The fields are copied out before the call, so the handler may
    // unregister and free the struct.
    let (handler, cookie) = unsafe {
        if !(*(*this).private.signal).take() {
            return;
        }
        ((*this).handler, (*this).cookie)
    };
    if let Some(handler) = handler {
        // SAFETY: the program's handler, called with its cookie.
        unsafe { handler(cookie) };
    }
}

/// `int iv_signal_register(struct iv_signal *)`: 0; or -1 with errno set for
/// a signal number out of range or uncatchable (EINVAL) or when no
/// descriptor is left (EMFILE). Nothing stays registered on failure.
#[no_mangle]
pub unsafe extern "C" fn iv_signal_register(this: *mut IvSignal) -> c_int {
    const WHAT: &str = "iv_signal_register";
    if this.is_null() {
        ivykis::fatal!("{WHAT}: NULL iv_signal");
    }
    let Some(loop_id) = engine::current_id() else {
        ivykis::fatal!("{WHAT}: called in a thread without iv_init");
    };
    // SAFETY: the caller passes a valid iv_signal with its public fields set.
    let (signum, flags) = unsafe { ((*this).signum, (*this).flags) };
    let signal = match Signal::register(signum, flags) {
        Ok(signal) => Box::new(signal),
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EINVAL));
            return -1;
        }
    };
    let fd = embedded_fd(this);
    // SAFETY: the struct is valid and writable; every private field used
    // later is set here (IV_SIGNAL_INIT sets none). The embedded iv_fd gets
    // the struct's address as cookie; the program keeps the struct alive and
    // in place while it is registered.
    unsafe {
        IV_FD_INIT(fd);
        (*fd).fd = signal.as_fd().as_raw_fd();
        (*fd).cookie = this.cast();
        (*fd).handler_in = Some(on_readable);
        if iv_fd_register_try(fd) != 0 {
            let saved = *libc::__errno_location();
            drop(signal);
            set_errno(saved);
            return -1;
        }
        (*this).private = Private {
            signal: Box::into_raw(signal),
            loop_id,
            _unused: [null_mut(); 2],
        };
        (*this).active = 0;
    }
    0
}

/// `void iv_signal_unregister(struct iv_signal *)`: from the registering
/// thread, also from the object's own handler. A pending exclusive signal
/// passes to the next object; after a signal's last object its disposition
/// is back to SIG_DFL. Fatal if the object is not registered.
#[no_mangle]
pub unsafe extern "C" fn iv_signal_unregister(this: *mut IvSignal) {
    const WHAT: &str = "iv_signal_unregister";
    if this.is_null() {
        ivykis::fatal!("{WHAT}: NULL iv_signal");
    }
    // SAFETY: the caller passes a valid iv_signal.
    let private = unsafe { &mut (*this).private };
    if private.signal.is_null() {
        // SAFETY: as above.
        let signum = unsafe { (*this).signum };
        ivykis::fatal!("{WHAT}: iv_signal for signal {signum} is not registered");
    }
    if engine::current_id() != Some(private.loop_id) {
        ivykis::fatal!("{WHAT}: iv_signal is registered in another thread's loop");
    }
    // SAFETY: the embedded iv_fd was registered with this object; the
    // pointer came from `Box::into_raw` in `iv_signal_register` and is
    // cleared here, so it is taken back exactly once.
    let signal = unsafe {
        iv_fd_unregister(embedded_fd(this));
        Box::from_raw(std::mem::replace(&mut private.signal, null_mut()))
    };
    // Leaves the table (handing a pending exclusive signal on), then closes
    // the descriptor, which the loop no longer watches.
    drop(signal);
}
