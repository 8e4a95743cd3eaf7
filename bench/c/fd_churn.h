/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * fd_churn.h: the registration-churn workload, shared by bench/c/fd_churn.c
 * (ivykis) and bench/raw/raw_fd_churn.c (hand-written epoll), so that both
 * make exactly the same sequence of calls and checks.
 *
 * `slots` socketpairs; one end of each (the "socket") is registered and
 * unregistered over and over, the other (the "peer") only writes. Each slot
 * cycles through six states, one API call per step:
 *
 *   0 unregistered   --register (with handler_in) + write a byte-->  1
 *   1 in             --set_handler_out(on)------------------------>  2
 *   2 in + out       --set_handler_out(off)----------------------->  3
 *   3 in             --set_handler_in(off)------------------------>  4
 *   4 nothing        --set_handler_in(on) + write a byte--------->  5
 *   5 in             --unregister--------------------------------->  0
 *
 * The socket is always writable, so once a slot is in state 2 its
 * handler_out runs at the next wait; it turns itself off (one more API
 * call) and moves the slot to state 3. handler_in reads whatever is
 * waiting.
 *
 * Work comes in batches: one batch of `batch` steps on slots picked at
 * random (the same sequence every run), then one loop pass (a wait with a
 * zero timeout, since the next batch is due at once). So a library that
 * applies interest changes lazily sees several changes of one descriptor
 * between two waits, and most registrations live through many waits.
 *
 * Checks, at the start of every batch, for the slots that the previous
 * batch gave something to report: a slot that got a byte while its
 * handler_in was on, and still has it on, must have had the byte read by its
 * handler; a slot left in state 2 must have had its handler_out called. And
 * at every handler call: handler_in only while on, finding at least one byte
 * (no spurious calls); handler_out only in state 2.
 *
 * ops = API calls (the steps plus handler_out turning itself off).
 *
 * The includer defines CHURN_FD_TYPE (its descriptor record) before
 * including this, and after it the four churn_fd_* functions declared
 * below.
 */

#ifndef BENCH_FD_CHURN_H
#define BENCH_FD_CHURN_H

#include <sys/socket.h>
#include <unistd.h>

struct churn_slot {
	CHURN_FD_TYPE fd;
	int sock;			/* the registered end */
	int peer;			/* the other end: writes only */
	int state;			/* 0..5, see above */
	unsigned long pending;		/* bytes written, not read yet */
};

/* The library's face, defined by the includer. */
static void churn_fd_init(struct churn_slot *s);	/* once, at set-up */
static void churn_fd_register(struct churn_slot *s);	/* with handler_in */
static void churn_fd_unregister(struct churn_slot *s);
static void churn_fd_set_in(struct churn_slot *s, int on);
static void churn_fd_set_out(struct churn_slot *s, int on);

static struct churn_slot *churn_slots;
static long churn_nslots;
static long churn_batch;
static uint64_t churn_ops;		/* API calls */
static uint64_t churn_in_calls;
static uint64_t churn_out_calls;
static uint64_t churn_steps;
static uint64_t churn_bytes_read;

/* Slots to look at when the next batch starts (at most `batch` each). */
static struct churn_slot **churn_armed_in, **churn_armed_out;
static long churn_n_armed_in, churn_n_armed_out;

static inline int churn_in_on(int state)
{
	return state == 1 || state == 2 || state == 3 || state == 5;
}

static void churn_on_in(void *cookie)
{
	struct churn_slot *s = cookie;
	char buf[64];
	ssize_t got;

	if (!churn_in_on(s->state))
		bench_fail("slot %ld: handler_in called in state %d",
			   (long)(s - churn_slots), s->state);
	churn_in_calls++;
	got = read(s->sock, buf, sizeof(buf));
	if (got <= 0)
		bench_fail("slot %ld: handler_in found nothing to read (%s)",
			   (long)(s - churn_slots),
			   got == 0 ? "EOF" : strerror(errno));
	if ((unsigned long)got > s->pending)
		bench_fail("slot %ld: read %zd bytes, only %lu were written",
			   (long)(s - churn_slots), got, s->pending);
	s->pending -= got;
	churn_bytes_read += got;
}

static void churn_on_out(void *cookie)
{
	struct churn_slot *s = cookie;

	if (s->state != 2)
		bench_fail("slot %ld: handler_out called in state %d",
			   (long)(s - churn_slots), s->state);
	churn_out_calls++;
	churn_fd_set_out(s, 0);
	churn_ops++;
	s->state = 3;
}

static void churn_send_byte(struct churn_slot *s)
{
	if (write(s->peer, "b", 1) != 1)
		bench_fail("write to socket: %s", strerror(errno));
	s->pending++;
}

/* One API call on a random slot. */
static void churn_step(void)
{
	struct churn_slot *s = &churn_slots[bench_rand_below(churn_nslots)];

	switch (s->state) {
	case 0:
		churn_send_byte(s);
		churn_fd_register(s);
		churn_armed_in[churn_n_armed_in++] = s;
		break;
	case 1:
		churn_fd_set_out(s, 1);
		churn_armed_out[churn_n_armed_out++] = s;
		break;
	case 2:
		churn_fd_set_out(s, 0);
		break;
	case 3:
		churn_fd_set_in(s, 0);
		break;
	case 4:
		churn_send_byte(s);
		churn_fd_set_in(s, 1);
		churn_armed_in[churn_n_armed_in++] = s;
		break;
	case 5:
		churn_fd_unregister(s);
		break;
	}
	s->state = (s->state + 1) % 6;
	churn_ops++;
	churn_steps++;
}

/* Checks what the wait since the last batch must have delivered. */
static void churn_check(void)
{
	long i;

	for (i = 0; i < churn_n_armed_in; i++) {
		struct churn_slot *s = churn_armed_in[i];

		if (churn_in_on(s->state) && s->pending != 0)
			bench_fail("slot %ld: %lu bytes ready with handler_in "
				   "on through a wait, but it did not run",
				   (long)(s - churn_slots), s->pending);
	}
	for (i = 0; i < churn_n_armed_out; i++) {
		struct churn_slot *s = churn_armed_out[i];

		if (s->state == 2)
			bench_fail("slot %ld: writable with handler_out on "
				   "through a wait, but it did not run",
				   (long)(s - churn_slots));
	}
	churn_n_armed_in = 0;
	churn_n_armed_out = 0;
}

/* The batch of one loop pass: first the checks, then `batch` steps. */
static void churn_batch_run(void)
{
	long i;

	churn_check();
	for (i = 0; i < churn_batch; i++)
		churn_step();
}

static void churn_setup(long nslots, long batch)
{
	long i;

	churn_nslots = nslots;
	churn_batch = batch;
	churn_slots = calloc(nslots, sizeof(*churn_slots));
	churn_armed_in = calloc(batch, sizeof(*churn_armed_in));
	churn_armed_out = calloc(batch, sizeof(*churn_armed_out));
	if (churn_slots == NULL || churn_armed_in == NULL ||
	    churn_armed_out == NULL)
		bench_fail("out of memory");
	for (i = 0; i < nslots; i++) {
		int ends[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				       SOCK_CLOEXEC, 0, ends) < 0)
			bench_fail("socketpair #%ld: %s", i, strerror(errno));
		churn_slots[i].sock = ends[0];
		churn_slots[i].peer = ends[1];
		churn_fd_init(&churn_slots[i]);
	}
}

/* Unregisters what is still registered and closes everything. */
static void churn_teardown(void)
{
	long i;

	for (i = 0; i < churn_nslots; i++) {
		if (churn_slots[i].state != 0)
			churn_fd_unregister(&churn_slots[i]);
		close(churn_slots[i].sock);
		close(churn_slots[i].peer);
	}
	free(churn_slots);
	free(churn_armed_in);
	free(churn_armed_out);
}

/* The observations of the BENCH line, for the measured phase. */
static void churn_observed(char *out, size_t size)
{
	snprintf(out, size, "steps=%llu in_calls=%llu out_calls=%llu",
		 (unsigned long long)churn_steps,
		 (unsigned long long)churn_in_calls,
		 (unsigned long long)churn_out_calls);
}

/* Zeroes the counters at the start of the measured phase. */
static void churn_reset_counts(void)
{
	churn_ops = 0;
	churn_steps = 0;
	churn_in_calls = 0;
	churn_out_calls = 0;
	churn_bytes_read = 0;
}

#endif /* BENCH_FD_CHURN_H */
