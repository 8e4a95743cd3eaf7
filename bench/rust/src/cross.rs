//! Cross-thread events.
//!
//! **Ping-pong**: two threads, each with its own loop and a source the
//! other thread wakes. The measuring thread wakes the helper ("ping"), the
//! helper's callback wakes the measuring thread back ("pong"). One
//! operation is one round trip: two wake-ups of a sleeping loop, two
//! callbacks. Exactly one wake-up is outstanding at any time, so nothing
//! can coalesce; checked after every run: both callbacks ran exactly once
//! per round trip.
//!
//! **Posts**: `posters` plain threads wake one source of the measuring
//! thread's loop in a tight loop, then count themselves done and wake it
//! once more; the run ends when a callback sees every poster done. One
//! operation is one post. Posts may coalesce (that is the point of the
//! workload); checked: at least one callback, at most one per post.
//!
//! - ivykis: `Handle::add_event` + `Poster::post`.
//! - mio: a `Waker` per loop plus an `AtomicBool` "pending" flag, which is
//!   the obvious way to coalesce wake-ups (only the post that raises the
//!   flag writes to the waker; the receiver lowers it before handling), so
//!   the same protocol as ivykis's `Poster`.
//! - calloop: `calloop::ping::make_ping`; every `Ping::ping` writes to the
//!   eventfd (calloop does not coalesce), and the `PingSource` reads it.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// Runs `poster` on `posters` threads, each `per_poster` times, then once
/// more after counting itself in `done`; runs `main` on this thread
/// meanwhile, and joins.
fn with_posters(
    posters: usize,
    per_poster: u64,
    done: &AtomicU64,
    poster: impl Fn() + Sync,
    main: impl FnOnce(),
) {
    std::thread::scope(|s| {
        for _ in 0..posters {
            s.spawn(|| {
                for _ in 0..per_poster {
                    poster();
                }
                done.fetch_add(1, Ordering::SeqCst);
                poster();
            });
        }
        main();
    });
}

/// The round-trip counters both threads see.
#[derive(Default)]
struct Trips {
    helper_calls: AtomicU64,
    stop: AtomicBool,
}

/// ivykis ping-pong: an event source on each loop.
pub struct IvykisPingPong {
    count: Rc<Cell<u64>>,
    target: Rc<Cell<u64>>,
    to_helper: ivykis::Poster,
    trips: Arc<Trips>,
    helper: Option<JoinHandle<()>>,
    event_loop: ivykis::EventLoop,
}

impl IvykisPingPong {
    /// The two loops and their event sources; the helper thread starts and
    /// waits in its loop.
    pub fn new() -> IvykisPingPong {
        let event_loop = ivykis::EventLoop::new().expect("ivykis loop");
        let count = Rc::new(Cell::new(0u64));
        let target = Rc::new(Cell::new(0u64));
        let to_helper_cell: Rc<OnceCell<ivykis::Poster>> = Rc::new(OnceCell::new());
        let (_token, to_main) = {
            let (count, target, to_helper) =
                (count.clone(), target.clone(), to_helper_cell.clone());
            event_loop
                .handle()
                .add_event(move |h| {
                    let c = count.get() + 1;
                    count.set(c);
                    if c == target.get() {
                        h.quit().unwrap();
                    } else {
                        to_helper.get().unwrap().post().unwrap();
                    }
                })
                .expect("add_event")
        };
        let trips = Arc::new(Trips::default());
        let (tx, rx) = mpsc::channel();
        let helper = {
            let trips = trips.clone();
            std::thread::spawn(move || {
                let event_loop = ivykis::EventLoop::new().expect("ivykis helper loop");
                let (_token, to_helper) = event_loop
                    .handle()
                    .add_event(move |_h| {
                        if trips.stop.load(Ordering::SeqCst) {
                            return ivykis::EventAction::Remove; // run returns
                        }
                        trips.helper_calls.fetch_add(1, Ordering::Relaxed);
                        to_main.post().unwrap();
                        ivykis::EventAction::Continue
                    })
                    .expect("add_event");
                tx.send(to_helper).unwrap();
                event_loop.run();
            })
        };
        let to_helper = rx.recv().expect("helper thread started");
        to_helper_cell.set(to_helper.clone()).ok().unwrap();
        IvykisPingPong {
            count,
            target,
            to_helper,
            trips,
            helper: Some(helper),
            event_loop,
        }
    }

    /// `ops` round trips.
    pub fn run(&mut self, ops: u64) {
        assert!(ops > 0);
        let before = self.trips.helper_calls.load(Ordering::SeqCst);
        self.count.set(0);
        self.target.set(ops);
        self.to_helper.post().unwrap();
        self.event_loop.run();
        assert_eq!(self.count.get(), ops);
        assert_eq!(self.trips.helper_calls.load(Ordering::SeqCst) - before, ops);
    }
}

impl Default for IvykisPingPong {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IvykisPingPong {
    fn drop(&mut self) {
        self.trips.stop.store(true, Ordering::SeqCst);
        self.to_helper.post().unwrap();
        if let Some(helper) = self.helper.take() {
            helper.join().unwrap();
        }
    }
}

/// A mio loop's wake-up: a `Waker` and the coalescing flag.
pub struct Mailbox {
    waker: mio::Waker,
    pending: AtomicBool,
}

const WAKE: mio::Token = mio::Token(0);

impl Mailbox {
    /// A poll with a waker registered under [`WAKE`].
    fn new() -> (mio::Poll, Arc<Mailbox>) {
        let poll = mio::Poll::new().expect("mio poll");
        let waker = mio::Waker::new(poll.registry(), WAKE).expect("mio waker");
        let mailbox = Arc::new(Mailbox {
            waker,
            pending: AtomicBool::new(false),
        });
        (poll, mailbox)
    }

    /// Posts: only the post that raises the flag wakes the loop.
    #[inline]
    pub fn post(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            self.waker.wake().expect("mio wake");
        }
    }

    /// Takes the posts made so far; `true` if there were any.
    #[inline]
    fn take(&self) -> bool {
        self.pending.swap(false, Ordering::SeqCst)
    }
}

/// Waits on `poll` and calls `on_post` for every wake-up with posts, until
/// it returns `true`.
fn mio_serve(
    poll: &mut mio::Poll,
    events: &mut mio::Events,
    mailbox: &Mailbox,
    mut on_post: impl FnMut() -> bool,
) {
    loop {
        poll.poll(events, None).expect("mio poll");
        for event in events.iter() {
            if event.token() == WAKE && mailbox.take() && on_post() {
                return;
            }
        }
    }
}

/// mio ping-pong: a `Poll` and a [`Mailbox`] on each thread.
pub struct MioPingPong {
    poll: mio::Poll,
    events: mio::Events,
    mailbox: Arc<Mailbox>,
    to_helper: Arc<Mailbox>,
    trips: Arc<Trips>,
    helper: Option<JoinHandle<()>>,
}

impl MioPingPong {
    /// Both polls; the helper thread starts and waits in its poll.
    pub fn new() -> MioPingPong {
        let (poll, mailbox) = Mailbox::new();
        let trips = Arc::new(Trips::default());
        let (tx, rx) = mpsc::channel();
        let helper = {
            let (trips, to_main) = (trips.clone(), mailbox.clone());
            std::thread::spawn(move || {
                let (mut poll, mailbox) = Mailbox::new();
                let mut events = mio::Events::with_capacity(64);
                tx.send(mailbox.clone()).unwrap();
                mio_serve(&mut poll, &mut events, &mailbox, || {
                    if trips.stop.load(Ordering::SeqCst) {
                        return true;
                    }
                    trips.helper_calls.fetch_add(1, Ordering::Relaxed);
                    to_main.post();
                    false
                });
            })
        };
        let to_helper = rx.recv().expect("helper thread started");
        MioPingPong {
            poll,
            events: mio::Events::with_capacity(64),
            mailbox,
            to_helper,
            trips,
            helper: Some(helper),
        }
    }

    /// `ops` round trips.
    pub fn run(&mut self, ops: u64) {
        assert!(ops > 0);
        let before = self.trips.helper_calls.load(Ordering::SeqCst);
        let mut count = 0;
        self.to_helper.post();
        let to_helper = &self.to_helper;
        mio_serve(&mut self.poll, &mut self.events, &self.mailbox, || {
            count += 1;
            if count == ops {
                return true;
            }
            to_helper.post();
            false
        });
        assert_eq!(count, ops);
        assert_eq!(self.trips.helper_calls.load(Ordering::SeqCst) - before, ops);
    }
}

impl Default for MioPingPong {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MioPingPong {
    fn drop(&mut self) {
        self.trips.stop.store(true, Ordering::SeqCst);
        self.to_helper.post();
        if let Some(helper) = self.helper.take() {
            helper.join().unwrap();
        }
    }
}

/// What the measuring thread's calloop callbacks reach.
pub struct CalloopMain {
    count: u64,
    target: u64,
    done: bool,
    to_helper: Option<calloop::ping::Ping>,
}

/// calloop ping-pong: a `PingSource` on each loop.
pub struct CalloopPingPong {
    data: CalloopMain,
    trips: Arc<Trips>,
    helper: Option<JoinHandle<()>>,
    event_loop: calloop::EventLoop<'static, CalloopMain>,
}

impl CalloopPingPong {
    /// Both loops; the helper thread starts and waits in its loop.
    pub fn new() -> CalloopPingPong {
        let event_loop = calloop::EventLoop::try_new().expect("calloop loop");
        let (to_main, source) = calloop::ping::make_ping().expect("ping");
        event_loop
            .handle()
            .insert_source(source, |(), &mut (), data: &mut CalloopMain| {
                data.count += 1;
                if data.count == data.target {
                    data.done = true;
                } else {
                    data.to_helper.as_ref().unwrap().ping();
                }
            })
            .expect("calloop insert_source");
        let trips = Arc::new(Trips::default());
        let (tx, rx) = mpsc::channel();
        let helper = {
            let trips = trips.clone();
            std::thread::spawn(move || {
                let mut event_loop: calloop::EventLoop<'static, bool> =
                    calloop::EventLoop::try_new().expect("calloop helper loop");
                let (to_helper, source) = calloop::ping::make_ping().expect("ping");
                event_loop
                    .handle()
                    .insert_source(source, move |(), &mut (), stop: &mut bool| {
                        if trips.stop.load(Ordering::SeqCst) {
                            *stop = true;
                            return;
                        }
                        trips.helper_calls.fetch_add(1, Ordering::Relaxed);
                        to_main.ping();
                    })
                    .expect("calloop insert_source");
                tx.send(to_helper).unwrap();
                let mut stop = false;
                while !stop {
                    event_loop
                        .dispatch(None, &mut stop)
                        .expect("calloop dispatch");
                }
            })
        };
        let to_helper = rx.recv().expect("helper thread started");
        CalloopPingPong {
            data: CalloopMain {
                count: 0,
                target: 0,
                done: false,
                to_helper: Some(to_helper),
            },
            trips,
            helper: Some(helper),
            event_loop,
        }
    }

    /// `ops` round trips.
    pub fn run(&mut self, ops: u64) {
        assert!(ops > 0);
        let before = self.trips.helper_calls.load(Ordering::SeqCst);
        self.data.count = 0;
        self.data.target = ops;
        self.data.done = false;
        self.data.to_helper.as_ref().unwrap().ping();
        while !self.data.done {
            self.event_loop
                .dispatch(None, &mut self.data)
                .expect("calloop dispatch");
        }
        assert_eq!(self.data.count, ops);
        assert_eq!(self.trips.helper_calls.load(Ordering::SeqCst) - before, ops);
    }
}

impl Default for CalloopPingPong {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CalloopPingPong {
    fn drop(&mut self) {
        self.trips.stop.store(true, Ordering::SeqCst);
        self.data.to_helper.as_ref().unwrap().ping();
        if let Some(helper) = self.helper.take() {
            helper.join().unwrap();
        }
    }
}

/// Posts per poster for a run of about `ops` posts.
fn per_poster(ops: u64, posters: usize) -> u64 {
    (ops / posters as u64).max(1)
}

/// The posts workload's counters. `done` is shared with the posters; the
/// rest stays on the loop's thread.
struct PostCount {
    posters: usize,
    done: Arc<AtomicU64>,
    calls: Cell<u64>,
}

impl PostCount {
    fn new(posters: usize) -> PostCount {
        assert!(posters > 0);
        PostCount {
            posters,
            done: Arc::new(AtomicU64::new(0)),
            calls: Cell::new(0),
        }
    }

    fn start(&self) -> Arc<AtomicU64> {
        self.done.store(0, Ordering::SeqCst);
        self.calls.set(0);
        self.done.clone()
    }

    /// One callback; `true` once every poster is done.
    #[inline]
    fn call(&self) -> bool {
        self.calls.set(self.calls.get() + 1);
        self.done.load(Ordering::SeqCst) == self.posters as u64
    }

    /// Returns the number of posts of the run.
    fn check(&self, per_poster: u64) -> u64 {
        let posts = (per_poster + 1) * self.posters as u64;
        assert_eq!(self.done.load(Ordering::SeqCst), self.posters as u64);
        assert!(self.calls.get() >= 1 && self.calls.get() <= posts);
        posts
    }
}

/// ivykis posts: one event source, `posters` threads posting it.
pub struct IvykisPosts {
    count: Rc<PostCount>,
    poster: ivykis::Poster,
    event_loop: ivykis::EventLoop,
}

impl IvykisPosts {
    /// The loop and its event source.
    pub fn new(posters: usize) -> IvykisPosts {
        let event_loop = ivykis::EventLoop::new().expect("ivykis loop");
        let count = Rc::new(PostCount::new(posters));
        let (_token, poster) = {
            let count = count.clone();
            event_loop
                .handle()
                .add_event(move |h| {
                    if count.call() {
                        h.quit().unwrap();
                    }
                })
                .expect("add_event")
        };
        IvykisPosts {
            count,
            poster,
            event_loop,
        }
    }

    /// About `ops` posts (a multiple of the number of posters, plus one
    /// final post each); returns how many were made.
    pub fn run(&mut self, ops: u64) -> u64 {
        let per = per_poster(ops, self.count.posters);
        let done = self.count.start();
        let poster = &self.poster;
        let event_loop = &self.event_loop;
        with_posters(
            self.count.posters,
            per,
            &done,
            || poster.post().unwrap(),
            || event_loop.run(),
        );
        self.count.check(per)
    }
}

/// mio posts: a `Poll` and a [`Mailbox`], `posters` threads posting it.
pub struct MioPosts {
    count: PostCount,
    poll: mio::Poll,
    events: mio::Events,
    mailbox: Arc<Mailbox>,
}

impl MioPosts {
    /// The poll and its waker.
    pub fn new(posters: usize) -> MioPosts {
        let (poll, mailbox) = Mailbox::new();
        MioPosts {
            count: PostCount::new(posters),
            poll,
            events: mio::Events::with_capacity(64),
            mailbox,
        }
    }

    /// About `ops` posts; returns how many were made.
    pub fn run(&mut self, ops: u64) -> u64 {
        let per = per_poster(ops, self.count.posters);
        let done = self.count.start();
        let (poll, events, mailbox, count) = (
            &mut self.poll,
            &mut self.events,
            &*self.mailbox,
            &self.count,
        );
        with_posters(
            count.posters,
            per,
            &done,
            || mailbox.post(),
            || mio_serve(poll, events, mailbox, || count.call()),
        );
        self.count.check(per)
    }
}

/// What the calloop posts callback reaches.
pub struct CalloopPostData {
    count: PostCount,
    finished: bool,
}

/// calloop posts: a `PingSource`, `posters` threads pinging it.
pub struct CalloopPosts {
    data: CalloopPostData,
    ping: calloop::ping::Ping,
    event_loop: calloop::EventLoop<'static, CalloopPostData>,
}

impl CalloopPosts {
    /// The loop and its ping source.
    pub fn new(posters: usize) -> CalloopPosts {
        let event_loop = calloop::EventLoop::try_new().expect("calloop loop");
        let (ping, source) = calloop::ping::make_ping().expect("ping");
        event_loop
            .handle()
            .insert_source(source, |(), &mut (), data: &mut CalloopPostData| {
                if data.count.call() {
                    data.finished = true;
                }
            })
            .expect("calloop insert_source");
        CalloopPosts {
            data: CalloopPostData {
                count: PostCount::new(posters),
                finished: false,
            },
            ping,
            event_loop,
        }
    }

    /// About `ops` posts; returns how many were made.
    pub fn run(&mut self, ops: u64) -> u64 {
        let per = per_poster(ops, self.data.count.posters);
        let done = self.data.count.start();
        self.data.finished = false;
        let (event_loop, data, ping) = (&mut self.event_loop, &mut self.data, &self.ping);
        with_posters(
            data.count.posters,
            per,
            &done,
            || ping.ping(),
            || {
                while !data.finished {
                    event_loop.dispatch(None, data).expect("calloop dispatch");
                }
            },
        );
        self.data.count.check(per)
    }
}
