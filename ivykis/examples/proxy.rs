//! A TCP proxy built on pumps.
//!
//! ```text
//! cargo run --release --example proxy -- LISTEN_PORT TARGET_HOST:PORT   forward 127.0.0.1:LISTEN_PORT
//! cargo run --release --example proxy -- --demo                         echo backend + proxy + clients, check, exit
//! ```
//!
//! What it shows:
//!
//! - each proxied connection is one [`Handle::add_duplex_pump`]: bytes move
//!   both ways (spliced in the kernel where it can), a half-close on one
//!   side is relayed to the other ([`PumpOptions::relay_eof`]), and the
//!   completion closure gets the byte counts or the first error; both
//!   sockets are closed when it ends;
//! - connecting to the target must not block the loop: a [`WorkPool`]
//!   worker does the (blocking) `connect`, and its completion, back on the
//!   loop's thread, starts the pump;
//! - in the demo, the echo backend is a one-line pump from a socket to
//!   itself ([`Handle::add_pump`]), and the clients are plain blocking
//!   threads that report through a channel source.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{EventAction, EventLoop, Handle, Interest, PumpOptions, SignalFlags, Token, WorkPool};

/// Counters of the proxy.
#[derive(Default)]
struct Stats {
    connections: Cell<u64>,
    to_target: Cell<u64>,
    to_client: Cell<u64>,
}

/// Accepts what is waiting on `listener` and calls `each` per connection.
fn accept_all(listener: &TcpListener, mut each: impl FnMut(TcpStream)) {
    loop {
        match listener.accept() {
            Ok((stream, _peer)) => each(stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors, say: still readable, tried again in
                // the next iteration.
                eprintln!("proxy: accept: {e}");
                return;
            }
        }
    }
}

/// One client accepted: connect to the target on a worker, then pump.
fn start_connection(pool: &WorkPool, target: SocketAddr, client: TcpStream, stats: &Rc<Stats>) {
    let stats = stats.clone();
    let submitted = pool.submit(
        move || TcpStream::connect(target), // on a worker thread
        move |h: &Handle, connected| {
            // Back on the loop's thread; `client` never left it.
            let server = match connected {
                Ok(Ok(server)) => server,
                Ok(Err(e)) => return eprintln!("proxy: connect to {target}: {e}"),
                Err(_) => return eprintln!("proxy: the connecting worker panicked"),
            };
            let _ = server.set_nodelay(true);
            let _ = client.set_nodelay(true);
            stats.connections.set(stats.connections.get() + 1);
            let options = PumpOptions::new().relay_eof(true);
            let started =
                h.add_duplex_pump(client, server, options, move |_h, result| match result {
                    Ok((up, down)) => {
                        stats.to_target.set(stats.to_target.get() + up);
                        stats.to_client.set(stats.to_client.get() + down);
                    }
                    Err(e) => eprintln!("proxy: connection ended: {e}"),
                });
            if let Err(e) = started {
                eprintln!("proxy: cannot pump: {e}");
            }
        },
    );
    if let Err(e) = submitted {
        eprintln!("proxy: cannot connect: {e}");
    }
}

/// Listens on `listen` and forwards every connection to `target`; returns
/// the listener's token and bound address.
fn proxy(
    h: &Handle,
    listen: SocketAddr,
    target: SocketAddr,
    stats: &Rc<Stats>,
) -> io::Result<(Token, SocketAddr)> {
    let listener = TcpListener::bind(listen)?;
    let local = listener.local_addr()?;
    // The pool lives as long as the listener's source: removing the
    // listener lets the pool go once its work is done.
    let pool = WorkPool::new(h, 4)?;
    let stats = stats.clone();
    let token = h.add_fd(listener, Interest::READABLE, move |_h, listener, _ready| {
        accept_all(listener, |client| {
            start_connection(&pool, target, client, &stats);
        });
    })?;
    Ok((token.into(), local))
}

// ---------------------------------------------------------------------------
// The demo.

const DEMO_CLIENTS: usize = 4;
const DEMO_BYTES: usize = 8 << 20;

/// An echo server in one pump per connection; returns its token and address.
fn echo_backend(h: &Handle) -> io::Result<(Token, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let local = listener.local_addr()?;
    let token = h.add_fd(listener, Interest::READABLE, |h, listener, _ready| {
        accept_all(listener, |stream| {
            // The same socket is both ends of the pump: an `Rc` each.
            let stream = Rc::new(stream);
            let options = PumpOptions::new().relay_eof(true);
            if let Err(e) = h.add_pump(stream.clone(), stream, options, |_h, _moved| {}) {
                eprintln!("proxy demo: echo: {e}");
            }
        });
    })?;
    Ok((token.into(), local))
}

/// One blocking client: sends `DEMO_BYTES` from a writer thread,
/// half-closes, reads everything back and compares.
fn demo_client(proxy: SocketAddr, id: usize) -> Result<(), String> {
    let stream = TcpStream::connect(proxy).map_err(|e| format!("client {id}: connect: {e}"))?;
    let sent: Vec<u8> = (0..DEMO_BYTES)
        .map(|i| (i * 7 + id * 13 + i / 4099) as u8)
        .collect();
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let to_send = sent.clone();
    let writer = std::thread::spawn(move || -> io::Result<()> {
        writer.write_all(&to_send)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut back = Vec::with_capacity(DEMO_BYTES);
    let mut reader = stream;
    reader
        .read_to_end(&mut back)
        .map_err(|e| format!("client {id}: read: {e}"))?;
    writer
        .join()
        .map_err(|_| format!("client {id}: writer panicked"))?
        .map_err(|e| format!("client {id}: write: {e}"))?;
    if back != sent {
        return Err(format!(
            "client {id}: sent {} bytes, got {} different bytes back",
            sent.len(),
            back.len()
        ));
    }
    Ok(())
}

fn demo() -> ExitCode {
    let event_loop = EventLoop::new().expect("a loop for this thread");
    let h = event_loop.handle();
    let stats = Rc::new(Stats::default());
    let (echo_token, echo_addr) = echo_backend(&h).expect("echo backend");
    let (proxy_token, proxy_addr) =
        proxy(&h, "127.0.0.1:0".parse().unwrap(), echo_addr, &stats).expect("proxy");

    // The clients report here; when all did, the listeners go and the loop
    // ends once the last connection has closed.
    let failures = Rc::new(Cell::new(0));
    let reported = Rc::new(Cell::new(0));
    let (f, r) = (failures.clone(), reported.clone());
    let timeout = h
        .add_timer_after(Duration::from_secs(60), |h| {
            eprintln!("proxy demo: timed out");
            h.quit().unwrap();
        })
        .unwrap();
    let (_channel, sender) = h
        .add_channel(move |h, result: Result<(), String>| {
            if let Err(e) = result {
                eprintln!("proxy demo: {e}");
                f.set(f.get() + 1);
            }
            r.set(r.get() + 1);
            if r.get() < DEMO_CLIENTS {
                return EventAction::Continue;
            }
            for token in [echo_token, proxy_token, timeout.into()] {
                h.remove(token).unwrap();
            }
            EventAction::Remove
        })
        .unwrap();
    for id in 0..DEMO_CLIENTS {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let _ = sender.send(demo_client(proxy_addr, id));
        });
    }
    drop(sender);
    event_loop.run();

    let ok = failures.get() == 0 && reported.get() == DEMO_CLIENTS;
    println!(
        "proxy demo: {} connections, {} bytes to the backend, {} back; {}",
        stats.connections.get(),
        stats.to_target.get(),
        stats.to_client.get(),
        if ok { "every byte came back" } else { "FAILED" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------

fn usage() -> ExitCode {
    eprintln!("usage: proxy LISTEN_PORT TARGET_HOST:PORT\n       proxy --demo");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 1 && args[0] == "--demo" {
        return demo();
    }
    let [port, target] = args.as_slice() else {
        return usage();
    };
    let Ok(port) = port.parse::<u16>() else {
        return usage();
    };
    // Resolved once, at start (a blocking lookup, before the loop runs).
    let target = match target.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            eprintln!("proxy: {target}: no address");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("proxy: {target}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let event_loop = EventLoop::new().expect("a loop for this thread");
    let h = event_loop.handle();
    let stats = Rc::new(Stats::default());
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let (_listener, local) = match proxy(&h, listen, target, &stats) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("proxy: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    for signum in [libc::SIGINT, libc::SIGTERM] {
        h.add_signal(signum, SignalFlags::NONE, |h, _| h.quit().unwrap())
            .expect("signal source");
    }
    println!("proxy: {local} -> {target} ({})", event_loop.poll_method());
    event_loop.run();
    println!(
        "proxy: {} connections, {} bytes to the target, {} back",
        stats.connections.get(),
        stats.to_target.get(),
        stats.to_client.get()
    );
    ExitCode::SUCCESS
}
