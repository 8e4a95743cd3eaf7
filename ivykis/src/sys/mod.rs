//! Poll backends ("poll methods", SPEC 9), one file each, behind [`Poller`].
//!
//! Nothing above this module knows which backend runs. The engine keeps the
//! interest set and batches changes; a backend only hears the net change for
//! a descriptor just before the wait ([`Poller::set_interest`]), or at once
//! when a descriptor is unregistered ([`Poller::remove`]) or when a caller
//! needs the kernel's verdict immediately (`iv_fd_register_try`).
//!
//! Shape for later backends: a completion-based io_uring backend would turn
//! `set_interest` into queued multishot poll (or poll-remove) submissions and
//! submit them together inside `wait`, reaping completions into the same
//! event buffer; a metrics wrapper is a `Poller` that forwards to another.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "macos",
    target_os = "ios"
))]
mod kqueue;
mod poll;

/// Opaque value the engine attaches to a registration and gets back with its
/// readiness (a slab [`Key`](crate::engine::slab::Key) as an integer).
pub type Token = u64;

/// Tokens for the engine's own descriptors (a loop's wake-up object): slab
/// keys never have generation 0, so `n` (index `n`, generation 0) for small
/// `n` cannot clash with a registration.
pub const fn internal_token(n: u32) -> Token {
    n as Token
}

/// `Some(n)` if `token` is `internal_token(n)`.
pub fn internal_index(token: Token) -> Option<usize> {
    (token >> 32 == 0).then_some(token as usize)
}

/// A set of readiness bands: error, input, output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bands(u8);

impl Bands {
    /// No band.
    pub const NONE: Bands = Bands(0);
    /// Error condition (the C face's `handler_err`).
    pub const ERR: Bands = Bands(1);
    /// Readable (`handler_in`).
    pub const IN: Bands = Bands(2);
    /// Writable (`handler_out`).
    pub const OUT: Bands = Bands(4);
    /// All three: what an error or hang-up reports.
    pub const ALL: Bands = Bands(7);

    /// Whether every band of `other` is in `self`.
    #[inline]
    pub fn contains(self, other: Bands) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no band is set.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Union.
    #[inline]
    pub fn with(self, other: Bands) -> Bands {
        Bands(self.0 | other.0)
    }

    /// Intersection.
    #[inline]
    pub fn and(self, other: Bands) -> Bands {
        Bands(self.0 & other.0)
    }

    /// `bands` if `on`, else nothing.
    #[inline]
    pub fn when(on: bool, bands: Bands) -> Bands {
        if on {
            bands
        } else {
            Bands::NONE
        }
    }
}

/// One readiness report: the registration's token and its ready bands.
pub type Event = (Token, Bands);

/// A poll backend. One per thread; never shared.
pub trait Poller {
    /// The method's name as `iv_poll_method_name()` reports it.
    fn name(&self) -> &'static str;

    /// Make the kernel watch `fd` for `bands` (possibly none), reporting
    /// `token`. `known` says whether the kernel already has this registration
    /// from an earlier call.
    fn set_interest(
        &mut self,
        fd: RawFd,
        token: Token,
        known: bool,
        bands: Bands,
    ) -> io::Result<()>;

    /// Forget `fd`'s registration made for `token`. The descriptor may
    /// already be closed; that is not an error, and a newer registration of
    /// the same descriptor number for another token must not be disturbed.
    fn remove(&mut self, fd: RawFd, token: Token);

    /// Wait up to `timeout` (`None`: no limit) and append the ready
    /// registrations to `events`. An interrupted wait returns `Ok` with no
    /// events.
    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()>;

    /// A way for other threads to make `wait` report `token` that is
    /// cheaper than the engine's own (writing an eventfd the loop polls and
    /// draining it after), or `None` if the backend has none. Called once
    /// per loop, when its first cross-thread event is registered.
    fn waker(&mut self, token: Token) -> Option<io::Result<Box<dyn Waker>>> {
        let _ = token;
        None
    }
}

/// A backend's cross-thread wake-up (see [`Poller::waker`]). It must stay
/// valid after its poller is dropped: posters may outlive the loop.
pub trait Waker: Send + Sync {
    /// Makes the poller's current or next `wait` report the waker's token
    /// (once, however often this is called before that). Reporting it
    /// consumes the wake-up: nothing is left to drain.
    fn wake(&self);
}

/// The poll methods this build offers, in order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Linux epoll (epoll_pwait2 with an epoll_wait fallback).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Epoll,
    /// BSD / macOS kqueue.
    #[cfg(any(
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly",
        target_os = "macos",
        target_os = "ios"
    ))]
    Kqueue,
    /// `ppoll(2)`, nanosecond timeouts.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    Ppoll,
    /// `poll(2)`, available everywhere.
    Poll,
}

impl Method {
    /// Every method of this build, best first.
    pub const ALL: &'static [Method] = &[
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Method::Epoll,
        #[cfg(any(
            target_os = "freebsd",
            target_os = "openbsd",
            target_os = "netbsd",
            target_os = "dragonfly",
            target_os = "macos",
            target_os = "ios"
        ))]
        Method::Kqueue,
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        Method::Ppoll,
        Method::Poll,
    ];

    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Method::Epoll => "epoll",
            #[cfg(any(
                target_os = "freebsd",
                target_os = "openbsd",
                target_os = "netbsd",
                target_os = "dragonfly",
                target_os = "macos",
                target_os = "ios"
            ))]
            Method::Kqueue => "kqueue",
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
            Method::Ppoll => "ppoll",
            Method::Poll => "poll",
        }
    }

    /// Opens a backend of this method for the calling thread.
    pub fn open(self) -> io::Result<Box<dyn Poller>> {
        Ok(match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Method::Epoll => Box::new(epoll::Epoll::new()?),
            #[cfg(any(
                target_os = "freebsd",
                target_os = "openbsd",
                target_os = "netbsd",
                target_os = "dragonfly",
                target_os = "macos",
                target_os = "ios"
            ))]
            Method::Kqueue => Box::new(kqueue::Kqueue::new()?),
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
            Method::Ppoll => Box::new(poll::Poll::new(poll::Flavour::Ppoll)),
            Method::Poll => Box::new(poll::Poll::new(poll::Flavour::Poll)),
        })
    }
}

/// The methods left after `IV_EXCLUDE_POLL_METHOD` (a space-separated list of
/// names), which is honoured only when the real and effective user ids match
/// (a set-uid program must not be steered by its caller's environment).
pub fn candidate_methods() -> Vec<Method> {
    let trusted = rustix::process::getuid() == rustix::process::geteuid();
    let excluded = if trusted {
        std::env::var("IV_EXCLUDE_POLL_METHOD").unwrap_or_default()
    } else {
        String::new()
    };
    Method::ALL
        .iter()
        .copied()
        .filter(|m| !excluded.split_ascii_whitespace().any(|x| x == m.name()))
        .collect()
}

/// Milliseconds for `poll`/`epoll_wait`, rounded up so that the wait never
/// ends before the timeout (an early wake-up would only cost an iteration,
/// but rounding down a 0.5 ms timeout to 0 would spin).
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// A `timespec` for `ppoll`/`epoll_pwait2`, or null for no limit.
pub(crate) fn timeout_timespec(timeout: Option<Duration>) -> Option<libc::timespec> {
    timeout.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as _,
    })
}

/// Turns a libc return value of `-1` into the thread's `errno`.
pub(crate) fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(
            timeout_ms(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }

    #[test]
    fn bands_algebra() {
        let b = Bands::IN.with(Bands::OUT);
        assert!(b.contains(Bands::IN) && !b.contains(Bands::ERR));
        assert_eq!(b.and(Bands::OUT), Bands::OUT);
        assert!(Bands::when(false, Bands::ALL).is_empty());
    }
}
