//! The "epoll" method: level-triggered epoll. A wait with a timeout that has
//! a sub-millisecond part uses `epoll_pwait2` (nanosecond timeouts) where the
//! kernel has it; every other wait, and every wait once `epoll_pwait2` has
//! answered ENOSYS or EPERM, uses `epoll_wait`.
//!
//! Cross-thread wake-ups ([`OneshotWaker`]) re-arm an always-readable
//! eventfd with `EPOLLONESHOT`: one `epoll_ctl` for the poster and nothing
//! for the woken loop, where writing an eventfd would also cost the loop a
//! `read` to drain it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{cvt, timeout_ms, timeout_timespec, Bands, Event, Poller, Token, Waker};

/// Cleared, process-wide, the first time `epoll_pwait2` answers ENOSYS (old
/// kernel) or EPERM (a seccomp filter that does not know it).
static PWAIT2_WORKS: AtomicBool = AtomicBool::new(true);

const INITIAL_EVENTS: usize = 256;
const MAX_EVENTS: usize = 4096;
const EMPTY_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

pub struct Epoll {
    epfd: OwnedFd,
    /// The wait's buffer: its whole length is offered to the kernel.
    events: Vec<libc::epoll_event>,
    /// `owner[fd]` is the token whose registration the kernel holds for
    /// descriptor number `fd` (0: none). A program may close a registered
    /// descriptor, get the same number back from `open` and register it
    /// again before unregistering the first `iv_fd`; removing the first must
    /// then leave the second alone.
    owner: Vec<Token>,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall without pointers.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![EMPTY_EVENT; INITIAL_EVENTS],
            owner: Vec::new(),
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: Token, bands: Bands) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: epoll_mask(bands),
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    fn set_owner(&mut self, fd: RawFd, token: Token) {
        let i = fd as usize;
        if i >= self.owner.len() {
            self.owner.resize((i + 1).next_power_of_two(), 0);
        }
        self.owner[i] = token;
    }

    fn wait_pwait2(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let ts = timeout_timespec(timeout);
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the buffer has `len` writable epoll_events; the
        // timespec (or null) and the null sigmask are valid for the call. The
        // raw syscall avoids depending on the C library's wrapper.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                ts_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// `epoll_pwait2`, or `epoll_wait` for good once the kernel refused it.
    #[inline(never)]
    fn wait_fine(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        match self.wait_pwait2(timeout) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                PWAIT2_WORKS.store(false, Ordering::Relaxed);
                self.wait_classic(timeout)
            }
            other => other,
        }
    }

    /// Many descriptors were ready at once: take more per wait next time.
    #[cold]
    fn grow(&mut self) {
        let n = self.events.len();
        if n < MAX_EVENTS {
            self.events.resize(n * 2, EMPTY_EVENT);
        }
    }

    #[inline]
    fn wait_classic(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        // SAFETY: the buffer has `len` writable epoll_events.
        let n = cvt(unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                timeout_ms(timeout),
            )
        })?;
        Ok(n as usize)
    }
}

/// An interrupted wait returns no events (SPEC: EINTR is retried by the
/// loop's next iteration); every other error is the caller's.
#[cold]
fn interrupted_is_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(())
    } else {
        Err(e)
    }
}

fn epoll_mask(bands: Bands) -> u32 {
    let mut mask = 0;
    if bands.contains(Bands::IN) {
        mask |= libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP;
    }
    if bands.contains(Bands::OUT) {
        mask |= libc::EPOLLOUT;
    }
    // EPOLLERR and EPOLLHUP are always reported; nothing to ask for ERR.
    mask as u32
}

#[inline]
fn ready_bands(mask: u32) -> Bands {
    let mask = mask as libc::c_int;
    if mask & (libc::EPOLLERR | libc::EPOLLHUP) != 0 {
        return Bands::ALL;
    }
    Bands::when(
        mask & (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP) != 0,
        Bands::IN,
    )
    .with(Bands::when(mask & libc::EPOLLOUT != 0, Bands::OUT))
}

impl Poller for Epoll {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn set_interest(
        &mut self,
        fd: RawFd,
        token: Token,
        known: bool,
        bands: Bands,
    ) -> io::Result<()> {
        if known {
            return self.ctl(libc::EPOLL_CTL_MOD, fd, token, bands);
        }
        match self.ctl(libc::EPOLL_CTL_ADD, fd, token, bands) {
            // The same open file under the same number is still in the set:
            // its earlier registration was closed behind our back while a
            // duplicate kept it alive. The new registration takes it over.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.ctl(libc::EPOLL_CTL_MOD, fd, token, bands)?
            }
            other => other?,
        }
        self.set_owner(fd, token);
        Ok(())
    }

    fn remove(&mut self, fd: RawFd, token: Token) {
        let Some(owner) = self.owner.get_mut(fd as usize) else {
            return;
        };
        if *owner != token {
            return;
        }
        *owner = 0;
        // Failure means the descriptor is already closed (EBADF) or its file
        // left the set when it was closed (ENOENT): nothing left to remove.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, token, Bands::NONE);
    }

    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        // epoll_pwait2 only where it adds something: a timeout with a
        // sub-millisecond part. Otherwise the C library's epoll_wait wrapper is
        // cheaper than the generic syscall() path. The rare paths are out of
        // line: this is the hottest function of the library.
        let needs_ns = timeout.is_some_and(|d| d.subsec_nanos() % 1_000_000 != 0);
        let result = if needs_ns && PWAIT2_WORKS.load(Ordering::Relaxed) {
            self.wait_fine(timeout)
        } else {
            self.wait_classic(timeout)
        };
        let n = match result {
            Ok(n) => n.min(self.events.len()),
            Err(e) => return interrupted_is_ok(e),
        };
        events.extend(
            self.events[..n]
                .iter()
                .map(|ev| (ev.u64, ready_bands(ev.events))),
        );
        if n == self.events.len() {
            self.grow();
        }
        Ok(())
    }

    fn waker(&mut self, token: Token) -> Option<io::Result<Box<dyn Waker>>> {
        match OneshotWaker::new(&self.epfd, token) {
            Ok(w) => Some(Ok(Box::new(w))),
            // No eventfd in this kernel: the engine's pipe will do.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// See the module documentation. Holds its own descriptor of the epoll
/// instance (a duplicate), so that a post racing with the loop's end never
/// reaches a closed or reused descriptor number: the instance lives as
/// long as the waker.
struct OneshotWaker {
    epfd: OwnedFd,
    /// An eventfd whose counter is never read, so it is always readable.
    source: OwnedFd,
    token: Token,
}

impl OneshotWaker {
    fn new(epfd: &OwnedFd, token: Token) -> io::Result<OneshotWaker> {
        // SAFETY: plain syscall without pointers.
        let source = cvt(unsafe { libc::eventfd(1, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: a fresh descriptor that nothing else owns.
        let source = unsafe { OwnedFd::from_raw_fd(source) };
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we own; no pointers.
        let dup = cvt(unsafe { libc::fcntl(epfd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
        // SAFETY: a fresh descriptor that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(dup) };
        let waker = OneshotWaker {
            epfd,
            source,
            token,
        };
        // Added disarmed (no band asked for; an eventfd never reports
        // errors or hang-ups); `wake` arms it.
        waker.ctl(libc::EPOLL_CTL_ADD, libc::EPOLLONESHOT as u32)?;
        Ok(waker)
    }

    fn ctl(&self, op: libc::c_int, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: self.token,
        };
        // SAFETY: both descriptors are owned by `self` and open; `ev` is a
        // valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, self.source.as_raw_fd(), &mut ev) })
            .map(drop)
    }
}

impl Waker for OneshotWaker {
    fn wake(&self) {
        // Cannot fail: both descriptors are ours and the source is in the
        // set from `new` until it is closed with `self`. (ENOMEM would leave
        // the loop asleep; the kernel does not allocate for a MOD.)
        let _ = self.ctl(
            libc::EPOLL_CTL_MOD,
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneshot_waker_reports_once_per_wake() {
        const TOKEN: Token = 99;
        let mut poller = Epoll::new().unwrap();
        let waker = poller.waker(TOKEN).unwrap().unwrap();
        let mut events = Vec::new();
        let zero = Some(Duration::ZERO);
        poller.wait(zero, &mut events).unwrap();
        assert!(events.is_empty(), "added disarmed");
        waker.wake();
        waker.wake();
        poller.wait(zero, &mut events).unwrap();
        assert_eq!(events, [(TOKEN, Bands::IN)], "two wakes, one report");
        events.clear();
        poller.wait(zero, &mut events).unwrap();
        assert!(events.is_empty(), "the report consumed the wake-up");
        waker.wake();
        drop(poller);
        // The poller is gone; waking must still be harmless.
        waker.wake();
    }

    #[test]
    fn hangup_and_error_mean_every_band() {
        assert_eq!(ready_bands(libc::EPOLLHUP as u32), Bands::ALL);
        assert_eq!(ready_bands(libc::EPOLLERR as u32), Bands::ALL);
        assert_eq!(ready_bands(libc::EPOLLIN as u32), Bands::IN);
        assert_eq!(
            ready_bands((libc::EPOLLIN | libc::EPOLLOUT) as u32),
            Bands::IN.with(Bands::OUT)
        );
    }
}
