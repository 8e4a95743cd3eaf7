/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * event_pingpong: cross-thread round trips with iv_event.
 *
 * Two threads, each running its own loop with one registered iv_event. The
 * main thread posts the peer's event; the peer's handler posts the main
 * thread's event back; that is one round trip. After `rounds` round trips
 * the main thread tells the peer to stop and both loops end.
 *
 *   event_pingpong rounds=200000
 *
 * ops = round trips (each: two posts, two handler calls, two cross-thread
 * wake-ups). Only one post is ever outstanding, so nothing may coalesce: the
 * run fails (exit 1) unless the peer's handler ran exactly rounds + 1 times
 * (the last one is the stop), the main thread's exactly `rounds` times, and
 * every call saw the hop counter its partner left for it.
 *
 * Besides CPU time per round trip, the BENCH line reports wall_ns_per_op:
 * the wall-clock time of one round trip, i.e. twice the wake-up latency.
 */

#include "common.h"
#include "threads.h"

#include <iv_event.h>

struct side {
	struct iv_event ev;
	struct side *partner;
	unsigned long calls;
	unsigned long bad_calls;	/* saw the wrong hop count */
};

static struct side main_side, peer_side;
static unsigned long rounds_wanted;
static unsigned long hops;		/* incremented once per handler call */
static int stop;			/* set by the main thread before the last post */
static struct bench_latch peer_ready = BENCH_LATCH_INIT;

static void on_peer_event(void *cookie)
{
	struct side *me = cookie;
	unsigned long seen = __atomic_load_n(&hops, __ATOMIC_ACQUIRE);

	me->calls++;
	if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		iv_quit();
		return;
	}
	if (seen != 2 * me->calls - 1)
		me->bad_calls++;
	__atomic_store_n(&hops, seen + 1, __ATOMIC_RELEASE);
	iv_event_post(&me->partner->ev);
}

static void on_main_event(void *cookie)
{
	struct side *me = cookie;
	unsigned long seen = __atomic_load_n(&hops, __ATOMIC_ACQUIRE);

	me->calls++;
	if (seen != 2 * me->calls)
		me->bad_calls++;
	if (me->calls == rounds_wanted) {
		__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
		iv_event_post(&me->partner->ev);
		iv_quit();
		return;
	}
	__atomic_store_n(&hops, seen + 1, __ATOMIC_RELEASE);
	iv_event_post(&me->partner->ev);
}

static void register_side(struct side *me, struct side *partner,
			  void (*handler)(void *))
{
	IV_EVENT_INIT(&me->ev);
	me->ev.cookie = me;
	me->ev.handler = handler;
	me->partner = partner;
	if (iv_event_register(&me->ev) != 0)
		bench_fail("iv_event_register: %s", strerror(errno));
}

static void *peer_thread(void *arg)
{
	(void)arg;
	iv_init();
	register_side(&peer_side, &main_side, on_peer_event);
	bench_latch_arrive(&peer_ready);
	iv_main();
	iv_event_unregister(&peer_side.ev);
	iv_deinit();
	return NULL;
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	__atomic_store_n(&hops, 1, __ATOMIC_RELEASE);
	iv_event_post(&peer_side.ev);
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	struct bench_stopwatch sw;
	pthread_t peer;
	char params[64];
	char observed[64];

	bench_name = "event_pingpong";
	rounds_wanted = bench_arg_long(&args, "rounds", 200000, 1, 1L << 40);
	bench_args_done(&args);
	bench_watchdog(600);

	iv_init();
	register_side(&main_side, &peer_side, on_main_event);
	peer = bench_thread_start(peer_thread, NULL);
	bench_latch_wait(&peer_ready, 1);

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);
	bench_thread_join(peer);

	if (main_side.calls != rounds_wanted)
		bench_fail("main handler ran %lu times, expected %lu",
			   main_side.calls, rounds_wanted);
	if (peer_side.calls != rounds_wanted + 1)
		bench_fail("peer handler ran %lu times, expected %lu",
			   peer_side.calls, rounds_wanted + 1);
	if (main_side.bad_calls != 0 || peer_side.bad_calls != 0)
		bench_fail("%lu main and %lu peer calls saw a wrong hop count",
			   main_side.bad_calls, peer_side.bad_calls);
	if (hops != 2 * rounds_wanted)
		bench_fail("%lu hops, expected %lu", hops, 2 * rounds_wanted);

	snprintf(params, sizeof(params), "rounds=%lu", rounds_wanted);
	bench_wall_observation(observed, sizeof(observed), &sw, rounds_wanted,
			       "");
	bench_report(params, rounds_wanted, &sw, observed);

	iv_event_unregister(&main_side.ev);
	iv_deinit();
	return 0;
}
