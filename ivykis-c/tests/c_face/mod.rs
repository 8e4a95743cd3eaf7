//! Runs a model [`Scenario`] through the C face: the exported `iv_*`
//! functions of the `ivykis-c` crate, called with `#[repr(C)]` structs laid
//! out as in the public headers, exactly as a C program calls them. Used by
//! `ivykis-c/tests/prop_c.rs` and the fuzz target.
//!
//! The structs are heap-allocated (the library keeps pointers to them) and
//! only reached through raw pointers. `Free` unregisters a struct, then
//! overwrites it with garbage whose handlers record
//! [`Record::UseAfterFree`], and replaces it with a fresh struct; the
//! overwritten memory is kept until the end of the scenario, so a library
//! that still used it would be caught in the log instead of corrupting the
//! test.
//!
//! Handlers never panic (a panic cannot unwind through the library's C
//! frames): they only record and run their script.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::model::{
    Op, Record, Scenario, Src, Step, When, ALL, ERR, EVENTS, FDS, IN, OUT, RUNAWAY_CALLBACKS,
    TASKS, TIMERS,
};

type Handler = Option<unsafe extern "C" fn(*mut c_void)>;

/// `struct iv_fd` (iv.h).
#[repr(C)]
struct IvFd {
    fd: c_int,
    cookie: *mut c_void,
    handler_in: Handler,
    handler_out: Handler,
    handler_err: Handler,
    pad: [*mut c_void; 11],
}

/// `struct iv_timer` (iv.h).
#[repr(C)]
struct IvTimer {
    expires: libc::timespec,
    cookie: *mut c_void,
    handler: Handler,
    pad: [*mut c_void; 4],
}

/// `struct iv_task` (iv.h).
#[repr(C)]
struct IvTask {
    cookie: *mut c_void,
    handler: Handler,
    pad: [*mut c_void; 6],
}

/// `struct iv_event` (iv_event.h).
#[repr(C)]
struct IvEvent {
    cookie: *mut c_void,
    handler: Handler,
    owner: *mut c_void,
    list: [*mut c_void; 2],
}

const _: () = assert!(std::mem::size_of::<IvFd>() == 128);
const _: () = assert!(std::mem::size_of::<IvTimer>() == 64);
const _: () = assert!(std::mem::size_of::<IvTask>() == 64);
const _: () = assert!(std::mem::size_of::<IvEvent>() == 40);

extern "C" {
    fn iv_init();
    fn iv_deinit();
    fn iv_main();
    fn iv_quit();

    fn IV_FD_INIT(this: *mut IvFd);
    fn iv_fd_register(this: *mut IvFd);
    fn iv_fd_unregister(this: *mut IvFd);
    fn iv_fd_registered(this: *const IvFd) -> c_int;
    fn iv_fd_set_handler_in(this: *mut IvFd, handler: Handler);
    fn iv_fd_set_handler_out(this: *mut IvFd, handler: Handler);
    fn iv_fd_set_handler_err(this: *mut IvFd, handler: Handler);

    fn IV_TIMER_INIT(this: *mut IvTimer);
    fn iv_timer_register(this: *mut IvTimer);
    fn iv_timer_unregister(this: *mut IvTimer);
    fn iv_timer_registered(this: *const IvTimer) -> c_int;

    fn IV_TASK_INIT(this: *mut IvTask);
    fn iv_task_register(this: *mut IvTask);
    fn iv_task_unregister(this: *mut IvTask);
    fn iv_task_registered(this: *const IvTask) -> c_int;

    fn iv_event_register(this: *mut IvEvent) -> c_int;
    fn iv_event_unregister(this: *mut IvEvent);
    fn iv_event_post(this: *mut IvEvent);
}

/// A struct that was freed by a `Free` op: garbage with poisoned handlers.
enum Grave {
    Timer(*mut IvTimer),
    Task(*mut IvTask),
    Fd(*mut IvFd),
    Event(*mut IvEvent),
}

struct State {
    log: Vec<Record>,
    scripts: HashMap<Src, Vec<Op>>,
    t0: libc::timespec,
    timers: Vec<*mut IvTimer>,
    tasks: Vec<*mut IvTask>,
    fds: Vec<*mut IvFd>,
    events: Vec<*mut IvEvent>,
    /// `iv_event` has no `registered` query: the driver keeps track.
    event_registered: Vec<bool>,
    gens: HashMap<Src, u32>,
    harness: *mut IvEvent,
    a: Vec<UnixStream>,
    b: Vec<Option<UnixStream>>,
    graves: Vec<Grave>,
    callbacks: u32,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Runs `f` on the driver's state. Never called around a library call that
/// may run handlers (only `iv_main` does).
fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(s.borrow_mut().as_mut().expect("C driver state")))
}

fn cookie(i: u8) -> *mut c_void {
    usize::from(i) as *mut c_void
}

fn index(cookie: *mut c_void) -> u8 {
    cookie as usize as u8
}

// --- Allocation ---------------------------------------------------------

fn new_timer(i: u8) -> *mut IvTimer {
    let t = Box::into_raw(Box::new(IvTimer {
        expires: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        cookie: cookie(i),
        handler: Some(on_timer),
        pad: [std::ptr::null_mut(); 4],
    }));
    // SAFETY: a fresh, writable iv_timer.
    unsafe { IV_TIMER_INIT(t) };
    t
}

fn new_task(i: u8) -> *mut IvTask {
    let t = Box::into_raw(Box::new(IvTask {
        cookie: cookie(i),
        handler: Some(on_task),
        pad: [std::ptr::null_mut(); 6],
    }));
    // SAFETY: a fresh, writable iv_task.
    unsafe { IV_TASK_INIT(t) };
    t
}

fn new_fd(i: u8) -> *mut IvFd {
    let f = Box::into_raw(Box::new(IvFd {
        fd: -1,
        cookie: std::ptr::null_mut(),
        handler_in: None,
        handler_out: None,
        handler_err: None,
        pad: [std::ptr::null_mut(); 11],
    }));
    // SAFETY: a fresh, writable iv_fd; IV_FD_INIT comes first, then the
    // public fields are set (SPEC 2).
    unsafe {
        IV_FD_INIT(f);
        (*f).cookie = cookie(i);
    }
    f
}

fn new_event(i: u8, handler: unsafe extern "C" fn(*mut c_void)) -> *mut IvEvent {
    // IV_EVENT_INIT is an empty inline function: nothing to call.
    Box::into_raw(Box::new(IvEvent {
        cookie: cookie(i),
        handler: Some(handler),
        owner: std::ptr::null_mut(),
        list: [std::ptr::null_mut(); 2],
    }))
}

/// Overwrites a freed struct with garbage and poisoned handlers.
///
/// # Safety
///
/// `p` is one of this driver's structs, not registered.
unsafe fn poison<T>(p: *mut T) {
    // SAFETY: `p` is a live allocation of `T` (the caller's contract);
    // every field of the iv_* structs accepts any bit pattern but the
    // handler pointers, which the callers overwrite right after.
    unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0xA5, std::mem::size_of::<T>()) };
}

// --- Handlers ---------------------------------------------------------------

extern "C" fn on_timer(cookie: *mut c_void) {
    fired(Src::Timer(index(cookie)), 0, 0);
}

extern "C" fn on_task(cookie: *mut c_void) {
    fired(Src::Task(index(cookie)), 0, 0);
}

extern "C" fn on_event(cookie: *mut c_void) {
    fired(Src::Event(index(cookie)), 0, 0);
}

extern "C" fn on_err0(cookie: *mut c_void) {
    fired(Src::Fd(index(cookie)), ERR, 0);
}

extern "C" fn on_in0(cookie: *mut c_void) {
    fired(Src::Fd(index(cookie)), IN, 0);
}

extern "C" fn on_out0(cookie: *mut c_void) {
    fired(Src::Fd(index(cookie)), OUT, 0);
}

extern "C" fn on_err1(cookie: *mut c_void) {
    fired(Src::Fd(index(cookie)), ERR, 1);
}

extern "C" fn on_in1(cookie: *mut c_void) {
    fired(Src::Fd(index(cookie)), IN, 1);
}

extern "C" fn on_out1(cookie: *mut c_void) {
    fired(Src::Fd(index(cookie)), OUT, 1);
}

extern "C" fn on_harness(_cookie: *mut c_void) {
    with(|s| s.log.push(Record::Harness));
    // SAFETY: called from a handler of this thread's running loop.
    unsafe { iv_quit() };
}

extern "C" fn dead_timer(cookie: *mut c_void) {
    with(|s| s.log.push(Record::UseAfterFree(Src::Timer(index(cookie)))));
}

extern "C" fn dead_task(cookie: *mut c_void) {
    with(|s| s.log.push(Record::UseAfterFree(Src::Task(index(cookie)))));
}

extern "C" fn dead_fd(cookie: *mut c_void) {
    with(|s| s.log.push(Record::UseAfterFree(Src::Fd(index(cookie)))));
}

extern "C" fn dead_event(cookie: *mut c_void) {
    with(|s| s.log.push(Record::UseAfterFree(Src::Event(index(cookie)))));
}

fn fd_handler(band: u8, flavour: u8) -> Handler {
    let h: unsafe extern "C" fn(*mut c_void) = match (band, flavour) {
        (ERR, 0) => on_err0,
        (IN, 0) => on_in0,
        (OUT, 0) => on_out0,
        (ERR, _) => on_err1,
        (IN, _) => on_in1,
        _ => on_out1,
    };
    Some(h)
}

fn fired(src: Src, band: u8, flavour: u8) {
    let script = with(|s| {
        s.callbacks += 1;
        if s.callbacks > RUNAWAY_CALLBACKS {
            if s.callbacks == RUNAWAY_CALLBACKS + 1 {
                s.log.push(Record::Runaway);
            }
            return None;
        }
        let gen = s.gens.get(&src).copied().unwrap_or(0);
        s.log.push(Record::Fire {
            src,
            gen,
            band,
            flavour,
        });
        Some(s.scripts.get(&src).cloned().unwrap_or_default())
    });
    match script {
        Some(script) => script.iter().for_each(do_op),
        // SAFETY: called from a handler of this thread's running loop.
        None => unsafe { iv_quit() },
    }
}

// --- Ops ------------------------------------------------------------------

fn bump(src: Src) {
    with(|s| *s.gens.entry(src).or_insert(0) += 1);
}

fn expires(when: When) -> libc::timespec {
    let t0 = with(|s| s.t0);
    let ns = i128::from(t0.tv_sec) * 1_000_000_000
        + i128::from(t0.tv_nsec)
        + i128::from(when.offset_ms()) * 1_000_000;
    libc::timespec {
        tv_sec: (ns.div_euclid(1_000_000_000)) as libc::time_t,
        tv_nsec: (ns.rem_euclid(1_000_000_000)) as libc::c_long,
    }
}

fn registered(src: Src) -> bool {
    match src {
        Src::Timer(i) => {
            let t = with(|s| s.timers[i as usize]);
            // SAFETY: the driver's own live iv_timer.
            unsafe { iv_timer_registered(t) != 0 }
        }
        Src::Task(i) => {
            let t = with(|s| s.tasks[i as usize]);
            // SAFETY: the driver's own live iv_task.
            unsafe { iv_task_registered(t) != 0 }
        }
        Src::Fd(i) => {
            let f = with(|s| s.fds[i as usize]);
            // SAFETY: the driver's own live iv_fd.
            unsafe { iv_fd_registered(f) != 0 }
        }
        Src::Event(i) => with(|s| s.event_registered[i as usize]),
    }
}

/// Unregisters a source that `registered` just said is registered.
fn unregister(src: Src) {
    match src {
        Src::Timer(i) => {
            let t = with(|s| s.timers[i as usize]);
            // SAFETY: the driver's own iv_timer, registered in this thread.
            unsafe { iv_timer_unregister(t) }
        }
        Src::Task(i) => {
            let t = with(|s| s.tasks[i as usize]);
            // SAFETY: the driver's own iv_task, registered in this thread.
            unsafe { iv_task_unregister(t) }
        }
        Src::Fd(i) => {
            let f = with(|s| s.fds[i as usize]);
            // SAFETY: the driver's own iv_fd, registered in this thread.
            unsafe { iv_fd_unregister(f) }
        }
        Src::Event(i) => {
            let e = with(|s| s.events[i as usize]);
            // SAFETY: the driver's own iv_event, registered in this thread.
            unsafe { iv_event_unregister(e) };
            with(|s| s.event_registered[i as usize] = false);
        }
    }
}

fn register_timer(i: u8, when: When) {
    let t = with(|s| s.timers[i as usize]);
    // SAFETY: the driver's own unregistered timer: `expires` may be set,
    // then it is registered in this thread's loop.
    unsafe {
        (*t).expires = expires(when);
        iv_timer_register(t);
    }
    bump(Src::Timer(i));
}

/// Frees a source's struct (unregistered by the caller) and gives the slot
/// a fresh one.
fn free(src: Src) {
    with(|s| {
        // In every arm: the slot's struct is live and not registered (the
        // caller unregistered it); after poisoning it is only kept, never
        // registered again, and freed at the end of the scenario.
        match src {
            // SAFETY: see above.
            Src::Timer(i) => unsafe {
                let old = s.timers[i as usize];
                poison(old);
                (*old).handler = Some(dead_timer);
                (*old).cookie = cookie(i);
                s.graves.push(Grave::Timer(old));
                s.timers[i as usize] = new_timer(i);
            },
            // SAFETY: see above.
            Src::Task(i) => unsafe {
                let old = s.tasks[i as usize];
                poison(old);
                (*old).handler = Some(dead_task);
                (*old).cookie = cookie(i);
                s.graves.push(Grave::Task(old));
                s.tasks[i as usize] = new_task(i);
            },
            // SAFETY: see above.
            Src::Fd(i) => unsafe {
                let old = s.fds[i as usize];
                poison(old);
                (*old).handler_err = Some(dead_fd);
                (*old).handler_in = Some(dead_fd);
                (*old).handler_out = Some(dead_fd);
                (*old).cookie = cookie(i);
                s.graves.push(Grave::Fd(old));
                s.fds[i as usize] = new_fd(i);
            },
            // SAFETY: see above.
            Src::Event(i) => unsafe {
                let old = s.events[i as usize];
                poison(old);
                (*old).handler = Some(dead_event);
                (*old).cookie = cookie(i);
                s.graves.push(Grave::Event(old));
                s.events[i as usize] = new_event(i, on_event);
            },
        }
    });
}

fn do_op(op: &Op) {
    let applied = match *op {
        Op::AddTimer(i, when) => {
            if registered(Src::Timer(i)) {
                false
            } else {
                register_timer(i, when);
                true
            }
        }
        Op::Rearm(i, when) => {
            let was = registered(Src::Timer(i));
            if was {
                unregister(Src::Timer(i));
            }
            register_timer(i, when);
            was
        }
        Op::AddTask(i) => {
            if registered(Src::Task(i)) {
                false
            } else {
                // SAFETY: the driver's own unregistered task.
                unsafe { iv_task_register(with(|s| s.tasks[i as usize])) };
                bump(Src::Task(i));
                true
            }
        }
        Op::AddFd(i, bands) => {
            if registered(Src::Fd(i)) {
                false
            } else {
                let (f, fd) = with(|s| (s.fds[i as usize], s.a[i as usize].as_raw_fd()));
                // SAFETY: the driver's own unregistered iv_fd: its public
                // fields may be set before registering; `fd` is an open
                // socket that outlives the scenario.
                unsafe {
                    (*f).fd = fd;
                    (*f).handler_err = if bands & ERR != 0 {
                        fd_handler(ERR, 0)
                    } else {
                        None
                    };
                    (*f).handler_in = if bands & IN != 0 {
                        fd_handler(IN, 0)
                    } else {
                        None
                    };
                    (*f).handler_out = if bands & OUT != 0 {
                        fd_handler(OUT, 0)
                    } else {
                        None
                    };
                    iv_fd_register(f);
                }
                bump(Src::Fd(i));
                true
            }
        }
        Op::SetInterest(i, bands, flavour) => {
            if registered(Src::Fd(i)) {
                let f = with(|s| s.fds[i as usize]);
                let h = |band: u8| {
                    if bands & ALL & band != 0 {
                        fd_handler(band, flavour & 1)
                    } else {
                        None
                    }
                };
                // SAFETY: the driver's own registered iv_fd.
                unsafe {
                    iv_fd_set_handler_err(f, h(ERR));
                    iv_fd_set_handler_in(f, h(IN));
                    iv_fd_set_handler_out(f, h(OUT));
                }
                true
            } else {
                false
            }
        }
        Op::AddEvent(i) => {
            if registered(Src::Event(i)) {
                false
            } else {
                let e = with(|s| s.events[i as usize]);
                // SAFETY: the driver's own unregistered iv_event.
                let ok = unsafe { iv_event_register(e) } == 0;
                if ok {
                    with(|s| s.event_registered[i as usize] = true);
                    bump(Src::Event(i));
                }
                ok
            }
        }
        Op::Post(i) => {
            if registered(Src::Event(i)) {
                // SAFETY: the driver's own registered iv_event.
                unsafe { iv_event_post(with(|s| s.events[i as usize])) };
                true
            } else {
                false
            }
        }
        Op::Remove(src) => {
            let was = registered(src);
            if was {
                unregister(src);
            }
            was
        }
        Op::Free(src) => {
            let was = registered(src);
            if was {
                unregister(src);
            }
            free(src);
            was
        }
        Op::MakeReadable(i) => with(|s| match s.b[i as usize].as_mut() {
            Some(b) => match b.write(&[1]) {
                Ok(_) => true,
                Err(e) => e.kind() == ErrorKind::WouldBlock,
            },
            None => false,
        }),
        Op::Drain(i) => with(|s| {
            let mut buf = [0u8; 256];
            loop {
                match (&s.a[i as usize]).read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => break e.kind() == ErrorKind::WouldBlock,
                }
            }
        }),
        Op::HangUp(i) => with(|s| s.b[i as usize].take().is_some()),
        Op::Quit => {
            // SAFETY: this thread has a loop (outside a run it is a no-op
            // that the next run clears).
            unsafe { iv_quit() };
            true
        }
    };
    with(|s| s.log.push(Record::Applied(applied)));
}

// --- A scenario -------------------------------------------------------------

/// The first `iv_init` of the process installs the C face's panic hook,
/// which turns every panic of the process into `iv_fatal` (abort). A test
/// harness needs ordinary panics (its failure reports are panics, and its
/// captured output is lost on abort): this makes the first `iv_init` happen
/// now and puts the default hook back. Panics inside the library's C frames
/// still abort (they cannot unwind through `extern "C"`).
pub fn keep_default_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a loop created and freed on this thread, with nothing
        // registered in between.
        unsafe {
            iv_init();
            iv_deinit();
        }
        drop(std::panic::take_hook());
    });
}

/// Runs `scenario` on a fresh C loop (`iv_init` .. `iv_deinit`) of the
/// calling thread and returns the log.
pub fn run(scenario: &Scenario) -> Vec<Record> {
    // SAFETY: this thread has no loop of the C face's making yet.
    unsafe { iv_init() };
    let mut t0 = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the current time into `t0`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t0) };
    let (a, b): (Vec<_>, Vec<_>) = (0..FDS)
        .map(|_| {
            let (a, b) = UnixStream::pair().expect("socketpair");
            a.set_nonblocking(true).expect("set_nonblocking");
            // A full buffer means "readable" all the same.
            b.set_nonblocking(true).expect("set_nonblocking");
            (a, Some(b))
        })
        .unzip();
    let harness = new_event(0, on_harness);
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            log: Vec::new(),
            scripts: HashMap::new(),
            t0,
            timers: (0..TIMERS).map(new_timer).collect(),
            tasks: (0..TASKS).map(new_task).collect(),
            fds: (0..FDS).map(new_fd).collect(),
            events: (0..EVENTS).map(|i| new_event(i, on_event)).collect(),
            event_registered: vec![false; EVENTS as usize],
            gens: HashMap::new(),
            harness,
            a,
            b,
            graves: Vec::new(),
            callbacks: 0,
        })
    });
    // SAFETY: a fresh iv_event of this driver, registered in this thread.
    assert_eq!(unsafe { iv_event_register(harness) }, 0);

    for step in &scenario.steps {
        match step {
            Step::Do(op) => do_op(op),
            Step::Script(src, ops) => with(|s| {
                s.scripts.insert(*src, ops.clone());
            }),
            Step::Run => {
                with(|s| {
                    s.log.push(Record::Run);
                    s.callbacks = 0;
                });
                // SAFETY: the registered harness event; then this thread's
                // loop runs, with no borrow of the state held.
                unsafe {
                    iv_event_post(harness);
                    iv_main();
                }
                with(|s| s.log.push(Record::Returned));
            }
        }
    }

    // Tear down: unregister what is registered, free the loop, then the
    // structs.
    for i in 0..TIMERS {
        if registered(Src::Timer(i)) {
            unregister(Src::Timer(i));
        }
    }
    for i in 0..TASKS {
        if registered(Src::Task(i)) {
            unregister(Src::Task(i));
        }
    }
    for i in 0..FDS {
        if registered(Src::Fd(i)) {
            unregister(Src::Fd(i));
        }
    }
    for i in 0..EVENTS {
        if registered(Src::Event(i)) {
            unregister(Src::Event(i));
        }
    }
    // SAFETY: the registered harness event; then nothing is registered any
    // more and no callback runs: the loop may go.
    unsafe {
        iv_event_unregister(harness);
        iv_deinit();
    }
    let state = STATE
        .with(|s| s.borrow_mut().take())
        .expect("C driver state");
    // SAFETY: every pointer below came from Box::into_raw in this file and
    // the library holds none of them any more (nothing is registered and
    // the loop is gone).
    unsafe {
        for t in state.timers {
            drop(Box::from_raw(t));
        }
        for t in state.tasks {
            drop(Box::from_raw(t));
        }
        for f in state.fds {
            drop(Box::from_raw(f));
        }
        for e in state.events {
            drop(Box::from_raw(e));
        }
        drop(Box::from_raw(state.harness));
        for g in state.graves {
            match g {
                Grave::Timer(p) => drop(Box::from_raw(p)),
                Grave::Task(p) => drop(Box::from_raw(p)),
                Grave::Fd(p) => drop(Box::from_raw(p)),
                Grave::Event(p) => drop(Box::from_raw(p)),
            }
        }
    }
    state.log
}
