//! Loom models of the hub's sleep/post handshake (`make loom`).
//!
//! The hub under test is the real [`Hub`]; only its kernel object is
//! replaced by [`ModelFd`], an eventfd made of a loom mutex and condition
//! variable: `wake` adds one, `drain` resets to zero, and the loop's wait
//! blocks until the count is non-zero without consuming it, as `epoll_wait`
//! does. The loop thread makes the calls `engine::run` makes in one
//! iteration, in its order (`wait`: `going_to_sleep`, poll, `awake`;
//! `dispatch_fds`: `clear_wakeup` when readable; `run_posted_events`:
//! `has_posts`, `take`) until it has received every key.
//!
//! A lost wake-up leaves the loop blocked for ever in its wait with keys
//! queued: loom reports the deadlock. A key taken twice or never shows in
//! the final comparison.

use super::{Hub, Wakeup};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// The model eventfd.
struct ModelFd {
    count: Mutex<u64>,
    readable: Condvar,
}

impl ModelFd {
    fn new() -> ModelFd {
        ModelFd {
            count: Mutex::new(0),
            readable: Condvar::new(),
        }
    }

    /// The loop's poll: whether the descriptor is readable; with `block`,
    /// waits until it is (the loop has nothing else to wake it).
    fn poll(&self, block: bool) -> bool {
        let mut count = self.count.lock().unwrap();
        while block && *count == 0 {
            count = self.readable.wait(count).unwrap();
        }
        *count != 0
    }
}

impl Wakeup for ModelFd {
    fn wake(&self) {
        *self.count.lock().unwrap() += 1;
        self.readable.notify_all();
    }

    fn drain(&self) {
        *self.count.lock().unwrap() = 0;
    }
}

/// The loop's side: iterations of `engine::run` until `expected` keys
/// arrived; returns them sorted.
fn run_loop(hub: &Hub<ModelFd>, expected: usize) -> Vec<u64> {
    let mut received = Vec::new();
    let mut batch = Vec::new();
    while received.len() < expected {
        let posted = hub.going_to_sleep();
        let readable = hub.wakeup.poll(!posted);
        hub.awake();
        if readable {
            hub.clear_wakeup();
        }
        if hub.has_posts() {
            hub.take(&mut batch);
            received.append(&mut batch);
        }
    }
    received.sort_unstable();
    received
}

fn poster(hub: &Arc<Hub<ModelFd>>, keys: &'static [u64]) -> thread::JoinHandle<()> {
    let hub = Arc::clone(hub);
    thread::spawn(move || {
        for &key in keys {
            hub.post(key).unwrap();
        }
    })
}

/// One poster posts twice while the loop goes to sleep and wakes.
#[test]
fn loom_model_one_poster() {
    loom::model(|| {
        let hub = Arc::new(Hub::with_wakeup(1, ModelFd::new()));
        let p = poster(&hub, &[1, 2]);
        assert_eq!(run_loop(&hub, 2), [1, 2]);
        p.join().unwrap();
    });
}

/// Two posters, one of them posting twice: a post can race both the
/// loop's sleep and its handling of an earlier wake-up.
#[test]
fn loom_model_two_posters() {
    loom::model(|| {
        let hub = Arc::new(Hub::with_wakeup(1, ModelFd::new()));
        let p1 = poster(&hub, &[1, 2]);
        let p2 = poster(&hub, &[3]);
        assert_eq!(run_loop(&hub, 3), [1, 2, 3]);
        p1.join().unwrap();
        p2.join().unwrap();
    });
}

/// A post racing `close`: refused, or accepted and dropped; never left
/// counted as queued.
#[test]
fn loom_model_post_vs_close() {
    loom::model(|| {
        let hub = Arc::new(Hub::with_wakeup(1, ModelFd::new()));
        let p = {
            let hub = Arc::clone(&hub);
            thread::spawn(move || hub.post(1))
        };
        hub.close();
        let _ = p.join().unwrap();
        assert!(!hub.has_posts());
        assert_eq!(hub.post(2), Err(super::Gone));
    });
}
