#!/usr/bin/env python3
"""Bad-input test of syslog-ng on a chosen libivykis.so.0 (see abuse.sh).

Started by abuse.sh, which finds syslog-ng, the library and the paths; this
program writes the configuration, runs syslog-ng, drives the load, checks the
outputs and exits 0 only if every check passed.

Load, all at the same time:
  good    clients on TCP connections that stay up, sending numbered lines,
          each with a checksum, in slices cut at random places (lines are
          split across segments)
  reset   clients that send part of a message (sometimes after whole
          messages, sometimes more than log-msg-size) and then reset the
          connection (SO_LINGER 0 + close)
  vanish  clients that connect and go away without sending: FIN or reset
          (reset and vanish: at least the mode's count, and on for as long
          as the file writer below is busy)
  idle    connections opened at the start that send nothing until the end
  file    lines appended to the file() source's file, which is rotated
          (rename + new file) and truncated while lines keep coming
  stats   `syslog-ng-ctl stats` every second; each must answer in time
After the abuse, one more good client connects and sends (syslog-ng must
still accept and serve new connections), then syslog-ng gets SIGTERM.

What must hold (each is a check; any failure makes the exit status 1):
  - syslog-ng runs until SIGTERM, then exits 0 within 15 s
  - every `syslog-ng-ctl stats` during and after the abuse answers within
    STATS_MAX_S seconds and lists counters
  - every line a good client sent on its connection (which stays up until
    the client closes it normally) arrives exactly once, intact and in the
    order sent; no line in the TCP output is anything but a good line or a
    piece of a bad client's data (bad data starts with "B")
  - no "dropped" counter of the destinations is above 0
  - the file() source, for syslog-ng 3.38's polling follower
    (follow-freq(1); it checks the file once a second when it has read
    everything):
      rotation: every line written to the renamed file, before or after the
        rename, arrives exactly once, provided the writer wrote its last line
        there before the first byte of the new file (the writer leaves
        0.2 s), and that syslog-ng already follows the current file when it
        is renamed (the writer waits for a marker line first). syslog-ng
        switches to the new name only at the end of the old file and only
        once the new file is not empty; then it reads the new one from its
        start. (It finds "the end" with fstat() and then looks at the name
        with stat(); a line written to the old file between those two calls
        while the new file already had a byte would be lost. The writer's
        0.2 s gap rules that out unless syslog-ng stalls that long between
        two system calls.)
      truncation, "safe": syslog-ng had read the file to its end before the
        truncation (the writer waits for a marker line), and at its next
        check the file is shorter than its read position (the writer
        appends one short marker line and waits for it). syslog-ng then
        starts again at offset 0: every line written after the truncation
        arrives exactly once.
      truncation, "rough": while syslog-ng may be behind and lines keep
        coming. Lines written since the last marker may be lost and pieces
        of lines may appear (at most 3 per rough truncation); no line
        arrives twice, and syslog-ng must keep following the file (a later
        marker arrives).
    All file lines outside rough windows arrive exactly once and in order.
"""

import argparse
import collections
import errno
import json
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.2f}s] {msg}", flush=True)


MODES = {
    # good: clients and lines/s each; reset/vanish: connections in total,
    # over `abusers` threads each; idle: connections held; file_plan: see
    # FileWriter.run
    "short": dict(good=6, good_rate=2500, reset=3000, vanish=3000, abusers=3,
                  idle=100, late_lines=2000, file_rate=300, file_rounds=1,
                  deadline=150),
    "long": dict(good=12, good_rate=2500, reset=40000, vanish=40000, abusers=3,
                 idle=300, late_lines=5000, file_rate=400, file_rounds=6,
                 deadline=900),
}
STATS_MAX_S = 5.0
PAD = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7) % 36] for i in range(400))


def good_line(client, seq):
    chk = (client * 2654435761 + seq * 40503) & 0xFFFFFFFF
    off = seq % 97
    return f"G{client}:{seq}:{chk:08x}:{PAD[off:off + 20 + seq % 151]}"


def file_line(epoch, seq):
    chk = (epoch * 2246822519 + seq * 3266489917) & 0xFFFFFFFF
    off = seq % 89
    return f"F{epoch}:{seq}:{chk:08x}:{PAD[off:off + 10 + seq % 61]}"


GOOD_RE = re.compile(r"^G(\d+):(\d+):[0-9a-f]{8}:")
FILE_RE = re.compile(r"^F(\d+):(\d+):[0-9a-f]{8}:")
MARK_RE = re.compile(r"^M(\d+)$")


class Failures:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, msg):
        with self.lock:
            self.items.append(msg)
        log(f"FAIL: {msg}")


FAILS = Failures()
STOP_ALL = threading.Event()  # syslog-ng died or the deadline passed


def raise_nofile(n=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def connect(port, timeout=10.0, attempts=1):
    last = None
    for _ in range(attempts):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
            return s
        except OSError as e:
            last = e
            s.close()
            time.sleep(0.1)
    raise last


def reset_close(s):
    """Closes with a reset (RST) instead of a FIN."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


# --------------------------------------------------------------------- good
class GoodClient(threading.Thread):
    """One connection that stays up; numbered lines at `rate` lines/s, sent in
    slices cut at random places, until stop is set; then a normal close."""

    def __init__(self, cid, port, rate, stop, limit=None):
        super().__init__(name=f"good{cid}", daemon=True)
        self.cid, self.port, self.rate, self.stop, self.limit = cid, port, rate, stop, limit
        self.sent = 0          # lines completely sent
        self.error = None
        self.rng = random.Random(cid)

    def run(self):
        try:
            s = connect(self.port, timeout=60.0, attempts=30)
        except OSError as e:
            self.error = f"connect: {e}"
            return
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tick = 0.05
        batch = max(1, int(self.rate * tick))
        next_t = time.monotonic()
        try:
            while not STOP_ALL.is_set():
                if self.limit is None and self.stop.is_set():
                    break
                n = batch if self.limit is None else min(batch, self.limit - self.sent)
                if n <= 0:
                    break
                data = "".join(good_line(self.cid, self.sent + i) + "\n" for i in range(n)).encode()
                pos = 0
                while pos < len(data):
                    step = self.rng.randint(1, 1500)
                    s.sendall(data[pos:pos + step])
                    pos += step
                self.sent += n
                next_t += tick
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_t = time.monotonic()
            # normal close: FIN, then wait for syslog-ng to close its side
            s.shutdown(socket.SHUT_WR)
            s.settimeout(30.0)
            while s.recv(4096):
                pass
        except OSError as e:
            self.error = f"after {self.sent} lines: {e!r}"
        finally:
            s.close()


# --------------------------------------------------------------------- abusers
def bad_payload(rng, n):
    return ("B" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))).encode()


class Abuser(threading.Thread):
    """`count` short connections of the given kind ("reset" or "vanish")."""

    def __init__(self, kind, idx, port, count, keep_going):
        super().__init__(name=f"{kind}{idx}", daemon=True)
        self.kind, self.port, self.count, self.keep_going = kind, port, count, keep_going
        self.rng = random.Random(f"{kind}-{idx}")
        self.done = 0
        self.variants = collections.Counter()
        self.errors = collections.Counter()

    def one(self):
        r = self.rng.random()
        s = connect(self.port, timeout=10.0)
        try:
            if self.kind == "reset":
                if r < 0.6:
                    v = "partial+rst"
                    s.sendall(bad_payload(self.rng, self.rng.randint(0, 200)))
                elif r < 0.85:
                    v = "lines+partial+rst"
                    whole = b"".join(bad_payload(self.rng, self.rng.randint(5, 100)) + b"\n"
                                     for _ in range(self.rng.randint(1, 3)))
                    s.sendall(whole + bad_payload(self.rng, self.rng.randint(1, 100)))
                elif r < 0.98:
                    v = "partial+fin"
                    s.sendall(bad_payload(self.rng, self.rng.randint(1, 200)))
                    s.close()
                    self.variants[v] += 1
                    return
                else:
                    v = "70k-no-newline+rst"   # longer than log-msg-size(65536)
                    s.sendall(b"B" * 70000)
                reset_close(s)
            else:
                if r < 0.5:
                    v = "connect+fin"
                    s.close()
                elif r < 0.9:
                    v = "connect+rst"
                    reset_close(s)
                else:
                    v = "half-close+rst"      # shutdown(WR), then reset
                    s.shutdown(socket.SHUT_WR)
                    reset_close(s)
            self.variants[v] += 1
        finally:
            if s.fileno() >= 0:
                s.close()

    def run(self):
        # at least `count`, and on while the file writer is still busy
        while (self.done < self.count or self.keep_going()) and not STOP_ALL.is_set():
            try:
                self.one()
            except OSError as e:
                self.errors[errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__] += 1
            self.done += 1


# --------------------------------------------------------------------- output tail
class Tail:
    """Reads the complete lines that were appended to a file since last time."""

    def __init__(self, path):
        self.path, self.off, self.rest = path, 0, b""

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return []
        self.off += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        return [ln.decode("utf-8", "replace") for ln in lines]


# --------------------------------------------------------------------- file writer
class FileWriter(threading.Thread):
    """Appends lines to the followed file and rotates and truncates it."""

    def __init__(self, path, out_path, rate, rounds):
        super().__init__(name="file", daemon=True)
        self.path, self.rate, self.rounds = path, rate, rounds
        self.tail = Tail(out_path)
        self.out_lines = []          # everything read from the output, in order
        self.seen_markers = set()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.epoch = 0
        self.seq = 0
        self.written = {}            # seq -> epoch
        self.lossy = set()           # epochs of rough windows
        self.marker = 0
        self.rotations = 0
        self.safe_truncations = 0
        self.rough_truncations = 0
        self.late_lines = 0
        self.error = None

    def write(self, n):
        buf = []
        for _ in range(n):
            buf.append(file_line(self.epoch, self.seq) + "\n")
            self.written[self.seq] = self.epoch
            self.seq += 1
        data = "".join(buf).encode()
        while data:
            k = os.write(self.fd, data)
            data = data[k:]

    def burst(self, secs):
        tick = 0.05
        n = max(1, int(self.rate * tick))
        end = time.monotonic() + secs
        while time.monotonic() < end and not STOP_ALL.is_set():
            self.write(n)
            time.sleep(tick)

    def poll_output(self):
        for ln in self.tail.read():
            self.out_lines.append(ln)
            m = MARK_RE.match(ln)
            if m:
                self.seen_markers.add(int(m.group(1)))

    def sync(self, timeout=12.0):
        """Appends a marker line and waits until it is in the output: then
        syslog-ng has read everything before it."""
        self.marker += 1
        k = self.marker
        os.write(self.fd, f"M{k}\n".encode())
        end = time.monotonic() + timeout
        while time.monotonic() < end and not STOP_ALL.is_set():
            self.poll_output()
            if k in self.seen_markers:
                return True
            time.sleep(0.05)
        return False

    def need_sync(self, what):
        if not self.sync():
            raise RuntimeError(f"marker M{self.marker} ({what}) did not arrive within 12 s")

    def rotate(self):
        self.rotations += 1
        os.rename(self.path, f"{self.path}.{self.rotations}")
        # a writer that has not noticed yet: more lines into the renamed file
        late = 25
        self.write(late)
        self.late_lines += late
        time.sleep(0.2)
        new = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(self.fd)
        self.fd = new
        self.epoch += 1

    def safe_truncate(self):
        self.need_sync("before a truncation")
        os.ftruncate(self.fd, 0)
        self.safe_truncations += 1
        self.epoch += 1
        self.need_sync("after a truncation")

    def rough_truncate(self):
        self.epoch += 1
        self.lossy.add(self.epoch)
        self.burst(0.5)
        os.ftruncate(self.fd, 0)
        self.rough_truncations += 1
        self.burst(1.0)
        for _ in range(4):               # markers until one arrives whole
            if self.sync(timeout=4.0):
                break
        else:
            raise RuntimeError("after a rough truncation no marker arrived within 16 s: "
                               "syslog-ng stopped following the file")
        self.epoch += 1

    def run(self):
        try:
            self.burst(1.5)
            self.need_sync("start")
            for _ in range(self.rounds):
                self.burst(1.0)
                self.rotate()               # the file was being read: synced above
                self.burst(1.5)
                self.safe_truncate()
                self.burst(1.5)
                self.need_sync("before a rotation")
                self.burst(0.5)
                self.rotate()
                self.burst(1.0)
                self.need_sync("before a rough truncation")
                self.rough_truncate()
                self.burst(1.0)
                self.safe_truncate()
                self.burst(1.0)
                self.need_sync("end of round")
        except Exception as e:  # noqa: BLE001 - reported as a failure
            self.error = str(e)
        finally:
            os.close(self.fd)


# --------------------------------------------------------------------- stats prober
class StatsProber(threading.Thread):
    def __init__(self, ctl_cmd, env, stop):
        super().__init__(name="stats", daemon=True)
        self.ctl_cmd, self.env, self.stop = ctl_cmd, env, stop
        self.latencies = []
        self.errors = []

    def probe(self):
        """Returns (seconds or None on timeout, ok, output or error)."""
        t = time.monotonic()
        try:
            r = subprocess.run(self.ctl_cmd, env=self.env, capture_output=True, timeout=15)
        except subprocess.TimeoutExpired:
            return None, False, "no answer within 15 s"
        dt = time.monotonic() - t
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0 or ";processed;" not in out:
            err = (r.stderr or r.stdout).decode(errors="replace").strip()
            return dt, False, f"exit status {r.returncode}: {err[:200]!r}"
        return dt, True, out

    def run(self):
        while not self.stop.is_set() and not STOP_ALL.is_set():
            dt, ok, res = self.probe()
            if dt is not None:
                self.latencies.append(dt)
            if not ok:
                self.errors.append(res)
            elif dt > STATS_MAX_S:
                self.errors.append(f"answered after {dt:.1f} s")
            self.stop.wait(1.0)


# --------------------------------------------------------------------- syslog-ng
CONFIG = """@version: 3.38
# written by abuse.py; loopback and {work} only
options {{
  threaded(yes);
  use-dns(no); use-fqdn(no); dns-cache(no);
  chain-hostnames(no); keep-hostname(yes);
  stats-freq(0); mark-freq(0);
  log-msg-size(65536);
  time-reopen(1);
  create-dirs(no);
}};

source s_tcp {{ network(ip("127.0.0.1") port({port}) transport("tcp") flags(no-parse)
                       max-connections(1000) log-iw-size(300000) log-fetch-limit(100)); }};
source s_file {{ file("{work}/in/followed.log" follow-freq(1) flags(no-parse)
                       log-fetch-limit(100) log-iw-size(10000)); }};

destination d_tcp  {{ file("{work}/out/tcp.log"  template("$MSG\\n") log-fifo-size(400000)); }};
destination d_file {{ file("{work}/out/file.log" template("$MSG\\n") log-fifo-size(20000)); }};

log {{ source(s_tcp);  destination(d_tcp);  flags(flow-control); }};
log {{ source(s_file); destination(d_file); flags(flow-control); }};
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SyslogNg:
    def __init__(self, a, work):
        self.a, self.work = a, work
        self.env = dict(os.environ)
        self.env["LD_LIBRARY_PATH"] = a.ld_path
        for word in a.sng_env.split():
            k, _, v = word.partition("=")
            self.env[k] = v
        self.proc = None
        self.stderr_path = os.path.join(work, "syslog-ng.stderr")
        self.ctl = os.path.join(work, "syslog-ng.ctl")

    def ctl_cmd(self):
        return [self.a.ctl, "stats", "-c", self.ctl]

    def start(self):
        for attempt in range(3):
            self.port = free_port()
            with open(os.path.join(self.work, "syslog-ng.conf"), "w") as f:
                f.write(CONFIG.format(port=self.port, work=self.work))
            err = open(self.stderr_path, "wb")
            self.proc = subprocess.Popen(
                [self.a.sng, "-F", "-e", "--no-caps",
                 "-f", os.path.join(self.work, "syslog-ng.conf"),
                 "-p", os.path.join(self.work, "syslog-ng.pid"),
                 "-c", self.ctl, "-R", os.path.join(self.work, "syslog-ng.persist"),
                 f"--module-path={self.a.moddir}"],
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                env=self.env, preexec_fn=raise_nofile)
            err.close()
            end = time.monotonic() + 20
            while time.monotonic() < end:
                text = open(self.stderr_path, errors="replace").read()
                if "syslog-ng starting up" in text:
                    return True
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            text = open(self.stderr_path, errors="replace").read()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if "Address already in use" in text and attempt < 2:
                continue
            FAILS.add("syslog-ng did not start: " + " | ".join(text.strip().splitlines()[-3:]))
            return False
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def loaded_ivykis(self):
        libs = set()
        with open(f"/proc/{self.proc.pid}/maps") as f:
            for ln in f:
                parts = ln.split()
                if len(parts) >= 6 and "libivykis" in parts[5]:
                    libs.add(parts[5])
        return libs

    def stop(self):
        """SIGTERM; returns (exit status or None, seconds)."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, time.monotonic() - t
        return rc, time.monotonic() - t


# --------------------------------------------------------------------- checks
def check_tcp(path, clients):
    """clients: {cid: lines sent}. Returns a dict of counts."""
    seen = collections.defaultdict(bytearray)  # cid -> per-seq count (capped)
    last = {}
    res = collections.Counter()
    for cid, n in clients.items():
        seen[cid] = bytearray(n)
    with open(path, "rb") as f:
        for raw in f:
            ln = raw.rstrip(b"\n").decode("utf-8", "replace")
            if ln.startswith("B"):
                res["bad_pieces"] += 1
                continue
            m = GOOD_RE.match(ln)
            if not m:
                res["foreign"] += 1
                if res["foreign"] <= 3:
                    log(f"foreign line in the TCP output: {ln[:120]!r}")
                continue
            cid, seq = int(m.group(1)), int(m.group(2))
            if cid not in clients or ln != good_line(cid, seq):
                res["corrupt"] += 1
                if res["corrupt"] <= 3:
                    log(f"corrupt good line: {ln[:120]!r}")
                continue
            if seq >= clients[cid]:
                res["beyond_sent"] += 1   # only possible for a client that failed mid-batch
                continue
            res["good"] += 1
            if seen[cid][seq] < 255:
                seen[cid][seq] += 1
            if cid in last and seq < last[cid]:
                res["out_of_order"] += 1
            last[cid] = seq
    for cid, arr in seen.items():
        res["missing"] += arr.count(0)
        res["duplicated"] += sum(c - 1 for c in arr if c > 1)
    return res


def check_file(lines, fw):
    res = collections.Counter()
    count = collections.Counter()
    last = -1
    for ln in lines:
        if MARK_RE.match(ln):
            res["markers"] += 1
            continue
        m = FILE_RE.match(ln)
        if m:
            epoch, seq = int(m.group(1)), int(m.group(2))
            if fw.written.get(seq) == epoch and ln == file_line(epoch, seq):
                count[seq] += 1
                if seq < last:
                    res["out_of_order"] += 1
                last = seq
                continue
        res["torn"] += 1
        if res["torn"] <= 5:
            log(f"file output: piece of a line: {ln[:100]!r}")
    for seq, epoch in fw.written.items():
        c = count.get(seq, 0)
        if epoch in fw.lossy:
            res["rough_written"] += 1
            res["rough_arrived"] += 1 if c else 0
            if c > 1:
                res["duplicated"] += c - 1
        else:
            res["guaranteed"] += 1
            if c == 0:
                res["missing"] += 1
            elif c > 1:
                res["duplicated"] += c - 1
    return res


def stderr_summary(path):
    msgs = collections.Counter()
    bad = []
    with open(path, errors="replace") as f:
        for ln in f:
            text = re.sub(r"^\[[^]]*\] ", "", ln.strip())
            msgs[text.split(";")[0]] += 1
            if re.search(r"(?i:fatal|assertion|segmentation|panicked)|Aborted|\biv_[a-z_]+: ", text):
                bad.append(text)
    return msgs, bad


# --------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sng", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--moddir", required=True)
    ap.add_argument("--ld-path", required=True)
    ap.add_argument("--expect-lib", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mode", choices=MODES, default="long")
    ap.add_argument("--sng-env", default="")
    a = ap.parse_args()
    p = MODES[a.mode]
    raise_nofile()
    work = a.work
    os.makedirs(os.path.join(work, "in"), exist_ok=True)
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    open(os.path.join(work, "in", "followed.log"), "w").close()

    sng = SyslogNg(a, work)
    log(f"mode {a.mode}: {json.dumps(p)}")
    if not sng.start():
        return 1
    log(f"syslog-ng pid {sng.proc.pid} listening on 127.0.0.1:{sng.port}")
    libs = sng.loaded_ivykis()
    real = {os.path.realpath(x) for x in libs}
    if real != {os.path.realpath(a.expect_lib)}:
        FAILS.add(f"loaded libivykis {sorted(libs)}, expected {os.path.realpath(a.expect_lib)}")
    else:
        log(f"libivykis loaded: {sorted(libs)[0]}")

    deadline = time.monotonic() + p["deadline"]

    def watchdog():
        while not STOP_ALL.is_set():
            if not sng.alive():
                FAILS.add(f"syslog-ng died (exit status {sng.proc.returncode}) during the abuse")
                STOP_ALL.set()
            elif time.monotonic() > deadline:
                FAILS.add(f"deadline of {p['deadline']} s passed")
                STOP_ALL.set()
            time.sleep(0.2)

    wd = threading.Thread(target=watchdog, name="watchdog", daemon=True)
    wd.start()

    # good clients first, then the idle ones, then the abuse
    stop_good = threading.Event()
    goods = [GoodClient(i, sng.port, p["good_rate"], stop_good) for i in range(p["good"])]
    for g in goods:
        g.start()
    idle = []
    for _ in range(p["idle"]):
        try:
            idle.append(connect(sng.port, timeout=10.0))
        except OSError as e:
            FAILS.add(f"idle connection {len(idle)}: {e!r}")
            break
    log(f"{len(goods)} good clients at {p['good_rate']} lines/s each, {len(idle)} idle connections")

    stop_stats = threading.Event()
    prober = StatsProber(sng.ctl_cmd(), sng.env, stop_stats)
    prober.start()
    fw = FileWriter(os.path.join(work, "in", "followed.log"), os.path.join(work, "out", "file.log"),
                    p["file_rate"], p["file_rounds"])
    fw.start()
    abusers = []
    for kind in ("reset", "vanish"):
        per = p[kind] // p["abusers"]
        abusers += [Abuser(kind, i, sng.port, per, fw.is_alive) for i in range(p["abusers"])]
    t_abuse = time.monotonic()
    for ab in abusers:
        ab.start()
    for ab in abusers:
        ab.join()
    t_abuse_end = time.monotonic()
    done = collections.Counter()
    variants = collections.Counter()
    errors = collections.Counter()
    for ab in abusers:
        done[ab.kind] += ab.done
        variants.update(ab.variants)
        errors.update(ab.errors)
    log(f"abuse done in {t_abuse_end - t_abuse:.1f} s: {dict(done)}; kinds {dict(variants)}; "
        f"client-side errors {dict(errors) or 'none'}")
    fw.join(max(1.0, deadline - time.monotonic()))
    if fw.error:
        FAILS.add(f"file: {fw.error}")
    log(f"file: {fw.seq} lines, {fw.rotations} rotations ({fw.late_lines} lines written after a rename), "
        f"{fw.safe_truncations} safe and {fw.rough_truncations} rough truncations, {fw.marker} markers")

    stop_good.set()
    for g in goods:
        g.join(max(1.0, deadline - time.monotonic()))
    # a fresh connection after the abuse
    late = GoodClient(len(goods), sng.port, 20000, threading.Event(), limit=p["late_lines"])
    late.start()
    late.join(max(1.0, deadline - time.monotonic()))
    for s in idle:
        reset_close(s)
    clients = {g.cid: g.sent for g in goods + [late]}
    for g in goods + [late]:
        if g.is_alive():
            FAILS.add(f"good client {g.cid} still blocked at the deadline after {g.sent} lines")
        elif g.error:
            FAILS.add(f"good client {g.cid} ({'after the abuse' if g is late else 'during the abuse'}): {g.error}")
    total_good = sum(clients.values())
    log(f"good clients sent {total_good} lines ({', '.join(str(n) for n in clients.values())})")

    # wait until every good line is in the output (or nothing moves for 15 s)
    tcp_out = os.path.join(work, "out", "tcp.log")
    tail = Tail(tcp_out)
    got, last_change, last_got = 0, time.monotonic(), -1
    while not STOP_ALL.is_set():
        got += sum(1 for ln in tail.read() if ln.startswith("G"))
        if got >= total_good:
            break
        if got != last_got:
            last_got, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > 15:
            break
        time.sleep(0.2)
    stop_stats.set()
    prober.join(20)
    if sng.alive():
        dt, ok, res = prober.probe()
        if not ok:
            FAILS.add(f"syslog-ng-ctl stats after the abuse: {res}")
        else:
            prober.latencies.append(dt)
            with open(os.path.join(work, "stats.csv"), "w") as f:
                f.write(res)
            dropped = [ln for ln in res.splitlines()
                       if ln.split(";")[4:5] == ["dropped"] and ln.split(";")[5] not in ("0", "")]
            if dropped:
                FAILS.add(f"dropped counters: {dropped}")
    if prober.errors:
        FAILS.add(f"syslog-ng-ctl stats failed {len(prober.errors)} times: {prober.errors[:3]}")
    lat = sorted(prober.latencies)
    STOP_ALL.set()

    # shutdown
    rc, secs = (None, 0.0)
    if sng.alive():
        rc, secs = sng.stop()
        if rc != 0:
            FAILS.add(f"after SIGTERM: exit status {rc} ({secs:.1f} s)")
    else:
        rc = sng.proc.returncode
    log(f"syslog-ng exit status {rc}, {secs:.2f} s after SIGTERM")
    msgs, bad = stderr_summary(sng.stderr_path)
    if "syslog-ng shutting down" not in msgs:
        FAILS.add("no 'syslog-ng shutting down' in its stderr")
    if bad:
        FAILS.add(f"alarming stderr lines: {bad[:3]}")

    # verify
    t = check_tcp(tcp_out, clients)
    fw.poll_output()
    f = check_file(fw.out_lines, fw)
    for key in ("missing", "duplicated", "corrupt", "foreign", "out_of_order", "beyond_sent"):
        if t[key]:
            FAILS.add(f"TCP good lines: {t[key]} {key.replace('_', ' ')}")
    for key in ("missing", "duplicated", "out_of_order"):
        if f[key]:
            FAILS.add(f"file lines: {f[key]} {key.replace('_', ' ')}")
    if f["torn"] > 3 * fw.rough_truncations:
        FAILS.add(f"file output: {f['torn']} pieces of lines (allowed: 3 per rough truncation)")

    print("=============================== summary ===============================")
    print(f"library       : {sorted(real)}")
    print(f"load          : good {len(goods)}+1 clients, {dict(done)} short connections "
          f"({dict(variants)}), {len(idle)} idle")
    print(f"tcp good      : sent {total_good}, arrived {t['good']}, missing {t['missing']}, "
          f"duplicated {t['duplicated']}, corrupt {t['corrupt']}, out of order {t['out_of_order']}, "
          f"foreign {t['foreign']}; pieces of bad data {t['bad_pieces']}")
    print(f"file          : {fw.seq} lines; guaranteed {f['guaranteed']}, missing {f['missing']}, "
          f"duplicated {f['duplicated']}; rough windows {f['rough_arrived']}/{f['rough_written']} "
          f"arrived, {f['torn']} pieces; {fw.rotations} rotations, {fw.safe_truncations} safe + "
          f"{fw.rough_truncations} rough truncations")
    if lat:
        print(f"ctl stats     : {len(lat)} answers, median {lat[len(lat) // 2] * 1000:.0f} ms, "
              f"max {lat[-1] * 1000:.0f} ms, failures {len(prober.errors)}")
    print(f"shutdown      : exit status {rc}, {secs:.2f} s")
    print("stderr (top)  : " + "; ".join(f"{n}x {m[:60]}" for m, n in msgs.most_common(6)))
    print(f"METRICS mode={a.mode} good_lines={total_good} resets={done['reset']} vanish={done['vanish']} "
          f"file_lines={fw.seq} stats_max_ms={lat[-1] * 1000 if lat else -1:.0f} "
          f"abuse_s={t_abuse_end - t_abuse:.1f} total_s={time.monotonic() - T0:.1f}")
    if FAILS.items:
        print("FAIL: " + "; ".join(FAILS.items))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
