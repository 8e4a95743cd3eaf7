//! `struct iv_popen_request` (SPEC 8): `popen` on the loop.
//!
//! `IV_POPEN_REQUEST_INIT` is an empty inline function; `submit` sets the
//! private `child` pointer (a leaked engine `Child`), `close` takes it back.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::fd::IntoRawFd;

use ivykis::engine::popen::{self, Child, Direction};

/// `struct iv_popen_request`: 32 bytes.
#[repr(C)]
pub struct IvPopenRequest {
    pub file: *mut c_char,
    pub argv: *mut *mut c_char,
    pub type_: *mut c_char,
    child: *mut c_void,
}

const _: () = assert!(std::mem::size_of::<IvPopenRequest>() == 32);

/// `int iv_popen_request_submit(struct iv_popen_request *)`: the parent's
/// end of the pipe (non-blocking, close-on-exec), or -1 with errno set.
/// A `type` other than "r" or "w" gives EINVAL.
#[no_mangle]
pub unsafe extern "C" fn iv_popen_request_submit(this: *mut IvPopenRequest) -> c_int {
    const WHAT: &str = "iv_popen_request_submit";
    // SAFETY: the caller passes a valid request.
    let req = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL request"));
    if !ivykis::engine::inited() {
        ivykis::fatal!("{WHAT}: called in a thread without iv_init");
    }
    if req.file.is_null() || req.argv.is_null() {
        ivykis::fatal!("{WHAT}: NULL file or argv");
    }
    let direction = if req.type_.is_null() {
        None
    } else {
        // SAFETY: a NUL-terminated string set by the program.
        match unsafe { CStr::from_ptr(req.type_) }.to_bytes() {
            b"r" => Some(Direction::Read),
            b"w" => Some(Direction::Write),
            _ => None,
        }
    };
    let Some(direction) = direction else {
        crate::fd::set_errno(libc::EINVAL);
        return -1;
    };
    // SAFETY: `file` and `argv` are the program's C string and
    // NULL-terminated array, as execvp wants them.
    let spawned = unsafe {
        popen::spawn(
            CStr::from_ptr(req.file),
            req.argv as *const *const c_char,
            direction,
            WHAT,
        )
    };
    match spawned {
        Ok((fd, child)) => {
            req.child = Box::into_raw(Box::new(child)).cast();
            fd.into_raw_fd()
        }
        Err(e) => {
            crate::fd::set_errno(e.raw_os_error().unwrap_or(libc::EAGAIN));
            -1
        }
    }
}

/// `void iv_popen_request_close(struct iv_popen_request *)`: stop watching;
/// a child still running is ended in the background (SIGTERM a few times,
/// then SIGKILL) and reaped. The program closes the descriptor itself.
#[no_mangle]
pub unsafe extern "C" fn iv_popen_request_close(this: *mut IvPopenRequest) {
    const WHAT: &str = "iv_popen_request_close";
    // SAFETY: the caller passes a valid request.
    let req = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL request"));
    if req.child.is_null() {
        ivykis::fatal!("{WHAT}: request was not submitted (or already closed)");
    }
    // SAFETY: a non-null `child` is the Box leaked by submit, taken once.
    let child = unsafe { Box::from_raw(req.child.cast::<Child>()) };
    req.child = std::ptr::null_mut();
    child.close();
}
