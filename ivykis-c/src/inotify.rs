//! `struct iv_inotify` and `struct iv_inotify_watch` (SPEC 8).
//!
//! The engine (`ivykis::engine::inotify`) owns the inotify descriptor, the
//! map from watch descriptor to watch, and the batch dispatch with its
//! re-entrancy rules. This face keeps, in the private space of the
//! caller's structs:
//!
//! - `iv_inotify`: the embedded `iv_fd` (registered through the C face's
//!   own fd functions, its input handler being [`on_readable`]), a pointer to
//!   the engine instance (an `Rc` given out with `Rc::into_raw`) and a
//!   marker saying it is registered, in the space of ivykis's `iv_avl_tree`.
//!   `term` is not used and stays NULL.
//! - `iv_inotify_watch`: `wd`, and in the space of ivykis's `iv_avl_node` a
//!   marker (registered, or "was registered and is not any more") and the id
//!   of the instance it was registered in.
//!
//! The map holds pointers to the caller's watches; the program keeps a
//! registered watch alive until it unregisters it, or until its handler got
//! the watch's last event: `IN_IGNORED` (the kernel dropped the watch), or
//! the one event of an `IN_ONESHOT` watch. The library unregisters the watch
//! before that call, so the handler may free it or register it again.
//!
//! Leniency, for programs written against ivykis: unregistering a watch that
//! the library already let go (after its last event, after a failed
//! register, after its instance was unregistered, or a second time) does
//! nothing;
//! only a watch that never went through `iv_inotify_watch_register` is
//! fatal. `iv_inotify_watch_register` on an instance that is not registered
//! returns -1 with `EBADF`, as ivykis's `inotify_add_watch` on its closed
//! descriptor does; a second watch of the same inode in one instance returns
//! -1 with `EEXIST` and leaves the first one intact (ivykis returns -1 but
//! has already replaced the first watch's mask).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{addr_of_mut, NonNull};
use std::rc::Rc;

use ivykis::engine;
use ivykis::engine::inotify::{dispatch, Fate, Instance};

use crate::fd::{
    iv_fd_register_try, iv_fd_registered, iv_fd_unregister, set_errno, IvFd, IV_FD_INIT,
};

type Watches = Instance<NonNull<IvInotifyWatch>>;

/// In `IvInotify::live` while registered.
const INSTANCE_LIVE: u64 = 0x6976_696e_6f74_6921;
/// In `IvInotifyWatch::state` while registered.
const WATCH_REGISTERED: u64 = 0x6976_7761_7463_6831;
/// In `IvInotifyWatch::state` once the library let the watch go.
const WATCH_DETACHED: u64 = 0x6976_7761_7463_6830;

/// `struct iv_inotify`: 152 bytes, all private.
#[repr(C)]
pub struct IvInotify {
    fd: IvFd,
    /// `Rc::into_raw` of the engine instance while registered, else NULL.
    instance: *const Watches,
    /// [`INSTANCE_LIVE`] while registered.
    live: u64,
    term: *mut *mut c_void,
}

const _: () = assert!(std::mem::size_of::<IvInotify>() == 152);
const _: () = assert!(std::mem::offset_of!(IvInotify, instance) == 128);
const _: () = assert!(std::mem::offset_of!(IvInotify, term) == 144);

/// `void (*handler)(void *cookie, struct inotify_event *event)`.
pub type WatchHandler = Option<unsafe extern "C" fn(*mut c_void, *mut libc::inotify_event)>;

/// `struct iv_inotify_watch`: 80 bytes, public fields first.
#[repr(C)]
pub struct IvInotifyWatch {
    pub inotify: *mut IvInotify,
    pub pathname: *const c_char,
    pub mask: u32,
    pub cookie: *mut c_void,
    pub handler: WatchHandler,
    wd: c_int,
    /// [`WATCH_REGISTERED`], [`WATCH_DETACHED`], or garbage.
    state: u64,
    /// `Instance::id` of the instance it was registered in.
    instance_id: u64,
    _pad: [u64; 2],
}

const _: () = assert!(std::mem::size_of::<IvInotifyWatch>() == 80);
const _: () = assert!(std::mem::offset_of!(IvInotifyWatch, handler) == 32);
const _: () = assert!(std::mem::offset_of!(IvInotifyWatch, wd) == 40);
const _: () = assert!(std::mem::offset_of!(IvInotifyWatch, state) == 48);

/// The engine instance of a registered `iv_inotify`, or `None`.
///
/// # Safety
///
/// `this` points to a readable `iv_inotify`; the returned reference is
/// valid until the instance is unregistered (the struct's own `Rc`).
unsafe fn instance_of<'a>(this: *const IvInotify) -> Option<&'a Watches> {
    // SAFETY: readable by the contract; a live marker means `instance`
    // came from Rc::into_raw and has not been released yet.
    unsafe {
        if (*this).live != INSTANCE_LIVE || (*this).instance.is_null() {
            return None;
        }
        Some(&*(*this).instance)
    }
}

/// Fatal unless `instance` belongs to the calling thread's loop.
fn check_thread(instance: &Watches, what: &str) {
    if engine::current_id() != Some(instance.owner()) {
        ivykis::fatal!("{what}: the iv_inotify is registered in another thread's loop");
    }
}

/// The embedded iv_fd's input handler; `cookie` is the `iv_inotify`.
unsafe extern "C" fn on_readable(cookie: *mut c_void) {
    let this = cookie.cast::<IvInotify>();
    // SAFETY: the iv_fd is registered, so its iv_inotify is registered and
    // alive, and `instance` is a live Rc pointer. Taking a reference of our
    // own keeps the instance alive through the batch whatever the handlers
    // do; the struct itself is not touched again (a handler may free it).
    let instance = unsafe {
        let ptr = (*this).instance;
        Rc::increment_strong_count(ptr);
        Rc::from_raw(ptr)
    };
    let result = dispatch(instance, |watch, event, fate| {
        let w = watch.as_ptr();
        // SAFETY: `watch` was in the map just now (or was taken out of it
        // for this IN_IGNORED), so the program keeps it alive (SPEC 8). The
        // fields are copied out before the call, so the handler may free
        // or re-register it.
        let (handler, cookie) = unsafe {
            if fate == Fate::Removed {
                (*w).state = WATCH_DETACHED;
            }
            ((*w).handler, (*w).cookie)
        };
        if let Some(handler) = handler {
            // SAFETY: the program's handler, with its cookie and the
            // kernel's event record, which stays valid during the call.
            unsafe { handler(cookie, event.as_mut_ptr().cast()) };
        }
    });
    if let Err(e) = result {
        ivykis::fatal!("iv_inotify: reading the inotify descriptor failed: {e}");
    }
}

/// `int iv_inotify_register(struct iv_inotify *)`: 0, or -1 with errno set
/// (`EMFILE` at the instance or descriptor limit, or the poller's
/// refusal); nothing stays registered then.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_register(this: *mut IvInotify) -> c_int {
    const WHAT: &str = "iv_inotify_register";
    if this.is_null() {
        ivykis::fatal!("{WHAT}: NULL iv_inotify");
    }
    let Some(loop_id) = engine::current_id() else {
        ivykis::fatal!("{WHAT}: called in a thread without iv_init");
    };
    // SAFETY: the caller passes a valid, writable iv_inotify
    // (IV_INOTIFY_INIT prepares nothing, so every private field is written
    // here before it is relied on). The embedded iv_fd gets the struct's
    // address as cookie; the program keeps the struct alive and in place
    // while it is registered.
    unsafe {
        let fd = addr_of_mut!((*this).fd);
        if (*this).live == INSTANCE_LIVE && iv_fd_registered(fd) != 0 {
            ivykis::fatal!("{WHAT}: the iv_inotify is already registered");
        }
        (*this).live = 0;
        (*this).instance = std::ptr::null();
        (*this).term = std::ptr::null_mut();
        let instance = match Watches::open(loop_id) {
            Ok(instance) => instance,
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::EMFILE));
                return -1;
            }
        };
        IV_FD_INIT(fd);
        (*fd).fd = instance.raw_fd();
        (*fd).cookie = this.cast();
        (*fd).handler_in = Some(on_readable);
        if iv_fd_register_try(fd) != 0 {
            let saved = *libc::__errno_location();
            (*fd).fd = -1;
            drop(instance);
            set_errno(saved);
            return -1;
        }
        (*this).instance = Rc::into_raw(instance);
        (*this).live = INSTANCE_LIVE;
    }
    0
}

/// `void iv_inotify_unregister(struct iv_inotify *)`: stops watching and
/// closes the descriptor (at the end of the batch being dispatched, when
/// called from a watch handler). Its watches are let go without being
/// touched. Fatal if the instance is not registered.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_unregister(this: *mut IvInotify) {
    const WHAT: &str = "iv_inotify_unregister";
    if this.is_null() {
        ivykis::fatal!("{WHAT}: NULL iv_inotify");
    }
    // SAFETY: the caller passes a valid iv_inotify; a registered one holds
    // the Rc that `iv_inotify_register` gave out, released here once.
    unsafe {
        let Some(instance) = instance_of(this) else {
            ivykis::fatal!("{WHAT}: the iv_inotify is not registered");
        };
        check_thread(instance, WHAT);
        iv_fd_unregister(addr_of_mut!((*this).fd));
        let instance = Rc::from_raw((*this).instance);
        (*this).instance = std::ptr::null();
        (*this).live = 0;
        (*this).fd.fd = -1;
        // Watch pointers only: nothing of the program's is freed here.
        drop(instance.close());
    }
}

/// `int iv_inotify_watch_register(struct iv_inotify_watch *)`: 0, or -1
/// with errno set: `inotify_add_watch`'s errors (`ENOENT`, `EACCES`,
/// `ENOSPC`, `EINVAL`...), `EEXIST` if the instance already watches that
/// inode, `EBADF` if `->inotify` is not registered, `EFAULT` for a NULL
/// `->pathname`. Nothing stays registered on failure.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_watch_register(w: *mut IvInotifyWatch) -> c_int {
    const WHAT: &str = "iv_inotify_watch_register";
    let Some(watch) = NonNull::new(w) else {
        ivykis::fatal!("{WHAT}: NULL iv_inotify_watch");
    };
    // SAFETY: the caller passes a valid, writable watch whose `inotify`
    // points to a valid iv_inotify (IV_INOTIFY_WATCH_INIT prepares nothing:
    // the private fields are only trusted together with the instance's map).
    unsafe {
        let inotify = (*w).inotify;
        if inotify.is_null() {
            ivykis::fatal!("{WHAT}: the watch's ->inotify is NULL");
        }
        let Some(instance) = instance_of(inotify) else {
            (*w).state = WATCH_DETACHED;
            (*w).wd = -1;
            set_errno(libc::EBADF);
            return -1;
        };
        check_thread(instance, WHAT);
        if (*w).state == WATCH_REGISTERED
            && (*w).instance_id == instance.id()
            && instance.get((*w).wd) == Some(watch)
        {
            ivykis::fatal!("{WHAT}: the watch is already registered");
        }
        (*w).state = WATCH_DETACHED;
        (*w).wd = -1;
        if (*w).pathname.is_null() {
            set_errno(libc::EFAULT);
            return -1;
        }
        let path = CStr::from_ptr((*w).pathname);
        match instance.add_watch(path, (*w).mask, |_| watch) {
            Ok(wd) => {
                (*w).wd = wd;
                (*w).instance_id = instance.id();
                (*w).state = WATCH_REGISTERED;
                0
            }
            Err(e) => {
                set_errno(e.raw_os_error().unwrap_or(libc::EINVAL));
                -1
            }
        }
    }
}

/// `void iv_inotify_watch_unregister(struct iv_inotify_watch *)`: removes
/// the watch (also from its own handler, or another watch's). Does nothing
/// for a watch the library already let go (see the module documentation);
/// fatal for one that was never registered.
#[no_mangle]
pub unsafe extern "C" fn iv_inotify_watch_unregister(w: *mut IvInotifyWatch) {
    const WHAT: &str = "iv_inotify_watch_unregister";
    let Some(watch) = NonNull::new(w) else {
        ivykis::fatal!("{WHAT}: NULL iv_inotify_watch");
    };
    // SAFETY: the caller passes a valid watch; a watch marked registered
    // names its iv_inotify in `->inotify`, which the program keeps valid
    // until it has unregistered its watches (ivykis needs the same).
    unsafe {
        match (*w).state {
            WATCH_REGISTERED => {}
            WATCH_DETACHED => return,
            _ => ivykis::fatal!("{WHAT}: the watch is not registered"),
        }
        (*w).state = WATCH_DETACHED;
        let inotify = (*w).inotify;
        if inotify.is_null() {
            return;
        }
        let Some(instance) = instance_of(inotify) else {
            // The instance was unregistered: its watches went with it.
            return;
        };
        if instance.id() != (*w).instance_id {
            // Unregistered and registered again since: a different instance.
            return;
        }
        check_thread(instance, WHAT);
        instance.remove_watch((*w).wd, |x| *x == watch);
    }
}
