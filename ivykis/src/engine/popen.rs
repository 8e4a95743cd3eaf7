//! `popen` on the loop (`iv_popen`, SPEC 8).
//!
//! [`spawn`] forks a child that runs `execvp(file, argv)` with its standard
//! output ("r") or standard input ("w") connected to a pipe, and returns the
//! parent's end (non-blocking, close-on-exec) and a [`Child`]. The child is
//! watched with [`wait`](mod@crate::engine::wait) from the start, so its exit is
//! collected whenever it happens; no zombie is left whatever the order of
//! events.
//!
//! [`Child::close`] stops the program's interest. A child still running
//! then ends in the background: SIGTERM at once and again every
//! [`TERM_INTERVAL`], [`TERM_TRIES`] times in all, then SIGKILL. Its
//! interest and timer keep the loop running until it is reaped.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use super::callback::Callback;
use super::slab::Key;
use super::time;
use super::wait::{self, Delivery, Interest};

/// Time between two SIGTERMs (and from the last one to SIGKILL).
pub const TERM_INTERVAL: Duration = Duration::from_secs(2);
/// SIGTERMs sent before SIGKILL.
pub const TERM_TRIES: u32 = 3;

/// Which end of the child the parent gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// The parent reads the child's standard output ("r").
    Read,
    /// The parent writes the child's standard input ("w").
    Write,
}

struct State {
    interest: RefCell<Option<Interest>>,
    closing: Cell<bool>,
    terms_sent: Cell<u32>,
    timer: Cell<Option<Key>>,
    /// The status word of the child's exit (or death by signal), once
    /// collected (read by the Rust face: [`Child::exit_status`]).
    exit: Cell<Option<c_int>>,
}

/// A child started by [`spawn`], until [`Child::close`].
pub struct Child {
    state: Rc<State>,
}

/// What the forked child needs; lives in the parent's frame, copied into
/// the child by `fork`.
struct ExecPlan {
    file: *const c_char,
    argv: *const *const c_char,
    pipe_end: c_int,
    target: c_int,
}

unsafe extern "C" fn exec_child(plan: *mut c_void) {
    let plan = plan.cast::<ExecPlan>();
    // SAFETY: in the forked child, `plan` points into the parent's frame,
    // copied by fork. Only async-signal-safe calls are made before execvp
    // (dup2 also clears close-on-exec on the target descriptor).
    unsafe {
        let p = &*plan;
        if p.pipe_end != p.target {
            libc::dup2(p.pipe_end, p.target);
        } else {
            let flags = libc::fcntl(p.target, libc::F_GETFD);
            libc::fcntl(p.target, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
        }
        libc::execvp(p.file, p.argv);
        libc::_exit(127);
    }
}

/// Starts `file` with `argv` (NULL-terminated). `what` names the caller in
/// fatal messages.
///
/// # Safety
///
/// `file` and `argv` must be valid C strings and a NULL-terminated array of
/// them, as for `execvp`.
pub unsafe fn spawn(
    file: &CStr,
    argv: *const *const c_char,
    direction: Direction,
    what: &str,
) -> io::Result<(OwnedFd, Child)> {
    let mut fds = [0; 2];
    // SAFETY: room for the two descriptors pipe2 returns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors owned by nobody else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let (parent_end, child_end, target) = match direction {
        Direction::Read => (read_end, write_end, libc::STDOUT_FILENO),
        Direction::Write => (write_end, read_end, libc::STDIN_FILENO),
    };
    let mut plan = ExecPlan {
        file: file.as_ptr(),
        argv,
        pipe_end: std::os::fd::AsRawFd::as_raw_fd(&child_end),
        target,
    };
    let state = Rc::new(State {
        interest: RefCell::new(None),
        closing: Cell::new(false),
        terms_sent: Cell::new(0),
        timer: Cell::new(None),
        exit: Cell::new(None),
    });
    let on_state = {
        let state = Rc::clone(&state);
        Callback::Native(Rc::new(move |(status, _): Delivery| {
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                state.exit.set(Some(status));
                reaped(&state);
            }
        }))
    };
    // SAFETY: `exec_child` only makes async-signal-safe calls before exec,
    // and `plan` outlives the fork.
    let interest = unsafe {
        wait::register_spawn(
            exec_child,
            (&mut plan as *mut ExecPlan).cast(),
            on_state,
            what,
        )
    }
    .map_err(|e| match e {
        wait::RegisterError::Io(e) => e,
        wait::RegisterError::Duplicate => io::Error::from_raw_os_error(libc::EEXIST),
    })?;
    drop(child_end);
    *state.interest.borrow_mut() = Some(interest);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&parent_end);
    // SAFETY: plain fcntl on our own descriptor.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Ok((parent_end, Child { state }))
}

/// The child's exit was collected: stop watching and stop escalating.
fn reaped(state: &Rc<State>) {
    if let Some(key) = state.timer.take() {
        super::try_with(|l| l.timers.unregister(key));
    }
    if let Some(interest) = state.interest.borrow_mut().take() {
        interest.unregister();
    }
}

impl Child {
    /// The child's pid (0 once reaped).
    pub fn pid(&self) -> libc::pid_t {
        self.state
            .interest
            .borrow()
            .as_ref()
            .map_or(0, Interest::pid)
    }

    /// The status word of the child's exit (as `wait4` reports it), once it
    /// was collected; `None` while the child runs.
    pub fn exit_status(&self) -> Option<c_int> {
        self.state.exit.get()
    }

    /// Stops watching on behalf of the program; a child still running is
    /// ended in the background (see the module documentation).
    pub fn close(self) {
        let state = self.state;
        if state.closing.replace(true) || state.interest.borrow().is_none() {
            return;
        }
        escalate(&state);
    }
}

/// Sends the next signal of the escalation and schedules the one after.
fn escalate(state: &Rc<State>) {
    let sent = state.terms_sent.get();
    let sig = if sent < TERM_TRIES {
        libc::SIGTERM
    } else {
        libc::SIGKILL
    };
    let alive = state
        .interest
        .borrow()
        .as_ref()
        .is_some_and(|i| i.kill(sig).is_ok());
    if !alive || sig == libc::SIGKILL {
        // Reaped already, or killed for good: the exit comes through the
        // interest, which keeps the loop running until then.
        return;
    }
    state.terms_sent.set(sent + 1);
    let next = {
        let state = Rc::clone(state);
        Callback::Native(Rc::new(move |()| {
            state.timer.set(None);
            escalate(&state);
        }))
    };
    let deadline = time::now().saturating_add(TERM_INTERVAL);
    let key = super::with("iv_popen_request_close", |l| {
        l.timers.register(deadline, next)
    });
    state.timer.set(Some(key));
}

// ---------------------------------------------------------------------------
// Safe entry point for the Rust face (`ivykis/src/popen.rs`), which has no
// `unsafe` with which to build the C argument vector.

/// [`spawn`] with the argument vector as a slice (`argv[0]` first); the
/// NULL-terminated array of pointers is built here.
pub fn spawn_args(
    file: &CStr,
    argv: &[&CStr],
    direction: Direction,
    what: &str,
) -> io::Result<(OwnedFd, Child)> {
    let pointers: Vec<*const c_char> = argv
        .iter()
        .map(|arg| arg.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: `file` is a C string, and `pointers` a NULL-terminated array of
    // C strings borrowed from `argv`; both outlive the call, and `spawn` uses
    // them only until its fork returns (the child has its own copy).
    unsafe { spawn(file, pointers.as_ptr(), direction, what) }
}
