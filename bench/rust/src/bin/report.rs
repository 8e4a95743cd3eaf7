//! Turns criterion's estimates and the `alloc_counts` table into the
//! report fragment (markdown) and a TSV.
//!
//! ```text
//! report --criterion DIR [--alloc ALLOC.tsv] [--timer-phases PHASES.md] --md OUT.md --tsv OUT.tsv
//! ```
//!
//! Reads every `<DIR>/**/new/benchmark.json` (group id = workload,
//! function id = implementation, `throughput.Elements` = operations per
//! criterion iteration) and the `estimates.json` beside it; the figure is
//! the median point estimate divided by the operations per iteration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Known workloads, in table order, with their labels.
const WORKLOADS: [(&str, &str); 12] = [
    ("fd_pingpong_1", "fd ping-pong, 1 fd (per hop)"),
    (
        "fd_pingpong_100",
        "fd ping-pong, 100 fds, 4 active (per hop)",
    ),
    (
        "fd_pingpong_1000",
        "fd ping-pong, 1,000 fds, 4 active (per hop)",
    ),
    (
        "timers_10000",
        "timers, 10,000: register, cancel half, fire half (per op)",
    ),
    (
        "timers_100000",
        "timers, 100,000: register, cancel half, fire half (per op)",
    ),
    (
        "timers_kept_10000",
        "timers, 10,000 kept (set_deadline / disarm / Idle), same rounds (per op)",
    ),
    (
        "timers_kept_100000",
        "timers, 100,000 kept (set_deadline / disarm / Idle), same rounds (per op)",
    ),
    ("event_pingpong", "cross-thread ping-pong (per round trip)"),
    ("event_posts_4", "4 posting threads, 1 loop (per post)"),
    ("tasks_again", "task re-running itself (per run)"),
    ("tasks_spawn", "task adding the next task (per task)"),
    (
        "tasks_kept",
        "kept task posting the next (post_task / Idle) (per task)",
    ),
];

const IMPLS: [&str; 3] = ["ivykis", "mio", "calloop"];

fn usage() -> ! {
    eprintln!(
        "usage: report --criterion DIR [--alloc ALLOC.tsv] [--timer-phases PHASES.md] --md OUT.md --tsv OUT.tsv"
    );
    std::process::exit(2);
}

/// Every `benchmark.json` under `dir` whose parent is `new`.
fn find_benchmarks(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_benchmarks(&path, found);
        } else if path.file_name().is_some_and(|n| n == "benchmark.json")
            && dir.file_name().is_some_and(|n| n == "new")
        {
            found.push(path);
        }
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// (workload, implementation) -> nanoseconds per operation.
fn load(dir: &Path) -> Result<BTreeMap<(String, String), f64>, String> {
    let mut files = Vec::new();
    find_benchmarks(dir, &mut files);
    let mut figures = BTreeMap::new();
    for file in files {
        let bench = read_json(&file)?;
        let group = bench["group_id"]
            .as_str()
            .ok_or(format!("{}: no group_id", file.display()))?;
        let function = match (bench["function_id"].as_str(), bench["value_str"].as_str()) {
            (Some(f), _) => f,
            (None, Some(v)) => v,
            (None, None) => return Err(format!("{}: no function_id", file.display())),
        };
        let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0);
        let estimates = read_json(&file.with_file_name("estimates.json"))?;
        let median = estimates["median"]["point_estimate"]
            .as_f64()
            .ok_or(format!("{}: no median", file.display()))?;
        figures.insert((group.to_string(), function.to_string()), median / elements);
    }
    Ok(figures)
}

fn ns(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn ratio_str(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}"))
}

fn main() {
    let mut criterion = None;
    let mut alloc = None;
    let mut phases = None;
    let mut md_out = None;
    let mut tsv_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--criterion" => criterion = Some(PathBuf::from(value())),
            "--alloc" => alloc = Some(PathBuf::from(value())),
            "--timer-phases" => phases = Some(PathBuf::from(value())),
            "--md" => md_out = Some(PathBuf::from(value())),
            "--tsv" => tsv_out = Some(PathBuf::from(value())),
            _ => usage(),
        }
    }
    let (Some(criterion), Some(md_out), Some(tsv_out)) = (criterion, md_out, tsv_out) else {
        usage()
    };

    let figures = load(&criterion).unwrap_or_else(|e| {
        eprintln!("report: {e}");
        std::process::exit(1);
    });
    if figures.is_empty() {
        eprintln!("report: no criterion results under {}", criterion.display());
        std::process::exit(1);
    }

    // Known workloads first, in order; then anything else criterion ran.
    let mut order: Vec<(String, String)> = WORKLOADS
        .iter()
        .filter(|(id, _)| figures.keys().any(|(g, _)| g == id))
        .map(|(id, label)| (id.to_string(), label.to_string()))
        .collect();
    for (group, _) in figures.keys() {
        if !order.iter().any(|(id, _)| id == group) {
            order.push((group.clone(), group.clone()));
        }
    }

    let mut md = String::new();
    let mut tsv =
        String::from("kind\tworkload\tivykis\tmio\tcalloop\tivykis/mio\tivykis/calloop\n");
    md.push_str("| workload | ivykis ns/op | mio ns/op | calloop ns/op | ivykis/mio | ivykis/calloop | goals |\n");
    md.push_str("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
    let mut missed = Vec::new();
    for (id, label) in &order {
        let get = |imp: &str| figures.get(&(id.clone(), imp.to_string())).copied();
        let [ivykis, mio, calloop] = IMPLS.map(get);
        let (vs_mio, vs_calloop) = (ratio(ivykis, mio), ratio(ivykis, calloop));
        let mut verdict = Vec::new();
        if vs_mio.is_some_and(|r| r > 1.10) {
            verdict.push("more than 10% behind mio");
        }
        if vs_calloop.is_some_and(|r| r >= 1.0) {
            verdict.push("not ahead of calloop");
        }
        let verdict = if ivykis.is_none() || (mio.is_none() && calloop.is_none()) {
            "-".to_string()
        } else if verdict.is_empty() {
            "met".to_string()
        } else {
            missed.push(label.clone());
            verdict.join("; ")
        };
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} | {verdict} |",
            ns(ivykis),
            ns(mio),
            ns(calloop),
            ratio_str(vs_mio),
            ratio_str(vs_calloop)
        );
        let _ = writeln!(
            tsv,
            "time_ns\t{id}\t{}\t{}\t{}\t{}\t{}",
            ns(ivykis),
            ns(mio),
            ns(calloop),
            ratio_str(vs_mio),
            ratio_str(vs_calloop)
        );
    }
    md.push_str(
        "\nNanoseconds per operation: criterion's median per iteration divided by the \
         operations per iteration; a ratio below 1 means ivykis is faster. Goals: within \
         10% of mio (ratio at most 1.10) and ahead of calloop (ratio below 1). \"-\": no \
         equivalent (mio has no tasks; calloop's idle callbacks are one-shot; calloop's \
         O(n) timer cancellation makes a 100,000-timer round take seconds).\n",
    );
    if !missed.is_empty() {
        let _ = writeln!(md, "\nGoals missed: {}.", missed.join("; "));
    }

    if let Some(path) = phases {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                md.push_str("\nTimer rounds by phase (`timer_phases`, median of 5 rounds):\n\n");
                md.push_str(&text);
            }
            Err(e) => eprintln!("report: {}: {e} (left out)", path.display()),
        }
    }

    if let Some(path) = alloc {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                md.push_str("\nHeap allocations per operation in steady state (`alloc_counts`; a counting global allocator, a warm run, then the measured run):\n\n");
                for (i, line) in text.lines().enumerate() {
                    let cells: Vec<&str> = line.split('\t').collect();
                    let _ = writeln!(md, "| {} |", cells.join(" | "));
                    if i == 0 {
                        let _ = writeln!(md, "| --- |{}", " ---: |".repeat(cells.len() - 1));
                    } else {
                        let _ = writeln!(tsv, "allocs_per_op\t{}\t-\t-", cells.join("\t"));
                    }
                }
            }
            Err(e) => eprintln!("report: {}: {e} (left out)", path.display()),
        }
    }

    for (path, text) in [(&md_out, &md), (&tsv_out, &tsv)] {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, text).unwrap_or_else(|e| {
            eprintln!("report: writing {}: {e}", path.display());
            std::process::exit(1);
        });
    }
    print!("{md}");
}
