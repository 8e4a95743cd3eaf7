/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * event_raw: an iv_event_raw that posts itself.
 *
 * One thread, one registered iv_event_raw. Its handler posts it again, so
 * every loop pass handles one post: the kernel wake-up object is signalled,
 * polled, drained and the handler called. After `calls` handler calls the
 * handler unregisters the object and the loop ends.
 *
 *   event_raw calls=1000000
 *
 * ops = handler calls. Only one post is ever outstanding, so nothing may
 * coalesce: the run fails (exit 1) unless the handler ran exactly `calls`
 * times and never without a post outstanding.
 */

#include "common.h"

#include <iv_event_raw.h>

static struct iv_event_raw ev;
static unsigned long calls_wanted;
static unsigned long calls;
static unsigned long unposted_calls;	/* handler ran with no post pending */
static int outstanding;			/* a post has not been handled yet */

static void post(void)
{
	outstanding = 1;
	iv_event_raw_post(&ev);
}

static void on_event(void *cookie)
{
	(void)cookie;
	calls++;
	if (!outstanding)
		unposted_calls++;
	outstanding = 0;
	if (calls == calls_wanted) {
		iv_event_raw_unregister(&ev);
		return;
	}
	post();
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	post();
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	struct bench_stopwatch sw;
	char params[64];

	bench_name = "event_raw";
	calls_wanted = bench_arg_long(&args, "calls", 1000000, 1, 1L << 40);
	bench_args_done(&args);

	iv_init();
	IV_EVENT_RAW_INIT(&ev);
	ev.handler = on_event;
	if (iv_event_raw_register(&ev) != 0)
		bench_fail("iv_event_raw_register: %s", strerror(errno));

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);

	if (calls != calls_wanted)
		bench_fail("the handler ran %lu times, expected %lu", calls,
			   calls_wanted);
	if (unposted_calls != 0)
		bench_fail("%lu handler calls without a post", unposted_calls);

	snprintf(params, sizeof(params), "calls=%lu", calls_wanted);
	bench_report(params, calls_wanted, &sw, "");

	iv_deinit();
	return 0;
}
