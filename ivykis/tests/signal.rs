//! Signal sources through the Rust API (SPEC 6).
//!
//! The test harness runs tests in parallel threads of one process, and
//! signal dispositions are process-wide: every test uses a signal number of
//! its own, and raises it only while a source for it is registered (the
//! default action of a real-time signal ends the process). Tests that fork
//! or lower the descriptor limit run in a fresh process of their own
//! ([`run_isolated`]).

mod util;

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{Error, EventLoop, Handle, SignalAction, SignalFlags, SignalToken, Token};
use util::{Later, Log};

/// A real-time signal reserved for one test.
fn rt(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

/// Sends `signum` to the calling thread (its handler runs before this
/// returns).
fn raise(signum: i32) {
    // SAFETY: raise only sends a signal; the tests raise only signals that
    // have a source (so our handler) registered.
    assert_eq!(unsafe { libc::raise(signum) }, 0);
}

fn raise_from_another_thread(signum: i32) {
    std::thread::spawn(move || raise(signum)).join().unwrap();
}

fn disposition_is_default(signum: i32) -> bool {
    // SAFETY: a sigaction query into a zeroed local.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(signum, std::ptr::null(), &mut current), 0);
        current.sa_sigaction == libc::SIG_DFL
    }
}

/// Runs the loop for `ms` milliseconds, whatever stays registered.
fn run_for(event_loop: &EventLoop, ms: u64) {
    event_loop
        .handle()
        .add_timer_after(Duration::from_millis(ms), |h: &Handle| h.quit().unwrap())
        .unwrap();
    event_loop.run();
}

/// A callback that counts its calls.
fn counter() -> (Rc<Cell<u32>>, impl FnMut(&Handle, i32) + 'static) {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    (count, move |_: &Handle, _| c.set(c.get() + 1))
}

#[test]
fn delivered_in_the_loop_then_removed() {
    let signum = rt(0);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let l = log.clone();
    let token = handle
        .add_signal(signum, SignalFlags::NONE, move |_, got| {
            l.push(got);
            SignalAction::Remove
        })
        .unwrap();
    assert_eq!(token.signum(), signum);
    assert!(handle.is_registered(token));
    assert!(!disposition_is_default(signum));
    raise(signum);
    assert!(log.get().is_empty(), "not called inside the signal handler");
    event_loop.run(); // returns: the source removed itself
    assert_eq!(log.get(), vec![signum]);
    assert!(!handle.is_registered(token));
    assert!(matches!(handle.remove(token), Err(Error::Stale)));
    assert!(disposition_is_default(signum));
}

#[test]
fn several_sources_are_all_called() {
    let signum = rt(1);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let counts: Vec<_> = (0..3)
        .map(|_| {
            let (count, mut callback) = counter();
            handle
                .add_signal(signum, SignalFlags::NONE, move |h, s| {
                    callback(h, s);
                    SignalAction::Remove
                })
                .unwrap();
            count
        })
        .collect();
    raise(signum);
    event_loop.run();
    assert!(counts.iter().all(|c| c.get() == 1));
}

#[test]
fn coalesced_before_the_call_and_called_again_after() {
    let signum = rt(2);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    handle
        .add_signal(signum, SignalFlags::NONE, move |_, _| {
            c.set(c.get() + 1);
            if c.get() == 1 {
                // Arrives while the callback runs: one more call after.
                raise(signum);
                raise(signum);
                SignalAction::Continue
            } else {
                SignalAction::Remove
            }
        })
        .unwrap();
    for _ in 0..3 {
        raise(signum);
    }
    event_loop.run();
    assert_eq!(calls.get(), 2);
}

#[test]
fn exclusive_sources_are_served_first_and_hand_over_when_removed() {
    let signum = rt(3);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (plain, cb) = counter();
    let plain_token = handle.add_signal(signum, SignalFlags::NONE, cb).unwrap();
    let (first, cb) = counter();
    let first_token = handle
        .add_signal(signum, SignalFlags::EXCLUSIVE, cb)
        .unwrap();
    let (second, cb) = counter();
    let second_token = handle
        .add_signal(signum, SignalFlags::EXCLUSIVE, cb)
        .unwrap();

    raise(signum);
    run_for(&event_loop, 20);
    assert_eq!((plain.get(), first.get(), second.get()), (0, 1, 0));

    // The first exclusive source's call is pending when it is removed: the
    // signal passes to the second.
    raise(signum);
    handle.remove(first_token).unwrap();
    run_for(&event_loop, 20);
    assert_eq!((plain.get(), first.get(), second.get()), (0, 1, 1));

    // And from the last exclusive one to the plain one.
    raise(signum);
    handle.remove(second_token).unwrap();
    run_for(&event_loop, 20);
    assert_eq!((plain.get(), first.get(), second.get()), (1, 1, 1));

    handle.remove(plain_token).unwrap();
    assert!(disposition_is_default(signum));
}

#[test]
fn this_thread_sources_take_signals_sent_to_their_thread() {
    let signum = rt(4);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (mine, cb) = counter();
    let mine_token = handle
        .add_signal(signum, SignalFlags::THIS_THREAD, cb)
        .unwrap();
    let (anywhere, cb) = counter();
    let anywhere_token = handle.add_signal(signum, SignalFlags::NONE, cb).unwrap();

    raise(signum);
    run_for(&event_loop, 20);
    assert_eq!((mine.get(), anywhere.get()), (1, 0));

    raise_from_another_thread(signum);
    run_for(&event_loop, 20);
    assert_eq!((mine.get(), anywhere.get()), (1, 1));

    handle.remove(mine_token).unwrap();
    handle.remove(anywhere_token).unwrap();
}

#[test]
fn callback_runs_in_the_thread_that_added_the_source() {
    let signum = rt(5);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let loop_thread = std::thread::spawn(move || {
        let event_loop = EventLoop::new().unwrap();
        let ran_in = Rc::new(Cell::new(None));
        let r = ran_in.clone();
        event_loop
            .handle()
            .add_signal(signum, SignalFlags::NONE, move |_, _| {
                r.set(Some(std::thread::current().id()));
                SignalAction::Remove
            })
            .unwrap();
        ready_tx.send(()).unwrap();
        event_loop.run();
        assert_eq!(ran_in.get(), Some(std::thread::current().id()));
    });
    ready_rx.recv().unwrap();
    raise(signum); // delivered to this thread, which has no loop
    loop_thread.join().unwrap();
}

#[test]
fn a_callback_removes_another_pending_source_and_dropping_the_loop_unregisters() {
    let signum = rt(6);
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let calls = Rc::new(Cell::new(0));
    let tokens: [Later<SignalToken>; 2] = [Later::new(), Later::new()];
    for me in 0..2 {
        let (c, other) = (calls.clone(), tokens[1 - me].clone());
        let token = handle
            .add_signal(signum, SignalFlags::NONE, move |h, _| {
                c.set(c.get() + 1);
                // Both are pending; whichever runs first removes the other,
                // which is then not called.
                h.remove(other.get()).unwrap();
            })
            .unwrap();
        tokens[me].set(token);
    }
    raise(signum);
    run_for(&event_loop, 20);
    assert_eq!(calls.get(), 1);
    let left: Vec<_> = tokens
        .iter()
        .map(|t| t.get())
        .filter(|&t| handle.is_registered(t))
        .collect();
    assert_eq!(left.len(), 1);
    assert!(handle.is_registered(Token::from(left[0])));
    assert!(!disposition_is_default(signum));
    drop(event_loop);
    assert!(
        disposition_is_default(signum),
        "dropping the loop unregisters"
    );
    assert!(matches!(handle.remove(left[0]), Err(Error::LoopGone)));
}

#[test]
fn bad_signal_numbers_are_refused() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    for signum in [-1, 0, 65, 1000, libc::SIGKILL, libc::SIGSTOP] {
        match handle.add_signal(signum, SignalFlags::NONE, |_, _| {}) {
            Err(Error::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL)),
            other => panic!("signal {signum}: {other:?}"),
        }
    }
    event_loop.run(); // nothing registered: returns at once
}

#[test]
fn a_gone_loop_is_reported() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    drop(event_loop);
    assert!(matches!(
        handle.add_signal(rt(7), SignalFlags::NONE, |_, _| {}),
        Err(Error::LoopGone)
    ));
}

// ---------------------------------------------------------------------------
// Tests that need a process of their own.

const ISOLATED: &str = "IVYKIS_TEST_ISOLATED";

/// Runs the ignored test `name` alone in a fresh process of this test
/// binary, and asserts that it passed.
fn run_isolated(name: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ISOLATED, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether this is the fresh process of [`run_isolated`] (the isolated
/// tests do nothing when run with the others, by `--include-ignored`).
fn isolated() -> bool {
    std::env::var_os(ISOLATED).is_some()
}

fn fork() -> libc::pid_t {
    // SAFETY: the isolated process has one other thread, libtest's main
    // thread, blocked waiting for this test; the child only raises
    // signals, or starts a thread of its own, and ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    pid
}

fn wait_for(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child into a local.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

fn exit_child(code: i32) -> ! {
    // SAFETY: ends the forked child without running the parent's exit
    // handlers or destructors.
    unsafe { libc::_exit(code) }
}

#[test]
fn forked_child_does_not_reach_the_parent() {
    run_isolated("isolated_forked_child_does_not_reach_the_parent");
}

#[test]
#[ignore = "run in a fresh process by forked_child_does_not_reach_the_parent"]
fn isolated_forked_child_does_not_reach_the_parent() {
    if !isolated() {
        return;
    }
    let signum = libc::SIGUSR1;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (calls, cb) = counter();
    let token = handle.add_signal(signum, SignalFlags::NONE, cb).unwrap();
    let pid = fork();
    if pid == 0 {
        raise(signum);
        raise(signum);
        exit_child(0);
    }
    wait_for(pid);
    run_for(&event_loop, 100);
    assert_eq!(calls.get(), 0, "the child's signal reached the parent");
    raise(signum);
    run_for(&event_loop, 20);
    assert_eq!(calls.get(), 1);
    handle.remove(token).unwrap();
}

#[test]
fn forked_child_that_adds_a_source_starts_clean() {
    run_isolated("isolated_forked_child_that_adds_a_source_starts_clean");
}

#[test]
#[ignore = "run in a fresh process by forked_child_that_adds_a_source_starts_clean"]
fn isolated_forked_child_that_adds_a_source_starts_clean() {
    if !isolated() {
        return;
    }
    let signum = libc::SIGUSR1;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (calls, cb) = counter();
    handle.add_signal(signum, SignalFlags::NONE, cb).unwrap();
    let (exclusive_calls, cb) = counter();
    handle
        .add_signal(signum, SignalFlags::EXCLUSIVE, cb)
        .unwrap();
    let pid = fork();
    if pid == 0 {
        // The parent's loop is not ours to run: a thread with a loop of its
        // own.
        let child_calls = std::thread::spawn(move || {
            let child_loop = EventLoop::new().unwrap();
            let (child_calls, mut cb) = counter();
            child_loop
                .handle()
                .add_signal(signum, SignalFlags::NONE, move |h, s| {
                    cb(h, s);
                    SignalAction::Remove
                })
                .unwrap();
            raise(signum);
            child_loop.run();
            child_calls.get()
        })
        .join()
        .unwrap_or(0);
        let clean = child_calls == 1 && calls.get() == 0 && exclusive_calls.get() == 0;
        exit_child(if clean { 0 } else { 3 });
    }
    let status = wait_for(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child: {status:#x}"
    );
    run_for(&event_loop, 100);
    assert_eq!((calls.get(), exclusive_calls.get()), (0, 0));
}

#[test]
fn no_descriptor_left_is_an_error_and_leaves_nothing() {
    run_isolated("isolated_no_descriptor_left_is_an_error_and_leaves_nothing");
}

#[test]
#[ignore = "run in a fresh process by no_descriptor_left_is_an_error_and_leaves_nothing"]
fn isolated_no_descriptor_left_is_an_error_and_leaves_nothing() {
    if !isolated() {
        return;
    }
    let signum = libc::SIGUSR2;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    // SAFETY: rlimit calls on locals; dup/close of a descriptor we own.
    let old = unsafe {
        let mut old: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let lowest_free = libc::dup(0);
        assert!(lowest_free >= 0);
        libc::close(lowest_free);
        let tight = libc::rlimit {
            rlim_cur: lowest_free as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &tight), 0);
        old
    };
    match handle.add_signal(signum, SignalFlags::NONE, |_, _| {}) {
        Err(Error::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EMFILE)),
        other => panic!("expected EMFILE, got {other:?}"),
    }
    assert!(disposition_is_default(signum));
    event_loop.run(); // nothing registered: returns at once
                      // SAFETY: restores the limit read above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    let token = handle
        .add_signal(signum, SignalFlags::NONE, |_, _| SignalAction::Remove)
        .unwrap();
    raise(signum);
    event_loop.run();
    assert!(!handle.is_registered(token));
}
