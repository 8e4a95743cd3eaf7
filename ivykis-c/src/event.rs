//! `struct iv_event` (SPEC 6): cross-thread events.
//!
//! `IV_EVENT_INIT` is an empty inline function in the header, so nothing in
//! the private fields may be trusted before `iv_event_register`, which
//! initialises all of them. The private space (`owner` and the list head)
//! holds the loop's hub (a counted reference), the engine key and the
//! pending flag that coalesces posts.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ivykis::engine::callback::Callback;
use ivykis::engine::slab::Key;
use ivykis::engine::wake::Hub;
use ivykis::engine::{self, Loop};

use crate::fd::Handler;

/// `struct iv_event`: 40 bytes; `cookie`, `handler`, then `owner` and an
/// `iv_list_head`, used here as hub, key and pending flag.
#[repr(C)]
pub struct IvEvent {
    pub cookie: *mut c_void,
    pub handler: Handler,
    hub: *const Hub,
    key: u64,
    pending: AtomicUsize,
}

const _: () = assert!(std::mem::size_of::<IvEvent>() == 40);

unsafe fn run(data: NonNull<c_void>, (): ()) {
    let this = data.cast::<IvEvent>().as_ptr();
    // SAFETY: the engine calls only while the event is registered, and a
    // registered iv_event is alive (SPEC 6). The flag is cleared before the
    // handler runs so that a post made meanwhile is queued again.
    let (handler, cookie) = unsafe {
        (*this).pending.store(0, Ordering::SeqCst);
        ((*this).handler, (*this).cookie)
    };
    if let Some(h) = handler {
        // SAFETY: the program's handler with its cookie.
        unsafe { h(cookie) }
    }
}

/// `int iv_event_register(struct iv_event *)`: 0, or -1 when the loop's
/// wake-up object cannot be created (errno set).
#[no_mangle]
pub unsafe extern "C" fn iv_event_register(this: *mut IvEvent) -> c_int {
    const WHAT: &str = "iv_event_register";
    let Some(ptr) = NonNull::new(this) else {
        ivykis::fatal!("{WHAT}: NULL iv_event");
    };
    // SAFETY: `run` is sound for this pointer while the event is registered:
    // the program keeps a registered iv_event alive (SPEC 6).
    let callback = unsafe { Callback::raw(run, ptr.cast()) };
    let registered = engine::with(WHAT, |l: &mut Loop| {
        l.events.register(&mut *l.poller, l.id, callback)
    });
    match registered {
        Ok((key, hub)) => {
            // SAFETY: the caller passes a writable iv_event; we initialise
            // every private field (IV_EVENT_INIT did not).
            unsafe {
                (*this).key = key.to_raw();
                (*this).pending = AtomicUsize::new(0);
                (*this).hub = Arc::into_raw(hub);
            }
            0
        }
        Err(e) => {
            crate::fd::set_errno(e.raw_os_error().unwrap_or(libc::ENOMEM));
            -1
        }
    }
}

/// `void iv_event_unregister(struct iv_event *)`, in the registering thread
/// (also from the event's own handler).
#[no_mangle]
pub unsafe extern "C" fn iv_event_unregister(this: *mut IvEvent) {
    const WHAT: &str = "iv_event_unregister";
    // SAFETY: the caller passes a valid iv_event.
    let event = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL iv_event"));
    if event.hub.is_null() {
        ivykis::fatal!("{WHAT}: event is not registered");
    }
    // SAFETY: a non-null `hub` is the reference `iv_event_register` leaked
    // with `Arc::into_raw`; it is alive until we take it back below.
    let hub_loop = unsafe { (*event.hub).loop_id() };
    let key = Key::from_raw(event.key);
    engine::with(WHAT, |l| {
        if l.id != hub_loop {
            ivykis::fatal!("{WHAT}: event is registered in another thread's loop");
        }
        key.is_some_and(|k| l.events.unregister(k))
    });
    // SAFETY: takes back the reference leaked at registration, once: `hub`
    // is nulled right after.
    drop(unsafe { Arc::from_raw(event.hub) });
    event.hub = std::ptr::null();
}

/// `void iv_event_post(struct iv_event *)`: from any thread of the process
/// (not from a signal handler). Posts before the handler runs coalesce.
#[no_mangle]
pub unsafe extern "C" fn iv_event_post(this: *mut IvEvent) {
    const WHAT: &str = "iv_event_post";
    // SAFETY: the caller passes a registered iv_event, which the recipient
    // may not free before unregistering it; `pending` is only accessed
    // atomically, so concurrent posters and the recipient share it soundly.
    let event = unsafe { this.as_ref() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL iv_event"));
    let hub = event.hub;
    if hub.is_null() {
        ivykis::fatal!("{WHAT}: event is not registered");
    }
    if event.pending.swap(1, Ordering::AcqRel) == 0 {
        // SAFETY: the hub reference stays alive while the event is
        // registered (and the loop holds its own reference besides).
        // A refused post means the recipient loop is gone, which only a
        // program that frees loops with events registered can cause; the
        // post is dropped then.
        let _ = unsafe { (*hub).post(event.key) };
    }
}
