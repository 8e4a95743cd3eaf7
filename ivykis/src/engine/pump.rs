//! Moving data from one descriptor to another (SPEC 8, `iv_fd_pump`).
//!
//! A [`Pump`] owns nothing but its transit storage. The caller owns both
//! descriptors and watches them; it calls [`Pump::pump`] when the band the
//! pump asked for ([`Step::More`]) is ready, and the pump moves what it can
//! without blocking.
//!
//! # Two paths, chosen per pump
//!
//! - **splice** (Linux): data goes `from` → internal pipe → `to` with
//!   `splice(2)` and never enters user space. The pipe is created at the
//!   first call, non-blocking and close-on-exec.
//! - **buffer**: `read(2)` into a heap buffer of [`BUF_SIZE`] bytes,
//!   `write(2)` out of it. Used when the pump was made without splice, when
//!   the pipe cannot be created (`EMFILE`, `ENFILE`: the pump does not fail
//!   for it), when the kernel has no splice (`ENOSYS`, remembered for the
//!   whole process) and when either descriptor refuses to splice (`EINVAL`,
//!   for example an `O_APPEND` file or an eventfd). Data already in the pipe
//!   at that moment is moved into the buffer first, so nothing is lost.
//!
//! Both paths allocate at most once per pump (the buffer, when it is first
//! needed); a call in steady state allocates nothing.
//!
//! # One call
//!
//! A call runs up to [`MAX_ROUNDS`] rounds of "read what fits, write what is
//! held", and stops early as soon as reading cannot go on (end of input, no
//! room, or the input would block). A short read or a short write is taken
//! as "that side would block now", which saves the system call that would
//! only return `EAGAIN`; being level-triggered, the caller's loop reports
//! the band again if that guess was wrong.
//!
//! When a splice into a non-empty pipe returns `EAGAIN`, that means either
//! "the input is empty" or "the pipe is full" (a pipe can run out of slots
//! before it runs out of bytes); `FIONREAD` on the input tells which. If
//! the pipe is full, the pump stops asking for input (`full`) until some of
//! the held data has been written out; it wants the output band meanwhile,
//! so it is called again.
//!
//! # End and errors
//!
//! End of input is a read (or splice) returning 0. Once everything held is
//! written, the pump relays the end with `shutdown(to, SHUT_WR)` if asked
//! to (a `to` that is not a socket, `ENOTSOCK`, is left alone: the caller
//! relays the end by closing it) and is done: every later call returns
//! [`Step::Done`] again. An error other than `EAGAIN`/`EINTR` is returned
//! and sticks: later calls return the same error without touching the
//! descriptors.

use std::io;
use std::os::fd::RawFd;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes of the buffer path's buffer: the default capacity of a Linux pipe,
/// so both paths move data in chunks of the same size.
pub const BUF_SIZE: usize = 64 * 1024;

/// At most this many read/write rounds per call, so that one busy pump does
/// not starve the rest of the loop (each round moves up to a buffer or a
/// pipe's worth).
pub const MAX_ROUNDS: u32 = 4;

/// The kernel has no splice (`ENOSYS` seen once): no pump tries it again.
#[cfg(any(target_os = "linux", target_os = "android"))]
static SPLICE_MISSING: AtomicBool = AtomicBool::new(false);

/// How a pump is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// At end of input, once everything is written, `shutdown(to,
    /// SHUT_WR)` (`IV_FD_PUMP_FLAG_RELAY_EOF`).
    pub relay_eof: bool,
    /// Try the splice path first (where the system has it).
    pub splice: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            relay_eof: false,
            splice: true,
        }
    }
}

/// What a call achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not finished: call again when `from` is readable (`read`) or `to` is
    /// writable (`write`). At least one of the two is set.
    More {
        /// Wait for input on `from`.
        read: bool,
        /// Wait for room on `to`.
        write: bool,
    },
    /// End of input was seen and everything was written (and relayed).
    Done,
}

/// Which transit storage a pump uses.
enum Path {
    /// Not decided yet: the first call that reads decides.
    Undecided,
    /// `from` → `pipe` → `to`; `cap` is the pipe's capacity.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Splice {
        rd: OwnedFd,
        wr: OwnedFd,
        cap: usize,
    },
    /// `buf[start..start + held]` is the data in transit.
    Buffer { buf: Box<[u8]>, start: usize },
}

/// What happened to the input side in one attempt.
enum Fill {
    Got,
    Eof,
    WouldBlock,
}

/// One pump's state; see the module documentation.
pub struct Pump {
    options: Options,
    path: Path,
    /// Bytes in transit (in the pipe or the buffer).
    held: usize,
    /// Splice path: the pipe refused more input while holding data.
    full: bool,
    /// End of input seen.
    eof: bool,
    done: bool,
    /// The error that ended the pump (an errno value), returned again by
    /// every later call.
    failed: Option<i32>,
    /// Bytes written to `to` so far.
    moved: u64,
}

impl Pump {
    /// A pump that has moved nothing yet. Allocates nothing and opens
    /// nothing: the transit storage comes with the first call that reads.
    pub fn new(options: Options) -> Pump {
        Pump {
            options,
            path: Path::Undecided,
            held: 0,
            full: false,
            eof: false,
            done: false,
            failed: None,
            moved: 0,
        }
    }

    /// The options the pump was made with.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Bytes read from `from` and not yet written to `to`.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Bytes written to `to` so far.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Whether the splice path stopped reading because its pipe is full.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Whether end of input was seen.
    pub fn saw_eof(&self) -> bool {
        self.eof
    }

    /// Whether a call returned [`Step::Done`].
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The error that ended the pump, if one did.
    pub fn error(&self) -> Option<io::Error> {
        self.failed.map(io::Error::from_raw_os_error)
    }

    /// `Some(true)` on the splice path, `Some(false)` on the buffer path,
    /// `None` before the first call decided.
    pub fn uses_splice(&self) -> Option<bool> {
        match self.path {
            Path::Undecided => None,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Path::Splice { .. } => Some(true),
            Path::Buffer { .. } => Some(false),
        }
    }

    /// The bands the pump waits for now (see [`Step::More`]); both false
    /// once it is done or failed.
    pub fn wants(&self) -> (bool, bool) {
        if self.done || self.failed.is_some() {
            return (false, false);
        }
        (self.can_read(), self.held > 0)
    }

    /// Moves what can be moved from `from` to `to` without blocking (if
    /// the descriptors are non-blocking; a blocking descriptor blocks the
    /// call as `read`/`write` would).
    ///
    /// This is memory-safe for any descriptor numbers: the pump only reads
    /// into and writes from its own storage.
    ///
    /// # Errors
    ///
    /// The first error of `read`, `write`, `splice` or `shutdown` other
    /// than `EAGAIN` and `EINTR` (and the fallbacks described in the module
    /// documentation); the same error again on every later call.
    pub fn pump(&mut self, from: RawFd, to: RawFd) -> io::Result<Step> {
        if let Some(errno) = self.failed {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if self.done {
            return Ok(Step::Done);
        }
        match self.run(from, to) {
            Ok(step) => Ok(step),
            Err(e) => {
                // Errors without an errno do not occur here (every error
                // comes from a system call); EIO is the closest stand-in.
                self.failed = Some(e.raw_os_error().unwrap_or(libc::EIO));
                Err(e)
            }
        }
    }

    fn run(&mut self, from: RawFd, to: RawFd) -> io::Result<Step> {
        let mut in_blocked = false;
        let mut out_blocked = false;
        for _ in 0..MAX_ROUNDS {
            if self.can_read() && !in_blocked {
                match self.fill(from)? {
                    Fill::Got => {}
                    Fill::Eof => self.eof = true,
                    Fill::WouldBlock => in_blocked = true,
                }
            }
            if self.held > 0 && !out_blocked {
                out_blocked = !self.drain(to)?;
            }
            if self.eof && self.held == 0 {
                return self.finish(to);
            }
            if in_blocked || !self.can_read() {
                break;
            }
        }
        Ok(Step::More {
            read: self.can_read(),
            write: self.held > 0,
        })
    }

    /// Whether there is reason and room to read.
    fn can_read(&self) -> bool {
        if self.eof || self.full {
            return false;
        }
        match &self.path {
            Path::Undecided => true,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Path::Splice { cap, .. } => self.held < *cap,
            Path::Buffer { buf, .. } => self.held < buf.len(),
        }
    }

    /// End of input and nothing left: relay the end if asked to.
    fn finish(&mut self, to: RawFd) -> io::Result<Step> {
        if self.options.relay_eof {
            // SAFETY: shutdown takes only integers.
            if unsafe { libc::shutdown(to, libc::SHUT_WR) } == -1 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ENOTSOCK) {
                    return Err(e);
                }
            }
        }
        self.done = true;
        // The transit storage is not needed any more: give back the pipe's
        // descriptors (and the buffer) now rather than at destruction.
        self.path = Path::Undecided;
        Ok(Step::Done)
    }

    /// Reads once from `from` into the transit storage, choosing the path
    /// first if needed.
    fn fill(&mut self, from: RawFd) -> io::Result<Fill> {
        if let Path::Undecided = self.path {
            self.path = self.choose_path();
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Path::Splice { wr, cap, .. } = &self.path {
            let want = cap - self.held;
            match splice(from, wr.as_raw_fd(), want) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.held += n;
                    // Short: the input is (probably) drained, or the pipe
                    // ran out of slots; either way stop reading this call.
                    return Ok(if n < want {
                        Fill::WouldBlock
                    } else {
                        Fill::Got
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    // Holding data, EAGAIN may mean "pipe full" rather than
                    // "input empty": the input tells which.
                    if self.held > 0 && !input_empty(from) {
                        self.full = true;
                    }
                    return Ok(Fill::WouldBlock);
                }
                Err(e) if unsupported(&e) => {
                    self.leave_splice()?;
                    // Fall through to the buffer path below.
                }
                Err(e) => return Err(e),
            }
        }
        let Path::Buffer { buf, start } = &mut self.path else {
            unreachable!("the pump's path was just chosen");
        };
        if *start > buf.len() - (*start + self.held) {
            // More room before the data than after it: move the data to
            // the front, so the read can fill all the free space.
            buf.copy_within(*start..*start + self.held, 0);
            *start = 0;
        }
        let room = &mut buf[*start + self.held..];
        let want = room.len();
        match read(from, room)? {
            None => Ok(Fill::WouldBlock),
            Some(0) => Ok(Fill::Eof),
            Some(n) => {
                self.held += n;
                Ok(if n < want {
                    Fill::WouldBlock
                } else {
                    Fill::Got
                })
            }
        }
    }

    /// Writes once from the transit storage to `to`. `Ok(false)` if `to`
    /// would block (or took only part of the data).
    fn drain(&mut self, to: RawFd) -> io::Result<bool> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Path::Splice { rd, .. } = &self.path {
            match splice(rd.as_raw_fd(), to, self.held) {
                Ok(n) => return Ok(self.wrote(n)),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(false),
                Err(e) if unsupported(&e) => self.leave_splice()?,
                Err(e) => return Err(e),
            }
        }
        let Path::Buffer { buf, start } = &mut self.path else {
            unreachable!("a pump holding data has chosen its path");
        };
        match write(to, &buf[*start..*start + self.held])? {
            None => Ok(false),
            Some(n) => {
                *start += n;
                Ok(self.wrote(n))
            }
        }
    }

    /// Accounts for `n` bytes written; whether all of them went.
    fn wrote(&mut self, n: usize) -> bool {
        self.held -= n;
        self.moved += n as u64;
        if n > 0 {
            self.full = false;
        }
        if self.held == 0 {
            if let Path::Buffer { start, .. } = &mut self.path {
                *start = 0;
            }
            true
        } else {
            false
        }
    }

    /// The path for a pump that has not read yet.
    fn choose_path(&self) -> Path {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.options.splice && !SPLICE_MISSING.load(Ordering::Relaxed) {
            if let Ok(path) = new_pipe() {
                return path;
            }
            // No descriptors left for the pipe: the buffer path needs none.
        }
        Path::Buffer {
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            start: 0,
        }
    }

    /// Leaves the splice path for the buffer path, moving what the pipe
    /// holds into the buffer.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn leave_splice(&mut self) -> io::Result<()> {
        let mut buf = vec![0; BUF_SIZE.max(self.held)].into_boxed_slice();
        if let Path::Splice { rd, .. } = &self.path {
            let mut got = 0;
            while got < self.held {
                match read(rd.as_raw_fd(), &mut buf[got..self.held])? {
                    Some(n) if n > 0 => got += n,
                    // The pipe holds `held` bytes and only we read it, so
                    // this cannot happen; refuse rather than lose data.
                    _ => return Err(io::Error::from_raw_os_error(libc::EIO)),
                }
            }
        }
        self.path = Path::Buffer { buf, start: 0 };
        self.full = false;
        Ok(())
    }
}

/// `EINVAL` (this descriptor cannot splice) or `ENOSYS` (no splice at all,
/// remembered).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unsupported(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(libc::EINVAL) => true,
        Some(libc::ENOSYS) => {
            SPLICE_MISSING.store(true, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

/// Whether `fd` has no bytes ready to read (`FIONREAD`); `false` when it
/// cannot tell, so that an unanswerable input is taken as "pipe full" and
/// the pump waits for output rather than spinning on its input.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn input_empty(fd: RawFd) -> bool {
    let mut ready: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, into `ready`.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut ready) };
    r == 0 && ready == 0
}

/// A non-blocking, close-on-exec pipe for the splice path.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn new_pipe() -> io::Result<Path> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are fresh descriptors that nothing
    // else owns; each OwnedFd closes its own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_GETPIPE_SZ takes no argument and only reads the pipe.
    let cap = unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    // A kernel without F_GETPIPE_SZ (before 2.6.35) has 16-page pipes.
    let cap = usize::try_from(cap).unwrap_or(BUF_SIZE).max(1);
    Ok(Path::Splice { rd, wr, cap })
}

/// `splice(from, to, len)`, retried on `EINTR`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: no offsets are passed (null pointers), so the kernel reads
        // and writes no memory of ours.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// `read` into `buf`: `Ok(None)` if it would block; retried on `EINTR`.
fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`,
        // which is valid and exclusively borrowed for the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::EINTR) => continue,
            e if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            e => return Err(e),
        }
    }
}

/// `write` of `buf`: `Ok(None)` if it would block; retried on `EINTR`.
fn write(fd: RawFd, buf: &[u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`,
        // which is valid for the call.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::EINTR) => continue,
            e if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            e => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn nonblocking_pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn move_some(splice: bool) {
        let (mut src, from) = nonblocking_pair();
        let (to, mut dst) = nonblocking_pair();
        let mut pump = Pump::new(Options {
            relay_eof: true,
            splice,
        });
        assert_eq!(pump.wants(), (true, false));
        assert_eq!(
            pump.pump(from.as_raw_fd(), to.as_raw_fd()).unwrap(),
            Step::More {
                read: true,
                write: false
            }
        );
        src.write_all(b"hello, pump").unwrap();
        pump.pump(from.as_raw_fd(), to.as_raw_fd()).unwrap();
        let mut got = [0; 64];
        let n = dst.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"hello, pump");
        assert_eq!(pump.uses_splice(), Some(splice));
        src.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            pump.pump(from.as_raw_fd(), to.as_raw_fd()).unwrap(),
            Step::Done
        );
        assert!(pump.is_done());
        assert_eq!(pump.moved(), 11);
        // Relayed: the reader sees end of file.
        assert_eq!(dst.read(&mut got).unwrap(), 0);
        assert_eq!(
            pump.pump(from.as_raw_fd(), to.as_raw_fd()).unwrap(),
            Step::Done
        );
    }

    #[test]
    fn moves_data_and_relays_eof_through_splice() {
        move_some(true);
    }

    #[test]
    fn moves_data_and_relays_eof_through_the_buffer() {
        move_some(false);
    }

    #[test]
    fn errors_stick() {
        let (mut src, from) = nonblocking_pair();
        let (to, dst) = nonblocking_pair();
        drop(dst);
        let mut pump = Pump::new(Options::default());
        src.write_all(b"x").unwrap();
        let e = pump.pump(from.as_raw_fd(), to.as_raw_fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
        let again = pump.pump(from.as_raw_fd(), to.as_raw_fd()).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EPIPE));
        assert_eq!(pump.wants(), (false, false));
    }
}
