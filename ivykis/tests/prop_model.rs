//! Property tests of the Rust face against the reference model of the loop
//! contract (`model/mod.rs`): random sequences of registrations,
//! unregistrations, interest changes, posts, readiness changes, quits and
//! callback scripts (re-entrant registration, removal and freeing from
//! callbacks) are run on a real loop, and what fired, in what order, is
//! compared with what the model says the contract allows.
//!
//! `PROPTEST_CASES=10000 cargo test -p ivykis --test prop_model` runs more
//! cases (default 256 per property). A failure is shrunk to a minimal
//! scenario, saved in `ivykis/proptest-regressions/prop_model.txt` (commit
//! it: it is replayed first on every later run) and printed with the
//! model's explanation; a real bug then also gets a named test below.

mod model;
#[path = "model/strategy.rs"]
mod strategy;

use model::Op::*;
use model::Src::*;
use model::Step::{Do, Run, Script};
use model::When::*;
use model::{check, decode, rust_face, Face, Record, Scenario, Step, IN, OUT};
use proptest::prelude::*;

/// Runs `steps` through the Rust face and checks the log against the model.
fn assert_model(steps: Vec<Step>) -> Vec<Record> {
    let scenario = Scenario { steps };
    let log = rust_face::run(&scenario);
    if let Err(e) = check(Face::Rust, &scenario, &log) {
        panic!("{e}\nscenario: {scenario:#?}");
    }
    log
}

proptest! {
    #![proptest_config(strategy::config(256, "proptest-regressions/prop_model.txt"))]

    #[test]
    fn rust_face_matches_model(scenario in strategy::scenario()) {
        let log = rust_face::run(&scenario);
        if let Err(e) = check(Face::Rust, &scenario, &log) {
            prop_assert!(false, "{}", e);
        }
    }

    /// The byte decoder the fuzz target uses, on random bytes.
    #[test]
    fn decoded_bytes_match_model(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let scenario = decode(&bytes);
        let log = rust_face::run(&scenario);
        if let Err(e) = check(Face::Rust, &scenario, &log) {
            prop_assert!(false, "{}", e);
        }
    }
}

// --- The checker itself must be able to fail. ----------------------------

fn fires(log: &[Record]) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Record::Fire { .. }))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn model_rejects_timers_out_of_deadline_order() {
    let scenario = Scenario {
        steps: vec![Do(AddTimer(0, Past(0))), Do(AddTimer(1, Past(3))), Run],
    };
    let mut log = rust_face::run(&scenario);
    check(Face::Rust, &scenario, &log).unwrap();
    // Timer 1 is earlier: it fires first.
    let f = fires(&log);
    assert!(matches!(log[f[0]], Record::Fire { src: Timer(1), .. }));
    log.swap(f[0], f[1]);
    assert!(check(Face::Rust, &scenario, &log).is_err());
}

#[test]
fn model_rejects_a_missing_descriptor_callback() {
    let scenario = Scenario {
        steps: vec![Do(AddFd(0, IN | OUT)), Do(MakeReadable(0)), Run],
    };
    let mut log = rust_face::run(&scenario);
    check(Face::Rust, &scenario, &log).unwrap();
    let f = fires(&log);
    assert_eq!(f.len(), 2, "readable, then writable: {log:?}");
    log.remove(f[1]);
    assert!(check(Face::Rust, &scenario, &log).is_err());
}

#[test]
fn model_rejects_a_callback_after_removal() {
    // Descriptor 1 removes descriptor 0 and 0 removes 1: whichever the
    // backend dispatches first fires, the other must not.
    let scenario = Scenario {
        steps: vec![
            Script(Fd(0), vec![Remove(Fd(1))]),
            Script(Fd(1), vec![Remove(Fd(0))]),
            Do(AddFd(0, OUT)),
            Do(AddFd(1, OUT)),
            Run,
        ],
    };
    let log = rust_face::run(&scenario);
    check(Face::Rust, &scenario, &log).unwrap();
    let f = fires(&log);
    assert_eq!(f.len(), 1, "{log:?}");
    // A log where both fired is refused.
    let mut both = log.clone();
    let other = match log[f[0]] {
        Record::Fire { src: Fd(0), .. } => Fd(1),
        _ => Fd(0),
    };
    both.insert(
        f[0] + 2,
        Record::Fire {
            src: other,
            gen: 1,
            band: OUT,
            flavour: 0,
        },
    );
    both.insert(f[0] + 3, Record::Applied(false));
    assert!(check(Face::Rust, &scenario, &both).is_err());
}

// --- Named scenarios (and regressions found by the properties). ----------

#[test]
fn tasks_registered_during_a_round_run_in_it_unless_they_ran() {
    assert_model(vec![
        // Task 0 registers 1 (runs this round) and itself (next round).
        Script(Task(0), vec![AddTask(1), AddTask(0)]),
        Script(Task(1), vec![AddTask(2)]),
        Do(AddTask(0)),
        Run,
        Run,
    ]);
}

#[test]
fn timers_armed_from_timer_callbacks_wait_for_the_next_iteration() {
    assert_model(vec![
        Script(Timer(0), vec![AddTimer(1, Past(3)), Remove(Timer(2))]),
        Do(AddTimer(0, Past(2))),
        Do(AddTimer(2, Past(0))),
        Do(AddTimer(3, Future(0))),
        Run,
    ]);
}

#[test]
fn descriptor_removing_itself_skips_its_remaining_bands() {
    assert_model(vec![
        Script(Fd(0), vec![Remove(Fd(0)), AddFd(0, OUT)]),
        Do(AddFd(0, 7)),
        Do(HangUp(0)),
        Run,
        Run,
    ]);
}

#[test]
fn events_coalesce_and_posts_from_their_own_callback_wait() {
    assert_model(vec![
        Script(Event(0), vec![Post(0), Post(1), Remove(Event(2))]),
        Do(AddEvent(0)),
        Do(AddEvent(1)),
        Do(AddEvent(2)),
        Do(Post(1)),
        Do(Post(0)),
        Do(Post(0)),
        Do(Post(2)),
        Run,
        Run,
    ]);
}

#[test]
fn quit_from_a_task_returns_before_the_wait() {
    let log = assert_model(vec![
        Script(Task(0), vec![Quit]),
        Do(AddTask(0)),
        Do(AddFd(0, OUT)),
        Do(Quit), // outside a run: cleared when the run starts
        Run,
    ]);
    // The descriptor was not polled in that run.
    assert!(!log
        .iter()
        .any(|r| matches!(r, Record::Fire { src: Fd(0), .. })));
}

#[test]
fn switching_interest_on_a_ready_descriptor_fires_next_iteration() {
    assert_model(vec![
        Do(AddFd(0, 0)),
        Do(MakeReadable(0)),
        Run,
        Do(SetInterest(0, IN, 0)),
        Run,
        Script(Task(0), vec![SetInterest(0, OUT, 0)]),
        Do(AddTask(0)),
        Run,
    ]);
}

#[test]
fn tasks_adding_each_other_never_end_the_round() {
    // Each `add_task` makes a new task that has not run in this round, so
    // the round never ends (the loop stops polling descriptors); both the
    // library and the model reach the runaway limit at the same callback.
    let log = assert_model(vec![
        Script(Task(7), vec![AddTask(3)]),
        Script(Task(3), vec![AddTask(7)]),
        Do(AddTask(3)),
        Run,
    ]);
    assert!(log.contains(&Record::Runaway));
}

/// The generator must keep reaching every kind of callback (a strategy
/// change that stopped producing, say, descriptor errors would make the
/// properties above vacuous for them).
#[test]
fn generated_scenarios_reach_every_kind_of_callback() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let scenario = strategy::scenario()
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let log = rust_face::run(&scenario);
        check(Face::Rust, &scenario, &log).unwrap();
        for r in log {
            let kind = match r {
                Record::Fire { src: Timer(_), .. } => "timer",
                Record::Fire { src: Task(_), .. } => "task",
                Record::Fire { src: Event(_), .. } => "event",
                Record::Fire {
                    src: Fd(_),
                    band: 1,
                    ..
                } => "fd error",
                Record::Fire {
                    src: Fd(_),
                    band: 2,
                    ..
                } => "fd readable",
                Record::Fire { src: Fd(_), .. } => "fd writable",
                Record::Applied(true) => "op applied",
                Record::Applied(false) => "op without effect",
                _ => continue,
            };
            *seen.entry(kind).or_insert(0u32) += 1;
        }
    }
    eprintln!("records over 200 generated scenarios: {seen:?}");
    for kind in [
        "timer",
        "task",
        "event",
        "fd error",
        "fd readable",
        "fd writable",
        "op applied",
        "op without effect",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) >= 20,
            "{kind}: {seen:?}"
        );
    }
}

#[test]
fn interest_switched_off_by_an_earlier_callback_is_honoured() {
    // Both descriptors are writable and each one's callback switches the
    // other's interest off: whichever the backend dispatches first fires,
    // the other must not, although the wait reported it.
    let log = assert_model(vec![
        Script(Fd(0), vec![SetInterest(1, 0, 0)]),
        Script(Fd(1), vec![SetInterest(0, 0, 0)]),
        Do(AddFd(0, OUT)),
        Do(AddFd(1, OUT)),
        Run,
    ]);
    assert_eq!(fires(&log).len(), 1, "{log:?}");
    // The same within one descriptor: its error callback drops the
    // readable band, so of a hang-up (all bands ready) only error and
    // writable are called.
    let log = assert_model(vec![
        Script(Fd(0), vec![SetInterest(0, model::ERR | OUT, 0)]),
        Do(AddFd(0, model::ALL)),
        Do(HangUp(0)),
        Run,
    ]);
    let bands: Vec<u8> = log
        .iter()
        .filter_map(|r| match *r {
            Record::Fire { band, .. } => Some(band),
            _ => None,
        })
        .collect();
    assert_eq!(bands, [model::ERR, OUT]);
}
