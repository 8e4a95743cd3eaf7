//! Prints what happens in a directory, using inotify sources.
//!
//! ```text
//! cargo run --example dirwatch -- DIR      watch DIR until it is deleted or
//!                                          moved away, or until Ctrl-C
//! cargo run --example dirwatch -- --demo   watch a scratch directory while a
//!                                          timer creates, changes, renames and
//!                                          deletes things in it, then deletes
//!                                          the directory (which ends the run)
//! ```
//!
//! What it shows: an inotify instance ([`Handle::add_inotify`]) with one
//! watch ([`Handle::add_watch`]) and typed masks; the two halves of a rename
//! paired by their cookie, with a short timer deciding that a lone half was
//! a move into or out of the directory; the watch's last event
//! ([`EventMask::IGNORED`]), after which the program removes the instance
//! and [`EventLoop::run`] returns because nothing is registered any more;
//! and a signal source for a clean exit on Ctrl-C.

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{
    EventLoop, EventMask, Handle, InotifyToken, SignalAction, SignalFlags, SignalToken,
    TimerAction, TimerToken, WatchEvent, WatchMask,
};

/// What the watcher keeps between events.
struct Watcher {
    inotify: InotifyToken,
    sigint: Option<SignalToken>,
    /// A MOVED_FROM waiting for its MOVED_TO: (cookie, name, timer).
    pending_move: Option<(u32, OsString, TimerToken)>,
}

impl Watcher {
    /// Removes everything, so that `run` returns.
    fn stop(&mut self, h: &Handle) {
        // Stale (and ignored) if already gone.
        let _ = h.remove(self.inotify);
        if let Some(sigint) = self.sigint.take() {
            let _ = h.remove(sigint);
        }
        if let Some((_, _, timer)) = self.pending_move.take() {
            let _ = h.remove(timer);
        }
    }

    /// Prints a MOVED_FROM whose MOVED_TO did not come.
    fn flush_move(&mut self, h: &Handle) {
        if let Some((_, name, timer)) = self.pending_move.take() {
            let _ = h.remove(timer);
            println!("moved out {}", name.to_string_lossy());
        }
    }
}

fn on_event(state: &Rc<RefCell<Watcher>>, h: &Handle, ev: &WatchEvent<'_>) {
    let mask = ev.mask();
    let kind = if ev.is_dir() { "directory" } else { "file" };
    let name = ev.name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let mut w = state.borrow_mut();

    if mask.contains(EventMask::MOVED_TO) {
        match w.pending_move.take() {
            Some((cookie, old, timer)) if cookie == ev.cookie() => {
                let _ = h.remove(timer);
                println!("renamed   {} -> {name}", old.to_string_lossy());
            }
            other => {
                w.pending_move = other;
                w.flush_move(h);
                println!("moved in  {kind} {name}");
            }
        }
        return;
    }
    w.flush_move(h);

    if mask.contains(EventMask::MOVED_FROM) {
        // Wait a little for the other half of the rename.
        let state2 = state.clone();
        let timer = h
            .add_timer_after(Duration::from_millis(50), move |_h| {
                if let Some((_, name, _)) = state2.borrow_mut().pending_move.take() {
                    println!("moved out {}", name.to_string_lossy());
                }
            })
            .expect("timer");
        w.pending_move = Some((ev.cookie(), ev.name().unwrap_or_default().into(), timer));
    } else if mask.contains(EventMask::CREATE) {
        println!("created   {kind} {name}");
    } else if mask.contains(EventMask::DELETE) {
        println!("deleted   {kind} {name}");
    } else if mask.contains(EventMask::MODIFY) {
        println!("modified  {name}");
    } else if mask.contains(EventMask::Q_OVERFLOW) {
        println!("overflow: events were lost, look at the directory again");
    } else if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
        let moved = mask.contains(EventMask::MOVE_SELF);
        println!(
            "the watched directory was {}",
            if moved { "moved" } else { "deleted" }
        );
        if moved {
            // Still watched under its new name: end it here.
            w.stop(h);
        }
    } else if mask.contains(EventMask::IGNORED) {
        println!("no longer watched");
        w.stop(h);
    }
}

/// Starts watching `dir`.
fn start(h: &Handle, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let inotify = h.add_inotify()?;
    let state = Rc::new(RefCell::new(Watcher {
        inotify,
        sigint: None,
        pending_move: None,
    }));
    let mask = WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::MOVE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR;
    let s = state.clone();
    if let Err(e) = h.add_watch(inotify, dir, mask, move |h, ev| on_event(&s, h, ev)) {
        let _ = h.remove(inotify);
        return Err(format!("{}: {e}", dir.display()).into());
    }
    let s = state.clone();
    let sigint = h.add_signal(libc::SIGINT, SignalFlags::NONE, move |h, _| {
        println!("interrupted");
        // The signal source itself is removed by returning Remove.
        s.borrow_mut().sigint = None;
        s.borrow_mut().stop(h);
        SignalAction::Remove
    })?;
    state.borrow_mut().sigint = Some(sigint);
    println!("watching {}", dir.display());
    Ok(())
}

/// The demo: a scratch directory and a timer that changes it step by step.
fn demo(h: &Handle) -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::temp_dir().join(format!("dirwatch-demo-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    if let Err(e) = start(h, &dir) {
        let _ = std::fs::remove_dir(&dir);
        return Err(e);
    }
    let mut step = 0;
    h.add_timer_after(Duration::from_millis(20), move |_h| {
        let result = match step {
            0 => std::fs::write(dir.join("notes.txt"), "hello\n"),
            1 => std::fs::rename(dir.join("notes.txt"), dir.join("notes.old")),
            2 => std::fs::create_dir(dir.join("sub")),
            3 => std::fs::remove_dir(dir.join("sub"))
                .and_then(|()| std::fs::remove_file(dir.join("notes.old"))),
            // The end: the watch gets DELETE_SELF, then IGNORED.
            _ => {
                let _ = std::fs::remove_dir(&dir);
                return TimerAction::Done;
            }
        };
        if let Err(e) = result {
            eprintln!("dirwatch: demo step {step}: {e}");
        }
        step += 1;
        TimerAction::After(Duration::from_millis(20))
    })?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() != 1 || args[0].is_empty() || args[0] == "-h" || args[0] == "--help" {
        eprintln!("usage: dirwatch DIR | --demo");
        return ExitCode::from(2);
    }
    let event_loop = EventLoop::new().expect("event loop");
    let h = event_loop.handle();
    let started = if args[0] == "--demo" {
        demo(&h)
    } else {
        start(&h, Path::new(&args[0]))
    };
    if let Err(e) = started {
        eprintln!("dirwatch: {e}");
        return ExitCode::FAILURE;
    }
    event_loop.run();
    ExitCode::SUCCESS
}
