//! The "poll" and "ppoll" methods: one `pollfd` per registration, kept in a
//! dense array (any descriptor number works, unlike a table indexed by fd),
//! with the registration's position remembered so that a change is O(1).
//! A registration that wants no band stays in the array with a negative fd,
//! which `poll` skips (otherwise a hung-up socket nobody listens to would wake
//! the loop forever).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{cvt, internal_index, timeout_ms, timeout_timespec, Bands, Event, Poller, Token};
use crate::engine::slab::Key;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Poll,
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    Ppoll,
}

pub struct Poll {
    flavour: Flavour,
    pollfds: Vec<libc::pollfd>,
    /// Parallel to `pollfds`: the real descriptor and the token.
    entries: Vec<(RawFd, Token)>,
    /// Position in `pollfds` by slab index of the token (`u32::MAX`: none).
    position: Vec<u32>,
    /// The same for the engine's internal tokens (see `sys::internal_token`).
    internal_position: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Poll {
    pub fn new(flavour: Flavour) -> Poll {
        Poll {
            flavour,
            pollfds: Vec::new(),
            entries: Vec::new(),
            position: Vec::new(),
            internal_position: Vec::new(),
        }
    }

    /// The position table for `token` and the token's index in it.
    fn table(&self, token: Token) -> (&Vec<u32>, usize) {
        match internal_index(token) {
            Some(i) => (&self.internal_position, i),
            None => (
                &self.position,
                Key::from_raw(token).map_or(usize::MAX, |k| k.index() as usize),
            ),
        }
    }

    fn position_cell(&mut self, token: Token) -> &mut u32 {
        let (table, slot) = match internal_index(token) {
            Some(i) => (&mut self.internal_position, i),
            None => (
                &mut self.position,
                Key::from_raw(token).expect("non-zero token").index() as usize,
            ),
        };
        if slot >= table.len() {
            table.resize((slot + 1).next_power_of_two(), NONE);
        }
        &mut table[slot]
    }

    fn position_of(&self, token: Token) -> Option<usize> {
        let (table, slot) = self.table(token);
        let pos = *table.get(slot)?;
        (pos != NONE && self.entries[pos as usize].1 == token).then_some(pos as usize)
    }
}

fn poll_mask(bands: Bands) -> libc::c_short {
    let mut mask = 0;
    if bands.contains(Bands::IN) {
        mask |= libc::POLLIN | libc::POLLPRI;
    }
    if bands.contains(Bands::OUT) {
        mask |= libc::POLLOUT;
    }
    mask
}

fn ready_bands(revents: libc::c_short) -> Bands {
    if revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        return Bands::ALL;
    }
    Bands::when(revents & (libc::POLLIN | libc::POLLPRI) != 0, Bands::IN)
        .with(Bands::when(revents & libc::POLLOUT != 0, Bands::OUT))
}

impl Poller for Poll {
    fn name(&self) -> &'static str {
        match self.flavour {
            Flavour::Poll => "poll",
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
            Flavour::Ppoll => "ppoll",
        }
    }

    fn set_interest(
        &mut self,
        fd: RawFd,
        token: Token,
        _known: bool,
        bands: Bands,
    ) -> io::Result<()> {
        let watched_fd = if bands.is_empty() { -1 } else { fd };
        let events = poll_mask(bands);
        if let Some(pos) = self.position_of(token) {
            self.pollfds[pos].fd = watched_fd;
            self.pollfds[pos].events = events;
            return Ok(());
        }
        *self.position_cell(token) = self.pollfds.len() as u32;
        self.pollfds.push(libc::pollfd {
            fd: watched_fd,
            events,
            revents: 0,
        });
        self.entries.push((fd, token));
        Ok(())
    }

    fn remove(&mut self, _fd: RawFd, token: Token) {
        let Some(pos) = self.position_of(token) else {
            return;
        };
        *self.position_cell(token) = NONE;
        self.pollfds.swap_remove(pos);
        self.entries.swap_remove(pos);
        if let Some(&(_, moved)) = self.entries.get(pos) {
            *self.position_cell(moved) = pos as u32;
        }
    }

    fn wait(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        let nfds = self.pollfds.len() as libc::nfds_t;
        let fds = self.pollfds.as_mut_ptr();
        // SAFETY: `fds` points at `nfds` initialised pollfds that live for the
        // call; the timespec (or null) and null sigmask are valid.
        let res = match self.flavour {
            Flavour::Poll => cvt(unsafe { libc::poll(fds, nfds, timeout_ms(timeout)) }),
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
            Flavour::Ppoll => {
                let ts = timeout_timespec(timeout);
                let ts_ptr = ts
                    .as_ref()
                    .map_or(std::ptr::null(), |t| t as *const libc::timespec);
                // SAFETY: as above; `ts` outlives the call.
                cvt(unsafe { libc::ppoll(fds, nfds, ts_ptr, std::ptr::null()) })
            }
        };
        let mut left = match res {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        for (pfd, &(_, token)) in self.pollfds.iter().zip(&self.entries) {
            if left == 0 {
                break;
            }
            if pfd.revents != 0 {
                left -= 1;
                events.push((token, ready_bands(pfd.revents)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_remove_keeps_positions() {
        let mut p = Poll::new(Flavour::Poll);
        let tokens: Vec<Token> = (0..3u64).map(|i| (1u64 << 32) | i).collect();
        for (i, t) in tokens.iter().enumerate() {
            p.set_interest(10 + i as RawFd, *t, false, Bands::IN)
                .unwrap();
        }
        p.remove(10, tokens[0]);
        assert_eq!(p.position_of(tokens[2]), Some(0));
        assert_eq!(p.entries[0], (12, tokens[2]));
        p.set_interest(12, tokens[2], true, Bands::NONE).unwrap();
        assert_eq!(p.pollfds[0].fd, -1);
        assert_eq!(p.position_of(tokens[0]), None);
    }
}
