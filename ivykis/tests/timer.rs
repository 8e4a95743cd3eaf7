//! Timers through the Rust API (SPEC 3 and 4).

mod util;

use std::time::Duration;

use ivykis::{Error, EventLoop, FdAction, Instant, Interest, TimerAction, TimerToken};
use util::{pair, watchdog, Later, Log};

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let start = handle.now();
    let log = Log::new();
    // Equal deadlines fire in the order they were armed.
    for (name, ms) in [("30", 30), ("10a", 10), ("20", 20), ("10b", 10), ("0", 0)] {
        let deadline = start + Duration::from_millis(ms);
        let log = log.clone();
        handle
            .add_timer_at(deadline, move |h| {
                assert!(h.now() >= deadline, "cached time reached the deadline");
                assert!(Instant::now() >= deadline, "the clock reached the deadline");
                log.push(name);
            })
            .unwrap();
    }
    event_loop.run();
    assert_eq!(log.get(), ["0", "10a", "10b", "20", "30"]);
    assert!(Instant::now() - start >= Duration::from_millis(30));
}

#[test]
fn a_past_due_timer_fires_next_iteration_without_sleeping() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    // A descriptor that never becomes ready keeps the loop waiting if it
    // waits at all; the watchdog fails the test if it does.
    let (_peer, idle) = pair();
    let idle = handle
        .add_fd(idle, Interest::READABLE, |_, _, _| -> FdAction {
            unreachable!()
        })
        .unwrap();
    let dog = watchdog(&handle);
    let log = Log::new();
    let outer = log.clone();
    handle
        .add_task(move |h| {
            let inner = outer.clone();
            h.add_timer_at(h.now() - Duration::from_secs(1), move |h| {
                inner.push("timer");
                h.remove(idle).unwrap();
                h.remove(dog).unwrap();
            })
            .unwrap();
            outer.push("added"); // not called from inside add_timer_at
        })
        .unwrap();
    let start = Instant::now();
    event_loop.run();
    assert_eq!(log.get(), ["added", "timer"]);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_timer_added_from_a_timer_callback_waits_an_iteration() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let first = log.clone();
    handle
        .add_timer_at(handle.now(), move |h| {
            first.push("first timer");
            let (a, b) = (first.clone(), first.clone());
            // Already due, but armed during the timer phase: next iteration.
            h.add_timer_at(h.now() - Duration::from_millis(1), move |_| {
                a.push("second timer")
            })
            .unwrap();
            // Tasks run after this iteration's timers.
            h.add_task(move |_| b.push("task")).unwrap();
        })
        .unwrap();
    event_loop.run();
    assert_eq!(log.get(), ["first timer", "task", "second timer"]);
}

#[test]
fn removing_a_due_timer_from_an_earlier_one_prevents_its_call() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let now = handle.now();
    let victim = Later::new();
    let v = victim.clone();
    handle
        .add_timer_at(now, move |h| h.remove(v.get()).unwrap())
        .unwrap();
    victim.set(
        handle
            .add_timer_at(now, |_| -> TimerAction { unreachable!() })
            .unwrap(),
    );
    event_loop.run();
    assert!(!handle.is_registered(victim.get()));
}

#[test]
fn re_arming_keeps_the_token_until_done() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let me: Later<TimerToken> = Later::new();
    let my_token = me.clone();
    let mut fired = 0;
    let mut deadline = handle.now();
    let token = handle
        .add_timer_at(deadline, move |h| {
            // The engine takes a timer off just before calling it.
            assert!(!h.is_registered(my_token.get()));
            assert_eq!(h.deadline(my_token.get()).unwrap(), deadline);
            fired += 1;
            if fired == 4 {
                return TimerAction::Done;
            }
            deadline += Duration::from_millis(1);
            if fired % 2 == 0 {
                TimerAction::At(deadline)
            } else {
                TimerAction::After(deadline - h.now())
            }
        })
        .unwrap();
    me.set(token);
    let checks = handle
        .add_timer_after(Duration::from_micros(1500), move |h| {
            assert!(h.is_registered(token), "re-armed timer is registered");
        })
        .unwrap();
    event_loop.run();
    assert!(!handle.is_registered(checks));
    assert!(matches!(handle.remove(token), Err(Error::Stale)));
    assert!(matches!(handle.deadline(token), Err(Error::Stale)));
}

#[test]
fn a_disarmed_or_idle_timer_keeps_its_token_and_is_armed_again_by_set_deadline() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let calls = log.clone();
    let token = handle
        .add_timer_after(Duration::from_secs(3600), move |h| {
            calls.push(h.now());
            TimerAction::Idle
        })
        .unwrap();
    handle.disarm(token).unwrap();
    handle.disarm(token).unwrap(); // twice: nothing more happens
    assert!(!handle.is_registered(token));
    event_loop.run(); // nothing armed: returns without calling it
    assert!(log.get().is_empty());

    let first = handle.now();
    handle.set_deadline(token, first).unwrap();
    assert!(handle.is_registered(token));
    event_loop.run();
    assert_eq!(log.get().len(), 1, "fired once, then kept unarmed");
    assert!(!handle.is_registered(token));
    assert!(handle.deadline(token).unwrap() >= first);

    // Disarmed after arming: never called.
    handle
        .set_deadline(token, handle.now() + Duration::from_millis(1))
        .unwrap();
    handle.disarm(token).unwrap();
    event_loop.run();
    assert_eq!(log.get().len(), 1);

    handle.remove(token).unwrap();
    assert!(matches!(handle.disarm(token), Err(Error::Stale)));
    assert!(matches!(
        handle.set_deadline(token, handle.now()),
        Err(Error::Stale)
    ));
}

#[test]
fn set_deadline_moves_a_pending_timer_and_the_return_value_wins_inside_its_callback() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();

    // Pulled in from an hour away.
    let l = log.clone();
    let pulled = handle
        .add_timer_after(Duration::from_secs(3600), move |_| l.push("pulled in"))
        .unwrap();
    let soon = handle.now() + Duration::from_millis(1);
    handle.set_deadline(pulled, soon).unwrap();
    assert_eq!(handle.deadline(pulled).unwrap(), soon);

    // Re-armed from its own callback, then Done: Done wins.
    let me = Later::new();
    let (m, l) = (me.clone(), log.clone());
    me.set(
        handle
            .add_timer_after(Duration::ZERO, move |h| {
                h.set_deadline(m.get(), h.now()).unwrap();
                assert!(h.is_registered(m.get()));
                l.push("done anyway");
                TimerAction::Done
            })
            .unwrap(),
    );

    // Re-armed from its own callback, then At: At wins (fires once more).
    let me2 = Later::new();
    let (m, l) = (me2.clone(), log.clone());
    let mut fired = 0;
    me2.set(
        handle
            .add_timer_after(Duration::ZERO, move |h| {
                fired += 1;
                l.push(if fired == 1 { "first" } else { "second" });
                if fired == 1 {
                    h.set_deadline(m.get(), h.now() + Duration::from_secs(3600))
                        .unwrap();
                    TimerAction::At(h.now() + Duration::from_millis(2))
                } else {
                    TimerAction::Done
                }
            })
            .unwrap(),
    );
    event_loop.run(); // returns within milliseconds: no hour-long timer is left
    assert_eq!(log.get(), ["done anyway", "first", "pulled in", "second"]);
    assert!(matches!(
        handle.set_deadline(me.get(), soon),
        Err(Error::Stale)
    ));
}

#[test]
fn a_timer_may_remove_itself_and_still_return_an_action() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let me = Later::new();
    let m = me.clone();
    me.set(
        handle
            .add_timer_after(Duration::ZERO, move |h| {
                h.remove(m.get()).unwrap();
                // Ignored: the timer is gone.
                TimerAction::After(Duration::ZERO)
            })
            .unwrap(),
    );
    event_loop.run();
    assert!(!handle.is_registered(me.get()));
}

#[test]
fn cached_time_is_refreshed_once_per_iteration() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let first = handle
        .add_timer_at(handle.now(), move |h| {
            let now = h.now();
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(h.now(), now, "same iteration: same time");
            h.invalidate_now();
            assert!(h.now() >= now + Duration::from_millis(2));
        })
        .unwrap();
    event_loop.run();
    assert!(!handle.is_registered(first));
}
