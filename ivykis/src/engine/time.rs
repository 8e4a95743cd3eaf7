//! The per-thread cached monotonic time ("now", SPEC 3).
//!
//! The loop invalidates the cache after every wait; the first read after that
//! takes one `clock_gettime(CLOCK_MONOTONIC)` (a vDSO call) and later reads are
//! a thread-local load. The cache lives in a `const`-initialised thread-local
//! with no destructor, so its address is stable for the thread's lifetime and
//! can be handed to C (`__iv_now_location`).

use std::cell::{Cell, UnsafeCell};
use std::time::Duration;

/// A point in CLOCK_MONOTONIC time, with the layout of C's `struct timespec`
/// on 64-bit Linux.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, normally in `0..1_000_000_000`.
    pub nsec: i64,
}

impl PartialOrd for Timespec {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timespec {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.sec, self.nsec).cmp(&(other.sec, other.nsec))
    }
}

const NANOS: i64 = 1_000_000_000;

impl Timespec {
    /// Builds a normalised timespec.
    pub fn new(sec: i64, nsec: i64) -> Timespec {
        let carry = nsec.div_euclid(NANOS);
        Timespec {
            sec: sec.saturating_add(carry),
            nsec: nsec.rem_euclid(NANOS),
        }
    }

    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Timespec {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Timespec::new(
            self.sec.saturating_add(secs),
            self.nsec + i64::from(d.subsec_nanos()),
        )
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timespec) -> Duration {
        if self <= earlier {
            return Duration::ZERO;
        }
        let mut sec = self.sec - earlier.sec;
        let mut nsec = self.nsec - earlier.nsec;
        if nsec < 0 {
            sec -= 1;
            nsec += NANOS;
        }
        Duration::new(sec as u64, nsec as u32)
    }
}

/// One thread-local for both, so that each access is one TLS lookup (a
/// `__tls_get_addr` call in a shared library).
struct NowCache {
    now: UnsafeCell<Timespec>,
    valid: Cell<bool>,
}

thread_local! {
    static NOW: NowCache = const {
        NowCache {
            now: UnsafeCell::new(Timespec { sec: 0, nsec: 0 }),
            valid: Cell::new(false),
        }
    };
}

/// Reads CLOCK_MONOTONIC through the C library's vDSO-backed
/// `clock_gettime`. (rustix's own vDSO parser crashes under valgrind 3.19,
/// which the project needs for callgrind and memcheck.)
pub fn monotonic() -> Timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call;
    // CLOCK_MONOTONIC always exists on the systems we build for.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // `From` rather than `as`: lossless where time_t or long is 32 bits.
    #[allow(clippy::useless_conversion)]
    Timespec {
        sec: i64::from(ts.tv_sec),
        nsec: i64::from(ts.tv_nsec),
    }
}

/// Marks this thread's cached time stale.
#[inline]
pub fn invalidate() {
    NOW.with(|c| c.valid.set(false));
}

/// Refreshes the cache if it is stale.
#[inline]
pub fn validate() {
    NOW.with(|c| {
        if !c.valid.get() {
            store(c);
        }
    });
}

/// Re-reads the clock into the cache.
pub fn refresh() {
    NOW.with(store);
}

fn store(cache: &NowCache) {
    let now = monotonic();
    // SAFETY: NOW is this thread's own cell; nothing else holds a Rust
    // reference into it (C holds only the raw address and reads it between
    // calls, never concurrently with this write, since both run on this thread).
    unsafe { *cache.now.get() = now };
    cache.valid.set(true);
}

/// The cached time, refreshed first if stale.
#[inline]
pub fn now() -> Timespec {
    validate();
    cached()
}

/// The cached time as is (possibly stale).
#[inline]
pub(crate) fn cached() -> Timespec {
    // SAFETY: as in `store`: a plain read of this thread's own cell.
    NOW.with(|c| unsafe { *c.now.get() })
}

/// Address of this thread's cached time, without refreshing it. Valid for as
/// long as the thread lives.
#[inline]
pub fn location() -> *mut Timespec {
    NOW.with(|c| c.now.get())
}

/// Address of this thread's cached time, refreshed first if stale: the
/// `iv_now` macro's function, in one thread-local lookup.
#[inline]
pub fn location_valid() -> *const Timespec {
    NOW.with(|c| {
        if !c.valid.get() {
            store(c);
        }
        c.now.get().cast_const()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_orders() {
        let a = Timespec::new(1, 1_500_000_000);
        assert_eq!(
            a,
            Timespec {
                sec: 2,
                nsec: 500_000_000
            }
        );
        let b = Timespec::new(2, -1);
        assert_eq!(
            b,
            Timespec {
                sec: 1,
                nsec: 999_999_999
            }
        );
        assert!(b < a);
        assert_eq!(
            a.saturating_duration_since(b),
            Duration::new(0, 500_000_001)
        );
        assert_eq!(b.saturating_duration_since(a), Duration::ZERO);
        assert_eq!(
            b.saturating_add(Duration::from_nanos(1)),
            Timespec { sec: 2, nsec: 0 }
        );
    }

    #[test]
    fn cache_is_lazy() {
        refresh();
        let first = cached();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(now(), first, "valid cache is not re-read");
        invalidate();
        assert!(now() > first, "stale cache is re-read");
    }
}
