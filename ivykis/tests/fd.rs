//! Descriptor sources through the Rust API (SPEC 2).

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Read};
use std::rc::Rc;

use ivykis::{Error, EventLoop, FdAction, FdToken, Interest, Ready, TaskAction};
use util::{pair, readable_pair, watchdog, Later, Log, Tracked};

#[test]
fn hangup_reports_bands_in_order_error_readable_writable() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (a, b) = pair();
    drop(b); // hang-up: every band is ready
    let log = Log::new();
    let seen = log.clone();
    handle
        .add_fd(a, Interest::ALL, move |_, _, ready| {
            seen.push(ready);
            if ready == Ready::Writable {
                FdAction::Remove
            } else {
                FdAction::Continue
            }
        })
        .unwrap();
    event_loop.run();
    assert_eq!(log.get(), [Ready::Error, Ready::Readable, Ready::Writable]);
}

#[test]
fn readable_and_writable_in_one_iteration_come_in_order() {
    let event_loop = EventLoop::new().unwrap();
    let (_tx, rx) = readable_pair(b"x");
    let log = Log::new();
    let seen = log.clone();
    event_loop
        .handle()
        .add_fd(
            rx,
            Interest::WRITABLE | Interest::READABLE,
            move |_, _, ready| {
                seen.push(ready);
                if seen.len() == 4 {
                    FdAction::Remove
                } else {
                    FdAction::Continue
                }
            },
        )
        .unwrap();
    event_loop.run();
    let expected = [Ready::Readable, Ready::Writable];
    assert_eq!(log.get(), [expected, expected].concat());
}

#[test]
fn readiness_is_level_triggered() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = readable_pair(b"abc");
    let log = Log::new();
    // A task that repeats marks the iterations.
    let marks = log.clone();
    let mut rounds = 0;
    handle
        .add_task(move |h| {
            marks.push("iteration");
            rounds += 1;
            if rounds < 6 {
                TaskAction::Again
            } else {
                h.quit().unwrap();
                TaskAction::Done
            }
        })
        .unwrap();
    let seen = log.clone();
    let mut calls = 0;
    handle
        .add_fd(rx, Interest::READABLE, move |_, rx, _| {
            calls += 1;
            if calls == 3 {
                let mut buf = [0; 8];
                assert_eq!(rx.read(&mut buf).unwrap(), 3);
                seen.push("drained");
            } else {
                seen.push("readable");
            }
        })
        .unwrap();
    event_loop.run();
    let mut expected = vec![];
    expected.extend([
        "iteration",
        "readable",
        "iteration",
        "readable",
        "iteration",
        "drained",
    ]);
    expected.extend(["iteration", "iteration", "iteration"]);
    assert_eq!(log.get(), expected);
}

#[test]
fn switching_interest_on_an_already_ready_fd_fires_next_iteration() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = readable_pair(b"data");
    let log = Log::new();
    let marks = log.clone();
    let mut rounds = 0;
    handle
        .add_task(move |_| {
            rounds += 1;
            marks.push(format!("iteration {rounds}"));
            if rounds < 4 {
                TaskAction::Again
            } else {
                TaskAction::Done
            }
        })
        .unwrap();
    // Readable and writable from the start, but interested in nothing.
    let seen = log.clone();
    let token = handle
        .add_fd(rx, Interest::NONE, move |_, _, ready| match ready {
            Ready::Readable => {
                seen.push("readable: switch to writable".to_string());
                FdAction::SetInterest(Interest::WRITABLE)
            }
            Ready::Writable => {
                seen.push("writable".to_string());
                FdAction::Remove
            }
            Ready::Error => unreachable!(),
        })
        .unwrap();
    // No callback until asked; once asked, the next iteration calls back
    // although no new data arrives.
    let switch = log.clone();
    handle
        .add_timer_at(handle.now(), move |h| {
            switch.push("interest on".to_string());
            h.set_interest(token, Interest::READABLE).unwrap();
        })
        .unwrap();
    event_loop.run();
    assert_eq!(
        log.get(),
        [
            "interest on",
            "iteration 1",
            "readable: switch to writable",
            "iteration 2",
            "writable",
            "iteration 3",
            "iteration 4",
        ]
    );
}

#[test]
fn interest_none_silences_a_ready_fd() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = readable_pair(b"data");
    let calls = Rc::new(Cell::new(0));
    let count = calls.clone();
    let token = handle
        .add_fd(rx, Interest::READABLE, move |_, _, _| {
            count.set(count.get() + 1);
            FdAction::SetInterest(Interest::NONE)
        })
        .unwrap();
    assert_eq!(handle.interest(token).unwrap(), Interest::READABLE);
    let mut rounds = 0;
    handle
        .add_task(move |h| {
            rounds += 1;
            if rounds < 5 {
                TaskAction::Again
            } else {
                assert_eq!(h.interest(token).unwrap(), Interest::NONE);
                h.remove(token).unwrap();
                TaskAction::Done
            }
        })
        .unwrap();
    event_loop.run();
    assert_eq!(calls.get(), 1, "still readable, but nobody is interested");
}

#[test]
fn a_callback_may_remove_itself_and_another_ready_fd() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx1, rx1) = readable_pair(b"1");
    let (_tx2, rx2) = readable_pair(b"2");
    let (obj1, dropped1) = Tracked::new(rx1);
    let (obj2, dropped2) = Tracked::new(rx2);
    let tokens: [Later<FdToken>; 2] = [Later::new(), Later::new()];
    let log = Log::new();
    let register = |obj: Tracked, me: usize| {
        let tokens = tokens.clone();
        let log = log.clone();
        handle
            .add_fd(obj, Interest::READABLE, move |h, obj, _| {
                log.push(me);
                // Whichever runs first removes the other (also ready now)...
                let other = tokens[1 - me].get();
                h.remove(other).unwrap();
                // ...and then itself; its object lives until the callback returns.
                h.remove(tokens[me].get()).unwrap();
                assert!(!obj.dropped.get());
                assert!(!h.is_registered(tokens[me].get()));
            })
            .unwrap()
    };
    let t1 = register(obj1, 0);
    let t2 = register(obj2, 1);
    tokens[0].set(t1);
    tokens[1].set(t2);
    event_loop.run(); // returns: nothing left
    assert_eq!(log.len(), 1, "the removed source was not called");
    assert!(dropped1.get() && dropped2.get(), "both objects dropped");
    assert!(matches!(handle.remove(t1), Err(Error::Stale)));
    assert!(matches!(
        handle.set_interest(t2, Interest::READABLE),
        Err(Error::Stale)
    ));
    assert!(matches!(handle.interest(t2), Err(Error::Stale)));
}

#[test]
fn removing_drops_the_object_and_destructors_may_use_the_handle() {
    struct UsesHandleOnDrop {
        stream: std::os::unix::net::UnixStream,
        handle: ivykis::Handle,
        timer: ivykis::TimerToken,
        result: Rc<Cell<Option<bool>>>,
    }
    impl std::os::fd::AsFd for UsesHandleOnDrop {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.stream.as_fd()
        }
    }
    impl Drop for UsesHandleOnDrop {
        fn drop(&mut self) {
            self.result
                .set(Some(self.handle.remove(self.timer).is_ok()));
        }
    }

    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let timer = handle
        .add_timer_after(std::time::Duration::from_secs(60), |_| {})
        .unwrap();
    let result = Rc::new(Cell::new(None));
    let obj = UsesHandleOnDrop {
        stream: pair().0,
        handle: handle.clone(),
        timer,
        result: result.clone(),
    };
    let token = handle
        .add_fd(obj, Interest::READABLE, |_, _, _| {})
        .unwrap();
    handle.remove(token).unwrap();
    assert_eq!(
        result.get(),
        Some(true),
        "dropped on removal, handle usable"
    );
    assert!(!handle.is_registered(timer));
    event_loop.run(); // nothing left
}

#[test]
fn dropping_the_loop_drops_registered_objects() {
    let event_loop = EventLoop::new().unwrap();
    let (obj, dropped) = Tracked::new(pair().0);
    event_loop
        .handle()
        .add_fd(obj, Interest::READABLE, |_, _, _| {})
        .unwrap();
    assert!(!dropped.get());
    drop(event_loop);
    assert!(dropped.get());
}

#[test]
fn hangup_without_error_interest_shows_as_end_of_file() {
    let event_loop = EventLoop::new().unwrap();
    let (a, b) = pair();
    drop(b);
    let eof = Rc::new(Cell::new(false));
    let seen = eof.clone();
    event_loop
        .handle()
        .add_fd(a, Interest::READABLE, move |_, a, ready| {
            assert_eq!(ready, Ready::Readable);
            assert_eq!(a.read(&mut [0; 4]).unwrap(), 0);
            seen.set(true);
            FdAction::Remove
        })
        .unwrap();
    event_loop.run();
    assert!(eof.get());
}

#[test]
fn registration_makes_the_descriptor_non_blocking() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = pair();
    let rx = Rc::new(rx);
    let token = handle
        .add_fd(rx.clone(), Interest::READABLE, |_, _, _| {})
        .unwrap();
    let err = (&*rx).read(&mut [0; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    handle.remove(token).unwrap();
}

#[test]
fn unpollable_descriptor_is_refused_under_epoll() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let path = std::env::temp_dir().join(format!("ivykis-fd-test-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let dropped = Rc::new(Cell::new(false));
    struct File(std::fs::File, Rc<Cell<bool>>);
    impl std::os::fd::AsFd for File {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.0.as_fd()
        }
    }
    impl Drop for File {
        fn drop(&mut self) {
            self.1.set(true);
        }
    }
    let result = handle.add_fd(
        File(file, dropped.clone()),
        Interest::READABLE,
        |_, _, ready| {
            // poll and ppoll report a regular file as always ready.
            assert_eq!(ready, Ready::Readable);
            FdAction::Remove
        },
    );
    if event_loop.poll_method() == "epoll" {
        match result {
            Err(Error::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc_eperm())),
            other => panic!("expected EPERM, got {other:?}"),
        }
        assert!(dropped.get(), "refused object is dropped");
    } else {
        result.unwrap();
    }
    event_loop.run(); // returns: nothing (left) registered
    assert!(dropped.get());
}

fn libc_eperm() -> i32 {
    1 // EPERM on every Unix
}

#[test]
fn replacing_the_descriptor_in_a_callback_panics_and_removes_the_source() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_tx, rx) = readable_pair(b"x");
    let mut spare = Some(pair().0);
    let token = handle
        .add_fd(rx, Interest::READABLE, move |_, rx, _| {
            *rx = spare.take().unwrap();
        })
        .unwrap();
    let dog = watchdog(&handle);
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event_loop.run())).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("replaced its registered descriptor"),
        "{message}"
    );
    assert!(!handle.is_registered(token));
    handle.remove(dog).unwrap();
    event_loop.run();
}
