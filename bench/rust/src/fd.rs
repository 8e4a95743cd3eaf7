//! fd ping-pong: descriptor dispatch with many idle descriptors.
//!
//! `fds` pipes are created and the read end of every one is registered for
//! readability. `active` of them, spread evenly over the set, form a ring:
//! one token byte travels around it. One operation is one hop: the loop
//! reports one ready read end, its handler reads the byte and writes it
//! into the next pipe of the ring. A run of `ops` hops ends when the
//! handler of the last hop stops the loop instead of passing the token on.
//!
//! Checked after every run: every handler call found exactly one byte, no
//! idle descriptor's handler ever ran, and the ring members together ran
//! exactly once per hop.
//!
//! mio is edge-triggered: its handler reads once into a two-byte buffer,
//! and a short read (one byte) means the pipe is empty, so it needs no
//! second `read` to see `WouldBlock` (the next write makes a new edge).
//! That is what a careful mio user does for a pipe; ivykis and calloop
//! (level-triggered here) read once too, so all three make the same system
//! calls per hop: one wait, one read, one write.

use std::cell::Cell;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;

/// What the three implementations share: the write ends, the ring, the
/// counters.
struct Ring {
    writers: Vec<PipeWriter>,
    /// Index of the next ring member; `None` for an idle descriptor.
    next: Vec<Option<usize>>,
    first: usize,
    calls: Vec<Cell<u64>>,
    hops: Cell<u64>,
    target: Cell<u64>,
    total_hops: Cell<u64>,
    bad: Cell<u64>,
}

impl Ring {
    /// Makes the pipes; returns the ring and the read ends.
    fn new(fds: usize, active: usize) -> (Ring, Vec<PipeReader>) {
        assert!(fds >= 1 && (1..=fds).contains(&active));
        let mut readers = Vec::with_capacity(fds);
        let mut writers = Vec::with_capacity(fds);
        for i in 0..fds {
            let (r, w) = io::pipe().unwrap_or_else(|e| {
                panic!("pipe #{i}: {e} (raise the descriptor limit: ulimit -n)")
            });
            rustix::io::ioctl_fionbio(r.as_fd(), true).expect("non-blocking read end");
            readers.push(r);
            writers.push(w);
        }
        // Ring members at evenly spaced indices, as in bench/c/fd_pingpong.c.
        let members: Vec<usize> = (0..active).map(|i| i * fds / active).collect();
        let mut next = vec![None; fds];
        for (k, &m) in members.iter().enumerate() {
            next[m] = Some(members[(k + 1) % active]);
        }
        let ring = Ring {
            writers,
            next,
            first: members[0],
            calls: (0..fds).map(|_| Cell::new(0)).collect(),
            hops: Cell::new(0),
            target: Cell::new(0),
            total_hops: Cell::new(0),
            bad: Cell::new(0),
        };
        (ring, readers)
    }

    fn send(&self, to: usize) {
        let n = (&self.writers[to]).write(b"t").expect("write token");
        assert_eq!(n, 1);
    }

    fn start(&self, ops: u64) {
        assert!(ops > 0);
        self.hops.set(0);
        self.target.set(ops);
        self.send(self.first);
    }

    /// One handler call for read end `i`. Returns `true` once the run's
    /// last hop is done (the token is then not passed on).
    #[inline]
    fn hop(&self, i: usize, reader: &PipeReader) -> bool {
        let calls = &self.calls[i];
        calls.set(calls.get() + 1);
        let mut buf = [0u8; 2];
        match (&*reader).read(&mut buf) {
            Ok(1) => {}
            Ok(_) | Err(_) => {
                self.bad.set(self.bad.get() + 1);
                return false;
            }
        }
        let Some(next) = self.next[i] else {
            self.bad.set(self.bad.get() + 1);
            return false;
        };
        let hops = self.hops.get() + 1;
        self.hops.set(hops);
        if hops == self.target.get() {
            return true;
        }
        self.send(next);
        false
    }

    fn finish(&self) {
        assert_eq!(self.hops.get(), self.target.get(), "run ended early");
        self.total_hops.set(self.total_hops.get() + self.hops.get());
    }

    fn check(&self) {
        assert_eq!(self.bad.get(), 0, "handler calls that found no token");
        let mut ring_calls = 0;
        for (i, calls) in self.calls.iter().enumerate() {
            if self.next[i].is_some() {
                ring_calls += calls.get();
            } else {
                assert_eq!(calls.get(), 0, "idle descriptor {i} was called");
            }
        }
        assert_eq!(ring_calls, self.total_hops.get());
    }
}

/// The ivykis Rust face: `Handle::add_fd` per read end, `Handle::quit` to
/// end a run.
pub struct IvykisRing {
    ring: Rc<Ring>,
    event_loop: ivykis::EventLoop,
}

impl IvykisRing {
    /// The pipes and the loop, every read end registered.
    pub fn new(fds: usize, active: usize) -> IvykisRing {
        let event_loop = ivykis::EventLoop::new().expect("ivykis loop");
        let handle = event_loop.handle();
        let (ring, readers) = Ring::new(fds, active);
        let ring = Rc::new(ring);
        for (i, reader) in readers.into_iter().enumerate() {
            let ring = Rc::clone(&ring);
            handle
                .add_fd(reader, ivykis::Interest::READABLE, move |h, r, _ready| {
                    if ring.hop(i, r) {
                        h.quit().unwrap();
                    }
                })
                .expect("add_fd");
        }
        IvykisRing { ring, event_loop }
    }

    /// `ops` hops.
    pub fn run(&mut self, ops: u64) {
        self.ring.start(ops);
        self.event_loop.run();
        self.ring.finish();
    }

    /// The counts of every run so far (see the module docs).
    pub fn check(&self) {
        self.ring.check();
    }
}

/// mio: one `Poll`, the read ends registered with `SourceFd` under their
/// index as token, a hand-written dispatch loop.
pub struct MioRing {
    ring: Ring,
    readers: Vec<PipeReader>,
    poll: mio::Poll,
    events: mio::Events,
}

impl MioRing {
    /// The pipes and the poll, every read end registered.
    pub fn new(fds: usize, active: usize) -> MioRing {
        let poll = mio::Poll::new().expect("mio poll");
        let (ring, readers) = Ring::new(fds, active);
        for (i, r) in readers.iter().enumerate() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&r.as_raw_fd()),
                    mio::Token(i),
                    mio::Interest::READABLE,
                )
                .expect("mio register");
        }
        MioRing {
            ring,
            readers,
            poll,
            events: mio::Events::with_capacity(256),
        }
    }

    /// `ops` hops.
    pub fn run(&mut self, ops: u64) {
        self.ring.start(ops);
        let mut done = false;
        while !done {
            self.poll.poll(&mut self.events, None).expect("mio poll");
            for event in self.events.iter() {
                let i = event.token().0;
                done |= self.ring.hop(i, &self.readers[i]);
            }
        }
        self.ring.finish();
    }

    /// The counts of every run so far (see the module docs).
    pub fn check(&self) {
        self.ring.check();
    }
}

/// What calloop's callbacks reach (its shared `Data`).
pub struct CalloopData {
    ring: Ring,
    done: bool,
}

/// calloop: a level-triggered `Generic` source per read end; `dispatch`
/// until the last hop.
pub struct CalloopRing {
    data: CalloopData,
    event_loop: calloop::EventLoop<'static, CalloopData>,
}

impl CalloopRing {
    /// The pipes and the loop, every read end registered.
    pub fn new(fds: usize, active: usize) -> CalloopRing {
        use calloop::generic::Generic;
        use calloop::{Interest, Mode, PostAction};
        let event_loop = calloop::EventLoop::try_new().expect("calloop loop");
        let handle = event_loop.handle();
        let (ring, readers) = Ring::new(fds, active);
        for (i, reader) in readers.into_iter().enumerate() {
            handle
                .insert_source(
                    Generic::new(reader, Interest::READ, Mode::Level),
                    move |_readiness, r, data: &mut CalloopData| {
                        if data.ring.hop(i, r.as_ref()) {
                            data.done = true;
                        }
                        Ok(PostAction::Continue)
                    },
                )
                .expect("calloop insert_source");
        }
        CalloopRing {
            data: CalloopData { ring, done: false },
            event_loop,
        }
    }

    /// `ops` hops.
    pub fn run(&mut self, ops: u64) {
        self.data.ring.start(ops);
        self.data.done = false;
        while !self.data.done {
            self.event_loop
                .dispatch(None, &mut self.data)
                .expect("calloop dispatch");
        }
        self.data.ring.finish();
    }

    /// The counts of every run so far (see the module docs).
    pub fn check(&self) {
        self.data.ring.check();
    }
}
