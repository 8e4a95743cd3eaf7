//! Child processes: [`Handle::watch_child`], [`Handle::spawn`],
//! [`Handle::kill_child`], [`ChildStatus`], [`ResourceUsage`],
//! [`ChildAction`], [`ChildToken`], [`SpawnedChild`].
//!
//! A child source is an interest of the engine's `wait` module: a
//! process-wide table of watched pids, reaped one pid at a time
//! (`wait4(pid, WNOHANG | WUNTRACED | WCONTINUED)`) by whichever loop hears
//! `SIGCHLD` first, and each state change handed to the loop that watches the
//! pid. The face entry owns the engine interest; since the engine's
//! unregistration borrows the loop itself, the entry unregisters it when it
//! is dropped, which the registry does outside every borrow.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::ffi::c_int;
use std::fmt;
use std::io;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use std::rc::Rc;
use std::time::Duration;

use crate::engine::slab::Key;
use crate::engine::wait::{self, NativeDelivery, RegisterError};
use crate::error::Error;
use crate::event_loop::{Handle, Token};
use crate::registry::{self, ConsumeOnUnwind, Entry};

/// A state change of a child process, decoded from the status word that
/// `wait4` reports.
///
/// ```
/// use ivykis::ChildStatus;
///
/// let status = ChildStatus::Exited(3);
/// assert!(status.has_ended());
/// assert_eq!(status.code(), Some(3));
/// assert!(!status.success());
/// assert_eq!(status.to_string(), "exited with status 3");
/// let killed = ChildStatus::Signaled { signal: libc::SIGKILL, core_dumped: false };
/// assert_eq!(killed.code(), None);
/// assert!(!ChildStatus::Stopped(libc::SIGSTOP).has_ended());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildStatus {
    /// The child called `exit` (or returned from `main`) with this status
    /// (0 to 255).
    Exited(i32),
    /// The child was ended by a signal.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether the kernel wrote a core dump.
        core_dumped: bool,
    },
    /// The child was stopped by this signal (`SIGSTOP`, `SIGTSTP`...).
    Stopped(i32),
    /// A stopped child was resumed by `SIGCONT`.
    Continued,
}

impl ChildStatus {
    /// Decodes a `wait` status word; `None` for one that is none of the
    /// four kinds.
    pub(crate) fn from_raw(status: c_int) -> Option<ChildStatus> {
        if libc::WIFEXITED(status) {
            Some(ChildStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ChildStatus::Signaled {
                signal: libc::WTERMSIG(status),
                core_dumped: libc::WCOREDUMP(status),
            })
        } else if libc::WIFSTOPPED(status) {
            Some(ChildStatus::Stopped(libc::WSTOPSIG(status)))
        } else if libc::WIFCONTINUED(status) {
            Some(ChildStatus::Continued)
        } else {
            None
        }
    }

    /// Whether the child is gone: it exited or was killed by a signal. This
    /// is the last status a child has.
    pub fn has_ended(self) -> bool {
        matches!(self, ChildStatus::Exited(_) | ChildStatus::Signaled { .. })
    }

    /// The exit status, if the child exited.
    pub fn code(self) -> Option<i32> {
        match self {
            ChildStatus::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// Whether the child exited with status 0.
    pub fn success(self) -> bool {
        self == ChildStatus::Exited(0)
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChildStatus::Exited(code) => write!(f, "exited with status {code}"),
            ChildStatus::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by signal {signal}")?;
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            ChildStatus::Stopped(signal) => write!(f, "stopped by signal {signal}"),
            ChildStatus::Continued => f.write_str("continued"),
        }
    }
}

/// The resources a child used, as `wait4` reports them with a state change.
///
/// Meaningful with the final status ([`ChildStatus::has_ended`]): the totals
/// of the child (and of the children it waited for). With a stop or a
/// continue, it holds whatever the kernel reports then (Linux: the same
/// kind of totals so far).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// CPU time spent in user mode.
    pub user_time: Duration,
    /// CPU time spent in the kernel on the child's behalf.
    pub system_time: Duration,
    /// The largest resident set size, in bytes.
    pub max_rss: u64,
}

impl ResourceUsage {
    fn from_rusage(ru: &libc::rusage) -> ResourceUsage {
        fn duration(tv: libc::timeval) -> Duration {
            let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
            let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
            Duration::from_secs(secs) + Duration::from_micros(micros)
        }
        let max_rss = u64::try_from(ru.ru_maxrss).unwrap_or(0);
        // Darwin reports bytes; Linux and the BSDs report kilobytes.
        #[cfg(not(any(target_os = "macos", target_os = "ios")))]
        let max_rss = max_rss.saturating_mul(1024);
        ResourceUsage {
            user_time: duration(ru.ru_utime),
            system_time: duration(ru.ru_stime),
            max_rss,
        }
    }
}

/// What a child callback wants done with its source afterwards.
///
/// A callback that returns `()` means [`ChildAction::Continue`]. After the
/// final status ([`ChildStatus::has_ended`]) the source is removed whatever
/// the callback returns: nothing more can come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildAction {
    /// Keep watching the child.
    Continue,
    /// Stop watching, as [`Handle::remove`] does.
    Remove,
}

impl From<()> for ChildAction {
    fn from((): ()) -> ChildAction {
        ChildAction::Continue
    }
}

/// Names a child source of one loop; returned by [`Handle::watch_child`]
/// and [`Handle::spawn`].
///
/// `Copy`, and never dangerous to keep: once the source is removed (which
/// happens by itself after the child's final status was delivered), the
/// token is stale ([`Error::Stale`]), and [`Handle::kill_child`] can no
/// longer reach the pid, which may by then belong to another process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildToken {
    pub(crate) loop_id: u64,
    pub(crate) key: Key,
    pid: libc::pid_t,
}

impl ChildToken {
    /// The watched process id.
    pub fn pid(self) -> u32 {
        self.pid.unsigned_abs()
    }
}

impl From<ChildToken> for Token {
    fn from(t: ChildToken) -> Token {
        Token::Child(t)
    }
}

/// The face entry of a child source (a variant of `registry::Entry`).
pub(crate) struct ChildEntry {
    /// Taken by `drop`, which unregisters it.
    interest: Option<wait::Interest>,
    /// The closure the engine calls (the engine holds a clone). Held so that
    /// the engine's reference is never the last.
    #[allow(dead_code)]
    callback: NativeDelivery,
}

impl Drop for ChildEntry {
    fn drop(&mut self) {
        // Entries are dropped outside every borrow (registry.rs), so the
        // engine may borrow the loop to unregister. After the loop is gone,
        // this only takes the pid out of the process-wide table.
        if let Some(interest) = self.interest.take() {
            interest.unregister();
        }
    }
}

/// A child started by [`Handle::spawn`]: its pid, its watch, and the
/// parent's ends of the pipes that the [`Command`] asked for
/// ([`Stdio::piped`](std::process::Stdio::piped)).
///
/// The pipe ends implement [`AsFd`](std::os::fd::AsFd), so they can be
/// given to [`Handle::add_fd`].
#[derive(Debug)]
#[non_exhaustive]
pub struct SpawnedChild {
    /// The watch; its callback gets the child's state changes.
    pub token: ChildToken,
    /// The child's process id.
    pub pid: u32,
    /// The writing end of the child's standard input, if piped.
    pub stdin: Option<ChildStdin>,
    /// The reading end of the child's standard output, if piped.
    pub stdout: Option<ChildStdout>,
    /// The reading end of the child's standard error, if piped.
    pub stderr: Option<ChildStderr>,
}

/// The pid as `wait4` wants it: a positive `pid_t` (0 and negative values
/// would name process groups and take other children's statuses).
fn checked_pid(pid: u32) -> Result<libc::pid_t, Error> {
    match libc::pid_t::try_from(pid) {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(Error::Io(io::Error::from_raw_os_error(libc::EINVAL))),
    }
}

/// `Ok` if `pid` is a child of this process, without collecting anything.
#[cfg(not(any(target_os = "openbsd", target_os = "redox", target_os = "wasi")))]
fn check_is_child(pid: libc::pid_t) -> Result<(), Error> {
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
    let pid = Pid::from_raw(pid).ok_or(Error::Io(io::Error::from_raw_os_error(libc::EINVAL)))?;
    // NOWAIT leaves any pending state change for the engine to collect.
    let options = WaitIdOptions::NOHANG
        | WaitIdOptions::NOWAIT
        | WaitIdOptions::EXITED
        | WaitIdOptions::STOPPED
        | WaitIdOptions::CONTINUED;
    waitid(WaitId::Pid(pid), options).map_err(io::Error::from)?;
    Ok(())
}

/// Without `waitid`, a pid that is not a child is watched but never
/// reports anything.
#[cfg(any(target_os = "openbsd", target_os = "redox", target_os = "wasi"))]
fn check_is_child(_pid: libc::pid_t) -> Result<(), Error> {
    Ok(())
}

impl Handle {
    /// Calls `callback` on this loop for every state change of child
    /// process `pid`: its exit or death by a signal, and also stops and
    /// continues (the child is watched as with `WUNTRACED | WCONTINUED`).
    ///
    /// The callback gets the handle, the [`ChildStatus`] and the
    /// [`ResourceUsage`] that came with it, and returns `()` or a
    /// [`ChildAction`]. After the final status (exit or death by signal),
    /// the source is removed, whatever the callback returns, and its token
    /// goes stale: so, like every source, a watch keeps
    /// [`EventLoop::run`](crate::EventLoop::run) going exactly until the
    /// child is gone (or until it is removed). If the callback panics, the
    /// panic unwinds out of `run`; the source stays registered unless that
    /// was the final status.
    ///
    /// A child that already ended before this call is fine: its exit is
    /// collected right after the watch is registered and delivered in the
    /// next iteration. A source removed before the child ended (or dropped
    /// with its loop) leaves the child unwatched: reaping it is then the
    /// program's business again, and it may be watched anew.
    ///
    /// **Only watched children are reaped.** The library collects statuses
    /// per watched pid, never with `wait(-1)`; children that the program
    /// waits for itself keep their statuses. Conversely, nobody else may
    /// reap a watched child (no `waitpid(-1, ...)` elsewhere in the
    /// program, no [`std::process::Child::wait`] on it): a status taken
    /// behind the library's back is never delivered.
    ///
    /// ```
    /// use std::process::Command;
    /// use ivykis::{ChildStatus, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// // Started with std, then watched: std's `Child` must not be waited on.
    /// let child = Command::new("/bin/sh").args(["-c", "exit 3"]).spawn()?;
    /// event_loop.handle().watch_child(child.id(), |_h, status, _usage| {
    ///     assert_eq!(status, ChildStatus::Exited(3));
    /// })?;
    /// drop(child); // neither waits nor kills
    /// event_loop.run(); // returns once the exit was delivered
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::AlreadyWatched`] if the pid already
    /// has a watch (in any loop of the process, or from the C library);
    /// [`Error::Io`] with `EINVAL` for pid 0 or one out of range, `ECHILD`
    /// if `pid` is not a child of this process (or was reaped already), or
    /// the error of opening the `SIGCHLD` watch's descriptors (`EMFILE`...).
    /// On error nothing stays registered.
    pub fn watch_child<R>(
        &self,
        pid: u32,
        callback: impl FnMut(&Handle, ChildStatus, ResourceUsage) -> R + 'static,
    ) -> Result<ChildToken, Error>
    where
        R: Into<ChildAction>,
    {
        self.check_alive()?;
        let pid = checked_pid(pid)?;
        check_is_child(pid)?;
        self.register_child(pid, callback)
    }

    /// Starts `command` (as [`Command::spawn`] does) and watches the child,
    /// as [`Handle::watch_child`] does; returns its pid, its token and the
    /// pipe ends the command asked for.
    ///
    /// Why not [`std::process::Child`]: its `wait` and `try_wait` would take
    /// the exit status away from the library, and its `kill` could hit
    /// another process once the library has reaped the child and the pid
    /// was reused. So the `Child` is taken apart here (dropping it neither
    /// waits nor kills); signal the child with [`Handle::kill_child`], which
    /// is serialised with reaping and refuses once the exit was collected.
    /// There is no window for a lost exit: a child that ends before the
    /// watch is registered is collected right after.
    ///
    /// ```
    /// use std::process::Command;
    /// use ivykis::{ChildStatus, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let child = event_loop.handle().spawn(
    ///     Command::new("/bin/sh").args(["-c", "exit 3"]),
    ///     |_h, status, usage| {
    ///         println!("child {status}, {:?} of CPU in user mode", usage.user_time);
    ///         assert_eq!(status, ChildStatus::Exited(3));
    ///     },
    /// )?;
    /// assert_eq!(child.token.pid(), child.pid);
    /// event_loop.run();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`] (nothing is started); [`Error::Io`] from
    /// [`Command::spawn`] (the program was not found...), or if the watch
    /// cannot be registered (`EMFILE`...), in which case the child is killed
    /// and reaped before this returns.
    pub fn spawn<R>(
        &self,
        command: &mut Command,
        callback: impl FnMut(&Handle, ChildStatus, ResourceUsage) -> R + 'static,
    ) -> Result<SpawnedChild, Error>
    where
        R: Into<ChildAction>,
    {
        self.check_alive()?;
        let mut child = command.spawn()?;
        let pid = child.id();
        let registered = checked_pid(pid).and_then(|raw| self.register_child(raw, callback));
        match registered {
            Ok(token) => Ok(SpawnedChild {
                token,
                pid,
                stdin: child.stdin.take(),
                stdout: child.stdout.take(),
                stderr: child.stderr.take(),
            }),
            Err(e) => {
                // Unwatched, it would be left running and then a zombie.
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Sends `signal` to a watched child (0 only checks that it can be
    /// signalled).
    ///
    /// The signal is sent under the lock that serialises reaping, and only
    /// while the child's exit has not been collected, so it can never reach
    /// another process that reused the pid.
    ///
    /// ```
    /// use std::process::Command;
    /// use ivykis::{ChildStatus, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let child = handle.spawn(Command::new("sleep").arg("60"), |_h, status, _| {
    ///     assert_eq!(status, ChildStatus::Signaled { signal: libc::SIGTERM, core_dumped: false });
    /// })?;
    /// handle.kill_child(child.token, libc::SIGTERM)?;
    /// event_loop.run();
    /// // The exit was delivered and the source removed.
    /// assert!(handle.kill_child(child.token, libc::SIGTERM).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Stale`] once the source is gone (after
    /// the final status was delivered, or after it was removed);
    /// [`Error::Io`] with `ESRCH` if the exit was already collected but not
    /// yet delivered, `EINVAL` for an invalid signal number.
    pub fn kill_child(&self, token: ChildToken, signal: i32) -> Result<(), Error> {
        registry::with_loop(self.id, |entries, _| match entries.get(token.key) {
            Some(Entry::Child(ChildEntry {
                interest: Some(interest),
                ..
            })) if token.loop_id == self.id => interest.kill(signal).map_err(Error::Io),
            _ => Err(Error::Stale),
        })
    }

    /// Registers a watch on `pid` (already checked) for `callback`.
    fn register_child<C, R>(&self, pid: libc::pid_t, callback: C) -> Result<ChildToken, Error>
    where
        C: FnMut(&Handle, ChildStatus, ResourceUsage) -> R + 'static,
        R: Into<ChildAction>,
    {
        let loop_id = self.id;
        let key = registry::with_loop(loop_id, |entries, _| Ok(entries.insert(Entry::Reserved)))?;
        let token = ChildToken { loop_id, key, pid };
        let callback = RefCell::new(callback);
        let closure: NativeDelivery =
            Rc::new(move |status, rusage| fire(token, &callback, status, rusage));
        // Outside `with_loop`: the engine borrows the loop itself, and may
        // collect statuses at once (queued for the next iteration).
        let registered = wait::register_native(pid, Rc::clone(&closure), "Handle::watch_child");
        let result = match registered {
            Ok(interest) => {
                let mut interest = Some(interest);
                let stored = registry::with_loop(loop_id, |entries, _| {
                    let slot = entries.get_mut(key).ok_or(Error::LoopGone)?;
                    *slot = Entry::Child(ChildEntry {
                        interest: interest.take(),
                        callback: Rc::clone(&closure),
                    });
                    Ok(())
                });
                // Only if the table vanished in between (it cannot: no user
                // code ran); never leave the pid watched for nobody.
                if let Some(interest) = interest {
                    interest.unregister();
                }
                stored
            }
            Err(e) => {
                let reserved = registry::with_loop(loop_id, |entries, _| Ok(entries.remove(key)));
                drop(reserved);
                Err(match e {
                    RegisterError::Duplicate => Error::AlreadyWatched,
                    RegisterError::Io(e) => Error::Io(e),
                })
            }
        };
        // On failure, the last references to the user's closure go here,
        // outside every borrow.
        drop(closure);
        result.map(|()| token)
    }
}

/// Calls a child source's callback for one state change and applies what it
/// returns.
fn fire<C, R>(token: ChildToken, callback: &RefCell<C>, raw: c_int, rusage: &libc::rusage)
where
    C: FnMut(&Handle, ChildStatus, ResourceUsage) -> R,
    R: Into<ChildAction>,
{
    let Some(status) = ChildStatus::from_raw(raw) else {
        return;
    };
    let usage = ResourceUsage::from_rusage(rusage);
    let handle = Handle::new(token.loop_id);
    let action = if status.has_ended() {
        // Nothing more can come: the source goes even if the callback panics.
        let consume_on_unwind = ConsumeOnUnwind {
            id: token.loop_id,
            key: token.key,
        };
        let _ = (callback.borrow_mut())(&handle, status, usage);
        consume_on_unwind.disarm();
        ChildAction::Remove
    } else {
        (callback.borrow_mut())(&handle, status, usage).into()
    };
    if action == ChildAction::Remove {
        // Stale if the callback removed its own source already.
        let _ = handle.remove(token);
    }
}
