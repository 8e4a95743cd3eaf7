//! Steady state allocates nothing: descriptor dispatch, interest changes,
//! timer re-arming and task re-posting. One test in its own binary, because
//! it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ivykis::{EventLoop, FdAction, Interest, Ready, TaskAction, TaskToken, TimerAction};

/// Counts the allocations made by the current thread (other threads, such as
/// the test harness's, do not disturb the count).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator may be called while the thread is exiting.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter is a const-initialised
// thread-local without destructor, so touching it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` was allocated by `System` through this allocator with
        // `layout`, as our caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for realloc.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: u32 = 100;
const MEASURED: u32 = 10_000;

#[test]
fn steady_state_allocates_nothing() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();

    // Always readable and writable: dispatched every iteration. Each call
    // toggles writable interest (set_interest through the return value and
    // through the handle).
    let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
    std::io::Write::write_all(&mut tx, b"pending").unwrap();
    let iterations = Rc::new(Cell::new(0u32));
    let baseline = Rc::new(Cell::new(0u64));
    let measured = Rc::new(Cell::new(None::<u64>));
    let (it, base, result) = (iterations.clone(), baseline.clone(), measured.clone());
    let fd = handle
        .add_fd(rx, Interest::READABLE, move |h, _rx, ready| {
            if ready == Ready::Writable {
                return FdAction::SetInterest(Interest::READABLE);
            }
            it.set(it.get() + 1);
            match it.get() {
                n if n == WARM_UP => base.set(allocations()),
                n if n == WARM_UP + MEASURED => {
                    result.set(Some(allocations() - base.get()));
                    h.quit().unwrap();
                }
                _ => {}
            }
            FdAction::SetInterest(Interest::READABLE | Interest::WRITABLE)
        })
        .unwrap();

    // A timer re-armed every iteration, alternating the two re-arm actions.
    let timer_fires = Rc::new(Cell::new(0u32));
    let fires = timer_fires.clone();
    let timer = handle
        .add_timer_after(Duration::ZERO, move |h| {
            fires.set(fires.get() + 1);
            if fires.get() % 2 == 0 {
                TimerAction::At(h.now())
            } else {
                TimerAction::After(Duration::ZERO)
            }
        })
        .unwrap();

    // A task re-posted every round, which also moves a far timer's deadline.
    let far = handle
        .add_timer_after(Duration::from_secs(3600), |_| {})
        .unwrap();
    let task_runs = Rc::new(Cell::new(0u32));
    let runs = task_runs.clone();
    let task = handle
        .add_task(move |h| {
            runs.set(runs.get() + 1);
            h.set_deadline(far, h.now() + Duration::from_secs(3600))
                .unwrap();
            TaskAction::Again
        })
        .unwrap();

    event_loop.run();
    assert_eq!(iterations.get(), WARM_UP + MEASURED);
    assert!(timer_fires.get() >= WARM_UP + MEASURED - 1);
    assert!(task_runs.get() >= WARM_UP + MEASURED - 1);
    assert_eq!(
        measured.get(),
        Some(0),
        "allocations during {MEASURED} steady-state iterations"
    );
    let tokens: [ivykis::Token; 4] = [fd.into(), timer.into(), task.into(), far.into()];
    for token in tokens {
        handle.remove(token).unwrap();
    }
}

/// Timers kept across uses (one per connection, say): arming with
/// `set_deadline`, disarming and firing into `TimerAction::Idle` allocate
/// nothing.
#[test]
fn kept_timers_arm_disarm_and_fire_without_allocating() {
    const TIMERS: usize = 64;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let fired = Rc::new(Cell::new(0u64));
    let timers: Vec<_> = (0..TIMERS)
        .map(|_| {
            let fired = fired.clone();
            handle
                .add_timer_after(Duration::from_secs(3600), move |_| {
                    fired.set(fired.get() + 1);
                    TimerAction::Idle
                })
                .unwrap()
        })
        .collect();
    for &t in &timers {
        handle.disarm(t).unwrap();
    }
    let rounds = Rc::new(Cell::new(0u32));
    let baseline = Rc::new(Cell::new(0u64));
    let measured = Rc::new(Cell::new(None::<u64>));
    let (r, base, result) = (rounds.clone(), baseline.clone(), measured.clone());
    let armer = handle
        .add_task(move |h| {
            let n = r.get();
            r.set(n + 1);
            if n == WARM_UP {
                base.set(allocations());
            }
            if n == WARM_UP + MEASURED {
                result.set(Some(allocations() - base.get()));
                return TaskAction::Done;
            }
            // Half fire in the next iteration; the other half are armed
            // far away and disarmed again (a connection that was active).
            for (i, &t) in timers.iter().enumerate() {
                if (i + n as usize) % 2 == 0 {
                    h.set_deadline(t, h.now()).unwrap();
                } else {
                    h.set_deadline(t, h.now() + Duration::from_secs(60))
                        .unwrap();
                    h.disarm(t).unwrap();
                }
            }
            TaskAction::Again
        })
        .unwrap();
    event_loop.run();
    assert!(!handle.is_registered(armer));
    assert_eq!(
        measured.get(),
        Some(0),
        "allocations during {MEASURED} rounds of arming, disarming and firing kept timers"
    );
    assert!(
        fired.get() >= u64::from(MEASURED) * (TIMERS as u64 / 2),
        "the armed half fired every round ({} calls)",
        fired.get()
    );
}

/// Task churn with kept tasks: a ring of tasks, each parking itself and
/// posting the next, allocates nothing.
#[test]
fn kept_tasks_posting_each_other_allocate_nothing() {
    const TASKS: usize = 16;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let ring: Rc<RefCell<Vec<TaskToken>>> = Rc::new(RefCell::new(Vec::new()));
    let runs = Rc::new(Cell::new(0u32));
    let baseline = Rc::new(Cell::new(0u64));
    let measured = Rc::new(Cell::new(None::<u64>));
    for i in 0..TASKS {
        let (successors, runs, base, result) = (
            ring.clone(),
            runs.clone(),
            baseline.clone(),
            measured.clone(),
        );
        let token = handle
            .add_task(move |h| {
                let n = runs.get();
                runs.set(n + 1);
                if n == WARM_UP {
                    base.set(allocations());
                }
                if n == WARM_UP + MEASURED {
                    result.set(Some(allocations() - base.get()));
                    return TaskAction::Idle;
                }
                let next = successors.borrow()[(i + 1) % TASKS];
                h.post_task(next).unwrap();
                TaskAction::Idle
            })
            .unwrap();
        ring.borrow_mut().push(token);
    }
    // Only the first one starts the ring.
    for &t in &ring.borrow()[1..] {
        assert!(handle.is_registered(t));
    }
    event_loop.run();
    assert_eq!(
        measured.get(),
        Some(0),
        "allocations during {MEASURED} runs of kept tasks"
    );
    assert_eq!(runs.get(), WARM_UP + MEASURED + 1);
}

#[test]
fn posting_and_sending_allocate_nothing_in_steady_state() {
    use ivykis::EventAction;

    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();

    // An event whose callback posts it again, and a channel whose callback
    // sends the next value: every iteration makes one post and one send (from
    // the loop's own thread, so the counts are this thread's alone).
    let rounds = Rc::new(Cell::new(0u32));
    let measured = Rc::new(Cell::new(None::<u64>));
    let baseline = Rc::new(Cell::new(0u64));
    let poster_slot: Rc<Cell<Option<ivykis::Poster>>> = Rc::new(Cell::new(None));
    let (r, m, b, slot) = (
        rounds.clone(),
        measured.clone(),
        baseline.clone(),
        poster_slot.clone(),
    );
    let (_event, poster) = handle
        .add_event(move |h| {
            r.set(r.get() + 1);
            match r.get() {
                n if n == WARM_UP => b.set(allocations()),
                n if n == WARM_UP + MEASURED => {
                    m.set(Some(allocations() - b.get()));
                    h.quit().unwrap();
                    return EventAction::Remove;
                }
                _ => {}
            }
            let poster = slot.take().unwrap();
            poster.post().unwrap();
            slot.set(Some(poster));
            EventAction::Continue
        })
        .unwrap();
    poster.post().unwrap();
    poster_slot.set(Some(poster));

    let sender_slot: Rc<Cell<Option<ivykis::Sender<u64>>>> = Rc::new(Cell::new(None));
    let slot = sender_slot.clone();
    let received = Rc::new(Cell::new(0u64));
    let got = received.clone();
    let (channel, sender) = handle
        .add_channel(move |_h, n: u64| {
            got.set(got.get() + 1);
            let sender = slot.take().unwrap();
            sender.send(n + 1).unwrap();
            slot.set(Some(sender));
        })
        .unwrap();
    sender.send(0).unwrap();
    sender_slot.set(Some(sender));

    event_loop.run();
    assert_eq!(rounds.get(), WARM_UP + MEASURED);
    assert!(received.get() >= u64::from(WARM_UP + MEASURED) - 1);
    assert_eq!(
        measured.get(),
        Some(0),
        "allocations during {MEASURED} steady-state posts and sends"
    );
    handle.remove(channel).unwrap();
}
