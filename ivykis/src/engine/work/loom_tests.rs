//! Loom models of the pool's hand-offs between threads (`make loom`).
//!
//! They run the real [`Shared::finish`], [`run_completions`] (through
//! [`Shared::take_finished`]), [`dispatch_locked`] and
//! [`State::retire_idle`] on a pool state built by hand, with real hubs
//! whose mailboxes are loom-instrumented. The owner's loop is reduced to
//! what matters here: when its hub holds a post, it takes the keys and runs
//! the completion callback once per key, as its event dispatch would.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::Arc;

use loom::thread;

use super::super::slab::Key;
use super::super::sync::{AtomicBool, Mutex, Ordering};
use super::super::wake::Hub;
use super::{dispatch_locked, run_completions, IdleWorker, Job, Shared, State};

const OWNER_KEY: u64 = 5;

unsafe fn work_nothing(_: *mut c_void) {}

/// Counts completions in the `Cell<usize>` that `data` points to.
unsafe fn count_completion(data: *mut c_void) {
    // SAFETY: the models pass a pointer to a `Cell<usize>` that outlives
    // the model run, and run completions on the thread that owns it.
    let completed = unsafe { &*(data as *const Cell<usize>) };
    completed.set(completed.get() + 1);
}

fn job(completed: &Cell<usize>) -> Job {
    Job {
        data: completed as *const Cell<usize> as *mut c_void,
        work: work_nothing,
        complete: count_completion,
    }
}

/// A pool owned by "loop 1" with `outstanding` submitted jobs and the
/// given idle workers.
fn pool(outstanding: usize, idle: Vec<IdleWorker>, workers: usize) -> Arc<Shared> {
    Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            finished: Vec::new(),
            idle,
            workers,
            outstanding,
            put: false,
            next_worker_id: 0,
        }),
        max_threads: 1,
        thread_start: None,
        thread_stop: None,
        owner_loop: 1,
        owner_hub: Arc::new(Hub::new(1).unwrap()),
        owner_key: Key::from_raw(OWNER_KEY).unwrap(),
        completion_posted: AtomicBool::new(false),
    })
}

/// The owner's loop, one iteration: the completion event's posts.
fn owner_iteration(shared: &Arc<Shared>) {
    let hub = &shared.owner_hub;
    if hub.has_posts() {
        let mut keys = Vec::new();
        hub.take(&mut keys);
        for key in keys {
            assert_eq!(key, OWNER_KEY);
            run_completions(shared);
        }
    }
}

/// Workers finish `per_worker` jobs each while the owner runs `rounds`
/// iterations; then, with the workers gone, no finished job may lack a
/// pending post: one more iteration must complete them all.
fn completion_model(workers: usize, per_worker: usize, rounds: usize) {
    loom::model(move || {
        let total = workers * per_worker;
        let completed = Box::new(Cell::new(0));
        let shared = pool(total, Vec::new(), workers);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                let job = job(&completed);
                thread::spawn(move || {
                    for _ in 0..per_worker {
                        shared.finish(job);
                    }
                })
            })
            .collect();
        for _ in 0..rounds {
            owner_iteration(&shared);
        }
        for h in handles {
            h.join().unwrap();
        }
        // A raised flag promises a queued post; else the next finish
        // would not post, and its job would wait for ever.
        if shared.completion_posted.load(Ordering::SeqCst) {
            assert!(shared.owner_hub.has_posts(), "flag raised, no post");
        }
        owner_iteration(&shared);
        assert_eq!(completed.get(), total, "a finished job was not completed");
        let st = shared.lock();
        assert!(st.finished.is_empty());
        assert_eq!(st.outstanding, 0);
    });
}

/// One worker finishes two jobs while the owner handles its posts twice.
#[test]
fn loom_model_completion_one_worker() {
    completion_model(1, 2, 2);
}

/// Two workers finish one job each while the owner handles its posts.
#[test]
fn loom_model_completion_two_workers() {
    completion_model(2, 1, 1);
}

/// A submission pops the idle worker while that worker's idle timer
/// retires it: exactly one of them wins, and the pool counts one worker
/// either way (the survivor woken, or a new one to start).
#[test]
fn loom_model_idle_handoff() {
    loom::model(|| {
        let completed = Box::new(Cell::new(0));
        let worker_hub = Arc::new(Hub::new(2).unwrap());
        let idle = vec![IdleWorker {
            hub: Arc::clone(&worker_hub),
            key: 9,
            id: 1,
        }];
        let shared = pool(0, idle, 1);
        let submit = {
            let shared = Arc::clone(&shared);
            let job = job(&completed);
            // `Pool::submit`'s locked part (its owner check needs a loop).
            thread::spawn(move || {
                let mut st = shared.lock();
                st.outstanding += 1;
                st.queue.push_back(job);
                dispatch_locked(&mut st, shared.max_threads)
            })
        };
        let retired = shared.lock().retire_idle(1);
        let must_start = submit.join().unwrap();
        assert_eq!(retired, must_start, "a new worker iff the old one retired");
        assert_eq!(retired, !worker_hub.has_posts(), "the survivor is woken");
        let st = shared.lock();
        assert!(st.idle.is_empty());
        assert_eq!(st.workers, 1);
    });
}
