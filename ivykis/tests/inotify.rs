//! inotify sources through the Rust API (SPEC 8): events with their names
//! and masks, register failures, and callbacks that remove their own watch,
//! another watch or the whole instance while the rest of their batch is
//! being delivered.
#![cfg(target_os = "linux")]

mod util;

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use ivykis::{
    Error, EventLoop, EventMask, Handle, InotifyToken, TaskAction, WatchAction, WatchEvent,
    WatchMask, WatchToken,
};
use util::{watchdog, Later, Log};

/// A fresh directory, removed with its contents on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "ivykis-test-inotify-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn touch(&self, name: &str) {
        fs::write(self.0.join(name), b"").unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What a callback saw: (watch label, mask, name, cookie).
type Seen = Log<(&'static str, EventMask, Option<OsString>, u32)>;

fn note(seen: &Seen, label: &'static str, ev: &WatchEvent<'_>) {
    seen.push((label, ev.mask(), ev.name().map(Into::into), ev.cookie()));
}

/// A watch callback that records what it sees.
fn recorder(seen: &Seen, label: &'static str) -> impl FnMut(&Handle, &WatchEvent<'_>) + 'static {
    let seen = seen.clone();
    move |_h, ev| note(&seen, label, ev)
}

/// Runs the loop for `n` iterations (a task that repeats keeps it from
/// sleeping), then quits; a watchdog fails the test if that takes seconds.
fn run_iterations(event_loop: &EventLoop, n: u32) {
    let handle = event_loop.handle();
    let dog = watchdog(&handle);
    let mut left = n;
    handle
        .add_task(move |h| {
            left -= 1;
            if left == 0 {
                h.quit().unwrap();
                TaskAction::Done
            } else {
                TaskAction::Again
            }
        })
        .unwrap();
    event_loop.run();
    handle.remove(dog).unwrap();
}

fn errno_of(result: Result<WatchToken, Error>) -> Option<i32> {
    match result {
        Err(Error::Io(e)) => e.raw_os_error(),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// Sets a flag when dropped (inside a callback's captures).
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn create_modify_move_delete() {
    let dir = TempDir::new("basic");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let seen = Seen::new();
    let mask = WatchMask::CREATE | WatchMask::MODIFY | WatchMask::MOVE | WatchMask::DELETE;
    let watch = h
        .add_watch(inotify, dir.path(), mask, recorder(&seen, "dir"))
        .unwrap();
    assert!(h.is_watching(watch));
    assert_eq!(watch.inotify(), inotify);

    dir.touch("a");
    fs::write(dir.path().join("a"), b"data").unwrap();
    fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::remove_file(dir.path().join("b")).unwrap();
    run_iterations(&event_loop, 10);

    let got = seen.get();
    let want = [
        (EventMask::CREATE, "a"),
        (EventMask::MODIFY, "a"),
        (EventMask::MOVED_FROM, "a"),
        (EventMask::MOVED_TO, "b"),
        (EventMask::CREATE | EventMask::ISDIR, "sub"),
        (EventMask::DELETE, "b"),
    ];
    // Opening with truncation may add a MODIFY of its own; compare the
    // distinct steps.
    let mut steps: Vec<(EventMask, OsString)> = Vec::new();
    for (label, mask, name, _) in &got {
        assert_eq!(*label, "dir");
        let step = (
            *mask,
            name.clone().expect("events in a directory carry a name"),
        );
        if steps.last() != Some(&step) {
            steps.push(step);
        }
    }
    let want: Vec<(EventMask, OsString)> = want.iter().map(|(m, n)| (*m, n.into())).collect();
    assert_eq!(steps, want);
    let cookies: Vec<u32> = got
        .iter()
        .filter(|e| e.1.intersects(EventMask::MOVED_FROM | EventMask::MOVED_TO))
        .map(|e| e.3)
        .collect();
    assert_eq!(cookies.len(), 2);
    assert!(cookies[0] != 0 && cookies[0] == cookies[1]);

    h.remove(inotify).unwrap();
    assert!(!h.is_watching(watch));
    assert!(matches!(h.remove_watch(watch), Err(Error::Stale)));
}

#[test]
fn events_go_to_their_own_watch() {
    let dir = TempDir::new("two");
    let (a, b) = (dir.path().join("A"), dir.path().join("B"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let seen = Seen::new();
    h.add_watch(inotify, &a, WatchMask::CREATE, recorder(&seen, "A"))
        .unwrap();
    h.add_watch(inotify, &b, WatchMask::DELETE, recorder(&seen, "B"))
        .unwrap();
    fs::write(a.join("1"), b"").unwrap();
    fs::write(b.join("2"), b"").unwrap();
    fs::remove_file(b.join("2")).unwrap();
    run_iterations(&event_loop, 10);
    let got: Vec<(&str, EventMask)> = seen.get().iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(got, [("A", EventMask::CREATE), ("B", EventMask::DELETE)]);
}

#[test]
fn a_missing_path_is_enoent_and_leaves_nothing() {
    let dir = TempDir::new("enoent");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let flag = Rc::new(Cell::new(false));
    let drop_flag = DropFlag(flag.clone());
    let result = h.add_watch(
        inotify,
        dir.path().join("nope"),
        WatchMask::CREATE,
        move |_, _| {
            let _ = &drop_flag;
        },
    );
    assert_eq!(errno_of(result), Some(libc::ENOENT));
    assert!(flag.get(), "the refused callback was dropped");

    // The instance still works.
    let seen = Seen::new();
    h.add_watch(
        inotify,
        dir.path(),
        WatchMask::CREATE,
        recorder(&seen, "ok"),
    )
    .unwrap();
    dir.touch("x");
    run_iterations(&event_loop, 10);
    assert_eq!(seen.len(), 1);
}

#[test]
fn other_refusals() {
    let dir = TempDir::new("refusals");
    dir.touch("file");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let file = dir.path().join("file");
    let r = h.add_watch(
        inotify,
        &file,
        WatchMask::CREATE | WatchMask::ONLYDIR,
        |_, _| {},
    );
    assert_eq!(errno_of(r), Some(libc::ENOTDIR));
    let r = h.add_watch(inotify, dir.path(), WatchMask::default(), |_, _| {});
    assert_eq!(errno_of(r), Some(libc::EINVAL), "a mask without events");
    let r = h.add_watch(inotify, "bad\0path", WatchMask::CREATE, |_, _| {});
    match r {
        Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput),
        other => panic!("{other:?}"),
    }
    // A second watch of the same directory in one instance.
    h.add_watch(inotify, dir.path(), WatchMask::CREATE, |_, _| {})
        .unwrap();
    let r = h.add_watch(inotify, dir.path(), WatchMask::DELETE, |_, _| {});
    assert_eq!(errno_of(r), Some(libc::EEXIST));
    // ... is fine in another instance.
    let other = h.add_inotify().unwrap();
    h.add_watch(other, dir.path(), WatchMask::DELETE, |_, _| {})
        .unwrap();
}

#[test]
fn removed_or_foreign_instances_are_stale() {
    let dir = TempDir::new("stale");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    assert!(h.is_registered(inotify));
    let watch = h
        .add_watch(inotify, dir.path(), WatchMask::CREATE, |_, _| {})
        .unwrap();
    h.remove(inotify).unwrap();
    assert!(!h.is_registered(inotify));
    assert!(!h.is_watching(watch));
    assert!(matches!(
        h.add_watch(inotify, dir.path(), WatchMask::CREATE, |_, _| {}),
        Err(Error::Stale)
    ));
    assert!(matches!(h.remove(inotify), Err(Error::Stale)));
    // Nothing registered: run returns at once.
    event_loop.run();

    drop(event_loop);
    let event_loop = EventLoop::new().unwrap();
    let h2 = event_loop.handle();
    assert!(matches!(
        h2.add_watch(inotify, dir.path(), WatchMask::CREATE, |_, _| {}),
        Err(Error::Stale)
    ));
    assert!(matches!(h.add_inotify(), Err(Error::LoopGone)));
}

#[test]
fn remove_action_ends_the_watch_within_its_batch() {
    let dir = TempDir::new("self");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let calls = Rc::new(Cell::new(0));
    let flag = Rc::new(Cell::new(false));
    let (c, d) = (calls.clone(), DropFlag(flag.clone()));
    let me: Later<WatchToken> = Later::new();
    let me2 = me.clone();
    let watch = h
        .add_watch(inotify, dir.path(), WatchMask::CREATE, move |h, _| {
            let _ = &d;
            c.set(c.get() + 1);
            assert!(h.is_watching(me2.get()));
            WatchAction::Remove
        })
        .unwrap();
    me.set(watch);
    for name in ["1", "2", "3"] {
        dir.touch(name);
    }
    run_iterations(&event_loop, 10);
    dir.touch("4");
    run_iterations(&event_loop, 10);
    assert_eq!(calls.get(), 1);
    assert!(flag.get(), "the closure was dropped");
    assert!(!h.is_watching(watch));
    assert!(matches!(h.remove_watch(watch), Err(Error::Stale)));
}

#[test]
fn removing_another_watch_drops_its_pending_events() {
    let dir = TempDir::new("other");
    let (a, b) = (dir.path().join("A"), dir.path().join("B"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let seen = Seen::new();
    let flag = Rc::new(Cell::new(false));
    let d = DropFlag(flag.clone());
    let b_watch = h
        .add_watch(inotify, &b, WatchMask::CREATE, {
            let seen = seen.clone();
            move |_, ev| {
                let _ = &d;
                note(&seen, "B", ev)
            }
        })
        .unwrap();
    let seen2 = seen.clone();
    h.add_watch(inotify, &a, WatchMask::CREATE, move |h, ev| {
        note(&seen2, "A", ev);
        if h.is_watching(b_watch) {
            h.remove_watch(b_watch).unwrap();
        }
    })
    .unwrap();
    for (d, n) in [(&a, "1"), (&b, "2"), (&a, "3"), (&b, "4")] {
        fs::write(d.join(n), b"").unwrap();
    }
    run_iterations(&event_loop, 10);
    let labels: Vec<&str> = seen.get().iter().map(|e| e.0).collect();
    assert_eq!(labels, ["A", "A"]);
    assert!(flag.get(), "B's closure was dropped");
}

#[test]
fn removing_the_instance_drops_the_rest_of_the_batch() {
    let dir = TempDir::new("instance");
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let calls = Rc::new(Cell::new(0));
    let flags: Vec<Rc<Cell<bool>>> = (0..2).map(|_| Rc::new(Cell::new(false))).collect();
    for (path, flag) in [dir.path(), &sub].into_iter().zip(&flags) {
        let (c, d) = (calls.clone(), DropFlag(flag.clone()));
        h.add_watch(inotify, path, WatchMask::CREATE, move |h, _| {
            let _ = &d;
            c.set(c.get() + 1);
            h.remove(inotify).unwrap();
        })
        .unwrap();
    }
    dir.touch("1");
    fs::write(sub.join("2"), b"").unwrap();
    dir.touch("3");
    let dog = watchdog(&h);
    // Quits by itself once the instance is gone, but for the watchdog.
    h.add_task(move |h| {
        if !h.is_registered(inotify) {
            h.remove(dog).unwrap();
            TaskAction::Done
        } else {
            TaskAction::Again
        }
    })
    .unwrap();
    event_loop.run();
    assert_eq!(calls.get(), 1);
    assert!(
        flags.iter().all(|f| f.get()),
        "every watch's closure was dropped"
    );
}

#[test]
fn a_callback_may_add_watches() {
    let dir = TempDir::new("add");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let seen = Seen::new();
    let seen2 = seen.clone();
    let dir_path = dir.path().to_path_buf();
    h.add_watch(
        inotify,
        dir.path(),
        WatchMask::CREATE | WatchMask::ONLYDIR,
        move |h, ev| {
            note(&seen2, "top", ev);
            if ev.is_dir() {
                let path = dir_path.join(ev.name().unwrap());
                h.add_watch(inotify, path, WatchMask::CREATE, recorder(&seen2, "sub"))
                    .unwrap();
            }
        },
    )
    .unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    run_iterations(&event_loop, 5);
    fs::write(dir.path().join("d").join("inner"), b"").unwrap();
    run_iterations(&event_loop, 5);
    let got: Vec<(&str, EventMask)> = seen.get().iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        got,
        [
            ("top", EventMask::CREATE | EventMask::ISDIR),
            ("sub", EventMask::CREATE)
        ]
    );
}

#[test]
fn ignored_is_the_last_call_and_the_token_is_already_stale() {
    let dir = TempDir::new("ignored");
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let log: Log<(EventMask, bool)> = Log::new();
    let me: Later<WatchToken> = Later::new();
    let (log2, me2) = (log.clone(), me.clone());
    let flag = Rc::new(Cell::new(false));
    let d = DropFlag(flag.clone());
    let watch = h
        .add_watch(inotify, &sub, WatchMask::DELETE_SELF, move |h, ev| {
            let _ = &d;
            log2.push((ev.mask(), h.is_watching(me2.get())));
            if ev.mask().contains(EventMask::IGNORED) {
                // Has no effect on a watch that already ended.
                WatchAction::Remove
            } else {
                WatchAction::Continue
            }
        })
        .unwrap();
    me.set(watch);
    fs::remove_dir(&sub).unwrap();
    run_iterations(&event_loop, 10);
    assert_eq!(
        log.get(),
        [(EventMask::DELETE_SELF, true), (EventMask::IGNORED, false)]
    );
    assert!(flag.get());
    assert!(
        h.is_registered(inotify),
        "the instance outlives its watches"
    );
}

#[test]
fn oneshot_gets_one_event() {
    let dir = TempDir::new("oneshot");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let log: Log<(EventMask, bool)> = Log::new();
    let me: Later<WatchToken> = Later::new();
    let (log2, me2) = (log.clone(), me.clone());
    let watch = h
        .add_watch(
            inotify,
            dir.path(),
            WatchMask::CREATE | WatchMask::ONESHOT,
            move |h, ev| log2.push((ev.mask(), h.is_watching(me2.get()))),
        )
        .unwrap();
    me.set(watch);
    dir.touch("1");
    dir.touch("2");
    run_iterations(&event_loop, 10);
    assert_eq!(log.get(), [(EventMask::CREATE, false)]);
}

#[test]
fn overflow_reaches_every_watch() {
    let max: u32 = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    if max > 100_000 {
        eprintln!("max_queued_events is {max}: skipped");
        return;
    }
    let dir = TempDir::new("overflow");
    dir.touch("f");
    let file = dir.path().join("f");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let overflows: Log<&'static str> = Log::new();
    for (path, label) in [(dir.path(), "dir"), (file.as_path(), "file")] {
        let o = overflows.clone();
        h.add_watch(inotify, path, WatchMask::ATTRIB, move |_, ev| {
            if ev.mask().contains(EventMask::Q_OVERFLOW) {
                assert_eq!(ev.name(), None);
                o.push(label);
            }
        })
        .unwrap();
    }
    let f = fs::File::open(&file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for i in 0..max {
        let mode = if i % 2 == 0 { 0o600 } else { 0o644 };
        f.set_permissions(fs::Permissions::from_mode(mode)).unwrap();
    }
    run_iterations(&event_loop, max / 50 + 20);
    assert_eq!(overflows.get(), ["dir", "file"]);
}

#[test]
fn dropping_the_loop_drops_the_watches() {
    let dir = TempDir::new("drop");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify: InotifyToken = h.add_inotify().unwrap();
    let flag = Rc::new(Cell::new(false));
    let d = DropFlag(flag.clone());
    let watch = h
        .add_watch(inotify, dir.path(), WatchMask::CREATE, move |_, _| {
            let _ = &d;
        })
        .unwrap();
    drop(event_loop);
    assert!(flag.get());
    assert!(!h.is_watching(watch));
    assert!(matches!(h.remove_watch(watch), Err(Error::LoopGone)));
}

#[test]
fn a_panicking_callback_leaves_the_watch_registered() {
    let dir = TempDir::new("panic");
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let inotify = h.add_inotify().unwrap();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let c = calls.clone();
    let watch = h
        .add_watch(inotify, dir.path(), WatchMask::CREATE, move |_, ev| {
            let name = ev.name().unwrap().to_owned();
            c.borrow_mut().push(name.clone());
            if name == "boom" {
                panic!("boom");
            }
        })
        .unwrap();
    dir.touch("boom");
    let dog = watchdog(&h);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event_loop.run()));
    assert!(result.is_err());
    h.remove(dog).unwrap();
    assert!(h.is_watching(watch));
    dir.touch("after");
    run_iterations(&event_loop, 10);
    assert_eq!(
        *calls.borrow(),
        [OsString::from("boom"), OsString::from("after")]
    );
}
