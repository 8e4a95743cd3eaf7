//! Helpers shared by the integration tests (each test binary uses a subset).
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use ivykis::{Handle, TimerAction, TimerToken};

/// A connected pair of stream sockets.
pub fn pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

/// A pair whose second end has `data` waiting to be read.
pub fn readable_pair(data: &[u8]) -> (UnixStream, UnixStream) {
    let (mut tx, rx) = pair();
    tx.write_all(data).expect("write");
    (tx, rx)
}

/// An ordered record of what callbacks did, shared between closures.
#[derive(Clone, Default)]
pub struct Log<T>(Rc<RefCell<Vec<T>>>);

impl<T: Clone> Log<T> {
    pub fn new() -> Log<T> {
        Log(Rc::new(RefCell::new(Vec::new())))
    }

    pub fn push(&self, item: T) {
        self.0.borrow_mut().push(item);
    }

    pub fn get(&self) -> Vec<T> {
        self.0.borrow().clone()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// A slot for a token that a callback needs but that exists only after the
/// callback was registered.
#[derive(Default)]
pub struct Later<T: Copy>(Rc<Cell<Option<T>>>);

impl<T: Copy> Clone for Later<T> {
    fn clone(&self) -> Self {
        Later(self.0.clone())
    }
}

impl<T: Copy> Later<T> {
    pub fn new() -> Later<T> {
        Later(Rc::new(Cell::new(None)))
    }

    pub fn set(&self, value: T) {
        self.0.set(Some(value));
    }

    pub fn get(&self) -> T {
        self.0.get().expect("token not set yet")
    }
}

/// A descriptor object that records when it is dropped.
pub struct Tracked {
    pub stream: UnixStream,
    pub dropped: Rc<Cell<bool>>,
}

impl Tracked {
    pub fn new(stream: UnixStream) -> (Tracked, Rc<Cell<bool>>) {
        let dropped = Rc::new(Cell::new(false));
        (
            Tracked {
                stream,
                dropped: dropped.clone(),
            },
            dropped,
        )
    }
}

impl AsFd for Tracked {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

/// A timer that fails the test if the loop is still running after a few
/// seconds (instead of hanging). Remove it before expecting `run` to return
/// for lack of sources.
pub fn watchdog(handle: &Handle) -> TimerToken {
    watchdog_after(
        handle,
        Duration::from_secs(10),
        "the loop ran for 10 s without finishing the test",
    )
}

/// [`watchdog`] with its own delay and message.
pub fn watchdog_after(handle: &Handle, delay: Duration, what: &'static str) -> TimerToken {
    handle
        .add_timer_after(delay, move |_| -> TimerAction {
            panic!("watchdog: {what}")
        })
        .expect("watchdog")
}

/// Aborts the test process with a message if it is still alive `limit`
/// after this was made (for hangs a loop timer cannot catch: a thread
/// stuck outside the loop, or a loop that never wakes); dropping it
/// releases its thread.
pub struct Deadline(Option<mpsc::Sender<()>>);

impl Deadline {
    pub fn new(what: &'static str, limit: Duration) -> Deadline {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("{what}: still running after {} s", limit.as_secs());
                std::process::abort();
            }
        });
        Deadline(Some(tx))
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.0.take();
    }
}
