//! Child-process sources through the Rust API (SPEC 6): `watch_child`,
//! `spawn`, `kill_child`.
//!
//! The test harness runs tests in parallel threads of one process, so every
//! test's children are children of the same process. The library reaps per
//! watched pid, never with `wait(-1)`, and so do these tests (`waitpid` on
//! their own pids only): no test can take another test's statuses.

mod util;

use std::cell::Cell;
use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use ivykis::{
    ChildAction, ChildStatus, ChildToken, Error, EventLoop, FdAction, Handle, Interest,
    ResourceUsage, Token,
};
use rustix::process::{waitid, waitpid, Pid, WaitId, WaitIdOptions, WaitOptions};
use util::{Deadline, Later, Log};

fn pid(raw: u32) -> Pid {
    Pid::from_raw(raw as i32).expect("positive pid")
}

/// Whether `pid` was reaped (it is no longer our child).
fn reaped(raw: u32) -> bool {
    matches!(
        waitpid(Some(pid(raw)), WaitOptions::NOHANG),
        Err(rustix::io::Errno::CHILD)
    )
}

/// Ends and reaps a child that the library no longer watches.
fn kill_and_reap(raw: u32) {
    let _ = rustix::process::kill_process(pid(raw), rustix::process::Signal::KILL);
    let _ = rustix::process::kill_process(pid(raw), rustix::process::Signal::CONT);
    waitpid(Some(pid(raw)), WaitOptions::empty()).expect("waitpid");
}

/// Waits (blocking, without collecting it) until child `raw` has exited.
fn wait_until_exited(raw: u32) {
    waitid(
        WaitId::Pid(pid(raw)),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    )
    .expect("waitid");
}

fn sh(script: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command.args(["-c", script]);
    command
}

/// Runs the loop for `ms` milliseconds, whatever stays registered.
fn run_for(event_loop: &EventLoop, ms: u64) {
    event_loop
        .handle()
        .add_timer_after(Duration::from_millis(ms), |h: &Handle| h.quit().unwrap())
        .unwrap();
    event_loop.run();
}

#[test]
fn exit_status_delivered_exactly_once() {
    let _deadline = Deadline::new(
        "exit_status_delivered_exactly_once",
        Duration::from_secs(60),
    );
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let l = log.clone();
    let child = handle
        .spawn(&mut sh("exit 3"), move |_h, status, _usage| l.push(status))
        .unwrap();
    assert_eq!(child.token.pid(), child.pid);
    assert!(handle.is_registered(child.token));
    event_loop.run(); // returns: the source went with the final status
    assert_eq!(log.get(), vec![ChildStatus::Exited(3)]);
    assert!(!handle.is_registered(child.token));
    assert!(reaped(child.pid));
    // Nothing more comes later.
    run_for(&event_loop, 20);
    assert_eq!(log.len(), 1);
}

#[test]
fn child_that_exits_at_once() {
    let _deadline = Deadline::new("child_that_exits_at_once", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let log = Log::new();
    let l = log.clone();
    let child = event_loop
        .handle()
        .spawn(&mut Command::new("true"), move |_h, status, _| {
            l.push(status)
        })
        .unwrap();
    event_loop.run();
    assert_eq!(log.get(), vec![ChildStatus::Exited(0)]);
    assert!(reaped(child.pid));
}

#[test]
fn watch_a_child_that_already_exited() {
    let _deadline = Deadline::new("watch_a_child_that_already_exited", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let child = sh("exit 7").spawn().unwrap();
    let raw = child.id();
    drop(child); // neither waits nor kills
    wait_until_exited(raw); // a zombie now; its SIGCHLD came before the watch
    let log = Log::new();
    let l = log.clone();
    let token = event_loop
        .handle()
        .watch_child(raw, move |_h, status, _| l.push(status))
        .unwrap();
    assert_eq!(token.pid(), raw);
    assert!(
        log.get().is_empty(),
        "delivered in the loop, not in watch_child"
    );
    event_loop.run();
    assert_eq!(log.get(), vec![ChildStatus::Exited(7)]);
    assert!(reaped(raw));
}

#[test]
fn killed_by_signal_with_resource_usage() {
    let _deadline = Deadline::new(
        "killed_by_signal_with_resource_usage",
        Duration::from_secs(60),
    );
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let child = handle
        .spawn(Command::new("sleep").arg("60"), move |_h, status, usage| {
            g.set(Some((status, usage)))
        })
        .unwrap();
    handle.kill_child(child.token, libc::SIGKILL).unwrap();
    event_loop.run();
    let (status, usage): (ChildStatus, ResourceUsage) = got.get().expect("status delivered");
    assert_eq!(
        status,
        ChildStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    assert!(status.has_ended() && status.code().is_none());
    assert!(usage.max_rss > 0, "{usage:?}");
}

#[test]
fn kill_after_exit_is_an_error() {
    let _deadline = Deadline::new("kill_after_exit_is_an_error", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let token = Later::<ChildToken>::new();
    let t = token.clone();
    let in_callback = Rc::new(Cell::new(None));
    let ic = in_callback.clone();
    let child = handle
        .spawn(&mut Command::new("true"), move |h, _status, _| {
            // The exit was collected, the source is still there: ESRCH.
            ic.set(Some(h.kill_child(t.get(), libc::SIGTERM)));
        })
        .unwrap();
    token.set(child.token);
    event_loop.run();
    match in_callback.take() {
        Some(Err(Error::Io(e))) => assert_eq!(e.raw_os_error(), Some(libc::ESRCH)),
        other => panic!("kill from the exit callback: {other:?}"),
    }
    // The source is gone with the exit: stale.
    assert!(matches!(
        handle.kill_child(child.token, libc::SIGTERM),
        Err(Error::Stale)
    ));
    assert!(matches!(handle.remove(child.token), Err(Error::Stale)));
}

#[test]
fn stopped_continued_then_terminated() {
    let _deadline = Deadline::new("stopped_continued_then_terminated", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let l = log.clone();
    let token = Later::<ChildToken>::new();
    let t = token.clone();
    let child = handle
        .spawn(Command::new("sleep").arg("60"), move |h, status, _| {
            l.push(status);
            match status {
                ChildStatus::Stopped(_) => h.kill_child(t.get(), libc::SIGCONT).unwrap(),
                ChildStatus::Continued => h.kill_child(t.get(), libc::SIGTERM).unwrap(),
                _ => {}
            }
        })
        .unwrap();
    token.set(child.token);
    handle.kill_child(child.token, libc::SIGSTOP).unwrap();
    event_loop.run();
    assert_eq!(
        log.get(),
        vec![
            ChildStatus::Stopped(libc::SIGSTOP),
            ChildStatus::Continued,
            ChildStatus::Signaled {
                signal: libc::SIGTERM,
                core_dumped: false
            },
        ]
    );
}

#[test]
fn callback_may_remove_its_source() {
    let _deadline = Deadline::new("callback_may_remove_its_source", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let child = handle
        .spawn(Command::new("sleep").arg("60"), move |_h, status, _| {
            c.set(c.get() + 1);
            assert_eq!(status, ChildStatus::Stopped(libc::SIGSTOP));
            ChildAction::Remove
        })
        .unwrap();
    handle.kill_child(child.token, libc::SIGSTOP).unwrap();
    event_loop.run(); // returns: removed after the stop
    assert_eq!(calls.get(), 1);
    assert!(!handle.is_registered(child.token));
    // No longer watched: ours to reap, and free to be watched again.
    assert!(!reaped(child.pid));
    let again = handle.watch_child(child.pid, |_h, _, _| {}).unwrap();
    handle.remove(again).unwrap();
    kill_and_reap(child.pid);
}

#[test]
fn remove_stops_watching() {
    let _deadline = Deadline::new("remove_stops_watching", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let child = handle
        .spawn(Command::new("sleep").arg("60"), |_h, _, _| -> ChildAction {
            panic!("removed before anything happened")
        })
        .unwrap();
    let token: Token = child.token.into();
    assert!(handle.is_registered(token));
    handle.remove(token).unwrap();
    assert!(!handle.is_registered(token));
    assert!(matches!(
        handle.kill_child(child.token, 0),
        Err(Error::Stale)
    ));
    event_loop.run(); // nothing registered: returns at once
    kill_and_reap(child.pid);
}

#[test]
fn bad_pids_are_refused() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let io_errno = |r: Result<ChildToken, Error>| match r {
        Err(Error::Io(e)) => e.raw_os_error(),
        other => panic!("expected an I/O error, got {other:?}"),
    };
    assert_eq!(
        io_errno(handle.watch_child(0, |_h, _, _| {})),
        Some(libc::EINVAL)
    );
    assert_eq!(
        io_errno(handle.watch_child(u32::MAX, |_h, _, _| {})),
        Some(libc::EINVAL)
    );
    // init is nobody's child.
    assert_eq!(
        io_errno(handle.watch_child(1, |_h, _, _| {})),
        Some(libc::ECHILD)
    );
    event_loop.run(); // nothing stayed registered
}

#[test]
fn a_pid_is_watched_once() {
    let _deadline = Deadline::new("a_pid_is_watched_once", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let child = handle
        .spawn(Command::new("sleep").arg("60"), |_h, _, _| {})
        .unwrap();
    assert!(matches!(
        handle.watch_child(child.pid, |_h, _, _| {}),
        Err(Error::AlreadyWatched)
    ));
    handle.kill_child(child.token, libc::SIGKILL).unwrap();
    event_loop.run();
    assert!(reaped(child.pid));
}

#[test]
fn dropping_the_loop_unwatches() {
    let _deadline = Deadline::new("dropping_the_loop_unwatches", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let child = handle
        .spawn(Command::new("sleep").arg("60"), |_h, _, _| {})
        .unwrap();
    drop(event_loop);
    assert!(matches!(
        handle.kill_child(child.token, libc::SIGTERM),
        Err(Error::LoopGone)
    ));
    assert!(matches!(
        handle.watch_child(child.pid, |_h, _, _| {}),
        Err(Error::LoopGone)
    ));
    assert!(matches!(
        handle.spawn(&mut Command::new("true"), |_h, _, _| {}),
        Err(Error::LoopGone)
    ));
    // A new loop may watch the same child: the old watch is gone.
    let event_loop = EventLoop::new().unwrap();
    let log = Log::new();
    let l = log.clone();
    let token = event_loop
        .handle()
        .watch_child(child.pid, move |_h, status, _| l.push(status))
        .unwrap();
    event_loop
        .handle()
        .kill_child(token, libc::SIGTERM)
        .unwrap();
    event_loop.run();
    assert_eq!(
        log.get(),
        vec![ChildStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false
        }]
    );
}

#[test]
fn spawn_with_piped_output() {
    let _deadline = Deadline::new("spawn_with_piped_output", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let status = Rc::new(Cell::new(None));
    let s = status.clone();
    let mut command = sh("echo out; echo err >&2; exit 5");
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let child = handle
        .spawn(&mut command, move |_h, st, _| s.set(Some(st)))
        .unwrap();
    assert!(child.stdin.is_none() && child.stderr.is_none());
    let text = Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = text.clone();
    handle
        .add_fd(
            child.stdout.unwrap(),
            Interest::READABLE,
            move |_h, out, _| {
                let mut buf = [0; 64];
                match out.read(&mut buf) {
                    Ok(0) => FdAction::Remove,
                    Ok(n) => {
                        sink.borrow_mut().extend_from_slice(&buf[..n]);
                        FdAction::Continue
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => FdAction::Continue,
                    Err(e) => panic!("read: {e}"),
                }
            },
        )
        .unwrap();
    event_loop.run();
    assert_eq!(&*text.borrow(), b"out\n");
    assert_eq!(status.get(), Some(ChildStatus::Exited(5)));
}

#[test]
fn spawn_failure_starts_nothing() {
    let event_loop = EventLoop::new().unwrap();
    let result = event_loop.handle().spawn(
        &mut Command::new("/nonexistent/ivykis-test-program"),
        |_h, _, _| {},
    );
    assert!(
        matches!(&result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::NotFound),
        "{result:?}"
    );
    event_loop.run(); // nothing registered
}

#[test]
fn panic_in_the_exit_callback_still_removes_the_source() {
    let _deadline = Deadline::new(
        "panic_in_the_exit_callback_still_removes_the_source",
        Duration::from_secs(60),
    );
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let child = handle
        .spawn(&mut Command::new("true"), |_h, _, _| -> ChildAction {
            panic!("boom")
        })
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event_loop.run()));
    assert!(result.is_err(), "the panic unwinds out of run");
    assert!(!handle.is_registered(child.token));
    event_loop.run(); // nothing left
    assert!(reaped(child.pid));
}

#[test]
fn loops_in_several_threads_get_their_own_children() {
    let _deadline = Deadline::new(
        "loops_in_several_threads_get_their_own_children",
        Duration::from_secs(60),
    );
    let threads: Vec<_> = (0..3)
        .map(|t| {
            std::thread::spawn(move || {
                let event_loop = EventLoop::new().unwrap();
                let handle = event_loop.handle();
                let log = Log::new();
                let mut expected = Vec::new();
                for i in 0..5 {
                    let code = t * 10 + i;
                    let l = log.clone();
                    let child = handle
                        .spawn(&mut sh(&format!("exit {code}")), move |_h, status, _| {
                            l.push((code, status))
                        })
                        .unwrap();
                    expected.push((code, ChildStatus::Exited(code)));
                    assert_eq!(child.token.pid(), child.pid);
                }
                event_loop.run();
                let mut got = log.get();
                got.sort_by_key(|(code, _)| *code);
                assert_eq!(got, expected);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
