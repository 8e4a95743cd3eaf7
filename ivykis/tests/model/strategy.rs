//! proptest strategies for scenarios (shared by `ivykis/tests/prop_model.rs`
//! and `ivykis-c/tests/prop_c.rs`; the fuzz target decodes bytes instead).

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use super::model::{Op, Scenario, Src, Step, When, EVENTS, FDS, TASKS, TIMERS};

/// Cases per property: `PROPTEST_CASES` if set, else `default`. Failures
/// are saved to (and replayed first from) `regressions`, a path relative to
/// the package directory (where cargo runs integration tests).
pub fn config(default: u32, regressions: &'static str) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Shrinking a failure replays it many times; keep that bounded.
        max_shrink_iters: 4096,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

pub fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        3 => (0u8..4).prop_map(When::Past),
        1 => (0u8..4).prop_map(When::Future),
    ]
}

pub fn src() -> impl Strategy<Value = Src> {
    prop_oneof![
        (0..TIMERS).prop_map(Src::Timer),
        (0..TASKS).prop_map(Src::Task),
        (0..FDS).prop_map(Src::Fd),
        (0..EVENTS).prop_map(Src::Event),
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TIMERS, when()).prop_map(|(i, w)| Op::AddTimer(i, w)),
        1 => (0..TIMERS, when()).prop_map(|(i, w)| Op::Rearm(i, w)),
        3 => (0..TASKS).prop_map(Op::AddTask),
        3 => (0..FDS, 0u8..8).prop_map(|(i, b)| Op::AddFd(i, b)),
        2 => (0..FDS, 0u8..8, 0u8..2).prop_map(|(i, b, f)| Op::SetInterest(i, b, f)),
        2 => (0..EVENTS).prop_map(Op::AddEvent),
        2 => (0..EVENTS).prop_map(Op::Post),
        3 => src().prop_map(Op::Remove),
        1 => src().prop_map(Op::Free),
        2 => (0..FDS).prop_map(Op::MakeReadable),
        2 => (0..FDS).prop_map(Op::Drain),
        1 => (0..FDS).prop_map(Op::HangUp),
        1 => Just(Op::Quit),
    ]
}

pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => op().prop_map(Step::Do),
        3 => (src(), vec(op(), 0..5)).prop_map(|(s, ops)| Step::Script(s, ops)),
        2 => Just(Step::Run),
    ]
}

/// Up to 60 steps, always ending with a run.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    vec(step(), 0..60).prop_map(|mut steps| {
        steps.push(Step::Run);
        Scenario { steps }
    })
}
