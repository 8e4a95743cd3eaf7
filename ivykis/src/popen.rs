//! `popen` on the loop: [`Handle::popen`], [`PopenMode`], [`Popen`].
//!
//! A thin face over the engine's `popen` module, which the C library's
//! `iv_popen_request` uses too: the child is forked and watched atomically
//! with respect to reaping, and closing it while it still runs ends it in
//! the background (SIGTERM, repeated, then SIGKILL) and reaps it.

#![forbid(unsafe_code)]

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::child::ChildStatus;
use crate::engine::{self, popen};
use crate::error::Error;
use crate::event_loop::Handle;

/// Which end of the child's standard streams the parent gets from
/// [`Handle::popen`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PopenMode {
    /// Read the child's standard output (`"r"`).
    Read,
    /// Write the child's standard input (`"w"`).
    Write,
}

/// A child started by [`Handle::popen`]; closing it (or dropping it) ends
/// the program's interest in the child.
///
/// If the child still runs then, it is ended in the background: SIGTERM at
/// once, again every two seconds, three times in all, then SIGKILL. Until
/// the child is reaped, its watch (and the escalation's timer) keep
/// [`EventLoop::run`](crate::EventLoop::run) going, so no zombie is left
/// behind. A child that already exited is simply forgotten.
///
/// Keep the `Popen` as long as you want the child to run: dropping it right
/// away terminates the child. Whether or not it is kept, the child's exit
/// is collected when it happens (the loop runs until then), and
/// [`Popen::status`] reports it.
///
/// If the loop is gone when the `Popen` is closed, nothing is done to the
/// child. A `Popen` is neither `Send` nor `Sync`.
pub struct Popen {
    /// `None` once closed.
    child: Option<popen::Child>,
    pid: u32,
    loop_id: u64,
}

impl Popen {
    /// The child's process id. Once the child was reaped ([`Popen::status`]
    /// is `Some`), the pid may belong to another process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's exit (or death by a signal), once the loop has collected
    /// it; `None` while it runs.
    pub fn status(&self) -> Option<ChildStatus> {
        self.child
            .as_ref()
            .and_then(popen::Child::exit_status)
            .and_then(ChildStatus::from_raw)
    }

    /// Ends the program's interest in the child (see [`Popen`]): a child
    /// that still runs is terminated in the background and reaped. Dropping
    /// the `Popen` does the same.
    ///
    /// The pipe end is not touched; drop it as well (a child writing to a
    /// pipe nobody reads gets `EPIPE` or `SIGPIPE`).
    pub fn close(mut self) {
        self.close_child();
    }

    fn close_child(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        // The escalation needs the loop (its timer); without it, only the
        // engine's state is dropped (the pid stays in the engine's table).
        if engine::current_id() == Some(self.loop_id) {
            child.close();
        }
    }
}

impl Drop for Popen {
    fn drop(&mut self) {
        self.close_child();
    }
}

impl fmt::Debug for Popen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Popen")
            .field("pid", &self.pid)
            .field("status", &self.status())
            .finish()
    }
}

fn c_string(s: &OsStr) -> Result<CString, Error> {
    CString::new(s.as_bytes()).map_err(|_| {
        Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "popen: program or argument contains a NUL byte",
        ))
    })
}

impl Handle {
    /// Starts `program` with `args` (found through `PATH` unless it contains
    /// a `/`, as `execvp` does) and returns the parent's end of a pipe to
    /// its standard output ([`PopenMode::Read`]) or standard input
    /// ([`PopenMode::Write`]), and the [`Popen`] that ends the child.
    ///
    /// The other standard streams are inherited. The pipe end is
    /// non-blocking and close-on-exec: register it with [`Handle::add_fd`]
    /// (a short synchronous write of less than a pipe's capacity also
    /// works). A `program` that cannot be run shows up as exit status 127.
    ///
    /// This is the engine's `popen`, the one behind the C library's
    /// `iv_popen_request`. To get the child's standard error too, or to
    /// set its environment, use [`Handle::spawn`] with a
    /// [`Command`](std::process::Command) instead.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::io::{self, Read};
    /// use std::rc::Rc;
    /// use ivykis::{ChildStatus, EventLoop, FdAction, Interest, PopenMode};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let (output, child) = handle.popen("echo", ["hello", "world"], PopenMode::Read)?;
    /// let text = Rc::new(RefCell::new(Vec::new()));
    /// let sink = Rc::clone(&text);
    /// handle.add_fd(output, Interest::READABLE, move |_h, output, _ready| {
    ///     let mut buf = [0; 256];
    ///     match output.read(&mut buf) {
    ///         Ok(0) => FdAction::Remove, // end of file
    ///         Ok(n) => {
    ///             sink.borrow_mut().extend_from_slice(&buf[..n]);
    ///             FdAction::Continue
    ///         }
    ///         Err(e) if e.kind() == io::ErrorKind::WouldBlock => FdAction::Continue,
    ///         Err(e) => panic!("read: {e}"),
    ///     }
    /// })?;
    /// // Runs until the pipe is drained and the child has been reaped.
    /// event_loop.run();
    /// assert_eq!(&*text.borrow(), b"hello world\n");
    /// assert_eq!(child.status(), Some(ChildStatus::Exited(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] with [`io::ErrorKind::InvalidInput`]
    /// if `program` or an argument contains a NUL byte, or the error of
    /// `pipe`, `fork` or of opening the `SIGCHLD` watch (`EMFILE`,
    /// `EAGAIN`...).
    pub fn popen<I, S>(
        &self,
        program: impl AsRef<OsStr>,
        args: I,
        mode: PopenMode,
    ) -> Result<(File, Popen), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.check_alive()?;
        let program = c_string(program.as_ref())?;
        let args = args
            .into_iter()
            .map(|arg| c_string(arg.as_ref()))
            .collect::<Result<Vec<CString>, Error>>()?;
        let argv: Vec<&CStr> = std::iter::once(program.as_c_str())
            .chain(args.iter().map(CString::as_c_str))
            .collect();
        let direction = match mode {
            PopenMode::Read => popen::Direction::Read,
            PopenMode::Write => popen::Direction::Write,
        };
        let (fd, child) = popen::spawn_args(&program, &argv, direction, "Handle::popen")?;
        let pid = child.pid().unsigned_abs();
        Ok((
            File::from(fd),
            Popen {
                child: Some(child),
                pid,
                loop_id: self.id,
            },
        ))
    }
}
