/*
 * fork and exec under load.
 *
 * Load, for as long as children are being started:
 *   - an iv_event ping-pong between the main loop and a second loop thread;
 *   - a worker pool (4 threads) kept busy with 8 jobs in flight;
 *   - a timer re-armed every 100 us.
 * Children, all at the same time as that load:
 *   - 600 iv_wait_interest_register_spawn children (8 at a time) that exit
 *     with a status of their own; one in four first starts a thread in the
 *     forked child that runs a loop of its own (iv_init, a 1 ms timer,
 *     iv_deinit), which must not deadlock on a lock that some other thread
 *     of the parent held at the fork;
 *   - 300 iv_popen "r" children (4 at a time) running echo, whose output
 *     is read to EOF and compared;
 *   - 300 children forked and exec'd by a thread of the program itself,
 *     outside the library, and reaped by that thread with waitpid: the
 *     library must leave them alone.
 *
 * Before that, a first phase: a thread forks 2000 children that exit at
 * once, while another thread allocates and frees memory in a loop and is
 * sent SIGUSR1 (an iv_signal of the main loop) every ~20 us.  The library's
 * signal handler then often runs in a thread that holds the allocator's
 * lock while a fork() is under way, and must not deadlock with fork's own
 * locking (the library's pthread_atfork handlers run inside fork).
 * Every child must be accounted for with the right status or output; the
 * load must stay consistent (every ping answered, every job completed).
 *
 * Long mode: 20 times as many children.
 */
#include "stress.h"

#include <iv_event.h>
#include <iv_popen.h>
#include <iv_signal.h>
#include <iv_wait.h>
#include <iv_work.h>

#define SHORT_SPAWNS 600
#define SHORT_POPENS 300
#define SHORT_FORKS 300
#define SHORT_QUICK_FORKS 2000
#define SPAWN_PARALLEL 8
#define POPEN_PARALLEL 4
#define JOBS_IN_FLIGHT 8

/* ---- load ------------------------------------------------------------ */

static struct iv_event ping_to_second, pong_to_main, stop_second;
static long pings, pongs;
static int stopping;
static pthread_t second;
static pthread_barrier_t second_ready;

static struct iv_work_pool pool;
static struct iv_work_item jobs[JOBS_IN_FLIGHT];
static atomic_long jobs_run;
static long jobs_completed, jobs_submitted, jobs_live;

static struct iv_timer ticker;
static long ticks;

static void on_ping(void *cookie)
{
	(void)cookie;
	pings++;
	iv_event_post(&pong_to_main);
}

static void on_stop_second(void *cookie)
{
	(void)cookie;
	iv_event_unregister(&ping_to_second);
	iv_event_unregister(&stop_second);
}

static void *second_loop(void *arg)
{
	(void)arg;
	iv_init();
	IV_EVENT_INIT(&ping_to_second);
	ping_to_second.handler = on_ping;
	IV_EVENT_INIT(&stop_second);
	stop_second.handler = on_stop_second;
	if (iv_event_register(&ping_to_second) || iv_event_register(&stop_second))
		s_die("iv_event_register failed");
	pthread_barrier_wait(&second_ready);
	iv_main();
	iv_deinit();
	return NULL;
}

static void on_pong(void *cookie)
{
	(void)cookie;
	pongs++;
	if (!stopping) {
		iv_event_post(&ping_to_second);
	} else {
		/* One ping is in flight at a time: this was the last. */
		iv_event_unregister(&pong_to_main);
		iv_event_post(&stop_second);
	}
}

static void job_work(void *cookie)
{
	volatile unsigned long x = 0;
	int i;

	(void)cookie;
	for (i = 0; i < 20000; i++)
		x += (unsigned long)i;
	atomic_fetch_add(&jobs_run, 1);
}

static void job_done(void *cookie)
{
	struct iv_work_item *job = cookie;

	jobs_completed++;
	if (!stopping) {
		jobs_submitted++;
		iv_work_pool_submit_work(&pool, job);
	} else if (--jobs_live == 0) {
		iv_work_pool_put(&pool);
	}
}

static void on_tick(void *cookie)
{
	(void)cookie;
	ticks++;
	if (!stopping) {
		ticker.expires = s_ts_add_ns(iv_now, 100000);
		iv_timer_register(&ticker);
	}
}

static void start_load(void)
{
	int i;

	pthread_barrier_init(&second_ready, NULL, 2);
	if (pthread_create(&second, NULL, second_loop, NULL))
		s_die("pthread_create failed");
	pthread_barrier_wait(&second_ready);
	IV_EVENT_INIT(&pong_to_main);
	pong_to_main.handler = on_pong;
	if (iv_event_register(&pong_to_main))
		s_die("iv_event_register failed");
	iv_event_post(&ping_to_second);

	IV_WORK_POOL_INIT(&pool);
	pool.max_threads = 4;
	if (iv_work_pool_create(&pool))
		s_die("iv_work_pool_create failed");
	for (i = 0; i < JOBS_IN_FLIGHT; i++) {
		IV_WORK_ITEM_INIT(&jobs[i]);
		jobs[i].cookie = &jobs[i];
		jobs[i].work = job_work;
		jobs[i].completion = job_done;
		jobs_submitted++;
		jobs_live++;
		iv_work_pool_submit_work(&pool, &jobs[i]);
	}

	IV_TIMER_INIT(&ticker);
	ticker.handler = on_tick;
	ticker.expires = iv_now;
	iv_timer_register(&ticker);
}

/* ---- children --------------------------------------------------------- */

static long n_spawns, n_popens, n_forks;
static long spawns_started, spawns_reaped, popens_started, popens_done;
static atomic_long forks_reaped;
static int load_stopped;

struct spawn {
	struct iv_wait_interest w;
	int code;
	int with_loop;
};

static struct spawn spawns[SPAWN_PARALLEL];

static void child_timer(void *cookie)
{
	(void)cookie;
}

/*
 * In the forked child: a thread with a loop of its own.  (The forking
 * thread's loop is a copy of the parent's, sharing its kernel objects; a
 * child must not run it.)
 */
static void *child_loop_thread(void *arg)
{
	struct iv_timer t;

	(void)arg;
	iv_init();
	IV_TIMER_INIT(&t);
	t.expires = s_ts_add_ns(iv_now, 1000000);
	t.handler = child_timer;
	iv_timer_register(&t);
	iv_main();
	iv_deinit();
	return NULL;
}

/* Runs in the forked child. */
static void spawn_child(void *cookie)
{
	struct spawn *sp = cookie;

	if (sp->with_loop) {
		pthread_t t;

		if (pthread_create(&t, NULL, child_loop_thread, NULL) != 0 ||
		    pthread_join(t, NULL) != 0)
			_exit(125);
	}
	_exit(sp->code);
}

static void maybe_stop_load(void);
static void start_spawn(struct spawn *sp);

static void on_child_status(void *cookie, int status, const struct rusage *ru)
{
	struct spawn *sp = cookie;

	(void)ru;
	if (!WIFEXITED(status) && !WIFSIGNALED(status))
		return; /* stopped or continued: not ours to see, but harmless */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != sp->code)
		s_bad_event("spawned child %d: status 0x%x, expected exit %d",
			    (int)sp->w.pid, status, sp->code);
	spawns_reaped++;
	iv_wait_interest_unregister(&sp->w);
	if (spawns_started < n_spawns)
		start_spawn(sp);
	maybe_stop_load();
}

static void start_spawn(struct spawn *sp)
{
	IV_WAIT_INTEREST_INIT(&sp->w);
	sp->w.cookie = sp;
	sp->w.handler = on_child_status;
	sp->code = (int)(spawns_started % 200);
	sp->with_loop = spawns_started % 4 == 0;
	spawns_started++;
	if (iv_wait_interest_register_spawn(&sp->w, spawn_child, sp) != 0)
		s_die("iv_wait_interest_register_spawn: %s", strerror(errno));
}

struct popen_slot {
	struct iv_popen_request req;
	struct iv_fd fd;
	char *argv[3];
	char want[64];
	char got[128];
	size_t len;
};

static struct popen_slot popens[POPEN_PARALLEL];

static void start_popen(struct popen_slot *p);

static void on_popen_output(void *cookie)
{
	struct popen_slot *p = cookie;
	ssize_t n = read(p->fd.fd, p->got + p->len, sizeof(p->got) - 1 - p->len);

	if (n > 0) {
		p->len += (size_t)n;
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0)
		s_bad_event("popen read: %s", strerror(errno));
	p->got[p->len] = '\0';
	if (strcmp(p->got, p->want) != 0)
		s_bad_event("popen output \"%s\", expected \"%s\"", p->got, p->want);
	iv_fd_unregister(&p->fd);
	close(p->fd.fd);
	iv_popen_request_close(&p->req);
	popens_done++;
	if (popens_started < n_popens)
		start_popen(p);
	maybe_stop_load();
}

static void start_popen(struct popen_slot *p)
{
	static char arg[POPEN_PARALLEL][32];
	int idx = (int)(p - popens), fd;

	snprintf(arg[idx], sizeof(arg[idx]), "popen-%ld", popens_started);
	snprintf(p->want, sizeof(p->want), "popen-%ld\n", popens_started);
	p->argv[0] = "echo";
	p->argv[1] = arg[idx];
	p->argv[2] = NULL;
	p->len = 0;
	IV_POPEN_REQUEST_INIT(&p->req);
	p->req.file = "echo";
	p->req.argv = p->argv;
	p->req.type = "r";
	popens_started++;
	fd = iv_popen_request_submit(&p->req);
	if (fd < 0)
		s_die("iv_popen_request_submit: %s", strerror(errno));
	IV_FD_INIT(&p->fd);
	p->fd.fd = fd;
	p->fd.cookie = p;
	p->fd.handler_in = on_popen_output;
	iv_fd_register(&p->fd);
}

/* A thread of the program forking and reaping its own children. */
static void *plain_forker(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n_forks; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			s_die("fork: %s", strerror(errno));
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				s_bad_event("waitpid(%d) of the program's own child: %s "
					    "(reaped by the library?)", (int)pid, strerror(errno));
				break;
			}
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 7)
			atomic_fetch_add(&forks_reaped, 1);
		else
			s_bad_event("own child %d: status 0x%x", (int)pid, status);
	}
	return NULL;
}

static pthread_t forker;
static struct iv_event forker_done;
static int forker_finished;

static void *forker_wrapper(void *arg)
{
	plain_forker(arg);
	iv_event_post(&forker_done);
	return NULL;
}

/* ---- phase 1: fork while signals land in an allocating thread ---------- */

static pthread_t mallocer;
static atomic_int fork_phase_over;
static struct iv_signal usr1;
static long usr1_calls, n_quick_forks, quick_forks;
static atomic_long allocations;

static void *malloc_loop(void *arg)
{
	uint64_t rng = 99;

	(void)arg;
	while (!atomic_load(&fork_phase_over)) {
		/* volatile: the compiler may drop a malloc whose block
		 * is only freed. */
		void *volatile block = malloc(64 + s_rand_r(&rng) % 4096);

		free(block);
		atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *signal_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&fork_phase_over)) {
		pthread_kill(mallocer, SIGUSR1);
		atomic_fetch_add(&s_signals, 1);
		usleep(20);
	}
	return NULL;
}

static void *quick_forker(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n_quick_forks; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			s_die("fork: %s", strerror(errno));
		if (pid == 0)
			_exit(3);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
			quick_forks++;
		else
			s_bad_event("quick child: status 0x%x", status);
	}
	atomic_store(&fork_phase_over, 1);
	return NULL;
}

static void on_usr1(void *cookie)
{
	(void)cookie;
	usr1_calls++;
	iv_signal_unregister(&usr1);
}

/* Runs before the main loop does; the watchdog catches a deadlock. */
static void fork_signal_phase(void)
{
	pthread_t f, k;

	IV_SIGNAL_INIT(&usr1);
	usr1.signum = SIGUSR1;
	usr1.handler = on_usr1;
	if (iv_signal_register(&usr1))
		s_die("iv_signal_register failed");
	if (pthread_create(&mallocer, NULL, malloc_loop, NULL) ||
	    pthread_create(&k, NULL, signal_loop, NULL) ||
	    pthread_create(&f, NULL, quick_forker, NULL))
		s_die("pthread_create failed");
	pthread_join(f, NULL);
	pthread_join(k, NULL);
	pthread_join(mallocer, NULL);
	/* The handler runs once the main loop runs; it unregisters then. */
}

static void on_forker_done(void *cookie)
{
	(void)cookie;
	forker_finished = 1;
	iv_event_unregister(&forker_done);
	maybe_stop_load();
}

static void maybe_stop_load(void)
{
	if (load_stopped || spawns_reaped < n_spawns || popens_done < n_popens ||
	    !forker_finished)
		return;
	load_stopped = 1;
	/* The ping-pong, the ticker and the jobs wind down by themselves. */
	stopping = 1;
}

int main(int argc, char **argv)
{
	int i, rc;

	s_setup("stress_fork", argc, argv, 240);
	n_spawns = s_count(SHORT_SPAWNS);
	n_popens = s_count(SHORT_POPENS);
	n_forks = s_count(SHORT_FORKS);
	n_quick_forks = s_count(SHORT_QUICK_FORKS);
	iv_set_fatal_msg_handler(s_fatal_handler);

	iv_init();
	s_watchdog(30, "phase 1 (fork while signals land in an allocating thread)");
	fork_signal_phase();
	s_watchdog(240, "phase 2 (children under load)");
	start_load();
	for (i = 0; i < SPAWN_PARALLEL; i++)
		start_spawn(&spawns[i]);
	for (i = 0; i < POPEN_PARALLEL; i++)
		start_popen(&popens[i]);
	IV_EVENT_INIT(&forker_done);
	forker_done.handler = on_forker_done;
	if (iv_event_register(&forker_done))
		s_die("iv_event_register failed");
	if (pthread_create(&forker, NULL, forker_wrapper, NULL))
		s_die("pthread_create failed");

	iv_main();
	pthread_join(forker, NULL);
	pthread_join(second, NULL);

	s_lost_ops(n_spawns - spawns_reaped, "spawned children never reported");
	s_lost_ops(n_popens - popens_done, "popen children whose output never ended");
	s_lost_ops(n_forks - atomic_load(&forks_reaped), "own children not reaped");
	s_lost_ops(jobs_submitted - jobs_completed, "jobs never completed");
	if (atomic_load(&jobs_run) != jobs_completed)
		s_bad_event("%ld jobs ran, %ld completed", atomic_load(&jobs_run), jobs_completed);
	if (pongs != pings)
		s_lost_ops(pings - pongs, "pings without their pong");
	errno = 0;
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		s_bad_event("children left unreaped at the end");

	if (usr1_calls != 1)
		s_lost_ops(1, "SIGUSR1 sent %ld times, its iv_signal called %ld times (1 expected)",
			   atomic_load(&s_signals), usr1_calls);
	s_lost_ops(n_quick_forks - quick_forks, "quick children not reaped");
	atomic_store(&s_threads, 1 + 1 + 3 + pool.max_threads);
	atomic_store(&s_ops, quick_forks + spawns_reaped + popens_done + atomic_load(&forks_reaped) +
				     jobs_completed + pongs + ticks);
	fprintf(stderr, "# phase 1: %ld quick forks, %ld SIGUSR1 to a thread doing %ld allocations\n",
		quick_forks, atomic_load(&s_signals), atomic_load(&allocations));
	fprintf(stderr, "# phase 2: children: %ld spawned, %ld popen, %ld own; load: %ld pings, %ld jobs, %ld ticks\n",
		spawns_reaped, popens_done, atomic_load(&forks_reaped), pongs, jobs_completed, ticks);
	rc = s_finish();
	iv_deinit();
	return rc;
}
