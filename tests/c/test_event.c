/*
 * SPEC 6: iv_event. Posts from any thread run the handler in the
 * registering thread; posts before the handler runs coalesce; a registered
 * event keeps iv_main running; unregistering drops queued posts; misuse is
 * fatal and names the function.
 */
#include "harness.h"

#include <iv_event.h>
#include <pthread.h>
#include <stdatomic.h>

static struct iv_event ev;
static int calls;

static void count_and_unregister(void *cookie)
{
	(void)cookie;
	calls++;
	iv_event_unregister(&ev);
}

static struct iv_task post_task;

static void post_three_times(void *cookie)
{
	(void)cookie;
	iv_event_post(&ev);
	iv_event_post(&ev);
	iv_event_post(&ev);
}

/* Three posts from the loop's own thread before the handler runs: one call,
 * and the registered event alone keeps iv_main running until it goes. */
static void same_thread_posts_coalesce(void)
{
	iv_init();
	IV_EVENT_INIT(&ev);
	ev.handler = count_and_unregister;
	CHECK(iv_event_register(&ev) == 0);
	IV_TASK_INIT(&post_task);
	post_task.handler = post_three_times;
	iv_task_register(&post_task);
	iv_main();
	CHECK_EQ_LONG(calls, 1);
	iv_deinit();
}

static void *post_once_thread(void *arg)
{
	(void)arg;
	usleep(20000);
	iv_event_post(&ev);
	return NULL;
}

static pthread_t recipient_thread;
static pthread_t handler_thread;

static void note_thread(void *cookie)
{
	(void)cookie;
	handler_thread = pthread_self();
	calls++;
	iv_event_unregister(&ev);
}

/* A post from another thread wakes a sleeping loop and the handler runs in
 * the registering thread. */
static void post_from_other_thread_wakes_loop(void)
{
	pthread_t t;

	iv_init();
	recipient_thread = pthread_self();
	IV_EVENT_INIT(&ev);
	ev.handler = note_thread;
	CHECK(iv_event_register(&ev) == 0);
	CHECK(pthread_create(&t, NULL, post_once_thread, NULL) == 0);
	iv_main();
	pthread_join(t, NULL);
	CHECK_EQ_LONG(calls, 1);
	CHECK(pthread_equal(handler_thread, recipient_thread));
	iv_deinit();
}

#define POSTERS 4
#define POSTS_EACH 50000

static atomic_long sent;
static atomic_int posters_done;
static long handler_calls;

static void *poster(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < POSTS_EACH; i++) {
		atomic_fetch_add(&sent, 1);
		iv_event_post(&ev);
	}
	atomic_fetch_add(&posters_done, 1);
	/* The final post comes after posters_done: the handler must run once
	 * more after it, or a post was lost. */
	iv_event_post(&ev);
	return NULL;
}

static void account(void *cookie)
{
	(void)cookie;
	handler_calls++;
	if (atomic_load(&posters_done) == POSTERS &&
	    atomic_load(&sent) == (long)POSTERS * POSTS_EACH)
		iv_event_unregister(&ev);
}

/* Many threads posting to one recipient: no post is lost (the loop would
 * hang and the subtest time out), and posts coalesce (fewer calls than
 * posts). */
static void many_posters_every_post_accounted(void)
{
	pthread_t t[POSTERS];
	int i;

	iv_init();
	IV_EVENT_INIT(&ev);
	ev.handler = account;
	CHECK(iv_event_register(&ev) == 0);
	for (i = 0; i < POSTERS; i++)
		CHECK(pthread_create(&t[i], NULL, poster, NULL) == 0);
	iv_main();
	for (i = 0; i < POSTERS; i++)
		pthread_join(t[i], NULL);
	CHECK(handler_calls >= 1);
	CHECKF(handler_calls <= (long)POSTERS * POSTS_EACH + POSTERS,
	       "%ld calls", handler_calls);
	iv_deinit();
}

static void must_not_run(void *cookie)
{
	(void)cookie;
	FAIL("handler of an unregistered event ran");
}

static struct iv_timer stop_timer;

static void stop(void *cookie)
{
	(void)cookie;
}

static void *post_arg_thread(void *arg)
{
	iv_event_post(arg);
	return NULL;
}

/* A post queued from another thread, then the event unregistered and its
 * memory scribbled over before the loop runs: the stale post is dropped. */
static void unregister_drops_queued_post(void)
{
	struct iv_event *e = malloc(sizeof(*e));
	pthread_t t;

	iv_init();
	IV_EVENT_INIT(e);
	e->handler = must_not_run;
	CHECK(iv_event_register(e) == 0);
	CHECK(pthread_create(&t, NULL, post_arg_thread, e) == 0);
	pthread_join(t, NULL);
	iv_event_unregister(e);
	memset(e, 0xa5, sizeof(*e));
	free(e);

	IV_TIMER_INIT(&stop_timer);
	iv_validate_now();
	stop_timer.expires = h_ts_add_ms(iv_now, 30);
	stop_timer.handler = stop;
	iv_timer_register(&stop_timer);
	iv_main();
	iv_deinit();
}

static struct iv_event pair[2];
static int pair_calls[2];

static void pair_handler(void *cookie)
{
	int i = (int)(long)cookie;

	pair_calls[i]++;
	if (i == 0) {
		iv_event_unregister(&pair[1]);
		iv_event_unregister(&pair[0]);
	}
}

/* Two events posted in the same batch; the first handler unregisters the
 * second, whose queued post is then dropped. */
static void unregister_other_inside_handler(void)
{
	iv_init();
	IV_EVENT_INIT(&pair[0]);
	IV_EVENT_INIT(&pair[1]);
	pair[0].handler = pair_handler;
	pair[0].cookie = (void *)0L;
	pair[1].handler = pair_handler;
	pair[1].cookie = (void *)1L;
	CHECK(iv_event_register(&pair[0]) == 0);
	CHECK(iv_event_register(&pair[1]) == 0);
	iv_event_post(&pair[0]);
	iv_event_post(&pair[1]);
	iv_main();
	CHECK_EQ_LONG(pair_calls[0], 1);
	CHECK_EQ_LONG(pair_calls[1], 0);
	iv_deinit();
}

static int reposts;

static void repost_from_handler(void *cookie)
{
	(void)cookie;
	if (++reposts < 3)
		iv_event_post(&ev);
	else
		iv_event_unregister(&ev);
}

/* A post made by the handler itself is not swallowed by the coalescing. */
static void post_from_own_handler_runs_again(void)
{
	iv_init();
	IV_EVENT_INIT(&ev);
	ev.handler = repost_from_handler;
	CHECK(iv_event_register(&ev) == 0);
	iv_event_post(&ev);
	iv_main();
	CHECK_EQ_LONG(reposts, 3);
	iv_deinit();
}

static void post_unregistered(void *arg)
{
	(void)arg;
	iv_init();
	IV_EVENT_INIT(&ev);
	ev.handler = must_not_run;
	CHECK(iv_event_register(&ev) == 0);
	iv_event_unregister(&ev);
	iv_event_post(&ev);
}

static void unregister_twice(void *arg)
{
	(void)arg;
	iv_init();
	IV_EVENT_INIT(&ev);
	CHECK(iv_event_register(&ev) == 0);
	iv_event_unregister(&ev);
	iv_event_unregister(&ev);
}

static void *unregister_in_thread(void *arg)
{
	iv_init();
	iv_event_unregister(arg);
	return NULL;
}

static void unregister_from_other_thread(void *arg)
{
	pthread_t t;

	(void)arg;
	iv_init();
	IV_EVENT_INIT(&ev);
	CHECK(iv_event_register(&ev) == 0);
	pthread_create(&t, NULL, unregister_in_thread, &ev);
	pthread_join(t, NULL);
}

static void misuse_is_fatal(void)
{
	struct h_child_result res;

	h_fork_fatal(post_unregistered, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_event_post");
	h_fork_fatal(unregister_twice, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_event_unregister");
	h_fork_fatal(unregister_from_other_thread, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_event_unregister");
}

int main(void)
{
	RUN(same_thread_posts_coalesce);
	RUN(post_from_other_thread_wakes_loop);
	RUN(many_posters_every_post_accounted);
	RUN(unregister_drops_queued_post);
	RUN(unregister_other_inside_handler);
	RUN(post_from_own_handler_runs_again);
	RUN(misuse_is_fatal);
	return h_done("test_event");
}
