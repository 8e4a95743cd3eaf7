/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * fd_pingpong: file descriptor dispatch with many idle descriptors.
 *
 * `fds` pipes are created and the read end of every one is registered with
 * an input handler (`fds=max`: as many pipes as fit under the descriptor
 * limit, raised to the hard limit, minus a small margin; the BENCH line
 * shows the number used). `active` of them, spread evenly over the set, form a
 * ring: one token byte travels around it. Each hop is one handler_in call
 * that reads the byte from its pipe and writes it into the next pipe of the
 * ring, so every hop is one loop iteration with one ready descriptor among
 * `fds` registered ones. After `rounds` trips around the ring the last
 * handler calls iv_quit().
 *
 *   fd_pingpong fds=1000 active=4 rounds=50000
 *   fd_pingpong fds=max active=4 rounds=50000
 *
 * Before the measured phase the token makes one warm-up trip around the
 * ring, so that the loop has told the kernel about every registration (a
 * library may do that lazily, at its first wait) outside the measured phase.
 *
 * ops = hops = rounds * active. The run fails (exit 1) unless every ring
 * member was called exactly `rounds` times (plus the warm-up trip), each call
 * found exactly one byte, and no idle descriptor's handler was ever called.
 *
 * The workload itself is in fd_pingpong.h, shared with
 * bench/raw/raw_fd_pingpong.c, which runs it on a hand-written epoll loop.
 */

#include "common.h"

#define PINGPONG_FD_TYPE struct iv_fd
#include "fd_pingpong.h"

static void pingpong_loop_init(void)
{
	iv_init();
}

static void pingpong_loop_run(void)
{
	iv_main();
}

static void pingpong_loop_quit(void)
{
	iv_quit();
}

static void pingpong_loop_deinit(void)
{
	iv_deinit();
}

static void pingpong_fd_register(struct pipe_slot *slot, int fd)
{
	IV_FD_INIT(&slot->read_end);
	slot->read_end.fd = fd;
	slot->read_end.cookie = slot;
	slot->read_end.handler_in = on_readable;
	iv_fd_register(&slot->read_end);
}

static void pingpong_fd_unregister(struct pipe_slot *slot)
{
	iv_fd_unregister(&slot->read_end);
}

int main(int argc, char **argv)
{
	return pingpong_main(argc, argv);
}
