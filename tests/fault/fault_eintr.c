/*
 * EINTR on every blocking call.
 *
 * The program installs a handler for SIGUSR2 *without* SA_RESTART, so any
 * system call the signal interrupts fails with EINTR, and an interrupter
 * thread sends SIGUSR2 at a high rate (every ~20 us) to every thread that
 * runs a loop -- the main loop, a second loop, a poster, and the worker
 * pool's workers as they come and go -- and now and then to the process.
 * The library must retry (or otherwise absorb) every EINTR: a wait, a
 * read or write of its wake-up descriptors, the fork/exec paths.
 *
 * Meanwhile, the workload, which sleeps in the poll method all the time:
 *   - 2000 timers in sequence, each 100 us after the previous one (waits
 *     with a timeout), never called early;
 *   - 5000 round trips of a byte over a socketpair between the main loop
 *     and the second loop (waits without a timeout);
 *   - 5000 iv_event posts from the poster thread to the main loop, every
 *     one accounted for (a pending count, as in stress_events);
 *   - 2000 worker pool jobs (max 4 workers);
 *   - 50 iv_popen children (echo, output compared) and 50
 *     iv_wait_interest_register_spawn children (exit status compared).
 *
 * signals = SIGUSR2 sent; faults = SIGUSR2 handled (each one a chance of
 * EINTR).  Long mode: 20 times as much of everything.
 */
#include "../stress/stress.h"

#include <iv_event.h>
#include <iv_popen.h>
#include <iv_wait.h>
#include <iv_work.h>

#define SHORT_TIMERS 2000
#define SHORT_TRIPS 5000
#define SHORT_POSTS 5000
#define SHORT_JOBS 2000
#define SHORT_CHILDREN 50
#define MAX_TARGETS 64

/* ---- the interrupter ------------------------------------------------- */

static atomic_long interrupts;
static atomic_int stop_interrupter;
static pthread_mutex_t targets_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t targets[MAX_TARGETS];
static int ntargets;

static void on_sigusr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&interrupts, 1);
}

static void target_add(void)
{
	pthread_mutex_lock(&targets_lock);
	if (ntargets < MAX_TARGETS)
		targets[ntargets++] = pthread_self();
	pthread_mutex_unlock(&targets_lock);
}

static void target_remove(void)
{
	int i;

	pthread_mutex_lock(&targets_lock);
	for (i = 0; i < ntargets; i++) {
		if (pthread_equal(targets[i], pthread_self())) {
			targets[i] = targets[--ntargets];
			break;
		}
	}
	pthread_mutex_unlock(&targets_lock);
}

static void *interrupter(void *arg)
{
	sigset_t set;
	unsigned long round = 0;
	int i;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!atomic_load(&stop_interrupter)) {
		pthread_mutex_lock(&targets_lock);
		for (i = 0; i < ntargets; i++) {
			pthread_kill(targets[i], SIGUSR2);
			atomic_fetch_add(&s_signals, 1);
		}
		pthread_mutex_unlock(&targets_lock);
		if (++round % 16 == 0) {
			kill(getpid(), SIGUSR2);
			atomic_fetch_add(&s_signals, 1);
		}
		usleep(20);
	}
	return NULL;
}

/* ---- the workload ---------------------------------------------------- */

static long n_timers, n_trips, n_posts, n_jobs, n_children;
static int parts_left = 6;

static void part_done(void)
{
	if (--parts_left == 0)
		iv_quit();
}

/* Timers in sequence. */
static struct iv_timer seq_timer;
static long timers_fired;

static void on_seq_timer(void *cookie)
{
	(void)cookie;
	if (s_ts_cmp(&iv_now, &seq_timer.expires) < 0)
		s_bad_event("timer called before its expiry");
	if (++timers_fired < n_timers) {
		seq_timer.expires = s_ts_add_ns(iv_now, 100000);
		iv_timer_register(&seq_timer);
	} else {
		part_done();
	}
}

/* Ping-pong over a socketpair with the second loop. */
static int sp[2];
static struct iv_fd main_end, second_end;
static long trips;
static pthread_t second;

static void main_end_readable(void *cookie)
{
	char c;
	ssize_t n = read(main_end.fd, &c, 1);

	(void)cookie;
	if (n < 0 && errno == EAGAIN)
		return;
	if (n != 1)
		s_die("read: %zd %s", n, strerror(errno));
	if (++trips < n_trips) {
		if (write(main_end.fd, "p", 1) != 1)
			s_die("write: %s", strerror(errno));
	} else {
		if (write(main_end.fd, "q", 1) != 1)
			s_die("write: %s", strerror(errno));
		iv_fd_unregister(&main_end);
		part_done();
	}
}

static void second_end_readable(void *cookie)
{
	char c;
	ssize_t n = read(second_end.fd, &c, 1);

	(void)cookie;
	if (n < 0 && errno == EAGAIN)
		return;
	if (n != 1)
		s_die("read: %zd %s", n, strerror(errno));
	if (c == 'q') {
		iv_fd_unregister(&second_end);
		return;
	}
	if (write(second_end.fd, "p", 1) != 1)
		s_die("write: %s", strerror(errno));
}

static void *second_loop(void *arg)
{
	(void)arg;
	target_add();
	iv_init();
	IV_FD_INIT(&second_end);
	second_end.fd = sp[1];
	second_end.handler_in = second_end_readable;
	iv_fd_register(&second_end);
	iv_main();
	iv_deinit();
	target_remove();
	return NULL;
}

/* Posts from the poster thread. */
static struct iv_event post_ev;
static atomic_long pending_posts;
static long posts_seen;
static pthread_t poster;

static void on_post(void *cookie)
{
	(void)cookie;
	posts_seen += atomic_exchange(&pending_posts, 0);
	if (posts_seen == n_posts) {
		iv_event_unregister(&post_ev);
		part_done();
	}
}

static void *poster_thread(void *arg)
{
	long i;

	(void)arg;
	target_add();
	for (i = 0; i < n_posts; i++) {
		atomic_fetch_add(&pending_posts, 1);
		iv_event_post(&post_ev);
		if (i % 8 == 0)
			usleep(10);
	}
	target_remove();
	return NULL;
}

/* Work pool jobs. */
static struct iv_work_pool pool;
static struct iv_work_item job_items[8];
static long jobs_submitted, jobs_completed;
static atomic_long jobs_run;

static void worker_started(void *cookie)
{
	(void)cookie;
	target_add();
}

static void worker_stopped(void *cookie)
{
	(void)cookie;
	target_remove();
}

static void job_work(void *cookie)
{
	(void)cookie;
	usleep(50);
	atomic_fetch_add(&jobs_run, 1);
}

static void job_done(void *cookie)
{
	struct iv_work_item *it = cookie;

	jobs_completed++;
	if (jobs_submitted < n_jobs) {
		jobs_submitted++;
		iv_work_pool_submit_work(&pool, it);
	} else if (jobs_completed == n_jobs) {
		iv_work_pool_put(&pool);
		part_done();
	}
}

/* Children. */
static long popens_done, spawns_done, popens_started, spawns_started;
static struct iv_popen_request preq;
static struct iv_fd pfd;
static char pgot[64];
static size_t plen;
static char *echo_argv[] = { "echo", "interrupted", NULL };
static struct iv_wait_interest wi;

static void start_popen(void);
static void start_spawn(void);

static void popen_read(void *cookie)
{
	ssize_t n;

	(void)cookie;
	n = read(pfd.fd, pgot + plen, sizeof(pgot) - 1 - plen);
	if (n > 0) {
		plen += (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	pgot[plen] = '\0';
	if (strcmp(pgot, "interrupted\n") != 0)
		s_bad_event("popen output \"%s\"", pgot);
	iv_fd_unregister(&pfd);
	close(pfd.fd);
	iv_popen_request_close(&preq);
	if (++popens_done < n_children)
		start_popen();
	else
		part_done();
}

static void start_popen(void)
{
	int fd;

	IV_POPEN_REQUEST_INIT(&preq);
	preq.file = "echo";
	preq.argv = echo_argv;
	preq.type = "r";
	popens_started++;
	fd = iv_popen_request_submit(&preq);
	if (fd < 0)
		s_die("iv_popen_request_submit: %s", strerror(errno));
	plen = 0;
	IV_FD_INIT(&pfd);
	pfd.fd = fd;
	pfd.handler_in = popen_read;
	iv_fd_register(&pfd);
}

static void spawned(void *cookie)
{
	_exit((int)(intptr_t)cookie);
}

static void on_spawn_status(void *cookie, int status, const struct rusage *ru)
{
	(void)ru;
	if (!WIFEXITED(status) && !WIFSIGNALED(status))
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != (int)(intptr_t)cookie)
		s_bad_event("spawned child: status 0x%x", status);
	iv_wait_interest_unregister(&wi);
	if (++spawns_done < n_children)
		start_spawn();
	else
		part_done();
}

static void start_spawn(void)
{
	intptr_t code = (intptr_t)(spawns_started % 100);

	IV_WAIT_INTEREST_INIT(&wi);
	wi.cookie = (void *)code;
	wi.handler = on_spawn_status;
	spawns_started++;
	if (iv_wait_interest_register_spawn(&wi, spawned, (void *)code) != 0)
		s_die("iv_wait_interest_register_spawn: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t intr;
	int i, rc;

	s_setup("fault_eintr", argc, argv, 180);
	n_timers = s_count(SHORT_TIMERS);
	n_trips = s_count(SHORT_TRIPS);
	n_posts = s_count(SHORT_POSTS);
	n_jobs = s_count(SHORT_JOBS);
	n_children = s_count(SHORT_CHILDREN);
	iv_set_fatal_msg_handler(s_fatal_handler);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr2;
	sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
	sigemptyset(&sa.sa_mask);
	S_SYS(sigaction(SIGUSR2, &sa, NULL));

	iv_init();
	target_add();
	S_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	if (pthread_create(&intr, NULL, interrupter, NULL))
		s_die("pthread_create failed");

	IV_TIMER_INIT(&seq_timer);
	seq_timer.handler = on_seq_timer;
	seq_timer.expires = iv_now;
	iv_timer_register(&seq_timer);

	IV_FD_INIT(&main_end);
	main_end.fd = sp[0];
	main_end.handler_in = main_end_readable;
	iv_fd_register(&main_end);
	if (pthread_create(&second, NULL, second_loop, NULL))
		s_die("pthread_create failed");
	if (write(sp[0], "p", 1) != 1)
		s_die("write: %s", strerror(errno));

	IV_EVENT_INIT(&post_ev);
	post_ev.handler = on_post;
	if (iv_event_register(&post_ev))
		s_die("iv_event_register failed");
	if (pthread_create(&poster, NULL, poster_thread, NULL))
		s_die("pthread_create failed");

	IV_WORK_POOL_INIT(&pool);
	pool.max_threads = 4;
	pool.thread_start = worker_started;
	pool.thread_stop = worker_stopped;
	if (iv_work_pool_create(&pool))
		s_die("iv_work_pool_create failed");
	for (i = 0; i < 8; i++) {
		IV_WORK_ITEM_INIT(&job_items[i]);
		job_items[i].cookie = &job_items[i];
		job_items[i].work = job_work;
		job_items[i].completion = job_done;
		jobs_submitted++;
		iv_work_pool_submit_work(&pool, &job_items[i]);
	}

	start_popen();
	start_spawn();

	iv_main();
	pthread_join(second, NULL);
	pthread_join(poster, NULL);
	atomic_store(&stop_interrupter, 1);
	pthread_join(intr, NULL);

	s_lost_ops(n_timers - timers_fired, "timers never called");
	s_lost_ops(n_trips - trips, "round trips never completed");
	s_lost_ops(n_posts - posts_seen, "posts never seen");
	s_lost_ops(n_jobs - jobs_completed, "jobs never completed");
	s_lost_ops(n_children - popens_done, "popen children never finished");
	s_lost_ops(n_children - spawns_done, "spawned children never reported");
	if (parts_left != 0)
		s_bad_event("iv_main returned with %d parts unfinished", parts_left);
	atomic_store(&s_ops, timers_fired + trips + posts_seen + jobs_completed +
				     popens_done + spawns_done);
	atomic_store(&s_faults, atomic_load(&interrupts));
	atomic_store(&s_threads, 4 + pool.max_threads);
	rc = s_finish();
	iv_deinit();
	return rc;
}
