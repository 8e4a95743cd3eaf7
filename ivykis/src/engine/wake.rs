//! The cross-thread mailbox of one loop: how other threads hand it work.
//!
//! A [`Hub`] holds a queue of keys (of `iv_event` registrations, SPEC 6) under
//! a mutex and one kernel wake-up object that the loop polls among its
//! descriptors: the poll backend's own [`Waker`](crate::sys::Waker) where it
//! has one (epoll re-arms an always-readable eventfd with `EPOLLONESHOT`,
//! so the woken loop has nothing to drain), else an eventfd, or a pipe
//! where there is none. Many events share it.
//!
//! Waking costs a system call, and on a 2-core machine a cross-thread wake-up
//! costs tens of microseconds of scheduling; so a poster writes to the
//! eventfd only when the loop may be asleep. The loop announces
//! `sleeping = true` before it checks the queue and waits; a poster queues
//! and then reads `sleeping`. Both sides put a sequentially consistent
//! fence between their write and their read (a Dekker-style handshake), so
//! at least one of them sees the other: either the loop sees the queued key
//! and does not sleep, or the poster sees `sleeping` and writes. `notified`
//! makes repeated posts during one sleep cost one write; the loop lowers it
//! only after draining the wake-up (see `clear_wakeup`). A post from the
//! loop's own thread (from a callback) never sees `sleeping` and so never
//! makes a system call. `wake/loom_tests.rs` model-checks the handshake
//! (`make loom`).
//!
//! The queue lives behind a `Mutex` that is held for a push or a swap only.
//! Posting to a hub whose loop is gone is refused ([`Gone`]), never
//! undefined: the hub is reference-counted and outlives its loop as long as
//! posters hold it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::PoisonError;

use super::sync::{fence, AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering::*};
use crate::sys::{cvt, Bands, Poller, Waker};

/// The token the hub's wake-up descriptor is polled under.
pub const WAKE_TOKEN: u64 = crate::sys::internal_token(1);

/// A post was refused: the loop is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

struct Queue {
    keys: Vec<u64>,
    alive: bool,
}

/// What wakes a sleeping loop: the kernel object it polls ([`WakeFd`]), or
/// a model of one in the loom tests.
pub trait Wakeup {
    /// Makes the object readable (from any thread).
    fn wake(&self);
    /// Makes it unreadable again, consuming every wake-up so far.
    fn drain(&self);
}

/// See the module documentation. `W` is the wake-up object; only the loom
/// tests use another than [`WakeFd`].
pub struct Hub<W: Wakeup = WakeFd> {
    queue: Mutex<Queue>,
    queued: AtomicUsize,
    sleeping: AtomicBool,
    notified: AtomicBool,
    /// The loop's id (for ownership checks by the faces).
    loop_id: u64,
    wakeup: W,
}

impl Hub {
    /// A hub for loop `loop_id` with a counter descriptor of its own, not
    /// yet polled by any loop (see [`Hub::open`]).
    pub fn new(loop_id: u64) -> io::Result<Hub> {
        Ok(Hub::with_wakeup(
            loop_id,
            WakeFd::Counter(CounterFd::open()?),
        ))
    }

    /// The hub of loop `loop_id`, whose backend is `poller`: the backend's
    /// own waker if it has one, else a counter descriptor it polls under
    /// [`WAKE_TOKEN`].
    pub(crate) fn open(loop_id: u64, poller: &mut dyn Poller) -> io::Result<Hub> {
        if let Some(waker) = poller.waker(WAKE_TOKEN) {
            return Ok(Hub::with_wakeup(loop_id, WakeFd::Backend(waker?)));
        }
        let hub = Hub::new(loop_id)?;
        if let Some(fd) = hub.poll_fd() {
            poller.set_interest(fd, WAKE_TOKEN, false, Bands::IN)?;
        }
        Ok(hub)
    }

    /// The descriptor the loop polls, if the hub has its own.
    pub(crate) fn poll_fd(&self) -> Option<RawFd> {
        match &self.wakeup {
            WakeFd::Counter(c) => Some(c.read_end.as_raw_fd()),
            WakeFd::Backend(_) => None,
        }
    }
}

impl<W: Wakeup> Hub<W> {
    fn with_wakeup(loop_id: u64, wakeup: W) -> Hub<W> {
        Hub {
            queue: Mutex::new(Queue {
                keys: Vec::new(),
                alive: true,
            }),
            queued: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            notified: AtomicBool::new(false),
            loop_id,
            wakeup,
        }
    }

    /// The id of the loop this hub belongs to.
    pub fn loop_id(&self) -> u64 {
        self.loop_id
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing can leave the queue half-updated: a panic while holding
        // the lock would be a bug in this file, and the data stays valid.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` for the loop and wakes it if it may be asleep. Callable
    /// from any thread (not from signal handlers: it takes a lock).
    pub fn post(&self, key: u64) -> Result<(), Gone> {
        {
            let mut q = self.lock();
            if !q.alive {
                return Err(Gone);
            }
            q.keys.push(key);
            self.queued.fetch_add(1, SeqCst);
        }
        // The other half of the handshake in `going_to_sleep`.
        fence(SeqCst);
        if self.sleeping.load(Relaxed) && !self.notified.swap(true, AcqRel) {
            self.wakeup.wake();
        }
        Ok(())
    }

    /// Before the loop waits: announce the sleep and say whether posts are
    /// already queued (then the loop must not sleep).
    pub(crate) fn going_to_sleep(&self) -> bool {
        self.sleeping.store(true, Relaxed);
        // Each side writes its variable, then a SeqCst fence, then reads
        // the other's: of two such sequences, at least one sees the other
        // side's write. (Stated with fences, which loom models; it treats
        // SeqCst loads and stores as acquire/release only.)
        fence(SeqCst);
        self.queued.load(Relaxed) != 0
    }

    /// After the loop's wait.
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Relaxed);
    }

    /// Whether keys are queued.
    pub(crate) fn has_posts(&self) -> bool {
        self.queued.load(Acquire) != 0
    }

    /// Consumes the wake-up (the descriptor was reported readable).
    pub(crate) fn clear_wakeup(&self) {
        // Drain first, then lower `notified`. The other order loses a
        // wake-up: a poster that saw `sleeping` before `awake` could raise
        // the flag just after it was lowered and write just before the
        // drain, leaving the flag raised with nothing to read; the next
        // sleep's posts would then see the flag and not write (found by
        // `loom_model_two_posters`). In this order a poster that raises
        // the flag after it is lowered writes after the drain. Posters
        // that find it still raised queued their keys before the swap
        // below, and `run_posted_events` takes them after it.
        self.wakeup.drain();
        // A swap rather than a store: the same instruction on x86, and loom
        // orders it against the posters' swaps.
        self.notified.swap(false, SeqCst);
    }

    /// Moves the queued keys into `out` (which the caller keeps to reuse).
    pub(crate) fn take(&self, out: &mut Vec<u64>) {
        let mut q = self.lock();
        std::mem::swap(&mut q.keys, out);
        self.queued.store(0, SeqCst);
    }

    /// The loop is going away: refuse later posts.
    pub(crate) fn close(&self) {
        let mut q = self.lock();
        q.alive = false;
        q.keys.clear();
        self.queued.store(0, SeqCst);
    }
}

/// The hub's kernel wake-up object.
pub enum WakeFd {
    /// The engine's own: written to wake, polled, drained after.
    Counter(CounterFd),
    /// The poll backend's: nothing to drain.
    Backend(Box<dyn Waker>),
}

impl Wakeup for WakeFd {
    #[inline]
    fn wake(&self) {
        match self {
            WakeFd::Counter(c) => c.wake(),
            WakeFd::Backend(w) => w.wake(),
        }
    }

    #[inline]
    fn drain(&self) {
        match self {
            WakeFd::Counter(c) => c.drain(),
            // Reporting the wake-up consumed it (`Waker::wake`).
            WakeFd::Backend(_) => {}
        }
    }
}

/// An eventfd, or a non-blocking close-on-exec pipe where eventfd is
/// missing.
pub struct CounterFd {
    read_end: OwnedFd,
    /// The pipe's write end; `None` for an eventfd (one descriptor).
    write_end: Option<OwnedFd>,
}

impl CounterFd {
    fn open() -> io::Result<CounterFd> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: plain syscall without pointers.
            match cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }) {
                Ok(fd) => {
                    return Ok(CounterFd {
                        // SAFETY: a fresh descriptor that nothing else owns.
                        read_end: unsafe { OwnedFd::from_raw_fd(fd) },
                        write_end: None,
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
                Err(e) => return Err(e),
            }
        }
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
        // SAFETY: fresh descriptors that nothing else owns.
        Ok(unsafe {
            CounterFd {
                read_end: OwnedFd::from_raw_fd(fds[0]),
                write_end: Some(OwnedFd::from_raw_fd(fds[1])),
            }
        })
    }
}

impl CounterFd {
    fn wake(&self) {
        let fd = self
            .write_end
            .as_ref()
            .unwrap_or(&self.read_end)
            .as_raw_fd();
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. EAGAIN (counter or pipe
        // full) means a wake-up is pending anyway; nothing else can fail on
        // a descriptor we own.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a live local buffer of the given size.
            let n = unsafe {
                libc::read(
                    self.read_end.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            // An eventfd is drained by one read; a pipe may need more.
            if n <= 0 || self.write_end.is_none() || (n as usize) < buf.len() {
                break;
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn posts_while_awake_make_no_wakeup() {
        let hub = Hub::new(7).unwrap();
        hub.post(1).unwrap();
        assert!(!hub.notified.load(SeqCst), "no write while awake");
        assert!(hub.going_to_sleep(), "queued posts keep the loop awake");
        hub.awake();
        let mut keys = Vec::new();
        hub.take(&mut keys);
        assert_eq!(keys, [1]);
        assert!(!hub.has_posts());
    }

    #[test]
    fn posts_while_asleep_write_once() {
        let hub = Hub::new(7).unwrap();
        assert!(!hub.going_to_sleep());
        hub.post(1).unwrap();
        hub.post(2).unwrap();
        assert!(hub.notified.load(SeqCst));
        let mut buf = [0u8; 8];
        // SAFETY: reads 8 bytes into a live buffer.
        let n = unsafe { libc::read(hub.poll_fd().unwrap(), buf.as_mut_ptr().cast(), 8) };
        assert_eq!(n, 8);
        assert_eq!(u64::from_ne_bytes(buf), 1, "two posts, one write");
    }

    #[test]
    fn closed_hub_refuses() {
        let hub = Hub::new(7).unwrap();
        hub.close();
        assert_eq!(hub.post(1), Err(Gone));
    }

    #[test]
    fn many_posters_lose_nothing() {
        let hub = Arc::new(Hub::new(7).unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let hub = Arc::clone(&hub);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        hub.post(t * 1000 + i).unwrap();
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut batch = Vec::new();
        while all.len() < 4000 {
            hub.take(&mut batch);
            all.append(&mut batch);
            std::thread::yield_now();
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        all.sort_unstable();
        assert_eq!(all, (0..4000).collect::<Vec<u64>>());
    }
}
