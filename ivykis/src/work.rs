//! Worker pools: [`WorkPool`], and [`Handle::current`] for work closures.
//!
//! A thin layer over the engine's pool (`engine::work::Pool`), which the C
//! library's `iv_work_pool` uses too. Each submission becomes one engine
//! job holding both closures (`Pool::submit_closure`, the engine's safe
//! entry point): the work closure (`Send`) runs on a worker and leaves its
//! result in the job; the completion (not `Send`) is only ever touched on
//! the owner's thread, where the engine calls it through the pool's
//! completion event. A panic in a work closure is caught on the worker and
//! handed to the completion; a panic in a completion is caught and raised
//! again from a task, so that it leaves the engine's bookkeeping of the
//! other completions intact.

#![forbid(unsafe_code)]

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::engine::{self, work::Pool};
use crate::error::Error;
use crate::event_loop::Handle;
use crate::registry;

/// A pool of worker threads serving one loop: closures run on the workers,
/// and their results come back to a completion closure on the loop's
/// thread.
///
/// Workers are started on demand, up to `max_threads`, and end after about
/// ten seconds without work. Each worker is a full loop thread: it has an
/// event loop of its own, which a work closure reaches with
/// [`Handle::current`] (see there).
///
/// A pool counts as a source of its loop: while it exists, or has work in
/// flight, or has workers that have not ended, [`EventLoop::run`] keeps
/// going. Dropping the pool (its last clone) lets it go: work already
/// submitted still runs and its completions still run on this loop, idle
/// workers end at once and busy ones when the queue is empty; `run` returns
/// once all that is done (if nothing else is registered).
///
/// A `WorkPool` is a cheap `Clone` (the clones share the pool), neither
/// `Send` nor `Sync`: it belongs to its loop's thread.
///
/// Drop the pool and let `run` finish before dropping the loop. If the loop
/// goes first, work already submitted still runs, but its completions
/// never do: they (and the results) are leaked rather than dropped on a
/// worker, and the workers end without being joined. Submitting to a pool
/// whose loop is gone returns [`Error::LoopGone`].
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<ivykis::WorkPool>();
/// ```
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use ivykis::{EventLoop, WorkPool};
///
/// let event_loop = EventLoop::new()?;
/// let handle = event_loop.handle();
/// let pool = WorkPool::new(&handle, 4)?;
/// let total = Rc::new(Cell::new(0u64));
/// for n in 1..=10u64 {
///     let total = total.clone();
///     pool.submit(
///         move || (1..=n).product::<u64>(), // on a worker
///         move |_h, factorial| total.set(total.get() + factorial.unwrap()), // here
///     )?;
/// }
/// drop(pool); // the submitted work still completes
/// event_loop.run(); // returns once every completion ran
/// assert_eq!(total.get(), 4037913);
/// # Ok::<(), ivykis::Error>(())
/// ```
///
/// [`EventLoop::run`]: crate::EventLoop::run
#[derive(Clone)]
pub struct WorkPool {
    inner: Rc<Inner>,
}

struct Inner {
    loop_id: u64,
    max_threads: usize,
    /// `None` only while dropping.
    pool: Option<Pool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.put();
        }
    }
}

impl WorkPool {
    /// Creates a pool serving `handle`'s loop, with at most `max_threads`
    /// workers (0 is taken as 1). No thread starts before work is
    /// submitted.
    ///
    /// ```
    /// # let event_loop = ivykis::EventLoop::new()?;
    /// let pool = ivykis::WorkPool::new(&event_loop.handle(), 2)?;
    /// assert_eq!(pool.max_threads(), 2);
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] if the loop's wake-up descriptor
    /// cannot be opened.
    pub fn new(handle: &Handle, max_threads: usize) -> Result<WorkPool, Error> {
        WorkPool::create(handle, max_threads, None, None)
    }

    /// Like [`WorkPool::new`], with hooks that every worker thread runs
    /// when it starts (before its first work item) and when it ends. The
    /// hooks may run on several workers at once.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use ivykis::{EventLoop, WorkPool};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let count = started.clone();
    /// let pool = WorkPool::with_thread_hooks(
    ///     &event_loop.handle(),
    ///     1,
    ///     move || {
    ///         count.fetch_add(1, Ordering::SeqCst);
    ///     },
    ///     || println!("worker ends"),
    /// )?;
    /// pool.submit(|| (), |_h, _| {})?;
    /// drop(pool);
    /// event_loop.run(); // the worker has ended when run returns
    /// assert_eq!(started.load(Ordering::SeqCst), 1);
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`WorkPool::new`].
    pub fn with_thread_hooks(
        handle: &Handle,
        max_threads: usize,
        on_start: impl Fn() + Send + Sync + 'static,
        on_stop: impl Fn() + Send + Sync + 'static,
    ) -> Result<WorkPool, Error> {
        WorkPool::create(
            handle,
            max_threads,
            Some(Box::new(on_start)),
            Some(Box::new(on_stop)),
        )
    }

    fn create(
        handle: &Handle,
        max_threads: usize,
        on_start: Option<engine::work::Hook>,
        on_stop: Option<engine::work::Hook>,
    ) -> Result<WorkPool, Error> {
        // The engine's `create` is fatal without a loop: check first.
        handle.check_alive()?;
        let pool = Pool::create(max_threads, on_start, on_stop, "WorkPool::new")?;
        Ok(WorkPool {
            inner: Rc::new(Inner {
                loop_id: handle.id,
                max_threads: max_threads.max(1),
                pool: Some(pool),
            }),
        })
    }

    /// The most worker threads the pool runs at once.
    pub fn max_threads(&self) -> usize {
        self.inner.max_threads
    }

    fn pool(&self) -> &Pool {
        self.inner.pool.as_ref().expect("pool is put only on drop")
    }

    /// Runs `work` on a worker thread, then `completion` on this loop's
    /// thread with what `work` returned: `Ok(value)`, or `Err(payload)` if
    /// `work` panicked (the payload `std::panic::catch_unwind` gives; the
    /// worker carries on with the next item).
    ///
    /// Items start in the order submitted, each on whichever worker is
    /// free; with several workers they may finish, and complete, in another
    /// order. Completions run as callbacks of the loop, one at a time,
    /// between its other callbacks. A completion that panics makes
    /// [`EventLoop::run`](crate::EventLoop::run) unwind with that panic in
    /// the next iteration's task round, after the other completions that
    /// were ready with it have run.
    ///
    /// One allocation per item, and no system call on the owner's side
    /// unless a worker has to be started or woken.
    ///
    /// ```
    /// use ivykis::{EventLoop, WorkPool};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let pool = WorkPool::new(&event_loop.handle(), 1)?;
    /// pool.submit(
    ///     || -> u32 { panic!("no luck") },
    ///     |_h, result| {
    ///         let payload = result.unwrap_err();
    ///         assert_eq!(payload.downcast_ref::<&str>(), Some(&"no luck"));
    ///     },
    /// )?;
    /// drop(pool);
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`] if the pool's loop is gone (both closures are
    /// dropped unrun).
    pub fn submit<T, W, C>(&self, work: W, completion: C) -> Result<(), Error>
    where
        W: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        C: FnOnce(&Handle, std::thread::Result<T>) + 'static,
    {
        let loop_id = self.inner.loop_id;
        let complete = move |result: std::thread::Result<T>| {
            let handle = Handle::new(loop_id);
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| completion(&handle, result)));
            if let Err(payload) = outcome {
                let mut payload = Some(payload);
                // Only fails if the loop is gone, and then nobody runs it.
                let _ = handle.add_task(move |_h| {
                    if let Some(payload) = payload.take() {
                        panic::resume_unwind(payload);
                    }
                });
            }
        };
        self.pool()
            .submit_closure(work, complete)
            .map_err(|_| Error::LoopGone)
    }
}

impl fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkPool")
            .field("loop_id", &self.inner.loop_id)
            .field("max_threads", &self.max_threads())
            .finish()
    }
}

impl Handle {
    /// The handle of the calling thread's loop, or `None` if the thread has
    /// none.
    ///
    /// Its main use is in a [`WorkPool`]'s work closures: every worker
    /// thread runs an event loop of its own, and this is how a work closure
    /// reaches it. Sources it adds there (timers, tasks, descriptors,
    /// events) run on the worker after the work item returns, before the
    /// worker takes its next item; the worker does not end while they are
    /// registered (and the pool's loop waits for its workers to end).
    /// A worker's loop cannot be an [`EventLoop`](crate::EventLoop) (the
    /// thread has a loop already, so `EventLoop::new` fails with
    /// [`Error::AlreadyInitialized`]).
    ///
    /// ```
    /// use ivykis::{EventAction, EventLoop, Handle, WorkPool};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// // Where the worker reports back.
    /// let (_token, sender) = handle.add_channel(|_h, msg: &str| {
    ///     assert_eq!(msg, "task ran on the worker");
    ///     EventAction::Remove
    /// })?;
    /// let pool = WorkPool::new(&handle, 1)?;
    /// pool.submit(
    ///     move || {
    ///         let worker_loop = Handle::current().expect("workers have loops");
    ///         // Runs on the worker, once this closure has returned.
    ///         worker_loop
    ///             .add_task(move |_h| sender.send("task ran on the worker").unwrap())
    ///             .unwrap();
    ///     },
    ///     |_h, result| result.unwrap(),
    /// )?;
    /// drop(pool);
    /// event_loop.run();
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// On a thread with an [`EventLoop`](crate::EventLoop), it is that
    /// loop's handle; on a thread without a loop, `None`:
    ///
    /// ```
    /// assert!(ivykis::Handle::current().is_none());
    /// let event_loop = ivykis::EventLoop::new()?;
    /// assert!(ivykis::Handle::current().is_some());
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    pub fn current() -> Option<Handle> {
        let id = engine::current_id()?;
        // A loop the face did not create (a worker's, or the C library's
        // `iv_init`) gets its face table here; a table left behind by an
        // older loop is dropped outside the borrow.
        let replaced = registry::adopt(id).ok()?;
        drop(replaced);
        Some(Handle::new(id))
    }
}
