//! Threads started through the library (`iv_thread`, SPEC 7).
//!
//! [`create`] starts a POSIX thread and keeps the creator's loop alive until
//! that thread has ended: it registers an event in the creator's loop (a
//! registered event keeps `iv_main` running); the new thread posts it from a
//! thread-local destructor, so the post happens at thread exit however the
//! thread ends (return or `pthread_exit`), after the start routine's own
//! cleanup; the creator's handler then joins the thread (waiting out the
//! last thread-local destructors), forgets it and unregisters the event.
//!
//! The thread is started with `pthread_create` and a trampoline rather than
//! `std::thread`, because a C start routine may call `pthread_exit`, whose
//! forced unwinding must not cross Rust frames that hold destructors: the
//! trampoline holds none while the start routine runs.

use std::cell::{Cell, RefCell};
use std::ffi::{c_void, CStr, CString};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::callback::Callback;
use super::slab::Key;
use super::wake::Hub;

/// A C start routine.
pub type StartRoutine = unsafe extern "C" fn(*mut c_void);

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Turns the creation/exit/join messages on standard error on or off.
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

fn debug(args: std::fmt::Arguments<'_>) {
    if DEBUG.load(Ordering::Relaxed) {
        eprintln!("iv_thread: [{}] {args}", current_tid());
    }
}

/// The calling thread's OS thread id.
pub fn current_tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    tid as u64
}

/// What the creator knows of a child thread.
pub struct Child {
    name: String,
    /// Set by the child once it runs (0 before).
    tid: AtomicU64,
    pthread: Mutex<Option<libc::pthread_t>>,
}

struct Start {
    name: CString,
    routine: StartRoutine,
    arg: *mut c_void,
    notice: ExitNotice,
}

/// Posted to the creator when the child thread ends (dropped in the child's
/// thread-local destructors).
struct ExitNotice {
    hub: Arc<Hub>,
    key: u64,
    child: Arc<Child>,
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        debug(format_args!("thread {} is ending", self.child.name));
        // Refused only if the creator's loop is gone; nobody waits then.
        let _ = self.hub.post(self.key);
    }
}

thread_local! {
    static EXIT_NOTICE: RefCell<Option<ExitNotice>> = const { RefCell::new(None) };
}

extern "C" fn trampoline(start: *mut c_void) -> *mut c_void {
    // SAFETY: `create` passes a `Box<Start>` leaked for this thread alone.
    // The box is a temporary of this statement, so it is freed here, not at
    // the end of the function: a `pthread_exit` in the start routine never
    // returns to this frame (valgrind saw the box leak).
    let Start {
        name,
        routine,
        arg,
        notice,
    } = *unsafe { Box::from_raw(start.cast::<Start>()) };
    notice.child.tid.store(current_tid(), Ordering::Release);
    set_os_thread_name(&name);
    drop(name);
    debug(format_args!("thread {} started", notice.child.name));
    EXIT_NOTICE.with(|n| *n.borrow_mut() = Some(notice));
    // SAFETY: the program's start routine with its argument. Nothing with a
    // destructor is alive in this frame during the call, so a
    // `pthread_exit` inside it unwinds nothing of ours.
    unsafe { routine(arg) };
    std::ptr::null_mut()
}

fn set_os_thread_name(name: &CStr) {
    // The kernel keeps 15 bytes; longer names make the call fail.
    let bytes = name.to_bytes();
    let short = CString::new(&bytes[..bytes.len().min(15)]).unwrap_or_default();
    // SAFETY: names the calling thread with a valid C string.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), short.as_ptr()) };
}

/// Starts `routine(arg)` on a new thread named `name`, keeping the calling
/// thread's loop alive until it ends. Must be called in a thread with a
/// loop (`what` names the caller for the fatal message otherwise).
pub fn create(name: &CStr, routine: StartRoutine, arg: *mut c_void, what: &str) -> io::Result<()> {
    let child = Arc::new(Child {
        name: name.to_string_lossy().into_owned(),
        tid: AtomicU64::new(0),
        pthread: Mutex::new(None),
    });
    let key_cell = Rc::new(Cell::new(None::<Key>));
    let on_exit = {
        let child = Arc::clone(&child);
        let key_cell = Rc::clone(&key_cell);
        Callback::Native(Rc::new(move |()| reap(&child, key_cell.get())))
    };
    let (key, hub) = super::with(what, |l| l.events.register(&mut *l.poller, l.id, on_exit))?;
    key_cell.set(Some(key));
    let start = Box::new(Start {
        name: name.to_owned(),
        routine,
        arg,
        notice: ExitNotice {
            hub,
            key: key.to_raw(),
            child: Arc::clone(&child),
        },
    });
    let start = Box::into_raw(start);
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `thread` is a valid out-parameter, the attributes are the
    // defaults, and `trampoline` takes ownership of `start` on success.
    let rc =
        unsafe { libc::pthread_create(&mut thread, std::ptr::null(), trampoline, start.cast()) };
    if rc != 0 {
        // SAFETY: the thread was not started, so `start` is still ours. Its
        // notice must not post: forget it after undoing the registration.
        let start = unsafe { Box::from_raw(start) };
        std::mem::forget(start.notice);
        super::with(what, |l| l.events.unregister(key));
        return Err(io::Error::from_raw_os_error(rc));
    }
    *child.pthread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
    debug(format_args!("created thread {}", child.name));
    super::with(what, |l| l.children.push(child));
    Ok(())
}

/// In the creator: the child has ended. Join it, forget it, and let the
/// creator's loop go.
fn reap(child: &Arc<Child>, key: Option<Key>) {
    let thread = child
        .pthread
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(thread) = thread {
        // SAFETY: a thread we created and nobody else joins or detaches.
        unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    }
    debug(format_args!("joined thread {}", child.name));
    super::try_with(|l| {
        l.children.retain(|c| !Arc::ptr_eq(c, child));
        if let Some(key) = key {
            l.events.unregister(key);
        }
    });
}

/// Prints the calling thread's live children to standard error.
pub fn list_children() {
    let children: Vec<(String, u64)> = super::try_with(|l| {
        l.children
            .iter()
            .map(|c| (c.name.clone(), c.tid.load(Ordering::Acquire)))
            .collect()
    })
    .unwrap_or_default();
    eprintln!(
        "iv_thread: [{}] {} live child thread(s)",
        current_tid(),
        children.len()
    );
    for (name, tid) in children {
        eprintln!("iv_thread:   {name} (thread id {tid})");
    }
}
