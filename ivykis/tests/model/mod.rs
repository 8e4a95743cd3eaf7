//! A reference model of the loop contract (SPEC 1-5 and the `iv_event` part
//! of 6), for the property tests (`ivykis/tests/prop_model.rs`,
//! `ivykis-c/tests/prop_c.rs`) and the fuzz target (`fuzz/`).
//!
//! # The operation language
//!
//! A [`Scenario`] is a list of [`Step`]s over a small pool of sources: 8
//! timers, 8 tasks, 4 descriptors (one end of a socket pair each; the test
//! controls readiness by writing to, draining and closing the other end) and
//! 4 events. A step is an [`Op`] done between loop runs, a script given to a
//! source ("when this source fires, do these ops": re-entrancy,
//! unregistering and freeing from callbacks, registering new sources), or a
//! run of the loop.
//!
//! Every op is total: "add" means "register if not registered", "remove"
//! means "unregister if registered", and so on; the driver records whether
//! the op did something ([`Record::Applied`]), so the registration state the
//! real library reports is compared with the model's after every op.
//!
//! Timers are only ever armed in the past (before the scenario started: due
//! at every later timer phase) or an hour in the future (never due during a
//! test), so which timers fire in an iteration never depends on the clock.
//!
//! # How a run is made observable
//!
//! Besides the pool, the driver registers one *harness event* whose handler
//! records [`Record::Harness`] and calls quit. Each [`Step::Run`] posts it
//! and runs the loop once. The loop then never sleeps (a posted event makes
//! the wait non-blocking, and only timers that are already due or an hour
//! away exist), and `run` returns at the first "quit requested?" check after
//! the harness event ran: a run is the first iteration (timers, tasks, wait,
//! descriptors, events) and the timer and task phases of the second,
//! unless a callback quits earlier. The model simulates the same loop, and
//! the harness event keeps the loop from ever running out of registrations.
//!
//! # Where the contract leaves a choice
//!
//! The order in which different ready descriptors are dispatched within one
//! iteration is the backend's (epoll's ready list, the pollfd array). The
//! checker follows the order the real run chose: at each point of the
//! descriptor phase the next fire in the real log selects which ready
//! descriptor is dispatched next, and a ready descriptor that never fired
//! must have been silent at some point of the phase where it could have
//! been dispatched (for example after another descriptor's callback
//! switched its interest off). Likewise a hung-up descriptor that wanted
//! no band at the wait may or may not be reported (epoll keeps reporting
//! hang-ups of a registration with an empty mask; poll does not watch it at
//! all); only such bands are "may fire".
//!
//! Two choices of the implementation are pinned by the model because both
//! faces document them: timers with equal deadlines fire in the order they
//! were armed, and tasks run in the order they were registered (FIFO).
//!
//! # The two faces
//!
//! The C face and the Rust face differ where their APIs do, and the model
//! has a [`Face`] for it:
//!
//! - A Rust timer or task that re-arms itself from its own callback does so
//!   by its return value (`TimerAction::At`, `TaskAction::Again`), so the
//!   re-registration happens when the callback returns, after the rest of
//!   its script; in C, `iv_timer_register` / `iv_task_register` on itself
//!   takes effect at once.
//! - A C `iv_task` remembers the round it last ran in across registrations,
//!   so a task that already ran in the current round and is registered
//!   again by another callback waits for the next round; a new Rust task
//!   (`add_task`) never ran, so it runs in the current round.
//! - C descriptors have two sets of handler functions ("flavours", which the
//!   log records) to check that the handler is read when it is called.
//! - `Free` in C unregisters, then overwrites the struct with garbage whose
//!   handler records [`Record::UseAfterFree`], and replaces it with a fresh
//!   struct; in Rust it is `remove`.

#![allow(dead_code)]

pub mod rust_face;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

/// Pool sizes.
pub const TIMERS: u8 = 8;
pub const TASKS: u8 = 8;
pub const FDS: u8 = 4;
pub const EVENTS: u8 = 4;

/// Descriptor bands, as bits.
pub const ERR: u8 = 1;
pub const IN: u8 = 2;
pub const OUT: u8 = 4;
pub const ALL: u8 = 7;
/// Dispatch order of one ready descriptor's bands (SPEC 2).
pub const BAND_ORDER: [u8; 3] = [ERR, IN, OUT];

/// A source of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Src {
    Timer(u8),
    Task(u8),
    Fd(u8),
    Event(u8),
}

/// A timer deadline, relative to the scenario's start `T0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum When {
    /// `T0 - (k + 1) ms`: due at every timer phase.
    Past(u8),
    /// `T0 + 1 h + k ms`: never due during a test.
    Future(u8),
}

impl When {
    /// Milliseconds from `T0` (negative: in the past).
    pub fn offset_ms(self) -> i64 {
        match self {
            When::Past(k) => -(i64::from(k)) - 1,
            When::Future(k) => 3_600_000 + i64::from(k),
        }
    }
}

/// One operation, done at top level or from a callback's script.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Register timer `i` at `When` unless it is registered.
    AddTimer(u8, When),
    /// Unregister timer `i` if registered, then register it at `When`
    /// (Rust: `set_deadline`). Applied: whether it was registered.
    Rearm(u8, When),
    /// Register task `i` unless it is registered.
    AddTask(u8),
    /// Register descriptor `i` with these bands unless it is registered.
    AddFd(u8, u8),
    /// Set the bands of a registered descriptor, with handler flavour 0/1
    /// (C only; the Rust face has one closure).
    SetInterest(u8, u8, u8),
    /// Register event `i` unless it is registered.
    AddEvent(u8),
    /// Post a registered event.
    Post(u8),
    /// Unregister a source if registered.
    Remove(Src),
    /// Unregister if registered, then free (C) / drop (Rust) the object.
    Free(Src),
    /// Write a byte to the peer of descriptor `i` (unless hung up).
    MakeReadable(u8),
    /// Read descriptor `i` until it would block.
    Drain(u8),
    /// Close the peer of descriptor `i`: ready in all bands from now on.
    HangUp(u8),
    /// Ask the loop to return.
    Quit,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An op between runs.
    Do(Op),
    /// From now on, whenever the source fires, do these ops.
    Script(Src, Vec<Op>),
    /// Post the harness event and run the loop until it returns.
    Run,
}

/// A scenario: steps done in order on a fresh loop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scenario {
    pub steps: Vec<Step>,
}

/// What a driver records, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A `Step::Run` starts.
    Run,
    /// The loop's run returned.
    Returned,
    /// A callback of a pool source: `gen` counts the source's
    /// registrations (1 for the first), `band` is the descriptor band (0
    /// for other sources), `flavour` the C descriptor handler set.
    Fire {
        src: Src,
        gen: u32,
        band: u8,
        flavour: u8,
    },
    /// The harness event ran (and quit).
    Harness,
    /// An op was done; whether it changed anything.
    Applied(bool),
    /// A freed C struct's handler was called.
    UseAfterFree(Src),
    /// The driver stopped a run that made too many callbacks.
    Runaway,
}

/// Which face the log comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    Rust,
    C,
}

/// After this many callbacks in one run, the driver records
/// [`Record::Runaway`], stops running scripts and quits; the model expects
/// the runaway at the same callback and ends the check there.
///
/// Scenarios can legitimately never end a round: Rust tasks (or freshly
/// allocated C tasks) that add each other run in the same round forever,
/// because each one is a new task that has not run in it yet (SPEC 5 asks
/// this only of tasks re-registering themselves).
pub const RUNAWAY_CALLBACKS: u32 = 2_000;

// ---------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Default)]
struct TimerM {
    reg: Option<u64>,
    gen: u32,
    expires: i64,
}

#[derive(Clone, Copy, Default)]
struct TaskM {
    reg: Option<u64>,
    gen: u32,
    last_round: u64,
}

#[derive(Clone, Copy, Default)]
struct FdM {
    reg: Option<u64>,
    gen: u32,
    want: u8,
    flavour: u8,
    readable: bool,
    hup: bool,
}

#[derive(Clone, Copy, Default)]
struct EventM {
    reg: Option<u64>,
    gen: u32,
    pending: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HubKey {
    Harness,
    Event(u8, u64),
}

/// A Rust timer or task re-arming itself from its own callback.
#[derive(Clone, Copy)]
enum SelfRearm {
    Timer(When),
    Task,
}

/// A descriptor reported ready by the wait.
struct ReadyFd {
    slot: u8,
    reg: u64,
    gen: u32,
    bands: u8,
    /// Reported only if the backend chooses to (hang-up, nothing wanted).
    maybe: bool,
    /// It could have been dispatched silently at some point so far.
    silent_ok: bool,
}

struct Model<'a> {
    face: Face,
    log: &'a [Record],
    pos: usize,
    /// What the model expected so far (for the failure message).
    expected: Vec<Record>,
    scripts: HashMap<Src, Vec<Op>>,
    next_reg: u64,
    timers: [TimerM; TIMERS as usize],
    tasks: [TaskM; TASKS as usize],
    fds: [FdM; FDS as usize],
    events: [EventM; EVENTS as usize],
    run_q: VecDeque<(u8, u64)>,
    deferred: VecDeque<(u8, u64)>,
    round: u64,
    in_round: bool,
    hub: VecDeque<HubKey>,
    harness_pending: bool,
    quit: bool,
    running: Option<Src>,
    self_rearm: Option<SelfRearm>,
    callbacks: u32,
}

/// Checks the log of a run of `scenario` through `face` against the model.
/// The error describes the first difference.
pub fn check(face: Face, scenario: &Scenario, log: &[Record]) -> Result<(), String> {
    let mut m = Model {
        face,
        log,
        pos: 0,
        expected: Vec::new(),
        scripts: HashMap::new(),
        next_reg: 1,
        timers: Default::default(),
        tasks: Default::default(),
        fds: Default::default(),
        events: Default::default(),
        run_q: VecDeque::new(),
        deferred: VecDeque::new(),
        round: 0,
        in_round: false,
        hub: VecDeque::new(),
        harness_pending: false,
        quit: false,
        running: None,
        self_rearm: None,
        callbacks: 0,
    };
    match m.scenario(scenario) {
        Ok(()) | Err(Halt::Runaway) => Ok(()),
        Err(Halt::Mismatch(e)) => Err(e),
    }
}

/// Why the model stopped.
enum Halt {
    /// The log differs from what the model allows.
    Mismatch(String),
    /// Both sides reached the runaway limit at the same callback.
    Runaway,
}

impl From<String> for Halt {
    fn from(s: String) -> Halt {
        Halt::Mismatch(s)
    }
}

type R = Result<(), Halt>;

impl Model<'_> {
    fn scenario(&mut self, scenario: &Scenario) -> R {
        for step in &scenario.steps {
            match step {
                Step::Do(op) => self.op(op)?,
                Step::Script(src, ops) => {
                    self.scripts.insert(*src, ops.clone());
                }
                Step::Run => {
                    self.expect(Record::Run)?;
                    if !self.harness_pending {
                        self.harness_pending = true;
                        self.hub.push_back(HubKey::Harness);
                    }
                    self.callbacks = 0;
                    self.run()?;
                    self.expect(Record::Returned)?;
                }
            }
        }
        if self.pos != self.log.len() {
            return Err(self.mismatch("the end of the log").into());
        }
        Ok(())
    }

    // --- the log ---------------------------------------------------------

    fn peek(&self) -> Option<Record> {
        self.log.get(self.pos).copied()
    }

    fn expect(&mut self, rec: Record) -> R {
        self.expected.push(rec);
        if self.peek() == Some(rec) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.mismatch(&format!("{rec:?}")).into())
        }
    }

    fn mismatch(&self, wanted: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:?} face: at log record {}, the model expected {wanted}, the library gave {:?}",
            self.face,
            self.pos,
            self.peek()
        );
        let from = self.pos.saturating_sub(12);
        let _ = writeln!(s, "library log from record {from}:");
        for (i, r) in self.log.iter().enumerate().skip(from).take(20) {
            let mark = if i == self.pos { "=>" } else { "  " };
            let _ = writeln!(s, "  {mark} {i:4} {r:?}");
        }
        let efrom = self.expected.len().saturating_sub(12);
        let _ = writeln!(s, "model's expectations from record {efrom}:");
        for (i, r) in self.expected.iter().enumerate().skip(efrom) {
            let _ = writeln!(s, "     {i:4} {r:?}");
        }
        s
    }

    // --- registration state ----------------------------------------------

    fn new_reg(&mut self) -> u64 {
        self.next_reg += 1;
        self.next_reg
    }

    /// A Rust timer or task op on the source whose callback is running:
    /// handled through the callback's return value.
    fn is_self(&self, src: Src) -> bool {
        self.face == Face::Rust
            && self.running == Some(src)
            && matches!(src, Src::Timer(_) | Src::Task(_))
    }

    fn registered(&self, src: Src) -> bool {
        if self.is_self(src) {
            return self.self_rearm.is_some();
        }
        match src {
            Src::Timer(i) => self.timers[i as usize].reg.is_some(),
            Src::Task(i) => self.tasks[i as usize].reg.is_some(),
            Src::Fd(i) => self.fds[i as usize].reg.is_some(),
            Src::Event(i) => self.events[i as usize].reg.is_some(),
        }
    }

    fn unregister(&mut self, src: Src) {
        if self.is_self(src) {
            self.self_rearm = None;
            return;
        }
        match src {
            Src::Timer(i) => self.timers[i as usize].reg = None,
            Src::Task(i) => self.tasks[i as usize].reg = None,
            Src::Fd(i) => self.fds[i as usize].reg = None,
            // Keys already queued in the hub are skipped as stale.
            Src::Event(i) => self.events[i as usize].reg = None,
        }
    }

    fn register_timer(&mut self, i: u8, when: When) {
        if self.is_self(Src::Timer(i)) {
            self.self_rearm = Some(SelfRearm::Timer(when));
            return;
        }
        let reg = self.new_reg();
        let t = &mut self.timers[i as usize];
        t.reg = Some(reg);
        t.gen += 1;
        t.expires = when.offset_ms();
    }

    fn register_task(&mut self, i: u8) {
        if self.is_self(Src::Task(i)) {
            self.self_rearm = Some(SelfRearm::Task);
            return;
        }
        // A C task remembers the round it last ran in; a new Rust task never
        // ran.
        let last_round = match self.face {
            Face::C => self.tasks[i as usize].last_round,
            Face::Rust => 0,
        };
        self.enqueue_task(i, last_round);
    }

    fn enqueue_task(&mut self, i: u8, last_round: u64) {
        let reg = self.new_reg();
        let t = &mut self.tasks[i as usize];
        t.reg = Some(reg);
        t.gen += 1;
        if self.in_round && last_round == self.round {
            self.deferred.push_back((i, reg));
        } else {
            self.run_q.push_back((i, reg));
        }
    }

    // --- ops ---------------------------------------------------------------

    fn op(&mut self, op: &Op) -> R {
        let applied = match *op {
            Op::AddTimer(i, when) => {
                let src = Src::Timer(i);
                if self.registered(src) {
                    false
                } else {
                    self.register_timer(i, when);
                    true
                }
            }
            Op::Rearm(i, when) => {
                let src = Src::Timer(i);
                let was = self.registered(src);
                if was {
                    self.unregister(src);
                }
                self.register_timer(i, when);
                was
            }
            Op::AddTask(i) => {
                if self.registered(Src::Task(i)) {
                    false
                } else {
                    self.register_task(i);
                    true
                }
            }
            Op::AddFd(i, bands) => {
                if self.registered(Src::Fd(i)) {
                    false
                } else {
                    let reg = self.new_reg();
                    let f = &mut self.fds[i as usize];
                    f.reg = Some(reg);
                    f.gen += 1;
                    f.want = bands & ALL;
                    f.flavour = 0;
                    true
                }
            }
            Op::SetInterest(i, bands, flavour) => {
                if self.registered(Src::Fd(i)) {
                    let face = self.face;
                    let f = &mut self.fds[i as usize];
                    f.want = bands & ALL;
                    f.flavour = match face {
                        Face::C => flavour & 1,
                        Face::Rust => 0,
                    };
                    true
                } else {
                    false
                }
            }
            Op::AddEvent(i) => {
                if self.registered(Src::Event(i)) {
                    false
                } else {
                    let reg = self.new_reg();
                    let e = &mut self.events[i as usize];
                    e.reg = Some(reg);
                    e.gen += 1;
                    e.pending = false;
                    true
                }
            }
            Op::Post(i) => {
                let e = self.events[i as usize];
                match e.reg {
                    Some(reg) => {
                        if !e.pending {
                            self.events[i as usize].pending = true;
                            self.hub.push_back(HubKey::Event(i, reg));
                        }
                        true
                    }
                    None => false,
                }
            }
            Op::Remove(src) | Op::Free(src) => {
                let was = self.registered(src);
                if was {
                    self.unregister(src);
                }
                if matches!(op, Op::Free(_)) && self.face == Face::C {
                    // A fresh struct (IV_TASK_INIT) never ran.
                    if let Src::Task(i) = src {
                        self.tasks[i as usize].last_round = 0;
                    }
                }
                was
            }
            Op::MakeReadable(i) => {
                let f = &mut self.fds[i as usize];
                if f.hup {
                    false
                } else {
                    f.readable = true;
                    true
                }
            }
            Op::Drain(i) => {
                self.fds[i as usize].readable = false;
                true
            }
            Op::HangUp(i) => {
                let f = &mut self.fds[i as usize];
                if f.hup {
                    false
                } else {
                    f.hup = true;
                    true
                }
            }
            Op::Quit => {
                // Outside a run this has no effect: `run` clears the request.
                self.quit = true;
                true
            }
        };
        self.expect(Record::Applied(applied))
    }

    // --- callbacks -----------------------------------------------------------

    fn gen_of(&self, src: Src) -> u32 {
        match src {
            Src::Timer(i) => self.timers[i as usize].gen,
            Src::Task(i) => self.tasks[i as usize].gen,
            Src::Fd(i) => self.fds[i as usize].gen,
            Src::Event(i) => self.events[i as usize].gen,
        }
    }

    fn callback(&mut self, src: Src, band: u8) -> R {
        self.callbacks += 1;
        if self.callbacks > RUNAWAY_CALLBACKS {
            self.expect(Record::Runaway)?;
            return Err(Halt::Runaway);
        }
        let flavour = match (src, self.face) {
            (Src::Fd(i), Face::C) => self.fds[i as usize].flavour,
            _ => 0,
        };
        self.expect(Record::Fire {
            src,
            gen: self.gen_of(src),
            band,
            flavour,
        })?;
        self.running = Some(src);
        self.self_rearm = None;
        if let Some(script) = self.scripts.get(&src).cloned() {
            for op in &script {
                self.op(op)?;
            }
        }
        self.running = None;
        match (self.self_rearm.take(), src) {
            (Some(SelfRearm::Timer(when)), Src::Timer(i)) => self.register_timer(i, when),
            (Some(SelfRearm::Task), Src::Task(i)) => self.enqueue_task(i, self.round),
            _ => {}
        }
        Ok(())
    }

    // --- the loop ------------------------------------------------------------

    fn run(&mut self) -> R {
        self.quit = false;
        loop {
            self.timer_phase()?;
            self.task_phase()?;
            // Nothing registered never happens: the harness event is.
            if self.quit {
                return Ok(());
            }
            let ready = self.wait();
            self.fd_phase(ready)?;
            self.event_phase()?;
        }
    }

    fn timer_phase(&mut self) -> R {
        // Only timers registered before the phase began may fire in it.
        let mark = self.next_reg;
        loop {
            let due = (0..TIMERS)
                .filter_map(|i| {
                    let t = self.timers[i as usize];
                    let reg = t.reg?;
                    (reg <= mark && t.expires < 0).then_some((t.expires, reg, i))
                })
                .min();
            let Some((_, _, i)) = due else {
                return Ok(());
            };
            self.timers[i as usize].reg = None;
            self.callback(Src::Timer(i), 0)?;
        }
    }

    fn task_phase(&mut self) -> R {
        if self.tasks.iter().all(|t| t.reg.is_none()) {
            return Ok(());
        }
        self.round += 1;
        self.in_round = true;
        while let Some((i, reg)) = self.run_q.pop_front() {
            let t = &mut self.tasks[i as usize];
            if t.reg != Some(reg) {
                continue;
            }
            t.reg = None;
            t.last_round = self.round;
            self.callback(Src::Task(i), 0)?;
        }
        self.in_round = false;
        std::mem::swap(&mut self.run_q, &mut self.deferred);
        Ok(())
    }

    /// The descriptors the wait reports, from the registrations and the
    /// readiness at this moment.
    fn wait(&self) -> Vec<ReadyFd> {
        let mut ready = Vec::new();
        for (i, f) in self.fds.iter().enumerate() {
            let Some(reg) = f.reg else { continue };
            let (bands, maybe) = if f.hup {
                // A hang-up is reported in every band (SPEC 9), if the
                // registration is watched at all.
                (ALL, f.want == 0)
            } else {
                let now = OUT | if f.readable { IN } else { 0 };
                (now & f.want, false)
            };
            if bands != 0 {
                ready.push(ReadyFd {
                    slot: i as u8,
                    reg,
                    gen: f.gen,
                    bands,
                    maybe,
                    silent_ok: false,
                });
            }
        }
        ready
    }

    /// Whether dispatching `r` now would call nothing.
    fn silent(&self, r: &ReadyFd) -> bool {
        let f = &self.fds[r.slot as usize];
        if f.reg != Some(r.reg) {
            return true;
        }
        r.maybe || r.bands & f.want == 0
    }

    fn fd_phase(&mut self, mut ready: Vec<ReadyFd>) -> R {
        loop {
            for r in ready.iter_mut() {
                if self.silent(r) {
                    r.silent_ok = true;
                }
            }
            // The real log says which ready descriptor went next.
            let next = match self.peek() {
                Some(Record::Fire {
                    src: Src::Fd(slot),
                    gen,
                    ..
                }) => ready.iter().position(|r| r.slot == slot && r.gen == gen),
                _ => None,
            };
            let Some(k) = next else { break };
            let r = ready.swap_remove(k);
            self.dispatch_fd(&r)?;
        }
        if let Some(r) = ready.iter().find(|r| !r.silent_ok) {
            let f = &self.fds[r.slot as usize];
            return Err(self
                .mismatch(&format!(
                    "a callback of descriptor {} (gen {}) for band(s) {:#b}: it was ready at the wait and wants {:#b}",
                    r.slot, r.gen, r.bands, f.want
                ))
                .into());
        }
        Ok(())
    }

    fn dispatch_fd(&mut self, r: &ReadyFd) -> R {
        for band in BAND_ORDER {
            let f = self.fds[r.slot as usize];
            if f.reg != Some(r.reg) {
                // Unregistered by an earlier band's callback.
                break;
            }
            if r.bands & band == 0 || f.want & band == 0 {
                continue;
            }
            if r.maybe {
                let fired = matches!(
                    self.peek(),
                    Some(Record::Fire { src: Src::Fd(s), band: b, .. }) if s == r.slot && b == band
                );
                if !fired {
                    continue;
                }
            }
            self.callback(Src::Fd(r.slot), band)?;
        }
        Ok(())
    }

    fn event_phase(&mut self) -> R {
        if self.hub.is_empty() {
            return Ok(());
        }
        let batch: Vec<HubKey> = self.hub.drain(..).collect();
        for key in batch {
            match key {
                HubKey::Harness => {
                    self.harness_pending = false;
                    self.expect(Record::Harness)?;
                    self.quit = true;
                }
                HubKey::Event(i, reg) => {
                    let e = &mut self.events[i as usize];
                    if e.reg == Some(reg) {
                        e.pending = false;
                        self.callback(Src::Event(i), 0)?;
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Decoding bytes into scenarios (the fuzz target and the stable driver).

/// Reads a scenario from arbitrary bytes; every byte string gives one.
pub fn decode(data: &[u8]) -> Scenario {
    let mut d = Decoder { data, pos: 0 };
    let mut steps = Vec::new();
    while d.pos < data.len() && steps.len() < 96 {
        let tag = d.byte() % 16;
        steps.push(match tag {
            0..=9 => Step::Do(d.op()),
            10 | 11 => {
                let src = d.src();
                let n = d.byte() % 5;
                Step::Script(src, (0..n).map(|_| d.op()).collect())
            }
            _ => Step::Run,
        });
    }
    // Always end with a run, so that the last ops are seen by the loop.
    steps.push(Step::Run);
    Scenario { steps }
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn when(&mut self) -> When {
        let b = self.byte();
        if b & 0x80 == 0 {
            When::Past(b % 4)
        } else {
            When::Future(b % 4)
        }
    }

    fn src(&mut self) -> Src {
        let b = self.byte();
        match b % 4 {
            0 => Src::Timer((b >> 2) % TIMERS),
            1 => Src::Task((b >> 2) % TASKS),
            2 => Src::Fd((b >> 2) % FDS),
            _ => Src::Event((b >> 2) % EVENTS),
        }
    }

    fn op(&mut self) -> Op {
        let kind = self.byte() % 14;
        match kind {
            0 => Op::AddTimer(self.byte() % TIMERS, self.when()),
            1 => Op::Rearm(self.byte() % TIMERS, self.when()),
            2 => Op::AddTask(self.byte() % TASKS),
            3 => Op::AddFd(self.byte() % FDS, self.byte() & ALL),
            4 => {
                let b = self.byte();
                Op::SetInterest(b % FDS, (b >> 2) & ALL, (b >> 5) & 1)
            }
            5 => Op::AddEvent(self.byte() % EVENTS),
            6 => Op::Post(self.byte() % EVENTS),
            7 => Op::Remove(self.src()),
            8 => Op::Free(self.src()),
            9 => Op::MakeReadable(self.byte() % FDS),
            10 => Op::Drain(self.byte() % FDS),
            11 => {
                // Hang-ups are final; keep them rarer.
                let b = self.byte();
                if b & 3 == 0 {
                    Op::HangUp(b % FDS)
                } else {
                    Op::MakeReadable(b % FDS)
                }
            }
            12 => Op::Quit,
            _ => Op::AddTask(self.byte() % TASKS),
        }
    }
}

/// A small deterministic generator (xorshift64*), for drivers that make
/// random byte strings without a crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Random bytes, of a random length below `max_len`.
    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next_u64() % max_len as u64) as usize;
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
