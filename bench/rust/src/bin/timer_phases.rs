//! Where a timer round's time goes: nanoseconds per operation of each
//! phase (register, cancel, fire), median of several rounds, for each
//! implementation and size. A diagnostic next to the criterion figures.
//!
//! ```text
//! cargo run --release --bin timer_phases [-- ROUNDS [IMPL [N]]]
//! ```
//!
//! With IMPL (`ivykis`, `mio` or `calloop`) and N, only that one, at that
//! size: a small target for `valgrind --tool=callgrind` or `perf record`.

use std::time::Instant;

use ivykis_rust_bench::timers::{CalloopTimers, IvykisTimers, MioTimers, TimerWorkload};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn phases(w: &mut dyn TimerWorkload, rounds: usize) -> [f64; 3] {
    w.round(); // warm
    let n = w.n() as f64;
    let mut t = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let a = Instant::now();
        w.register();
        let b = Instant::now();
        w.cancel_half();
        let c = Instant::now();
        w.fire();
        let d = Instant::now();
        t[0].push((b - a).as_nanos() as f64 / n);
        t[1].push((c - b).as_nanos() as f64 / (n / 2.0));
        t[2].push((d - c).as_nanos() as f64 / (n / 2.0));
    }
    t.map(median)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS"))
        .unwrap_or(5);
    let only: Option<String> = std::env::args().nth(2);
    if let Some(name) = only {
        let n: usize = std::env::args()
            .nth(3)
            .map(|a| a.parse().expect("N"))
            .unwrap_or(10_000);
        let t = match name.as_str() {
            "ivykis" => phases(&mut IvykisTimers::new(n), rounds),
            "mio" => phases(&mut MioTimers::new(n), rounds),
            "calloop" => phases(&mut CalloopTimers::new(n), rounds),
            other => panic!("unknown implementation {other}"),
        };
        println!(
            "{name} n={n}: register {:.0} ns, cancel {:.0} ns, fire {:.0} ns",
            t[0], t[1], t[2]
        );
        return;
    }
    println!("| timers | phase | ivykis ns/op | mio ns/op | calloop ns/op |");
    println!("| ---: | --- | ---: | ---: | ---: |");
    for n in [10_000usize, 100_000] {
        let ivykis = phases(&mut IvykisTimers::new(n), rounds);
        let mio = phases(&mut MioTimers::new(n), rounds);
        let calloop = (n <= 10_000).then(|| phases(&mut CalloopTimers::new(n), rounds));
        for (k, phase) in ["register", "cancel", "fire"].iter().enumerate() {
            let c = calloop.map_or("-".to_string(), |c| format!("{:.0}", c[k]));
            println!("| {n} | {phase} | {:.0} | {:.0} | {c} |", ivykis[k], mio[k]);
        }
    }
}
