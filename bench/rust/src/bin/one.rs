//! Runs one workload of one implementation, without criterion: a small
//! target for `valgrind --tool=callgrind`, `perf record` or `strace -c`.
//!
//! ```text
//! one WORKLOAD IMPL [OPS]
//!   WORKLOAD: fd1 fd100 fd1000 timers10000 timers100000 pingpong posts4 again spawn
//!   IMPL:     ivykis mio calloop
//! ```
//!
//! Runs a warm-up of a tenth of OPS first, then OPS operations (for the
//! timer workloads, OPS is a number of rounds), and prints the wall time
//! per operation. With callgrind, `--toggle-collect='*measured*'` counts
//! the measured part only.

use std::time::Instant;

use ivykis_rust_bench::timers::TimerWorkload;
use ivykis_rust_bench::{cross, fd, raise_fd_limit, tasks, timers};

/// The measured part (a separate, never inlined function so that profilers
/// can select it by name).
#[inline(never)]
fn measured(run: &mut dyn FnMut(u64) -> u64, ops: u64) -> u64 {
    run(ops)
}

fn usage() -> ! {
    eprintln!("usage: one WORKLOAD IMPL [OPS] (see the source for the names)");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        usage();
    }
    let (workload, imp) = (args[0].as_str(), args[1].as_str());
    let ops: u64 = args
        .get(2)
        .map_or(100_000, |a| a.parse().unwrap_or_else(|_| usage()));
    raise_fd_limit();

    // Each workload as "run n operations, return how many were made".
    let mut run: Box<dyn FnMut(u64) -> u64> = match (workload, imp) {
        ("fd1" | "fd100" | "fd1000", _) => {
            let fds: usize = workload[2..].parse().unwrap();
            let active = fds.min(4);
            match imp {
                "ivykis" => {
                    let mut w = fd::IvykisRing::new(fds, active);
                    Box::new(move |n| {
                        w.run(n);
                        w.check();
                        n
                    })
                }
                "mio" => {
                    let mut w = fd::MioRing::new(fds, active);
                    Box::new(move |n| {
                        w.run(n);
                        w.check();
                        n
                    })
                }
                "calloop" => {
                    let mut w = fd::CalloopRing::new(fds, active);
                    Box::new(move |n| {
                        w.run(n);
                        w.check();
                        n
                    })
                }
                _ => usage(),
            }
        }
        ("timers10000" | "timers100000", _) => {
            let n: usize = workload[6..].parse().unwrap();
            let mut w: Box<dyn TimerWorkload> = match imp {
                "ivykis" => Box::new(timers::IvykisTimers::new(n)),
                "mio" => Box::new(timers::MioTimers::new(n)),
                "calloop" => Box::new(timers::CalloopTimers::new(n)),
                _ => usage(),
            };
            Box::new(move |rounds| {
                for _ in 0..rounds {
                    w.round();
                }
                rounds * 2 * w.n() as u64
            })
        }
        ("pingpong", "ivykis") => {
            let mut w = cross::IvykisPingPong::new();
            Box::new(move |n| {
                w.run(n);
                n
            })
        }
        ("pingpong", "mio") => {
            let mut w = cross::MioPingPong::new();
            Box::new(move |n| {
                w.run(n);
                n
            })
        }
        ("pingpong", "calloop") => {
            let mut w = cross::CalloopPingPong::new();
            Box::new(move |n| {
                w.run(n);
                n
            })
        }
        ("posts4", "ivykis") => {
            let mut w = cross::IvykisPosts::new(4);
            Box::new(move |n| w.run(n))
        }
        ("posts4", "mio") => {
            let mut w = cross::MioPosts::new(4);
            Box::new(move |n| w.run(n))
        }
        ("posts4", "calloop") => {
            let mut w = cross::CalloopPosts::new(4);
            Box::new(move |n| w.run(n))
        }
        ("again", "ivykis") => {
            let mut w = tasks::IvykisAgain::new();
            Box::new(move |n| {
                w.run(n);
                n
            })
        }
        ("spawn", "ivykis") => {
            let mut w = tasks::IvykisSpawn::new();
            Box::new(move |n| {
                w.run(n);
                n
            })
        }
        ("spawn", "calloop") => {
            let mut w = tasks::CalloopIdle::new();
            Box::new(move |n| {
                w.run(n);
                n
            })
        }
        _ => usage(),
    };
    run((ops / 10).max(1));
    let t = Instant::now();
    let made = measured(&mut *run, ops);
    let elapsed = t.elapsed();
    println!(
        "{workload} {imp}: {made} ops, {:.1} ns/op",
        elapsed.as_nanos() as f64 / made as f64
    );
}
