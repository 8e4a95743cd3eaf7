//! Property test of kept timers and tasks (`Handle::disarm`,
//! `TimerAction::Idle`, `Handle::post_task`, `TaskAction::Idle`) against a
//! small model: random sequences of arming, disarming, removing, posting
//! and loop iterations, with what fired and what is registered compared
//! after every step.
//!
//! Determinism: a timer is armed either due now (it fires in the next
//! iteration) or an hour away (it never fires during the test), and every
//! iteration ends with a task that quits the loop, so one `run` is one
//! iteration: the due timers, then one round of tasks.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{Error, EventLoop, TaskAction, TaskToken, TimerAction, TimerToken};
use proptest::prelude::*;
use util::Deadline;

const TIMERS: usize = 4;
const TASKS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    /// Arm timer `i`, due now or an hour away.
    Arm(usize, bool),
    Disarm(usize),
    RemoveTimer(usize),
    /// Post task `i`; `true`: its callback posts it again once.
    Post(usize, bool),
    RemoveTask(usize),
    /// One loop iteration.
    Iterate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TIMERS, any::<bool>()).prop_map(|(i, due)| Op::Arm(i, due)),
        2 => (0..TIMERS).prop_map(Op::Disarm),
        1 => (0..TIMERS).prop_map(Op::RemoveTimer),
        3 => (0..TASKS, any::<bool>()).prop_map(|(i, again)| Op::Post(i, again)),
        1 => (0..TASKS).prop_map(Op::RemoveTask),
        3 => Just(Op::Iterate),
    ]
}

/// What the contract says about one timer or task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Kept, not armed / not posted.
    Idle,
    /// Armed due now, or posted.
    Due,
    /// Armed an hour away.
    Far,
    Removed,
}

/// The model's prediction of one iteration: every due timer fires and
/// becomes idle; every posted task runs once and becomes idle, unless its
/// callback posts it again (then it stays posted, for the next round).
fn iterate(timers: &mut [State], tasks: &mut [State], repost: &mut [bool]) -> Vec<String> {
    let mut fired = Vec::new();
    for (i, t) in timers.iter_mut().enumerate() {
        if *t == State::Due {
            fired.push(format!("timer {i}"));
            *t = State::Idle;
        }
    }
    for (i, t) in tasks.iter_mut().enumerate() {
        if *t == State::Due {
            fired.push(format!("task {i}"));
            if !std::mem::take(&mut repost[i]) {
                *t = State::Idle;
            }
        }
    }
    fired
}

fn run_scenario(ops: &[Op]) -> Result<(), TestCaseError> {
    // A loop that should have returned after one iteration and kept
    // waiting ends the test process instead of hanging it.
    let _deadline = Deadline::new("prop_kept scenario", Duration::from_secs(60));
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    // Per task: whether its next run posts it again.
    let repost_flags: Rc<RefCell<[bool; TASKS]>> = Rc::default();
    let task_tokens: Rc<RefCell<Vec<TaskToken>>> = Rc::default();

    let timers: Vec<TimerToken> = (0..TIMERS)
        .map(|i| {
            let log = log.clone();
            let t = h
                .add_timer_after(Duration::from_secs(3600), move |_| {
                    log.borrow_mut().push(format!("timer {i}"));
                    TimerAction::Idle
                })
                .unwrap();
            h.disarm(t).unwrap();
            t
        })
        .collect();
    for i in 0..TASKS {
        let (log, flags, tokens) = (log.clone(), repost_flags.clone(), task_tokens.clone());
        let t = h
            .add_task(move |h| {
                log.borrow_mut().push(format!("task {i}"));
                if std::mem::take(&mut flags.borrow_mut()[i]) {
                    h.post_task(tokens.borrow()[i]).unwrap();
                }
                TaskAction::Idle
            })
            .unwrap();
        task_tokens.borrow_mut().push(t);
    }
    // Park the tasks (they run once), in one iteration.
    h.add_task(|h| h.quit().unwrap()).unwrap();
    event_loop.run();
    log.borrow_mut().clear();
    let tasks = task_tokens.borrow().clone();

    let mut m_timers = [State::Idle; TIMERS];
    let mut m_tasks = [State::Idle; TASKS];
    let mut m_repost = [false; TASKS];
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Arm(i, due) => {
                let at = if due {
                    h.now()
                } else {
                    h.now() + Duration::from_secs(3600)
                };
                let r = h.set_deadline(timers[i], at);
                if m_timers[i] == State::Removed {
                    prop_assert!(matches!(r, Err(Error::Stale)), "step {step}: {r:?}");
                } else {
                    prop_assert!(r.is_ok(), "step {step}: {r:?}");
                    m_timers[i] = if due { State::Due } else { State::Far };
                }
            }
            Op::Disarm(i) => {
                let r = h.disarm(timers[i]);
                if m_timers[i] == State::Removed {
                    prop_assert!(matches!(r, Err(Error::Stale)), "step {step}: {r:?}");
                } else {
                    prop_assert!(r.is_ok(), "step {step}: {r:?}");
                    m_timers[i] = State::Idle;
                }
            }
            Op::RemoveTimer(i) => {
                let r = h.remove(timers[i]);
                prop_assert_eq!(r.is_ok(), m_timers[i] != State::Removed, "step {}", step);
                m_timers[i] = State::Removed;
            }
            Op::Post(i, again) => {
                if m_tasks[i] != State::Removed {
                    repost_flags.borrow_mut()[i] = again;
                    m_repost[i] = again;
                }
                let r = h.post_task(tasks[i]);
                if m_tasks[i] == State::Removed {
                    prop_assert!(matches!(r, Err(Error::Stale)), "step {step}: {r:?}");
                } else {
                    prop_assert!(r.is_ok(), "step {step}: {r:?}");
                    m_tasks[i] = State::Due;
                }
            }
            Op::RemoveTask(i) => {
                let r = h.remove(tasks[i]);
                prop_assert_eq!(r.is_ok(), m_tasks[i] != State::Removed, "step {}", step);
                m_tasks[i] = State::Removed;
                m_repost[i] = false;
            }
            Op::Iterate => {
                h.add_task(|h| h.quit().unwrap()).unwrap();
                event_loop.run();
                let mut got = std::mem::take(&mut *log.borrow_mut());
                let mut want = iterate(&mut m_timers, &mut m_tasks, &mut m_repost);
                // Timers fire in deadline order and tasks in posting order;
                // the model checks which fired, not their order.
                got.sort();
                want.sort();
                prop_assert_eq!(got, want, "step {}", step);
            }
        }
        for (i, t) in timers.iter().enumerate() {
            let armed = matches!(m_timers[i], State::Due | State::Far);
            prop_assert_eq!(h.is_registered(*t), armed, "step {}: timer {}", step, i);
        }
        for (i, t) in tasks.iter().enumerate() {
            prop_assert_eq!(
                h.is_registered(*t),
                m_tasks[i] == State::Due,
                "step {}: task {}",
                step,
                i
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn kept_timers_and_tasks_follow_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run_scenario(&ops)?;
    }
}

/// A fixed scenario through every kind of step: self-reposting, removing
/// a posted task, arming far and disarming, removing an armed timer.
#[test]
fn a_fixed_scenario_follows_the_model() {
    use Op::*;
    let ops = [
        Post(0, true),
        Arm(1, true),
        Iterate,
        Iterate,
        Arm(1, false),
        Arm(2, true),
        Iterate,
        Post(1, false),
        RemoveTask(1),
        Post(1, false),
        Disarm(1),
        RemoveTimer(2),
        Arm(2, true),
        Iterate,
        Arm(1, true),
        Iterate,
    ];
    run_scenario(&ops).unwrap();
}
