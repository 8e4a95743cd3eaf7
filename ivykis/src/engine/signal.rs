//! POSIX signals as loop callbacks: the engine of `iv_signal` and of the
//! Rust face's signal sources (SPEC 6).
//!
//! # Design
//!
//! Each registered [`Signal`] owns a [`RawEvent`] (an eventfd) that its loop
//! watches like any descriptor, and a `Target` in a process-wide table:
//! one list per signal number. The library's own handler, installed with
//! `sigaction` (`SA_RESTART`, every signal blocked while it runs) when a
//! signal's list becomes non-empty, picks the targets for the signal and
//! wakes each: it sets the target's `pending` flag and, if the flag was
//! clear, posts its raw event (one `write`). When the loop sees the
//! descriptor readable, the face calls [`Signal::take`], which drains the
//! descriptor and clears the flag, and calls the handler only if the flag
//! was set. So posts are coalesced, one `write` is made per wake-up however
//! many signals arrive meanwhile, and a signal that arrives while the
//! handler runs (after `take`) sets the flag and posts again: the handler
//! runs again afterwards.
//!
//! **Who gets a signal.** A list is kept in serving order: exclusive targets
//! first, then the others, each group in registration order. A target
//! registered with [`THIS_THREAD`] belongs to the thread that registered it.
//! If the thread the signal was delivered to has targets of its own for that
//! signal, the signal goes to those; otherwise to the process-wide targets.
//! Within that class, every target is woken in order until the first
//! exclusive one, which stops the walk. If an exclusive target is
//! unregistered while its wake-up is pending (the flag is still set), the
//! signal is delivered again, at unregister time, to the same class without
//! it: the next object takes it over.
//!
//! **What the handler may do.** Only async-signal-safe work: atomics,
//! `getpid`, `gettid`, `write`; no allocation, no lock a normal thread may
//! hold while the signal arrives. The table is guarded by a spinlock. The
//! handler takes it; threads that change the table take it only with every
//! signal blocked in that thread (`pthread_sigmask`), so a handler never
//! spins against a holder on its own thread. Registering may allocate (the
//! target, the list's growth) while holding it; the handler never does. The
//! handler holds the lock while it writes, so once unregistering has removed
//! a target, nothing writes to its descriptor any more and it may be closed.
//!
//! **Fork.** `fork` copies the table, the installed handler and the raw
//! events, which the child shares with the parent; a signal delivered to a
//! child before it calls `exec` must not reach the parent's handlers. The
//! table records the pid of the process its targets belong to; the handler
//! ignores signals when `getpid()` differs (as the C library does: the
//! child neither runs a handler nor takes the default action). The first
//! registration or unregistration in a child starts from a clean slate: it
//! forgets the parent's targets and restores the default disposition of
//! their signals (where the child has not installed a handler of its own).
//! The lock is not held across `fork`: `fork` takes the allocator's locks
//! after the `pthread_atfork` prepare handlers, and a thread holding one of
//! them may be in this module's handler, waiting for the lock. Instead, the
//! forking thread blocks every signal from the prepare handler on, and the
//! child's handler releases the lock: only the forking thread exists in the
//! child, so whoever held it there is gone. If someone held it, the child's
//! copy of the table may be half-changed; the child never reads its targets
//! (they are the parent's), and its first registration then forgets them
//! without dropping them.
//!
//! Nothing allocates or frees memory while holding the lock, for the same
//! reason: a thread waiting for the allocator's lock while holding this one
//! would wait forever for a thread interrupted in the allocator.
//!
//! **Last one out.** When a signal's last target is unregistered, its
//! disposition goes back to `SIG_DFL` (not to what it was before the first
//! registration, as the C library does).
//!
//! Costs: register and unregister take two `pthread_sigmask` calls, a
//! `sigaction` for a signal's first and last target, and the raw event's
//! open or close. A delivery costs the handler `getpid`, `gettid` only if
//! the signal has thread-bound targets, and one `write` per target woken;
//! the loop then pays one `read` per target and call.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_int;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};

use super::event_raw::{errno, post_fd, set_errno, RawEvent};

/// Flag: exclusive objects are served first, and delivery stops at the
/// first of them (`IV_SIGNAL_FLAG_EXCLUSIVE`).
pub const EXCLUSIVE: u32 = 1;
/// Flag: only see the signal when it is delivered to the registering thread
/// (`IV_SIGNAL_FLAG_THIS_THREAD`).
pub const THIS_THREAD: u32 = 2;

/// One more than the highest signal number (Linux: 64).
#[cfg(any(target_os = "linux", target_os = "android"))]
const NSIG: usize = 65;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const NSIG: usize = 33;

/// An OS thread id (never 0); 0 stands for "any thread".
type ThreadId = i64;

fn current_thread() -> ThreadId {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: gettid takes no arguments and cannot fail; it is a plain
        // system call, so async-signal-safe.
        unsafe { libc::syscall(libc::SYS_gettid) as ThreadId }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: pthread_self cannot fail.
        unsafe { libc::pthread_self() as usize as ThreadId }
    }
}

fn current_process() -> libc::pid_t {
    // SAFETY: getpid cannot fail and is async-signal-safe.
    unsafe { libc::getpid() }
}

/// One registered object, as the signal handler sees it.
#[derive(Debug)]
struct Target {
    /// Registration order, to keep each group of a list in that order.
    seq: u64,
    exclusive: bool,
    /// The registering thread for [`THIS_THREAD`] objects, else 0.
    thread: ThreadId,
    /// The raw event's write end; open while the target is in the table.
    wake_fd: RawFd,
    /// A wake-up was posted and the face has not taken it yet.
    pending: AtomicBool,
}

impl Target {
    /// Exclusive ones first, then registration order.
    fn order(&self) -> (bool, u64) {
        (!self.exclusive, self.seq)
    }

    /// Async-signal-safe. One `write` per wake-up, however many signals
    /// arrive before the face takes it.
    fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            post_fd(self.wake_fd);
        }
    }
}

/// The process-wide table.
struct Table {
    /// The process the targets belong to (0 before the first registration).
    owner: libc::pid_t,
    /// Per signal number, in serving order (see the module documentation).
    lists: [Vec<Arc<Target>>; NSIG],
    /// Per signal number, how many targets are thread-bound: the handler
    /// asks for its thread id only when this is non-zero.
    thread_bound: [u32; NSIG],
}

impl Table {
    /// Wakes the targets that a signal `index` delivered to `thread` (`None`:
    /// as if delivered to a thread without targets of its own) goes to.
    /// Async-signal-safe.
    fn deliver(&self, index: usize, thread: Option<ThreadId>) {
        let list = &self.lists[index];
        let class = match thread {
            Some(tid) if list.iter().any(|t| t.thread == tid) => tid,
            _ => 0,
        };
        for target in list.iter().filter(|t| t.thread == class) {
            target.wake();
            if target.exclusive {
                break;
            }
        }
    }

    /// In a forked child whose table still holds the parent's targets:
    /// forgets them and restores their signals' default disposition.
    /// Records the calling process as the owner.
    fn adopt(&mut self) {
        let pid = current_process();
        if self.owner == pid {
            return;
        }
        let torn = TORN_AT_FORK.swap(false, Ordering::Relaxed);
        if self.owner != 0 {
            for (index, list) in self.lists.iter_mut().enumerate() {
                if !list.is_empty() {
                    restore_default_if_ours(index as c_int);
                    if torn {
                        // Another thread of the parent was changing the
                        // table at the fork: forgotten, not dropped.
                        std::mem::forget(std::mem::take(list));
                    } else {
                        list.clear();
                    }
                }
            }
            self.thread_bound = [0; NSIG];
        }
        self.owner = pid;
    }
}

/// A spinlock around the table (see the module documentation for who may
/// take it and how).
struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and `locked` gives one
// guard at a time, with acquire/release ordering around its use.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// Async-signal-safe as long as no holder can be interrupted by the
    /// caller (see the module documentation).
    fn lock(&self) -> SpinGuard<'_, T> {
        self.acquire();
        SpinGuard(self)
    }

    fn acquire(&self) {
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
            } else {
                // The holder may have been preempted on a busy machine.
                // SAFETY: sched_yield is a plain system call without
                // arguments.
                unsafe { libc::sched_yield() };
            }
        }
    }

    fn release(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

struct SpinGuard<'a, T>(&'a SpinLock<T>);

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (the lock is held).
        unsafe { &*self.0.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// In a forked child: the table's lock was held by another thread of the
/// parent at the fork, so its lists may be half-changed (see `adopt`).
static TORN_AT_FORK: AtomicBool = AtomicBool::new(false);

static TABLE: SpinLock<Table> = SpinLock {
    locked: AtomicBool::new(false),
    value: UnsafeCell::new(Table {
        owner: 0,
        lists: [const { Vec::new() }; NSIG],
        thread_bound: [0; NSIG],
    }),
};

/// Every signal blocked in this thread until dropped (then the old mask is
/// back).
struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    fn new() -> SignalsBlocked {
        SignalsBlocked(block_all_signals())
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        restore_signal_mask(&self.0);
    }
}

fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigfillset fills a sigset_t we own; pthread_sigmask reads it
    // and writes the old mask into another one we own. Neither can fail
    // with valid arguments.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

fn restore_signal_mask(old: &libc::sigset_t) {
    // SAFETY: `old` is a mask pthread_sigmask gave us.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
    }
}

/// The table, for a thread that changes it: signals blocked, lock held.
/// Fields drop in order: the lock is released before signals are unblocked.
struct Exclusive {
    table: SpinGuard<'static, Table>,
    _blocked: SignalsBlocked,
}

fn lock_table() -> Exclusive {
    let blocked = SignalsBlocked::new();
    Exclusive {
        table: TABLE.lock(),
        _blocked: blocked,
    }
}

/// The library's handler of every registered signal.
extern "C" fn on_signal(signum: c_int) {
    let saved_errno = errno();
    {
        let table = TABLE.lock();
        // A forked child before exec: these targets are the parent's, and
        // their raw events are shared with it.
        if table.owner == current_process() {
            if let Some(index) = index_of(signum) {
                let thread = (table.thread_bound[index] > 0).then(current_thread);
                table.deliver(index, thread);
            }
        }
    }
    set_errno(saved_errno);
}

/// The table index of a valid signal number.
fn index_of(signum: c_int) -> Option<usize> {
    usize::try_from(signum)
        .ok()
        .filter(|&i| (1..NSIG).contains(&i))
}

fn install_handler(signum: c_int) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid starting point; we set the
    // handler (an `extern "C" fn(c_int)`, as sa_handler wants without
    // SA_SIGINFO), the flags and a full mask, and pass pointers to it and to
    // nothing for the old action.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigfillset(&mut action.sa_mask);
        libc::sigaction(signum, &action, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn restore_default(signum: c_int) {
    // SAFETY: as in `install_handler`, with SIG_DFL and an empty mask.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signum, &action, std::ptr::null_mut());
    }
}

fn restore_default_if_ours(signum: c_int) {
    // SAFETY: a query: sigaction writes the current action into `current`.
    let current = unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signum, std::ptr::null(), &mut current);
        current
    };
    if current.sa_sigaction == on_signal as extern "C" fn(c_int) as libc::sighandler_t {
        restore_default(signum);
    }
}

/// Blocks signals in the forking thread across `fork`, and releases the
/// table's lock in the child (see the module documentation).
fn install_fork_handlers() {
    static ONCE: Once = Once::new();
    thread_local! {
        /// The forking thread's signal mask, saved by the prepare handler.
        static SAVED_MASK: Cell<Option<libc::sigset_t>> = const { Cell::new(None) };
    }
    extern "C" fn prepare() {
        let old = block_all_signals();
        SAVED_MASK.with(|m| m.set(Some(old)));
    }
    extern "C" fn parent() {
        if let Some(old) = SAVED_MASK.with(Cell::take) {
            restore_signal_mask(&old);
        }
    }
    extern "C" fn child() {
        // Only this thread exists here, and it has had every signal blocked
        // since `prepare`: no holder of the lock is left to release it. If
        // one held it at the fork, the table may be half-changed.
        if TABLE.locked.swap(false, Ordering::Release) {
            TORN_AT_FORK.store(true, Ordering::Relaxed);
        }
        parent();
    }
    ONCE.call_once(|| {
        // SAFETY: three `extern "C" fn()`s that live as long as the program.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    });
}

/// A registered signal object: its raw event and its place in the table.
/// Dropping it unregisters it (passing a pending exclusive signal on, and
/// restoring the default disposition after the signal's last object), then
/// closes the raw event.
///
/// The loop watches it through [`AsFd`] (the raw event's read end); when
/// that is readable, [`Signal::take`] says whether to call the handler.
#[derive(Debug)]
pub struct Signal {
    signum: c_int,
    target: Arc<Target>,
    event: RawEvent,
}

impl Signal {
    /// Registers interest in `signum` for the calling thread, with `flags`
    /// ([`EXCLUSIVE`], [`THIS_THREAD`]; other bits are ignored).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a signal number out of range or one that cannot be
    /// caught (`SIGKILL`, `SIGSTOP`, the C library's internal ones), or
    /// the error of opening the raw event (`EMFILE`...). Nothing stays
    /// registered then.
    pub fn register(signum: c_int, flags: u32) -> io::Result<Signal> {
        let Some(index) = index_of(signum) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let event = RawEvent::open()?;
        install_fork_handlers();
        static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);
        let target = Arc::new(Target {
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
            exclusive: flags & EXCLUSIVE != 0,
            thread: if flags & THIS_THREAD != 0 {
                current_thread()
            } else {
                0
            },
            wake_fd: event.write_fd(),
            pending: AtomicBool::new(false),
        });
        // Room for the new target is made outside the lock (see the module
        // documentation): `spare` is a bigger buffer when the list is full;
        // the list's old buffer ends up in it and is freed after the lock.
        let mut spare: Vec<Arc<Target>> = Vec::new();
        let clone = Arc::clone(&target);
        loop {
            let mut guard = lock_table();
            let table = &mut *guard.table;
            table.adopt();
            let list = &mut table.lists[index];
            if list.len() == list.capacity() {
                if spare.capacity() <= list.len() {
                    let want = (list.len() + 1).max(4) * 2;
                    drop(guard);
                    spare = Vec::with_capacity(want);
                    continue;
                }
                spare.append(list);
                std::mem::swap(list, &mut spare);
            }
            if list.is_empty() {
                // On failure nothing is in the table; `event` is closed on
                // the way out.
                install_handler(signum)?;
            }
            let at = list.partition_point(|t| t.order() < target.order());
            list.insert(at, clone);
            if target.thread != 0 {
                table.thread_bound[index] += 1;
            }
            break;
        }
        drop(spare);
        Ok(Signal {
            signum,
            target,
            event,
        })
    }

    /// The signal number.
    pub fn signum(&self) -> c_int {
        self.signum
    }

    /// For the face, when the loop reports the descriptor readable: drains
    /// it and says whether a signal arrived since the last `take` (call the
    /// handler) or the wake-up was already served (do not).
    #[inline]
    pub fn take(&self) -> bool {
        self.event.drain();
        self.target.pending.swap(false, Ordering::SeqCst)
    }
}

impl AsFd for Signal {
    /// The raw event's read end, which the loop watches for readability.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let index = index_of(self.signum).expect("registered with a valid number");
        let mut guard = lock_table();
        let table = &mut *guard.table;
        // In a forked child this forgets the parent's targets, this one
        // among them: then there is nothing left to remove.
        table.adopt();
        let list = &mut table.lists[index];
        let Some(at) = list.iter().position(|t| Arc::ptr_eq(t, &self.target)) else {
            return;
        };
        let removed = list.remove(at);
        if removed.thread != 0 {
            table.thread_bound[index] -= 1;
        }
        if removed.exclusive && removed.pending.swap(false, Ordering::SeqCst) {
            // Its call is still pending: the signal passes to the next
            // object of the same class.
            table.deliver(index, (removed.thread != 0).then_some(removed.thread));
        }
        if table.lists[index].is_empty() {
            restore_default(self.signum);
        }
        // The lock is released before `event` is closed (fields drop after
        // this body), and no handler can reach this target any more.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(signum: c_int) -> libc::sighandler_t {
        // SAFETY: a sigaction query into a local.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signum, std::ptr::null(), &mut current);
            current.sa_sigaction
        }
    }

    fn raise(signum: c_int) {
        // SAFETY: raise delivers to the calling thread, whose handler for
        // `signum` is ours while a target is registered.
        unsafe { libc::raise(signum) };
    }

    // Each test uses a signal of its own: the test harness runs tests in
    // parallel threads of one process.

    #[test]
    fn out_of_range_and_uncatchable_numbers_are_refused() {
        for signum in [-1, 0, NSIG as c_int, 1000, libc::SIGKILL, libc::SIGSTOP] {
            let e = Signal::register(signum, 0).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "signal {signum}");
        }
        assert_eq!(disposition(libc::SIGKILL), libc::SIG_DFL);
    }

    #[test]
    fn take_reports_each_wakeup_once_and_default_comes_back() {
        let signum = libc::SIGRTMIN() + 10;
        let a = Signal::register(signum, 0).unwrap();
        let b = Signal::register(signum, 0).unwrap();
        assert_ne!(disposition(signum), libc::SIG_DFL);
        raise(signum);
        raise(signum);
        assert!(a.take());
        assert!(!a.take(), "two signals before a take coalesce");
        assert!(b.take());
        drop(a);
        assert_ne!(disposition(signum), libc::SIG_DFL);
        drop(b);
        assert_eq!(disposition(signum), libc::SIG_DFL);
    }

    #[test]
    fn exclusive_hand_over_on_drop() {
        let signum = libc::SIGRTMIN() + 11;
        let plain = Signal::register(signum, 0).unwrap();
        let first = Signal::register(signum, EXCLUSIVE).unwrap();
        let second = Signal::register(signum, EXCLUSIVE).unwrap();
        raise(signum);
        assert!(!plain.take());
        assert!(!second.take());
        drop(first); // pending: passes the signal on
        assert!(second.take());
        assert!(!plain.take());
        drop(second);
        raise(signum);
        assert!(plain.take());
    }

    #[test]
    fn thread_bound_targets_take_signals_sent_to_their_thread() {
        let signum = libc::SIGRTMIN() + 12;
        let anywhere = Signal::register(signum, 0).unwrap();
        let here = Signal::register(signum, THIS_THREAD).unwrap();
        raise(signum);
        assert!(here.take());
        assert!(!anywhere.take());
        std::thread::spawn(move || raise(signum)).join().unwrap();
        assert!(!here.take());
        assert!(anywhere.take());
    }
}
