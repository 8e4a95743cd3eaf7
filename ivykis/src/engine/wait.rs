//! Child-process state changes (`iv_wait`, SPEC 6).
//!
//! A process-wide registry maps each watched pid to its interest. Every
//! loop that holds interests also holds a SIGCHLD [`Signal`]; whichever loop
//! hears SIGCHLD first reaps for everybody: under the registry lock it calls
//! `wait4(pid, WNOHANG | WUNTRACED | WCONTINUED)` for each watched, still
//! living pid, queues each state change on its interest and posts the
//! interest's event to the loop that registered it, where the handler runs.
//!
//! **Only watched children are reaped.** The library never calls
//! `wait4(-1, ...)`, so children the program started and watches by other
//! means (its own SIGCHLD handler, `waitpid`) keep their statuses.
//!
//! **No lost exit, no signal to a recycled pid.** Reaping, spawning
//! ([`register_spawn`] forks and registers while holding the registry lock)
//! and [`Interest::kill`] (which refuses once the exit was collected) are
//! serialised by the same lock. A plain [`register`] of a pid that may have
//! ended already reaps once right away, so an exit whose SIGCHLD came before
//! the registration is still seen.

use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::callback::Callback;
use super::fd::Registration;
use super::signal::Signal;
use super::slab::Key;
use super::wake::Hub;
use crate::sys::Bands;

/// A state change as `wait4` reports it.
pub type Status = (c_int, libc::rusage);

/// What a face's delivery callback receives: the status word and a pointer
/// to the resource usage (valid during the call).
pub type Delivery = (c_int, *const libc::rusage);

struct Shared {
    /// Set once, under the registry lock, before the interest is published
    /// (an atomic because `register_spawn` learns it after the event that
    /// shares this record already exists).
    pid: AtomicI32,
    statuses: Mutex<VecDeque<Status>>,
    hub: Arc<Hub>,
    key: u64,
    registered: AtomicBool,
    /// The exit (or death by signal) was collected; the pid may be reused.
    dead: AtomicBool,
}

fn registry() -> MutexGuard<'static, HashMap<libc::pid_t, Arc<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<libc::pid_t, Arc<Shared>>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The SIGCHLD watch of one loop, shared by its interests.
#[derive(Default)]
pub struct LoopWaits {
    interests: usize,
    watch: Option<(Rc<Signal>, Key)>,
}

/// A registered interest in one child (the registering thread's handle).
pub struct Interest {
    shared: Arc<Shared>,
    event: Key,
    loop_id: u64,
}

/// Why a registration failed.
#[derive(Debug)]
pub enum RegisterError {
    /// The pid already has a registered interest.
    Duplicate,
    /// No descriptor for the SIGCHLD watch or the wake-up object, or fork
    /// failed.
    Io(io::Error),
}

impl From<io::Error> for RegisterError {
    fn from(e: io::Error) -> Self {
        RegisterError::Io(e)
    }
}

/// Watches state changes of child `pid`; `deliver` runs in this thread for
/// each. `what` names the caller in fatal messages.
pub fn register(
    pid: libc::pid_t,
    deliver: Callback<Delivery>,
    what: &str,
) -> Result<Interest, RegisterError> {
    let interest = {
        let mut reg = registry();
        // An interest whose child's exit was collected but which was never
        // unregistered does not own the pid any more: the kernel may have
        // given it to this new child.
        if reg
            .get(&pid)
            .is_some_and(|s| !s.dead.load(Ordering::Acquire))
        {
            return Err(RegisterError::Duplicate);
        }
        let interest = prepare(pid, deliver, what)?;
        reg.insert(pid, Arc::clone(&interest.shared));
        interest
    };
    // The child may have changed state before we watched it.
    reap_all();
    Ok(interest)
}

/// A child process started by [`register_spawn`] runs this.
pub type SpawnFn = unsafe extern "C" fn(*mut c_void);

/// Forks a child running `child(arg)` (then `exit(1)`, as ivykis does) and
/// watches it, atomically with respect to reaping.
///
/// # Safety
///
/// `child(arg)` must be sound to call in the forked child, which has only
/// the calling thread.
pub unsafe fn register_spawn(
    child: SpawnFn,
    arg: *mut c_void,
    deliver: Callback<Delivery>,
    what: &str,
) -> Result<Interest, RegisterError> {
    let mut reg = registry();
    // Prepared with pid 0 and fixed below: the event and watch must exist
    // before the child does, so that nothing can fail after the fork.
    let interest = prepare(0, deliver, what)?;
    // SAFETY: fork has no memory preconditions; see below for the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: the caller vouched for `child(arg)` in the child; exit(1)
        // afterwards matches ivykis (atexit handlers run, as there).
        unsafe {
            child(arg);
            libc::exit(1);
        }
    }
    if pid < 0 {
        let e = io::Error::last_os_error();
        drop(reg);
        interest.unregister();
        return Err(RegisterError::Io(e));
    }
    interest.shared.pid.store(pid, Ordering::Relaxed);
    // A fresh pid: any entry for it is a stale, collected interest.
    reg.insert(pid, Arc::clone(&interest.shared));
    Ok(interest)
}

/// Sets up the event and the loop's SIGCHLD watch for an interest.
fn prepare(pid: libc::pid_t, deliver: Callback<Delivery>, what: &str) -> io::Result<Interest> {
    super::with(what, |l| {
        ensure_watch(l)?;
        let shared_cell: Rc<OnceCell<Arc<Shared>>> = Rc::new(OnceCell::new());
        let on_post = {
            let shared_cell = Rc::clone(&shared_cell);
            Callback::Native(Rc::new(move |()| {
                if let Some(shared) = shared_cell.get() {
                    deliver_statuses(shared, &deliver);
                }
            }))
        };
        let registered = l.events.register(&mut *l.poller, l.id, on_post);
        let (event, hub) = match registered {
            Ok(r) => r,
            Err(e) => {
                release_watch(l);
                return Err(e);
            }
        };
        let shared = Arc::new(Shared {
            pid: AtomicI32::new(pid),
            statuses: Mutex::new(VecDeque::new()),
            hub,
            key: event.to_raw(),
            registered: AtomicBool::new(true),
            dead: AtomicBool::new(false),
        });
        let _ = shared_cell.set(Arc::clone(&shared));
        l.waits.interests += 1;
        Ok(Interest {
            shared,
            event,
            loop_id: l.id,
        })
    })
}

fn ensure_watch(l: &mut super::Loop) -> io::Result<()> {
    if l.waits.watch.is_some() {
        return Ok(());
    }
    let signal = Rc::new(Signal::register(libc::SIGCHLD, 0)?);
    let on_sigchld = {
        let signal = Rc::clone(&signal);
        Callback::Native(Rc::new(move |_band: Bands| {
            if signal.take() {
                reap_all();
            }
        }))
    };
    let fd = signal.as_fd().as_raw_fd();
    let key = l.fds.register(
        &mut *l.poller,
        fd,
        Bands::IN,
        on_sigchld,
        Registration::Immediate,
    )?;
    l.waits.watch = Some((signal, key));
    Ok(())
}

fn release_watch(l: &mut super::Loop) {
    if l.waits.interests == 0 {
        if let Some((signal, key)) = l.waits.watch.take() {
            l.fds.unregister(&mut *l.poller, key);
            drop(signal);
        }
    }
}

/// Owner thread: hand each queued state change to the face, stopping if the
/// face unregisters the interest meanwhile.
fn deliver_statuses(shared: &Shared, deliver: &Callback<Delivery>) {
    while shared.registered.load(Ordering::Acquire) {
        let next = shared
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some((status, rusage)) = next else {
            break;
        };
        deliver.call((status, &rusage));
    }
}

/// Collects every pending state change of every watched child and sends
/// each to its interest's loop.
pub fn reap_all() {
    let reg = registry();
    for shared in reg.values() {
        if shared.dead.load(Ordering::Acquire) {
            continue;
        }
        loop {
            let mut status: c_int = 0;
            // SAFETY: a zeroed rusage is a valid value of the plain C struct.
            let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: valid out-pointers for the call.
            let r = unsafe {
                libc::wait4(
                    shared.pid.load(Ordering::Relaxed),
                    &mut status,
                    libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED,
                    &mut rusage,
                )
            };
            if r == 0 {
                break;
            }
            if r < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // Not (or no longer) our child: nothing will come.
                    _ => {
                        shared.dead.store(true, Ordering::Release);
                        break;
                    }
                }
            }
            let ended = libc::WIFEXITED(status) || libc::WIFSIGNALED(status);
            if ended {
                shared.dead.store(true, Ordering::Release);
            }
            shared
                .statuses
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back((status, rusage));
            let _ = shared.hub.post(shared.key);
            if ended {
                break;
            }
        }
    }
}

impl Interest {
    /// The watched pid.
    pub fn pid(&self) -> libc::pid_t {
        self.shared.pid.load(Ordering::Relaxed)
    }

    /// The id of the loop it was registered in.
    pub fn loop_id(&self) -> u64 {
        self.loop_id
    }

    /// Sends `sig` to the child, unless its exit was already collected
    /// (then its pid may belong to another process: ESRCH).
    pub fn kill(&self, sig: c_int) -> io::Result<()> {
        let _reg = registry();
        if self.shared.dead.load(Ordering::Acquire) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: plain syscall; the pid is still our unreaped child.
        if unsafe { libc::kill(self.pid(), sig) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops watching, in the registering thread. Queued state changes are
    /// dropped.
    pub fn unregister(self) {
        self.shared.registered.store(false, Ordering::Release);
        {
            let mut reg = registry();
            let pid = self.pid();
            if reg.get(&pid).is_some_and(|s| Arc::ptr_eq(s, &self.shared)) {
                reg.remove(&pid);
            }
        }
        super::try_with(|l| {
            if l.id != self.loop_id {
                return;
            }
            l.events.unregister(self.event);
            l.waits.interests -= 1;
            release_watch(l);
        });
    }
}

// ---------------------------------------------------------------------------
// Safe entry point for the Rust face (`ivykis/src/child.rs`), which has no
// `unsafe` with which to read the rusage pointer of a [`Delivery`].

/// A Rust-face delivery: the status word and the resource usage, borrowed
/// for the call.
pub type NativeDelivery = Rc<dyn Fn(c_int, &libc::rusage)>;

/// [`register`] for a closure that gets the resource usage as a reference.
pub fn register_native(
    pid: libc::pid_t,
    deliver: NativeDelivery,
    what: &str,
) -> Result<Interest, RegisterError> {
    let callback = Callback::Native(Rc::new(move |(status, rusage): Delivery| {
        // SAFETY: this callback is moved into `register` just below and never
        // handed out, so its only caller is `deliver_statuses`, which passes
        // the address of a `rusage` it owns and keeps alive for the call.
        let rusage = unsafe { &*rusage };
        deliver(status, rusage);
    }));
    register(pid, callback, what)
}
