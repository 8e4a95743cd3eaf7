//! Pumps through the Rust API (SPEC 8): the self-driving forms
//! (`Handle::add_pump`, `Handle::add_duplex_pump`) and the low-level
//! `Pump`. 64 MiB through socketpairs and pipes on both paths, EOF relay,
//! a reader that stalls, errors on either side, cancelling, and no
//! allocation in steady state.
//!
//! This binary counts the allocations of each thread (a global allocator),
//! so the steady-state test can check that moving data allocates nothing.

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use ivykis::{
    Error, EventLoop, FdAction, Handle, Interest, Pump, PumpOptions, PumpStatus, TimerToken,
};
use util::{pair, watchdog, Tracked};

// ---- Counting allocations ---------------------------------------------------

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter is a const-initialised
// thread-local without destructor, so touching it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: `ptr` came from `System` with `layout`, as our caller
        // guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for realloc.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---- Descriptors ------------------------------------------------------------

/// A pipe: (read end, write end), close-on-exec.
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe {
        (
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

/// A loopback TCP connection: (one end, the other end).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Socket,
    Pipe,
}

/// Either kind of descriptor, as one type for the generic functions.
enum End {
    Socket(UnixStream),
    Pipe(File),
}

impl AsFd for End {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            End::Socket(s) => s.as_fd(),
            End::Pipe(f) => f.as_fd(),
        }
    }
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            End::Socket(s) => s.read(buf),
            End::Pipe(f) => f.read(buf),
        }
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            End::Socket(s) => s.write(buf),
            End::Pipe(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl End {
    /// End of input for the reader: shutdown for a socket; a pipe's writer
    /// ends by being dropped.
    fn finish(&self) {
        if let End::Socket(s) = self {
            s.shutdown(Shutdown::Write).unwrap();
        }
    }
}

/// (writing end, reading end).
fn channel(kind: Kind) -> (End, End) {
    match kind {
        Kind::Socket => {
            let (w, r) = pair();
            (End::Socket(w), End::Socket(r))
        }
        Kind::Pipe => {
            let (r, w) = pipe();
            (End::Pipe(w), End::Pipe(r))
        }
    }
}

// ---- A pattern the reader can check at any offset ---------------------------

/// Its period is no multiple of any buffer or pipe size, so a chunk that is
/// lost, doubled or out of order shows.
const PERIOD: usize = 65549;

fn pattern() -> Rc<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut p: Vec<u8> = (0..PERIOD)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    p.extend_from_within(..);
    Rc::new(p)
}

/// What the reader saw.
#[derive(Default)]
struct Received {
    bytes: u64,
    corrupt: bool,
    eof: bool,
    /// Allocation counts when the reader passed 1 MiB and 9 MiB.
    allocs_at: [Option<u64>; 2],
    /// Removed at EOF, so that the loop can end.
    watchdog: Option<TimerToken>,
}

/// Adds a writer that sends `total` bytes of the pattern into `w` and then
/// ends its side.
fn add_writer(h: &Handle, w: End, total: u64, pattern: Rc<Vec<u8>>) {
    let mut sent = 0u64;
    h.add_fd(w, Interest::WRITABLE, move |_h, w, _| {
        let off = (sent % PERIOD as u64) as usize;
        let len = (total - sent).min(65536) as usize;
        match w.write(&pattern[off..off + len]) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("writer: {e}"),
        }
        if sent == total {
            w.finish();
            FdAction::Remove // a pipe's writer ends here
        } else {
            FdAction::Continue
        }
    })
    .unwrap();
}

/// Adds a reader that checks everything against the pattern, until EOF;
/// `interest` NONE starts it stalled.
fn add_reader(
    h: &Handle,
    r: End,
    interest: Interest,
    pattern: Rc<Vec<u8>>,
    seen: Rc<RefCell<Received>>,
) -> ivykis::FdToken {
    let mut buf = vec![0u8; 65536];
    h.add_fd(r, interest, move |h, r, _| {
        let mut seen = seen.borrow_mut();
        match r.read(&mut buf) {
            Ok(0) => {
                seen.eof = true;
                if let Some(dog) = seen.watchdog.take() {
                    h.remove(dog).unwrap();
                }
                FdAction::Remove
            }
            Ok(n) => {
                let off = (seen.bytes % PERIOD as u64) as usize;
                if buf[..n] != pattern[off..off + n] {
                    seen.corrupt = true;
                }
                let before = seen.bytes;
                seen.bytes += n as u64;
                for (i, mark) in [1u64 << 20, 9 << 20].into_iter().enumerate() {
                    if before < mark && seen.bytes >= mark {
                        seen.allocs_at[i] = Some(allocations());
                    }
                }
                FdAction::Continue
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => FdAction::Continue,
            Err(e) => panic!("reader: {e}"),
        }
    })
    .unwrap()
}

/// writer -> `from` [pump] `to` -> reader, `total` bytes; returns what the
/// reader saw and what `on_done` got.
fn transfer(
    from_kind: Kind,
    to_kind: Kind,
    options: PumpOptions,
    total: u64,
    stall: Option<Duration>,
) -> (Received, u64) {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let pattern = pattern();
    let (w, from) = channel(from_kind);
    let (to, r) = channel(to_kind);
    let seen = Rc::new(RefCell::new(Received {
        watchdog: Some(watchdog(&h)),
        ..Received::default()
    }));
    let result: Rc<RefCell<Option<io::Result<u64>>>> = Rc::default();

    add_writer(&h, w, total, pattern.clone());
    let start = if stall.is_some() {
        Interest::NONE
    } else {
        Interest::READABLE
    };
    let reader = add_reader(&h, r, start, pattern, seen.clone());
    if let Some(after) = stall {
        h.add_timer_after(after, move |h| {
            h.set_interest(reader, Interest::READABLE).unwrap();
        })
        .unwrap();
    }
    let got = result.clone();
    h.add_pump(from, to, options, move |_h, r| *got.borrow_mut() = Some(r))
        .unwrap();
    event_loop.run();
    let moved = match result.borrow_mut().take() {
        Some(Ok(n)) => n,
        other => panic!("on_done got {other:?}"),
    };
    let seen = seen.take();
    (seen, moved)
}

fn check_64_mib(from: Kind, to: Kind, splice: bool) {
    let total = 64 << 20;
    let options = PumpOptions::new().relay_eof(true).splice(splice);
    let (seen, moved) = transfer(from, to, options, total, None);
    assert_eq!(moved, total);
    assert_eq!(seen.bytes, total);
    assert!(!seen.corrupt, "the data arrived corrupted or out of order");
    assert!(seen.eof);
}

#[test]
fn splice_64_mib_socket_to_socket() {
    check_64_mib(Kind::Socket, Kind::Socket, true);
}

#[test]
fn splice_64_mib_pipe_to_pipe() {
    check_64_mib(Kind::Pipe, Kind::Pipe, true);
}

#[test]
fn splice_64_mib_socket_to_pipe_and_back() {
    check_64_mib(Kind::Socket, Kind::Pipe, true);
    check_64_mib(Kind::Pipe, Kind::Socket, true);
}

#[test]
fn buffer_64_mib_socket_to_socket() {
    check_64_mib(Kind::Socket, Kind::Socket, false);
}

#[test]
fn buffer_64_mib_pipe_to_pipe() {
    check_64_mib(Kind::Pipe, Kind::Pipe, false);
}

#[test]
fn buffer_64_mib_socket_to_pipe_and_back() {
    check_64_mib(Kind::Socket, Kind::Pipe, false);
    check_64_mib(Kind::Pipe, Kind::Socket, false);
}

#[test]
fn a_reader_that_stalls_gets_everything_later() {
    for splice in [true, false] {
        let total = 16 << 20;
        let options = PumpOptions::new().splice(splice);
        let stall = Some(Duration::from_millis(100));
        let (seen, moved) = transfer(Kind::Socket, Kind::Socket, options, total, stall);
        assert_eq!((moved, seen.bytes), (total, total));
        assert!(!seen.corrupt && seen.eof);
    }
}

#[test]
fn moving_data_allocates_nothing_in_steady_state() {
    for (kind, splice) in [
        (Kind::Socket, true),
        (Kind::Pipe, true),
        (Kind::Socket, false),
    ] {
        let options = PumpOptions::new().relay_eof(true).splice(splice);
        let (seen, _) = transfer(kind, kind, options, 16 << 20, None);
        let [Some(at_1), Some(at_9)] = seen.allocs_at else {
            panic!("the reader did not pass both marks");
        };
        assert_eq!(
            at_9 - at_1,
            0,
            "{kind:?} (splice: {splice}): 8 MiB moved with allocations"
        );
    }
}

// ---- EOF relay ----------------------------------------------------------------

/// The pump's `to` is shared (an `Rc`), so it stays open after the pump: the
/// consumer can only see EOF if the pump shut it down.
fn relay(relay_eof: bool) -> io::Result<usize> {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let (mut producer, from) = pair();
    let (to, mut consumer) = pair();
    let to = Rc::new(to);
    producer.write_all(b"relayed?").unwrap();
    producer.shutdown(Shutdown::Write).unwrap();
    let options = PumpOptions::new().relay_eof(relay_eof);
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    h.add_pump(from, to.clone(), options, move |_h, r| {
        assert_eq!(r.unwrap(), 8);
        d.set(true);
    })
    .unwrap();
    event_loop.run();
    assert!(done.get());
    let mut buf = [0; 16];
    assert_eq!(consumer.read(&mut buf).unwrap(), 8);
    assert_eq!(&buf[..8], b"relayed?");
    consumer.set_nonblocking(true).unwrap();
    let after = consumer.read(&mut buf);
    drop(to);
    after
}

#[test]
fn eof_is_relayed_with_the_option() {
    assert_eq!(relay(true).unwrap(), 0);
}

#[test]
fn eof_is_not_relayed_without_it() {
    assert_eq!(relay(false).unwrap_err().kind(), ErrorKind::WouldBlock);
}

// ---- Errors ---------------------------------------------------------------------

fn pump_error(from: impl AsFd + 'static, to: impl AsFd + 'static, splice: bool) -> io::Error {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let dog = watchdog(&h);
    let error = Rc::new(RefCell::new(None));
    let e = error.clone();
    h.add_pump(from, to, PumpOptions::new().splice(splice), move |h, r| {
        *e.borrow_mut() = Some(r.unwrap_err());
        h.remove(dog).unwrap();
    })
    .unwrap();
    event_loop.run();
    let e = error.borrow_mut().take().expect("on_done was called");
    e
}

#[test]
fn an_output_whose_reader_is_gone_ends_with_epipe() {
    for splice in [true, false] {
        let (mut producer, from) = pair();
        let (to, consumer) = pair();
        drop(consumer);
        producer.write_all(b"nobody reads this").unwrap();
        let e = pump_error(from, to, splice);
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
    }
}

#[test]
fn an_input_reset_by_its_peer_ends_with_econnreset() {
    for splice in [true, false] {
        let (client, server) = tcp_pair();
        let (to, _consumer) = pair();
        // SO_LINGER 0: close sends a reset. Not in std; rustix's net
        // feature is not enabled, so through libc.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt reads `size_of::<linger>()` bytes from `linger`,
        // which lives across the call.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&client),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(client);
        let e = pump_error(server, to, splice);
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    }
}

// ---- Ownership, cancelling ------------------------------------------------------

#[test]
fn removing_the_token_cancels_without_calling_on_done() {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let (_producer, from) = pair();
    let (to, _consumer) = pair();
    let (from, from_dropped) = Tracked::new(from);
    let (to, to_dropped) = Tracked::new(to);
    let token = h
        .add_pump(from, to, PumpOptions::new(), |_h, _r| {
            panic!("a cancelled pump reports nothing")
        })
        .unwrap();
    assert!(h.is_registered(token));
    h.remove(token).unwrap();
    assert!(!h.is_registered(token));
    assert!(from_dropped.get() && to_dropped.get());
    assert!(matches!(h.remove(token), Err(Error::Stale)));
    event_loop.run(); // nothing left: returns at once
}

#[test]
fn cancelling_from_a_callback_and_dropping_the_loop_release_everything() {
    // From a timer, while data flows.
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let (mut producer, from) = pair();
    let (to, _consumer) = pair();
    producer.write_all(&[7; 1000]).unwrap();
    let (from, from_dropped) = Tracked::new(from);
    let token = h
        .add_pump(from, to, PumpOptions::new(), |_h, _r| panic!("cancelled"))
        .unwrap();
    h.add_timer_after(Duration::from_millis(5), move |h| h.remove(token).unwrap())
        .unwrap();
    event_loop.run();
    assert!(from_dropped.get());
    drop(event_loop);

    // A loop dropped with a pump still running.
    let event_loop = EventLoop::new().unwrap();
    let (_producer, from) = pair();
    let (to, _consumer) = pair();
    let (to, to_dropped) = Tracked::new(to);
    event_loop
        .handle()
        .add_pump(from, to, PumpOptions::new(), |_h, _r| panic!("never"))
        .unwrap();
    drop(event_loop);
    assert!(to_dropped.get());
}

#[test]
fn a_refused_descriptor_leaves_nothing_registered() {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let (mut producer, from) = pair();
    let (from, from_dropped) = Tracked::new(from);
    let file = tempfile();
    let added = h.add_pump(
        from,
        file.try_clone().unwrap(),
        PumpOptions::new(),
        |_h, r| {
            assert_eq!(r.unwrap(), 5);
        },
    );
    if event_loop.poll_method() == "epoll" {
        // epoll refuses regular files: nothing stays, nothing is called.
        let e = added.unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.raw_os_error() == Some(libc::EPERM)),
            "{e}"
        );
        assert!(from_dropped.get());
        event_loop.run(); // returns at once: nothing registered
    } else {
        // poll and ppoll take them (always ready): the pump writes the file.
        added.unwrap();
        producer.write_all(b"saved").unwrap();
        drop(producer);
        event_loop.run();
        let mut saved = String::new();
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut saved).unwrap();
        assert_eq!(saved, "saved");
    }
}

/// An unlinked temporary file.
fn tempfile() -> File {
    let dir = std::env::temp_dir();
    for i in 0.. {
        let path = dir.join(format!("ivykis-pump-{}-{i}", std::process::id()));
        if let Ok(f) = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            std::fs::remove_file(&path).unwrap();
            return f;
        }
    }
    unreachable!()
}

#[test]
fn one_descriptor_both_ways_is_an_echo() {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let (mut client, server) = pair();
    let server = Rc::new(server);
    let options = PumpOptions::new().relay_eof(true);
    h.add_pump(server.clone(), server, options, |_h, r| {
        assert_eq!(r.unwrap(), 11);
    })
    .unwrap();
    client.write_all(b"echo, echo!").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    event_loop.run();
    let mut back = String::new();
    client.read_to_string(&mut back).unwrap();
    assert_eq!(back, "echo, echo!");
}

// ---- Duplex -----------------------------------------------------------------------

#[test]
fn a_duplex_pump_proxies_both_ways_with_half_close() {
    let event_loop = EventLoop::new().unwrap();
    let h = event_loop.handle();
    let dog = watchdog(&h);
    let pattern = pattern();
    let (client, a) = pair();
    let (b, server) = pair();
    let client = Rc::new(client);
    let server = Rc::new(server);
    let total = 8 << 20;
    let at_server = Rc::new(RefCell::new(Received::default()));
    let at_client = Rc::new(RefCell::new(Received::default()));
    add_writer(
        &h,
        End::Socket(client.try_clone().unwrap()),
        total,
        pattern.clone(),
    );
    add_writer(
        &h,
        End::Socket(server.try_clone().unwrap()),
        total / 2,
        pattern.clone(),
    );
    add_reader(
        &h,
        End::Socket(server.try_clone().unwrap()),
        Interest::READABLE,
        pattern.clone(),
        at_server.clone(),
    );
    add_reader(
        &h,
        End::Socket(client.try_clone().unwrap()),
        Interest::READABLE,
        pattern,
        at_client.clone(),
    );
    let result = Rc::new(RefCell::new(None));
    let r = result.clone();
    h.add_duplex_pump(a, b, PumpOptions::new().relay_eof(true), move |h, res| {
        *r.borrow_mut() = Some(res.unwrap());
        h.remove(dog).unwrap();
    })
    .unwrap();
    event_loop.run();
    assert_eq!(*result.borrow(), Some((total, total / 2)));
    for (seen, want) in [(&at_server, total), (&at_client, total / 2)] {
        let seen = seen.borrow();
        assert_eq!(seen.bytes, want);
        assert!(!seen.corrupt && seen.eof);
    }
}

#[test]
fn a_duplex_pump_refuses_one_descriptor_twice() {
    let event_loop = EventLoop::new().unwrap();
    let (a, _b) = pair();
    let a = Rc::new(a);
    let e = event_loop
        .handle()
        .add_duplex_pump(a.clone(), a, PumpOptions::new(), |_h, _r| {})
        .unwrap_err();
    assert!(matches!(&e, Error::Io(io) if io.raw_os_error() == Some(libc::EINVAL)));
}

// ---- The low-level form -------------------------------------------------------------

#[test]
fn low_level_status_wants_and_sticky_errors() {
    let (mut producer, from) = pair();
    let (to, consumer) = pair();
    for s in [&from, &to] {
        s.set_nonblocking(true).unwrap();
    }
    let mut pump = Pump::new(PumpOptions::new());
    assert_eq!(pump.wants(), (Interest::READABLE, Interest::NONE));
    assert_eq!(pump.splicing(), None);
    assert_eq!(
        pump.pump(&from, &to).unwrap(),
        PumpStatus::Pending {
            from: Interest::READABLE,
            to: Interest::NONE
        }
    );
    producer.write_all(b"abc").unwrap();
    pump.pump(&from, &to).unwrap();
    assert_eq!(pump.moved(), 3);
    assert_eq!(pump.in_transit(), 0);
    assert!(pump.splicing().is_some());
    drop(consumer);
    producer.write_all(b"def").unwrap();
    let e = pump.pump(&from, &to).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
    // Sticky, and the pump wants nothing more.
    let again = pump.pump(&from, &to).unwrap_err();
    assert_eq!(again.raw_os_error(), Some(libc::EPIPE));
    assert_eq!(pump.wants(), (Interest::NONE, Interest::NONE));
    assert!(!pump.is_done());
}

#[test]
fn low_level_holds_data_while_the_output_is_full_then_finishes() {
    for splice in [true, false] {
        let (mut producer, from) = pair();
        let (to, mut consumer) = pair();
        for s in [&from, &to, &consumer] {
            s.set_nonblocking(true).unwrap();
        }
        // Fill the output.
        let mut filled = 0;
        loop {
            match (&to).write(&[0; 65536]) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let mut pump = Pump::new(PumpOptions::new().relay_eof(true).splice(splice));
        producer.write_all(b"held").unwrap();
        match pump.pump(&from, &to).unwrap() {
            PumpStatus::Pending { to, .. } => assert_eq!(to, Interest::WRITABLE),
            PumpStatus::Done => panic!("nothing can be done yet"),
        }
        assert_eq!(pump.in_transit(), 4);
        assert_eq!(pump.splicing(), Some(splice));
        // Drain the output; end the input.
        let mut drained = 0;
        let mut buf = vec![0; 65536];
        while drained < filled {
            drained += consumer.read(&mut buf).unwrap();
        }
        producer.shutdown(Shutdown::Write).unwrap();
        let mut status = pump.pump(&from, &to).unwrap();
        for _ in 0..3 {
            if status == PumpStatus::Done {
                break;
            }
            status = pump.pump(&from, &to).unwrap();
        }
        assert_eq!(status, PumpStatus::Done);
        assert!(pump.is_done());
        assert_eq!(pump.pump(&from, &to).unwrap(), PumpStatus::Done);
        // The data, then end of file (relayed: `to` is still open here).
        let mut rest = [0; 16];
        assert_eq!(consumer.read(&mut rest).unwrap(), 4);
        assert_eq!(&rest[..4], b"held");
        assert_eq!(consumer.read(&mut rest).unwrap(), 0);
    }
}

#[test]
fn low_level_output_that_refuses_splice_loses_nothing() {
    // An O_APPEND file refuses splice (EINVAL) only once data is already in
    // the pump's pipe: the pump moves it to its buffer and carries on.
    let (mut producer, from) = pair();
    from.set_nonblocking(true).unwrap();
    let file = tempfile();
    let mut out = File::options()
        .append(true)
        .open(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&file)
        ))
        .unwrap();
    let pattern = pattern();
    let total = 4 << 20;
    let mut pump = Pump::new(PumpOptions::new());
    let mut sent = 0;
    let mut calls = 0;
    let mut copied = false;
    while !pump.is_done() {
        calls += 1;
        assert!(calls < 100_000, "the pump does not finish");
        if sent < total {
            let off = sent % PERIOD;
            let len = (total - sent).min(65536);
            sent += producer.write(&pattern[off..off + len]).unwrap();
            if sent == total {
                producer.shutdown(Shutdown::Write).unwrap();
            }
        }
        pump.pump(&from, &out).unwrap();
        copied |= pump.splicing() == Some(false);
    }
    assert!(copied, "the pump never fell back to its buffer");
    assert_eq!(pump.splicing(), None); // done: storage given back
    out.flush().unwrap();
    let mut written = Vec::new();
    let mut file = file;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0)).unwrap();
    file.read_to_end(&mut written).unwrap();
    assert_eq!(written.len(), total);
    for (i, chunk) in written.chunks(PERIOD).enumerate() {
        assert!(chunk == &pattern[..chunk.len()], "chunk {i} differs");
    }
}
