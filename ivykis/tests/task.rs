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

#[test]
fn a_parked_task_is_posted_again_and_keeps_the_fairness_rule() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let (a_log, b_log) = (log.clone(), log.clone());
    let a = handle
        .add_task(move |_| {
            a_log.push("a");
            TaskAction::Idle
        })
        .unwrap();
    let a_token = Later::new();
    let a_later = a_token.clone();
    let mut b_runs = 0;
    let b = handle
        .add_task(move |h| {
            b_log.push("b");
            b_runs += 1;
            // `a` ran earlier in this round: posted now, it runs in the
            // next round, after nothing else of this one.
            h.post_task(a_later.get()).unwrap();
            h.post_task(a_later.get()).unwrap(); // posted already: no-op
            if b_runs < 3 {
                TaskAction::Again
            } else {
                TaskAction::Done
            }
        })
        .unwrap();
    a_token.set(a);
    assert!(handle.is_registered(a) && handle.is_registered(b));
    event_loop.run();
    assert_eq!(log.get(), ["a", "b", "a", "b", "a", "b", "a"]);
    assert!(!handle.is_registered(a), "parked");
    assert!(matches!(handle.post_task(b), Err(Error::Stale)));

    // Posting a task from inside its own callback: it runs again in the
    // next round.
    let self_posts = Later::new();
    let me = self_posts.clone();
    let mut runs = 0;
    let log2 = log.clone();
    let c = handle
        .add_task(move |h| {
            runs += 1;
            log2.push("c");
            if runs == 1 {
                h.post_task(me.get()).unwrap();
            }
            TaskAction::Idle
        })
        .unwrap();
    self_posts.set(c);
    event_loop.run();
    assert_eq!(log.get().iter().filter(|&&x| x == "c").count(), 2);
    handle.remove(a).unwrap();
    handle.remove(c).unwrap();
    assert!(matches!(handle.post_task(c), Err(Error::Stale)));
}
