//! `struct iv_fd_pump` (SPEC 8): moving data between two descriptors the
//! caller owns and watches.
//!
//! `IV_FD_PUMP_INIT` is an empty inline function in the header, so the
//! private fields hold garbage until `iv_fd_pump_init`, which sets all of
//! them. `buf` then points at the engine's pump state (one allocation per
//! pump, freed by `iv_fd_pump_destroy`); `bytes`, `full` and `saw_fin`
//! mirror that state after every call (bytes in transit; the splice pipe
//! refused input; 0 running, 1 end of input seen, 2 done), for debuggers
//! and for `iv_fd_pump_is_done`, which reads `saw_fin` only.
//!
//! `->set_bands` is called as ivykis calls it: `(1, 0)` at init; after
//! every call of `iv_fd_pump_pump` that returns 1 the bands it wants, after
//! one that returns 0 `(0, 0)`, after an error nothing; at destroy `(0, 0)`
//! unless the pump was done. It is always the last thing a call does, so it
//! may destroy (and free) the pump. A NULL `set_bands` is not called.

use std::ffi::{c_int, c_uint, c_void};
use std::ptr;

use ivykis::engine::pump::{Options, Pump, Step};

use crate::fd::set_errno;

/// `void (*set_bands)(void *cookie, int pollin, int pollout)`.
pub type SetBands = Option<unsafe extern "C" fn(*mut c_void, c_int, c_int)>;

/// `IV_FD_PUMP_FLAG_RELAY_EOF`.
const FLAG_RELAY_EOF: c_uint = 1;

/// `struct iv_fd_pump`: 56 bytes, public fields first.
#[repr(C)]
pub struct IvFdPump {
    pub from_fd: c_int,
    pub to_fd: c_int,
    pub cookie: *mut c_void,
    pub set_bands: SetBands,
    pub flags: c_uint,
    /// `Box<Pump>` from `iv_fd_pump_init`; NULL when not initialised.
    buf: *mut Pump,
    bytes: c_int,
    full: c_int,
    saw_fin: c_int,
}

const _: () = assert!(std::mem::size_of::<IvFdPump>() == 56);
const _: () = assert!(std::mem::offset_of!(IvFdPump, buf) == 32);
const _: () = assert!(std::mem::offset_of!(IvFdPump, saw_fin) == 48);

const SAW_FIN_RUNNING: c_int = 0;
const SAW_FIN_EOF: c_int = 1;
const SAW_FIN_DONE: c_int = 2;

impl IvFdPump {
    /// Copies the engine's state into the visible private fields.
    fn mirror(&mut self, pump: &Pump) {
        self.bytes = c_int::try_from(pump.held()).unwrap_or(c_int::MAX);
        self.full = c_int::from(pump.is_full());
        self.saw_fin = if pump.is_done() {
            SAW_FIN_DONE
        } else if pump.saw_eof() {
            SAW_FIN_EOF
        } else {
            SAW_FIN_RUNNING
        };
    }
}

/// Calls `set_bands(cookie, pollin, pollout)`, if there is one.
///
/// # Safety
///
/// `set_bands` is the program's callback, called with its own cookie. The
/// callers copy both out of the struct first and touch the struct no more
/// afterwards, so the callback may destroy or free it.
unsafe fn call_set_bands(set_bands: SetBands, cookie: *mut c_void, pollin: bool, pollout: bool) {
    if let Some(f) = set_bands {
        // SAFETY: see the function's contract.
        unsafe { f(cookie, c_int::from(pollin), c_int::from(pollout)) }
    }
}

/// The caller's struct, or fatal for NULL.
///
/// # Safety
///
/// `this` is NULL or points at a `struct iv_fd_pump` the caller owns.
unsafe fn deref<'a>(this: *mut IvFdPump, what: &str) -> &'a mut IvFdPump {
    // SAFETY: see the function's contract.
    match unsafe { this.as_mut() } {
        Some(p) => p,
        None => ivykis::fatal!("{what}: NULL iv_fd_pump"),
    }
}

/// `void iv_fd_pump_init(struct iv_fd_pump *)`: reads `->flags`, sets up
/// the private fields and calls `set_bands(cookie, 1, 0)`. Opens nothing:
/// the splice pipe (or the buffer) comes with the first pump call.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_init(this: *mut IvFdPump) {
    // SAFETY: the caller passes its iv_fd_pump (IV_FD_PUMP_INIT'ed and
    // filled in); only the private fields are written before they are read.
    let this = unsafe { deref(this, "iv_fd_pump_init") };
    let pump = Pump::new(Options {
        relay_eof: this.flags & FLAG_RELAY_EOF != 0,
        splice: true,
    });
    this.mirror(&pump);
    this.buf = Box::into_raw(Box::new(pump));
    let (set_bands, cookie) = (this.set_bands, this.cookie);
    // SAFETY: last use of `this`; see call_set_bands.
    unsafe { call_set_bands(set_bands, cookie, true, false) }
}

/// `void iv_fd_pump_destroy(struct iv_fd_pump *)`: allowed at any time;
/// data in transit is discarded. The descriptors are the caller's and stay
/// open.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_destroy(this: *mut IvFdPump) {
    const WHAT: &str = "iv_fd_pump_destroy";
    // SAFETY: the caller passes its iv_fd_pump.
    let this = unsafe { deref(this, WHAT) };
    if this.buf.is_null() {
        ivykis::fatal!("{WHAT}: the pump is not initialised (or was destroyed already)");
    }
    // SAFETY: a non-NULL `buf` is the Box that iv_fd_pump_init leaked for
    // this struct, not freed yet (destroy resets it to NULL).
    let pump = unsafe { Box::from_raw(this.buf) };
    this.buf = ptr::null_mut();
    let done = pump.is_done();
    // Closes the splice pipe, frees the buffer.
    drop(pump);
    if !done {
        let (set_bands, cookie) = (this.set_bands, this.cookie);
        // SAFETY: last use of `this`; see call_set_bands.
        unsafe { call_set_bands(set_bands, cookie, false, false) }
    }
}

/// `int iv_fd_pump_pump(struct iv_fd_pump *)`: -1 with errno on error, 0
/// when input ended and everything was written (and, with
/// `IV_FD_PUMP_FLAG_RELAY_EOF`, `shutdown(to_fd, SHUT_WR)` was done), 1
/// while there is more to do. Errors stick: a later call returns -1 with
/// the same errno.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_pump(this: *mut IvFdPump) -> c_int {
    const WHAT: &str = "iv_fd_pump_pump";
    // SAFETY: the caller passes its iv_fd_pump.
    let this = unsafe { deref(this, WHAT) };
    if this.buf.is_null() {
        ivykis::fatal!("{WHAT}: the pump is not initialised (or was destroyed)");
    }
    // SAFETY: `buf` is the live Box of this struct (see destroy). The
    // reference ends before set_bands runs, so a set_bands that destroys
    // the pump frees nothing that is still borrowed.
    let pump = unsafe { &mut *this.buf };
    let result = pump.pump(this.from_fd, this.to_fd);
    this.mirror(pump);
    let (set_bands, cookie) = (this.set_bands, this.cookie);
    match result {
        Ok(Step::More { read, write }) => {
            // SAFETY: last use of `this`; see call_set_bands.
            unsafe { call_set_bands(set_bands, cookie, read, write) };
            1
        }
        Ok(Step::Done) => {
            // SAFETY: as above.
            unsafe { call_set_bands(set_bands, cookie, false, false) };
            0
        }
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            -1
        }
    }
}

/// `int iv_fd_pump_is_done(const struct iv_fd_pump *)`: whether
/// `iv_fd_pump_pump` returned 0.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_pump_is_done(this: *const IvFdPump) -> c_int {
    // SAFETY: the caller passes its iv_fd_pump; `saw_fin` is set by init.
    match unsafe { this.as_ref() } {
        Some(p) => c_int::from(p.saw_fin == SAW_FIN_DONE),
        None => ivykis::fatal!("iv_fd_pump_is_done: NULL iv_fd_pump"),
    }
}
