//! The one error type of the Rust face.

#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// What can go wrong when talking to an event loop.
///
/// Misuse that the C library treats as fatal (unregistering twice, touching
/// a freed loop) is an ordinary `Err` here: a stale token or a handle that
/// outlived its loop can never reach the wrong source.
///
/// `Error` converts into [`std::io::Error`], so `?` works in functions that
/// return `io::Result`.
///
/// ```
/// use ivykis::{Error, EventLoop};
///
/// let event_loop = EventLoop::new()?;
/// // One loop per thread.
/// assert!(matches!(EventLoop::new(), Err(Error::AlreadyInitialized)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// [`EventLoop::new`](crate::EventLoop::new): this thread already has an
    /// event loop (from this crate or from the C library).
    AlreadyInitialized,
    /// The handle's loop no longer exists: its [`EventLoop`](crate::EventLoop)
    /// was dropped, possibly replaced by a newer one on the same thread.
    LoopGone,
    /// The token does not name a live source of this loop: the source was
    /// removed, a one-shot timer or task already ran, or the token belongs
    /// to another (possibly older) loop.
    Stale,
    /// [`Handle::watch_child`](crate::Handle::watch_child): the process
    /// already has a watch (in some loop of the process, or from the C
    /// library's `iv_wait_interest`).
    AlreadyWatched,
    /// The operating system refused: opening the poll backend, setting the
    /// descriptor's flags, or watching it (for example `EPERM` for a regular
    /// file under epoll).
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyInitialized => f.write_str("this thread already has an event loop"),
            Error::LoopGone => f.write_str("the event loop behind this handle no longer exists"),
            Error::Stale => f.write_str("the token does not name a registered source of this loop"),
            Error::AlreadyWatched => f.write_str("the child process is already watched"),
            Error::Io(e) => write!(f, "event loop I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    /// [`Error::Io`] gives back the OS error; the others become
    /// [`io::ErrorKind::Other`] errors carrying the `Error`.
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}
