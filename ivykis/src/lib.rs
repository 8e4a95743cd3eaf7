//! A per-thread, callback-driven event loop: descriptor readiness
//! (level-triggered), timers and tasks, with closures as callbacks.
//!
//! The same engine serves as a drop-in replacement for the C library
//! ivykis (`libivykis.so.0`); this crate is its safe Rust face.
//!
//! # A complete program
//!
//! ```
//! use std::io::{self, Read, Write};
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//!
//! use ivykis::{EventLoop, FdAction, Interest, Ready};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // One loop per thread. Dropping it removes everything still registered.
//!     let event_loop = EventLoop::new()?;
//!     let handle = event_loop.handle();
//!
//!     // A connected pair of sockets: we write to one end and watch the other.
//!     let (mut writer, reader) = UnixStream::pair()?;
//!
//!     // Watch the reading end. The loop takes ownership of `reader` (and makes
//!     // it non-blocking); the callback gets it back as `&mut UnixStream`.
//!     let mut received = Vec::new();
//!     handle.add_fd(reader, Interest::READABLE, move |h, reader, ready| {
//!         assert_eq!(ready, Ready::Readable);
//!         let mut buf = [0; 64];
//!         match reader.read(&mut buf) {
//!             // End of file: the writer is gone. Stop the loop.
//!             Ok(0) => {
//!                 println!("received {:?}", String::from_utf8_lossy(&received));
//!                 h.quit().unwrap();
//!                 FdAction::Remove // drops (closes) the reading end
//!             }
//!             Ok(n) => {
//!                 received.extend_from_slice(&buf[..n]);
//!                 FdAction::Continue
//!             }
//!             // Level-triggered: if nothing was there after all, we are simply
//!             // called again when there is.
//!             Err(e) if e.kind() == io::ErrorKind::WouldBlock => FdAction::Continue,
//!             Err(e) => panic!("read failed: {e}"),
//!         }
//!     })?;
//!
//!     // A timer that writes three times, one millisecond apart, then closes
//!     // the writing end. Returning `()` ends a timer; `After` re-arms it.
//!     let mut count = 0;
//!     handle.add_timer_after(Duration::from_millis(1), move |_h| {
//!         count += 1;
//!         writer.write_all(format!("tick {count}; ").as_bytes()).unwrap();
//!         if count < 3 {
//!             ivykis::TimerAction::After(Duration::from_millis(1))
//!         } else {
//!             writer.shutdown(std::net::Shutdown::Write).unwrap();
//!             ivykis::TimerAction::Done
//!         }
//!     })?;
//!
//!     // Runs until `quit` (or until nothing is registered any more).
//!     event_loop.run();
//!     Ok(())
//! }
//! ```
//!
//! # The pieces
//!
//! - [`EventLoop`] owns the calling thread's loop; [`EventLoop::run`] runs
//!   it. It is neither `Send` nor `Sync`.
//! - [`Handle`] reaches the loop: add and remove sources, quit, read the
//!   time. Every callback gets `&Handle`.
//! - Sources: descriptors ([`Handle::add_fd`], with [`Interest`], [`Ready`]
//!   and [`FdAction`]), timers ([`Handle::add_timer_at`],
//!   [`Handle::add_timer_after`], [`TimerAction`]) and tasks
//!   ([`Handle::add_task`], [`TaskAction`]).
//! - Adding a source returns a `Copy` token ([`FdToken`], [`TimerToken`],
//!   [`TaskToken`], or any of them as a [`Token`]). A token of a removed
//!   source is stale ([`Error::Stale`]) and can never reach another source,
//!   and a handle whose loop is gone answers [`Error::LoopGone`]; neither is
//!   ever undefined behaviour.
//! - A callback says what happens to its source by what it returns: `()`
//!   keeps a descriptor source and ends a timer or task; the action enums
//!   re-arm a timer, repeat a task, change a descriptor's interest or remove
//!   it. Re-arming, repeating and changing interest allocate nothing. (A
//!   closure whose body only panics needs its return type spelled out, as in
//!   `|_| -> TimerAction { unreachable!() }`: Rust cannot infer it.)
//! - Adding a source boxes its closure once. Programs that must not
//!   allocate in steady state keep their timers and tasks instead of adding
//!   new ones: [`Handle::disarm`] / [`TimerAction::Idle`] keep a timer
//!   unarmed for [`Handle::set_deadline`] to arm again, and
//!   [`TaskAction::Idle`] keeps a task for [`Handle::post_task`].
//! - [`Instant`] is a point on the loop's clock.
//! - Other threads reach a loop through cross-thread sources: an event
//!   ([`Handle::add_event`]) is woken by a [`Poster`], a channel
//!   ([`Handle::add_channel`]) receives values from a [`Sender`]; both are
//!   `Send + Sync + Clone` and answer [`PostError`] once the source or its
//!   loop is gone. A [`WorkPool`] runs closures on worker threads and hands
//!   their results to completions on the loop's thread.
//! - Child processes: [`Handle::watch_child`] and [`Handle::spawn`] (a
//!   [`std::process::Command`]) deliver a child's [`ChildStatus`] changes to
//!   a callback, and [`Handle::kill_child`] signals it without ever hitting
//!   a reused pid; [`Handle::popen`] starts a program with a pipe to it and
//!   a [`Popen`] that ends it in the background.
//!
//! # Implementation notes
//!
//! **One iteration.** Fire the due timers, in deadline order; run one round
//! of pending tasks; return if [`Handle::quit`] was called or nothing is
//! registered; wait for readiness (not at all if tasks are pending, else at
//! most until the next timer); call the ready descriptors' callbacks.
//!
//! **Level-triggered.** A descriptor's callback is called in every iteration
//! in which the descriptor is ready for a band it is interested in, once per
//! band, in the order [`Ready::Error`], [`Ready::Readable`],
//! [`Ready::Writable`]. There is no need to drain a socket in one call;
//! whatever is left is reported again. Switching on interest in a band that
//! is already ready gives a callback in the next iteration. An error or
//! hang-up makes all three bands ready; without [`Interest::ERROR`], it shows
//! up through the read or write that follows.
//!
//! **Ownership.** The loop owns each registered descriptor object, so a
//! descriptor cannot be closed while the kernel watches it; removing the
//! source (or dropping the loop) drops the object after the kernel
//! registration is gone. Registration makes the descriptor non-blocking and
//! close-on-exec; for a descriptor shared with other code, such as the
//! standard input of a terminal, the non-blocking flag affects that code too.
//!
//! **Re-entrancy.** Callbacks run one at a time and are never preempted. A
//! callback may add and remove any source of its loop, its own included, and
//! quit; a removed source is not called again, even if it was ready in the
//! same iteration. Calling [`EventLoop::run`] from a callback (a nested run)
//! panics. Destructors of callbacks and descriptor objects never run while
//! the loop holds internal state borrowed, so they may use handles too.
//!
//! **Panics.** A panic in a callback unwinds out of [`EventLoop::run`]; the
//! loop stays usable. A descriptor source whose callback panicked stays
//! registered; a timer or task whose callback panicked is consumed. See
//! [`EventLoop::run`].
//!
//! **Time.** The loop caches the time ([`Handle::now`]): it marks the cache
//! stale after every wait, and the first read after that reads the clock.
//! So the callbacks run between two waits see the same instant, and reading
//! it costs nothing; [`Handle::invalidate_now`] forces a fresh reading.
//! Timers are measured against it and never fire early.
//!
//! **Cost.** In steady state (once the loop's tables have grown to their
//! peak), dispatching a ready descriptor, changing interest, re-arming a
//! timer and repeating a task allocate nothing. Interest changes are applied
//! lazily: the kernel hears the net change just before the loop waits, so
//! toggling a band costs no system call until then.
//!
//! # Poll methods
//!
//! The loop waits with the best method the system offers: on Linux, epoll
//! (`epoll_pwait2` where the kernel has it), then `ppoll`, then `poll`; on
//! the BSDs and macOS, kqueue, then `poll` (`ppoll` too on FreeBSD). The
//! method is chosen once per process, by the first loop created: the best
//! one not named in the environment variable `IV_EXCLUDE_POLL_METHOD` (a
//! space-separated list such as `"epoll ppoll"`; ignored in set-uid
//! programs). [`EventLoop::poll_method`] names the method in use. All
//! methods behave the same through this API (level-triggered, same dispatch
//! order), with one difference: epoll refuses regular files
//! ([`Handle::add_fd`] returns `EPERM`), while the others accept them and
//! report them always ready.
//!
//! The test suite runs once per Linux method. The kqueue backend is
//! type-checked, not yet run on a real BSD or macOS kernel.
//!
//! # Threads
//!
//! Every thread may have one loop, independent of the others; loops,
//! handles and their callbacks stay on their thread (none of them is
//! `Send`). Only [`Poster`] and [`Sender`] cross threads, to wake a loop or
//! hand it values. Tokens are plain data: a token sent to another thread
//! names nothing there.
//!
//! The first loop of the process also sets `SIGPIPE` to ignored (a write to
//! a closed socket then fails with `EPIPE` instead of killing the process)
//! and raises the soft limit on open descriptors, as the C library does.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod engine;
#[doc(hidden)]
pub mod sys;

mod channel;
mod child;
mod error;
mod event;
mod event_loop;
mod fd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod inotify;
mod popen;
mod pump;
mod registry;
mod signal;
mod task;
mod time;
mod timer;
mod work;

pub use channel::{ChannelToken, SendError, Sender};
pub use child::{ChildAction, ChildStatus, ChildToken, ResourceUsage, SpawnedChild};
pub use error::Error;
pub use event::{EventAction, EventToken, PostError, Poster};
pub use event_loop::{EventLoop, Handle, Token};
pub use fd::{FdAction, FdToken, Interest, Ready};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use inotify::{EventMask, InotifyToken, WatchAction, WatchEvent, WatchMask, WatchToken};
pub use popen::{Popen, PopenMode};
pub use pump::{Pump, PumpOptions, PumpStatus, PumpToken};
pub use signal::{SignalAction, SignalFlags, SignalToken};
pub use task::{TaskAction, TaskToken};
pub use time::Instant;
pub use timer::{TimerAction, TimerToken};
pub use work::WorkPool;
