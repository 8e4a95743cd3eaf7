//! `Handle::popen` through the Rust API (SPEC 8).
//!
//! The tests run in parallel threads of one process; every child is reaped
//! by the library per pid, and the tests check their own pids only (never
//! `wait(-1)`).

mod util;

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ivykis::{ChildStatus, Error, EventLoop, FdAction, Interest, Popen, PopenMode};
use rustix::process::{test_kill_process, waitpid, Pid, WaitOptions};
use util::Deadline;

/// Whether child `raw` is gone: reaped by the library, so neither our child
/// nor (barring an unlikely pid reuse) a process at all.
fn gone(raw: u32) -> bool {
    let pid = Pid::from_raw(raw as i32).expect("positive pid");
    matches!(
        waitpid(Some(pid), WaitOptions::NOHANG),
        Err(rustix::io::Errno::CHILD)
    ) && test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
}

/// Registers `pipe` and collects everything read from it until EOF (then
/// the source removes itself, dropping the pipe). `on_data` sees each read.
fn collect(
    handle: &ivykis::Handle,
    pipe: File,
    mut on_data: impl FnMut(&[u8]) + 'static,
) -> Rc<RefCell<Vec<u8>>> {
    let text = Rc::new(RefCell::new(Vec::new()));
    let sink = text.clone();
    handle
        .add_fd(pipe, Interest::READABLE, move |_h, pipe, _| {
            let mut buf = [0; 4096];
            match pipe.read(&mut buf) {
                Ok(0) => FdAction::Remove,
                Ok(n) => {
                    sink.borrow_mut().extend_from_slice(&buf[..n]);
                    on_data(&buf[..n]);
                    FdAction::Continue
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => FdAction::Continue,
                Err(e) => panic!("read: {e}"),
            }
        })
        .unwrap();
    text
}

#[test]
fn read_mode_gets_the_output_and_the_status() {
    let _deadline = Deadline::new(
        "read_mode_gets_the_output_and_the_status",
        Duration::from_secs(60),
    );
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (pipe, child) = handle
        .popen("/bin/sh", ["-c", "seq 1 20000; exit 4"], PopenMode::Read)
        .unwrap();
    assert!(child.pid() > 0);
    assert_eq!(child.status(), None);
    let text = collect(&handle, pipe, |_| {});
    event_loop.run(); // until EOF and the child reaped
    let expected: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    assert_eq!(String::from_utf8(text.take()).unwrap(), expected);
    assert_eq!(child.status(), Some(ChildStatus::Exited(4)));
    assert!(gone(child.pid()));
}

#[test]
fn write_mode_feeds_the_input() {
    let _deadline = Deadline::new("write_mode_feeds_the_input", Duration::from_secs(60));
    let dir = std::env::temp_dir().join(format!("ivykis-popen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("write_mode");
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (pipe, child) = handle
        .popen(
            "sh",
            ["-c".as_ref(), "cat > \"$0\"".as_ref(), path.as_os_str()],
            PopenMode::Write,
        )
        .unwrap();
    // More than a pipe holds, so the writes must wait for the child.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut offset = 0;
    let to_send = data.clone();
    handle
        .add_fd(pipe, Interest::WRITABLE, move |_h, pipe, _| {
            match pipe.write(&to_send[offset..]) {
                Ok(n) => offset += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
            if offset == to_send.len() {
                FdAction::Remove // closes the pipe: cat sees EOF and exits
            } else {
                FdAction::Continue
            }
        })
        .unwrap();
    event_loop.run(); // until everything is written and cat was reaped
    assert_eq!(child.status(), Some(ChildStatus::Exited(0)));
    let written = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(written == data, "cat wrote {} bytes", written.len());
}

#[test]
fn close_ends_a_running_child() {
    let _deadline = Deadline::new("close_ends_a_running_child", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (pipe, child) = handle.popen("sleep", ["60"], PopenMode::Read).unwrap();
    let pid = child.pid();
    drop(pipe);
    child.close();
    event_loop.run(); // returns once the child was terminated and reaped
    assert!(gone(pid));
}

#[test]
fn dropping_the_popen_closes_it() {
    let _deadline = Deadline::new("dropping_the_popen_closes_it", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (_pipe, child) = handle.popen("sleep", ["60"], PopenMode::Write).unwrap();
    let pid = child.pid();
    drop(child);
    event_loop.run();
    assert!(gone(pid));
}

#[test]
fn close_escalates_to_sigkill() {
    let _deadline = Deadline::new("close_escalates_to_sigkill", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    // Ignores SIGTERM (inherited across exec), and says so once it does.
    let (pipe, child) = handle
        .popen(
            "/bin/sh",
            ["-c", "trap '' TERM; echo ready; exec sleep 60"],
            PopenMode::Read,
        )
        .unwrap();
    let pid = child.pid();
    let child = Rc::new(RefCell::new(Some(child)));
    let closed_at = Rc::new(RefCell::new(None));
    let (c, at) = (child.clone(), closed_at.clone());
    collect(&handle, pipe, move |data| {
        assert_eq!(data, b"ready\n");
        *at.borrow_mut() = Some(Instant::now());
        c.borrow_mut().take().unwrap().close();
    });
    event_loop.run();
    let closed_at = closed_at.take().expect("closed after \"ready\"");
    assert!(gone(pid));
    // SIGTERM at once and twice more two seconds apart, SIGKILL two seconds
    // after the last: the child cannot have ended before that.
    let elapsed = closed_at.elapsed();
    assert!(elapsed >= Duration::from_millis(5900), "{elapsed:?}");
}

#[test]
fn close_after_the_child_exited() {
    let _deadline = Deadline::new("close_after_the_child_exited", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (pipe, child) = handle.popen("echo", ["bye"], PopenMode::Read).unwrap();
    let text = collect(&handle, pipe, |_| {});
    event_loop.run();
    assert_eq!(&*text.borrow(), b"bye\n");
    assert_eq!(child.status(), Some(ChildStatus::Exited(0)));
    let pid = child.pid();
    child.close(); // nothing to end: no signal, no timer
    let started = Instant::now();
    event_loop.run(); // nothing registered: returns at once
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(gone(pid));
}

#[test]
fn a_program_that_cannot_run_exits_127() {
    let _deadline = Deadline::new(
        "a_program_that_cannot_run_exits_127",
        Duration::from_secs(60),
    );
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (pipe, child) = handle
        .popen(
            "/nonexistent/ivykis-test-program",
            [] as [&str; 0],
            PopenMode::Read,
        )
        .unwrap();
    let text = collect(&handle, pipe, |_| {});
    event_loop.run();
    assert!(text.borrow().is_empty());
    assert_eq!(child.status(), Some(ChildStatus::Exited(127)));
}

#[test]
fn nul_bytes_and_a_gone_loop_are_errors() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let result = handle.popen("echo", ["a\0b"], PopenMode::Read);
    assert!(
        matches!(&result, Err(Error::Io(e)) if e.kind() == io::ErrorKind::InvalidInput),
        "{result:?}"
    );
    drop(event_loop);
    assert!(matches!(
        handle.popen("true", [] as [&str; 0], PopenMode::Read),
        Err(Error::LoopGone)
    ));
}

#[test]
fn popen_outliving_its_loop_is_harmless() {
    let _deadline = Deadline::new(
        "popen_outliving_its_loop_is_harmless",
        Duration::from_secs(60),
    );
    let event_loop = EventLoop::new().unwrap();
    let (pipe, child): (File, Popen) = event_loop
        .handle()
        .popen("true", [] as [&str; 0], PopenMode::Read)
        .unwrap();
    drop(event_loop);
    assert!(format!("{child:?}").contains("Popen"));
    drop(child); // no loop to escalate in: nothing happens
    drop(pipe);
}
