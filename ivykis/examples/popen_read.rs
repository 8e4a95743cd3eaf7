//! Runs a command, reads its output through `Handle::popen` and the loop,
//! prints it with line numbers, and exits with the command's status.
//!
//! ```sh
//! cargo run --example popen_read -- ls -l /
//! cargo run --example popen_read -- sh -c 'echo one; echo two; exit 3'; echo "status $?"
//! ```
//!
//! Without arguments it runs `ls -l /`. A command killed by a signal makes
//! the program exit with 128 + the signal number, as shells report it.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::rc::Rc;

use ivykis::{ChildStatus, EventLoop, FdAction, Interest, PopenMode};

/// Splits what arrives into lines and prints each with its number.
struct Numberer {
    line: u64,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
}

impl Numberer {
    fn feed(&mut self, data: &[u8], out: &mut impl Write) -> io::Result<()> {
        self.partial.extend_from_slice(data);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|&b| b == b'\n') {
            self.print(start, start + end + 1, out)?;
            start += end + 1;
        }
        self.partial.drain(..start);
        Ok(())
    }

    /// At end of file: a last line without a newline.
    fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        if !self.partial.is_empty() {
            let len = self.partial.len();
            self.print(0, len, out)?;
            out.write_all(b"\n")?;
            self.partial.clear();
        }
        out.flush()
    }

    fn print(&mut self, from: usize, to: usize, out: &mut impl Write) -> io::Result<()> {
        self.line += 1;
        write!(out, "{:6}  ", self.line)?;
        out.write_all(&self.partial[from..to])
    }
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        args = vec!["ls".into(), "-l".into(), "/".into()];
    }
    let program = args.remove(0);

    let event_loop = EventLoop::new()?;
    let handle = event_loop.handle();
    // `child` must live until we are done: dropping it would end the command.
    let (output, child) = handle.popen(&program, &args, PopenMode::Read)?;

    let numberer = Rc::new(RefCell::new(Numberer {
        line: 0,
        partial: Vec::new(),
    }));
    let n = Rc::clone(&numberer);
    handle.add_fd(output, Interest::READABLE, move |_h, output, _ready| {
        let mut buf = [0; 4096];
        let mut stdout = io::stdout().lock();
        let printed = match output.read(&mut buf) {
            // End of file: print a last unterminated line, then close our
            // end of the pipe.
            Ok(0) => n
                .borrow_mut()
                .finish(&mut stdout)
                .map(|()| FdAction::Remove),
            Ok(len) => n
                .borrow_mut()
                .feed(&buf[..len], &mut stdout)
                .map(|()| FdAction::Continue),
            // Level-triggered: we are called again when there is data.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(FdAction::Continue),
            Err(e) => {
                eprintln!("popen_read: reading the output: {e}");
                Ok(FdAction::Remove)
            }
        };
        // Our standard output went away (`| head`): stop reading. Closing
        // the pipe makes the command's next write fail, and it ends.
        printed.unwrap_or(FdAction::Remove)
    })?;

    // Returns once the output is drained and the command has been reaped:
    // until then the pipe source and the child's watch keep the loop going.
    event_loop.run();

    let status = child.status().expect("run returns only after the reap");
    if !status.success() {
        eprintln!("popen_read: {:?} {status}", program);
    }
    Ok(ExitCode::from(match status {
        ChildStatus::Exited(code) => code as u8,
        ChildStatus::Signaled { signal, .. } => (128 + signal) as u8,
        _ => 1,
    }))
}
