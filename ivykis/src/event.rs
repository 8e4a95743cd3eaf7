//! Cross-thread events: [`Handle::add_event`], [`Poster`], [`EventAction`],
//! [`EventToken`], [`PostError`].
//!
//! An event source is a registration in the engine's event table
//! (`engine::event`), posted through the loop's wake-up hub
//! (`engine::wake::Hub`, one eventfd per loop, written only when the loop
//! may be asleep). What this module adds:
//!
//! - **Coalescing.** A [`Poster`] shares one [`Shared`] with the source: a
//!   `pending` flag that the first post raises (and only that post queues
//!   the engine key), cleared just before the callback runs, so posts made
//!   during the callback give another call. Queued keys therefore never
//!   pile up: at most one per source.
//! - **A state that outlives the source.** `state` says whether the source
//!   is open, removed or gone with its loop; the face entry marks it when it
//!   is dropped (after the engine registration is gone, outside every
//!   borrow), so a post after removal or after the loop's end is an `Err`.
//!   A post racing with a removal may still queue the old engine key; the
//!   engine's keys are generational, so that post finds nothing and is
//!   dropped. It can never reach another source.
//!
//! The channel source (`channel.rs`) is an event source whose callback
//! drains a queue; it plugs its own [`Close`] into the entry so that closing
//! the queue and marking the state happen together under its lock.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};
use std::sync::Arc;

use crate::engine::callback::Callback;
use crate::engine::slab::Key;
use crate::engine::wake::Hub;
use crate::error::Error;
use crate::event_loop::Handle;
use crate::registry::{self, unregister_from_engine, Entry};

const OPEN: u8 = 0;
const REMOVED: u8 = 1;
const LOOP_GONE: u8 = 2;

/// Why a post (or a channel send) was refused.
///
/// Converts into [`Error`] ([`Error::Stale`] and [`Error::LoopGone`]), so
/// `?` works in functions returning `Result<_, ivykis::Error>`.
///
/// ```
/// use ivykis::{EventLoop, PostError};
///
/// let event_loop = EventLoop::new()?;
/// let (_token, poster) = event_loop.handle().add_event(|_h| {})?;
/// drop(event_loop);
/// assert_eq!(poster.post(), Err(PostError::LoopGone));
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostError {
    /// The source was removed ([`Handle::remove`], or its callback returned
    /// [`EventAction::Remove`]).
    Removed,
    /// The source's loop no longer exists.
    LoopGone,
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Removed => f.write_str("the event source was removed"),
            PostError::LoopGone => f.write_str("the event source's loop no longer exists"),
        }
    }
}

impl std::error::Error for PostError {}

impl From<PostError> for Error {
    fn from(e: PostError) -> Error {
        match e {
            PostError::Removed => Error::Stale,
            PostError::LoopGone => Error::LoopGone,
        }
    }
}

/// What an event callback wants done with its source afterwards.
///
/// A callback that returns `()` means [`EventAction::Continue`]. Channel
/// sources ([`Handle::add_channel`]) use it too.
///
/// ```
/// use ivykis::{EventAction, EventLoop};
///
/// let event_loop = EventLoop::new()?;
/// let mut seen = Vec::new();
/// let (_token, sender) = event_loop.handle().add_channel(move |_h, n: u32| {
///     seen.push(n);
///     if n == 0 {
///         assert_eq!(seen, [3, 2, 1, 0]);
///         EventAction::Remove // 99 is never delivered
///     } else {
///         EventAction::Continue
///     }
/// })?;
/// for n in [3, 2, 1, 0, 99] {
///     sender.send(n).unwrap();
/// }
/// event_loop.run(); // returns once the source is removed
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    /// Keep the source: later posts call the callback again.
    Continue,
    /// Remove the source, as [`Handle::remove`] does; later posts get
    /// [`PostError::Removed`].
    Remove,
}

impl From<()> for EventAction {
    fn from((): ()) -> EventAction {
        EventAction::Continue
    }
}

/// Names an event source (or a channel source) of one loop; returned by
/// [`Handle::add_event`]. `Copy`; once the source is removed, the token is
/// stale ([`Error::Stale`]) and names nothing, whatever is added later.
///
/// ```
/// use ivykis::{Error, EventLoop, PostError};
///
/// let event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// let (token, poster) = handle.add_event(|_h| {})?;
/// assert!(handle.is_registered(token));
/// handle.remove(token)?;
/// assert!(matches!(handle.remove(token), Err(Error::Stale)));
/// assert_eq!(poster.post(), Err(PostError::Removed));
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventToken {
    pub(crate) loop_id: u64,
    pub(crate) key: Key,
}

/// The state a source shares with its posters (see the module docs).
pub(crate) struct Shared {
    hub: Arc<Hub>,
    /// The engine key, set once right after registration, before any
    /// poster exists.
    key: AtomicU64,
    pending: AtomicBool,
    state: AtomicU8,
}

impl Shared {
    fn new(hub: Arc<Hub>) -> Shared {
        Shared {
            hub,
            key: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            state: AtomicU8::new(OPEN),
        }
    }

    /// `Err` if the source was removed or its loop is gone.
    pub(crate) fn check_open(&self) -> Result<(), PostError> {
        match self.state.load(Acquire) {
            OPEN => Ok(()),
            REMOVED => Err(PostError::Removed),
            _ => Err(PostError::LoopGone),
        }
    }

    /// Asks for a callback (coalesced with the posts since the last one),
    /// without looking at the state.
    pub(crate) fn wake(&self) -> Result<(), PostError> {
        if self.pending.swap(true, SeqCst) {
            return Ok(());
        }
        self.hub
            .post(self.key.load(Relaxed))
            .map_err(|_| PostError::LoopGone)
    }

    /// Just before the callback runs: posts from now on give another call.
    pub(crate) fn begin_callback(&self) {
        self.pending.store(false, SeqCst);
    }

    /// Whether the source is still open (for a callback that works through
    /// a batch and must stop once its source was removed).
    pub(crate) fn is_open(&self) -> bool {
        self.state.load(Acquire) == OPEN
    }

    /// Marks the state; the first mark wins.
    pub(crate) fn mark(&self, why: PostError) {
        let state = match why {
            PostError::Removed => REMOVED,
            PostError::LoopGone => LOOP_GONE,
        };
        let _ = self.state.compare_exchange(OPEN, state, AcqRel, Acquire);
    }
}

/// How a source is closed when its face entry is dropped. Runs outside
/// every borrow, so it may drop user data.
pub(crate) trait Close {
    fn close(&self, why: PostError);
}

impl Close for Shared {
    fn close(&self, why: PostError) {
        self.mark(why);
    }
}

/// The face entry of an event source (a variant of `registry::Entry`).
pub(crate) struct EventEntry {
    pub engine_key: Key,
    loop_id: u64,
    /// The closure the engine calls (the engine holds a clone). Held so that
    /// the engine's reference is never the last.
    #[allow(dead_code)]
    callback: Rc<dyn Fn(())>,
    closer: Arc<dyn Close + Send + Sync>,
}

impl Drop for EventEntry {
    fn drop(&mut self) {
        // Entries are dropped after leaving both tables and outside every
        // borrow (registry.rs); if the loop still runs, the source was
        // removed, else the loop is being (or was) torn down.
        let why = if crate::engine::current_id() == Some(self.loop_id) {
            PostError::Removed
        } else {
            PostError::LoopGone
        };
        self.closer.close(why);
    }
}

/// Posts to an event source from any thread; returned by
/// [`Handle::add_event`].
///
/// `Send + Sync + Clone`: clone it for every thread that posts, or share
/// it. It never keeps the loop alive and never makes posting undefined:
/// once the source is removed, or its loop is gone, [`Poster::post`]
/// returns an `Err`. It keeps the loop's wake-up descriptor open until the
/// last clone is dropped (on any thread).
///
/// ```
/// fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
/// assert_send_sync_clone::<ivykis::Poster>();
/// ```
#[derive(Clone)]
pub struct Poster {
    shared: Arc<Shared>,
}

impl Poster {
    /// Asks for a call of the source's callback on its loop's thread.
    ///
    /// Posts coalesce: however many posts arrive before the callback runs,
    /// it runs once. A post made while the callback runs (from any thread,
    /// the callback included) gives another call afterwards, so no post is
    /// ever lost: the callback always runs at some point after a
    /// successful `post`. To count or carry things, keep them next to the
    /// poster (an atomic counter, a queue) or use a channel
    /// ([`Handle::add_channel`]), which delivers every value.
    ///
    /// A post from another thread wakes the loop with one write to its
    /// wake-up descriptor only if the loop may be asleep; a post from the
    /// loop's own thread makes no system call. Steady-state posting
    /// allocates nothing.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use ivykis::{EventAction, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let done = Arc::new(AtomicU32::new(0));
    /// let seen = done.clone();
    /// let (_token, poster) = event_loop.handle().add_event(move |_h| {
    ///     if seen.load(Ordering::SeqCst) == 4 {
    ///         EventAction::Remove // all four threads are done: run returns
    ///     } else {
    ///         EventAction::Continue
    ///     }
    /// })?;
    /// let threads: Vec<_> = (0..4)
    ///     .map(|_| {
    ///         let (poster, done) = (poster.clone(), done.clone());
    ///         std::thread::spawn(move || {
    ///             done.fetch_add(1, Ordering::SeqCst);
    ///             poster.post().unwrap();
    ///         })
    ///     })
    ///     .collect();
    /// event_loop.run();
    /// threads.into_iter().for_each(|t| t.join().unwrap());
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PostError::Removed`] once the source was removed,
    /// [`PostError::LoopGone`] once its loop is gone. A post that races
    /// with the removal (or with the loop's end) may return `Ok` and be
    /// dropped; it never reaches another source.
    pub fn post(&self) -> Result<(), PostError> {
        self.shared.check_open()?;
        self.shared.wake()
    }
}

impl fmt::Debug for Poster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poster")
            .field("loop_id", &self.shared.hub.loop_id())
            .field("open", &self.shared.is_open())
            .finish()
    }
}

impl Handle {
    /// Adds a source that other threads wake up: the returned [`Poster`]
    /// (`Send + Sync + Clone`) may be used from any thread, and every
    /// [`Poster::post`] leads to a call of `callback` on this loop's thread.
    /// Posts that arrive before the callback runs are coalesced into one
    /// call; posts during the call give another.
    ///
    /// The callback gets the handle and returns `()` or an [`EventAction`].
    /// Like every source, a registered event source keeps
    /// [`EventLoop::run`](crate::EventLoop::run) going until it is removed.
    /// If the callback panics, the panic unwinds out of `run` and the
    /// source stays registered (as a descriptor source does).
    ///
    /// All event sources of a loop share one wake-up descriptor (an eventfd
    /// on Linux), opened with the first one.
    ///
    /// ```
    /// use ivykis::{EventAction, EventLoop};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let (_token, poster) = event_loop.handle().add_event(|_h| {
    ///     println!("woken up");
    ///     EventAction::Remove
    /// })?;
    /// std::thread::spawn(move || poster.post().unwrap());
    /// event_loop.run(); // returns after the one call
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] if the loop's wake-up descriptor
    /// cannot be opened (with the first event source of the loop).
    pub fn add_event<R>(
        &self,
        mut callback: impl FnMut(&Handle) -> R + 'static,
    ) -> Result<(EventToken, Poster), Error>
    where
        R: Into<EventAction>,
    {
        let (token, shared) =
            self.add_event_source(|shared| shared, move |h, _shared| callback(h).into())?;
        Ok((token, Poster { shared }))
    }

    /// Registers an event source whose entry closes through the [`Close`]
    /// that `closer` makes of the shared state (the state itself, or a
    /// channel wrapped around it), and whose callback is `fire`, called
    /// after the pending flag was cleared.
    pub(crate) fn add_event_source<S, F>(
        &self,
        closer: impl FnOnce(Arc<Shared>) -> Arc<S>,
        fire: F,
    ) -> Result<(EventToken, Arc<S>), Error>
    where
        S: Close + Send + Sync + 'static,
        F: FnMut(&Handle, &S) -> EventAction + 'static,
    {
        let loop_id = self.id;
        let (key, hub) = registry::with_loop(loop_id, |entries, l| {
            let hub = l.events.hub(&mut *l.poller, l.id)?;
            Ok((entries.insert(Entry::Reserved), hub))
        })?;
        let token = EventToken { loop_id, key };
        let shared = Arc::new(Shared::new(hub));
        let source = closer(Arc::clone(&shared));
        let fire = RefCell::new(fire);
        let closure: Rc<dyn Fn(())> = {
            let shared = Arc::clone(&shared);
            let source = Arc::clone(&source);
            Rc::new(move |()| call(token, &shared, &*source, &fire))
        };
        let closer: Arc<dyn Close + Send + Sync> = source.clone();
        let registered = registry::with_loop(loop_id, |entries, l| {
            let (engine_key, _hub) =
                l.events
                    .register(&mut *l.poller, l.id, Callback::Native(closure.clone()))?;
            shared.key.store(engine_key.to_raw(), Relaxed);
            let slot = entries.get_mut(key).expect("reserved entry");
            *slot = Entry::Event(EventEntry {
                engine_key,
                loop_id,
                callback: closure.clone(),
                closer,
            });
            Ok(())
        });
        if registered.is_err() {
            // Cannot happen once the hub exists, but keep the table clean.
            let reserved = registry::with_loop(loop_id, |entries, _| Ok(entries.remove(key)));
            drop(reserved);
        }
        // On failure, the last references to the user's closure go here,
        // outside every borrow.
        drop(closure);
        registered.map(|()| (token, source))
    }
}

/// Runs an event source's callback and applies what it returns.
fn call<S, F>(token: EventToken, shared: &Shared, source: &S, fire: &RefCell<F>)
where
    F: FnMut(&Handle, &S) -> EventAction,
{
    shared.begin_callback();
    let handle = Handle::new(token.loop_id);
    let action = (fire.borrow_mut())(&handle, source);
    if action == EventAction::Remove {
        let removed = registry::with_loop(token.loop_id, |entries, l| {
            if !matches!(entries.get(token.key), Some(Entry::Event(_))) {
                // The callback removed its own source already.
                return Ok(None);
            }
            let entry = entries.remove(token.key);
            if let Some(entry) = &entry {
                unregister_from_engine(l, entry);
            }
            Ok(entry)
        });
        // Outside the borrows; the engine's dispatch still holds the
        // closure, so this frees nothing of it yet (the entry's drop marks
        // the state).
        drop(removed);
    }
}
