//! The "kqueue" method, selected on FreeBSD, OpenBSD, NetBSD, DragonFly,
//! macOS and iOS: level-triggered `EVFILT_READ` / `EVFILT_WRITE` filters,
//! one pair per descriptor.
//!
//! Untested on a real kernel: this file has never run on a BSD or on macOS.
//! It has been type-checked and linted for `x86_64-unknown-freebsd`, and on
//! Linux against copies of the macOS, NetBSD and OpenBSD `kevent` layouts;
//! its unit tests have only run against a small user-space kqueue
//! emulation. That shows the bookkeeping is consistent, not that the real
//! kernels behave as assumed here: treat the first run on each system as
//! the test of the assumptions below.
//!
//! How it maps the [`Poller`] contract onto kqueue:
//!
//! - Each interest change is applied at once with one `kevent` call whose
//!   changes all carry `EV_RECEIPT`, so the kernel answers every change with
//!   its own errno instead of failing the call on the first one; a refusal
//!   of an addition is returned from `set_interest`.
//! - Interest in the error band alone has no filter to express it, so such a
//!   registration holds no filter at all; errors are seen through the read
//!   or write filter.
//! - Closing a descriptor drops its filters from every kqueue (unlike epoll,
//!   where the open file, not the number, is registered). The backend keeps,
//!   per descriptor number, the token whose registration holds it and the
//!   filters it added, so that removing an old, closed registration cannot
//!   delete the filters of a newer one that got the same number, and so that
//!   a ready event is traced back to its token by its `ident` (the token is
//!   64 bits and does not fit `udata` on 32-bit systems).
//! - `EV_EOF` on the write filter (peer gone, pipe reader closed) and any
//!   `EV_EOF` that carries a socket error count as ready for every band
//!   (SPEC 9). `EV_EOF` on the read filter without an error is only "read
//!   will return end-of-file", which poll and epoll report as readable (a
//!   half-closed socket is not hung up), so it reports the input band.
//! - Some kernels (macOS, older FreeBSD) refuse `EVFILT_WRITE` on a pipe
//!   whose reader is gone with `EPIPE`. That is the hang-up itself, so the
//!   registration is kept and reported ready for every band at each wait,
//!   as a level-triggered hang-up would be, until it stops wanting output.
//! - A read and a write event for the same descriptor in one batch are
//!   merged into a single `(token, bands)` entry.
//! - `kqueue()` gets close-on-exec from `kqueue1(O_CLOEXEC)` on NetBSD and
//!   from `fcntl` right after creation elsewhere (FreeBSD's `kqueuex` exists
//!   only from 14.0). The gap does not leak: a kqueue is not inherited by
//!   `fork` children on these systems in the first place.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{cvt, timeout_timespec, Bands, Event, Poller, Token};

const INITIAL_EVENTS: usize = 64;
const MAX_EVENTS: usize = 4096;

/// The longest single wait (about 34 years). Some kernels turn the timeout
/// into a deadline in nanoseconds or clock ticks; this keeps that from
/// overflowing, and waking up after it costs one loop iteration.
const LONGEST_WAIT: Duration = Duration::from_secs(1 << 30);

/// `kevent::filter`: a signed 16-bit number everywhere but NetBSD.
#[cfg(not(target_os = "netbsd"))]
type Filter = i16;
#[cfg(target_os = "netbsd")]
type Filter = u32;

/// `kevent::flags`: 16 bits everywhere but NetBSD.
#[cfg(not(target_os = "netbsd"))]
type Flags = u16;
#[cfg(target_os = "netbsd")]
type Flags = u32;

/// The kernel holds this descriptor's `EVFILT_READ` filter for us.
const READ: u8 = 1;
/// The kernel holds this descriptor's `EVFILT_WRITE` filter for us.
const WRITE: u8 = 2;
/// Output is wanted but `EVFILT_WRITE` was refused with `EPIPE`: the
/// descriptor is hung up and is reported ready at every wait.
const WRITE_REFUSED: u8 = 4;

/// What the backend knows about one descriptor number.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// The token whose registration holds this number (0: none).
    token: Token,
    /// [`READ`], [`WRITE`] and [`WRITE_REFUSED`] bits.
    filters: u8,
    /// Index in the caller's event list of this descriptor's entry during
    /// the current wait, for merging. Checked before use (it must point
    /// past the batch's start at an entry with this token), so a value left
    /// from an earlier wait is harmless.
    out: usize,
}

/// A kqueue and what this thread's loop registered in it.
pub struct Kqueue {
    kq: OwnedFd,
    /// Receive buffer for `kevent`; only its capacity matters between waits.
    buffer: Vec<libc::kevent>,
    /// Indexed by descriptor number; grows on demand.
    slots: Vec<Slot>,
    /// Descriptors whose slot has [`WRITE_REFUSED`], in no order.
    refused: Vec<RawFd>,
}

impl Kqueue {
    pub fn new() -> io::Result<Kqueue> {
        #[cfg(target_os = "netbsd")]
        // SAFETY: plain syscall without pointers.
        let fd = cvt(unsafe { libc::kqueue1(libc::O_CLOEXEC) })?;
        #[cfg(not(target_os = "netbsd"))]
        // SAFETY: plain syscall without pointers.
        let fd = cvt(unsafe { libc::kqueue() })?;
        // SAFETY: `fd` was just returned by kqueue and is owned by nobody else.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        #[cfg(not(target_os = "netbsd"))]
        // SAFETY: fcntl on a descriptor we own, with an integer argument.
        cvt(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        Ok(Kqueue {
            kq,
            buffer: Vec::with_capacity(INITIAL_EVENTS),
            slots: Vec::new(),
            refused: Vec::new(),
        })
    }

    fn slot_mut(&mut self, fd: RawFd) -> &mut Slot {
        let i = fd as usize;
        if i >= self.slots.len() {
            self.slots
                .resize((i + 1).next_power_of_two(), Slot::default());
        }
        &mut self.slots[i]
    }

    /// Applies `changes` (at most two, each with `EV_RECEIPT`) and returns
    /// each one's errno, 0 for success, in the same order. `Err` only when
    /// the call itself failed. A change without a receipt counts as done:
    /// a kernel that ignored `EV_RECEIPT` would report only failures.
    fn apply(&self, changes: &[libc::kevent]) -> io::Result<[libc::c_int; 2]> {
        debug_assert!(changes.len() <= 2);
        let mut receipts = [blank_kevent(), blank_kevent()];
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let received = loop {
            // SAFETY: `changes` holds `changes.len()` initialised kevents and
            // `receipts` has room for as many; `zero` is a valid timespec.
            // All are alive for the call. The zero timeout makes sure the
            // call never sleeps, even if a receipt went missing.
            let res = unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    changes.as_ptr(),
                    changes.len() as _,
                    receipts.as_mut_ptr(),
                    changes.len() as _,
                    &zero,
                )
            };
            match cvt(res) {
                Ok(n) => break n as usize,
                // Adding twice or deleting twice is harmless: just retry.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let mut errnos = [0; 2];
        for receipt in &receipts[..received.min(changes.len())] {
            // Fields are copied out before use: macOS packs the struct.
            let (flags, filter, data) = (receipt.flags, receipt.filter, receipt.data);
            // Without EV_ERROR this is a ready event, not a receipt (a
            // kernel that ignored EV_RECEIPT). Dropping it loses nothing:
            // level-triggered readiness is reported again at the next wait.
            if flags & libc::EV_ERROR == 0 {
                continue;
            }
            if let Some(i) = changes.iter().position(|c| c.filter == filter) {
                errnos[i] = data as libc::c_int;
            }
        }
        Ok(errnos)
    }

    /// Deletes the filters in `filters` for `fd`, ignoring refusals: used
    /// when nothing can be done about them (the descriptor is closed, or the
    /// registration is being abandoned anyway).
    fn delete_quietly(&self, fd: RawFd, filters: u8) {
        let mut changes = Changes::new(fd);
        for bit in [READ, WRITE] {
            if filters & bit != 0 {
                changes.push(bit, false);
            }
        }
        if !changes.is_empty() {
            // EBADF or ENOENT: the descriptor was closed, which took its
            // filters with it. Nothing else is expected or could be fixed.
            let _ = self.apply(changes.as_slice());
        }
    }

    /// Stores `filters` in `fd`'s slot, keeping `refused` in step.
    fn store(&mut self, fd: RawFd, token: Token, filters: u8) {
        let slot = self.slot_mut(fd);
        let was_refused = slot.filters & WRITE_REFUSED != 0;
        slot.token = token;
        slot.filters = filters;
        let is_refused = filters & WRITE_REFUSED != 0;
        if is_refused && !was_refused {
            self.refused.push(fd);
        } else if was_refused && !is_refused {
            self.refused.retain(|&r| r != fd);
        }
    }
}

/// An all-zero `kevent`, the base of every change and receive buffer.
fn blank_kevent() -> libc::kevent {
    // SAFETY: `kevent` is plain data (integers, a raw pointer and, on
    // FreeBSD, an integer array); all-zero bytes are a valid value of it,
    // with a null `udata`.
    unsafe { std::mem::zeroed() }
}

/// Up to two changes (one per filter) for one descriptor, each asking for
/// a receipt; on the stack, as `set_interest` is on the loop's hot path.
struct Changes {
    fd: RawFd,
    list: [libc::kevent; 2],
    /// Per change: the filter's bit and whether it is added (else deleted).
    what: [(u8, bool); 2],
    len: usize,
}

impl Changes {
    fn new(fd: RawFd) -> Changes {
        Changes {
            fd,
            list: [blank_kevent(), blank_kevent()],
            what: [(0, false); 2],
            len: 0,
        }
    }

    /// Queues adding (`add`) or deleting the filter of `bit` ([`READ`] or
    /// [`WRITE`]).
    fn push(&mut self, bit: u8, add: bool) {
        let change = &mut self.list[self.len];
        change.ident = self.fd as libc::uintptr_t;
        change.filter = if bit == READ {
            libc::EVFILT_READ
        } else {
            libc::EVFILT_WRITE
        };
        let op = if add { libc::EV_ADD } else { libc::EV_DELETE };
        change.flags = op | libc::EV_RECEIPT;
        self.what[self.len] = (bit, add);
        self.len += 1;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn as_slice(&self) -> &[libc::kevent] {
        &self.list[..self.len]
    }

    fn what(&self) -> &[(u8, bool)] {
        &self.what[..self.len]
    }
}

/// The bands one kqueue event reports (see the module docs for `EV_EOF`).
fn ready_bands(filter: Filter, flags: Flags, fflags: u32) -> Bands {
    let eof = flags & libc::EV_EOF != 0;
    if flags & libc::EV_ERROR != 0 || (eof && fflags != 0) {
        return Bands::ALL;
    }
    if filter == libc::EVFILT_READ {
        Bands::IN
    } else if filter == libc::EVFILT_WRITE {
        if eof {
            Bands::ALL
        } else {
            Bands::OUT
        }
    } else {
        Bands::NONE
    }
}

/// Adds `bands` for `slot`'s token to `events`, merging with the entry this
/// wait already made for it (entries before `start` belong to someone else).
fn report(events: &mut Vec<Event>, start: usize, slot: &mut Slot, bands: Bands) {
    if bands.is_empty() {
        return;
    }
    if slot.out >= start {
        if let Some(entry) = events.get_mut(slot.out) {
            if entry.0 == slot.token {
                entry.1 = entry.1.with(bands);
                return;
            }
        }
    }
    slot.out = events.len();
    events.push((slot.token, bands));
}

impl Poller for Kqueue {
    fn name(&self) -> &'static str {
        "kqueue"
    }

    fn set_interest(
        &mut self,
        fd: RawFd,
        token: Token,
        known: bool,
        bands: Bands,
    ) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let slot = *self.slot_mut(fd);
        if known && slot.token != token && slot.token != 0 {
            // This registration's number now belongs to a newer one, so its
            // own descriptor was closed, and its filters with it. Changing
            // the number's filters would disturb the newer registration.
            return Ok(());
        }
        // For a new registration the slot's bits may be stale (the number's
        // previous holder may have been closed, dropping its filters), so
        // wanted filters are added regardless and unwanted ones deleted
        // with ENOENT tolerated.
        let fresh = !known || slot.token != token;
        let want_read = bands.contains(Bands::IN);
        let want_write = bands.contains(Bands::OUT);

        let mut changes = Changes::new(fd);
        if want_read && (fresh || slot.filters & READ == 0) {
            changes.push(READ, true);
        } else if !want_read && slot.filters & READ != 0 {
            changes.push(READ, false);
        }
        if want_write && (fresh || slot.filters & (WRITE | WRITE_REFUSED) == 0) {
            changes.push(WRITE, true);
        } else if !want_write && slot.filters & WRITE != 0 {
            changes.push(WRITE, false);
        }

        let mut filters = slot.filters;
        if !want_write {
            filters &= !WRITE_REFUSED;
        }
        let mut refusal = None;
        if !changes.is_empty() {
            let errnos = self.apply(changes.as_slice())?;
            for (&(bit, add), &errno) in changes.what().iter().zip(&errnos) {
                match (add, errno) {
                    (true, 0) if bit == WRITE => filters = (filters | WRITE) & !WRITE_REFUSED,
                    (true, 0) => filters |= bit,
                    // The pipe's reader is gone: a hang-up, reported by
                    // `wait` for as long as output is wanted.
                    (true, libc::EPIPE) if bit == WRITE => {
                        filters = (filters & !WRITE) | WRITE_REFUSED
                    }
                    // Deleted, or already gone with the closed descriptor.
                    (false, 0 | libc::ENOENT | libc::EBADF) => filters &= !bit,
                    (_, errno) => {
                        refusal.get_or_insert(io::Error::from_raw_os_error(errno));
                    }
                }
            }
        }

        match refusal {
            None => {
                self.store(fd, token, filters);
                Ok(())
            }
            Some(e) if !known => {
                // The engine forgets a new registration that was refused, so
                // nothing of it may stay behind to report events.
                self.delete_quietly(fd, filters);
                self.store(fd, 0, 0);
                Err(e)
            }
            Some(e) => {
                // The engine keeps a known registration and will remove it
                // later: record exactly what the kernel now holds.
                self.store(fd, token, filters);
                Err(e)
            }
        }
    }

    fn remove(&mut self, fd: RawFd, token: Token) {
        if fd < 0 {
            return;
        }
        let Some(slot) = self.slots.get(fd as usize) else {
            return;
        };
        if slot.token != token {
            return;
        }
        let filters = slot.filters;
        self.store(fd, 0, 0);
        self.delete_quietly(fd, filters);
    }

    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        // A refused write filter is a hang-up that the kernel will not
        // report: do not sleep while there is one to report.
        let timeout = if self.refused.is_empty() {
            timeout.map(|t| t.min(LONGEST_WAIT))
        } else {
            Some(Duration::ZERO)
        };
        let ts = timeout_timespec(timeout);
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: no changes; the buffer has `capacity` writable kevents; the
        // timespec (or null) is valid for the call.
        let res = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                self.buffer.as_mut_ptr(),
                self.buffer.capacity() as _,
                ts_ptr,
            )
        };
        let n = match cvt(res) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { self.buffer.set_len(n) };
        let start = events.len();
        for ev in &self.buffer {
            // Fields are copied out before use: macOS packs the struct.
            let (ident, filter, flags, fflags) = (ev.ident, ev.filter, ev.flags, ev.fflags);
            let Some(slot) = self.slots.get_mut(ident) else {
                continue;
            };
            if slot.token != 0 {
                report(events, start, slot, ready_bands(filter, flags, fflags));
            }
        }
        for &fd in &self.refused {
            let slot = &mut self.slots[fd as usize];
            report(events, start, slot, Bands::ALL);
        }
        let full = n == self.buffer.capacity();
        self.buffer.clear();
        if full && n < MAX_EVENTS {
            // Many descriptors are ready at once: take more per wait next time.
            self.buffer.reserve(n * 2);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Token = (1 << 32) | 1;
    const T2: Token = (1 << 32) | 2;
    const T3: Token = (1 << 32) | 3;

    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) }).unwrap();
        (fds[0], fds[1])
    }

    fn socket_pair() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair() writes.
        cvt(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) })
            .unwrap();
        (fds[0], fds[1])
    }

    fn write_byte(fd: RawFd) {
        // SAFETY: one byte from a live local.
        assert_eq!(unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) }, 1);
    }

    fn close(fd: RawFd) {
        // SAFETY: the tests close only descriptors they opened, once.
        unsafe { libc::close(fd) };
    }

    fn wait_now(kq: &mut Kqueue) -> Vec<Event> {
        let mut events = Vec::new();
        kq.wait(Some(Duration::ZERO), &mut events).unwrap();
        events.sort_by_key(|e| e.0);
        events
    }

    #[test]
    fn end_of_file_and_errors() {
        let (read, write) = (libc::EVFILT_READ, libc::EVFILT_WRITE);
        assert_eq!(ready_bands(read, 0, 0), Bands::IN);
        assert_eq!(ready_bands(write, 0, 0), Bands::OUT);
        assert_eq!(ready_bands(read, libc::EV_EOF, 0), Bands::IN);
        assert_eq!(
            ready_bands(read, libc::EV_EOF, libc::ECONNRESET as u32),
            Bands::ALL
        );
        assert_eq!(ready_bands(write, libc::EV_EOF, 0), Bands::ALL);
        assert_eq!(ready_bands(read, libc::EV_ERROR, 0), Bands::ALL);
    }

    #[test]
    fn readable_and_writable_merge() {
        let mut kq = Kqueue::new().unwrap();
        let (r, w) = pipe();
        kq.set_interest(r, T1, false, Bands::IN).unwrap();
        kq.set_interest(w, T2, false, Bands::OUT.with(Bands::ERR))
            .unwrap();
        assert_eq!(wait_now(&mut kq), vec![(T2, Bands::OUT)]);
        write_byte(w);
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::IN), (T2, Bands::OUT)]);
        // Level-triggered: still readable.
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::IN), (T2, Bands::OUT)]);
        kq.set_interest(w, T2, true, Bands::NONE).unwrap();
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::IN)]);

        let (a, b) = socket_pair();
        kq.set_interest(a, T3, false, Bands::IN.with(Bands::OUT))
            .unwrap();
        write_byte(b);
        assert_eq!(
            wait_now(&mut kq),
            vec![(T1, Bands::IN), (T3, Bands::IN.with(Bands::OUT))]
        );
        for fd in [r, w, a, b] {
            close(fd);
        }
    }

    #[test]
    fn hang_ups() {
        let mut kq = Kqueue::new().unwrap();
        let (r, w) = pipe();
        kq.set_interest(r, T1, false, Bands::IN).unwrap();
        close(w);
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::IN)]);
        kq.remove(r, T1);
        close(r);

        // Reader gone before the write filter is added (EPIPE on some
        // kernels) and after (EV_EOF): a hang-up either way, every wait.
        let (r, w) = pipe();
        close(r);
        kq.set_interest(w, T1, false, Bands::OUT).unwrap();
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::ALL)]);
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::ALL)]);
        kq.set_interest(w, T1, true, Bands::NONE).unwrap();
        assert_eq!(wait_now(&mut kq), vec![]);
        kq.remove(w, T1);
        close(w);

        let (r, w) = pipe();
        kq.set_interest(w, T1, false, Bands::OUT).unwrap();
        close(r);
        assert_eq!(wait_now(&mut kq), vec![(T1, Bands::ALL)]);
        kq.remove(w, T1);
        close(w);
        assert!(kq.refused.is_empty());
    }

    /// Moves `fd` to number `to`, closing what `to` held (other tests open
    /// descriptors concurrently, so "the lowest free number" is no help).
    fn move_fd(fd: RawFd, to: RawFd) {
        // SAFETY: both are descriptors this test owns; `to` is replaced.
        cvt(unsafe { libc::dup2(fd, to) }).unwrap();
        close(fd);
    }

    #[test]
    fn closed_and_reused_numbers() {
        let mut kq = Kqueue::new().unwrap();
        let (r, w) = socket_pair();
        kq.set_interest(r, T1, false, Bands::IN.with(Bands::OUT))
            .unwrap();
        write_byte(w);
        // The number is closed (dropping its filters) and reused at once.
        // The new registration deletes the write filter it does not want,
        // which is already gone.
        let (r2, w2) = pipe();
        move_fd(r2, r);
        kq.set_interest(r, T2, false, Bands::IN).unwrap();
        // Removing or changing the closed registration leaves the new one
        // alone.
        kq.remove(r, T1);
        kq.set_interest(r, T1, true, Bands::NONE).unwrap();
        assert_eq!(wait_now(&mut kq), vec![]);
        write_byte(w2);
        assert_eq!(wait_now(&mut kq), vec![(T2, Bands::IN)]);
        kq.remove(r, T2);
        assert_eq!(wait_now(&mut kq), vec![]);

        // Removing after close is quiet; adding on a closed number fails.
        // A high number, which nothing else in the process is likely to use.
        // SAFETY: sysconf has no preconditions.
        let open_max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
        let high = (open_max.clamp(64, 1000) - 1) as RawFd;
        let (a, b) = socket_pair();
        move_fd(a, high);
        kq.set_interest(high, T1, false, Bands::IN.with(Bands::OUT))
            .unwrap();
        close(high);
        // Dropping the interest of a closed descriptor is quiet too.
        kq.set_interest(high, T1, true, Bands::NONE).unwrap();
        kq.remove(high, T1);
        let err = kq.set_interest(high, T1, false, Bands::IN).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(kq.slots[high as usize].token, 0);
        for fd in [r, w, w2, b] {
            close(fd);
        }
    }

    #[test]
    fn half_refused_registration_leaves_nothing() {
        let mut kq = Kqueue::new().unwrap();
        // A kqueue descriptor has a read filter but no write filter.
        let mut inner = Kqueue::new().unwrap();
        let (r, w) = pipe();
        inner.set_interest(r, T1, false, Bands::IN).unwrap();
        write_byte(w);
        let inner_fd = inner.kq.as_raw_fd();
        let both = Bands::IN.with(Bands::OUT);
        assert!(kq.set_interest(inner_fd, T2, false, both).is_err());
        assert_eq!(kq.slots[inner_fd as usize].token, 0);
        // The read filter that was accepted did not stay behind.
        let mut probe = Changes::new(inner_fd);
        probe.push(READ, false);
        assert_eq!(kq.apply(probe.as_slice()).unwrap()[0], libc::ENOENT);
        assert_eq!(wait_now(&mut kq), vec![]);
        kq.set_interest(inner_fd, T2, false, Bands::IN).unwrap();
        assert_eq!(wait_now(&mut kq), vec![(T2, Bands::IN)]);
        close(r);
        close(w);
    }

    #[test]
    fn buffer_grows() {
        let mut kq = Kqueue::new().unwrap();
        let pipes: Vec<_> = (0..INITIAL_EVENTS + 10).map(|_| pipe()).collect();
        for (i, &(r, w)) in pipes.iter().enumerate() {
            kq.set_interest(r, T1 + i as Token, false, Bands::IN)
                .unwrap();
            write_byte(w);
        }
        assert_eq!(wait_now(&mut kq).len(), INITIAL_EVENTS);
        assert!(kq.buffer.capacity() >= 2 * INITIAL_EVENTS);
        assert_eq!(wait_now(&mut kq).len(), pipes.len());
        for (r, w) in pipes {
            close(r);
            close(w);
        }
    }
}
