//! `struct iv_fd` (SPEC 2).

use std::ffi::{c_int, c_void};
use std::io;
use std::ptr::NonNull;

use ivykis::engine::callback::Callback;
use ivykis::engine::fd::Registration as Mode;
use ivykis::engine::{self, Loop};
use ivykis::sys::Bands;

use crate::registration::Registration;

/// A C handler: `void (*)(void *cookie)`.
pub type Handler = Option<unsafe extern "C" fn(*mut c_void)>;

/// `struct iv_fd`: 128 bytes, public fields first.
#[repr(C)]
pub struct IvFd {
    pub fd: c_int,
    pub cookie: *mut c_void,
    pub handler_in: Handler,
    pub handler_out: Handler,
    pub handler_err: Handler,
    reg: Registration,
    _pad: [*mut c_void; 9],
}

const _: () = assert!(std::mem::size_of::<IvFd>() == 128);

impl IvFd {
    fn wanted(&self) -> Bands {
        Bands::when(self.handler_err.is_some(), Bands::ERR)
            .with(Bands::when(self.handler_in.is_some(), Bands::IN))
            .with(Bands::when(self.handler_out.is_some(), Bands::OUT))
    }
}

/// The engine calls this for each ready band; the handler is read now, so a
/// change made by an earlier callback of the same iteration counts.
unsafe fn dispatch(data: NonNull<c_void>, band: Bands) {
    let this = data.cast::<IvFd>().as_ptr();
    // SAFETY: the engine calls only while the registration exists, and the
    // caller keeps a registered iv_fd alive (SPEC 2); we copy the fields out
    // before calling, so the handler may free the struct.
    let (handler, cookie) = unsafe {
        let handler = if band == Bands::ERR {
            (*this).handler_err
        } else if band == Bands::IN {
            (*this).handler_in
        } else {
            (*this).handler_out
        };
        (handler, (*this).cookie)
    };
    if let Some(h) = handler {
        // SAFETY: a handler the program installed, called with its cookie.
        unsafe { h(cookie) }
    }
}

/// `void IV_FD_INIT(struct iv_fd *)`.
#[no_mangle]
pub unsafe extern "C" fn IV_FD_INIT(this: *mut IvFd) {
    // SAFETY: the caller passes a writable iv_fd (the contract of IV_FD_INIT).
    let this = unsafe { &mut *this };
    this.fd = -1;
    this.handler_in = None;
    this.handler_out = None;
    this.handler_err = None;
    this.reg = Registration::NONE;
}

/// Non-blocking, close-on-exec, and SO_OOBINLINE for sockets (SPEC 2), in
/// three system calls: the two ioctls set the flags without reading them
/// first (fcntl would need a get and a set for each).
fn prepare_descriptor(fd: c_int) -> io::Result<()> {
    let one: c_int = 1;
    // SAFETY: ioctl/setsockopt on an integer descriptor; the only memory
    // passed is `one`, which outlives the calls.
    unsafe {
        if libc::ioctl(fd, libc::FIONBIO, &one) == -1 {
            return Err(io::Error::last_os_error());
        }
        libc::ioctl(fd, libc::FIOCLEX);
        // Fails with ENOTSOCK on non-sockets; that is expected and ignored.
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_OOBINLINE,
            (&one as *const c_int).cast(),
            std::mem::size_of::<c_int>() as libc::socklen_t,
        );
    }
    Ok(())
}

fn register(this: *mut IvFd, mode: Mode, what: &str) -> io::Result<()> {
    let Some(ptr) = NonNull::new(this) else {
        ivykis::fatal!("{what}: NULL iv_fd");
    };
    // SAFETY: the caller passes a valid iv_fd (initialised by IV_FD_INIT).
    let fd_ref = unsafe { &mut *this };
    if !engine::inited() {
        ivykis::fatal!("{what}: called in a thread without iv_init");
    }
    if fd_ref.reg.is_registered() {
        ivykis::fatal!("{what}: fd {} is already registered", fd_ref.fd);
    }
    if fd_ref.fd < 0 {
        ivykis::fatal!("{what}: invalid fd {}", fd_ref.fd);
    }
    prepare_descriptor(fd_ref.fd)?;
    // SAFETY: `dispatch` is sound for this pointer while it is registered:
    // the program keeps a registered iv_fd alive and unregisters it before
    // freeing it (SPEC 2, PITFALLS "the C faces' memory is the caller's").
    let callback = unsafe { Callback::raw(dispatch, ptr.cast()) };
    let (fd, want) = (fd_ref.fd, fd_ref.wanted());
    let reg = engine::with(what, |l: &mut Loop| {
        let key = l.fds.register(&mut *l.poller, fd, want, callback, mode)?;
        Ok::<_, io::Error>(Registration::new(l, key))
    })?;
    fd_ref.reg = reg;
    Ok(())
}

/// `void iv_fd_register(struct iv_fd *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_register(this: *mut IvFd) {
    if let Err(e) = register(this, Mode::Lazy, "iv_fd_register") {
        ivykis::fatal!("iv_fd_register: cannot register fd: {e}");
    }
}

/// `int iv_fd_register_try(struct iv_fd *)`: 0, or -1 with errno set when
/// the descriptor is not open (EBADF) or the kernel refuses to poll it.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_register_try(this: *mut IvFd) -> c_int {
    match register(this, Mode::Immediate, "iv_fd_register_try") {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EINVAL));
            -1
        }
    }
}

pub(crate) fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = value };
}

/// `void iv_fd_unregister(struct iv_fd *)`. The descriptor may already be
/// closed.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_unregister(this: *mut IvFd) {
    const WHAT: &str = "iv_fd_unregister";
    // SAFETY: the caller passes a valid iv_fd.
    let this = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL iv_fd"));
    let reg = this.reg;
    engine::with(WHAT, |l| {
        let key = reg.key_in(l, WHAT);
        l.fds.unregister(&mut *l.poller, key);
    });
    this.reg = Registration::NONE;
}

/// `int iv_fd_registered(const struct iv_fd *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_registered(this: *const IvFd) -> c_int {
    // SAFETY: the caller passes a valid iv_fd.
    c_int::from(unsafe { (*this).reg.is_registered() })
}

fn set_handler(this: *mut IvFd, what: &str, store: impl FnOnce(&mut IvFd)) {
    // SAFETY: the caller passes a valid iv_fd.
    let this = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{what}: NULL iv_fd"));
    if !this.reg.is_registered() {
        ivykis::fatal!("{what}: fd {} is not registered", this.fd);
    }
    store(this);
    let (reg, want) = (this.reg, this.wanted());
    engine::with(what, |l| {
        let key = reg.key_in(l, what);
        l.fds.set_want(key, want);
    });
}

/// `void iv_fd_set_handler_in(struct iv_fd *, void (*)(void *))`: no system
/// call; the kernel hears the net change before the next wait.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_set_handler_in(this: *mut IvFd, handler: Handler) {
    set_handler(this, "iv_fd_set_handler_in", |f| f.handler_in = handler);
}

/// `void iv_fd_set_handler_out(struct iv_fd *, void (*)(void *))`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_set_handler_out(this: *mut IvFd, handler: Handler) {
    set_handler(this, "iv_fd_set_handler_out", |f| f.handler_out = handler);
}

/// `void iv_fd_set_handler_err(struct iv_fd *, void (*)(void *))`.
#[no_mangle]
pub unsafe extern "C" fn iv_fd_set_handler_err(this: *mut IvFd, handler: Handler) {
    set_handler(this, "iv_fd_set_handler_err", |f| f.handler_err = handler);
}
