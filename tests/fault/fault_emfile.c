/*
 * Descriptor exhaustion (EMFILE) while registering.
 *
 * For each operation that needs descriptors of its own -- iv_event_register
 * (the loop's wake-up eventfd, made on first use), iv_event_raw_register,
 * iv_signal_register, iv_popen_request_submit, iv_inotify_register,
 * iv_wait_interest_register_spawn, and iv_fd_pump_pump (its splice pipe) --
 * and for k = 0..4 descriptors left free, a fresh thread:
 *
 *   1. runs iv_init, then takes every free descriptor but k (dup of
 *      /dev/null until EMFILE, then gives k back; the soft RLIMIT_NOFILE
 *      is lowered to 256 above what is open at the start, to make this
 *      quick);
 *   2. tries the operation;
 *   3. gives the descriptors back;
 *   4. if the operation failed: it must have returned its error value with
 *      errno EMFILE (iv_event_register: nonzero), and the same struct must
 *      now register fine: the loop keeps working;
 *   5. uses what it registered (a post, a signal, a child's output, a file
 *      created in a watched directory, a child's exit, data through the
 *      pump) and tears it down, with a deadline;
 *   6. runs iv_deinit: the thread must leave exactly as many descriptors
 *      open as it found (nothing leaked on the failure path).
 *
 * A pump cannot fail at EMFILE: it falls back to copying through a buffer,
 * so it must move all the data while no descriptor is free.
 *
 * faults = attempts that met EMFILE (failed ones, and the pump's with fewer
 * than two descriptors free); lost = uses in step 5 that never
 * completed.
 */
#include "../stress/stress.h"

#include <iv_event.h>
#include <iv_event_raw.h>
#include <iv_fd_pump.h>
#include <iv_inotify.h>
#include <iv_popen.h>
#include <iv_signal.h>
#include <iv_wait.h>

#define MAX_FREE 4

static int devnull;
static int *fillers;
static int nfillers;

/* Takes every free descriptor but k. */
static void exhaust(int k)
{
	int fd;

	nfillers = 0;
	while ((fd = dup(devnull)) >= 0)
		fillers[nfillers++] = fd;
	if (errno != EMFILE)
		s_die("dup: %s", strerror(errno));
	while (k-- > 0 && nfillers > 0)
		close(fillers[--nfillers]);
}

static void release(void)
{
	while (nfillers > 0)
		close(fillers[--nfillers]);
}

/* ---- a deadline for step 5 ------------------------------------------- */

static __thread struct iv_timer deadline;
static __thread int use_done, use_timed_out;

static void on_deadline(void *cookie)
{
	(void)cookie;
	use_timed_out = 1;
	iv_quit();
}

static void use_begin(void)
{
	use_done = 0;
	use_timed_out = 0;
	IV_TIMER_INIT(&deadline);
	deadline.expires = s_ts_add_ns(iv_now, 10LL * 1000000000LL);
	deadline.handler = on_deadline;
	iv_timer_register(&deadline);
}

static void use_complete(void)
{
	use_done = 1;
	if (iv_timer_registered(&deadline))
		iv_timer_unregister(&deadline);
}

/* ---- iv_event -------------------------------------------------------- */

static __thread struct iv_event ev;

static void ev_handler(void *cookie)
{
	(void)cookie;
	iv_event_unregister(&ev);
	use_complete();
}

static int ev_attempt(void)
{
	IV_EVENT_INIT(&ev);
	ev.handler = ev_handler;
	return iv_event_register(&ev) == 0 ? 0 : -1;
}

static void *poster(void *arg)
{
	iv_event_post(arg);
	return NULL;
}

static void ev_use(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, poster, &ev) != 0)
		s_die("pthread_create failed");
	iv_main();
	pthread_join(t, NULL);
	if (!use_done)
		iv_event_unregister(&ev);
}

/* ---- iv_event_raw ---------------------------------------------------- */

static __thread struct iv_event_raw evr;

static void evr_handler(void *cookie)
{
	(void)cookie;
	iv_event_raw_unregister(&evr);
	use_complete();
}

static int evr_attempt(void)
{
	IV_EVENT_RAW_INIT(&evr);
	evr.handler = evr_handler;
	return iv_event_raw_register(&evr);
}

static void evr_use(void)
{
	iv_event_raw_post(&evr);
	iv_main();
	if (!use_done)
		iv_event_raw_unregister(&evr);
}

/* ---- iv_signal ------------------------------------------------------- */

static __thread struct iv_signal sig;

static void sig_handler(void *cookie)
{
	(void)cookie;
	iv_signal_unregister(&sig);
	use_complete();
}

static int sig_attempt(void)
{
	IV_SIGNAL_INIT(&sig);
	sig.signum = SIGUSR1;
	sig.flags = IV_SIGNAL_FLAG_THIS_THREAD;
	sig.handler = sig_handler;
	return iv_signal_register(&sig);
}

static void sig_use(void)
{
	pthread_kill(pthread_self(), SIGUSR1);
	iv_main();
	if (!use_done)
		iv_signal_unregister(&sig);
}

/* ---- iv_popen -------------------------------------------------------- */

static __thread struct iv_popen_request preq;
static __thread struct iv_fd pfd;
static __thread char pgot[64];
static __thread size_t plen;
static char *echo_argv[] = { "echo", "exhausted", NULL };

static int popen_attempt(void)
{
	int fd;

	IV_POPEN_REQUEST_INIT(&preq);
	preq.file = "echo";
	preq.argv = echo_argv;
	preq.type = "r";
	fd = iv_popen_request_submit(&preq);
	if (fd < 0)
		return -1;
	IV_FD_INIT(&pfd);
	pfd.fd = fd;
	return 0;
}

static void popen_read(void *cookie)
{
	ssize_t n;

	(void)cookie;
	n = read(pfd.fd, pgot + plen, sizeof(pgot) - 1 - plen);
	if (n > 0) {
		plen += (size_t)n;
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	pgot[plen] = '\0';
	if (strcmp(pgot, "exhausted\n") != 0)
		s_bad_event("popen: read \"%s\"", pgot);
	iv_fd_unregister(&pfd);
	close(pfd.fd);
	iv_popen_request_close(&preq);
	use_complete();
}

static void popen_use(void)
{
	plen = 0;
	pfd.handler_in = popen_read;
	iv_fd_register(&pfd);
	iv_main();
	if (!use_done) {
		iv_fd_unregister(&pfd);
		close(pfd.fd);
		iv_popen_request_close(&preq);
	}
}

/* ---- iv_inotify ------------------------------------------------------ */

static __thread struct iv_inotify ino;
static __thread struct iv_inotify_watch watch;
static __thread char dir[64];

static void ino_handler(void *cookie, struct inotify_event *e)
{
	(void)cookie;
	if (e->mask & IN_CREATE) {
		iv_inotify_watch_unregister(&watch);
		iv_inotify_unregister(&ino);
		use_complete();
	}
}

static int ino_attempt(void)
{
	IV_INOTIFY_INIT(&ino);
	return iv_inotify_register(&ino);
}

static void ino_use(void)
{
	char path[96];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/fault_emfile.XXXXXX");
	if (mkdtemp(dir) == NULL)
		s_die("mkdtemp: %s", strerror(errno));
	IV_INOTIFY_WATCH_INIT(&watch);
	watch.inotify = &ino;
	watch.pathname = dir;
	watch.mask = IN_CREATE;
	watch.handler = ino_handler;
	if (iv_inotify_watch_register(&watch) != 0)
		s_die("iv_inotify_watch_register: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	S_SYS(fd);
	close(fd);
	iv_main();
	if (!use_done) {
		iv_inotify_watch_unregister(&watch);
		iv_inotify_unregister(&ino);
	}
	unlink(path);
	rmdir(dir);
}

/* ---- iv_wait_interest_register_spawn --------------------------------- */

static __thread struct iv_wait_interest wi;

static void child_fn(void *cookie)
{
	(void)cookie;
	_exit(5);
}

static void wi_handler(void *cookie, int status, const struct rusage *ru)
{
	(void)cookie;
	(void)ru;
	if (!WIFEXITED(status) && !WIFSIGNALED(status))
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 5)
		s_bad_event("spawned child: status 0x%x", status);
	iv_wait_interest_unregister(&wi);
	use_complete();
}

static int wi_attempt(void)
{
	IV_WAIT_INTEREST_INIT(&wi);
	wi.handler = wi_handler;
	return iv_wait_interest_register_spawn(&wi, child_fn, NULL);
}

static void wi_use(void)
{
	iv_main();
	if (!use_done) {
		iv_wait_interest_kill(&wi, SIGKILL);
		iv_wait_interest_unregister(&wi);
	}
}

/* ---- iv_fd_pump ------------------------------------------------------ */

#define PUMP_BYTES 60000

static __thread struct iv_fd_pump pump;
static __thread int pump_in[2], pump_out[2];

static void pump_prepare(void)
{
	static char data[PUMP_BYTES];

	memset(data, 'p', sizeof(data));
	S_SYS(pipe2(pump_in, O_NONBLOCK | O_CLOEXEC));
	S_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pump_out));
	if (write(pump_in[1], data, sizeof(data)) != (ssize_t)sizeof(data))
		s_die("filling the pump's input");
	close(pump_in[1]);
}

/* Init and pump while exhausted: must not fail (buffer path). */
static int pump_attempt(void)
{
	int r, rounds = 0;

	IV_FD_PUMP_INIT(&pump);
	pump.from_fd = pump_in[0];
	pump.to_fd = pump_out[0];
	pump.set_bands = NULL;
	pump.flags = 0;
	iv_fd_pump_init(&pump);
	do
		r = iv_fd_pump_pump(&pump);
	while (r == 1 && ++rounds < 100);
	if (r != 0)
		s_bad_event("pump at EMFILE returned %d (%s) after %d rounds", r,
			    r < 0 ? strerror(errno) : "not done", rounds);
	return 0;
}

static void pump_use(void)
{
	char buf[4096];
	long total = 0;
	ssize_t n;

	while ((n = read(pump_out[1], buf, sizeof(buf))) > 0)
		total += n;
	if (total != PUMP_BYTES)
		s_bad_event("pump moved %ld of %d bytes", total, PUMP_BYTES);
	else
		use_complete();
	iv_fd_pump_destroy(&pump);
	close(pump_in[0]);
	close(pump_out[0]);
	close(pump_out[1]);
}

static void pump_probe(void *arg)
{
	struct iv_fd_pump p;

	(void)arg;
	iv_init();
	IV_FD_PUMP_INIT(&p);
	p.from_fd = 0;
	p.to_fd = 1;
	p.set_bands = NULL;
	p.flags = 0;
	iv_fd_pump_init(&p);
	iv_fd_pump_destroy(&p);
}

/* ---- the driver ------------------------------------------------------ */

struct op {
	const char *name;
	void (*prepare)(void);
	int (*attempt)(void);
	void (*use)(void);
	int can_fail; /* failing at EMFILE is the expected clean outcome */
	int pending;  /* not implemented yet: skipped */
	long attempts, failures, uses;
};

static struct op ops[] = {
	{ "iv_event_register", NULL, ev_attempt, ev_use, 1, 0, 0, 0, 0 },
	{ "iv_event_raw_register", NULL, evr_attempt, evr_use, 1, 0, 0, 0, 0 },
	{ "iv_signal_register", NULL, sig_attempt, sig_use, 1, 0, 0, 0, 0 },
	{ "iv_popen_request_submit", NULL, popen_attempt, popen_use, 1, 0, 0, 0, 0 },
	{ "iv_inotify_register", NULL, ino_attempt, ino_use, 1, 0, 0, 0, 0 },
	{ "iv_wait_interest_register_spawn", NULL, wi_attempt, wi_use, 1, 0, 0, 0, 0 },
	{ "iv_fd_pump_pump", pump_prepare, pump_attempt, pump_use, 0, 0, 0, 0, 0 },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

struct run {
	struct op *op;
	int k;
};

static void *attempt_thread(void *arg)
{
	struct run *run = arg;
	struct op *op = run->op;
	int before = s_open_fd_count(), after, r, e;

	iv_init();
	if (op->prepare != NULL)
		op->prepare();
	exhaust(run->k);
	errno = 0;
	r = op->attempt();
	e = errno;
	release();
	op->attempts++;
	if (r == 0 && !op->can_fail && run->k < 2) {
		/* The pump met EMFILE (its pipe needs two) and went on. */
		atomic_fetch_add(&s_faults, 1);
	}
	if (r != 0) {
		op->failures++;
		atomic_fetch_add(&s_faults, 1);
		if (!op->can_fail)
			s_bad_event("%s failed at EMFILE with %d free: %s", op->name,
				    run->k, strerror(e));
		else if (e != EMFILE && e != ENFILE && op->attempt != ev_attempt)
			s_bad_event("%s with %d free: errno %d (%s), expected EMFILE",
				    op->name, run->k, e, strerror(e));
		/* The loop keeps working: the same struct registers now. */
		errno = 0;
		if (op->attempt() != 0) {
			s_bad_event("%s still fails with descriptors back: %s", op->name,
				    strerror(errno));
			iv_deinit();
			return NULL;
		}
	}
	use_begin();
	op->use();
	if (use_timed_out || !use_done)
		s_lost_ops(1, "%s (%d free): registered, but its use never completed",
			   op->name, run->k);
	else
		op->uses++;
	if (iv_timer_registered(&deadline))
		iv_timer_unregister(&deadline);
	iv_deinit();
	after = s_open_fd_count();
	if (after != before)
		s_bad_event("%s with %d free: %d descriptors open before, %d after iv_deinit",
			    op->name, run->k, before, after);
	return NULL;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	size_t i;
	int k, rc, reps, rep;

	s_setup("fault_emfile", argc, argv, 120);
	reps = (int)s_count(1);
	iv_set_fatal_msg_handler(s_fatal_handler);
	iv_init(); /* process-wide set-up (RLIMIT_NOFILE raised) */
	/* A lower soft limit makes exhaustion quick (and works under
	 * valgrind, whose own descriptors sit above the limit it reports). */
	S_SYS(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur > (rlim_t)s_open_fd_count() + 256) {
		rl.rlim_cur = (rlim_t)s_open_fd_count() + 256;
		S_SYS(setrlimit(RLIMIT_NOFILE, &rl));
	}
	fillers = calloc((size_t)rl.rlim_cur, sizeof(int));
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fillers == NULL || devnull < 0)
		s_die("set-up failed");
	s_note_fds((long)rl.rlim_cur);
	ops[NOPS - 1].pending = !s_implemented(pump_probe, NULL);

	for (rep = 0; rep < reps; rep++) {
		for (i = 0; i < NOPS; i++) {
			if (ops[i].pending)
				continue;
			for (k = 0; k <= MAX_FREE; k++) {
				struct run run = { &ops[i], k };
				pthread_t t;

				if (pthread_create(&t, NULL, attempt_thread, &run) != 0)
					s_die("pthread_create failed");
				pthread_join(t, NULL);
			}
		}
	}

	for (i = 0; i < NOPS; i++) {
		if (ops[i].pending) {
			fprintf(stderr, "# %-32s PENDING (not implemented yet)\n", ops[i].name);
			continue;
		}
		fprintf(stderr, "# %-32s %ld attempts, %ld failed cleanly at EMFILE, %ld used\n",
			ops[i].name, ops[i].attempts, ops[i].failures, ops[i].uses);
		if (ops[i].can_fail && ops[i].failures == 0 &&
		    ops[i].attempt != ev_attempt)
			s_bad_event("%s never failed with no descriptor free", ops[i].name);
		atomic_fetch_add(&s_ops, ops[i].attempts + ops[i].uses);
	}
	atomic_store(&s_threads, 2);
	rc = s_finish();
	iv_deinit();
	return rc;
}
