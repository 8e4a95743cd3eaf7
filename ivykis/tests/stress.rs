//! Stress tests of the Rust face, bounded so that `cargo test` stays quick;
//! each `*_long` variant is `#[ignore]`d and runs the same workload at a
//! larger size:
//!
//! ```text
//! cargo test --release -p ivykis --test stress -- --ignored
//! ```
//!
//! Every workload counts what it starts and what it sees finish, and fails
//! on any difference ("lost"); a watchdog timer turns a lost wake-up (a loop
//! asleep forever) into a failure instead of a hang. The C face has its own
//! stress and fault programs in `tests/stress/` and `tests/fault/`
//! (`tests/stress/run.sh`).

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use ivykis::{
    EventAction, EventLoop, FdAction, Interest, Poster, Ready, SignalFlags, TaskAction,
    TimerAction, TimerToken, WorkPool,
};
use util::Deadline;

/// A deterministic xorshift generator (no dependency on `rand`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A lost wake-up leaves a loop asleep forever: each workload ends the test
/// process with a message if it has not finished within two minutes.
const WORKLOAD_LIMIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Many loops posting events to each other.

/// `threads` loops, each posting `per_peer` events to every other one from
/// a task (a batch per round); every post is announced in a per-pair
/// counter first and must be taken by the recipient's callback.
fn events_between_loops(threads: usize, per_peer: u64) {
    let _watchdog = Deadline::new("events between loops", WORKLOAD_LIMIT);
    let pending: Arc<Vec<AtomicU64>> =
        Arc::new((0..threads * threads).map(|_| AtomicU64::new(0)).collect());
    let posters: Arc<Mutex<Vec<Option<Poster>>>> = Arc::new(Mutex::new(vec![None; threads]));
    let registered = Arc::new(Barrier::new(threads));
    let posted = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|me| {
            let (pending, posters, registered, posted) = (
                pending.clone(),
                posters.clone(),
                registered.clone(),
                posted.clone(),
            );
            thread::spawn(move || -> Vec<u64> {
                let event_loop = EventLoop::new().unwrap();
                let handle = event_loop.handle();
                let received = Rc::new(RefCell::new(vec![0u64; threads]));
                let expected = per_peer * (threads as u64 - 1);
                let finishing = Rc::new(Cell::new(false));
                let (got, fin, p) = (received.clone(), finishing.clone(), pending.clone());
                let (event, poster) = handle
                    .add_event(move |h| {
                        let mut got = got.borrow_mut();
                        for (from, slot) in got.iter_mut().enumerate() {
                            *slot += p[me * threads + from].swap(0, SeqCst);
                        }
                        if fin.get() && got.iter().sum::<u64>() == expected {
                            h.quit().unwrap();
                        }
                        EventAction::Continue
                    })
                    .unwrap();
                posters.lock().unwrap()[me] = Some(poster);
                registered.wait();
                let targets: Vec<Poster> = posters
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|p| p.clone().unwrap())
                    .collect();
                let mut sent = 0u64;
                let mut next = 0usize;
                handle
                    .add_task(move |h| {
                        for _ in 0..16 {
                            if sent == expected {
                                h.quit().unwrap();
                                return TaskAction::Done;
                            }
                            let to = (me + 1 + next) % threads;
                            next = (next + 1) % (threads - 1);
                            pending[to * threads + me].fetch_add(1, SeqCst);
                            targets[to].post().unwrap();
                            sent += 1;
                        }
                        TaskAction::Again
                    })
                    .unwrap();
                event_loop.run();
                // Nobody posts after this barrier; take what is in flight.
                posted.wait();
                finishing.set(true);
                if received.borrow().iter().sum::<u64>() < expected {
                    event_loop.run();
                }
                handle.remove(event).unwrap();
                let got = received.borrow().clone();
                got
            })
        })
        .collect();
    for (me, worker) in workers.into_iter().enumerate() {
        let got = worker.join().expect("a loop thread panicked");
        for (from, &n) in got.iter().enumerate() {
            let want = if from == me { 0 } else { per_peer };
            assert_eq!(
                n, want,
                "loop {me} got {n} posts from loop {from}, {want} were sent"
            );
        }
    }
}

#[test]
fn events_between_16_loops() {
    events_between_loops(16, 200);
}

#[test]
#[ignore = "long: run with --ignored"]
fn events_between_64_loops_long() {
    events_between_loops(64, 2_000);
}

// ---------------------------------------------------------------------------
// Many timers, with churn.

/// `count` timers at random deadlines within `window`; one in sixteen
/// callbacks removes another timer at random. Every timer fires once, not
/// early, in deadline order, unless it was removed first.
fn timers_with_churn(count: usize, window: Duration) {
    let _watchdog = Deadline::new("timers with churn", WORKLOAD_LIMIT);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let mut rng = Rng(0x1234_5678);
    let base = handle.now() + Duration::from_millis(5);
    let tokens: Rc<RefCell<Vec<Option<TimerToken>>>> =
        Rc::new(RefCell::new(Vec::with_capacity(count)));
    let fired = Rc::new(Cell::new(0usize));
    let removed = Rc::new(Cell::new(0usize));
    let last = Rc::new(Cell::new(base));
    let churn = Rc::new(RefCell::new(Rng(0x9876_5432)));
    let window_ns = window.as_nanos() as u64;
    for i in 0..count {
        let deadline = base + Duration::from_nanos(rng.below(window_ns));
        let (tokens2, fired2, removed2, last2, churn2) = (
            tokens.clone(),
            fired.clone(),
            removed.clone(),
            last.clone(),
            churn.clone(),
        );
        let token = handle
            .add_timer_at(deadline, move |h| {
                assert!(h.now() >= deadline, "timer {i} fired early");
                assert!(deadline >= last2.get(), "timer {i} fired out of order");
                last2.set(deadline);
                fired2.set(fired2.get() + 1);
                tokens2.borrow_mut()[i] = None;
                let mut r = churn2.borrow_mut();
                if r.below(16) == 0 {
                    let j = r.below(count as u64) as usize;
                    let victim = tokens2.borrow_mut()[j].take();
                    if let Some(victim) = victim {
                        h.remove(victim).unwrap();
                        removed2.set(removed2.get() + 1);
                    }
                }
                TimerAction::Done
            })
            .unwrap();
        tokens.borrow_mut().push(Some(token));
    }
    event_loop.run(); // returns when no timer is left
    assert_eq!(
        fired.get() + removed.get(),
        count,
        "{} fired + {} removed != {count} registered",
        fired.get(),
        removed.get()
    );
    assert!(tokens.borrow().iter().all(Option::is_none));
}

#[test]
fn timers_200k_with_churn() {
    timers_with_churn(200_000, Duration::from_millis(300));
}

#[test]
#[ignore = "long: run with --ignored"]
fn timers_2m_with_churn_long() {
    timers_with_churn(2_000_000, Duration::from_secs(2));
}

// ---------------------------------------------------------------------------
// Many descriptors.

/// `pairs` socket pairs, one end of each registered for reading; `rounds`
/// rounds of a byte written into `per_round` random pairs, every byte read
/// by its callback exactly once.
fn many_descriptors(pairs: usize, rounds: usize, per_round: usize) {
    let _watchdog = Deadline::new("many descriptors", WORKLOAD_LIMIT);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let outstanding = Rc::new(Cell::new(0usize));
    let read_total = Rc::new(Cell::new(0usize));
    let mut writers = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let (w, r) = UnixStream::pair().unwrap();
        let (out, total) = (outstanding.clone(), read_total.clone());
        handle
            .add_fd(r, Interest::READABLE, move |h, r, ready| {
                assert_eq!(ready, Ready::Readable);
                let mut buf = [0u8; 64];
                let n = match r.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        panic!("called with nothing to read")
                    }
                    Err(e) => panic!("read: {e}"),
                };
                assert!(
                    n > 0 && n <= out.get(),
                    "read {n}, {} outstanding",
                    out.get()
                );
                out.set(out.get() - n);
                total.set(total.get() + n);
                if out.get() == 0 {
                    h.quit().unwrap();
                }
                FdAction::Continue
            })
            .unwrap();
        writers.push(w);
    }
    let mut rng = Rng(42);
    let mut written = 0;
    for _ in 0..rounds {
        for _ in 0..per_round {
            let w = &mut writers[rng.below(pairs as u64) as usize];
            w.write_all(b"x").unwrap();
            outstanding.set(outstanding.get() + 1);
            written += 1;
        }
        event_loop.run();
        assert_eq!(outstanding.get(), 0, "bytes never read");
    }
    assert_eq!(read_total.get(), written);
}

#[test]
fn descriptors_2000() {
    many_descriptors(2_000, 20, 500);
}

#[test]
#[ignore = "long: run with --ignored"]
fn descriptors_8000_long() {
    // 8000 pairs = 16000 descriptors: near the usual limit of 20000.
    many_descriptors(8_000, 200, 4_000);
}

// ---------------------------------------------------------------------------
// A signal storm.

/// The calling thread, to send it signals from others.
#[derive(Clone, Copy)]
struct ThreadRef(libc::pthread_t);

// SAFETY: a pthread_t is an identifier; sending it to another thread to
// name this one is what it is for.
unsafe impl Send for ThreadRef {}

impl ThreadRef {
    fn current() -> ThreadRef {
        // SAFETY: pthread_self cannot fail.
        ThreadRef(unsafe { libc::pthread_self() })
    }

    fn kill(self, sig: i32) {
        // SAFETY: the thread is the test's loop thread, which outlives the
        // senders (it joins them before it returns).
        let rc = unsafe { libc::pthread_kill(self.0, sig) };
        assert_eq!(rc, 0, "pthread_kill");
    }
}

/// `senders` threads each send `each` SIGUSR2 to the loop's thread; every
/// signal is counted before it is sent, and the callback records the count
/// it finds. Signals coalesce, but a call must come after the last one: the
/// loop quits only when a call has seen the final count. (Signals go to
/// the loop's thread only: all of them have arrived once its callbacks
/// run, so removing the source, which restores SIG_DFL, is safe.)
fn signal_storm(senders: usize, each: u64) {
    let _watchdog = Deadline::new("signal storm", WORKLOAD_LIMIT);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let total = senders as u64 * each;
    let sent = Arc::new(AtomicU64::new(0));
    let seen = Rc::new(Cell::new(0u64));
    let calls = Rc::new(Cell::new(0u64));
    let (s, sn, c) = (sent.clone(), seen.clone(), calls.clone());
    let signal = handle
        .add_signal(libc::SIGUSR2, SignalFlags::NONE, move |h, signum| {
            assert_eq!(signum, libc::SIGUSR2);
            c.set(c.get() + 1);
            sn.set(s.load(SeqCst));
            if sn.get() == total {
                h.quit().unwrap();
            }
        })
        .unwrap();
    let me = ThreadRef::current();
    let start = Arc::new(Barrier::new(senders));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let (sent, start) = (sent.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for _ in 0..each {
                    sent.fetch_add(1, SeqCst);
                    me.kill(libc::SIGUSR2);
                }
            })
        })
        .collect();
    event_loop.run();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(seen.get(), total, "the last signal's wake-up was lost");
    assert!(calls.get() >= 1 && calls.get() <= total);
    handle.remove(signal).unwrap();
}

#[test]
fn signal_storm_4x5000() {
    signal_storm(4, 5_000);
}

#[test]
#[ignore = "long: run with --ignored"]
fn signal_storm_8x100000_long() {
    signal_storm(8, 100_000);
}

// ---------------------------------------------------------------------------
// Worker pools created and dropped while work is submitted.

/// `generations` pools, one after the other, each with 1 to 8 workers and
/// `jobs` jobs, dropped right after the last submission (most of the work
/// still queued: it must all run and complete). Every fourth generation
/// the loop runs until everything so far has completed, so workers of
/// earlier pools end while later pools start.
fn work_pool_churn(generations: usize, jobs: usize) {
    let _watchdog = Deadline::new("work pool churn", WORKLOAD_LIMIT);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let completed = Rc::new(Cell::new(0usize));
    let mut rng = Rng(7);
    for g in 0..generations {
        let (s1, s2) = (started.clone(), stopped.clone());
        let pool = WorkPool::with_thread_hooks(
            &handle,
            1 + rng.below(8) as usize,
            move || {
                s1.fetch_add(1, SeqCst);
            },
            move || {
                s2.fetch_add(1, SeqCst);
            },
        )
        .unwrap();
        for j in 0..jobs {
            let (ran, completed) = (ran.clone(), completed.clone());
            pool.submit(
                move || {
                    ran.fetch_add(1, SeqCst);
                    (g, j)
                },
                move |_h, result| {
                    assert_eq!(result.unwrap(), (g, j));
                    completed.set(completed.get() + 1);
                },
            )
            .unwrap();
        }
        drop(pool);
        if g % 4 == 3 {
            // Returns once every pool so far has completed its work.
            event_loop.run();
            assert_eq!(completed.get(), (g + 1) * jobs, "completions lost");
        }
    }
    event_loop.run();
    assert_eq!(completed.get(), generations * jobs, "completions lost");
    assert_eq!(ran.load(SeqCst), generations * jobs);
    // Workers of dropped pools end on their own.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while started.load(SeqCst) != stopped.load(SeqCst) && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        started.load(SeqCst),
        stopped.load(SeqCst),
        "workers that never ended"
    );
}

#[test]
fn work_pools_40x200() {
    work_pool_churn(40, 200);
}

#[test]
#[ignore = "long: run with --ignored"]
fn work_pools_1000x500_long() {
    work_pool_churn(1_000, 500);
}
