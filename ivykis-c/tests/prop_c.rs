//! Property tests of the C face against the reference model of the loop
//! contract: the same scenarios as `ivykis/tests/prop_model.rs` (the model
//! and the strategies are shared from there), driven through the exported
//! `iv_*` functions with structs laid out as in the headers (`c_face/`).
//!
//! `PROPTEST_CASES=10000 cargo test -p ivykis-c --test prop_c` runs more
//! cases (default 256 per property). Failures are shrunk and saved in
//! `ivykis-c/proptest-regressions/prop_c.txt` (commit it). A library bug
//! that kills the process (`iv_fatal`, a panic inside the library's C
//! frames) cannot be shrunk by proptest; rerun with `--nocapture` and
//! `PROP_C_TRACE=1` to see the scenario of the case that died, or use the
//! fuzz driver (`fuzz/`), which prints the input on `iv_fatal`.

// Links the C face (its `#[no_mangle]` functions are what c_face/ calls).
extern crate ivykis_c;

#[path = "../../ivykis/tests/model/mod.rs"]
mod model;
#[path = "../../ivykis/tests/model/strategy.rs"]
mod strategy;

mod c_face;

use model::Op::*;
use model::Src::*;
use model::Step::{Do, Run, Script};
use model::When::*;
use model::{check, decode, Face, Record, Scenario, Step, ALL, ERR, IN, OUT};
use proptest::prelude::*;

fn run_and_check(scenario: &Scenario) -> Result<Vec<Record>, String> {
    c_face::keep_default_panic_hook();
    if std::env::var_os("PROP_C_TRACE").is_some() {
        eprintln!("{scenario:?}");
    }
    let log = c_face::run(scenario);
    check(Face::C, scenario, &log).map(|()| log)
}

fn assert_model(steps: Vec<Step>) -> Vec<Record> {
    let scenario = Scenario { steps };
    match run_and_check(&scenario) {
        Ok(log) => log,
        Err(e) => panic!("{e}\nscenario: {scenario:#?}"),
    }
}

proptest! {
    #![proptest_config(strategy::config(256, "proptest-regressions/prop_c.txt"))]

    #[test]
    fn c_face_matches_model(scenario in strategy::scenario()) {
        if let Err(e) = run_and_check(&scenario) {
            prop_assert!(false, "{}", e);
        }
    }

    /// The byte decoder the fuzz target uses, on random bytes.
    #[test]
    fn decoded_bytes_match_model(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = run_and_check(&decode(&bytes)) {
            prop_assert!(false, "{}", e);
        }
    }
}

// --- Named scenarios. ---------------------------------------------------------

#[test]
fn handlers_are_read_when_called() {
    // Flavour 1 handlers replace flavour 0 between two iterations, and a
    // descriptor's own callback switches its later bands' handlers.
    let log = assert_model(vec![
        Script(Fd(0), vec![SetInterest(0, ALL, 1)]),
        Do(AddFd(0, IN | OUT)),
        Do(MakeReadable(0)),
        Run,
        Run,
    ]);
    let flavours: Vec<(u8, u8)> = log
        .iter()
        .filter_map(|r| match *r {
            Record::Fire { band, flavour, .. } => Some((band, flavour)),
            _ => None,
        })
        .collect();
    assert_eq!(flavours, [(IN, 0), (OUT, 1), (IN, 1), (OUT, 1)]);
}

#[test]
fn freeing_from_callbacks_never_touches_the_freed_struct() {
    let log = assert_model(vec![
        Script(Timer(0), vec![Free(Timer(0)), Free(Timer(1))]),
        Script(Task(0), vec![Free(Task(0)), Free(Task(1)), AddTask(0)]),
        Script(Fd(0), vec![Free(Fd(0)), Free(Fd(1))]),
        Script(Event(0), vec![Free(Event(0)), Free(Event(1))]),
        Do(AddTimer(0, Past(3))),
        Do(AddTimer(1, Past(0))),
        Do(AddTask(0)),
        Do(AddTask(1)),
        Do(AddFd(0, ERR | IN | OUT)),
        Do(AddFd(1, OUT)),
        Do(HangUp(0)),
        Do(AddEvent(0)),
        Do(AddEvent(1)),
        Do(Post(0)),
        Do(Post(1)),
        Run,
        Run,
    ]);
    assert!(!log.iter().any(|r| matches!(r, Record::UseAfterFree(_))));
}

#[test]
fn a_task_registered_again_after_it_ran_waits_for_the_next_round() {
    // Task 1 re-registers task 0, which already ran in this round: the C
    // struct remembers it, so task 0 runs once per round (the Rust face's
    // `add_task` would make a new task that runs at once).
    let log = assert_model(vec![
        Script(Task(1), vec![AddTask(0)]),
        Script(Task(0), vec![AddTask(1)]),
        Do(AddTask(0)),
        Run,
    ]);
    assert!(!log.contains(&Record::Runaway));
}

#[test]
fn interest_switched_off_by_an_earlier_callback_is_honoured() {
    // Each descriptor's callback clears the other's handlers: only the one
    // dispatched first is called, although the wait reported both.
    let log = assert_model(vec![
        Script(Fd(0), vec![SetInterest(1, 0, 0)]),
        Script(Fd(1), vec![SetInterest(0, 0, 0)]),
        Do(AddFd(0, OUT)),
        Do(AddFd(1, OUT)),
        Run,
    ]);
    let fired = log
        .iter()
        .filter(|r| matches!(r, Record::Fire { .. }))
        .count();
    assert_eq!(fired, 1, "{log:?}");
    // Within one descriptor: the error handler clears the input handler.
    let log = assert_model(vec![
        Script(Fd(0), vec![SetInterest(0, ERR | OUT, 0)]),
        Do(AddFd(0, ALL)),
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
    assert_eq!(bands, [ERR, OUT]);
}
