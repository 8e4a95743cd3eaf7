//! Helpers shared by the integration tests (each test binary uses a subset).
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
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
    handle
        .add_timer_after(Duration::from_secs(10), |_| -> TimerAction {
            panic!("watchdog: the loop ran for 10 s without finishing the test")
        })
        .expect("watchdog")
}
