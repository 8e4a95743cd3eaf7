/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * fd_pingpong.h: the fd ping-pong workload, shared by bench/c/fd_pingpong.c
 * (ivykis) and bench/raw/raw_fd_pingpong.c (hand-written epoll), so that
 * both run exactly the same pipes, ring, token, warm-up trip and checks.
 * See fd_pingpong.c for what it measures.
 *
 * The includer defines PINGPONG_FD_TYPE (its descriptor record, with an
 * `fd` member) before including this, and after it the loop functions
 * declared below; its main() calls pingpong_main().
 */

#ifndef BENCH_FD_PINGPONG_H
#define BENCH_FD_PINGPONG_H

#include <fcntl.h>
#include <unistd.h>

struct pipe_slot;

/* The library's face, defined by the includer. */
static void pingpong_loop_init(void);
static void pingpong_loop_run(void);	/* until pingpong_loop_quit() */
static void pingpong_loop_quit(void);
static void pingpong_loop_deinit(void);
/* Register `fd` (the slot's read end) with on_readable(slot) as handler. */
static void pingpong_fd_register(struct pipe_slot *slot, int fd);
static void pingpong_fd_unregister(struct pipe_slot *slot);
static void on_readable(void *cookie);

struct pipe_slot {
	PINGPONG_FD_TYPE read_end;	/* registered with the loop */
	int write_fd;
	struct pipe_slot *next;		/* next ring member; NULL when idle */
	unsigned long calls;
	int is_last;			/* the ring member that counts rounds */
};

static unsigned long rounds_wanted;
static unsigned long rounds_target;	/* the current phase's rounds */
static unsigned long rounds_done;
static unsigned long bad_calls;	/* read found no byte, or more than one */

static void send_token(struct pipe_slot *slot)
{
	static const char token = 't';

	if (write(slot->write_fd, &token, 1) != 1)
		bench_fail("write to pipe: %s", strerror(errno));
}

static void on_readable(void *cookie)
{
	struct pipe_slot *slot = cookie;
	char buf[2];
	ssize_t got;

	slot->calls++;
	got = read(slot->read_end.fd, buf, sizeof(buf));
	if (got != 1) {
		bad_calls++;
		if (got <= 0 && errno != EAGAIN)
			bench_fail("read from pipe: %s",
				   got == 0 ? "EOF" : strerror(errno));
		return;
	}
	if (slot->next == NULL) {
		/* An idle descriptor had nothing written to it. */
		bad_calls++;
		return;
	}
	if (slot->is_last && ++rounds_done == rounds_target) {
		pingpong_loop_quit();
		return;
	}
	send_token(slot->next);
}

static BENCH_MEASURED void bench_measured_phase(struct pipe_slot *first)
{
	send_token(first);
	pingpong_loop_run();
}

static int pingpong_main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	long fds, active, i;
	struct pipe_slot *slots, *first = NULL, *prev = NULL;
	struct bench_stopwatch sw;
	char params[128];

	bench_name = "fd_pingpong";
	fds = bench_arg_long_or_max(&args, "fds", 1000, 1, 100000,
				    bench_max_fd_pairs);
	active = bench_arg_long(&args, "active", fds < 4 ? fds : 4, 1, fds);
	rounds_wanted = bench_arg_long(&args, "rounds", 50000, 1, 1L << 40);
	bench_args_done(&args);

	bench_raise_fd_limit();
	pingpong_loop_init();

	slots = calloc(fds, sizeof(*slots));
	if (slots == NULL)
		bench_fail("out of memory");
	for (i = 0; i < fds; i++) {
		int ends[2];

		if (pipe2(ends, O_CLOEXEC) < 0)
			bench_fail("pipe #%ld: %s", i, strerror(errno));
		slots[i].write_fd = ends[1];
		pingpong_fd_register(&slots[i], ends[0]);
	}

	/* Ring members at evenly spaced indices, so not all at the low fds. */
	for (i = 0; i < active; i++) {
		struct pipe_slot *slot = &slots[i * fds / active];

		if (prev != NULL)
			prev->next = slot;
		else
			first = slot;
		prev = slot;
	}
	prev->next = first;
	prev->is_last = 1;

	/* The warm-up trip: one round, not measured. */
	rounds_target = 1;
	send_token(first);
	pingpong_loop_run();
	if (rounds_done != 1)
		bench_fail("the warm-up trip ended after %lu rounds",
			   rounds_done);
	rounds_done = 0;
	rounds_target = rounds_wanted;

	bench_stopwatch_start(&sw);
	bench_measured_phase(first);
	bench_stopwatch_stop(&sw);

	if (rounds_done != rounds_wanted)
		bench_fail("loop returned after %lu of %lu rounds", rounds_done,
			   rounds_wanted);
	if (bad_calls != 0)
		bench_fail("%lu callbacks found no token", bad_calls);
	for (i = 0; i < fds; i++) {
		unsigned long want = slots[i].next != NULL ? rounds_wanted + 1 : 0;

		if (slots[i].calls != want)
			bench_fail("pipe #%ld: %lu callbacks, expected %lu", i,
				   slots[i].calls, want);
	}

	snprintf(params, sizeof(params), "fds=%ld active=%ld rounds=%lu", fds,
		 active, rounds_wanted);
	bench_report(params, (uint64_t)rounds_wanted * (uint64_t)active, &sw,
		     "");

	for (i = 0; i < fds; i++) {
		pingpong_fd_unregister(&slots[i]);
		close(slots[i].read_end.fd);
		close(slots[i].write_fd);
	}
	free(slots);
	pingpong_loop_deinit();
	return 0;
}

#endif /* BENCH_FD_PINGPONG_H */
