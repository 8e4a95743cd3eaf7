/*
 * 64 threads, each with its own loop, post iv_events to each other.
 *
 * Every thread owns one iv_event and, for each sender, a pending count.  A
 * post is "count++ (release), then iv_event_post"; the handler takes every
 * pending count (exchange with 0, acquire).  Posts coalesce, so handler
 * calls are fewer than posts, but every count must arrive: at the end each
 * thread has received exactly PER_PEER messages from each of the other 63.
 *
 * Each thread sends a batch per loop round, from a task, or after every
 * second batch (at random) from a timer 50 us later, so that loops also go
 * to sleep and must be woken by the posts: sending, receiving and sleeping
 * interleave.  A thread keeps its
 * event registered until every thread has finished posting (a barrier),
 * then waits (with a deadline) for whatever is still in flight.
 *
 * The threads are started with iv_thread_create, so the main loop's
 * iv_main also checks that it waits for all of them.
 */
#include "stress.h"

#include <iv_event.h>
#include <iv_thread.h>

#define NTHREADS 64
#define BATCH 8
#define SHORT_PER_PEER 250

struct peer {
	int id;
	struct iv_event ev;
	struct iv_task send_task;
	struct iv_timer pause;
	uint64_t rng;
	struct iv_timer deadline;
	atomic_long inbox[NTHREADS];
	long received[NTHREADS];
	long received_total;
	long expected;
	long sent;
	long to_send;
	long handler_calls;
	int next;
	int phase2;
	int timed_out;
};

static struct peer peers[NTHREADS];
static long per_peer;
static pthread_barrier_t started, posted;

static void on_event(void *cookie)
{
	struct peer *me = cookie;
	int s;

	me->handler_calls++;
	for (s = 0; s < NTHREADS; s++) {
		long n = atomic_exchange_explicit(&me->inbox[s], 0,
						  memory_order_acquire);

		me->received[s] += n;
		me->received_total += n;
	}
	if (me->received_total > me->expected)
		s_bad_event("thread %d received %ld of %ld", me->id,
			    me->received_total, me->expected);
	if (me->phase2 && me->received_total >= me->expected)
		iv_quit();
}

static void send_batch(void *cookie)
{
	struct peer *me = cookie;
	int i;

	for (i = 0; i < BATCH && me->sent < me->to_send; i++) {
		struct peer *to;

		/* Round robin over the others: 1..63 ahead of us. */
		to = &peers[(me->id + 1 + me->next) % NTHREADS];
		me->next = (me->next + 1) % (NTHREADS - 1);
		atomic_fetch_add_explicit(&to->inbox[me->id], 1,
					  memory_order_release);
		iv_event_post(&to->ev);
		me->sent++;
	}
	if (me->sent >= me->to_send) {
		iv_quit();
	} else if (s_rand_r(&me->rng) % 2 == 0) {
		me->pause.expires = s_ts_add_ns(iv_now, 50000);
		iv_timer_register(&me->pause);
	} else {
		iv_task_register(&me->send_task);
	}
}

static void on_deadline(void *cookie)
{
	struct peer *me = cookie;

	me->timed_out = 1;
	iv_quit();
}

static void peer_thread(void *arg)
{
	struct peer *me = arg;

	iv_init();
	IV_EVENT_INIT(&me->ev);
	me->ev.cookie = me;
	me->ev.handler = on_event;
	if (iv_event_register(&me->ev) != 0)
		s_die("thread %d: iv_event_register failed", me->id);
	me->expected = per_peer * (NTHREADS - 1);
	me->to_send = per_peer * (NTHREADS - 1);
	atomic_fetch_add(&s_threads, 1);

	/* Nobody posts before every event is registered. */
	pthread_barrier_wait(&started);

	IV_TASK_INIT(&me->send_task);
	me->send_task.cookie = me;
	me->send_task.handler = send_batch;
	IV_TIMER_INIT(&me->pause);
	me->pause.cookie = me;
	me->pause.handler = send_batch;
	me->rng = 0x1234567ULL * (uint64_t)(me->id + 1);
	iv_task_register(&me->send_task);
	iv_main();

	/* Nobody posts any more after this; what was posted must arrive. */
	pthread_barrier_wait(&posted);
	if (me->received_total < me->expected) {
		me->phase2 = 1;
		IV_TIMER_INIT(&me->deadline);
		me->deadline.expires = s_ts_add_ns(iv_now, 30LL * 1000000000LL);
		me->deadline.cookie = me;
		me->deadline.handler = on_deadline;
		iv_timer_register(&me->deadline);
		iv_main();
		if (iv_timer_registered(&me->deadline))
			iv_timer_unregister(&me->deadline);
	}
	iv_event_unregister(&me->ev);
	iv_deinit();
}

int main(int argc, char **argv)
{
	long calls = 0, lost = 0;
	int r, s;

	s_setup("stress_events", argc, argv, 120);
	per_peer = s_count(SHORT_PER_PEER);
	iv_set_fatal_msg_handler(s_fatal_handler);
	pthread_barrier_init(&started, NULL, NTHREADS);
	pthread_barrier_init(&posted, NULL, NTHREADS);

	iv_init();
	atomic_fetch_add(&s_threads, 1);
	for (r = 0; r < NTHREADS; r++) {
		char name[32];

		peers[r].id = r;
		snprintf(name, sizeof(name), "peer %d", r);
		if (iv_thread_create(name, peer_thread, &peers[r]) != 0)
			s_die("iv_thread_create failed");
	}
	/* Returns once every peer thread has ended and been joined. */
	iv_main();

	for (r = 0; r < NTHREADS; r++) {
		struct peer *p = &peers[r];

		if (p->timed_out)
			s_bad_event("thread %d: deadline passed waiting for posts", r);
		for (s = 0; s < NTHREADS; s++) {
			long want = s == r ? 0 : per_peer;
			long left = atomic_load(&p->inbox[s]);

			if (p->received[s] + left != want && s != r)
				s_bad_event("thread %d: %ld posted from %d, %ld counted",
					    r, want, s, p->received[s] + left);
			if (p->received[s] < want)
				lost += want - p->received[s];
			else if (p->received[s] > want)
				s_bad_event("thread %d received %ld from %d, %ld sent",
					    r, p->received[s], s, want);
		}
		calls += p->handler_calls;
		atomic_fetch_add(&s_ops, p->sent);
	}
	s_lost_ops(lost, "posts never seen by their recipient's handler");
	fprintf(stderr, "# %ld posts, %ld handler calls (coalescing %.1f posts per call)\n",
		atomic_load(&s_ops), calls, calls ? (double)atomic_load(&s_ops) / (double)calls : 0.0);
	r = s_finish();
	iv_deinit();
	return r;
}
