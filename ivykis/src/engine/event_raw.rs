//! Wake-up descriptors that anyone may post: the kernel object behind
//! `iv_event_raw` and `iv_signal` (SPEC 6).
//!
//! A [`RawEvent`] is an `eventfd` (one descriptor, a kernel counter) or,
//! where there is none, a pipe (two descriptors). Both ends are
//! non-blocking and close-on-exec. The loop watches the read end for
//! readability; posting makes it readable.
//!
//! - **Post** ([`post_fd`]) is one `write` of an 8-byte count of 1. That is
//!   what an eventfd wants, and 8 bytes is well under `PIPE_BUF`, so a pipe
//!   takes it atomically too. A post that finds the counter saturated or the
//!   pipe full fails with `EAGAIN`, which is fine: the descriptor is
//!   readable already. `write` is async-signal-safe, the function saves and
//!   restores `errno`, and it needs nothing but the descriptor number, so it
//!   may be called from a signal handler, from any thread, and from a
//!   forked child (which shares the descriptor, so the child's post wakes
//!   the parent's loop).
//! - **Drain** ([`drain_fd`]) reads until a read returns less than the
//!   buffer: one `read` for an eventfd (which hands over and resets its
//!   whole counter in 8 bytes), as many as needed for a pipe. Posts are
//!   therefore coalesced: any number of them before a drain give one
//!   wake-up. A face drains before calling its handler, so a post made while
//!   the handler runs makes the descriptor readable again and the handler
//!   runs again afterwards.
//!
//! Which kind was opened does not matter to post or drain, so the C face
//! keeps only the two descriptor numbers in the caller's `struct
//! iv_event_raw` (they are equal for an eventfd).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// An eventfd, or a pipe where there is no eventfd. Dropping it closes the
/// descriptor(s).
#[derive(Debug)]
pub struct RawEvent {
    read: OwnedFd,
    /// The pipe's write end; `None` for an eventfd (both roles, one fd).
    write: Option<OwnedFd>,
}

impl RawEvent {
    /// Opens an eventfd, falling back to a pipe when the kernel has no
    /// eventfd (`ENOSYS`) or not with these flags (`EINVAL`). Running out of
    /// descriptors or memory is returned as the error: a pipe would need
    /// even more.
    pub fn open() -> io::Result<RawEvent> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: eventfd takes an initial count and flags; it touches no
            // memory of ours.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd >= 0 {
                // SAFETY: a descriptor eventfd just opened, owned by nobody
                // else.
                let read = unsafe { OwnedFd::from_raw_fd(fd) };
                return Ok(RawEvent { read, write: None });
            }
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
                return Err(e);
            }
        }
        RawEvent::open_pipe()
    }

    /// Opens the pipe variant (the fallback of [`RawEvent::open`]; public so
    /// that tests can exercise it on systems that have eventfd).
    #[doc(hidden)]
    pub fn open_pipe() -> io::Result<RawEvent> {
        let mut fds = [-1; 2];
        // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
        #[cfg(not(any(target_os = "macos", target_os = "ios")))]
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        // SAFETY: as above, for pipe (no pipe2 on Apple systems); the flags
        // are set right after, before anyone else can see the descriptors.
        #[cfg(any(target_os = "macos", target_os = "ios"))]
        let rc = unsafe {
            let rc = libc::pipe(fds.as_mut_ptr());
            if rc == 0 {
                for fd in fds {
                    libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            rc
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened by pipe and belong to
        // nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(RawEvent {
            read,
            write: Some(write),
        })
    }

    /// The descriptor the loop watches.
    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// The descriptor [`post_fd`] writes to (the same as
    /// [`RawEvent::read_fd`] for an eventfd).
    pub fn write_fd(&self) -> RawFd {
        self.write.as_ref().unwrap_or(&self.read).as_raw_fd()
    }

    /// Whether this is the pipe variant.
    pub fn is_pipe(&self) -> bool {
        self.write.is_some()
    }

    /// Makes the read end readable ([`post_fd`]).
    pub fn post(&self) {
        post_fd(self.write_fd());
    }

    /// Consumes every post so far ([`drain_fd`]).
    pub fn drain(&self) {
        drain_fd(self.read_fd());
    }

    /// Gives up ownership: `(read, write)`, equal for an eventfd. Close them
    /// with [`RawEvent::from_raw_fds`].
    pub fn into_raw_fds(self) -> (RawFd, RawFd) {
        let read = self.read.into_raw_fd();
        let write = self.write.map_or(read, IntoRawFd::into_raw_fd);
        (read, write)
    }

    /// Takes back what [`RawEvent::into_raw_fds`] gave out (to close it by
    /// dropping).
    ///
    /// # Safety
    ///
    /// `read` and `write` must be a pair returned by `into_raw_fds` and
    /// still open, and nothing else may use or close them afterwards.
    pub unsafe fn from_raw_fds(read: RawFd, write: RawFd) -> RawEvent {
        // SAFETY: the caller hands over sole ownership of an open pair.
        unsafe {
            RawEvent {
                read: OwnedFd::from_raw_fd(read),
                write: (write != read).then(|| OwnedFd::from_raw_fd(write)),
            }
        }
    }
}

impl AsFd for RawEvent {
    /// The read end, the one the loop watches.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// Posts to the raw event whose write end is `fd`: one `write` of an 8-byte
/// count of 1. Async-signal-safe; `errno` is preserved. Errors are ignored:
/// `EAGAIN` means the descriptor is readable already, and a closed or
/// invalid descriptor (a post after unregistering) has nobody to wake.
pub fn post_fd(fd: RawFd) {
    let saved = errno();
    let one = 1u64.to_ne_bytes();
    loop {
        // SAFETY: `one` is 8 readable bytes that outlive the call; write
        // touches no other memory.
        let n = unsafe { libc::write(fd, one.as_ptr().cast(), one.len()) };
        if n >= 0 || errno() != libc::EINTR {
            break;
        }
    }
    set_errno(saved);
}

/// Consumes every post made to the raw event whose read end is `fd` so far.
pub fn drain_fd(fd: RawFd) {
    // Larger than an eventfd's 8 bytes, so an eventfd needs one read and a
    // short read says a pipe is empty.
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: `buf` is writable for its whole length during the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n == buf.len() as isize {
            continue;
        }
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        break;
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: returns the calling thread's errno slot; always valid.
    unsafe { libc::__errno_location() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: as above, under the BSD name.
    unsafe { libc::__error() }
}

/// This thread's `errno` (async-signal-safe).
pub(crate) fn errno() -> libc::c_int {
    // SAFETY: the slot is this thread's and valid for its lifetime.
    unsafe { *errno_location() }
}

/// Sets this thread's `errno` (async-signal-safe).
pub(crate) fn set_errno(value: libc::c_int) {
    // SAFETY: as in `errno`.
    unsafe { *errno_location() = value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(ev: &RawEvent) -> bool {
        let mut pfd = libc::pollfd {
            fd: ev.read_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n == 1 && pfd.revents & libc::POLLIN != 0
    }

    fn check_coalescing(ev: &RawEvent) {
        assert!(!readable(ev));
        for _ in 0..1000 {
            ev.post();
        }
        assert!(readable(ev));
        ev.drain();
        assert!(!readable(ev), "one drain consumes every post");
        ev.post();
        assert!(readable(ev));
        ev.drain();
        assert!(!readable(ev));
        // Draining an empty event is harmless.
        ev.drain();
    }

    #[test]
    fn eventfd_coalesces_posts() {
        let ev = RawEvent::open().unwrap();
        assert!(!ev.is_pipe());
        assert_eq!(ev.read_fd(), ev.write_fd());
        check_coalescing(&ev);
    }

    #[test]
    fn pipe_fallback_coalesces_posts() {
        let ev = RawEvent::open_pipe().unwrap();
        assert!(ev.is_pipe());
        assert_ne!(ev.read_fd(), ev.write_fd());
        check_coalescing(&ev);
    }

    #[test]
    fn a_full_pipe_still_reads_as_one_wakeup() {
        let ev = RawEvent::open_pipe().unwrap();
        // Far more than a pipe buffer holds: later posts fail with EAGAIN.
        for _ in 0..100_000 {
            ev.post();
        }
        assert!(readable(&ev));
        ev.drain();
        assert!(!readable(&ev));
    }

    #[test]
    fn post_preserves_errno_even_on_a_bad_descriptor() {
        set_errno(libc::ENOENT);
        post_fd(-1);
        assert_eq!(errno(), libc::ENOENT);
    }

    #[test]
    fn descriptors_are_nonblocking_and_cloexec() {
        for ev in [RawEvent::open().unwrap(), RawEvent::open_pipe().unwrap()] {
            for fd in [ev.read_fd(), ev.write_fd()] {
                // SAFETY: fcntl queries on open descriptors.
                let (fl, fdfl) = unsafe {
                    (
                        libc::fcntl(fd, libc::F_GETFL),
                        libc::fcntl(fd, libc::F_GETFD),
                    )
                };
                assert!(fl & libc::O_NONBLOCK != 0);
                assert!(fdfl & libc::FD_CLOEXEC != 0);
            }
        }
    }

    #[test]
    fn raw_fds_round_trip() {
        for ev in [RawEvent::open().unwrap(), RawEvent::open_pipe().unwrap()] {
            let was_pipe = ev.is_pipe();
            let (r, w) = ev.into_raw_fds();
            // SAFETY: the pair just given out, used by nothing else.
            let ev = unsafe { RawEvent::from_raw_fds(r, w) };
            assert_eq!(ev.is_pipe(), was_pipe);
            assert_eq!((ev.read_fd(), ev.write_fd()), (r, w));
        }
    }
}
