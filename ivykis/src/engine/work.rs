//! Worker-thread pools (`iv_work`, SPEC 7).
//!
//! A pool is shared state behind a mutex: a queue of pending jobs, a list of
//! finished jobs waiting for their completion call, and the idle workers.
//! The owner thread holds a completion event in its loop; it stays
//! registered while the pool has an owner or unfinished jobs, which is what
//! keeps the owner's `iv_main` running.
//!
//! Workers are full loop threads started with [`thread::create`] (so each
//! holds a reference on the owner's loop until it ends): each has its own
//! loop, a "wake" event and an idle timer. A worker runs one job per wake-up
//! and returns to its loop before taking the next, so tasks and timers a job
//! registers in the worker run there afterwards. Out of work, a worker puts
//! itself on the idle list and arms a ten-second timer; a submission pops
//! an idle worker and posts its wake event, or starts a new worker while
//! fewer than `max_threads` exist. After [`Pool::put`], idle workers end at
//! once and busy ones end when the queue is empty.
//!
//! A job is three words ([`Job`]): no allocation per submission.

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::callback::Callback;
use super::slab::Key;
use super::sync::{AtomicBool, Mutex, MutexGuard, Ordering};
use super::thread;
use super::time;
use super::wake::Hub;

/// How long a worker waits for work before it ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// One unit of work: `work(data)` on a worker, then `complete(data)` on
/// the owner's thread.
#[derive(Clone, Copy)]
pub struct Job {
    /// Passed to both functions.
    pub data: *mut c_void,
    /// Runs on a worker thread.
    pub work: unsafe fn(*mut c_void),
    /// Runs on the owner's thread afterwards.
    pub complete: unsafe fn(*mut c_void),
}

// SAFETY: a Job is handed from the owner to one worker and back; the
// submitter promises (`Pool::submit`'s contract) that `data` may be used by
// `work` on another thread and by `complete` on the owner's.
unsafe impl Send for Job {}

/// A hook run in each worker (thread start / stop).
pub type Hook = Box<dyn Fn() + Send + Sync>;

struct IdleWorker {
    hub: Arc<Hub>,
    key: u64,
    /// Identifies the worker for its idle timer.
    id: u64,
}

struct State {
    queue: VecDeque<Job>,
    finished: Vec<Job>,
    idle: Vec<IdleWorker>,
    /// Workers started and not yet ended.
    workers: usize,
    /// Jobs submitted whose completion has not run yet.
    outstanding: usize,
    put: bool,
    next_worker_id: u64,
}

struct Shared {
    state: Mutex<State>,
    max_threads: usize,
    thread_start: Option<Hook>,
    thread_stop: Option<Hook>,
    owner_loop: u64,
    owner_hub: Arc<Hub>,
    owner_key: Key,
    /// A completion post is queued and not yet handled (coalesces posts).
    completion_posted: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Worker side of the completion hand-off: queues a job whose `work`
    /// ran for its completion, and posts the owner's event unless a post is
    /// already pending that the owner has not begun to handle.
    fn finish(&self, job: Job) {
        self.lock().finished.push(job);
        self.announce_finished();
    }

    /// Posts the owner's event for jobs just added to `finished`, unless a
    /// post is already pending.
    fn announce_finished(&self) {
        if !self.completion_posted.swap(true, Ordering::SeqCst) {
            let _ = self.owner_hub.post(self.owner_key.to_raw());
        }
    }

    /// Owner side: takes the finished jobs. The flag is lowered before the
    /// list is taken, so a worker that finishes after the take sees it
    /// lowered and posts again.
    fn take_finished(&self) -> Vec<Job> {
        // A swap rather than a store: the same instruction on x86, and loom
        // orders it against the workers' swaps.
        self.completion_posted.swap(false, Ordering::SeqCst);
        std::mem::take(&mut self.lock().finished)
    }
}

impl State {
    /// An idle worker's timer expired: if it is still on the idle list, it
    /// leaves it and is no longer counted (`true`: it ends). If a submitter
    /// popped it, a wake-up is on its way and it stays (`false`).
    fn retire_idle(&mut self, id: u64) -> bool {
        match self.idle.iter().position(|w| w.id == id) {
            Some(i) => {
                self.idle.swap_remove(i);
                self.workers -= 1;
                true
            }
            None => false,
        }
    }
}

/// The owner's handle on a pool.
pub struct Pool {
    shared: Arc<Shared>,
}

/// Why a submission was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// Not called on the owner's thread.
    NotOwner,
    /// The pool was put.
    Put,
}

impl Pool {
    /// Creates a pool owned by the calling thread's loop (`what` names the
    /// caller for the fatal message if the thread has none).
    pub fn create(
        max_threads: usize,
        thread_start: Option<Hook>,
        thread_stop: Option<Hook>,
        what: &str,
    ) -> std::io::Result<Pool> {
        // The completion event holds the pool's state strongly: after `put`
        // (which drops the owner's handle) and after the last worker ended,
        // finished jobs still need their completions. The reference goes
        // when the event is unregistered, once nothing is outstanding.
        let shared_cell: Rc<OnceCell<Arc<Shared>>> = Rc::new(OnceCell::new());
        let on_completion = {
            let shared_cell = Rc::clone(&shared_cell);
            Callback::Native(Rc::new(move |()| {
                if let Some(shared) = shared_cell.get() {
                    run_completions(shared);
                }
            }))
        };
        let (key, hub, loop_id) = super::with(what, |l| {
            let (key, hub) = l.events.register(&mut *l.poller, l.id, on_completion)?;
            Ok::<_, std::io::Error>((key, hub, l.id))
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                finished: Vec::new(),
                idle: Vec::new(),
                workers: 0,
                outstanding: 0,
                put: false,
                next_worker_id: 0,
            }),
            max_threads: max_threads.max(1),
            thread_start,
            thread_stop,
            owner_loop: loop_id,
            owner_hub: hub,
            owner_key: key,
            completion_posted: AtomicBool::new(false),
        });
        let _ = shared_cell.set(Arc::clone(&shared));
        Ok(Pool { shared })
    }

    /// Queues a job from the owner's thread, starting a worker if none is
    /// idle and fewer than `max_threads` run.
    ///
    /// # Safety
    ///
    /// `job.work(job.data)` must be sound on another thread and
    /// `job.complete(job.data)` on this one, once each, in that order.
    pub unsafe fn submit(&self, job: Job) -> Result<(), SubmitError> {
        if super::current_id() != Some(self.shared.owner_loop) {
            return Err(SubmitError::NotOwner);
        }
        let spawn = {
            let mut st = self.shared.lock();
            if st.put {
                return Err(SubmitError::Put);
            }
            st.outstanding += 1;
            st.queue.push_back(job);
            dispatch_locked(&mut st, self.shared.max_threads)
        };
        if spawn {
            start_worker(&self.shared);
        }
        Ok(())
    }

    /// Drops the owner's reference: queued and running jobs still complete
    /// (their completions run on this thread), idle workers end now, and the
    /// pool goes away once its last job completed.
    pub fn put(self) {
        let (idle, done) = {
            let mut st = self.shared.lock();
            st.put = true;
            (std::mem::take(&mut st.idle), st.outstanding == 0)
        };
        for w in idle {
            let _ = w.hub.post(w.key);
        }
        if done {
            release_owner(&self.shared);
        }
    }
}

/// Queues a job from a worker of the pool (or any thread): it is run by an
/// idle worker or by the next one to finish its current job.
///
/// # Safety
///
/// As for [`Pool::submit`]; `pool` must be a live pool's shared state.
pub unsafe fn submit_continuation(pool: &Pool, job: Job) {
    let wake = {
        let mut st = pool.shared.lock();
        st.outstanding += 1;
        st.queue.push_back(job);
        st.idle.pop()
    };
    if let Some(w) = wake {
        let _ = w.hub.post(w.key);
    }
}

impl Pool {
    /// A second handle on the same pool (for continuations from workers).
    pub fn clone_handle(&self) -> Pool {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// With the lock held after queueing: wake an idle worker, or say whether a
/// new one should be started.
fn dispatch_locked(st: &mut State, max_threads: usize) -> bool {
    if let Some(w) = st.idle.pop() {
        let _ = w.hub.post(w.key);
        return false;
    }
    if st.workers < max_threads {
        st.workers += 1;
        return true;
    }
    false
}

fn release_owner(shared: &Shared) {
    let key = shared.owner_key;
    super::try_with(|l| {
        if l.id == shared.owner_loop {
            l.events.unregister(key);
        }
    });
}

/// Owner thread: run the completions of finished jobs.
fn run_completions(shared: &Arc<Shared>) {
    let finished = shared.take_finished();
    let count = finished.len();
    for job in finished {
        // SAFETY: `submit`'s caller promised that `complete(data)` is sound
        // on this (the owner's) thread once `work` has run, which it has.
        unsafe { (job.complete)(job.data) };
    }
    let done = {
        let mut st = shared.lock();
        st.outstanding -= count;
        st.put && st.outstanding == 0
    };
    if done {
        release_owner(shared);
    }
}

fn start_worker(shared: &Arc<Shared>) {
    let arg = Arc::into_raw(Arc::clone(shared)) as *mut c_void;
    if thread::create(c"iv_work", worker_main, arg, "iv_work_pool_submit_work").is_err() {
        // SAFETY: the thread did not start, so the reference is still ours.
        drop(unsafe { Arc::from_raw(arg as *const Shared) });
        let mut st = shared.lock();
        st.workers -= 1;
        // With no worker at all, the job would wait forever: that is the
        // resource failure the program must hear about.
        if st.workers == 0 && !st.queue.is_empty() {
            drop(st);
            crate::fatal!("iv_work_pool_submit_work: cannot start a worker thread");
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    id: u64,
    wake_key: Cell<Option<Key>>,
    hub: Arc<Hub>,
    idle_timer: Cell<Option<Key>>,
}

unsafe extern "C" fn worker_main(arg: *mut c_void) {
    // SAFETY: `start_worker` leaked one reference for this thread.
    let shared = unsafe { Arc::from_raw(arg as *const Shared) };
    if super::init().is_err() {
        let mut st = shared.lock();
        st.workers -= 1;
        return;
    }
    if let Some(hook) = &shared.thread_start {
        hook();
    }
    let id = {
        let mut st = shared.lock();
        st.next_worker_id += 1;
        st.next_worker_id
    };
    let worker = Rc::new_cyclic(|weak: &std::rc::Weak<Worker>| {
        let weak = weak.clone();
        let on_wake = Callback::Native(Rc::new(move |()| {
            if let Some(w) = weak.upgrade() {
                w.run_one();
            }
        }));
        let (key, hub) = super::with("iv_work worker", |l| {
            l.events.register(&mut *l.poller, l.id, on_wake)
        })
        .unwrap_or_else(|e| {
            crate::fatal!("iv_work: worker cannot register its wake-up event: {e}")
        });
        Worker {
            shared: Arc::clone(&shared),
            id,
            wake_key: Cell::new(Some(key)),
            hub,
            idle_timer: Cell::new(None),
        }
    });
    worker.run_one();
    super::run();
    if let Some(hook) = &shared.thread_stop {
        hook();
    }
    drop(worker);
    super::deinit();
}

/// What a worker does after handing over its last job.
enum Next {
    Job(Job),
    Idle,
    End,
}

impl Worker {
    fn post_self(&self) {
        if let Some(key) = self.wake_key.get() {
            let _ = self.hub.post(key.to_raw());
        }
    }

    /// Runs one job, or goes idle (or ends) when there is none.
    /// Runs queued jobs until the queue is empty, then goes idle (or ends
    /// after `put`). A job that registered tasks in this worker's loop gets
    /// them run before the next job: the worker returns to its loop and
    /// resumes through a post to itself (free: same thread).
    fn run_one(self: &Rc<Self>) {
        self.disarm_idle_timer();
        // The job whose work ran last: handed over under the same lock that
        // takes the next one, so a busy worker locks the pool once per job.
        let mut done: Option<Job> = None;
        loop {
            let handed_over = done.is_some();
            let next = {
                let mut st = self.shared.lock();
                if let Some(job) = done.take() {
                    st.finished.push(job);
                }
                match st.queue.pop_front() {
                    Some(job) => Next::Job(job),
                    None if st.put => {
                        st.workers -= 1;
                        Next::End
                    }
                    None => {
                        st.idle.push(IdleWorker {
                            hub: Arc::clone(&self.hub),
                            key: self.wake_key.get().map_or(0, Key::to_raw),
                            id: self.id,
                        });
                        Next::Idle
                    }
                }
            };
            // Outside the lock: posting may wake the owner (a system call).
            if handed_over {
                self.shared.announce_finished();
            }
            let job = match next {
                Next::Job(job) => job,
                Next::End => {
                    self.end();
                    return;
                }
                Next::Idle => {
                    self.arm_idle_timer();
                    return;
                }
            };
            // SAFETY: `submit`'s caller promised that `work(data)` is sound on a
            // worker thread, once.
            unsafe { (job.work)(job.data) };
            if super::try_with(|l| !l.tasks.is_empty()).unwrap_or(false) {
                self.shared.finish(job);
                self.post_self();
                return;
            }
            done = Some(job);
        }
    }

    fn arm_idle_timer(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let on_timeout = Callback::Native(Rc::new(move |()| {
            if let Some(w) = weak.upgrade() {
                w.idle_timeout();
            }
        }));
        let deadline = time::now().saturating_add(IDLE_TIMEOUT);
        let key = super::with("iv_work worker", |l| {
            l.timers.register(deadline, on_timeout)
        });
        self.idle_timer.set(Some(key));
    }

    fn disarm_idle_timer(&self) {
        if let Some(key) = self.idle_timer.take() {
            super::try_with(|l| l.timers.unregister(key));
        }
    }

    fn idle_timeout(&self) {
        self.idle_timer.set(None);
        let retire = self.shared.lock().retire_idle(self.id);
        if retire {
            self.end();
        }
    }

    /// Unregisters the worker's own objects, so that its loop returns once
    /// whatever the jobs registered in it is done.
    fn end(&self) {
        self.disarm_idle_timer();
        if let Some(key) = self.wake_key.take() {
            super::try_with(|l| l.events.unregister(key));
        }
    }
}

// ---------------------------------------------------------------------------
// Closure jobs: a safe way to submit (used by the Rust face, which has no
// `unsafe`). Additive; nothing above depends on it.
// ---------------------------------------------------------------------------

/// What a worker leaves for the owner in a [`ClosureJob`].
enum WorkSlot<W, T> {
    /// Not run yet.
    Pending(W),
    /// Run; its result, or the panic it raised.
    Done(std::thread::Result<T>),
    /// In between (only while the worker runs it).
    Taken,
}

/// The one allocation behind a job of [`Pool::submit_closure`]. The worker
/// touches only `work` (whose parts are `Send`); `complete`, which need not
/// be `Send`, is read and dropped only on the owner's thread.
struct ClosureJob<W, T, C> {
    work: WorkSlot<W, T>,
    complete: C,
}

/// `Job::work` of a closure job: runs the work closure, catching a panic
/// (a worker runs under an `extern "C"` frame, which a panic must not cross).
unsafe fn closure_work<W, T, C>(data: *mut c_void)
where
    W: FnOnce() -> T,
{
    let job = data.cast::<ClosureJob<W, T, C>>();
    // SAFETY: `data` is the box leaked by `submit_closure`, alive until
    // `closure_complete` takes it back on the owner's thread, which the pool
    // does only after this function returned (the hand-over goes through the
    // pool's mutex). Until then this worker is the only one to touch the job,
    // and it takes a reference to the `work` field alone: the completion is
    // neither read nor dropped on this thread.
    let slot = unsafe { &mut *std::ptr::addr_of_mut!((*job).work) };
    if let WorkSlot::Pending(work) = std::mem::replace(slot, WorkSlot::Taken) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        *slot = WorkSlot::Done(result);
    }
}

/// `Job::complete` of a closure job: frees the job and calls the completion
/// with the work's result, on the owner's thread.
unsafe fn closure_complete<W, T, C>(data: *mut c_void)
where
    C: FnOnce(std::thread::Result<T>),
{
    // SAFETY: the box leaked by `submit_closure`; the pool calls this once,
    // on the owner's thread (where the box and its completion were made),
    // after `closure_work` has returned, and never touches `data` again.
    let job = unsafe { Box::from_raw(data.cast::<ClosureJob<W, T, C>>()) };
    let ClosureJob { work, complete } = *job;
    match work {
        WorkSlot::Done(result) => complete(result),
        // The pool runs the work before the completion, always.
        WorkSlot::Pending(_) | WorkSlot::Taken => {
            unreachable!("iv_work: completion before work")
        }
    }
}

impl Pool {
    /// The safe form of [`Pool::submit`]: runs `work` on a worker thread,
    /// then `complete` with its result on this (the owner's) thread. A panic
    /// in `work` is caught on the worker and handed to `complete` as `Err`.
    ///
    /// One allocation per job. If the job never completes (the owner's loop
    /// went away first), the job and both closures are leaked, never dropped
    /// on the wrong thread. `complete` should not unwind: a panic in it
    /// leaves the rest of that batch of completions uncalled (and leaked),
    /// and keeps the pool's completion event registered. On `Err` both
    /// closures are dropped here, unrun.
    pub fn submit_closure<W, T, C>(&self, work: W, complete: C) -> Result<(), SubmitError>
    where
        W: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        C: FnOnce(std::thread::Result<T>) + 'static,
    {
        let data: *mut ClosureJob<W, T, C> = Box::into_raw(Box::new(ClosureJob {
            work: WorkSlot::Pending(work),
            complete,
        }));
        let job = Job {
            data: data.cast(),
            work: closure_work::<W, T, C>,
            complete: closure_complete::<W, T, C>,
        };
        // SAFETY: `closure_work` touches only the `Send` part of the job and
        // may run on any thread; `closure_complete` runs on the owner's thread
        // (`submit` refuses other threads), after the work, once, and frees
        // the box; nothing else uses `data`.
        let submitted = unsafe { self.submit(job) };
        if submitted.is_err() {
            // SAFETY: refused, so the pool never saw `data`: the box is still
            // ours, and we are on the thread that made it (the completion is
            // dropped where it was created).
            drop(unsafe { Box::from_raw(data) });
        }
        submitted
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
