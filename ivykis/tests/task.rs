//! Tasks through the Rust API (SPEC 5).

mod util;

use ivykis::{Error, EventLoop, FdAction, Interest, TaskAction};
use util::{readable_pair, Later, Log};

#[test]
fn self_reposting_tasks_alternate_and_fds_are_polled_between_rounds() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    for name in ["A", "B"] {
        let log = log.clone();
        let mut runs = 0;
        handle
            .add_task(move |_| {
                log.push(name);
                runs += 1;
                if runs < 3 {
                    TaskAction::Again
                } else {
                    TaskAction::Done
                }
            })
            .unwrap();
    }
    let (_tx, rx) = readable_pair(b"always readable");
    let fd_log = log.clone();
    let mut calls = 0;
    handle
        .add_fd(rx, Interest::READABLE, move |_, _, _| {
            fd_log.push("fd");
            calls += 1;
            if calls == 3 {
                FdAction::Remove
            } else {
                FdAction::Continue
            }
        })
        .unwrap();
    event_loop.run();
    assert_eq!(log.get(), ["A", "B", "fd", "A", "B", "fd", "A", "B", "fd"]);
}

#[test]
fn a_task_added_during_a_round_runs_in_that_round() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let (_tx, rx) = readable_pair(b"x");
    let fd_log = log.clone();
    handle
        .add_fd(rx, Interest::READABLE, move |_, _, _| {
            fd_log.push("fd");
            FdAction::Remove
        })
        .unwrap();
    let outer = log.clone();
    handle
        .add_task(move |h| {
            outer.push("first");
            let inner = outer.clone();
            h.add_task(move |_| inner.push("added in the round"))
                .unwrap();
        })
        .unwrap();
    event_loop.run();
    assert_eq!(log.get(), ["first", "added in the round", "fd"]);
}

#[test]
fn removing_a_pending_task_prevents_its_run() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let victim = Later::new();
    let v = victim.clone();
    handle
        .add_task(move |h| h.remove(v.get()).unwrap())
        .unwrap();
    victim.set(
        handle
            .add_task(|_| -> TaskAction { unreachable!() })
            .unwrap(),
    );
    assert!(handle.is_registered(victim.get()));
    event_loop.run();
    assert!(matches!(handle.remove(victim.get()), Err(Error::Stale)));
}

#[test]
fn a_repeating_task_keeps_its_token_and_may_remove_itself() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let me = Later::new();
    let m = me.clone();
    let mut runs = 0;
    me.set(
        handle
            .add_task(move |h| {
                assert!(!h.is_registered(m.get()), "not pending while it runs");
                runs += 1;
                if runs == 3 {
                    h.remove(m.get()).unwrap();
                }
                TaskAction::Again // ignored once removed
            })
            .unwrap(),
    );
    let check = me.clone();
    handle
        .add_task(move |h| {
            // Runs after the first run of the other task, in the same round.
            assert!(h.is_registered(check.get()), "re-posted");
        })
        .unwrap();
    event_loop.run();
    assert!(!handle.is_registered(me.get()));
}
