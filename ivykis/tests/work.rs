//! Worker pools through the Rust API (SPEC 7).

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use ivykis::{Error, EventAction, EventLoop, Handle, WorkPool};

/// Fails the test instead of hanging it.
fn watchdog(handle: &Handle) -> ivykis::TimerToken {
    util::watchdog_after(
        handle,
        Duration::from_secs(60),
        "the pool did not finish within 60 s",
    )
}

#[test]
fn more_items_than_threads_all_complete_on_the_owner_thread() {
    const ITEMS: u64 = 200;
    const MAX: usize = 3;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let dog = watchdog(&handle);
    let pool = WorkPool::new(&handle, MAX).unwrap();
    assert_eq!(pool.max_threads(), MAX);
    let owner = thread::current().id();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let workers = Arc::new(Mutex::new(HashSet::<ThreadId>::new()));
    let results = Rc::new(RefCell::new(Vec::new()));
    let completed = Rc::new(Cell::new(0u64));
    for i in 0..ITEMS {
        let (running, peak, workers) = (running.clone(), peak.clone(), workers.clone());
        let (results, completed) = (results.clone(), completed.clone());
        pool.submit(
            move || {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                workers.lock().unwrap().insert(thread::current().id());
                assert_ne!(thread::current().id(), owner, "work on the owner thread");
                thread::yield_now();
                running.fetch_sub(1, SeqCst);
                i * i
            },
            move |h, result| {
                assert_eq!(
                    thread::current().id(),
                    owner,
                    "completion off the owner thread"
                );
                results.borrow_mut().push(result.unwrap());
                completed.set(completed.get() + 1);
                if completed.get() == ITEMS {
                    h.remove(dog).unwrap();
                }
            },
        )
        .unwrap();
    }
    drop(pool);
    event_loop.run();
    assert_eq!(completed.get(), ITEMS);
    let mut results = results.borrow().clone();
    results.sort_unstable();
    assert_eq!(results, (0..ITEMS).map(|i| i * i).collect::<Vec<_>>());
    assert!(
        peak.load(SeqCst) <= MAX,
        "more than {MAX} items ran at once"
    );
    let workers = workers.lock().unwrap().len();
    assert!(
        (1..=MAX).contains(&workers),
        "{workers} worker threads for max {MAX}"
    );
}

#[test]
fn work_in_flight_when_the_pool_is_dropped_still_completes() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let dog = watchdog(&handle);
    let pool = WorkPool::new(&handle, 2).unwrap();
    // Both workers are held inside their first item until the pool is
    // gone; eight more items wait in the queue.
    let gate = Arc::new(Barrier::new(3));
    let completed = Rc::new(Cell::new(0));
    for i in 0..10 {
        let gate = gate.clone();
        let completed = completed.clone();
        pool.submit(
            move || {
                if i < 2 {
                    gate.wait();
                }
                i
            },
            move |_h, result| {
                assert_eq!(result.unwrap(), i);
                completed.set(completed.get() + 1);
            },
        )
        .unwrap();
    }
    drop(pool);
    gate.wait(); // both workers are busy; the pool is already put
                 // Once every completion ran, the watchdog goes; `run` then returns when
                 // the workers have ended.
    let c = completed.clone();
    handle
        .add_timer_after(Duration::from_millis(1), move |h| {
            if c.get() < 10 {
                ivykis::TimerAction::After(Duration::from_millis(1))
            } else {
                h.remove(dog).unwrap();
                ivykis::TimerAction::Done
            }
        })
        .unwrap();
    event_loop.run();
    assert_eq!(completed.get(), 10);
}

#[test]
fn run_returns_once_a_dropped_pool_is_done() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let pool = WorkPool::new(&handle, 2).unwrap();
    let completed = Rc::new(Cell::new(0));
    for _ in 0..20 {
        let completed = completed.clone();
        pool.submit(
            || thread::sleep(Duration::from_millis(1)),
            move |_h, r| {
                r.unwrap();
                completed.set(completed.get() + 1);
            },
        )
        .unwrap();
    }
    drop(pool);
    // Nothing else is registered: `run` returns when the pool is finished.
    event_loop.run();
    assert_eq!(completed.get(), 20);
}

#[test]
fn a_live_pool_keeps_run_going_and_a_completion_may_drop_it() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let pool = Rc::new(RefCell::new(Some(WorkPool::new(&handle, 1).unwrap())));
    let slot = pool.clone();
    let completed = Rc::new(Cell::new(false));
    let c = completed.clone();
    pool.borrow()
        .as_ref()
        .unwrap()
        .submit(
            || 7,
            move |_h, r| {
                assert_eq!(r.unwrap(), 7);
                c.set(true);
                // The last clone goes: the loop has nothing left.
                drop(slot.borrow_mut().take());
            },
        )
        .unwrap();
    event_loop.run();
    assert!(completed.get());
    assert!(pool.borrow().is_none());
}

#[test]
fn a_completion_may_submit_more_work() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let pool = WorkPool::new(&handle, 2).unwrap();
    let sum = Rc::new(Cell::new(0u64));
    fn step(pool: WorkPool, n: u64, sum: Rc<Cell<u64>>) {
        let next = pool.clone();
        pool.submit(
            move || n * 10,
            move |_h, r| {
                sum.set(sum.get() + r.unwrap());
                if n < 5 {
                    step(next, n + 1, sum);
                }
            },
        )
        .unwrap();
    }
    step(pool, 1, sum.clone());
    event_loop.run();
    assert_eq!(sum.get(), 150);
}

#[test]
fn a_panic_in_work_reaches_the_completion_and_the_worker_carries_on() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let pool = WorkPool::new(&handle, 1).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        pool.submit(
            move || {
                if i == 1 {
                    panic!("item {i} failed");
                }
                (i, thread::current().id())
            },
            move |_h, result| {
                let entry = match result {
                    Ok((i, id)) => Ok((i, id)),
                    Err(payload) => Err(payload.downcast_ref::<String>().unwrap().clone()),
                };
                log.borrow_mut().push(entry);
            },
        )
        .unwrap();
    }
    drop(pool);
    event_loop.run();
    let log = log.borrow();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1], Err("item 1 failed".to_string()));
    let (a, b) = (log[0].clone().unwrap(), log[2].clone().unwrap());
    assert_eq!((a.0, b.0), (0, 2));
    assert_eq!(
        a.1, b.1,
        "one worker (max 1) served the items around the panic"
    );
}

#[test]
fn a_panic_in_a_completion_unwinds_out_of_run_and_the_others_still_complete() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let pool = WorkPool::new(&handle, 2).unwrap();
    let completed = Rc::new(Cell::new(0));
    for i in 0..6 {
        let completed = completed.clone();
        pool.submit(
            move || i,
            move |_h, r| {
                completed.set(completed.get() + 1);
                if r.unwrap() == 3 {
                    panic!("completion 3 fails");
                }
            },
        )
        .unwrap();
    }
    drop(pool);
    let err = catch_unwind(AssertUnwindSafe(|| event_loop.run())).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"completion 3 fails"));
    // The rest (if any were left) complete in the next run, which returns
    // once the pool is finished.
    event_loop.run();
    assert_eq!(completed.get(), 6);
}

#[test]
fn workers_are_loop_threads() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    watchdog(&handle);
    let owner = thread::current().id();
    // Reports from the workers' own loops.
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    let (channel, sender) = handle
        .add_channel(move |h, report: (ThreadId, ThreadId, bool)| {
            r.borrow_mut().push(report);
            if r.borrow().len() == 4 {
                h.quit().unwrap();
                EventAction::Remove
            } else {
                EventAction::Continue
            }
        })
        .unwrap();
    let pool = WorkPool::new(&handle, 2).unwrap();
    for _ in 0..4 {
        let sender = sender.clone();
        pool.submit(
            move || {
                let worker_loop = Handle::current().expect("a worker has a loop");
                assert!(matches!(EventLoop::new(), Err(Error::AlreadyInitialized)));
                let work_thread = thread::current().id();
                // Runs on the worker's loop after this closure returned.
                let ran_inside = Rc::new(Cell::new(true));
                let flag = ran_inside.clone();
                worker_loop
                    .add_task(move |_h| {
                        sender
                            .send((work_thread, thread::current().id(), flag.get()))
                            .unwrap();
                    })
                    .unwrap();
                ran_inside.set(false); // set before the task can run
                work_thread
            },
            move |_h, r| assert_ne!(r.unwrap(), owner),
        )
        .unwrap();
    }
    drop(sender);
    drop(pool);
    event_loop.run();
    assert!(!handle.is_registered(channel));
    for (work_thread, task_thread, ran_inside) in reports.borrow().iter() {
        assert_eq!(work_thread, task_thread, "the task ran on another thread");
        assert_ne!(*task_thread, owner);
        assert!(!ran_inside, "the task ran inside the work closure");
    }
}

#[test]
fn thread_hooks_run_on_each_worker() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let started = Arc::new(Mutex::new(Vec::new()));
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let (s, t) = (started.clone(), stopped.clone());
    let pool = WorkPool::with_thread_hooks(
        &handle,
        2,
        move || s.lock().unwrap().push(thread::current().id()),
        move || t.lock().unwrap().push(thread::current().id()),
    )
    .unwrap();
    let gate = Arc::new(Barrier::new(2));
    let ids = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..2 {
        // Both items wait for each other: two workers must run.
        let gate = gate.clone();
        let ids = ids.clone();
        pool.submit(
            move || {
                gate.wait();
                thread::current().id()
            },
            move |_h, r| ids.borrow_mut().push(r.unwrap()),
        )
        .unwrap();
    }
    drop(pool);
    event_loop.run(); // the workers have ended when it returns
    let mut ids = ids.borrow().clone();
    ids.sort_by_key(|id| format!("{id:?}"));
    let sorted = |v: &Mutex<Vec<ThreadId>>| {
        let mut v = v.lock().unwrap().clone();
        v.sort_by_key(|id| format!("{id:?}"));
        v
    };
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(sorted(&started), ids);
    assert_eq!(sorted(&stopped), ids);
}

#[test]
fn a_pool_of_a_gone_loop_refuses_work() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let pool = WorkPool::new(&handle, 1).unwrap();
    drop(event_loop);
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let guard = DropCount(d);
    let result = pool.submit(move || drop(guard), |_h, _r| {});
    assert!(matches!(result, Err(Error::LoopGone)));
    assert_eq!(dropped.load(SeqCst), 1, "the refused closures are dropped");
    assert!(matches!(WorkPool::new(&handle, 1), Err(Error::LoopGone)));
    drop(pool);
}

struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn handle_current() {
    let outside = thread::spawn(|| Handle::current().is_none())
        .join()
        .unwrap();
    assert!(outside);
    let event_loop = EventLoop::new().unwrap();
    let current = Handle::current().unwrap();
    // Same loop: a source added through one is seen through the other.
    let task = current.add_task(|_| {}).unwrap();
    assert!(event_loop.handle().is_registered(task));
    event_loop.run();
    assert!(!current.is_registered(task));
    drop(event_loop);
    assert!(Handle::current().is_none());
    assert!(matches!(current.quit(), Err(Error::LoopGone)));
}
