//! Fatal errors (`iv_fatal`, SPEC 8).
//!
//! A fatal error formats its message, hands it to the process-wide handler set
//! with [`set_handler`] (the C face's `iv_set_fatal_msg_handler`) or, when none
//! is set, logs it to syslog at `LOG_CRIT` and to standard error, and then
//! aborts the process. It never returns and never unwinds.

use std::ffi::{c_char, CString};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The C signature of a fatal message handler.
pub type FatalHandler = unsafe extern "C" fn(msg: *const c_char);

/// The handler as a `usize` (0 = none): a function pointer fits, and an atomic
/// makes setting it from one thread and reading it from another well defined.
static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Sets (or with `None` clears) the process-wide fatal message handler.
pub fn set_handler(handler: Option<FatalHandler>) {
    HANDLER.store(handler.map_or(0, |h| h as usize), Ordering::Release);
}

fn handler() -> Option<FatalHandler> {
    match HANDLER.load(Ordering::Acquire) {
        0 => None,
        // SAFETY: the only non-zero values ever stored are `FatalHandler`s
        // converted with `as usize` in `set_handler`.
        raw => Some(unsafe { std::mem::transmute::<usize, FatalHandler>(raw) }),
    }
}

/// Reports `args` as a fatal error and aborts.
#[cold]
pub fn fatal(args: fmt::Arguments<'_>) -> ! {
    fatal_message(&args.to_string())
}

/// Reports an already formatted message and aborts.
#[cold]
pub fn fatal_message(msg: &str) -> ! {
    thread_local! {
        static IN_FATAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    // A handler that calls back into a broken library, or a panic while
    // reporting, must not recurse: the second report aborts at once.
    if IN_FATAL.with(|f| f.replace(true)) {
        std::process::abort();
    }
    let c_msg = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    match handler() {
        // SAFETY: the handler was supplied by the program through
        // `iv_set_fatal_msg_handler` for exactly this call; `c_msg` is a valid
        // NUL-terminated string that outlives the call.
        Some(h) => unsafe { h(c_msg.as_ptr()) },
        None => {
            eprintln!("ivykis: fatal: {msg}");
            // SAFETY: "%s" with a valid C string is a well-formed syslog call.
            unsafe {
                libc::syslog(libc::LOG_CRIT, c"%s".as_ptr(), c_msg.as_ptr());
            }
        }
    }
    std::process::abort()
}

/// `fatal!("fmt", args...)`: [`fatal`] with `format_args!`.
#[macro_export]
#[doc(hidden)]
macro_rules! fatal {
    ($($arg:tt)*) => { $crate::engine::fatal::fatal(format_args!($($arg)*)) };
}
