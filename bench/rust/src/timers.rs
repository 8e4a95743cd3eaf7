//! timers: register `n` timers with random expiries, cancel half, fire the
//! rest. One operation is one register, one cancel or one fire, so a round
//! is `2n` operations.
//!
//! The expiries are random offsets (fixed seed, the same for every
//! implementation) within a 100 ms window that ends 1 ms before the round
//! starts: every timer is already due when the loop runs, so the round
//! measures the timer structure (insert at a random position, remove from
//! the middle, pop in order) and never sleeps. The even-numbered timers are
//! cancelled. Checked after every round: exactly the odd-numbered timers
//! fired, each once, in deadline order.
//!
//! mio has no timers; [`MioTimers`] is what a careful mio user writes: a
//! binary heap of `(deadline, slot, generation)`, a slab of slots, lazy
//! deletion (cancelling frees the slot and bumps its generation; the stale
//! heap entry is skipped when it comes to the top), and the poll timeout
//! from the heap's minimum. Its timers are plain data (the "callback" is a
//! function of the slot), which is what such code looks like; ivykis and
//! calloop take a closure per timer.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::Rng;

/// The window the expiries are drawn from.
const WINDOW_NS: u64 = 100_000_000;
/// How long before the round starts the window ends.
const MARGIN: Duration = Duration::from_millis(1);

/// The phases of a round, separately callable so that `alloc_counts` can
/// count each one.
pub trait TimerWorkload {
    /// Timers per round.
    fn n(&self) -> usize;
    /// Registers the round's `n` timers.
    fn register(&mut self);
    /// Cancels the even-numbered half.
    fn cancel_half(&mut self);
    /// Runs the loop until the other half has fired, and checks the counts.
    fn fire(&mut self);
    /// One round: `2n` operations.
    fn round(&mut self) {
        self.register();
        self.cancel_half();
        self.fire();
    }
}

fn offsets(n: usize) -> Vec<Duration> {
    assert!(n >= 2 && n.is_multiple_of(2), "n must be even");
    let mut rng = Rng::new(0x1e7_2024);
    (0..n)
        .map(|_| Duration::from_nanos(rng.below(WINDOW_NS)))
        .collect()
}

/// The checks every implementation's timer callback makes.
struct Fired<T> {
    count: Cell<u64>,
    last: Cell<Option<T>>,
    bad: Cell<u64>,
}

impl<T: Copy + Ord> Fired<T> {
    fn new() -> Fired<T> {
        Fired {
            count: Cell::new(0),
            last: Cell::new(None),
            bad: Cell::new(0),
        }
    }

    #[inline]
    fn fire(&self, index: usize, deadline: T) {
        if index.is_multiple_of(2) || self.last.get().is_some_and(|last| deadline < last) {
            self.bad.set(self.bad.get() + 1);
        }
        self.last.set(Some(deadline));
        self.count.set(self.count.get() + 1);
    }

    fn start(&self) {
        self.count.set(0);
        self.last.set(None);
    }

    fn check(&self, n: usize) {
        assert_eq!(
            self.bad.get(),
            0,
            "a cancelled timer fired, or out of order"
        );
        assert_eq!(self.count.get(), n as u64 / 2, "not every live timer fired");
    }
}

/// ivykis: `Handle::add_timer_at` with a one-shot closure, `Handle::remove`
/// to cancel, `EventLoop::run` (returns once nothing is registered).
pub struct IvykisTimers {
    offsets: Vec<Duration>,
    tokens: Vec<ivykis::TimerToken>,
    fired: Rc<Fired<ivykis::Instant>>,
    event_loop: ivykis::EventLoop,
}

impl IvykisTimers {
    /// A loop and the round's expiries.
    pub fn new(n: usize) -> IvykisTimers {
        IvykisTimers {
            offsets: offsets(n),
            tokens: Vec::with_capacity(n),
            fired: Rc::new(Fired::new()),
            event_loop: ivykis::EventLoop::new().expect("ivykis loop"),
        }
    }
}

impl TimerWorkload for IvykisTimers {
    fn n(&self) -> usize {
        self.offsets.len()
    }

    fn register(&mut self) {
        let h = self.event_loop.handle();
        h.invalidate_now();
        let base = h.now() - Duration::from_nanos(WINDOW_NS) - MARGIN;
        self.fired.start();
        self.tokens.clear();
        for (i, &offset) in self.offsets.iter().enumerate() {
            let deadline = base + offset;
            let fired = Rc::clone(&self.fired);
            let token = h
                .add_timer_at(deadline, move |_h| fired.fire(i, deadline))
                .expect("add_timer_at");
            self.tokens.push(token);
        }
    }

    fn cancel_half(&mut self) {
        let h = self.event_loop.handle();
        for token in self.tokens.iter().step_by(2) {
            h.remove(*token).expect("remove timer");
        }
    }

    fn fire(&mut self) {
        self.event_loop.run();
        self.fired.check(self.n());
    }
}

/// The same rounds with timers kept across rounds, as a server keeps one
/// idle-timeout timer per connection: created once (disarmed), armed with
/// `set_deadline`, cancelled with `disarm`, and parked again by the
/// callback's `TimerAction::Idle`. Nothing is allocated per round.
pub struct IvykisKeptTimers {
    offsets: Vec<Duration>,
    tokens: Vec<ivykis::TimerToken>,
    deadlines: Rc<Vec<Cell<ivykis::Instant>>>,
    fired: Rc<Fired<ivykis::Instant>>,
    event_loop: ivykis::EventLoop,
}

impl IvykisKeptTimers {
    /// A loop with `n` disarmed timers.
    pub fn new(n: usize) -> IvykisKeptTimers {
        let event_loop = ivykis::EventLoop::new().expect("ivykis loop");
        let h = event_loop.handle();
        let fired = Rc::new(Fired::new());
        let deadlines: Rc<Vec<Cell<ivykis::Instant>>> =
            Rc::new((0..n).map(|_| Cell::new(h.now())).collect());
        let tokens = (0..n)
            .map(|i| {
                let fired = Rc::clone(&fired);
                let deadlines = Rc::clone(&deadlines);
                let token = h
                    .add_timer_after(Duration::from_secs(3600), move |_h| {
                        fired.fire(i, deadlines[i].get());
                        ivykis::TimerAction::Idle
                    })
                    .expect("add_timer_after");
                h.disarm(token).expect("disarm");
                token
            })
            .collect();
        IvykisKeptTimers {
            offsets: offsets(n),
            tokens,
            deadlines,
            fired,
            event_loop,
        }
    }
}

impl TimerWorkload for IvykisKeptTimers {
    fn n(&self) -> usize {
        self.offsets.len()
    }

    fn register(&mut self) {
        let h = self.event_loop.handle();
        h.invalidate_now();
        let base = h.now() - Duration::from_nanos(WINDOW_NS) - MARGIN;
        self.fired.start();
        for (i, &offset) in self.offsets.iter().enumerate() {
            let deadline = base + offset;
            self.deadlines[i].set(deadline);
            h.set_deadline(self.tokens[i], deadline)
                .expect("set_deadline");
        }
    }

    fn cancel_half(&mut self) {
        let h = self.event_loop.handle();
        for token in self.tokens.iter().step_by(2) {
            h.disarm(*token).expect("disarm");
        }
    }

    fn fire(&mut self) {
        self.event_loop.run();
        self.fired.check(self.n());
    }
}

/// The key of a timer in [`MioTimers`]: slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    slot: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    live: bool,
    index: usize,
    deadline: Instant,
}

/// A hand-written timer structure on a mio `Poll` (see the module docs).
pub struct MioTimers {
    offsets: Vec<Duration>,
    keys: Vec<TimerKey>,
    fired: Fired<Instant>,
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    poll: mio::Poll,
    events: mio::Events,
}

impl MioTimers {
    /// A poll and the round's expiries.
    pub fn new(n: usize) -> MioTimers {
        MioTimers {
            offsets: offsets(n),
            keys: Vec::with_capacity(n),
            fired: Fired::new(),
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            poll: mio::Poll::new().expect("mio poll"),
            events: mio::Events::with_capacity(64),
        }
    }

    /// Arms a timer.
    pub fn add(&mut self, deadline: Instant, index: usize) -> TimerKey {
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                s.live = true;
                s.index = index;
                s.deadline = deadline;
                slot
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    live: true,
                    index,
                    deadline,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[slot as usize].generation;
        self.heap.push(Reverse((deadline, slot, generation)));
        self.live += 1;
        TimerKey { slot, generation }
    }

    /// Disarms a timer; `false` if it was not armed.
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        let s = &mut self.slots[key.slot as usize];
        if !s.live || s.generation != key.generation {
            return false;
        }
        s.live = false;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(key.slot);
        self.live -= 1;
        true
    }

    /// One loop iteration: wait (at most until the first deadline), then
    /// fire what is due.
    fn turn(&mut self) {
        let timeout = self
            .heap
            .peek()
            .map(|Reverse((deadline, _, _))| deadline.saturating_duration_since(Instant::now()));
        self.poll.poll(&mut self.events, timeout).expect("mio poll");
        let now = Instant::now();
        while let Some(&Reverse((deadline, slot, generation))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let s = &mut self.slots[slot as usize];
            if !s.live || s.generation != generation {
                continue; // cancelled: lazy deletion
            }
            s.live = false;
            s.generation = s.generation.wrapping_add(1);
            let (index, deadline) = (s.index, s.deadline);
            self.free.push(slot);
            self.live -= 1;
            self.fired.fire(index, deadline);
        }
    }
}

impl TimerWorkload for MioTimers {
    fn n(&self) -> usize {
        self.offsets.len()
    }

    fn register(&mut self) {
        let base = Instant::now() - Duration::from_nanos(WINDOW_NS) - MARGIN;
        self.fired.start();
        self.keys.clear();
        for i in 0..self.offsets.len() {
            let key = self.add(base + self.offsets[i], i);
            self.keys.push(key);
        }
    }

    fn cancel_half(&mut self) {
        for k in (0..self.keys.len()).step_by(2) {
            let cancelled = self.cancel(self.keys[k]);
            assert!(cancelled);
        }
    }

    fn fire(&mut self) {
        while self.live > 0 {
            self.turn();
        }
        self.fired.check(self.n());
    }
}

/// What calloop's timer callbacks reach.
pub struct CalloopTimerData {
    fired: Fired<Instant>,
}

/// calloop: a `Timer` source per timer (`Timer::from_deadline`), removed
/// with `LoopHandle::remove` to cancel; `dispatch` until all have fired.
pub struct CalloopTimers {
    offsets: Vec<Duration>,
    tokens: Vec<calloop::RegistrationToken>,
    data: CalloopTimerData,
    event_loop: calloop::EventLoop<'static, CalloopTimerData>,
}

impl CalloopTimers {
    /// A loop and the round's expiries.
    pub fn new(n: usize) -> CalloopTimers {
        CalloopTimers {
            offsets: offsets(n),
            tokens: Vec::with_capacity(n),
            data: CalloopTimerData {
                fired: Fired::new(),
            },
            event_loop: calloop::EventLoop::try_new().expect("calloop loop"),
        }
    }
}

impl TimerWorkload for CalloopTimers {
    fn n(&self) -> usize {
        self.offsets.len()
    }

    fn register(&mut self) {
        use calloop::timer::{TimeoutAction, Timer};
        let handle = self.event_loop.handle();
        let base = Instant::now() - Duration::from_nanos(WINDOW_NS) - MARGIN;
        self.data.fired.start();
        self.tokens.clear();
        for (i, &offset) in self.offsets.iter().enumerate() {
            let token = handle
                .insert_source(
                    Timer::from_deadline(base + offset),
                    move |deadline, _, data: &mut CalloopTimerData| {
                        data.fired.fire(i, deadline);
                        TimeoutAction::Drop
                    },
                )
                .expect("calloop timer");
            self.tokens.push(token);
        }
    }

    fn cancel_half(&mut self) {
        let handle = self.event_loop.handle();
        for token in self.tokens.iter().step_by(2) {
            handle.remove(*token);
        }
    }

    fn fire(&mut self) {
        let want = self.n() as u64 / 2;
        while self.data.fired.count.get() < want {
            self.event_loop
                .dispatch(None, &mut self.data)
                .expect("calloop dispatch");
        }
        self.data.fired.check(self.n());
    }
}

/// ivykis only: moving live timers (`Handle::set_deadline`), the idle
/// timeout pattern. One operation is one `set_deadline` of a random timer
/// to a random far deadline; nothing fires. Used by `alloc_counts` (it
/// must allocate nothing).
pub struct IvykisRearm {
    tokens: Vec<ivykis::TimerToken>,
    rng: Rng,
    event_loop: ivykis::EventLoop,
}

impl IvykisRearm {
    /// `n` timers an hour away.
    pub fn new(n: usize) -> IvykisRearm {
        let event_loop = ivykis::EventLoop::new().expect("ivykis loop");
        let h = event_loop.handle();
        let tokens = (0..n)
            .map(|_| {
                h.add_timer_after(Duration::from_secs(3600), |_h| -> () {
                    unreachable!("an hour-long benchmark")
                })
                .expect("add_timer_after")
            })
            .collect();
        IvykisRearm {
            tokens,
            rng: Rng::new(7),
            event_loop,
        }
    }

    /// `ops` re-arms.
    pub fn run(&mut self, ops: u64) {
        let h = self.event_loop.handle();
        let now = h.now();
        for _ in 0..ops {
            let k = self.rng.below(self.tokens.len() as u64) as usize;
            let at =
                now + Duration::from_secs(3000) + Duration::from_nanos(self.rng.below(1 << 30));
            h.set_deadline(self.tokens[k], at).expect("set_deadline");
        }
    }
}
