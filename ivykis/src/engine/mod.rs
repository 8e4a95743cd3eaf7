//! The engine: one event loop per thread, shared by the C face
//! (`ivykis-c`) and the Rust face (the rest of this crate).
//!
//! This module is public only so that the C face can reach it; it is not part
//! of the crate's stable API. See `docs/ARCHITECTURE.md`.
//!
//! Every thread's loop lives in a heap-allocated `RefCell<Loop>` reached
//! through a `const` thread-local pointer, so [`inited`] is one TLS load.
//! Engine functions borrow the loop only for the duration of one table
//! operation and never across a callback: dispatch copies the callback out,
//! drops the borrow, then calls it. A re-entrancy bug therefore shows up as
//! a `RefCell` panic, never as aliasing.

pub mod callback;
pub mod event;
pub mod event_raw;
pub mod fatal;
pub mod fd;
pub mod inotify;
pub mod popen;
pub mod pump;
pub mod signal;
pub mod slab;
mod sync;
pub mod task;
pub mod thread;
pub mod time;
pub mod timer;
pub mod tls;
pub mod wait;
pub mod wake;
pub mod work;

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::sys::{self, Bands, Event, Method, Poller};
use event::Events;
use fd::{FdTable, Lookup};
use task::TaskQueue;
use timer::TimerQueue;

/// One thread's loop state.
pub struct Loop {
    /// Unique in the process for its lifetime: tells a loop from a later one
    /// of the same thread, so that handles kept across them stay stale.
    pub id: u64,
    /// The poll backend.
    pub poller: Box<dyn Poller>,
    /// Registered descriptors.
    pub fds: FdTable,
    /// Registered timers.
    pub timers: TimerQueue,
    /// Registered tasks.
    pub tasks: TaskQueue,
    /// Registered cross-thread events and the loop's wake-up hub.
    pub events: Events,
    /// The SIGCHLD watch shared by this loop's child-process interests.
    pub waits: wait::LoopWaits,
    /// Threads started by `thread::create` from this loop's thread that
    /// have not been joined yet.
    pub children: Vec<std::sync::Arc<thread::Child>>,
    /// Objects that keep `run` going besides fds, timers and tasks (events,
    /// signals, child waits, worker pools, child threads).
    pub refs: usize,
    quit: bool,
    /// Depth of `run` calls in progress (`deinit` refuses while non-zero).
    running: u32,
}

impl Loop {
    /// Number of registered objects of every kind.
    pub fn registered(&self) -> usize {
        self.fds.len() + self.timers.len() + self.tasks.len() + self.events.len() + self.refs
    }
}

thread_local! {
    static CURRENT: Cell<*const RefCell<Loop>> = const { Cell::new(std::ptr::null()) };
}

/// Why [`init`] failed.
#[derive(Debug)]
pub enum InitError {
    /// This thread already has a loop.
    AlreadyInitialized,
    /// The poll backend could not be opened.
    Io(io::Error),
}

static METHOD: OnceLock<Method> = OnceLock::new();

/// Whether the calling thread has a loop.
#[inline]
pub fn inited() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// Runs `f` on this thread's loop, or returns `None` without one.
#[inline]
pub fn try_with<R>(f: impl FnOnce(&mut Loop) -> R) -> Option<R> {
    let ptr = CURRENT.with(Cell::get);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT points at the `RefCell<Loop>` that `init`
    // leaked from a `Box` for this thread; only `deinit`, on this same thread,
    // frees it, after nulling CURRENT. So the pointee is alive here, and the
    // RefCell guards against overlapping borrows.
    let cell = unsafe { &*ptr };
    Some(f(&mut cell.borrow_mut()))
}

/// Runs `f` on this thread's loop; fatal without one (`what` names the
/// caller).
#[inline]
pub fn with<R>(what: &str, f: impl FnOnce(&mut Loop) -> R) -> R {
    match try_with(f) {
        Some(r) => r,
        None => {
            crate::fatal!("{what}: called in a thread without an event loop (call iv_init first)")
        }
    }
}

/// Process-wide set-up of the first `init` (SPEC 1).
fn process_setup() -> Method {
    // SAFETY: setting the disposition of SIGPIPE/SIGURG to "ignore" is a
    // plain, always-valid signal() call.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGURG, libc::SIG_IGN);
    }
    raise_fd_limit();
    let candidates = sys::candidate_methods();
    for m in &candidates {
        if m.open().is_ok() {
            return *m;
        }
    }
    crate::fatal!(
        "iv_init: no usable poll method (IV_EXCLUDE_POLL_METHOD={:?})",
        std::env::var("IV_EXCLUDE_POLL_METHOD").unwrap_or_default()
    )
}

const NOFILE_TARGET: u64 = 131072;

/// Raises the soft RLIMIT_NOFILE: as root towards 131072, halving the goal
/// until the kernel accepts it; otherwise up to the hard limit, capped at
/// 131072.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let soft = cur.current.unwrap_or(u64::MAX);
    if soft >= NOFILE_TARGET {
        return;
    }
    if rustix::process::geteuid().is_root() {
        let mut goal = NOFILE_TARGET;
        while goal > soft {
            let hard = cur.maximum.map(|h| h.max(goal));
            let new = Rlimit {
                current: Some(goal),
                maximum: hard,
            };
            if setrlimit(Resource::Nofile, new).is_ok() {
                return;
            }
            goal /= 2;
        }
    } else {
        let goal = cur.maximum.unwrap_or(u64::MAX).min(NOFILE_TARGET);
        if goal > soft {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(goal),
                    maximum: cur.maximum,
                },
            );
        }
    }
}

/// The process-wide poll method, chosen by the first [`init`].
pub fn method() -> Option<Method> {
    METHOD.get().copied()
}

/// Creates the calling thread's loop.
pub fn init() -> Result<(), InitError> {
    if inited() {
        return Err(InitError::AlreadyInitialized);
    }
    let method = *METHOD.get_or_init(process_setup);
    let poller = method.open().map_err(InitError::Io)?;
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let state = Box::new(RefCell::new(Loop {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        poller,
        fds: FdTable::default(),
        timers: TimerQueue::default(),
        tasks: TaskQueue::default(),
        events: Events::default(),
        waits: wait::LoopWaits::default(),
        children: Vec::new(),
        refs: 0,
        quit: false,
        running: 0,
    }));
    CURRENT.with(|c| c.set(Box::into_raw(state)));
    time::invalidate();
    tls::on_init();
    Ok(())
}

/// Frees the calling thread's loop and every registration in it. `false` if
/// the thread has none. Fatal from inside a running loop's callback.
pub fn deinit() -> bool {
    match try_with(|l| l.running) {
        None => return false,
        Some(0) => {}
        Some(_) => crate::fatal!("iv_deinit: called from a callback while the loop runs"),
    }
    tls::on_deinit();
    let ptr = CURRENT.with(|c| c.replace(std::ptr::null()));
    // SAFETY: `ptr` came from `Box::into_raw` in `init` and CURRENT no longer
    // holds it, so this is the only owner; no borrow of it is live because
    // engine functions never keep one across a call out of the engine.
    let state = unsafe { Box::from_raw(ptr as *mut RefCell<Loop>) };
    let mut state = state.into_inner();
    state.fds.clear();
    state.timers.clear();
    state.tasks.clear();
    state.events.clear();
    true
}

/// The id of this thread's loop (see [`Loop::id`]).
pub fn current_id() -> Option<u64> {
    try_with(|l| l.id)
}

/// Asks the running loop of this thread to return (SPEC 1).
pub fn quit() {
    with("iv_quit", |l| l.quit = true);
}

/// Runs the calling thread's loop until [`quit`] or until nothing is
/// registered (SPEC 1, one iteration per turn of the `loop`).
pub fn run() {
    let ptr = CURRENT.with(Cell::get);
    if ptr.is_null() {
        crate::fatal!("iv_main: called in a thread without an event loop (call iv_init first)");
    }
    // SAFETY: as in `try_with`, the loop lives until `deinit`; and `deinit`
    // refuses to free it while `running` is non-zero, which the guard below
    // keeps so until this function returns or unwinds. Holding the reference
    // saves a thread-local lookup per table operation.
    let cell = unsafe { &*ptr };
    let _running = RunGuard::enter(cell);
    // The cache may be arbitrarily old (iv_now read long before iv_main).
    time::invalidate();
    let mut events = Vec::new();
    loop {
        if !cell.borrow().timers.is_empty() {
            // The one clock read of the iteration, and only when a timer
            // needs it.
            time::validate();
            run_timers(cell);
        }
        // Checked after the timers: a timer's handler may add a task, which
        // runs in this iteration.
        if !cell.borrow().tasks.is_empty() {
            run_tasks(cell);
        }
        if !wait(cell, &mut events) {
            return;
        }
        time::invalidate();
        dispatch_fds(cell, &events);
        events.clear();
        run_posted_events(cell);
    }
}

/// Counts nested runs of a loop so that `deinit` cannot free it under one;
/// undone on return and on unwind (a Rust callback may panic).
struct RunGuard<'a>(&'a RefCell<Loop>);

impl<'a> RunGuard<'a> {
    fn enter(cell: &'a RefCell<Loop>) -> RunGuard<'a> {
        let mut l = cell.borrow_mut();
        l.running += 1;
        l.quit = false;
        RunGuard(cell)
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().running -= 1;
    }
}

fn run_timers(cell: &RefCell<Loop>) {
    let now = time::cached();
    cell.borrow_mut().timers.begin_phase();
    loop {
        let due = cell.borrow_mut().timers.pop_due(now);
        match due {
            Some(callback) => callback.call(()),
            None => break,
        }
    }
    cell.borrow_mut().timers.end_phase();
}

fn run_tasks(cell: &RefCell<Loop>) {
    let round = cell.borrow_mut().tasks.begin_round();
    loop {
        let next = cell.borrow_mut().tasks.pop();
        match next {
            Some(callback) => callback.call(round),
            None => break,
        }
    }
    cell.borrow_mut().tasks.end_round();
}

/// Steps 3 and 4 of an iteration: `false` if the loop should stop, else
/// flush interest changes, wait, and leave the ready events in `events`.
fn wait(cell: &RefCell<Loop>, events: &mut Vec<Event>) -> bool {
    let mut guard = cell.borrow_mut();
    let l = &mut *guard;
    if l.quit || l.registered() == 0 {
        return false;
    }
    let posted = l.events.existing_hub().is_some_and(|h| h.going_to_sleep());
    let timeout = if posted || !l.tasks.is_empty() {
        Some(Duration::ZERO)
    } else {
        // `time::now` reads the clock only if no timer phase ran this
        // iteration (a timer was added by a task or an fd callback).
        l.timers
            .next_expiry()
            .map(|t| t.saturating_duration_since(time::now()))
    };
    if let Err((fd, e)) = l.fds.flush(&mut *l.poller) {
        crate::fatal!("iv_fd_register: the kernel refused to poll fd {fd}: {e}");
    }
    // A wait that may not block, in a loop without descriptors, could only
    // report the hub's wake-up, which the posts already queued make
    // redundant: skip the system call. (A wake-up left armed is reported by
    // the next real wait and consumed then.) Worker threads and other
    // event-only loops do this on every busy iteration.
    if timeout == Some(Duration::ZERO) && l.fds.is_empty() {
        if let Some(hub) = l.events.existing_hub() {
            hub.awake();
        }
        return true;
    }
    let result = l.poller.wait(timeout, events);
    if let Some(hub) = l.events.existing_hub() {
        hub.awake();
    }
    if let Err(e) = result {
        crate::fatal!("iv_main: {} wait failed: {e}", l.poller.name());
    }
    true
}

/// Calls the handlers of the events posted since the last time.
fn run_posted_events(cell: &RefCell<Loop>) {
    let mut batch = {
        let mut l = cell.borrow_mut();
        match l.events.existing_hub() {
            Some(hub) if hub.has_posts() => l.events.take_posted(),
            _ => return,
        }
    };
    for &key in &batch {
        let callback = cell.borrow().events.callback(key);
        if let Some(callback) = callback {
            callback.call(());
        }
    }
    batch.clear();
    if let Ok(mut l) = cell.try_borrow_mut() {
        l.events.return_batch(batch);
    }
}

fn dispatch_fds(cell: &RefCell<Loop>, events: &[Event]) {
    for &(token, ready) in events {
        if token == wake::WAKE_TOKEN {
            if let Some(hub) = cell.borrow().events.existing_hub() {
                hub.clear_wakeup();
            }
            continue;
        }
        let Some(key) = slab::Key::from_raw(token) else {
            continue;
        };
        // One ready descriptor's bands in SPEC order (error, input,
        // output), written out rather than looped over: this is the hottest
        // loop of the library.
        if ready.contains(Bands::ERR) && !dispatch_band(cell, key, Bands::ERR) {
            continue;
        }
        if ready.contains(Bands::IN) && !dispatch_band(cell, key, Bands::IN) {
            continue;
        }
        if ready.contains(Bands::OUT) {
            dispatch_band(cell, key, Bands::OUT);
        }
    }
}

/// Calls the handler of `key` for `band` if it still wants it; `false` if
/// the registration is gone (its other bands are skipped too).
#[inline(always)]
fn dispatch_band(cell: &RefCell<Loop>, key: slab::Key, band: Bands) -> bool {
    let lookup = {
        let mut guard = cell.borrow_mut();
        let l = &mut *guard;
        l.fds.callback_for(&mut *l.poller, key, band)
    };
    match lookup {
        Lookup::Call(callback) => callback.call(band),
        Lookup::Skip => {}
        Lookup::Gone => return false,
    }
    true
}

/// The name of the poll method in use (`iv_poll_method_name`).
pub fn poll_method_name() -> Option<&'static str> {
    try_with(|l| l.poller.name()).or_else(|| method().map(Method::name))
}
