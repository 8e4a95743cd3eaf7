//! [`Instant`]: a point in the loop's clock.

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

use crate::engine::time::{self as engine_time, Timespec};

/// A point in time on the loop's clock (`CLOCK_MONOTONIC`), at nanosecond
/// resolution.
///
/// This is the clock timers are measured against. It is not
/// [`std::time::Instant`] because that type cannot be built from a clock
/// reading; on Linux both read the same clock, but they do not convert into
/// each other.
///
/// Two ways to read it:
///
/// - [`Handle::now`](crate::Handle::now) returns the loop's *cached* time:
///   the loop refreshes it once after every wait, so the callbacks run
///   between two waits see the same "now" and reading it costs nothing. This
///   is the time timers compare their deadlines with.
/// - [`Instant::now`] reads the clock afresh.
///
/// Arithmetic saturates instead of panicking: adding [`Duration::MAX`] gives
/// the far future (a timer there never fires), subtracting too much gives
/// the clock's origin, and `earlier - later` is [`Duration::ZERO`].
///
/// ```
/// use std::time::Duration;
/// use ivykis::Instant;
///
/// let start = Instant::now();
/// let deadline = start + Duration::from_millis(1500);
/// assert!(deadline > start);
/// assert_eq!(deadline - start, Duration::from_millis(1500));
/// assert_eq!(start.duration_since(deadline), Duration::ZERO);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub(crate) Timespec);

impl Instant {
    /// Reads `CLOCK_MONOTONIC` now (one vDSO call, no system call on Linux).
    /// Inside callbacks, [`Handle::now`](crate::Handle::now) is cheaper and
    /// is what timers use.
    pub fn now() -> Instant {
        Instant(engine_time::monotonic())
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is
    /// later.
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time elapsed from `earlier` to `self`, or `None` if `earlier` is
    /// later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        (self >= earlier).then(|| self.duration_since(earlier))
    }

    /// Time from `self` to a fresh clock reading ([`Instant::now`]); zero if
    /// `self` is in the future.
    pub fn elapsed(self) -> Duration {
        Instant::now().duration_since(self)
    }

    /// The instant `d` after the clock's origin (on Linux, boot time). For
    /// exchanging times with C code that uses `CLOCK_MONOTONIC` timespecs,
    /// such as ivykis's `iv_now`.
    pub fn from_monotonic(d: Duration) -> Instant {
        Instant(Timespec::new(0, 0).saturating_add(d))
    }

    /// The time since the clock's origin: the inverse of
    /// [`Instant::from_monotonic`] (zero for instants before the origin).
    pub fn as_monotonic(self) -> Duration {
        self.0.saturating_duration_since(Timespec::new(0, 0))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({}.{:09}s)", self.0.sec, self.0.nsec)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the far future.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the clock's origin ([`Instant::from_monotonic`] of
    /// zero).
    fn sub(self, d: Duration) -> Instant {
        Instant::from_monotonic(self.as_monotonic().saturating_sub(d))
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Same as [`Instant::duration_since`]: zero if `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_round_trips() {
        let t = Instant::from_monotonic(Duration::new(5, 250));
        assert_eq!(t.as_monotonic(), Duration::new(5, 250));
        assert_eq!(
            (t - Duration::new(1, 500)).as_monotonic(),
            Duration::new(3, 999_999_750)
        );
        assert_eq!((t - Duration::from_secs(10)).as_monotonic(), Duration::ZERO);
        assert!(t + Duration::MAX > t + Duration::from_secs(1 << 40));
        assert_eq!(t.checked_duration_since(t + Duration::from_nanos(1)), None);
        let mut u = t;
        u += Duration::from_millis(1);
        u -= Duration::from_micros(1000);
        assert_eq!(u, t);
    }
}
