//! [`EventLoop`] (owns this thread's loop) and [`Handle`] (reaches it).

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use crate::child::ChildToken;
use crate::engine::{self, InitError};
use crate::error::Error;
use crate::event::EventToken;
use crate::fd::FdToken;
use crate::registry::{self, unregister_from_engine, Entry};
use crate::task::TaskToken;
use crate::time::Instant;
use crate::timer::TimerToken;

/// Makes a type `!Send` and `!Sync`: the loop and everything that reaches it
/// belong to one thread.
type NotSendSync = PhantomData<*const ()>;

/// The calling thread's event loop.
///
/// Each thread has at most one loop; [`EventLoop::new`] creates it and
/// dropping the `EventLoop` destroys it, with every source still registered
/// (their closures and descriptor objects are dropped, which closes the
/// descriptors they own). `EventLoop` is neither `Send` nor `Sync`.
///
/// Sources are added through a [`Handle`] ([`EventLoop::handle`]), which
/// callbacks also receive.
///
/// ```compile_fail
/// // Not Send: the loop belongs to its thread.
/// fn assert_send<T: Send>() {}
/// assert_send::<ivykis::EventLoop>();
/// ```
///
/// ```
/// use std::time::Duration;
/// use ivykis::EventLoop;
///
/// let event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// handle.add_timer_after(Duration::from_millis(1), |_| println!("tick"))?;
/// event_loop.run(); // returns once the timer has fired: nothing is left
/// # Ok::<(), ivykis::Error>(())
/// ```
pub struct EventLoop {
    handle: Handle,
    running: Cell<bool>,
}

impl EventLoop {
    /// Creates the calling thread's event loop.
    ///
    /// The first loop of the process also ignores `SIGPIPE` (so writing to
    /// a closed socket gives `EPIPE` instead of killing the process), raises
    /// the soft limit on open files, and chooses the poll method (see the
    /// [crate documentation](crate#poll-methods)).
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyInitialized`] if this thread already has a loop,
    /// [`Error::Io`] if the poll backend cannot be opened.
    pub fn new() -> Result<EventLoop, Error> {
        engine::init().map_err(|e| match e {
            InitError::AlreadyInitialized => Error::AlreadyInitialized,
            InitError::Io(e) => Error::Io(e),
        })?;
        let id = engine::current_id().expect("engine::init created a loop");
        // A table left behind by a loop that was torn down without its
        // `EventLoop` (the C library's `iv_deinit`); dropped outside the borrow.
        drop(registry::install(id));
        Ok(EventLoop {
            handle: Handle::new(id),
            running: Cell::new(false),
        })
    }

    /// A handle to this loop, for adding and removing sources.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs the loop until a callback calls [`Handle::quit`] or until no
    /// source is registered any more. A later `run` starts afresh.
    ///
    /// One iteration: fire the due timers (in deadline order), run the
    /// pending tasks, stop if asked to or if nothing is registered, wait for
    /// descriptor readiness (not at all if tasks are pending, else at most
    /// until the next timer), then call the ready descriptors' callbacks.
    ///
    /// # Panics
    ///
    /// A panic in a callback is not caught: it unwinds out of `run`, and the
    /// loop stays usable, so `run` may be called again (after
    /// [`std::panic::catch_unwind`], say). What happens to the source whose
    /// callback panicked:
    ///
    /// - a descriptor source stays registered, with its interest unchanged;
    ///   being level-triggered, it is called again if still ready;
    /// - a timer or task is consumed, as if it had returned `Done`.
    ///
    /// Other ready descriptors of the interrupted iteration are reported
    /// again by the next one (readiness is level-triggered).
    ///
    /// `run` also panics if called from inside one of this loop's callbacks
    /// (a nested run), or if the underlying loop was destroyed behind the
    /// `EventLoop`'s back (by the C library's `iv_deinit`).
    pub fn run(&self) {
        assert!(
            !self.running.get(),
            "ivykis: EventLoop::run called from inside one of its own callbacks; nested runs are not supported"
        );
        assert!(
            engine::current_id() == Some(self.handle.id),
            "ivykis: EventLoop::run: this thread's loop was destroyed behind the EventLoop's back"
        );
        struct Running<'a>(&'a Cell<bool>);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        self.running.set(true);
        let _running = Running(&self.running);
        engine::run();
    }

    /// The name of the poll method in use: `"epoll"`, `"ppoll"` or `"poll"`
    /// on Linux, `"kqueue"` (or `"ppoll"`, `"poll"`) elsewhere. See
    /// [Poll methods](crate#poll-methods).
    pub fn poll_method(&self) -> &'static str {
        engine::poll_method_name().unwrap_or("none")
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if engine::current_id() == Some(self.handle.id) {
            engine::deinit();
        }
        // The engine has dropped its references; the table holds the last
        // ones. Dropping it here, outside every borrow, runs the closures' and
        // descriptor objects' destructors, which may use handles (they get
        // `Error::LoopGone`).
        drop(registry::uninstall(self.handle.id));
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("id", &self.handle.id)
            .field("poll_method", &self.poll_method())
            .finish()
    }
}

/// A cheap, clonable reference to a thread's event loop.
///
/// Every callback receives `&Handle`, so callbacks reach their loop without
/// capturing anything. A `Handle` is neither `Send` nor `Sync`.
///
/// ```compile_fail
/// // Not Send: a handle stays on its loop's thread.
/// fn assert_send<T: Send>() {}
/// assert_send::<ivykis::Handle>();
/// ```
///
/// A handle never keeps its loop alive and is never unsafe to use: once the
/// [`EventLoop`] is dropped (even if a newer loop was created on the same
/// thread since), every fallible method returns [`Error::LoopGone`].
///
/// ```
/// use ivykis::{Error, EventLoop};
///
/// let event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// drop(event_loop);
/// assert!(matches!(handle.quit(), Err(Error::LoopGone)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) id: u64,
    _not_send: NotSendSync,
}

impl Handle {
    pub(crate) fn new(id: u64) -> Handle {
        Handle {
            id,
            _not_send: PhantomData,
        }
    }

    /// `Ok` if this handle's loop is this thread's current loop.
    pub(crate) fn check_alive(&self) -> Result<(), Error> {
        if engine::current_id() == Some(self.id) {
            Ok(())
        } else {
            Err(Error::LoopGone)
        }
    }

    /// Makes [`EventLoop::run`] return instead of waiting again. The loop
    /// checks the request after the task round of each iteration (see
    /// [`EventLoop::run`]), so what comes before that check still happens:
    /// after a quit from a descriptor callback, the other ready descriptors
    /// are dispatched and the next iteration's due timers and pending tasks
    /// run; after a quit from a timer, the other due timers and the task
    /// round run. Sources stay registered. Called outside `run`, it has no
    /// effect: `run` clears the request when it starts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ivykis::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// // Would keep the loop busy for an hour.
    /// handle.add_timer_after(Duration::from_secs(3600), |_| {})?;
    /// handle.add_task(|h| h.quit().unwrap())?;
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`].
    pub fn quit(&self) -> Result<(), Error> {
        self.check_alive()?;
        engine::quit();
        Ok(())
    }

    /// The loop's cached time: refreshed lazily, on the first read after the
    /// loop waited (or after [`Handle::invalidate_now`]), so the callbacks
    /// run between two waits see the same value. Timers compare their
    /// deadlines with it.
    ///
    /// The cache belongs to the thread, not the loop, so this works even
    /// after the loop is gone.
    ///
    /// ```
    /// # let event_loop = ivykis::EventLoop::new()?;
    /// # let handle = event_loop.handle();
    /// let a = handle.now();
    /// let b = handle.now();
    /// assert_eq!(a, b); // no iteration in between: same cached value
    /// handle.invalidate_now();
    /// assert!(handle.now() >= a);
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    pub fn now(&self) -> Instant {
        Instant(engine::time::now())
    }

    /// Marks the cached time stale, so that the next [`Handle::now`] (and
    /// the next relative deadline, [`Handle::add_timer_after`]) reads the
    /// clock again. Useful after a callback did long work.
    pub fn invalidate_now(&self) {
        engine::time::invalidate();
    }

    /// Removes a source of any kind. A descriptor source's object (and the
    /// descriptor it owns) is dropped after the kernel stopped watching it;
    /// if the source is removing itself from its own callback, that happens
    /// when the callback returns.
    ///
    /// Sources may be removed from any callback, including their own; a
    /// removed source's callback is not called again, even if it was ready
    /// in the same iteration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ivykis::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let timer = handle.add_timer_after(Duration::from_millis(5), |_| println!("never printed"))?;
    /// handle.remove(timer)?;
    /// assert!(!handle.is_registered(timer));
    /// assert!(handle.remove(timer).is_err()); // stale now
    /// event_loop.run(); // nothing registered: returns at once
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Stale`] if the token names no source of
    /// this loop (already removed, a one-shot timer or task that already
    /// ran, or a token of another loop).
    pub fn remove(&self, token: impl Into<Token>) -> Result<(), Error> {
        let token = token.into();
        let removed = registry::with_loop(self.id, |entries, l| {
            let (loop_id, key) = token.parts();
            if loop_id != self.id || !token.matches(entries.get(key)) {
                return Err(Error::Stale);
            }
            let entry = entries.remove(key).expect("entry was just found");
            unregister_from_engine(l, &entry);
            Ok(entry)
        })?;
        // Outside every borrow: this may drop the descriptor object and the
        // closure, whose destructors may call back into the loop.
        drop(removed);
        Ok(())
    }

    /// Whether `token` names a registered source of this loop: `false` once
    /// it was removed, once a one-shot timer or task has run (and while a
    /// timer or task callback runs, until it re-arms), and when the loop is
    /// gone.
    ///
    /// ```
    /// # let event_loop = ivykis::EventLoop::new()?;
    /// # let handle = event_loop.handle();
    /// let task = handle.add_task(|_| {})?;
    /// assert!(handle.is_registered(task));
    /// event_loop.run();
    /// assert!(!handle.is_registered(task));
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    pub fn is_registered(&self, token: impl Into<Token>) -> bool {
        let token = token.into();
        registry::with_loop(self.id, |entries, l| {
            let (loop_id, key) = token.parts();
            if loop_id != self.id {
                return Ok(false);
            }
            Ok(match entries.get(key) {
                Some(Entry::Fd(_)) => matches!(token, Token::Fd(_)),
                Some(Entry::Timer(e)) => {
                    matches!(token, Token::Timer(_)) && l.timers.is_registered(e.engine_key)
                }
                Some(Entry::Task(e)) => {
                    matches!(token, Token::Task(_)) && l.tasks.is_registered(e.engine_key)
                }
                Some(Entry::Event(_)) => matches!(token, Token::Event(_)),
                Some(Entry::Child(_)) => matches!(token, Token::Child(_)),
                Some(Entry::Reserved) | None => false,
            })
        })
        .unwrap_or(false)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("loop_id", &self.id).finish()
    }
}

/// A token of any kind, for [`Handle::remove`] and
/// [`Handle::is_registered`] (every token type converts into it), or for
/// keeping tokens of several kinds in one collection.
///
/// ```
/// use std::time::Duration;
/// use ivykis::{EventLoop, Token};
///
/// let event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// let mut sources: Vec<Token> = Vec::new();
/// sources.push(handle.add_timer_after(Duration::from_secs(60), |_| {})?.into());
/// sources.push(handle.add_task(|_| {})?.into());
/// for token in sources {
///     handle.remove(token)?;
/// }
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    /// A descriptor source.
    Fd(FdToken),
    /// A timer.
    Timer(TimerToken),
    /// A task.
    Task(TaskToken),
    /// An event or channel source.
    Event(EventToken),
    /// A child-process watch.
    Child(ChildToken),
}

impl Token {
    fn parts(self) -> (u64, engine::slab::Key) {
        match self {
            Token::Fd(t) => (t.loop_id, t.key),
            Token::Timer(t) => (t.loop_id, t.key),
            Token::Task(t) => (t.loop_id, t.key),
            Token::Event(t) => (t.loop_id, t.key),
            Token::Child(t) => (t.loop_id, t.key),
        }
    }

    /// Whether `entry` is of this token's kind.
    fn matches(self, entry: Option<&Entry>) -> bool {
        matches!(
            (self, entry),
            (Token::Fd(_), Some(Entry::Fd(_)))
                | (Token::Timer(_), Some(Entry::Timer(_)))
                | (Token::Task(_), Some(Entry::Task(_)))
                | (Token::Event(_), Some(Entry::Event(_)))
                | (Token::Child(_), Some(Entry::Child(_)))
        )
    }
}

impl From<FdToken> for Token {
    fn from(t: FdToken) -> Token {
        Token::Fd(t)
    }
}

impl From<TimerToken> for Token {
    fn from(t: TimerToken) -> Token {
        Token::Timer(t)
    }
}

impl From<TaskToken> for Token {
    fn from(t: TaskToken) -> Token {
        Token::Task(t)
    }
}

impl From<EventToken> for Token {
    fn from(t: EventToken) -> Token {
        Token::Event(t)
    }
}
