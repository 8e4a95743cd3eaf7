//! Channel sources: [`Handle::add_channel`], [`Sender`], [`ChannelToken`],
//! [`SendError`].
//!
//! A channel source is an event source (`event.rs`) whose callback drains
//! a queue. Senders push under the queue's mutex and then post the event
//! (coalesced: one wake-up however many values arrive before the drain).
//! The drain takes the values one at a time, up to as many as were queued
//! when it started, so a flood of sends cannot keep the loop from its other
//! sources; values sent meanwhile have posted the event again.
//!
//! Closing (the source's face entry is dropped: removal or the loop's end)
//! marks the event's state and takes the queue's values under the same
//! lock, then drops them outside it; a sender checks the state under that
//! lock. So every send either is refused (the value comes back in the
//! error) or queues its value before the close, to be delivered or dropped.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::Error;
use crate::event::{Close, EventAction, EventToken, PostError, Shared};
use crate::event_loop::{Handle, Token};

/// Names a channel source of one loop; returned by [`Handle::add_channel`].
///
/// `Copy`, and stale ([`Error::Stale`]) once the source is removed. As a
/// [`Token`] it is the [`Token::Event`] of the event source underneath.
///
/// ```
/// use ivykis::{EventLoop, Token};
///
/// let event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// let (token, _sender) = handle.add_channel(|_h, _v: u8| {})?;
/// let any: Token = token.into();
/// assert!(matches!(any, Token::Event(_)));
/// handle.remove(token)?;
/// assert!(!handle.is_registered(any));
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelToken {
    event: EventToken,
}

impl From<ChannelToken> for Token {
    fn from(t: ChannelToken) -> Token {
        Token::Event(t.event)
    }
}

/// A value that could not be sent, with the reason; returned by
/// [`Sender::send`].
///
/// ```
/// use ivykis::{EventLoop, PostError};
///
/// let event_loop = EventLoop::new()?;
/// let (token, sender) = event_loop.handle().add_channel(|_h, _s: String| {})?;
/// event_loop.handle().remove(token)?;
/// let err = sender.send("hello".to_string()).unwrap_err();
/// assert_eq!(err.reason(), PostError::Removed);
/// assert_eq!(err.into_inner(), "hello");
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(PartialEq, Eq)]
pub struct SendError<T> {
    value: T,
    reason: PostError,
}

impl<T> SendError<T> {
    /// Why the value was refused.
    pub fn reason(&self) -> PostError {
        self.reason
    }

    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sending on a closed channel: {}", self.reason)
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Error {
        e.reason.into()
    }
}

/// What senders and the source share.
pub(crate) struct Channel<T> {
    event: Arc<Shared>,
    queue: Mutex<VecDeque<T>>,
}

impl<T> Channel<T> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        // No user code runs while the lock is held (values are pushed,
        // popped and taken, never dropped, under it), so a poisoned lock
        // still holds a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Send> Close for Channel<T> {
    fn close(&self, why: PostError) {
        let left = {
            let mut queue = self.lock();
            self.event.mark(why);
            std::mem::take(&mut *queue)
        };
        // The values nobody will receive, dropped outside the lock.
        drop(left);
    }
}

/// Sends values to a channel source from any thread; returned by
/// [`Handle::add_channel`].
///
/// `Send + Sync + Clone` (for `T: Send`). Like a [`Poster`](crate::Poster)
/// it never keeps the loop alive, and sending after the source was
/// removed or its loop is gone gives the value back in a [`SendError`].
///
/// ```
/// fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
/// assert_send_sync_clone::<ivykis::Sender<Vec<u8>>>();
/// ```
pub struct Sender<T> {
    channel: Arc<Channel<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            channel: Arc::clone(&self.channel),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("open", &self.channel.event.is_open())
            .finish_non_exhaustive()
    }
}

impl<T: Send> Sender<T> {
    /// Queues `value` for the source's callback, which gets it on the
    /// loop's thread. Every value sent successfully is delivered, in the
    /// order of the sends (so in sending order for each sender), unless
    /// the source is removed or its loop ends first: values still queued
    /// then are dropped.
    ///
    /// A send does not block (the queue is unbounded) and wakes the loop
    /// only if it may be asleep and no wake-up is pending already; in
    /// steady state (the queue at its peak size) it allocates nothing.
    ///
    /// ```
    /// use ivykis::{EventAction, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let mut sum = 0;
    /// let (_token, sender) = event_loop.handle().add_channel(move |_h, n: u64| {
    ///     sum += n;
    ///     if n == 0 {
    ///         println!("sum: {sum}");
    ///         EventAction::Remove
    ///     } else {
    ///         EventAction::Continue
    ///     }
    /// })?;
    /// std::thread::spawn(move || {
    ///     for n in (0..=100).rev() {
    ///         sender.send(n).unwrap();
    ///     }
    /// });
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`SendError`] holding `value`, with [`PostError::Removed`] or
    /// [`PostError::LoopGone`].
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let channel = &*self.channel;
        {
            let mut queue = channel.lock();
            if let Err(reason) = channel.event.check_open() {
                return Err(SendError { value, reason });
            }
            queue.push_back(value);
        }
        // A refusal here means the loop went away after the value was
        // queued: the close that follows drops it, as it would have been
        // dropped had the wake-up got through.
        let _ = channel.event.wake();
        Ok(())
    }
}

/// Re-posts the source if its callback unwinds in the middle of a drain,
/// so the values still queued are delivered by a later run.
struct RepostOnUnwind<'a>(&'a Shared);

impl RepostOnUnwind<'_> {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for RepostOnUnwind<'_> {
    fn drop(&mut self) {
        if self.0.is_open() {
            let _ = self.0.wake();
        }
    }
}

impl Handle {
    /// Adds a source that receives values from other threads: every value
    /// passed to the returned [`Sender`] (`Send + Sync + Clone`) is handed
    /// to `callback` on this loop's thread, one call per value, in the
    /// order sent.
    ///
    /// The callback gets the handle and the value, and returns `()` or an
    /// [`EventAction`]; after [`EventAction::Remove`] (or a
    /// [`Handle::remove`] from inside the callback) no further value is
    /// delivered, and the values still queued are dropped. A channel source
    /// keeps [`EventLoop::run`](crate::EventLoop::run) going until it is
    /// removed. If the callback panics, the panic unwinds out of `run`, the
    /// source stays registered, and the values after the one being handled
    /// are delivered by the next `run`.
    ///
    /// Values are delivered in batches: one wake-up hands over what was
    /// queued when the callback started; values sent meanwhile come in the
    /// next iteration, so other sources are served in between.
    ///
    /// ```
    /// use ivykis::{EventAction, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let mut lines = Vec::new();
    /// let (_token, sender) = event_loop.handle().add_channel(move |_h, line: Option<String>| {
    ///     match line {
    ///         Some(line) => {
    ///             lines.push(line);
    ///             EventAction::Continue
    ///         }
    ///         None => {
    ///             assert_eq!(lines, ["one", "two"]);
    ///             EventAction::Remove
    ///         }
    ///     }
    /// })?;
    /// std::thread::spawn(move || {
    ///     sender.send(Some("one".to_string())).unwrap();
    ///     sender.send(Some("two".to_string())).unwrap();
    ///     sender.send(None).unwrap();
    /// });
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Handle::add_event`].
    pub fn add_channel<T, R>(
        &self,
        mut callback: impl FnMut(&Handle, T) -> R + 'static,
    ) -> Result<(ChannelToken, Sender<T>), Error>
    where
        T: Send + 'static,
        R: Into<EventAction>,
    {
        let (event, channel) = self.add_event_source(
            |event| {
                Arc::new(Channel {
                    event,
                    queue: Mutex::new(VecDeque::new()),
                })
            },
            move |h, channel: &Channel<T>| {
                let batch = channel.lock().len();
                let repost = RepostOnUnwind(&channel.event);
                for _ in 0..batch {
                    let Some(value) = channel.lock().pop_front() else {
                        break;
                    };
                    if callback(h, value).into() == EventAction::Remove {
                        repost.disarm();
                        return EventAction::Remove;
                    }
                    if !channel.event.is_open() {
                        // Removed from inside the callback.
                        break;
                    }
                }
                repost.disarm();
                EventAction::Continue
            },
        )?;
        Ok((ChannelToken { event }, Sender { channel }))
    }
}
