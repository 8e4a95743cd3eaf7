//! Criterion benchmarks: each workload of the crate's library, ivykis
//! against mio and calloop. One criterion "element" is one operation of
//! the workload (see the module docs of `src/fd.rs`, `src/timers.rs`,
//! `src/cross.rs`, `src/tasks.rs`); `run.sh` divides criterion's per-
//! iteration estimate by the declared element count.
//!
//! Benchmark ids are `<workload>/<implementation>`, so
//! `cargo bench --bench loops -- fd_pingpong_1000/` runs one workload.

use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use ivykis_rust_bench::timers::TimerWorkload;
use ivykis_rust_bench::{cross, fd, raise_fd_limit, tasks, timers};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times `run(ops)` for criterion's iteration count; one iteration is one
/// operation.
fn per_op(g: &mut Group<'_>, name: &str, mut run: impl FnMut(u64)) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            if iters == 0 {
                return Duration::ZERO;
            }
            let t = Instant::now();
            run(iters);
            t.elapsed()
        })
    });
}

fn fd_pingpong(c: &mut Criterion) {
    for fds in [1usize, 100, 1000] {
        let active = fds.min(4);
        let mut g = c.benchmark_group(format!("fd_pingpong_{fds}"));
        g.throughput(Throughput::Elements(1));
        {
            let mut w = fd::IvykisRing::new(fds, active);
            per_op(&mut g, "ivykis", |ops| w.run(ops));
            w.check();
        }
        {
            let mut w = fd::MioRing::new(fds, active);
            per_op(&mut g, "mio", |ops| w.run(ops));
            w.check();
        }
        {
            let mut w = fd::CalloopRing::new(fds, active);
            per_op(&mut g, "calloop", |ops| w.run(ops));
            w.check();
        }
        g.finish();
    }
}

/// One iteration is one round: `2n` operations.
fn rounds(g: &mut Group<'_>, name: &str, w: &mut dyn TimerWorkload) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                w.round();
            }
            t.elapsed()
        })
    });
}

fn timer_churn(c: &mut Criterion) {
    // calloop cancels a timer (and drops a fired one) with a linear scan of
    // its heap, so a round of 100,000 takes seconds: it runs at 10,000 only.
    for (n, with_calloop) in [(10_000usize, true), (100_000, false)] {
        let mut g = c.benchmark_group(format!("timers_{n}"));
        g.throughput(Throughput::Elements(2 * n as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        rounds(&mut g, "ivykis", &mut timers::IvykisTimers::new(n));
        rounds(&mut g, "mio", &mut timers::MioTimers::new(n));
        if with_calloop {
            rounds(&mut g, "calloop", &mut timers::CalloopTimers::new(n));
        }
        g.finish();
        // ivykis with timers kept across rounds (set_deadline / disarm /
        // TimerAction::Idle), against the same mio rounds (whose hand-made
        // heap reuses its slots anyway).
        let mut g = c.benchmark_group(format!("timers_kept_{n}"));
        g.throughput(Throughput::Elements(2 * n as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        rounds(&mut g, "ivykis", &mut timers::IvykisKeptTimers::new(n));
        rounds(&mut g, "mio", &mut timers::MioTimers::new(n));
        g.finish();
    }
}

fn cross_thread(c: &mut Criterion) {
    {
        let mut g = c.benchmark_group("event_pingpong");
        g.throughput(Throughput::Elements(1));
        {
            let mut w = cross::IvykisPingPong::new();
            per_op(&mut g, "ivykis", |ops| w.run(ops));
        }
        {
            let mut w = cross::MioPingPong::new();
            per_op(&mut g, "mio", |ops| w.run(ops));
        }
        {
            let mut w = cross::CalloopPingPong::new();
            per_op(&mut g, "calloop", |ops| w.run(ops));
        }
        g.finish();
    }
    {
        // A run makes a whole number of posts per poster: scale the time
        // to the iterations criterion asked for.
        fn posts(g: &mut Group<'_>, name: &str, mut run: impl FnMut(u64) -> u64) {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    let made = run(iters.max(1));
                    t.elapsed().mul_f64(iters as f64 / made as f64)
                })
            });
        }
        let posters = 4;
        let mut g = c.benchmark_group(format!("event_posts_{posters}"));
        g.throughput(Throughput::Elements(1));
        {
            let mut w = cross::IvykisPosts::new(posters);
            posts(&mut g, "ivykis", |ops| w.run(ops));
        }
        {
            let mut w = cross::MioPosts::new(posters);
            posts(&mut g, "mio", |ops| w.run(ops));
        }
        {
            let mut w = cross::CalloopPosts::new(posters);
            posts(&mut g, "calloop", |ops| w.run(ops));
        }
        g.finish();
    }
}

fn task_churn(c: &mut Criterion) {
    {
        let mut g = c.benchmark_group("tasks_again");
        g.throughput(Throughput::Elements(1));
        let mut w = tasks::IvykisAgain::new();
        per_op(&mut g, "ivykis", |ops| w.run(ops));
        g.finish();
    }
    {
        let mut g = c.benchmark_group("tasks_spawn");
        g.throughput(Throughput::Elements(1));
        {
            let mut w = tasks::IvykisSpawn::new();
            per_op(&mut g, "ivykis", |ops| w.run(ops));
        }
        {
            let mut w = tasks::CalloopIdle::new();
            per_op(&mut g, "calloop", |ops| w.run(ops));
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("tasks_kept");
        g.throughput(Throughput::Elements(1));
        let mut w = tasks::IvykisKeptChain::new();
        per_op(&mut g, "ivykis", |ops| w.run(ops));
        g.finish();
    }
}

fn main() {
    raise_fd_limit();
    let mut c = Criterion::default().without_plots().configure_from_args();
    fd_pingpong(&mut c);
    timer_churn(&mut c);
    cross_thread(&mut c);
    task_churn(&mut c);
    c.final_summary();
}
