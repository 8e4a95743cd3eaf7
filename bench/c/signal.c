/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * signal: SIGUSR1 deliveries through iv_signal.
 *
 * The main thread registers an iv_signal for SIGUSR1 and runs its loop.
 * Every handler call causes exactly one new SIGUSR1, so exactly one signal
 * is outstanding at any time and none can coalesce with another:
 *
 * mode=self (default)
 *   The handler sends the next signal itself with raise(): the library's
 *   signal handler runs at once, inside raise(), and the next loop pass
 *   calls the iv_signal handler again.
 * mode=thread
 *   A second thread (with SIGUSR1 blocked) waits until the handler asks for
 *   the next signal and sends it to the main thread with pthread_kill(),
 *   typically while the main thread sleeps in its poll: the signal path
 *   including the wake-up of a sleeping loop.
 *
 *   signal mode=self deliveries=500000
 *
 * After `deliveries` handler calls the object is unregistered and the loop
 * ends. ops = deliveries (handler calls). The run fails (exit 1) unless the
 * handler ran exactly `deliveries` times and never without a signal
 * outstanding; a lost signal leaves the loop waiting, and the watchdog ends
 * the run.
 */

#include "common.h"
#include "threads.h"

#include <semaphore.h>
#include <iv_signal.h>

enum mode { MODE_SELF, MODE_THREAD };

static enum mode mode;
static struct iv_signal sig;
static unsigned long deliveries_wanted;
static unsigned long deliveries;
static unsigned long unsent_calls;	/* handler ran with no signal outstanding */
static int outstanding;			/* a signal was sent and not handled */
static int sender_stop;
static sem_t send_request;		/* mode=thread: "send the next signal" */
static pthread_t main_thread;

static void request_signal(void)
{
	__atomic_store_n(&outstanding, 1, __ATOMIC_RELEASE);
	if (mode == MODE_SELF) {
		if (raise(SIGUSR1) != 0)
			bench_fail("raise: %s", strerror(errno));
	} else {
		sem_post(&send_request);
	}
}

static void on_signal(void *cookie)
{
	(void)cookie;
	deliveries++;
	if (!__atomic_load_n(&outstanding, __ATOMIC_ACQUIRE))
		unsent_calls++;
	__atomic_store_n(&outstanding, 0, __ATOMIC_RELEASE);
	if (deliveries == deliveries_wanted) {
		iv_signal_unregister(&sig);
		return;
	}
	request_signal();
}

static void *sender_thread(void *arg)
{
	sigset_t usr1;

	(void)arg;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	for (;;) {
		while (sem_wait(&send_request) < 0) {
			if (errno != EINTR)
				bench_fail("sem_wait: %s", strerror(errno));
		}
		if (__atomic_load_n(&sender_stop, __ATOMIC_ACQUIRE))
			return NULL;
		if (pthread_kill(main_thread, SIGUSR1) != 0)
			bench_fail("pthread_kill failed");
	}
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	request_signal();
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	struct bench_stopwatch sw;
	const char *mode_name;
	pthread_t sender = 0;
	char params[64];
	char observed[64];

	bench_name = "signal";
	mode_name = bench_arg(&args, "mode");
	if (mode_name == NULL || strcmp(mode_name, "self") == 0)
		mode = MODE_SELF;
	else if (strcmp(mode_name, "thread") == 0)
		mode = MODE_THREAD;
	else
		bench_fail("mode=%s: expected self or thread", mode_name);
	deliveries_wanted = bench_arg_long(&args, "deliveries", 500000, 1,
					   1L << 40);
	bench_args_done(&args);
	bench_watchdog(600);

	iv_init();
	IV_SIGNAL_INIT(&sig);
	sig.signum = SIGUSR1;
	sig.flags = 0;
	sig.handler = on_signal;
	if (iv_signal_register(&sig) != 0)
		bench_fail("iv_signal_register failed");
	if (mode == MODE_THREAD) {
		main_thread = pthread_self();
		if (sem_init(&send_request, 0, 0) < 0)
			bench_fail("sem_init: %s", strerror(errno));
		sender = bench_thread_start(sender_thread, NULL);
	}

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);

	if (mode == MODE_THREAD) {
		__atomic_store_n(&sender_stop, 1, __ATOMIC_RELEASE);
		sem_post(&send_request);
		bench_thread_join(sender);
		sem_destroy(&send_request);
	}

	if (deliveries != deliveries_wanted)
		bench_fail("the handler ran %lu times, expected %lu",
			   deliveries, deliveries_wanted);
	if (unsent_calls != 0)
		bench_fail("%lu handler calls without a signal outstanding",
			   unsent_calls);

	snprintf(params, sizeof(params), "mode=%s deliveries=%lu",
		 mode == MODE_SELF ? "self" : "thread", deliveries_wanted);
	bench_wall_observation(observed, sizeof(observed), &sw,
			       deliveries_wanted, "");
	bench_report(params, deliveries_wanted, &sw, observed);

	iv_deinit();
	return 0;
}
