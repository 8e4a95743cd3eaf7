//! Cross-thread event and channel sources through the Rust API (SPEC 6).

mod util;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use ivykis::{Error, EventAction, EventLoop, Handle, PostError, Poster, SendError, Sender, Token};
use util::Log;

/// Fails the test instead of hanging it.
fn watchdog(handle: &Handle) {
    util::watchdog_after(
        handle,
        Duration::from_secs(60),
        "the loop waited 60 s for a post that never came",
    );
}

#[test]
fn posters_are_send_sync_clone_and_static() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Poster>();
    check::<Sender<String>>();
    check::<Sender<Vec<u8>>>();
}

#[test]
fn posts_before_the_callback_coalesce_and_a_post_during_it_gives_another_call() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    let poster_cell: Rc<Cell<Option<Poster>>> = Rc::new(Cell::new(None));
    let inner = poster_cell.clone();
    let (token, poster) = handle
        .add_event(move |_h| {
            seen.set(seen.get() + 1);
            match seen.get() {
                // Posting from the callback itself: not lost.
                1 => {
                    let p = inner.take().unwrap();
                    p.post().unwrap();
                    p.post().unwrap();
                    EventAction::Continue
                }
                _ => EventAction::Remove,
            }
        })
        .unwrap();
    poster_cell.set(Some(poster.clone()));
    for _ in 0..5 {
        poster.post().unwrap();
    }
    assert_eq!(calls.get(), 0, "never synchronous");
    event_loop.run();
    assert_eq!(
        calls.get(),
        2,
        "five posts: one call; two posts in it: one more"
    );
    assert!(!handle.is_registered(token));
    assert_eq!(poster.post(), Err(PostError::Removed));
}

#[test]
fn every_post_from_many_threads_is_accounted_for() {
    const THREADS: u64 = 8;
    const POSTS: u64 = 5_000;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    watchdog(&handle);
    // Each post is announced in `sent` first; the callback takes what was
    // announced. A lost wake-up leaves announced posts untaken: the loop
    // would sleep until the watchdog fires.
    let sent = Arc::new(AtomicU64::new(0));
    let taken = Rc::new(Cell::new(0u64));
    let calls = Rc::new(Cell::new(0u64));
    let (s, t, c) = (sent.clone(), taken.clone(), calls.clone());
    let (_token, poster) = handle
        .add_event(move |h| {
            c.set(c.get() + 1);
            t.set(t.get() + s.swap(0, SeqCst));
            if t.get() == THREADS * POSTS {
                h.quit().unwrap();
            }
        })
        .unwrap();
    let start = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (poster, sent, start) = (poster.clone(), sent.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..POSTS {
                    sent.fetch_add(1, SeqCst);
                    poster.post().unwrap();
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    event_loop.run();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(taken.get(), THREADS * POSTS);
    assert!(calls.get() >= 1 && calls.get() <= THREADS * POSTS);
}

#[test]
fn ping_pong_between_two_loops() {
    const ROUNDS: u32 = 2_000;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    watchdog(&handle);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Poster>();
    // The other side: a thread with its own loop, answering every ping.
    let (to_main_tx, to_main_rx) = std::sync::mpsc::channel::<Poster>();
    let other = thread::spawn(move || {
        let event_loop = EventLoop::new().unwrap();
        let back = to_main_rx.recv().unwrap();
        let pongs = Rc::new(Cell::new(0));
        let count = pongs.clone();
        let (_t, ping) = event_loop
            .handle()
            .add_event(move |_h| {
                count.set(count.get() + 1);
                back.post().unwrap();
                if count.get() == ROUNDS {
                    EventAction::Remove
                } else {
                    EventAction::Continue
                }
            })
            .unwrap();
        ready_tx.send(ping).unwrap();
        event_loop.run();
        pongs.get()
    });
    let mut pings = 0;
    let ping_cell: Rc<Cell<Option<Poster>>> = Rc::new(Cell::new(None));
    let cell = ping_cell.clone();
    let (_t, pong) = handle
        .add_event(move |h| {
            pings += 1;
            if pings == ROUNDS {
                h.quit().unwrap();
                return;
            }
            let ping = cell.take().unwrap();
            ping.post().unwrap();
            cell.set(Some(ping));
        })
        .unwrap();
    to_main_tx.send(pong).unwrap();
    let ping = ready_rx.recv().unwrap();
    ping.post().unwrap();
    ping_cell.set(Some(ping));
    event_loop.run();
    assert_eq!(other.join().unwrap(), ROUNDS);
}

#[test]
fn post_after_remove_is_refused_and_reaches_no_other_source() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (old, old_poster) = handle
        .add_event(|_h| -> () { panic!("removed source called") })
        .unwrap();
    old_poster.post().unwrap(); // queued, then removed before the loop runs
    handle.remove(old).unwrap();
    assert_eq!(old_poster.post(), Err(PostError::Removed));
    assert!(matches!(handle.remove(old), Err(Error::Stale)));
    assert!(!handle.is_registered(old));

    // A new source (likely in the same slots) is not reached by the old
    // poster.
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    let (new, new_poster) = handle
        .add_event(move |_h| seen.set(seen.get() + 1))
        .unwrap();
    assert!(handle.is_registered(new));
    assert!(handle.is_registered(Token::Event(new)));
    assert_eq!(old_poster.post(), Err(PostError::Removed));
    handle
        .add_timer_after(Duration::from_millis(20), move |h| {
            h.remove(new).unwrap();
        })
        .unwrap();
    event_loop.run();
    assert_eq!(
        calls.get(),
        0,
        "the old poster must not reach the new source"
    );
    assert_eq!(new_poster.post(), Err(PostError::Removed));
}

#[test]
fn removing_from_its_own_callback() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let token_cell = Rc::new(Cell::new(None));
    let cell = token_cell.clone();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    let (token, poster) = handle
        .add_event(move |h| {
            seen.set(seen.get() + 1);
            h.remove(cell.get().unwrap()).unwrap();
            // Returning Remove after removing is fine too.
            EventAction::Remove
        })
        .unwrap();
    token_cell.set(Some(token));
    poster.post().unwrap();
    event_loop.run();
    assert_eq!(calls.get(), 1);
    assert_eq!(poster.post(), Err(PostError::Removed));
}

#[test]
fn post_after_the_loop_is_gone_is_refused_on_any_thread() {
    let event_loop = EventLoop::new().unwrap();
    let (_token, poster) = event_loop.handle().add_event(|_h| {}).unwrap();
    poster.post().unwrap(); // pending when the loop goes
    let elsewhere = poster.clone();
    drop(event_loop);
    assert_eq!(poster.post(), Err(PostError::LoopGone));
    let from_thread = thread::spawn(move || {
        let result = elsewhere.post();
        drop(elsewhere); // the last clone dies on another thread
        result
    })
    .join()
    .unwrap();
    assert_eq!(from_thread, Err(PostError::LoopGone));
    // A newer loop on this thread is not reached either.
    let newer = EventLoop::new().unwrap();
    assert_eq!(poster.post(), Err(PostError::LoopGone));
    assert_eq!(
        Error::from(PostError::LoopGone).to_string(),
        Error::LoopGone.to_string()
    );
    drop(newer);
}

#[test]
fn a_poster_outlives_its_loop_in_another_thread() {
    let (tx, rx) = std::sync::mpsc::channel();
    let loop_thread = thread::spawn(move || {
        let event_loop = EventLoop::new().unwrap();
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let (_token, poster) = event_loop
            .handle()
            .add_event(move |h| {
                seen.set(seen.get() + 1);
                h.quit().unwrap();
            })
            .unwrap();
        tx.send(poster).unwrap();
        event_loop.run();
        // The loop (and this thread) ends while the poster lives on.
        calls.get()
    });
    let poster = rx.recv().unwrap();
    poster.post().unwrap();
    assert_eq!(loop_thread.join().unwrap(), 1);
    for _ in 0..3 {
        assert_eq!(poster.post(), Err(PostError::LoopGone));
    }
    drop(poster);
}

#[test]
fn posts_racing_with_removal_never_reach_a_removed_source() {
    const THREADS: usize = 4;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    watchdog(&handle);
    let removed = Rc::new(Cell::new(false));
    let calls = Rc::new(Cell::new(0u32));
    let (r, c) = (removed.clone(), calls.clone());
    let (token, poster) = handle
        .add_event(move |_h| {
            assert!(!r.get(), "called after removal");
            c.set(c.get() + 1);
        })
        .unwrap();
    let ok_posts = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (poster, ok_posts) = (poster.clone(), ok_posts.clone());
            thread::spawn(move || loop {
                match poster.post() {
                    Ok(()) => {
                        ok_posts.fetch_add(1, SeqCst);
                    }
                    Err(e) => return e,
                }
            })
        })
        .collect();
    // Remove it after a few calls, from a timer, while posts keep coming.
    let c = calls.clone();
    let r = removed.clone();
    handle
        .add_timer_after(Duration::from_millis(1), move |h| {
            if c.get() < 10 {
                return ivykis::TimerAction::After(Duration::from_millis(1));
            }
            h.remove(token).unwrap();
            r.set(true);
            // Stale keys may still be queued in the hub: let the loop take
            // them, for a while, then stop.
            h.add_timer_after(Duration::from_millis(20), |h| h.quit().unwrap())
                .unwrap();
            ivykis::TimerAction::Done
        })
        .unwrap();
    event_loop.run();
    for t in threads {
        assert_eq!(t.join().unwrap(), PostError::Removed);
    }
    assert!(calls.get() >= 10);
    assert!(ok_posts.load(SeqCst) >= 10);
}

#[test]
fn a_panicking_event_callback_keeps_its_source() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    let (token, poster) = handle
        .add_event(move |_h| {
            seen.set(seen.get() + 1);
            if seen.get() == 1 {
                panic!("first call fails");
            }
            EventAction::Remove
        })
        .unwrap();
    poster.post().unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| event_loop.run()));
    assert!(result.is_err());
    assert!(handle.is_registered(token));
    poster.post().unwrap();
    event_loop.run();
    assert_eq!(calls.get(), 2);
}

#[test]
fn an_event_source_keeps_run_going_until_removed() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let (token, _poster) = handle.add_event(|_h| {}).unwrap();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    handle
        .add_timer_after(Duration::from_millis(5), move |h| {
            f.set(true);
            h.remove(token).unwrap();
        })
        .unwrap();
    event_loop.run();
    assert!(fired.get(), "run returned before the event was removed");
}

// ---------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------

#[test]
fn a_channel_delivers_every_value_in_order_per_sender() {
    const SENDERS: usize = 6;
    const VALUES: u32 = 5_000;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    watchdog(&handle);
    let next = Rc::new(std::cell::RefCell::new(vec![0u32; SENDERS]));
    let total = Rc::new(Cell::new(0usize));
    let (n, t) = (next.clone(), total.clone());
    let (_token, sender) = handle
        .add_channel(move |h, (who, seq): (usize, u32)| {
            let mut next = n.borrow_mut();
            assert_eq!(seq, next[who], "sender {who}: out of order or lost");
            next[who] += 1;
            t.set(t.get() + 1);
            if t.get() == SENDERS * VALUES as usize {
                h.quit().unwrap(); // the watchdog is still registered
                EventAction::Remove
            } else {
                EventAction::Continue
            }
        })
        .unwrap();
    let threads: Vec<_> = (0..SENDERS)
        .map(|who| {
            let sender = sender.clone();
            thread::spawn(move || {
                for seq in 0..VALUES {
                    sender.send((who, seq)).unwrap();
                }
            })
        })
        .collect();
    drop(sender);
    event_loop.run();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(total.get(), SENDERS * VALUES as usize);
    assert!(next.borrow().iter().all(|&n| n == VALUES));
}

#[test]
fn a_channel_callback_sees_one_call_per_value_even_from_its_own_thread() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let l = log.clone();
    let (_token, sender) = handle
        .add_channel(move |_h, word: &'static str| {
            l.push(word);
            if word == "end" {
                EventAction::Remove
            } else {
                EventAction::Continue
            }
        })
        .unwrap();
    for word in ["a", "b", "c", "end", "after end"] {
        sender.send(word).unwrap();
    }
    event_loop.run();
    assert_eq!(log.get(), ["a", "b", "c", "end"]);
    let err = sender.send("late").unwrap_err();
    assert_eq!(err.reason(), PostError::Removed);
    assert_eq!(err.into_inner(), "late");
}

/// Counts live instances, to see that queued values are dropped.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(live: &Arc<AtomicUsize>) -> Counted {
        live.fetch_add(1, SeqCst);
        Counted(live.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[test]
fn values_queued_when_a_channel_is_removed_are_dropped_and_later_sends_give_them_back() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let live = Arc::new(AtomicUsize::new(0));
    let (token, sender) = handle
        .add_channel(|_h, _v: Counted| -> () { panic!("nothing is delivered") })
        .unwrap();
    for _ in 0..10 {
        sender.send(Counted::new(&live)).unwrap();
    }
    assert_eq!(live.load(SeqCst), 10);
    handle.remove(token).unwrap();
    assert_eq!(live.load(SeqCst), 0, "queued values are dropped on removal");
    let back: SendError<Counted> = sender.send(Counted::new(&live)).unwrap_err();
    assert_eq!(back.reason(), PostError::Removed);
    assert_eq!(live.load(SeqCst), 1, "the refused value came back");
    drop(back);
    assert_eq!(live.load(SeqCst), 0);
    assert!(matches!(
        Error::from(sender.send(Counted::new(&live)).unwrap_err()),
        Error::Stale
    ));
}

#[test]
fn sending_after_the_loop_is_gone_gives_the_value_back() {
    let event_loop = EventLoop::new().unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    let (_token, sender) = event_loop
        .handle()
        .add_channel(|_h, _v: Counted| {})
        .unwrap();
    sender.send(Counted::new(&live)).unwrap();
    drop(event_loop);
    assert_eq!(
        live.load(SeqCst),
        0,
        "queued values are dropped with the loop"
    );
    let result = thread::spawn(move || {
        let live2 = Arc::new(AtomicUsize::new(0));
        let err = sender.send(Counted::new(&live2)).unwrap_err();
        (err.reason(), live2.load(SeqCst))
    })
    .join()
    .unwrap();
    assert_eq!(result, (PostError::LoopGone, 1));
}

#[test]
fn sends_racing_with_removal_are_delivered_dropped_or_given_back() {
    const THREADS: usize = 4;
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    watchdog(&handle);
    let live = Arc::new(AtomicUsize::new(0));
    let delivered = Rc::new(Cell::new(0usize));
    let removed = Rc::new(Cell::new(false));
    let (d, r) = (delivered.clone(), removed.clone());
    let (token, sender) = handle
        .add_channel(move |_h, v: Counted| {
            assert!(!r.get(), "delivered after removal");
            d.set(d.get() + 1);
            drop(v);
        })
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sender, live, stop) = (sender.clone(), live.clone(), stop.clone());
            thread::spawn(move || {
                let mut accepted = 0usize;
                while !stop.load(SeqCst) {
                    match sender.send(Counted::new(&live)) {
                        Ok(()) => accepted += 1,
                        Err(e) => {
                            assert_eq!(e.reason(), PostError::Removed);
                            return accepted;
                        }
                    }
                }
                accepted
            })
        })
        .collect();
    drop(sender);
    let d = delivered.clone();
    let r = removed.clone();
    handle
        .add_timer_after(Duration::from_millis(1), move |h| {
            if d.get() < 100 {
                return ivykis::TimerAction::After(Duration::from_millis(1));
            }
            h.remove(token).unwrap();
            r.set(true);
            h.add_timer_after(Duration::from_millis(20), |h| h.quit().unwrap())
                .unwrap();
            ivykis::TimerAction::Done
        })
        .unwrap();
    event_loop.run();
    stop.store(true, SeqCst);
    let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(delivered.get() >= 100);
    assert!(accepted >= delivered.get());
    // Every value is accounted for: delivered (and dropped), dropped at
    // removal, or given back (and dropped by the sender).
    assert_eq!(live.load(SeqCst), 0);
}

#[test]
fn a_panicking_channel_callback_delivers_the_rest_later() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    let log = Log::new();
    let l = log.clone();
    let (token, sender) = handle
        .add_channel(move |_h, n: u32| {
            if n == 2 {
                panic!("two is bad");
            }
            l.push(n);
            if n == 4 {
                EventAction::Remove
            } else {
                EventAction::Continue
            }
        })
        .unwrap();
    for n in 1..=4 {
        sender.send(n).unwrap();
    }
    assert!(catch_unwind(AssertUnwindSafe(|| event_loop.run())).is_err());
    assert_eq!(log.get(), [1]);
    assert!(handle.is_registered(token));
    event_loop.run();
    assert_eq!(log.get(), [1, 3, 4]);
}
