/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * raw_fd_pingpong: the floor of bench/c/fd_pingpong.c. The same pipes, ring,
 * token, warm-up trip, checks and BENCH line (bench/c/fd_pingpong.h; with
 * `poll=raw-epoll lib=none`), on the hand-written epoll loop of raw.h
 * instead of ivykis.
 *
 *   raw_fd_pingpong fds=1000 active=4 rounds=50000
 *   raw_fd_pingpong fds=max active=4 rounds=50000
 *
 * ops = hops = rounds * active; each hop is one epoll_wait, one handler
 * call, one read and one write.
 */

#include "raw.h"

#define PINGPONG_FD_TYPE struct raw_fd
#include "fd_pingpong.h"

static void pingpong_loop_init(void)
{
	raw_init();
}

static void pingpong_loop_run(void)
{
	raw_main();
}

static void pingpong_loop_quit(void)
{
	raw_quit();
}

static void pingpong_loop_deinit(void)
{
	raw_deinit();
}

static void pingpong_fd_register(struct pipe_slot *slot, int fd)
{
	raw_fd_init(&slot->read_end, fd, slot);
	raw_register(&slot->read_end);
	raw_set_handler_in(&slot->read_end, on_readable);
}

static void pingpong_fd_unregister(struct pipe_slot *slot)
{
	raw_unregister(&slot->read_end);
}

int main(int argc, char **argv)
{
	return pingpong_main(argc, argv);
}
