//! The `ops` fuzz target on stable Rust: random byte strings (no coverage
//! guidance) decoded into scenarios and checked on both faces, for a time
//! budget. CI runs it briefly; for long runs prefer cargo-fuzz on nightly
//! (see RELIABILITY.md).
//!
//! ```text
//! fuzz_ops [SECONDS] [--seed N]    random inputs for SECONDS (default 20)
//! fuzz_ops --replay FILE...        run saved inputs (cargo-fuzz artifacts too)
//! ```
//!
//! A mismatch is shrunk (chunks of the input removed while it still fails),
//! saved under `fuzz/artifacts/ops/` (replayable with `--replay` or
//! `cargo fuzz run ops FILE`) and printed with the model's explanation; the
//! exit status is then 1. A failure that ends the process (`iv_fatal`, or a
//! panic, which the C face turns into `iv_fatal`) prints the input first.

use std::ffi::{c_char, CStr};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ivykis_fuzz::check_bytes;
use ivykis_fuzz::model::{decode, Rng};

/// The input being checked, for the fatal handler.
static CURRENT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

extern "C" {
    fn iv_set_fatal_msg_handler(handler: Option<unsafe extern "C" fn(*const c_char)>);
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Called by the library just before it aborts.
unsafe extern "C" fn on_fatal(msg: *const c_char) {
    // SAFETY: the library passes a NUL-terminated message.
    let msg = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    let input = CURRENT.lock().map(|d| d.clone()).unwrap_or_default();
    let path = save(&input);
    eprintln!(
        "fuzz_ops: the library died: {msg}\ninput ({} bytes, saved as {}): {}\nscenario: {:#?}",
        input.len(),
        path.display(),
        hex(&input),
        decode(&input)
    );
}

fn save(data: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/ops");
    let _ = std::fs::create_dir_all(&dir);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let path = dir.join(format!("stable-{h:016x}"));
    let _ = std::fs::write(&path, data);
    path
}

fn check(data: &[u8]) -> Result<(), String> {
    *CURRENT.lock().unwrap() = data.to_vec();
    check_bytes(data)
}

/// Removes chunks of a failing input as long as it keeps failing.
fn shrink(mut data: Vec<u8>) -> Vec<u8> {
    for chunk in [64, 16, 4, 1] {
        let mut i = 0;
        while i < data.len() {
            let mut candidate = data.clone();
            candidate.drain(i..(i + chunk).min(data.len()));
            if check(&candidate).is_err() {
                data = candidate;
            } else {
                i += chunk;
            }
        }
    }
    data
}

fn report(data: Vec<u8>) -> ExitCode {
    eprintln!(
        "fuzz_ops: mismatch on a {}-byte input; shrinking...",
        data.len()
    );
    let data = shrink(data);
    let error = check(&data).expect_err("the shrunk input still fails");
    let path = save(&data);
    eprintln!(
        "{error}\ninput ({} bytes, saved as {}): {}\nscenario: {:#?}",
        data.len(),
        path.display(),
        hex(&data),
        decode(&data)
    );
    ExitCode::FAILURE
}

fn usage() -> ExitCode {
    eprintln!("usage: fuzz_ops [SECONDS] [--seed N] | fuzz_ops --replay FILE...");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // SAFETY: `on_fatal` has the handler's signature and stays valid for the
    // whole process.
    unsafe { iv_set_fatal_msg_handler(Some(on_fatal)) };

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--replay") {
        for file in &args[1..] {
            let data = match std::fs::read(file) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("fuzz_ops: {file}: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = check(&data) {
                eprintln!("{file}:\n{e}\nscenario: {:#?}", decode(&data));
                return ExitCode::FAILURE;
            }
            println!("{file}: matches the model");
        }
        return ExitCode::SUCCESS;
    }

    let mut seconds = 20.0_f64;
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seed" => match it.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => return usage(),
            },
            s => match s.parse() {
                Ok(v) => seconds = v,
                Err(_) => return usage(),
            },
        }
    }

    println!("fuzz_ops: random inputs for {seconds} s, seed {seed}");
    let _ = std::io::stdout().flush();
    let mut rng = Rng::new(seed);
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let mut cases: u64 = 0;
    while start.elapsed() < budget {
        let data = rng.bytes(512);
        cases += 1;
        if check(&data).is_err() {
            eprintln!("fuzz_ops: seed {seed}, case {cases}");
            return report(data);
        }
    }
    println!(
        "fuzz_ops: {cases} inputs in {:.1} s (seed {seed}), every log matched the model",
        start.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
