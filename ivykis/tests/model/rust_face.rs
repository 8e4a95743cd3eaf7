//! Runs a [`Scenario`] through the Rust face (`EventLoop`, `Handle`,
//! tokens, closures) and records what happens, for [`super::check`].
//!
//! Ops map onto the API as directly as it allows:
//!
//! - "registered?" is `Handle::is_registered` of the slot's last token,
//!   except for a timer or task whose callback is running: the face has
//!   already consumed it, and whether it comes back is decided by what the
//!   callback returns (`TimerAction::At`, `TaskAction::Again`), which is
//!   what registering or removing it from its own script sets;
//! - `Rearm` of a registered timer is `Handle::set_deadline`;
//! - when the last op of a descriptor's or an event's script changes the
//!   source itself (interest, removal), it is done through the callback's
//!   return value (`FdAction::SetInterest`, `FdAction::Remove`,
//!   `EventAction::Remove`), otherwise through the handle;
//! - `Free` is `Handle::remove` (the face drops the closure).

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{
    EventAction, EventLoop, EventToken, FdAction, FdToken, Handle, Instant, Interest, Poster,
    Ready, TaskAction, TaskToken, TimerAction, TimerToken,
};

use super::{Op, Record, Scenario, Src, Step, When, ALL, ERR, IN, OUT, RUNAWAY_CALLBACKS};

struct FdSlot {
    token: Option<FdToken>,
    gen: u32,
    /// The watched end; the loop holds a clone while registered.
    a: Rc<UnixStream>,
    /// The peer; `None` once hung up.
    b: Option<UnixStream>,
}

#[derive(Default)]
struct EventSlot {
    token: Option<EventToken>,
    poster: Option<Poster>,
    gen: u32,
}

/// A timer or task re-arming itself from its own callback.
#[derive(Clone, Copy)]
enum SelfRearm {
    Timer(Instant),
    Task,
}

struct State {
    log: Vec<Record>,
    scripts: HashMap<Src, Vec<Op>>,
    t0: Instant,
    timers: [(Option<TimerToken>, u32); super::TIMERS as usize],
    tasks: [(Option<TaskToken>, u32); super::TASKS as usize],
    fds: Vec<FdSlot>,
    events: Vec<EventSlot>,
    running: Option<Src>,
    self_rearm: Option<SelfRearm>,
    callbacks: u32,
}

type Shared = Rc<RefCell<State>>;

/// Runs `scenario` on a fresh loop of the calling thread and returns the
/// log. Panics only if the face refuses something it must accept.
pub fn run(scenario: &Scenario) -> Vec<Record> {
    let event_loop = EventLoop::new().expect("EventLoop::new");
    let handle = event_loop.handle();
    let fds = (0..super::FDS)
        .map(|_| {
            let (a, b) = UnixStream::pair().expect("socketpair");
            a.set_nonblocking(true).expect("set_nonblocking");
            // A full buffer means "readable" all the same.
            b.set_nonblocking(true).expect("set_nonblocking");
            FdSlot {
                token: None,
                gen: 0,
                a: Rc::new(a),
                b: Some(b),
            }
        })
        .collect();
    let st: Shared = Rc::new(RefCell::new(State {
        log: Vec::new(),
        scripts: HashMap::new(),
        t0: handle.now(),
        timers: Default::default(),
        tasks: Default::default(),
        fds,
        events: (0..super::EVENTS).map(|_| EventSlot::default()).collect(),
        running: None,
        self_rearm: None,
        callbacks: 0,
    }));

    // The harness event: records itself and quits (see the model's docs).
    let sh = st.clone();
    let (_harness_token, harness) = handle
        .add_event(move |h| {
            sh.borrow_mut().log.push(Record::Harness);
            h.quit().expect("quit");
        })
        .expect("add_event");

    for step in &scenario.steps {
        match step {
            Step::Do(op) => do_op(&st, &handle, op),
            Step::Script(src, ops) => {
                st.borrow_mut().scripts.insert(*src, ops.clone());
            }
            Step::Run => {
                {
                    let mut s = st.borrow_mut();
                    s.log.push(Record::Run);
                    s.callbacks = 0;
                }
                harness.post().expect("post the harness event");
                event_loop.run();
                st.borrow_mut().log.push(Record::Returned);
            }
        }
    }
    // Dropping the loop drops every closure (they hold `st`), then the
    // sockets go with `st`.
    drop(event_loop);
    let log = std::mem::take(&mut st.borrow_mut().log);
    log
}

fn deadline(st: &Shared, when: When) -> Instant {
    let t0 = st.borrow().t0;
    let ms = when.offset_ms();
    if ms < 0 {
        t0 - Duration::from_millis(ms.unsigned_abs())
    } else {
        t0 + Duration::from_millis(ms as u64)
    }
}

fn interest(bands: u8) -> Interest {
    let mut i = Interest::NONE;
    if bands & ERR != 0 {
        i |= Interest::ERROR;
    }
    if bands & IN != 0 {
        i |= Interest::READABLE;
    }
    if bands & OUT != 0 {
        i |= Interest::WRITABLE;
    }
    i
}

/// A timer or task op on the source whose callback is running.
fn is_self(st: &Shared, src: Src) -> bool {
    let s = st.borrow();
    s.running == Some(src) && matches!(src, Src::Timer(_) | Src::Task(_))
}

fn registered(st: &Shared, h: &Handle, src: Src) -> bool {
    if is_self(st, src) {
        return st.borrow().self_rearm.is_some();
    }
    let s = st.borrow();
    match src {
        Src::Timer(i) => s.timers[i as usize].0.is_some_and(|t| h.is_registered(t)),
        Src::Task(i) => s.tasks[i as usize].0.is_some_and(|t| h.is_registered(t)),
        Src::Fd(i) => s.fds[i as usize].token.is_some_and(|t| h.is_registered(t)),
        Src::Event(i) => s.events[i as usize]
            .token
            .is_some_and(|t| h.is_registered(t)),
    }
}

/// Unregisters a source that `registered` said is registered.
fn unregister(st: &Shared, h: &Handle, src: Src) {
    if is_self(st, src) {
        st.borrow_mut().self_rearm = None;
        return;
    }
    let token: ivykis::Token = {
        let s = st.borrow();
        match src {
            Src::Timer(i) => s.timers[i as usize].0.expect("token").into(),
            Src::Task(i) => s.tasks[i as usize].0.expect("token").into(),
            Src::Fd(i) => s.fds[i as usize].token.expect("token").into(),
            Src::Event(i) => s.events[i as usize].token.expect("token").into(),
        }
    };
    h.remove(token).expect("remove a registered source");
}

fn add_timer(st: &Shared, h: &Handle, i: u8, when: When) {
    let at = deadline(st, when);
    if is_self(st, Src::Timer(i)) {
        st.borrow_mut().self_rearm = Some(SelfRearm::Timer(at));
        return;
    }
    let sh = st.clone();
    let token = h
        .add_timer_at(at, move |h| timer_fired(&sh, h, i))
        .expect("add_timer_at");
    let mut s = st.borrow_mut();
    s.timers[i as usize].0 = Some(token);
    s.timers[i as usize].1 += 1;
}

fn add_task(st: &Shared, h: &Handle, i: u8) {
    if is_self(st, Src::Task(i)) {
        st.borrow_mut().self_rearm = Some(SelfRearm::Task);
        return;
    }
    let sh = st.clone();
    let token = h
        .add_task(move |h| task_fired(&sh, h, i))
        .expect("add_task");
    let mut s = st.borrow_mut();
    s.tasks[i as usize].0 = Some(token);
    s.tasks[i as usize].1 += 1;
}

fn add_fd(st: &Shared, h: &Handle, i: u8, bands: u8) {
    let (a, gen) = {
        let s = st.borrow();
        let slot = &s.fds[i as usize];
        (slot.a.clone(), slot.gen + 1)
    };
    let sh = st.clone();
    let token = h
        .add_fd(a, interest(bands), move |h, _a, ready| {
            let band = match ready {
                Ready::Error => ERR,
                Ready::Readable => IN,
                Ready::Writable => OUT,
            };
            fd_fired(&sh, h, i, gen, band)
        })
        .expect("add_fd");
    let mut s = st.borrow_mut();
    s.fds[i as usize].token = Some(token);
    s.fds[i as usize].gen = gen;
}

fn add_event(st: &Shared, h: &Handle, i: u8) {
    let gen = st.borrow().events[i as usize].gen + 1;
    let sh = st.clone();
    let (token, poster) = h
        .add_event(move |h| event_fired(&sh, h, i, gen))
        .expect("add_event");
    let mut s = st.borrow_mut();
    let slot = &mut s.events[i as usize];
    slot.token = Some(token);
    slot.poster = Some(poster);
    slot.gen = gen;
}

fn do_op(st: &Shared, h: &Handle, op: &Op) {
    let applied = match *op {
        Op::AddTimer(i, when) => {
            if registered(st, h, Src::Timer(i)) {
                false
            } else {
                add_timer(st, h, i, when);
                true
            }
        }
        Op::Rearm(i, when) => {
            let src = Src::Timer(i);
            let was = registered(st, h, src);
            if was && !is_self(st, src) {
                let token = st.borrow().timers[i as usize].0.expect("token");
                h.set_deadline(token, deadline(st, when))
                    .expect("set_deadline");
                st.borrow_mut().timers[i as usize].1 += 1;
            } else {
                add_timer(st, h, i, when);
            }
            was
        }
        Op::AddTask(i) => {
            if registered(st, h, Src::Task(i)) {
                false
            } else {
                add_task(st, h, i);
                true
            }
        }
        Op::AddFd(i, bands) => {
            if registered(st, h, Src::Fd(i)) {
                false
            } else {
                add_fd(st, h, i, bands & ALL);
                true
            }
        }
        Op::SetInterest(i, bands, _flavour) => {
            if registered(st, h, Src::Fd(i)) {
                let token = st.borrow().fds[i as usize].token.expect("token");
                h.set_interest(token, interest(bands & ALL))
                    .expect("set_interest");
                true
            } else {
                false
            }
        }
        Op::AddEvent(i) => {
            if registered(st, h, Src::Event(i)) {
                false
            } else {
                add_event(st, h, i);
                true
            }
        }
        Op::Post(i) => {
            if registered(st, h, Src::Event(i)) {
                let s = st.borrow();
                let poster = s.events[i as usize].poster.as_ref().expect("poster");
                poster.post().expect("post to a registered event");
                true
            } else {
                false
            }
        }
        Op::Remove(src) | Op::Free(src) => {
            let was = registered(st, h, src);
            if was {
                unregister(st, h, src);
            }
            was
        }
        Op::MakeReadable(i) => {
            let mut s = st.borrow_mut();
            match s.fds[i as usize].b.as_mut() {
                Some(b) => match b.write(&[1]) {
                    Ok(_) => true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => true,
                    Err(e) => panic!("write to the peer: {e}"),
                },
                None => false,
            }
        }
        Op::Drain(i) => {
            let a = st.borrow().fds[i as usize].a.clone();
            let mut buf = [0u8; 256];
            loop {
                match (&*a).read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("drain: {e}"),
                }
            }
            true
        }
        Op::HangUp(i) => st.borrow_mut().fds[i as usize].b.take().is_some(),
        Op::Quit => {
            h.quit().expect("quit");
            true
        }
    };
    st.borrow_mut().log.push(Record::Applied(applied));
}

/// Records a callback and returns its script, or `None` once the run made
/// too many callbacks (then it quits).
fn begin(st: &Shared, h: &Handle, src: Src, gen: u32, band: u8) -> Option<Vec<Op>> {
    let mut s = st.borrow_mut();
    s.callbacks += 1;
    if s.callbacks > RUNAWAY_CALLBACKS {
        if s.callbacks == RUNAWAY_CALLBACKS + 1 {
            s.log.push(Record::Runaway);
        }
        drop(s);
        h.quit().expect("quit");
        return None;
    }
    s.log.push(Record::Fire {
        src,
        gen,
        band,
        flavour: 0,
    });
    s.running = Some(src);
    s.self_rearm = None;
    Some(s.scripts.get(&src).cloned().unwrap_or_default())
}

/// Ends a callback: what it re-arms itself with, if anything.
fn end(st: &Shared) -> Option<SelfRearm> {
    let mut s = st.borrow_mut();
    s.running = None;
    s.self_rearm.take()
}

fn timer_fired(st: &Shared, h: &Handle, i: u8) -> TimerAction {
    let gen = st.borrow().timers[i as usize].1;
    let Some(script) = begin(st, h, Src::Timer(i), gen, 0) else {
        return TimerAction::Done;
    };
    for op in &script {
        do_op(st, h, op);
    }
    match end(st) {
        Some(SelfRearm::Timer(at)) => {
            st.borrow_mut().timers[i as usize].1 += 1;
            TimerAction::At(at)
        }
        _ => TimerAction::Done,
    }
}

fn task_fired(st: &Shared, h: &Handle, i: u8) -> TaskAction {
    let gen = st.borrow().tasks[i as usize].1;
    let Some(script) = begin(st, h, Src::Task(i), gen, 0) else {
        return TaskAction::Done;
    };
    for op in &script {
        do_op(st, h, op);
    }
    match end(st) {
        Some(SelfRearm::Task) => {
            st.borrow_mut().tasks[i as usize].1 += 1;
            TaskAction::Again
        }
        _ => TaskAction::Done,
    }
}

/// Whether slot `i`'s current registration is the one of generation `gen`
/// and is still registered (so a return action applies to it).
fn current(st: &Shared, h: &Handle, src: Src, gen: u32) -> bool {
    let same = {
        let s = st.borrow();
        match src {
            Src::Fd(i) => s.fds[i as usize].gen == gen,
            Src::Event(i) => s.events[i as usize].gen == gen,
            _ => false,
        }
    };
    same && registered(st, h, src)
}

fn fd_fired(st: &Shared, h: &Handle, i: u8, gen: u32, band: u8) -> FdAction {
    let Some(script) = begin(st, h, Src::Fd(i), gen, band) else {
        return FdAction::Continue;
    };
    let mut action = FdAction::Continue;
    if let Some((last, rest)) = script.split_last() {
        for op in rest {
            do_op(st, h, op);
        }
        let src = Src::Fd(i);
        match *last {
            Op::SetInterest(j, bands, _) if j == i && current(st, h, src, gen) => {
                action = FdAction::SetInterest(interest(bands & ALL));
                st.borrow_mut().log.push(Record::Applied(true));
            }
            Op::Remove(s) | Op::Free(s) if s == src && current(st, h, src, gen) => {
                action = FdAction::Remove;
                st.borrow_mut().log.push(Record::Applied(true));
            }
            _ => do_op(st, h, last),
        }
    }
    end(st);
    action
}

fn event_fired(st: &Shared, h: &Handle, i: u8, gen: u32) -> EventAction {
    let Some(script) = begin(st, h, Src::Event(i), gen, 0) else {
        return EventAction::Continue;
    };
    let mut action = EventAction::Continue;
    if let Some((last, rest)) = script.split_last() {
        for op in rest {
            do_op(st, h, op);
        }
        let src = Src::Event(i);
        match *last {
            Op::Remove(s) | Op::Free(s) if s == src && current(st, h, src, gen) => {
                action = EventAction::Remove;
                st.borrow_mut().log.push(Record::Applied(true));
            }
            _ => do_op(st, h, last),
        }
    }
    end(st);
    action
}
