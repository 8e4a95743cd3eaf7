//! Pumps: moving everything readable from one descriptor to another.
//! [`Handle::add_pump`] and [`Handle::add_duplex_pump`] (self-driving,
//! report to a closure), [`Pump`] (the low-level form), [`PumpOptions`],
//! [`PumpStatus`], [`PumpToken`].
//!
//! A self-driving pump is made of descriptor sources: one per distinct
//! descriptor, whose callbacks call the engine's pump and set each
//! source's interest to what the pump wants next. Its [`PumpToken`] is,
//! as a [`Token`], the first of those sources; removing it cancels the
//! pump, because each source's closure owns a guard that removes the other
//! source when it is dropped.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::rc::Rc;

use crate::engine::pump::{self, Step};
use crate::error::Error;
use crate::event_loop::{Handle, Token};
use crate::fd::{FdAction, FdToken, Interest, Ready};

/// How a pump moves data.
///
/// ```
/// use ivykis::PumpOptions;
///
/// let proxy = PumpOptions::new().relay_eof(true);
/// assert!(proxy.relays_eof());
/// assert!(proxy.uses_splice());
/// assert!(!PumpOptions::new().splice(false).uses_splice());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PumpOptions {
    relay_eof: bool,
    splice: bool,
}

impl PumpOptions {
    /// No end-of-file relay; splice where the descriptors allow it.
    pub const fn new() -> PumpOptions {
        PumpOptions {
            relay_eof: false,
            splice: true,
        }
    }

    /// At end of input, once everything read was written, shut down the
    /// writing side of the output (`shutdown(SHUT_WR)`), so that the peer
    /// reading it sees end of file while the other direction of the
    /// connection stays open. An output that is not a socket (a pipe, a
    /// file) cannot be shut down and is left as it is; it shows end of file
    /// once it is closed.
    pub const fn relay_eof(self, yes: bool) -> PumpOptions {
        PumpOptions {
            relay_eof: yes,
            ..self
        }
    }

    /// Whether to try `splice(2)` (Linux) before copying through a
    /// buffer; on by default. With splice the data goes through a pipe of
    /// the pump's own and never enters user space; a pump falls back to
    /// its buffer by itself when a descriptor refuses to splice, the pipe
    /// cannot be created, or the system has no splice. Switching it off
    /// forces the buffer (`read`/`write`) from the start.
    pub const fn splice(self, yes: bool) -> PumpOptions {
        PumpOptions {
            splice: yes,
            ..self
        }
    }

    /// See [`PumpOptions::relay_eof`].
    pub const fn relays_eof(self) -> bool {
        self.relay_eof
    }

    /// See [`PumpOptions::splice`].
    pub const fn uses_splice(self) -> bool {
        self.splice
    }

    fn engine(self) -> pump::Options {
        pump::Options {
            relay_eof: self.relay_eof,
            splice: self.splice,
        }
    }
}

impl Default for PumpOptions {
    fn default() -> PumpOptions {
        PumpOptions::new()
    }
}

/// What a [`Pump::pump`] call achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PumpStatus {
    /// More to do. Call again once the input is ready for `from` (either
    /// [`Interest::READABLE`] or [`Interest::NONE`]) or the output is ready
    /// for `to` ([`Interest::WRITABLE`] or [`Interest::NONE`]); at least one
    /// of them is set. They are the interest to give each descriptor's
    /// source until the next call (`from | to` if both are one descriptor).
    Pending {
        /// What to wait for on the input.
        from: Interest,
        /// What to wait for on the output.
        to: Interest,
    },
    /// End of input was seen and everything read was written (and, with
    /// [`PumpOptions::relay_eof`], the output was shut down). Every later
    /// call returns `Done` again.
    Done,
}

/// The low-level pump: state that moves data from one descriptor to
/// another when you call [`Pump::pump`]; you watch the descriptors.
///
/// Each call moves what it can without blocking (the descriptors should
/// be non-blocking, as [`Handle::add_fd`] makes them), then says which
/// readiness to wait for before the next call ([`PumpStatus`]). The pump
/// owns no descriptor: pass the same two with every call. What it holds in
/// transit is at most one pipe's or buffer's worth (64 KiB); a call in
/// steady state allocates nothing.
///
/// For a pump that watches its descriptors by itself, see
/// [`Handle::add_pump`] and [`Handle::add_duplex_pump`].
///
/// An echo service for one connection: the pump reads from the socket and
/// writes back to it, so one source with the union of both interests does.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use ivykis::{EventLoop, FdAction, Interest, Pump, PumpOptions, PumpStatus};
///
/// let event_loop = EventLoop::new()?;
/// let (mut client, server) = UnixStream::pair()?;
/// let mut pump = Pump::new(PumpOptions::new().relay_eof(true));
/// event_loop.handle().add_fd(server, Interest::READABLE, move |_h, server, _ready| {
///     match pump.pump(&*server, &*server) {
///         Ok(PumpStatus::Pending { from, to }) => FdAction::SetInterest(from | to),
///         Ok(PumpStatus::Done) => FdAction::Remove, // closes the server end
///         Err(e) => panic!("echo: {e}"),
///     }
/// })?;
/// client.write_all(b"ping")?;
/// client.shutdown(std::net::Shutdown::Write)?;
/// event_loop.run(); // until the pump is done
/// let mut echoed = String::new();
/// client.read_to_string(&mut echoed)?;
/// assert_eq!(echoed, "ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pump {
    inner: pump::Pump,
}

impl Pump {
    /// A pump that has moved nothing yet. It opens and allocates nothing
    /// until the first call that reads.
    pub fn new(options: PumpOptions) -> Pump {
        Pump {
            inner: pump::Pump::new(options.engine()),
        }
    }

    /// Moves what can be moved from `from` to `to` without blocking.
    ///
    /// Passing other descriptors than in earlier calls is allowed and
    /// harmless to memory, but the data in transit then goes to the new
    /// output.
    ///
    /// # Errors
    ///
    /// The first error of reading, writing or shutting down other than
    /// "would block" and "interrupted" (`EPIPE` when the output's reader is
    /// gone, `ECONNRESET`...). Errors stick: every later call returns the
    /// same error, and the data in transit is lost.
    pub fn pump(&mut self, from: impl AsFd, to: impl AsFd) -> io::Result<PumpStatus> {
        let from = from.as_fd().as_raw_fd();
        let to = to.as_fd().as_raw_fd();
        self.inner.pump(from, to).map(status)
    }

    /// What the pump waits for now: as the last [`PumpStatus::Pending`]
    /// said, `(READABLE, NONE)` before the first call, and `(NONE, NONE)`
    /// once it is done or failed.
    pub fn wants(&self) -> (Interest, Interest) {
        bands(self.inner.wants())
    }

    /// Whether a call returned [`PumpStatus::Done`].
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    /// Bytes read and not yet written.
    pub fn in_transit(&self) -> usize {
        self.inner.held()
    }

    /// Bytes written to the output so far.
    pub fn moved(&self) -> u64 {
        self.inner.moved()
    }

    /// `Some(true)` while the pump splices, `Some(false)` once it copies
    /// through its buffer, `None` before the first read decided (and again
    /// once it is done and gave its pipe or buffer back).
    pub fn splicing(&self) -> Option<bool> {
        self.inner.uses_splice()
    }
}

impl fmt::Debug for Pump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("options", &self.inner.options())
            .field("in_transit", &self.inner.held())
            .field("moved", &self.inner.moved())
            .field("done", &self.inner.is_done())
            .field("error", &self.inner.error())
            .finish()
    }
}

fn bands((read, write): (bool, bool)) -> (Interest, Interest) {
    let from = if read {
        Interest::READABLE
    } else {
        Interest::NONE
    };
    let to = if write {
        Interest::WRITABLE
    } else {
        Interest::NONE
    };
    (from, to)
}

fn status(step: Step) -> PumpStatus {
    match step {
        Step::Done => PumpStatus::Done,
        Step::More { read, write } => {
            let (from, to) = bands((read, write));
            PumpStatus::Pending { from, to }
        }
    }
}

/// Names a self-driving pump of one loop; returned by [`Handle::add_pump`]
/// and [`Handle::add_duplex_pump`].
///
/// As a [`Token`] it names the pump's first descriptor source, so
/// [`Handle::remove`] cancels the pump (its descriptors are dropped, its
/// completion closure is not called) and [`Handle::is_registered`] tells
/// whether it is still running. `Copy`, and stale once the pump ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PumpToken {
    first: FdToken,
}

impl From<PumpToken> for Token {
    fn from(t: PumpToken) -> Token {
        Token::Fd(t.first)
    }
}

/// One direction of a self-driving pump.
struct Direction {
    pump: pump::Pump,
    /// Indices into `Shared::fds`.
    from: usize,
    to: usize,
}

type OnDone = Box<dyn FnOnce(&Handle, io::Result<[u64; 2]>)>;

/// What the sources of one self-driving pump share.
struct Shared {
    /// The distinct descriptors (one or two); their objects are owned by
    /// the sources (or, for a second object with the same descriptor, by
    /// the first source's closure).
    fds: [RawFd; 2],
    tokens: [Option<FdToken>; 2],
    dirs: Vec<Direction>,
    on_done: Option<OnDone>,
    /// Done, failed or cancelled: the sources are being removed.
    over: bool,
}

impl Shared {
    /// The interest each descriptor's source needs now.
    fn interests(&self) -> [Interest; 2] {
        let mut want = [Interest::NONE; 2];
        for d in &self.dirs {
            let (from, to) = bands(d.pump.wants());
            want[d.from] |= from;
            want[d.to] |= to;
        }
        want
    }

    /// The token of the source other than `me`, if there is one.
    fn other(&self, me: usize) -> Option<FdToken> {
        self.tokens[1 - me]
    }
}

/// Owned by each source's closure: when the closure is dropped while the
/// pump is not over (its source was removed from outside: a cancel, or the
/// loop going away), the other source goes too.
struct Guard {
    handle: Handle,
    shared: Rc<RefCell<Shared>>,
    me: usize,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let other = {
            let Ok(mut s) = self.shared.try_borrow_mut() else {
                return;
            };
            if s.over {
                return;
            }
            s.over = true;
            s.other(self.me)
        };
        if let Some(t) = other {
            // Already gone (or the loop is): nothing to do.
            let _ = self.handle.remove(t);
        }
    }
}

/// One readiness callback of source `me`: runs the directions that wait
/// for this band on this descriptor, then updates every source's
/// interest, or ends the pump.
fn drive(h: &Handle, shared: &RefCell<Shared>, me: usize, ready: Ready) -> FdAction {
    let mut s = shared.borrow_mut();
    if s.over {
        return FdAction::Remove;
    }
    let fds = s.fds;
    let mut failed = None;
    for d in &mut s.dirs {
        let wanted = match ready {
            Ready::Readable => d.from == me,
            Ready::Writable => d.to == me,
            Ready::Error => d.from == me || d.to == me,
        };
        if !wanted || d.pump.is_done() {
            continue;
        }
        if let Err(e) = d.pump.pump(fds[d.from], fds[d.to]) {
            failed = Some(e);
            break;
        }
    }
    let all_done = s.dirs.iter().all(|d| d.pump.is_done());
    if failed.is_none() && !all_done {
        // Steady state: no allocation, no system call (interest changes
        // reach the kernel before the next wait).
        let want = s.interests();
        let other = s.other(me);
        drop(s);
        if let Some(t) = other {
            let _ = h.set_interest(t, want[1 - me]);
        }
        return FdAction::SetInterest(want[me]);
    }
    // The end: remove every source first, then report.
    s.over = true;
    let mut moved = [0; 2];
    for (i, d) in s.dirs.iter().enumerate() {
        moved[i] = d.pump.moved();
    }
    let tokens = s.tokens;
    let on_done = s.on_done.take();
    drop(s);
    for t in tokens.into_iter().flatten() {
        // Our own source is dropped when this callback returns.
        let _ = h.remove(t);
    }
    if let Some(on_done) = on_done {
        on_done(h, failed.map_or(Ok(moved), Err));
    }
    FdAction::Continue
}

impl Handle {
    /// Moves everything from `from` to `to`, driven by this loop, then
    /// calls `on_done` once with the number of bytes moved, or with the
    /// first error.
    ///
    /// The loop takes ownership of both descriptor objects (any [`AsFd`]:
    /// a [`TcpStream`](std::net::TcpStream), a
    /// [`ChildStdout`](std::process::ChildStdout), an
    /// [`OwnedFd`](std::os::fd::OwnedFd); an `Rc` of one to keep using it
    /// elsewhere), makes them non-blocking and close-on-exec, and watches
    /// them: `from` for input while the pump has room, `to` for room while
    /// it holds data. The pump is done when `from` reached end of file and
    /// everything read was written (with [`PumpOptions::relay_eof`], `to`
    /// is then shut down for writing). Both objects are dropped when the
    /// pump ends, whatever the outcome, at the latest right after `on_done`
    /// returns; to relay the end to a pipe, dropping it is what closes it.
    ///
    /// `from` and `to` may be the same descriptor (an echo): it is
    /// watched once. Data moves through a pipe with `splice(2)` where the
    /// descriptors allow it, else through a 64 KiB buffer
    /// ([`PumpOptions::splice`]).
    ///
    /// Removing the returned token ([`Handle::remove`]) cancels the pump:
    /// the objects are dropped and `on_done` is dropped without being
    /// called. So does dropping the loop.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use ivykis::{EventLoop, PumpOptions};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let (mut producer, from) = UnixStream::pair()?;
    /// let (to, mut consumer) = UnixStream::pair()?;
    /// producer.write_all(b"hello through the pump")?;
    /// drop(producer); // end of input
    /// event_loop.handle().add_pump(from, to, PumpOptions::new(), |_h, result| {
    ///     assert_eq!(result.unwrap(), 22);
    /// })?;
    /// event_loop.run(); // until the pump is done and both ends are dropped
    /// let mut got = String::new();
    /// consumer.read_to_string(&mut got)?; // EOF: `to` was closed
    /// assert_eq!(got, "hello through the pump");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] if a descriptor's flags cannot be
    /// set or the kernel refuses to watch it (`EPERM` for a regular file
    /// under epoll). On error nothing stays registered, both objects are
    /// dropped and `on_done` is not called.
    pub fn add_pump<F, T>(
        &self,
        from: F,
        to: T,
        options: PumpOptions,
        on_done: impl FnOnce(&Handle, io::Result<u64>) + 'static,
    ) -> Result<PumpToken, Error>
    where
        F: AsFd + 'static,
        T: AsFd + 'static,
    {
        let on_done: OnDone = Box::new(move |h, r| on_done(h, r.map(|m| m[0])));
        self.start_pump(from, to, options, false, on_done)
    }

    /// Moves everything from `a` to `b` and from `b` to `a`, driven by this
    /// loop (a proxy between two connections), then calls `on_done` once
    /// with the bytes moved each way (`a` to `b`, `b` to `a`), or with the
    /// first error of either direction.
    ///
    /// Each direction is a pump as in [`Handle::add_pump`] with `options`;
    /// with [`PumpOptions::relay_eof`], a peer that shuts down its sending
    /// side has that relayed to the other peer while the other direction
    /// goes on. The whole ends when both directions are done, or at the
    /// first error (a reset connection, say), which drops what was in
    /// transit the other way. Ownership, cancelling and dropping are as for
    /// [`Handle::add_pump`].
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::Shutdown;
    /// use std::os::unix::net::UnixStream;
    /// use ivykis::{EventLoop, PumpOptions};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let (mut client, a) = UnixStream::pair()?;
    /// let (b, mut server) = UnixStream::pair()?;
    /// client.write_all(b"request")?;
    /// client.shutdown(Shutdown::Write)?;
    /// server.write_all(b"response")?;
    /// server.shutdown(Shutdown::Write)?;
    /// let options = PumpOptions::new().relay_eof(true);
    /// event_loop.handle().add_duplex_pump(a, b, options, |_h, result| {
    ///     assert_eq!(result.unwrap(), (7, 8));
    /// })?;
    /// event_loop.run();
    /// let (mut at_server, mut at_client) = (String::new(), String::new());
    /// server.read_to_string(&mut at_server)?;
    /// client.read_to_string(&mut at_client)?;
    /// assert_eq!((at_server.as_str(), at_client.as_str()), ("request", "response"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Handle::add_pump`]; also [`Error::Io`] with `EINVAL` if `a`
    /// and `b` are the same descriptor.
    pub fn add_duplex_pump<A, B>(
        &self,
        a: A,
        b: B,
        options: PumpOptions,
        on_done: impl FnOnce(&Handle, io::Result<(u64, u64)>) + 'static,
    ) -> Result<PumpToken, Error>
    where
        A: AsFd + 'static,
        B: AsFd + 'static,
    {
        if a.as_fd().as_raw_fd() == b.as_fd().as_raw_fd() {
            return Err(Error::Io(io::Error::from_raw_os_error(libc::EINVAL)));
        }
        let on_done: OnDone = Box::new(move |h, r| on_done(h, r.map(|m| (m[0], m[1]))));
        self.start_pump(a, b, options, true, on_done)
    }

    /// Registers the sources of a pump from `first` to `second` (and back,
    /// if `duplex`).
    fn start_pump<F, T>(
        &self,
        first: F,
        second: T,
        options: PumpOptions,
        duplex: bool,
        on_done: OnDone,
    ) -> Result<PumpToken, Error>
    where
        F: AsFd + 'static,
        T: AsFd + 'static,
    {
        self.check_alive()?;
        let fd0 = first.as_fd().as_raw_fd();
        let fd1 = second.as_fd().as_raw_fd();
        let same = fd0 == fd1;
        let to_index = usize::from(!same);
        let mut dirs = vec![Direction {
            pump: pump::Pump::new(options.engine()),
            from: 0,
            to: to_index,
        }];
        if duplex {
            dirs.push(Direction {
                pump: pump::Pump::new(options.engine()),
                from: 1,
                to: 0,
            });
        }
        let shared = Rc::new(RefCell::new(Shared {
            fds: [fd0, fd1],
            tokens: [None, None],
            dirs,
            on_done: Some(on_done),
            over: false,
        }));
        let want = shared.borrow().interests();

        // The second object rides along with the first source when both
        // are one descriptor.
        let (keep_second, register_second) = if same {
            (Some(second), None)
        } else {
            (None, Some(second))
        };
        let guard = Guard {
            handle: self.clone(),
            shared: shared.clone(),
            me: 0,
        };
        let first_token = self.add_fd(first, want[0], move |h, _fd, ready| {
            let _ = &keep_second;
            drive(h, &guard.shared, guard.me, ready)
        })?;
        shared.borrow_mut().tokens[0] = Some(first_token);

        if let Some(second) = register_second {
            let guard = Guard {
                handle: self.clone(),
                shared: shared.clone(),
                me: 1,
            };
            match self.add_fd(second, want[1], move |h, _fd, ready| {
                drive(h, &guard.shared, guard.me, ready)
            }) {
                Ok(token) => shared.borrow_mut().tokens[1] = Some(token),
                Err(e) => {
                    // Nothing must stay: the first source goes (its guard
                    // finds no other source) and `on_done` with it.
                    shared.borrow_mut().over = true;
                    let _ = self.remove(first_token);
                    return Err(e);
                }
            }
        }
        Ok(PumpToken { first: first_token })
    }
}
