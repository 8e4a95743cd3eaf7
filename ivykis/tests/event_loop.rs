//! Loop life cycle, quit, tokens, threads and panics (SPEC 1).

mod util;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use ivykis::{Error, EventLoop, FdAction, Instant, Interest, TaskAction, TimerAction};
use util::{pair, readable_pair, watchdog, Log, Tracked};

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().unwrap_or(&"?").to_string(),
    }
}

#[test]
fn run_returns_when_nothing_is_registered() {
    let event_loop = EventLoop::new().unwrap();
    event_loop.run(); // empty: returns at once
    let handle = event_loop.handle();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    handle
        .add_timer_after(Duration::from_millis(1), move |_| f.set(true))
        .unwrap();
    event_loop.run();
    assert!(fired.get());
}

#[test]
fn quit_stops_the_loop_and_a_later_run_continues() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let timer = handle
        .add_timer_after(Duration::ZERO, move |h| {
            t.set(t.get() + 1);
            if t.get() % 2 == 0 {
                h.quit().unwrap();
            }
            TimerAction::After(Duration::from_millis(1))
        })
        .unwrap();
    event_loop.run();
    assert_eq!(ticks.get(), 2);
    assert!(
        handle.is_registered(timer),
        "quit leaves sources registered"
    );
    handle.quit().unwrap(); // outside run: no effect, run clears it
    event_loop.run();
    assert_eq!(ticks.get(), 4);
    handle.remove(timer).unwrap();
}

#[test]
fn quit_from_a_descriptor_callback_finishes_the_iteration() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = readable_pair(b"x");
    let log = Log::new();
    let l = log.clone();
    let fd = handle
        .add_fd(rx, Interest::READABLE, move |h, _, _| {
            l.push("fd: quit");
            h.quit().unwrap();
        })
        .unwrap();
    let l = log.clone();
    let mut rounds = 0;
    handle
        .add_task(move |_| {
            rounds += 1;
            l.push("task");
            if rounds < 10 {
                TaskAction::Again
            } else {
                TaskAction::Done
            }
        })
        .unwrap();
    event_loop.run();
    // The task round of the next iteration still runs before run returns.
    assert_eq!(log.get(), ["task", "fd: quit", "task"]);
    handle.remove(fd).unwrap();
}

#[test]
fn the_poll_method_honours_iv_exclude_poll_method() {
    let event_loop = EventLoop::new().unwrap();
    let excluded = std::env::var("IV_EXCLUDE_POLL_METHOD").unwrap_or_default();
    let method = event_loop.poll_method();
    assert!(
        ["epoll", "kqueue", "ppoll", "poll"].contains(&method),
        "{method}"
    );
    assert!(
        !excluded.split_ascii_whitespace().any(|m| m == method),
        "{method} is excluded by {excluded:?}"
    );
}

#[test]
fn one_loop_per_thread_and_a_new_one_after_drop() {
    let first = EventLoop::new().unwrap();
    assert!(matches!(EventLoop::new(), Err(Error::AlreadyInitialized)));
    assert!(["epoll", "kqueue", "ppoll", "poll"].contains(&first.poll_method()));
    drop(first);
    let second = EventLoop::new().unwrap();
    second.handle().add_task(|_| {}).unwrap();
    second.run();
}

#[test]
fn each_thread_has_its_own_loop() {
    let threads: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                let event_loop = EventLoop::new().unwrap();
                let handle = event_loop.handle();
                let (_tx, rx) = readable_pair(&[i; 3]);
                let got = Rc::new(Cell::new(0u8));
                let g = got.clone();
                handle
                    .add_fd(rx, Interest::READABLE, move |_, rx, _| {
                        let mut buf = [0; 3];
                        std::io::Read::read_exact(rx, &mut buf).unwrap();
                        g.set(buf[0]);
                        FdAction::Remove
                    })
                    .unwrap();
                handle
                    .add_timer_after(Duration::from_millis(5), |_| {})
                    .unwrap();
                event_loop.run();
                (got.get(), handle.add_task(|_| {}).is_ok())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results, [(0, true), (1, true)]);
}

#[test]
fn tokens_from_another_threads_loop_name_nothing_here() {
    let foreign = std::thread::spawn(|| {
        let event_loop = EventLoop::new().unwrap();
        event_loop.handle().add_task(|_| {}).unwrap()
    })
    .join()
    .unwrap();
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let local = handle.add_task(|_| {}).unwrap();
    assert!(!handle.is_registered(foreign));
    assert!(matches!(handle.remove(foreign), Err(Error::Stale)));
    assert!(handle.is_registered(local), "untouched");
    event_loop.run();
}

#[test]
fn stale_tokens_never_reach_a_newer_source() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let old = handle
        .add_timer_after(Duration::from_secs(60), |_| {})
        .unwrap();
    handle.remove(old).unwrap();
    // Reuses the freed slot.
    let new = handle
        .add_timer_after(Duration::from_secs(60), |_| {})
        .unwrap();
    assert!(matches!(handle.remove(old), Err(Error::Stale)));
    assert!(matches!(
        handle.set_deadline(old, Instant::now()),
        Err(Error::Stale)
    ));
    assert!(!handle.is_registered(old));
    assert!(handle.is_registered(new));
    handle.remove(new).unwrap();

    // Same for descriptors: the old token cannot change the new source.
    let old_fd = handle
        .add_fd(pair().0, Interest::NONE, |_, _, _| {})
        .unwrap();
    handle.remove(old_fd).unwrap();
    let new_fd = handle
        .add_fd(pair().0, Interest::READABLE, |_, _, _| {})
        .unwrap();
    assert!(matches!(
        handle.set_interest(old_fd, Interest::WRITABLE),
        Err(Error::Stale)
    ));
    assert_eq!(handle.interest(new_fd).unwrap(), Interest::READABLE);
    handle.remove(new_fd).unwrap();
    event_loop.run();
}

#[test]
fn handles_of_a_gone_loop_answer_loop_gone() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let timer = handle
        .add_timer_after(Duration::from_secs(60), |_| {})
        .unwrap();
    let fd = handle
        .add_fd(pair().0, Interest::READABLE, |_, _, _| {})
        .unwrap();
    let task = handle.add_task(|_| {}).unwrap();
    drop(event_loop);

    let check = |handle: &ivykis::Handle| {
        let gone = |r: Result<(), Error>| assert!(matches!(r, Err(Error::LoopGone)), "{r:?}");
        gone(handle.quit());
        gone(handle.remove(timer));
        gone(handle.remove(task));
        gone(handle.set_interest(fd, Interest::WRITABLE));
        gone(handle.interest(fd).map(drop));
        gone(handle.set_deadline(timer, Instant::now()));
        gone(handle.deadline(timer).map(drop));
        gone(handle.add_task(|_| {}).map(drop));
        gone(handle.add_timer_at(Instant::now(), |_| {}).map(drop));
        let (obj, dropped) = Tracked::new(pair().0);
        gone(
            handle
                .add_fd(obj, Interest::READABLE, |_, _, _| {})
                .map(drop),
        );
        assert!(dropped.get(), "the refused object is dropped");
        assert!(!handle.is_registered(timer));
        assert!(!handle.is_registered(fd));
    };
    check(&handle);

    // A newer loop on the same thread does not revive old handles, and old
    // tokens name nothing in it.
    let event_loop = EventLoop::new().unwrap();
    check(&handle);
    let new_handle = event_loop.handle();
    assert!(matches!(new_handle.remove(timer), Err(Error::Stale)));
    assert!(matches!(
        new_handle.set_interest(fd, Interest::NONE),
        Err(Error::Stale)
    ));
    assert!(!new_handle.is_registered(task));
}

#[test]
fn destructors_run_when_the_loop_is_dropped_and_may_use_handles() {
    struct OnDrop(ivykis::Handle, Rc<Cell<Option<bool>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let gone = matches!(self.0.add_task(|_| {}), Err(Error::LoopGone));
            self.1.set(Some(gone));
        }
    }
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let result = Rc::new(Cell::new(None));
    let probe = OnDrop(handle.clone(), result.clone());
    handle
        .add_timer_after(Duration::from_secs(60), move |_| {
            let _keep = &probe;
        })
        .unwrap();
    drop(event_loop);
    assert_eq!(result.get(), Some(true));
}

#[test]
fn a_panicking_descriptor_callback_stays_registered() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = readable_pair(b"x");
    let mut calls = 0;
    let fd = handle
        .add_fd(rx, Interest::READABLE, move |h, _, _| {
            calls += 1;
            if calls == 1 {
                panic!("first call fails");
            }
            h.quit().unwrap();
            FdAction::Remove
        })
        .unwrap();
    let dog = watchdog(&handle);
    let panic = catch_unwind(AssertUnwindSafe(|| event_loop.run())).unwrap_err();
    assert_eq!(panic_message(panic), "first call fails");
    assert!(handle.is_registered(fd));
    event_loop.run(); // level-triggered: called again, quits
    assert!(!handle.is_registered(fd));
    handle.remove(dog).unwrap();
}

#[test]
fn a_panicking_timer_or_task_is_consumed_and_the_loop_goes_on() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let timer = handle
        .add_timer_at(handle.now(), |_| -> TimerAction { panic!("timer fails") })
        .unwrap();
    let panic = catch_unwind(AssertUnwindSafe(|| event_loop.run())).unwrap_err();
    assert_eq!(panic_message(panic), "timer fails");
    assert!(!handle.is_registered(timer));
    assert!(matches!(handle.remove(timer), Err(Error::Stale)));

    let log = Log::new();
    let l = log.clone();
    let task = handle
        .add_task(|_| -> TaskAction { panic!("task fails") })
        .unwrap();
    handle.add_task(move |_| l.push("next task")).unwrap();
    let panic = catch_unwind(AssertUnwindSafe(|| event_loop.run())).unwrap_err();
    assert_eq!(panic_message(panic), "task fails");
    assert!(!handle.is_registered(task));
    event_loop.run(); // the other task still runs
    assert_eq!(log.get(), ["next task"]);
}

#[test]
fn a_nested_run_panics_with_a_clear_message() {
    let event_loop = Rc::new(EventLoop::new().unwrap());
    let handle = event_loop.handle();
    let inner = event_loop.clone();
    handle.add_task(move |_| inner.run()).unwrap();
    let panic = catch_unwind(AssertUnwindSafe(|| event_loop.run())).unwrap_err();
    assert!(panic_message(panic).contains("nested runs are not supported"));
    // The task (and its clone of the Rc) is consumed; the loop still works.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    handle.add_task(move |_| r.set(true)).unwrap();
    event_loop.run();
    assert!(ran.get());
    assert_eq!(Rc::strong_count(&event_loop), 1);
}
