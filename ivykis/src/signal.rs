//! Signal sources: [`Handle::add_signal`], [`SignalFlags`],
//! [`SignalAction`], [`SignalToken`].
//!
//! A signal source is a descriptor source in disguise: the engine's signal
//! object (`engine::signal::Signal`) owns a wake-up descriptor that the
//! library's signal handler posts to, and the loop watches that descriptor
//! like any other. So a signal callback is an ordinary callback, run by the
//! loop between others, never inside the signal handler; and a
//! [`SignalToken`] is, underneath, the [`FdToken`] of that source (which is
//! what it becomes as a [`Token`]).

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use crate::engine::signal::{self, Signal};
use crate::error::Error;
use crate::event_loop::{Handle, Token};
use crate::fd::{FdAction, FdToken, Interest};

/// How a signal source shares its signal with other sources of the same
/// signal (in any thread of the process). Combine with `|`.
///
/// ```
/// use ivykis::SignalFlags;
///
/// let flags = SignalFlags::EXCLUSIVE | SignalFlags::THIS_THREAD;
/// assert!(flags.contains(SignalFlags::EXCLUSIVE));
/// assert!(!SignalFlags::NONE.contains(SignalFlags::THIS_THREAD));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignalFlags(u32);

impl SignalFlags {
    /// Every source of the signal gets it.
    pub const NONE: SignalFlags = SignalFlags(0);
    /// Exclusive sources are served before the others, and the first one
    /// takes the signal from all that come after it (registration order).
    /// If it is removed while its callback is still pending, the signal
    /// passes on to the next source.
    pub const EXCLUSIVE: SignalFlags = SignalFlags(signal::EXCLUSIVE);
    /// The source sees the signal only when it is delivered to the thread
    /// that added it (sent with `pthread_kill` or `tgkill`, or raised by
    /// that thread). A signal delivered to a thread that has such sources
    /// goes to them; otherwise to the sources without this flag.
    pub const THIS_THREAD: SignalFlags = SignalFlags(signal::THIS_THREAD);

    /// Whether every flag of `other` is in `self`.
    pub const fn contains(self, other: SignalFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for SignalFlags {
    type Output = SignalFlags;

    fn bitor(self, other: SignalFlags) -> SignalFlags {
        SignalFlags(self.0 | other.0)
    }
}

impl BitOrAssign for SignalFlags {
    fn bitor_assign(&mut self, other: SignalFlags) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for SignalFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (SignalFlags::EXCLUSIVE, "EXCLUSIVE"),
            (SignalFlags::THIS_THREAD, "THIS_THREAD"),
        ]
        .into_iter()
        .filter(|(flag, _)| self.contains(*flag))
        .map(|(_, name)| name)
        .collect();
        if names.is_empty() {
            f.write_str("SignalFlags(NONE)")
        } else {
            write!(f, "SignalFlags({})", names.join(" | "))
        }
    }
}

/// What a signal callback wants done with its source afterwards.
///
/// A callback that returns `()` means [`SignalAction::Continue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalAction {
    /// Keep watching for the signal.
    Continue,
    /// Remove the source, as [`Handle::remove`] does.
    Remove,
}

impl From<()> for SignalAction {
    fn from((): ()) -> SignalAction {
        SignalAction::Continue
    }
}

/// Names a signal source of one loop; returned by [`Handle::add_signal`].
///
/// `Copy`, and never dangerous to keep: once the source is removed, the
/// token is stale ([`Error::Stale`]). As a [`Token`] it is the
/// [`Token::Fd`] of the descriptor the source watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalToken {
    fd: FdToken,
    signum: i32,
}

impl SignalToken {
    /// The signal number the source watches.
    pub fn signum(self) -> i32 {
        self.signum
    }
}

impl From<SignalToken> for Token {
    fn from(t: SignalToken) -> Token {
        Token::Fd(t.fd)
    }
}

impl Handle {
    /// Calls `callback` on this loop whenever signal `signum` is delivered to
    /// the process (see [`SignalFlags`] for sharing it with other sources and
    /// threads).
    ///
    /// The callback runs as an ordinary loop callback, in this thread,
    /// never inside the signal handler, so it may do anything any callback
    /// does. It gets the handle and the signal number, and returns `()` or
    /// a [`SignalAction`]. Signals that arrive before it runs are coalesced
    /// into one call; a signal that arrives while it runs gives another call
    /// afterwards. A source keeps [`EventLoop::run`](crate::EventLoop::run)
    /// going, like any source, until it is removed. If the callback panics,
    /// the panic unwinds out of `run` and the source stays registered, as a
    /// descriptor source does.
    ///
    /// While any source (of any loop of the process) watches a signal, the
    /// library's handler is installed for it (with `SA_RESTART`); when the
    /// last one is removed, the signal's disposition goes back to the
    /// default (`SIG_DFL`), not to what it was before. A forked child that
    /// has not called `exec` never reaches the parent's callbacks: signals
    /// sent to it are ignored until it adds a source of its own, which
    /// starts from a clean slate.
    ///
    /// ```
    /// use ivykis::{EventLoop, SignalAction, SignalFlags};
    /// use rustix::process::{getpid, kill_process, Signal};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// handle.add_signal(libc::SIGUSR1, SignalFlags::NONE, |_h, signum| {
    ///     assert_eq!(signum, libc::SIGUSR1);
    ///     println!("got SIGUSR1");
    ///     SignalAction::Remove // nothing else registered: run returns
    /// })?;
    /// // Send the signal to ourselves; the callback runs in `run`, not here.
    /// kill_process(getpid(), Signal::USR1)?;
    /// event_loop.run();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] with `EINVAL` for a signal number
    /// out of range or one that cannot be caught (`SIGKILL`, `SIGSTOP`,
    /// the C library's internal ones), or the error of opening the wake-up
    /// descriptor (`EMFILE`...). On error nothing stays registered.
    pub fn add_signal<R>(
        &self,
        signum: i32,
        flags: SignalFlags,
        mut callback: impl FnMut(&Handle, i32) -> R + 'static,
    ) -> Result<SignalToken, Error>
    where
        R: Into<SignalAction>,
    {
        self.check_alive()?;
        let source = Signal::register(signum, flags.0)?;
        // If adding fails, `source` is dropped, which unregisters it.
        let fd = self.add_fd(source, Interest::READABLE, move |h, source, _ready| {
            // A wake-up that an earlier call already served: nothing to do.
            if !source.take() {
                return FdAction::Continue;
            }
            match callback(h, signum).into() {
                SignalAction::Continue => FdAction::Continue,
                SignalAction::Remove => FdAction::Remove,
            }
        })?;
        Ok(SignalToken { fd, signum })
    }
}
