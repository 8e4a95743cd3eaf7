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
 * bench/raw/raw_fd_pingpong.c does the same on a hand-written epoll loop.
 */

#include "common.h"

#include <fcntl.h>
#include <unistd.h>

struct pipe_slot {
	struct iv_fd read_end;		/* registered with the loop */
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
		iv_quit();
		return;
	}
	send_token(slot->next);
}

static BENCH_MEASURED void bench_measured_phase(struct pipe_slot *first)
{
	send_token(first);
	iv_main();
}

int main(int argc, char **argv)
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
	iv_init();

	slots = calloc(fds, sizeof(*slots));
	if (slots == NULL)
		bench_fail("out of memory");
	for (i = 0; i < fds; i++) {
		int ends[2];

		if (pipe2(ends, O_CLOEXEC) < 0)
			bench_fail("pipe #%ld: %s", i, strerror(errno));
		IV_FD_INIT(&slots[i].read_end);
		slots[i].read_end.fd = ends[0];
		slots[i].read_end.cookie = &slots[i];
		slots[i].read_end.handler_in = on_readable;
		slots[i].write_fd = ends[1];
		iv_fd_register(&slots[i].read_end);
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
	iv_main();
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
		iv_fd_unregister(&slots[i].read_end);
		close(slots[i].read_end.fd);
		close(slots[i].write_fd);
	}
	free(slots);
	iv_deinit();
	return 0;
}
