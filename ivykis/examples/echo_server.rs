//! A TCP echo server on one ivykis event loop.
//!
//! ```text
//! cargo run --release --example echo_server -- [PORT]         serve 127.0.0.1:PORT (default 7777)
//! cargo run --release --example echo_server -- --demo [PORT]  serve (default: any free port), run a
//!                                                             few clients against it, check, exit
//! ```
//!
//! What it shows:
//!
//! - the listener is a descriptor source; each accepted connection becomes
//!   another one, added from the listener's callback;
//! - the loop owns each connection's state (`Connection` implements `AsFd`
//!   through its socket), so the callback gets it as `&mut Connection` and
//!   removing the source closes the socket;
//! - partial writes: what the kernel did not take waits in a buffer, and
//!   the connection switches from readable to writable interest until the
//!   buffer is empty (which also stops reading from a client that does not
//!   read its echoes);
//! - clean close at end of file (after the echoes are written) and on errors;
//! - signal sources: Ctrl-C (SIGINT) and SIGTERM quit the loop, and the
//!   server prints its statistics and exits.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{EventLoop, FdAction, Handle, Interest, Ready, SignalFlags};

/// Counters shared by the listener and every connection.
#[derive(Default)]
struct Stats {
    accepted: Cell<u64>,
    closed: Cell<u64>,
    echoed_bytes: Cell<u64>,
    /// Writes the kernel did not take in full (the rest waited for
    /// writable readiness).
    partial_writes: Cell<u64>,
    /// In demo mode: quit after this many connections closed.
    quit_after: Cell<Option<u64>>,
}

/// One client connection: the socket plus what it sent that we have not
/// written back yet.
struct Connection {
    stream: TcpStream,
    pending: Vec<u8>,
    /// The client finished sending (we read end of file).
    eof: bool,
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Connection {
    /// Reads what is there (level-triggered: if more is left, we are called
    /// again in the next iteration) and echoes it.
    fn read_and_echo(&mut self, stats: &Stats) -> io::Result<()> {
        let mut buf = [0; 16 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => self.eof = true,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.write_pending(stats)?;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Writes as much of the pending output as the kernel takes.
    fn write_pending(&mut self, stats: &Stats) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                    stats.echoed_bytes.set(stats.echoed_bytes.get() + n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    stats.partial_writes.set(stats.partial_writes.get() + 1);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Readable while there is nothing to write back; writable (and not
    /// readable: the client must read before it may send more) otherwise.
    fn interest(&self) -> Interest {
        if self.pending.is_empty() {
            Interest::READABLE
        } else {
            Interest::WRITABLE
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// The callback of every connection.
fn on_connection_ready(h: &Handle, stats: &Stats, conn: &mut Connection, ready: Ready) -> FdAction {
    let result = match ready {
        Ready::Readable => conn.read_and_echo(stats),
        Ready::Writable => conn.write_pending(stats),
        // Not in our interest: errors show up through read and write.
        Ready::Error => Ok(()),
    };
    if let Err(e) = &result {
        eprintln!("echo_server: connection error: {e}");
    }
    if result.is_err() || (conn.eof && conn.pending.is_empty()) {
        stats.closed.set(stats.closed.get() + 1);
        if stats.quit_after.get() == Some(stats.closed.get()) {
            h.quit().expect("loop is alive");
        }
        return FdAction::Remove; // drops the Connection: closes the socket
    }
    FdAction::SetInterest(conn.interest())
}

/// Accepts the waiting connections and adds a source for each.
fn on_listener_ready(h: &Handle, stats: &Rc<Stats>, listener: &mut TcpListener) {
    loop {
        match listener.accept() {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let conn = Connection {
                    stream,
                    pending: Vec::new(),
                    eof: false,
                };
                let conn_stats = stats.clone();
                let added = h.add_fd(conn, Interest::READABLE, move |h, conn, ready| {
                    on_connection_ready(h, &conn_stats, conn, ready)
                });
                match added {
                    Ok(_token) => stats.accepted.set(stats.accepted.get() + 1),
                    Err(e) => eprintln!("echo_server: cannot watch a new connection: {e}"),
                }
            }
            Err(e) if would_block(&e) => return,
            Err(e) => {
                // Out of descriptors, say: the listener stays readable, so
                // the next iteration tries again.
                eprintln!("echo_server: accept: {e}");
                return;
            }
        }
    }
}

/// Ctrl-C (SIGINT) and SIGTERM end the loop. The callbacks run in the loop
/// like any other, not in a signal handler, so they may do anything.
fn quit_on_signals(h: &Handle) -> Result<(), ivykis::Error> {
    for (signum, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        h.add_signal(signum, SignalFlags::NONE, move |h, _signum| {
            println!("echo_server: {name}, shutting down");
            h.quit().expect("loop is alive");
        })?;
    }
    Ok(())
}

/// Starts serving on `addr`; returns the loop and the bound address.
fn serve(addr: SocketAddr, stats: &Rc<Stats>) -> io::Result<(EventLoop, SocketAddr)> {
    let event_loop = EventLoop::new()?;
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let stats = stats.clone();
    event_loop
        .handle()
        .add_fd(listener, Interest::READABLE, move |h, listener, _ready| {
            on_listener_ready(h, &stats, listener)
        })?;
    Ok((event_loop, local))
}

// ---------------------------------------------------------------------------
// Demo clients (plain blocking std code on another thread).

const DEMO_CLIENTS: u64 = 4;
const DEMO_LINES: usize = 200;
/// Larger than what the kernel buffers for a client that does not read yet
/// (Linux grows a send buffer up to 4 MiB), so that the server meets partial
/// writes while echoing it.
const DEMO_BLOB: usize = 8 << 20;

/// One client: sends lines and a large blob from a writer thread while this
/// thread reads the echoes, then checks them. Returns the bytes echoed.
fn demo_client(addr: SocketAddr, id: u64) -> Result<usize, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("client {id}: connect: {e}"))?;
    let mut sent = Vec::new();
    for line in 0..DEMO_LINES {
        sent.extend_from_slice(format!("client {id} line {line}\n").as_bytes());
    }
    sent.extend((0..DEMO_BLOB).map(|i| (i as u64 * 31 + id) as u8));
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let to_send = sent.clone();
    let writer = std::thread::spawn(move || -> io::Result<()> {
        // Small writes first (line by line), then the blob in one go.
        let (lines, blob) = to_send.split_at(to_send.len() - DEMO_BLOB);
        for line in lines.split_inclusive(|&b| b == b'\n') {
            writer.write_all(line)?;
        }
        writer.write_all(blob)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut echoed = Vec::with_capacity(sent.len());
    let mut reader = stream;
    // Read late: meanwhile the server's socket buffers fill up, so it meets
    // partial writes and has to wait for writable readiness.
    std::thread::sleep(Duration::from_millis(100));
    reader
        .read_to_end(&mut echoed)
        .map_err(|e| format!("client {id}: read: {e}"))?;
    writer
        .join()
        .map_err(|_| format!("client {id}: writer panicked"))?
        .map_err(|e| format!("client {id}: write: {e}"))?;
    if echoed != sent {
        return Err(format!(
            "client {id}: sent {} bytes, got {} different bytes back",
            sent.len(),
            echoed.len()
        ));
    }
    Ok(echoed.len())
}

fn run_demo_clients(addr: SocketAddr) -> Result<usize, String> {
    let clients: Vec<_> = (0..DEMO_CLIENTS)
        .map(|id| std::thread::spawn(move || demo_client(addr, id)))
        .collect();
    let mut total = 0;
    for client in clients {
        total += client
            .join()
            .map_err(|_| "a client panicked".to_string())??;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let mut demo = false;
    let mut port = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--demo" => demo = true,
            other => match other.parse::<u16>() {
                Ok(p) => port = Some(p),
                Err(_) => {
                    eprintln!("usage: echo_server [--demo] [PORT]");
                    return ExitCode::from(2);
                }
            },
        }
    }
    let port = port.unwrap_or(if demo { 0 } else { 7777 });
    let stats = Rc::new(Stats::default());
    let (event_loop, addr) = match serve(SocketAddr::from(([127, 0, 0, 1], port)), &stats) {
        Ok(served) => served,
        Err(e) => {
            eprintln!("echo_server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "echo_server: listening on {addr} ({})",
        event_loop.poll_method()
    );

    if !demo {
        if let Err(e) = quit_on_signals(&event_loop.handle()) {
            eprintln!("echo_server: cannot watch for signals: {e}");
            return ExitCode::FAILURE;
        }
        event_loop.run();
        println!(
            "echo_server: {} connections accepted, {} closed, {} bytes echoed",
            stats.accepted.get(),
            stats.closed.get(),
            stats.echoed_bytes.get()
        );
        // Dropping the loop closes the listener and the open connections.
        return ExitCode::SUCCESS;
    }

    stats.quit_after.set(Some(DEMO_CLIENTS));
    let clients = std::thread::spawn(move || run_demo_clients(addr));
    // A safety net: a broken client must not hang the demo.
    let timed_out = Rc::new(Cell::new(false));
    let flag = timed_out.clone();
    let watchdog = event_loop
        .handle()
        .add_timer_after(Duration::from_secs(60), move |h| {
            flag.set(true);
            h.quit().expect("loop is alive");
        })
        .expect("loop is alive");
    event_loop.run();
    let _ = event_loop.handle().remove(watchdog);
    if timed_out.get() {
        eprintln!("echo_server: demo timed out");
        return ExitCode::FAILURE;
    }
    let client_bytes = match clients.join() {
        Ok(Ok(bytes)) => bytes as u64,
        Ok(Err(e)) => {
            eprintln!("echo_server: demo failed: {e}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("echo_server: demo client thread panicked");
            return ExitCode::FAILURE;
        }
    };
    let echoed = stats.echoed_bytes.get();
    let connections = stats.accepted.get();
    if echoed != client_bytes || connections != DEMO_CLIENTS {
        eprintln!(
            "echo_server: mismatch: server echoed {echoed} bytes over {connections} connections, \
             clients got {client_bytes} bytes"
        );
        return ExitCode::FAILURE;
    }
    println!(
        "echo_server: {} writes waited for the client to read",
        stats.partial_writes.get()
    );
    println!("echoed {echoed} bytes over {connections} connections, OK");
    ExitCode::SUCCESS
}
