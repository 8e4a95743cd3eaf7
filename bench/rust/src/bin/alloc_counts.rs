//! Heap allocations per operation in steady state, for every workload and
//! implementation: a counting global allocator, a warm run after set-up
//! (tables grow to their peak), then the measured run.
//!
//! ```text
//! cargo run --release --bin alloc_counts [-- --tsv FILE] [--quick]
//! ```
//!
//! Prints a markdown table; `--tsv FILE` also writes it tab-separated
//! (`workload ivykis mio calloop`, `-` where an implementation has no
//! equivalent). Allocations are counted on every thread (the helper and
//! poster threads of the cross-thread workloads too); `realloc` counts as
//! an allocation, frees are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use ivykis_rust_bench::timers::TimerWorkload;
use ivykis_rust_bench::{cross, fd, raise_fd_limit, tasks, timers};

/// Forwards to the system allocator and counts allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the counter is an atomic
// that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller guarantees `ptr` came from this allocator
        // (hence from `System`) with `layout`, and a valid `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator
        // (hence from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per operation of `f`, which returns its operation count.
fn per_op(f: impl FnOnce() -> u64) -> f64 {
    let before = ALLOCATIONS.load(Relaxed);
    let ops = f();
    let after = ALLOCATIONS.load(Relaxed);
    (after - before) as f64 / ops as f64
}

struct Row {
    workload: String,
    values: [Option<f64>; 3],
}

fn main() {
    let mut tsv = None;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tsv" => tsv = Some(args.next().expect("--tsv FILE")),
            "--quick" => quick = true,
            "--bench" => {} // passed by `cargo bench`
            other => {
                eprintln!("usage: alloc_counts [--tsv FILE] [--quick]; unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    raise_fd_limit();
    let scale = if quick { 10 } else { 1 };
    let (warm, ops) = (20_000 / scale, 100_000 / scale);
    let mut rows = Vec::new();

    for fds in [1usize, 100, 1000] {
        let active = fds.min(4);
        let ivykis = {
            let mut w = fd::IvykisRing::new(fds, active);
            w.run(warm);
            let a = per_op(|| {
                w.run(ops);
                ops
            });
            w.check();
            a
        };
        let mio = {
            let mut w = fd::MioRing::new(fds, active);
            w.run(warm);
            let a = per_op(|| {
                w.run(ops);
                ops
            });
            w.check();
            a
        };
        let calloop = {
            let mut w = fd::CalloopRing::new(fds, active);
            w.run(warm);
            let a = per_op(|| {
                w.run(ops);
                ops
            });
            w.check();
            a
        };
        rows.push(Row {
            workload: format!("fd ping-pong, {fds} fds ({active} active), per hop"),
            values: [Some(ivykis), Some(mio), Some(calloop)],
        });
    }

    // Timers: a warm round, then each phase of a measured round counted on
    // its own. calloop at a tenth of the size (its cancel is a linear scan;
    // the counts do not depend on the size once warm).
    let n = 100_000 / scale as usize;
    let phases = |w: &mut dyn TimerWorkload| -> [f64; 3] {
        w.round();
        let n = w.n() as u64;
        let register = per_op(|| {
            w.register();
            n
        });
        let cancel = per_op(|| {
            w.cancel_half();
            n / 2
        });
        let fire = per_op(|| {
            w.fire();
            n / 2
        });
        [register, cancel, fire]
    };
    let ivykis = phases(&mut timers::IvykisTimers::new(n));
    let mio = phases(&mut timers::MioTimers::new(n));
    let calloop = phases(&mut timers::CalloopTimers::new(n / 10));
    for (k, phase) in ["register", "cancel", "fire"].iter().enumerate() {
        rows.push(Row {
            workload: format!("timers ({n}; calloop {}), per {phase}", n / 10),
            values: [Some(ivykis[k]), Some(mio[k]), Some(calloop[k])],
        });
    }
    {
        let kept = phases(&mut timers::IvykisKeptTimers::new(n));
        for (k, phase) in ["register (set_deadline)", "cancel (disarm)", "fire (Idle)"]
            .iter()
            .enumerate()
        {
            rows.push(Row {
                workload: format!("kept timers ({n}), per {phase}"),
                values: [Some(kept[k]), None, None],
            });
        }
    }
    {
        let mut w = timers::IvykisRearm::new(10_000);
        w.run(warm);
        let a = per_op(|| {
            w.run(ops);
            ops
        });
        rows.push(Row {
            workload: "timer re-arm (set_deadline), per re-arm".into(),
            values: [Some(a), None, None],
        });
    }

    {
        let trips = ops / 10;
        let ivykis = {
            let mut w = cross::IvykisPingPong::new();
            w.run(warm / 10);
            per_op(|| {
                w.run(trips);
                trips
            })
        };
        let mio = {
            let mut w = cross::MioPingPong::new();
            w.run(warm / 10);
            per_op(|| {
                w.run(trips);
                trips
            })
        };
        let calloop = {
            let mut w = cross::CalloopPingPong::new();
            w.run(warm / 10);
            per_op(|| {
                w.run(trips);
                trips
            })
        };
        rows.push(Row {
            workload: "event ping-pong, per round trip".into(),
            values: [Some(ivykis), Some(mio), Some(calloop)],
        });
    }
    {
        // Thread creation allocates: many posts per run so that it
        // amortises (it is not part of a post).
        let posts = ops * 10;
        let ivykis = {
            let mut w = cross::IvykisPosts::new(4);
            w.run(warm);
            per_op(|| w.run(posts))
        };
        let mio = {
            let mut w = cross::MioPosts::new(4);
            w.run(warm);
            per_op(|| w.run(posts))
        };
        let calloop = {
            let mut w = cross::CalloopPosts::new(4);
            w.run(warm);
            per_op(|| w.run(posts))
        };
        rows.push(Row {
            workload: "event posts, 4 posters, per post (includes spawning the 4 threads)".into(),
            values: [Some(ivykis), Some(mio), Some(calloop)],
        });
    }
    {
        let again = {
            let mut w = tasks::IvykisAgain::new();
            w.run(warm);
            per_op(|| {
                w.run(ops);
                ops
            })
        };
        rows.push(Row {
            workload: "task again (one task re-running), per run".into(),
            values: [Some(again), None, None],
        });
        let ivykis = {
            let mut w = tasks::IvykisSpawn::new();
            w.run(warm);
            per_op(|| {
                w.run(ops);
                ops
            })
        };
        let calloop = {
            let mut w = tasks::CalloopIdle::new();
            w.run(warm);
            per_op(|| {
                w.run(ops);
                ops
            })
        };
        rows.push(Row {
            workload: "task spawn (each task adds the next), per task".into(),
            values: [Some(ivykis), None, Some(calloop)],
        });
        let kept = {
            let mut w = tasks::IvykisKeptChain::new();
            w.run(warm);
            per_op(|| {
                w.run(ops);
                ops
            })
        };
        rows.push(Row {
            workload: "kept tasks (each posts the next), per task".into(),
            values: [Some(kept), None, None],
        });
    }

    let cell = |v: Option<f64>| match v {
        Some(v) => format!("{v:.3}"),
        None => "-".to_string(),
    };
    println!("| workload (allocations per operation, steady state) | ivykis | mio | calloop |");
    println!("| --- | ---: | ---: | ---: |");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} |",
            row.workload,
            cell(row.values[0]),
            cell(row.values[1]),
            cell(row.values[2])
        );
    }
    if let Some(path) = tsv {
        let mut out = String::from("workload\tivykis\tmio\tcalloop\n");
        for row in &rows {
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                row.workload,
                cell(row.values[0]),
                cell(row.values[1]),
                cell(row.values[2])
            ));
        }
        std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}
