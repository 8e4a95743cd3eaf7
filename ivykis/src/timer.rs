//! Timers: [`Handle::add_timer_at`], [`Handle::add_timer_after`],
//! [`Handle::set_deadline`], [`Handle::disarm`], [`TimerAction`],
//! [`TimerToken`].

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::engine::callback::Callback;
use crate::engine::slab::Key;
use crate::error::Error;
use crate::event_loop::Handle;
use crate::registry::{self, ConsumeOnUnwind, Entry, TimerEntry};
use crate::time::Instant;

/// What a timer callback wants done with its timer afterwards.
///
/// A callback that returns `()` means [`TimerAction::Done`], so a one-shot
/// timer is just a closure. Re-arming keeps the same token and the same
/// closure and allocates nothing.
///
/// ```
/// use std::time::Duration;
/// use ivykis::{EventLoop, TimerAction};
///
/// let event_loop = EventLoop::new()?;
/// let mut ticks = 0;
/// event_loop.handle().add_timer_after(Duration::ZERO, move |_| {
///     ticks += 1;
///     if ticks < 3 {
///         TimerAction::After(Duration::from_millis(1))
///     } else {
///         TimerAction::Done
///     }
/// })?;
/// event_loop.run(); // three ticks, then nothing is registered
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// The timer is finished and removed; its token becomes stale.
    Done,
    /// Fire again at this instant. An instant already past fires in the
    /// next iteration (not in this one).
    At(Instant),
    /// Fire again this long after the loop's cached time
    /// ([`Handle::now`]), the time at which this iteration's timers are
    /// being run. For a period without drift, compute the next deadline
    /// from the previous one and use [`TimerAction::At`].
    After(Duration),
    /// Keep the timer, unarmed: its token stays valid and
    /// [`Handle::set_deadline`] arms it again, without allocating (see
    /// [`Handle::disarm`]).
    Idle,
}

impl From<()> for TimerAction {
    fn from((): ()) -> TimerAction {
        TimerAction::Done
    }
}

/// Names a timer of one loop; returned by [`Handle::add_timer_at`] and
/// [`Handle::add_timer_after`]. It stays valid while the timer re-arms, and
/// becomes stale ([`Error::Stale`]) once the timer is done or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerToken {
    pub(crate) loop_id: u64,
    pub(crate) key: Key,
}

impl Handle {
    /// Calls `callback` once the loop's time reaches `deadline`.
    ///
    /// Timers fire at the start of an iteration, never early, in deadline
    /// order (equal deadlines: in the order they were armed). A deadline
    /// already past fires in the next iteration, without the loop sleeping
    /// first, and never from inside this call; a timer armed from a timer
    /// callback waits for the next iteration even if it is already due.
    ///
    /// The callback returns `()` (one-shot) or a [`TimerAction`] to re-arm.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ivykis::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let deadline = handle.now() + Duration::from_millis(2);
    /// handle.add_timer_at(deadline, move |h| assert!(h.now() >= deadline))?;
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`].
    pub fn add_timer_at<R>(
        &self,
        deadline: Instant,
        callback: impl FnMut(&Handle) -> R + 'static,
    ) -> Result<TimerToken, Error>
    where
        R: Into<TimerAction>,
    {
        let loop_id = self.id;
        // Taken inside; on an error it is dropped here, outside the borrows
        // (its drop may run user code).
        let mut callback = Some(callback);
        registry::with_loop(loop_id, |entries, l| {
            let token = TimerToken {
                loop_id,
                key: entries.vacant_key(),
            };
            let callback = RefCell::new(callback.take().expect("taken once"));
            let closure: Rc<dyn Fn(())> = Rc::new(move |()| fire(token, &callback));
            // Kept: the engine record lives as long as the face entry, so
            // re-arming (from the callback's return value, set_deadline or
            // after disarm) moves it in place.
            let engine_key = l
                .timers
                .register_kept(deadline.0, Callback::Native(Rc::clone(&closure)));
            let key = entries.insert(Entry::Timer(TimerEntry {
                engine_key,
                deadline,
                callback: closure,
            }));
            debug_assert_eq!(key, token.key);
            Ok(token)
        })
    }

    /// Calls `callback` after `delay`, counted from the loop's cached time
    /// ([`Handle::now`]); otherwise like [`Handle::add_timer_at`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ivykis::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// event_loop
    ///     .handle()
    ///     .add_timer_after(Duration::from_millis(1), |_| println!("one millisecond later"))?;
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`].
    pub fn add_timer_after<R>(
        &self,
        delay: Duration,
        callback: impl FnMut(&Handle) -> R + 'static,
    ) -> Result<TimerToken, Error>
    where
        R: Into<TimerAction>,
    {
        self.add_timer_at(self.now() + delay, callback)
    }

    /// Moves a timer's deadline (arming it again if it was disarmed or its
    /// callback is running), keeping its token and closure; nothing is
    /// allocated. Typical use: an
    /// idle timeout pushed back on every bit of activity.
    ///
    /// When called from the timer's own callback, the callback's return
    /// value still decides: [`TimerAction::Done`] removes the timer,
    /// [`TimerAction::At`] and [`TimerAction::After`] replace the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ivykis::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let timeout = handle.add_timer_after(Duration::from_secs(3600), |_| println!("finally"))?;
    /// handle.set_deadline(timeout, handle.now())?; // due now: fires in the first iteration
    /// assert_eq!(handle.deadline(timeout)?, handle.now());
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`], [`Error::Stale`].
    pub fn set_deadline(&self, token: TimerToken, deadline: Instant) -> Result<(), Error> {
        registry::with_loop(self.id, |entries, l| match entries.get_mut(token.key) {
            Some(Entry::Timer(entry)) if token.loop_id == self.id => {
                // Armed, parked or running its callback: the engine keeps
                // the record, and this arms it at the new deadline.
                let armed = l.timers.reschedule(entry.engine_key, deadline.0);
                debug_assert!(armed, "a face timer without its engine record");
                entry.deadline = deadline;
                Ok(())
            }
            _ => Err(Error::Stale),
        })
    }

    /// Takes a timer out of the loop but keeps it, closure and token
    /// included: [`Handle::set_deadline`] arms it again. Arming and
    /// disarming a kept timer allocate nothing, so a program that reuses
    /// its timers (one per connection for an idle timeout, say) runs
    /// without heap allocation in steady state. A disarmed timer does not
    /// keep [`EventLoop::run`](crate::EventLoop::run) going and
    /// [`Handle::is_registered`] reports `false` for it; [`Handle::remove`]
    /// drops it. Disarming a disarmed timer does nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ivykis::{EventLoop, TimerAction};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let timeout = handle.add_timer_after(Duration::from_secs(3600), |_| TimerAction::Idle)?;
    /// handle.disarm(timeout)?;
    /// assert!(!handle.is_registered(timeout));
    /// event_loop.run(); // returns at once: nothing is armed
    /// handle.set_deadline(timeout, handle.now())?; // armed again
    /// event_loop.run(); // fires; the callback keeps it, unarmed
    /// assert!(!handle.is_registered(timeout));
    /// handle.remove(timeout)?;
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`], [`Error::Stale`].
    pub fn disarm(&self, token: TimerToken) -> Result<(), Error> {
        registry::with_loop(self.id, |entries, l| match entries.get_mut(token.key) {
            Some(Entry::Timer(entry)) if token.loop_id == self.id => {
                l.timers.park(entry.engine_key);
                Ok(())
            }
            _ => Err(Error::Stale),
        })
    }

    /// The instant a timer was last armed for (also while its callback runs).
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`], [`Error::Stale`].
    pub fn deadline(&self, token: TimerToken) -> Result<Instant, Error> {
        registry::with_loop(self.id, |entries, _| match entries.get(token.key) {
            Some(Entry::Timer(entry)) if token.loop_id == self.id => Ok(entry.deadline),
            _ => Err(Error::Stale),
        })
    }
}

/// Calls a due timer's callback and applies what it returns. The engine has
/// already parked the timer (kept, unarmed).
fn fire<C, R>(token: TimerToken, callback: &RefCell<C>)
where
    C: FnMut(&Handle) -> R,
    R: Into<TimerAction>,
{
    let handle = Handle::new(token.loop_id);
    let consume_on_unwind = ConsumeOnUnwind {
        id: token.loop_id,
        key: token.key,
    };
    let action = (callback.borrow_mut())(&handle).into();
    consume_on_unwind.disarm();
    let (deadline, keep) = match action {
        TimerAction::Done => (None, false),
        TimerAction::Idle => (None, true),
        TimerAction::At(at) => (Some(at), true),
        TimerAction::After(delay) => (Some(handle.now() + delay), true),
    };
    let finished = registry::with_loop(token.loop_id, |entries, l| {
        let Some(Entry::Timer(entry)) = entries.get_mut(token.key) else {
            // The callback removed its own timer.
            return Ok(None);
        };
        // The engine parked the timer before calling it; if the callback
        // armed it again with set_deadline, the return value overrides that.
        match deadline {
            Some(deadline) => {
                l.timers.reschedule(entry.engine_key, deadline.0);
                entry.deadline = deadline;
                Ok(None)
            }
            None if keep => {
                l.timers.park(entry.engine_key);
                Ok(None)
            }
            None => {
                l.timers.unregister(entry.engine_key);
                Ok(entries.remove(token.key))
            }
        }
    });
    // Outside the borrows (the engine's dispatch still holds the closure, so
    // nothing is freed yet).
    drop(finished);
}
