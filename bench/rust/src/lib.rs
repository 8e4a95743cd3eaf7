//! The workloads of the Rust benchmarks, each written three ways: on the
//! ivykis Rust face, on mio (its own `Poll` loop, driven by hand the way a
//! careful mio user would), and on calloop.
//!
//! Every implementation of a workload does the same work with the same
//! semantics and counts what happened; the counts are checked with
//! `assert!` after every run, so a benchmark that stops doing its work
//! fails instead of getting fast. Set-up (creating the loop, the pipes, the
//! helper threads) happens in `new`, outside what is measured.
//!
//! The criterion benchmark (`benches/loops.rs`) times `run`; the
//! `alloc_counts` binary counts heap allocations around the same calls.

#![forbid(unsafe_code)]

pub mod cross;
pub mod fd;
pub mod tasks;
pub mod timers;

/// Raises the soft limit on open descriptors to the hard limit (the
/// 1,000-pipe ring needs 2,000 descriptors; ivykis raises it by itself,
/// mio and calloop do not).
pub fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        // Not fatal: the ring set-up reports a clear error if it runs out.
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// A small fixed-seed generator (xorshift64*), so that every
/// implementation sees the same "random" timer expiries.
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed, non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    //! Each workload, each implementation, a small size: they do their work
    //! and their own checks pass (`cargo test` in this directory).

    use super::*;

    #[test]
    fn fd_rings() {
        raise_fd_limit();
        for (fds, active) in [(1, 1), (10, 4), (100, 4)] {
            let mut w = fd::IvykisRing::new(fds, active);
            w.run(1000);
            w.run(7);
            w.check();
            drop(w);
            let mut w = fd::MioRing::new(fds, active);
            w.run(1000);
            w.run(7);
            w.check();
            let mut w = fd::CalloopRing::new(fds, active);
            w.run(1000);
            w.run(7);
            w.check();
        }
    }

    #[test]
    fn timer_rounds() {
        use timers::TimerWorkload;
        let n = 2000;
        let mut w = timers::IvykisTimers::new(n);
        w.round();
        w.round();
        drop(w);
        let mut w = timers::IvykisKeptTimers::new(n);
        w.round();
        w.round();
        drop(w);
        let mut w = timers::MioTimers::new(n);
        w.round();
        w.round();
        let mut w = timers::CalloopTimers::new(n);
        w.round();
        w.round();
    }

    #[test]
    fn ivykis_rearm() {
        let mut w = timers::IvykisRearm::new(1000);
        w.run(5000);
        w.run(5000);
    }

    #[test]
    fn cross_thread() {
        let mut w = cross::IvykisPingPong::new();
        w.run(100);
        w.run(3);
        drop(w);
        let mut w = cross::MioPingPong::new();
        w.run(100);
        w.run(3);
        let mut w = cross::CalloopPingPong::new();
        w.run(100);
        w.run(3);
        for posters in [1, 4] {
            let mut w = cross::IvykisPosts::new(posters);
            w.run(10_000);
            w.run(3);
            drop(w);
            let mut w = cross::MioPosts::new(posters);
            w.run(10_000);
            w.run(3);
            let mut w = cross::CalloopPosts::new(posters);
            w.run(10_000);
            w.run(3);
        }
    }

    #[test]
    fn task_chains() {
        let mut w = tasks::IvykisAgain::new();
        w.run(1000);
        w.run(1);
        drop(w);
        let mut w = tasks::IvykisKeptChain::new();
        w.run(1000);
        w.run(17);
        w.run(1);
        drop(w);
        let mut w = tasks::IvykisSpawn::new();
        w.run(1000);
        w.run(1);
        drop(w);
        let mut w = tasks::CalloopIdle::new();
        w.run(1000);
        w.run(1);
    }
}
