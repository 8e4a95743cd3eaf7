//! Tasks: "run this soon, from the loop".
//!
//! - **again**: one task that asks to run again (`TaskAction::Again`) until
//!   it has run `ops` times; one operation is one task callback (one loop
//!   iteration). ivykis only: calloop's idle callbacks are one-shot
//!   (`FnOnce`), and mio has no tasks.
//! - **spawn**: a chain of tasks, each adding the next one and finishing;
//!   one operation is one task callback. ivykis: `Handle::add_task` from
//!   the task; calloop: `LoopHandle::insert_idle` from the idle callback,
//!   dispatching with a zero timeout while idles are pending (calloop runs
//!   an idle inserted by an idle callback after the next poll; ivykis runs
//!   a task added during a round in the same round, without polling).
//!
//! Checked after every run: exactly `ops` callbacks.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// ivykis: one task returning `Again`.
pub struct IvykisAgain {
    count: Rc<Cell<u64>>,
    event_loop: ivykis::EventLoop,
}

impl IvykisAgain {
    /// The loop.
    pub fn new() -> IvykisAgain {
        IvykisAgain {
            count: Rc::new(Cell::new(0)),
            event_loop: ivykis::EventLoop::new().expect("ivykis loop"),
        }
    }

    /// `ops` task callbacks.
    pub fn run(&mut self, ops: u64) {
        self.count.set(0);
        let count = self.count.clone();
        self.event_loop
            .handle()
            .add_task(move |_h| {
                let c = count.get() + 1;
                count.set(c);
                if c == ops {
                    ivykis::TaskAction::Done
                } else {
                    ivykis::TaskAction::Again
                }
            })
            .expect("add_task");
        self.event_loop.run(); // returns once nothing is registered
        assert_eq!(self.count.get(), ops);
    }
}

impl Default for IvykisAgain {
    fn default() -> Self {
        Self::new()
    }
}

/// The chain's counters.
struct Chain {
    count: Cell<u64>,
    target: Cell<u64>,
}

/// ivykis: each task adds the next.
pub struct IvykisSpawn {
    chain: Rc<Chain>,
    event_loop: ivykis::EventLoop,
}

fn ivykis_link(h: &ivykis::Handle, chain: Rc<Chain>) {
    h.add_task(move |h| {
        let c = chain.count.get() + 1;
        chain.count.set(c);
        if c < chain.target.get() {
            ivykis_link(h, chain.clone());
        }
    })
    .expect("add_task");
}

impl IvykisSpawn {
    /// The loop.
    pub fn new() -> IvykisSpawn {
        IvykisSpawn {
            chain: Rc::new(Chain {
                count: Cell::new(0),
                target: Cell::new(0),
            }),
            event_loop: ivykis::EventLoop::new().expect("ivykis loop"),
        }
    }

    /// `ops` task callbacks.
    pub fn run(&mut self, ops: u64) {
        self.chain.count.set(0);
        self.chain.target.set(ops);
        ivykis_link(&self.event_loop.handle(), self.chain.clone());
        self.event_loop.run(); // returns once nothing is registered
        assert_eq!(self.chain.count.get(), ops);
    }
}

impl Default for IvykisSpawn {
    fn default() -> Self {
        Self::new()
    }
}

/// ivykis with kept tasks: a ring of 16 tasks, each parking itself
/// (`TaskAction::Idle`) and posting the next with `post_task`; the same
/// "each task starts the next" chain as [`IvykisSpawn`], without creating
/// a task (or allocating) per step.
pub struct IvykisKeptChain {
    chain: Rc<Chain>,
    ring: Rc<RefCell<Vec<ivykis::TaskToken>>>,
    event_loop: ivykis::EventLoop,
}

const RING: usize = 16;

impl IvykisKeptChain {
    /// The loop and its parked ring.
    pub fn new() -> IvykisKeptChain {
        let event_loop = ivykis::EventLoop::new().expect("ivykis loop");
        let h = event_loop.handle();
        let chain = Rc::new(Chain {
            count: Cell::new(0),
            target: Cell::new(0),
        });
        let ring: Rc<RefCell<Vec<ivykis::TaskToken>>> = Rc::new(RefCell::new(Vec::new()));
        for i in 0..RING {
            let (chain, successors) = (chain.clone(), ring.clone());
            let token = h
                .add_task(move |h| {
                    let c = chain.count.get() + 1;
                    chain.count.set(c);
                    if c < chain.target.get() {
                        let next = successors.borrow()[(i + 1) % RING];
                        h.post_task(next).expect("post_task");
                    }
                    ivykis::TaskAction::Idle
                })
                .expect("add_task");
            ring.borrow_mut().push(token);
        }
        let w = IvykisKeptChain {
            chain,
            ring,
            event_loop,
        };
        // Park them all: one pass with a zero target.
        w.event_loop.run();
        w
    }

    /// `ops` task callbacks.
    pub fn run(&mut self, ops: u64) {
        self.chain.count.set(0);
        self.chain.target.set(ops);
        let first = self.ring.borrow()[0];
        self.event_loop
            .handle()
            .post_task(first)
            .expect("post_task");
        self.event_loop.run(); // returns once nothing is posted
        assert_eq!(self.chain.count.get(), ops);
    }
}

impl Default for IvykisKeptChain {
    fn default() -> Self {
        Self::new()
    }
}

/// What calloop's idle callbacks reach.
pub struct IdleData {
    count: u64,
    target: u64,
    handle: calloop::LoopHandle<'static, IdleData>,
}

fn calloop_link(data: &mut IdleData) {
    data.count += 1;
    if data.count < data.target {
        data.handle.insert_idle(calloop_link);
    }
}

/// calloop: each idle callback inserts the next.
pub struct CalloopIdle {
    data: IdleData,
    event_loop: calloop::EventLoop<'static, IdleData>,
}

impl CalloopIdle {
    /// The loop.
    pub fn new() -> CalloopIdle {
        let event_loop = calloop::EventLoop::try_new().expect("calloop loop");
        CalloopIdle {
            data: IdleData {
                count: 0,
                target: 0,
                handle: event_loop.handle(),
            },
            event_loop,
        }
    }

    /// `ops` idle callbacks.
    pub fn run(&mut self, ops: u64) {
        self.data.count = 0;
        self.data.target = ops;
        self.data.handle.insert_idle(calloop_link);
        while self.data.count < ops {
            self.event_loop
                .dispatch(Duration::ZERO, &mut self.data)
                .expect("calloop dispatch");
        }
        assert_eq!(self.data.count, ops);
    }
}

impl Default for CalloopIdle {
    fn default() -> Self {
        Self::new()
    }
}
