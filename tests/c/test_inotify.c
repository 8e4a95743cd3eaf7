/*
 * SPEC 8: iv_inotify and iv_inotify_watch.
 *
 * Events (create, modify, delete, the two halves of a rename), batches
 * larger than one read, IN_IGNORED and IN_Q_OVERFLOW; register failures
 * (a path that does not exist, no more descriptors, an instance that is not
 * registered, a second watch of the same directory) returning -1 with errno
 * and leaving nothing behind; and re-entrancy: a handler unregistering (and
 * freeing) its own watch, another watch, or the whole instance while the
 * rest of its batch is being dispatched.
 *
 * Structs freed while the library might still hold on to them come from
 * h_obj_alloc and go back through h_obj_free; those subtests run twice
 * (RUN_BOTH): poisoned malloc memory, and a page made PROT_NONE on "free",
 * where any later access by the library is a SIGSEGV.
 *
 * Against Debian's ivykis 0.42.4 (tests/c/run.sh --lib ... --include ...,
 * EXTRA_CFLAGS="-std=gnu99 -Wno-unused-parameter") the subtests marked
 * [ours] fail, by design: for a duplicate watch that library returns -1
 * without setting errno, after replacing the first watch's mask; it drops
 * IN_Q_OVERFLOW (wd -1 matches no watch); and it has no fatal checks (the
 * misuse cases crash or corrupt its tree instead).
 */
#include "harness.h"

#include <dirent.h>
#include <limits.h>
#include <sys/inotify.h>

#include <iv_inotify.h>

/* ------------------------------------------------------------------ */
/* Directories and files                                               */
/* ------------------------------------------------------------------ */

/* Every subtest's directory lives in this one; main() removes it at the
 * end, so that a failed subtest (which exits at once) leaves nothing. */
static char base_root[PATH_MAX];
static char tmp_root[PATH_MAX + 8];

static void make_base(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base_root, sizeof(base_root), "%s/ivykis-inotify-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(base_root) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

/* A fresh directory for this subtest; removed by cleanup_dir(). */
static const char *make_dir(void)
{
	snprintf(tmp_root, sizeof(tmp_root), "%s/XXXXXX", base_root);
	if (mkdtemp(tmp_root) == NULL)
		FAIL("mkdtemp: %s", strerror(errno));
	return tmp_root;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[PATH_MAX];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static void cleanup_dir(void)
{
	if (tmp_root[0] != '\0')
		remove_tree(tmp_root);
	tmp_root[0] = '\0';
}

static const char *path_in(const char *dir, const char *name)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static void touch(const char *dir, const char *name)
{
	int fd = open(path_in(dir, name), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	SYSCHECK(fd);
	close(fd);
}

static void append(const char *dir, const char *name)
{
	int fd = open(path_in(dir, name), O_WRONLY | O_APPEND | O_CLOEXEC);

	SYSCHECK(fd);
	if (write(fd, "x", 1) != 1)
		FAIL("write: %s", strerror(errno));
	close(fd);
}

static void make_subdir(const char *dir, const char *name)
{
	SYSCHECK(mkdir(path_in(dir, name), 0700));
}

/* Descriptors open in this process. */
static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		FAIL("opendir(/proc/self/fd): %s", strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* The highest descriptor number open in this process. */
static int highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int self, max = -1;

	if (d == NULL)
		FAIL("opendir(/proc/self/fd): %s", strerror(errno));
	self = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd != self && fd > max)
			max = fd;
	}
	closedir(d);
	return max;
}

/* ------------------------------------------------------------------ */
/* Recording events                                                    */
/* ------------------------------------------------------------------ */

struct rec {
	const char *who;	/* the watch's cookie */
	int wd;
	uint32_t mask;
	uint32_t cookie;
	char name[NAME_MAX + 1];
};

#define MAX_RECS 4096
static struct rec recs[MAX_RECS];
static int nrecs;

static void record(const char *who, const struct inotify_event *ev)
{
	struct rec *r;

	CHECKF(nrecs < MAX_RECS, "too many events");
	r = &recs[nrecs++];
	r->who = who;
	r->wd = ev->wd;
	r->mask = ev->mask;
	r->cookie = ev->cookie;
	r->name[0] = '\0';
	if (ev->len > 0)
		snprintf(r->name, sizeof(r->name), "%s", ev->name);
}

static int count_of(const char *who, uint32_t mask)
{
	int i, n = 0;

	for (i = 0; i < nrecs; i++)
		if (!strcmp(recs[i].who, who) && (recs[i].mask & mask))
			n++;
	return n;
}

static void recording_handler(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
}

static void init_watch(struct iv_inotify_watch *w, struct iv_inotify *ino,
		       const char *path, uint32_t mask, const char *who,
		       void (*handler)(void *, struct inotify_event *))
{
	IV_INOTIFY_WATCH_INIT(w);
	w->inotify = ino;
	w->pathname = path;
	w->mask = mask;
	w->cookie = (void *)who;
	w->handler = handler;
}

/*
 * Runs the loop with a ticker for `ticks` iterations, with a deadline; then
 * calls stop, or iv_quit() without one.
 */
static unsigned long stop_at;
static void (*on_stop)(void);

static void stop_hook(unsigned long tick)
{
	if (tick >= stop_at) {
		h_finish();
		if (on_stop != NULL)
			on_stop();
		else
			iv_quit();
	}
}

static void run_ticks(unsigned long ticks, void (*stop)(void))
{
	stop_at = ticks;
	on_stop = stop;
	h_tick_hook = stop_hook;
	h_deadline_start(5000, "the loop did not finish its ticks");
	h_ticker_start();
	iv_main();
	h_tick_hook = NULL;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

static struct iv_inotify ino;
static struct iv_inotify_watch w1, w2;
static const char *dir;

static void stop_all(void)
{
	iv_inotify_unregister(&ino);
}

/* Ends the subtest once the DELETE of "b" arrives. */
static void basic_handler(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
	if ((ev->mask & IN_DELETE) && !strcmp(ev->name, "b")) {
		h_deadline_cancel();
		iv_inotify_watch_unregister(&w1);
		iv_inotify_unregister(&ino);
	}
}

static void test_create_modify_move_delete(void)
{
	int i;

	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir,
		   IN_CREATE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO |
			   IN_DELETE,
		   "w1", basic_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);

	touch(dir, "a");
	append(dir, "a");
	SYSCHECK(rename(path_in(dir, "a"), path_in(dir, "b")));
	make_subdir(dir, "sub");
	SYSCHECK(unlink(path_in(dir, "b")));

	h_deadline_start(5000, "the DELETE event");
	iv_main();

	CHECK_EQ_LONG(nrecs, 6);
	{
		static const struct {
			uint32_t mask;
			const char *name;
		} want[] = {
			{ IN_CREATE, "a" },
			{ IN_MODIFY, "a" },
			{ IN_MOVED_FROM, "a" },
			{ IN_MOVED_TO, "b" },
			{ IN_CREATE | IN_ISDIR, "sub" },
			{ IN_DELETE, "b" },
		};

		for (i = 0; i < 6; i++) {
			CHECKF(recs[i].mask == want[i].mask,
			       "event %d: mask %#x, want %#x", i,
			       recs[i].mask, want[i].mask);
			CHECK_STREQ(recs[i].name, want[i].name);
			CHECK_STREQ(recs[i].who, "w1");
		}
	}
	CHECK(recs[2].cookie != 0);
	CHECK_EQ_LONG(recs[2].cookie, recs[3].cookie);
	CHECK_EQ_LONG(recs[0].cookie, 0);
	iv_deinit();
	cleanup_dir();
}

/* More events than one read takes: long names, several batches. */
static void test_many_events(void)
{
	char name[NAME_MAX + 1];
	int i, n = 200;

	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	for (i = 0; i < n; i++) {
		memset(name, 'n', 200);
		snprintf(name + 200, sizeof(name) - 200, "%04d", i);
		touch(dir, name);
	}
	run_ticks(50, stop_all);
	CHECK_EQ_LONG(nrecs, n);
	for (i = 0; i < n; i++) {
		CHECK_EQ_LONG(strlen(recs[i].name), 204);
		CHECK_EQ_LONG(atoi(recs[i].name + 200), i);
	}
	iv_deinit();
	cleanup_dir();
}

/* Two watches in one instance get their own events only. */
static void test_two_watches(void)
{
	char a[PATH_MAX], b[PATH_MAX];

	dir = make_dir();
	snprintf(a, sizeof(a), "%s", path_in(dir, "A"));
	snprintf(b, sizeof(b), "%s", path_in(dir, "B"));
	SYSCHECK(mkdir(a, 0700));
	SYSCHECK(mkdir(b, 0700));
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, a, IN_CREATE, "A", recording_handler);
	init_watch(&w2, &ino, b, IN_CREATE | IN_DELETE, "B",
		   recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w2), 0);
	touch(a, "1");
	touch(b, "2");
	touch(a, "3");
	SYSCHECK(unlink(path_in(a, "3")));
	SYSCHECK(unlink(path_in(b, "2")));
	run_ticks(20, NULL);
	CHECK_EQ_LONG(nrecs, 4);
	CHECK_EQ_LONG(count_of("A", IN_CREATE), 2);
	CHECK_EQ_LONG(count_of("A", IN_DELETE), 0);
	CHECK_EQ_LONG(count_of("B", IN_CREATE), 1);
	CHECK_EQ_LONG(count_of("B", IN_DELETE), 1);
	iv_inotify_watch_unregister(&w1);
	iv_inotify_watch_unregister(&w2);
	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* Register failures                                                   */
/* ------------------------------------------------------------------ */

static void test_missing_path_is_enoent(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, path_in(dir, "does-not-exist"), IN_CREATE,
		   "w1", recording_handler);
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), -1);
	CHECK_EQ_LONG(errno, ENOENT);

	/* The instance is unharmed: a good watch works. */
	init_watch(&w2, &ino, dir, IN_CREATE, "w2", recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w2), 0);
	touch(dir, "x");
	run_ticks(20, NULL);
	CHECK_EQ_LONG(nrecs, 1);
	CHECK_STREQ(recs[0].who, "w2");
	iv_inotify_watch_unregister(&w2);
	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

/*
 * syslog-ng unregisters its watch when it stops, whether or not the
 * register succeeded: after a failed register, unregister does nothing.
 */
static void test_unregister_after_failed_register(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, path_in(dir, "missing"), IN_CREATE, "w1",
		   recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), -1);
	iv_inotify_watch_unregister(&w1);
	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

static void test_other_errors(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);

	/* A regular file with IN_ONLYDIR. */
	touch(dir, "file");
	init_watch(&w1, &ino, path_in(dir, "file"), IN_CREATE | IN_ONLYDIR,
		   "w1", recording_handler);
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), -1);
	CHECK_EQ_LONG(errno, ENOTDIR);

	/* A mask without events. */
	init_watch(&w1, &ino, dir, 0, "w1", recording_handler);
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), -1);
	CHECK_EQ_LONG(errno, EINVAL);

	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

/* [ours] A second watch of the same directory: EEXIST, first one intact. */
static void test_duplicate_watch_is_eexist(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	init_watch(&w2, &ino, dir, IN_DELETE, "w2", recording_handler);
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_watch_register(&w2), -1);
	CHECK_EQ_LONG(errno, EEXIST);
	/* Also when the caller asks the kernel to merge masks. */
	w2.mask = IN_DELETE | IN_MASK_ADD;
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_watch_register(&w2), -1);
	CHECK_EQ_LONG(errno, EEXIST);

	touch(dir, "f");
	SYSCHECK(unlink(path_in(dir, "f")));
	run_ticks(20, NULL);
	CHECK_EQ_LONG(nrecs, 1);
	CHECK_STREQ(recs[0].who, "w1");
	CHECK_EQ_LONG(recs[0].mask, IN_CREATE);

	/* Another instance may watch the same directory. */
	{
		static struct iv_inotify ino2;

		IV_INOTIFY_INIT(&ino2);
		CHECK_EQ_LONG(iv_inotify_register(&ino2), 0);
		w2.inotify = &ino2;
		w2.mask = IN_DELETE;
		CHECK_EQ_LONG(iv_inotify_watch_register(&w2), 0);
		iv_inotify_unregister(&ino2);
	}
	iv_inotify_watch_unregister(&w1);
	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

/* A watch on an instance that is not registered: EBADF. */
static void test_watch_on_unregistered_instance(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	iv_inotify_unregister(&ino);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", recording_handler);
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), -1);
	CHECK_EQ_LONG(errno, EBADF);
	iv_deinit();
	cleanup_dir();
}

/*
 * No descriptor left: iv_inotify_register returns -1 with EMFILE, and
 * nothing stays registered (iv_main returns at once; the harness's
 * watchdog would catch a hang) or open.
 */
static void test_register_without_descriptors(void)
{
	struct rlimit old, tight;
	static int fillers[4096];
	int nfill = 0, before, fd;

	iv_init();
	before = open_fd_count();
	SYSCHECK(getrlimit(RLIMIT_NOFILE, &old));
	tight = old;
	tight.rlim_cur = (rlim_t)highest_fd() + 1;
	if (setrlimit(RLIMIT_NOFILE, &tight) < 0) {
		/* valgrind keeps descriptors of its own above the limit. */
		CHECKF(errno == EINVAL, "setrlimit: %s", strerror(errno));
		printf("     (cannot lower RLIMIT_NOFILE here: skipped)\n");
		return;
	}
	/* Fill the holes below the limit. */
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		CHECKF(nfill < 4096, "too many free descriptors below the limit");
		fillers[nfill++] = fd;
	}
	CHECK_EQ_LONG(errno, EMFILE);

	IV_INOTIFY_INIT(&ino);
	errno = 0;
	CHECK_EQ_LONG(iv_inotify_register(&ino), -1);
	CHECK_EQ_LONG(errno, EMFILE);

	while (nfill > 0)
		close(fillers[--nfill]);
	SYSCHECK(setrlimit(RLIMIT_NOFILE, &old));
	CHECK_EQ_LONG(open_fd_count(), before);
	iv_main();

	/* The same struct registers fine once descriptors are back. */
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	iv_inotify_unregister(&ino);
	CHECK_EQ_LONG(open_fd_count(), before);
	iv_deinit();
}

/* Unregistering closes the descriptor. */
static void test_unregister_closes(void)
{
	int before;

	dir = make_dir();
	iv_init();
	before = open_fd_count();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	CHECK_EQ_LONG(open_fd_count(), before + 1);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	iv_inotify_watch_unregister(&w1);
	iv_inotify_unregister(&ino);
	CHECK_EQ_LONG(open_fd_count(), before);
	iv_deinit();
	cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* IN_IGNORED and IN_Q_OVERFLOW                                        */
/* ------------------------------------------------------------------ */

static struct iv_inotify_watch *heap_w1, *heap_w2;
static int freed_calls;

/* Frees its watch on IN_IGNORED: the library let go of it before. */
static void free_on_ignored(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
	if (ev->mask & IN_IGNORED) {
		h_obj_free(heap_w1, sizeof(*heap_w1));
		heap_w1 = NULL;
	}
}

static void test_ignored_ends_the_watch(void)
{
	char sub[PATH_MAX];

	dir = make_dir();
	snprintf(sub, sizeof(sub), "%s", path_in(dir, "sub"));
	SYSCHECK(mkdir(sub, 0700));
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	heap_w1 = h_obj_alloc(sizeof(*heap_w1));
	init_watch(heap_w1, &ino, sub, IN_DELETE_SELF, "sub",
		   free_on_ignored);
	CHECK_EQ_LONG(iv_inotify_watch_register(heap_w1), 0);
	/* A second watch keeps the instance busy afterwards. */
	init_watch(&w2, &ino, dir, IN_CREATE, "dir", recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w2), 0);
	SYSCHECK(rmdir(sub));
	run_ticks(10, NULL);
	CHECK(heap_w1 == NULL);
	CHECK_EQ_LONG(count_of("sub", IN_DELETE_SELF), 1);
	CHECK_EQ_LONG(count_of("sub", IN_IGNORED), 1);
	/* Later events still reach the other watch. */
	touch(dir, "after");
	run_ticks(10, stop_all);
	CHECK_EQ_LONG(count_of("dir", IN_CREATE), 1);
	iv_deinit();
	cleanup_dir();
}

/*
 * After IN_IGNORED, unregistering the watch does nothing (programs
 * do it when they stop), and the struct can be registered again.
 */
static void test_unregister_after_ignored(void)
{
	char sub[PATH_MAX];

	dir = make_dir();
	snprintf(sub, sizeof(sub), "%s", path_in(dir, "sub"));
	SYSCHECK(mkdir(sub, 0700));
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, sub, IN_CREATE | IN_DELETE_SELF, "w1",
		   recording_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	SYSCHECK(rmdir(sub));
	run_ticks(10, NULL);
	CHECK_EQ_LONG(count_of("w1", IN_IGNORED), 1);
	iv_inotify_watch_unregister(&w1);
	iv_inotify_watch_unregister(&w1);

	SYSCHECK(mkdir(sub, 0700));
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	touch(sub, "x");
	run_ticks(10, NULL);
	CHECK_EQ_LONG(count_of("w1", IN_CREATE), 1);
	iv_inotify_watch_unregister(&w1);
	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

/*
 * An IN_ONESHOT watch gets one event, which ends it (as in ivykis: the
 * handler may free it, and the IN_IGNORED that follows finds nobody).
 */
static void free_oneshot(void *cookie, struct inotify_event *ev)
{
	CHECKF(heap_w1 != NULL, "one-shot watch called again");
	record(cookie, ev);
	h_obj_free(heap_w1, sizeof(*heap_w1));
	heap_w1 = NULL;
}

static void test_oneshot(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	heap_w1 = h_obj_alloc(sizeof(*heap_w1));
	init_watch(heap_w1, &ino, dir, IN_CREATE | IN_ONESHOT, "w1",
		   free_oneshot);
	CHECK_EQ_LONG(iv_inotify_watch_register(heap_w1), 0);
	touch(dir, "1");
	touch(dir, "2");
	run_ticks(10, stop_all);
	CHECK_EQ_LONG(nrecs, 1);
	CHECK_EQ_LONG(recs[0].mask, IN_CREATE);
	iv_deinit();
	cleanup_dir();
}

/* Records only overflows; counts the rest. */
static long attrib_events;

static void overflow_handler(void *cookie, struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW)
		record(cookie, ev);
	else
		attrib_events++;
}

/* [ours] A queue overflow reaches every watch of the instance. */
static void test_overflow_reaches_every_watch(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	long max = 16384, i;
	int fd;

	if (f != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 16384;
		fclose(f);
	}
	if (max > 100000) {
		printf("     (max_queued_events is %ld: skipped)\n", max);
		return;
	}
	dir = make_dir();
	touch(dir, "f");
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir, IN_ATTRIB, "dir", overflow_handler);
	init_watch(&w2, &ino, path_in(dir, "f"), IN_ATTRIB, "file",
		   overflow_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w2), 0);
	fd = open(path_in(dir, "f"), O_RDONLY | O_CLOEXEC);
	SYSCHECK(fd);
	/* Alternating modes: the kernel merges identical events. */
	for (i = 0; i < max; i++)
		SYSCHECK(fchmod(fd, i % 2 ? 0600 : 0644));
	close(fd);
	run_ticks(max / 50 + 20, stop_all);
	CHECK_EQ_LONG(nrecs, 2);
	CHECK_EQ_LONG(count_of("dir", IN_Q_OVERFLOW), 1);
	CHECK_EQ_LONG(count_of("file", IN_Q_OVERFLOW), 1);
	CHECK_EQ_LONG(recs[0].wd, -1);
	/* The queue was full: everything before the overflow arrived. */
	CHECK(attrib_events >= max - 1);
	iv_deinit();
	cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* Re-entrancy                                                         */
/* ------------------------------------------------------------------ */

/* The handler unregisters and frees its own watch on its first event. */
static void self_unregister(void *cookie, struct inotify_event *ev)
{
	CHECKF(heap_w1 != NULL, "handler called after its watch was freed");
	record(cookie, ev);
	iv_inotify_watch_unregister(heap_w1);
	h_obj_free(heap_w1, sizeof(*heap_w1));
	heap_w1 = NULL;
	freed_calls++;
}

static void test_unregister_self_in_handler(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	heap_w1 = h_obj_alloc(sizeof(*heap_w1));
	init_watch(heap_w1, &ino, dir, IN_CREATE, "self", self_unregister);
	CHECK_EQ_LONG(iv_inotify_watch_register(heap_w1), 0);
	/* Three events in one batch, and more afterwards. */
	touch(dir, "1");
	touch(dir, "2");
	touch(dir, "3");
	run_ticks(10, NULL);
	touch(dir, "4");
	run_ticks(10, stop_all);
	CHECK_EQ_LONG(freed_calls, 1);
	CHECK_EQ_LONG(nrecs, 1);
	CHECK_STREQ(recs[0].name, "1");
	iv_deinit();
	cleanup_dir();
}

/* Watch A's handler unregisters and frees watch B, whose events are next. */
static void unregister_other(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
	if (heap_w2 != NULL) {
		iv_inotify_watch_unregister(heap_w2);
		h_obj_free(heap_w2, sizeof(*heap_w2));
		heap_w2 = NULL;
	}
}

static void b_handler(void *cookie, struct inotify_event *ev)
{
	CHECKF(heap_w2 != NULL, "B called after it was freed");
	record(cookie, ev);
}

static void test_unregister_other_in_handler(void)
{
	char a[PATH_MAX], b[PATH_MAX];

	dir = make_dir();
	snprintf(a, sizeof(a), "%s", path_in(dir, "A"));
	snprintf(b, sizeof(b), "%s", path_in(dir, "B"));
	SYSCHECK(mkdir(a, 0700));
	SYSCHECK(mkdir(b, 0700));
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, a, IN_CREATE, "A", unregister_other);
	heap_w2 = h_obj_alloc(sizeof(*heap_w2));
	init_watch(heap_w2, &ino, b, IN_CREATE, "B", b_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	CHECK_EQ_LONG(iv_inotify_watch_register(heap_w2), 0);
	touch(a, "1");
	touch(b, "2");
	touch(a, "3");
	touch(b, "4");
	run_ticks(10, NULL);
	touch(b, "5");
	run_ticks(10, stop_all);
	CHECK(heap_w2 == NULL);
	CHECK_EQ_LONG(count_of("A", IN_CREATE), 2);
	CHECK_EQ_LONG(count_of("B", IN_CREATE), 0);
	iv_deinit();
	cleanup_dir();
}

/*
 * The handler unregisters the whole instance and frees it together with
 * both watches, with more events of the batch pending for both.
 */
static struct iv_inotify *heap_ino;

static void free_everything(void *cookie, struct inotify_event *ev)
{
	CHECKF(heap_ino != NULL, "handler called after the instance was freed");
	record(cookie, ev);
	iv_inotify_unregister(heap_ino);
	h_obj_free(heap_w1, sizeof(*heap_w1));
	h_obj_free(heap_w2, sizeof(*heap_w2));
	h_obj_free(heap_ino, sizeof(*heap_ino));
	heap_ino = NULL;
	freed_calls++;
}

static void test_unregister_instance_in_handler(void)
{
	int before;

	dir = make_dir();
	iv_init();
	before = open_fd_count();
	heap_ino = h_obj_alloc(sizeof(*heap_ino));
	IV_INOTIFY_INIT(heap_ino);
	CHECK_EQ_LONG(iv_inotify_register(heap_ino), 0);
	heap_w1 = h_obj_alloc(sizeof(*heap_w1));
	heap_w2 = h_obj_alloc(sizeof(*heap_w2));
	make_subdir(dir, "B");
	init_watch(heap_w1, heap_ino, dir, IN_CREATE, "A", free_everything);
	init_watch(heap_w2, heap_ino, path_in(dir, "B"), IN_CREATE, "B",
		   free_everything);
	CHECK_EQ_LONG(iv_inotify_watch_register(heap_w1), 0);
	CHECK_EQ_LONG(iv_inotify_watch_register(heap_w2), 0);
	touch(dir, "1");
	touch(path_in(dir, "B"), "2");
	touch(dir, "3");
	run_ticks(10, NULL);
	CHECK_EQ_LONG(freed_calls, 1);
	CHECK_EQ_LONG(nrecs, 1);
	CHECK_EQ_LONG(open_fd_count(), before);
	iv_deinit();
	cleanup_dir();
}

/*
 * The handler unregisters the instance, registers the same struct again and
 * the same watch struct in it: the rest of the old batch is dropped, and
 * new events reach the new registration (syslog-ng's file monitor restarts
 * this way on IN_IGNORED).
 */
static int restarts;

static void restart_handler(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
	if (restarts++ == 0) {
		iv_inotify_unregister(&ino);
		IV_INOTIFY_INIT(&ino);
		CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
		init_watch(&w1, &ino, dir, IN_CREATE, "w1", restart_handler);
		CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	}
}

static void test_reregister_instance_in_handler(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", restart_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	touch(dir, "1");
	touch(dir, "2");
	run_ticks(10, NULL);
	CHECK_EQ_LONG(nrecs, 1);
	touch(dir, "3");
	run_ticks(10, stop_all);
	CHECK_EQ_LONG(nrecs, 2);
	CHECK_STREQ(recs[0].name, "1");
	CHECK_STREQ(recs[1].name, "3");
	iv_deinit();
	cleanup_dir();
}

/*
 * The handler unregisters its watch and registers it again on the same
 * directory: events of the old registration still in the batch are
 * dropped, new ones arrive once.
 */
static void rewatch_handler(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
	if (restarts++ == 0) {
		iv_inotify_watch_unregister(&w1);
		CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	}
}

static void test_rewatch_in_handler(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", rewatch_handler);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	touch(dir, "1");
	touch(dir, "2");
	run_ticks(10, NULL);
	touch(dir, "3");
	run_ticks(10, NULL);
	CHECK_EQ_LONG(nrecs, 2);
	CHECK_STREQ(recs[0].name, "1");
	CHECK_STREQ(recs[1].name, "3");
	iv_inotify_watch_unregister(&w1);
	iv_inotify_unregister(&ino);
	iv_deinit();
	cleanup_dir();
}

/*
 * syslog-ng's order when it stops from a handler: the instance first, then
 * its watch (which the instance took with it: nothing happens).
 */
static void instance_then_watch(void *cookie, struct inotify_event *ev)
{
	record(cookie, ev);
	h_deadline_cancel();
	iv_inotify_unregister(&ino);
	iv_inotify_watch_unregister(&w1);
}

static void test_unregister_watch_after_its_instance(void)
{
	dir = make_dir();
	iv_init();
	IV_INOTIFY_INIT(&ino);
	CHECK_EQ_LONG(iv_inotify_register(&ino), 0);
	init_watch(&w1, &ino, dir, IN_CREATE, "w1", instance_then_watch);
	CHECK_EQ_LONG(iv_inotify_watch_register(&w1), 0);
	touch(dir, "1");
	touch(dir, "2");
	h_deadline_start(5000, "the first event");
	iv_main(); /* returns once the instance is gone */
	CHECK_EQ_LONG(nrecs, 1);
	iv_deinit();
	cleanup_dir();
}

/* ------------------------------------------------------------------ */
/* Misuse                                                              */
/* ------------------------------------------------------------------ */

static void do_unregister_never_registered_watch(void *arg)
{
	(void)arg;
	iv_init();
	memset(&w1, 0, sizeof(w1));
	IV_INOTIFY_WATCH_INIT(&w1);
	iv_inotify_watch_unregister(&w1);
}

static void do_unregister_unregistered_instance(void *arg)
{
	(void)arg;
	iv_init();
	memset(&ino, 0, sizeof(ino));
	IV_INOTIFY_INIT(&ino);
	iv_inotify_unregister(&ino);
}

static void do_register_instance_twice(void *arg)
{
	(void)arg;
	iv_init();
	IV_INOTIFY_INIT(&ino);
	if (iv_inotify_register(&ino) != 0)
		_exit(3);
	iv_inotify_register(&ino);
}

static void do_register_watch_twice(void *arg)
{
	iv_init();
	IV_INOTIFY_INIT(&ino);
	if (iv_inotify_register(&ino) != 0)
		_exit(3);
	init_watch(&w1, &ino, arg, IN_CREATE, "w1", recording_handler);
	if (iv_inotify_watch_register(&w1) != 0)
		_exit(4);
	iv_inotify_watch_register(&w1);
}

/* [ours] */
static void test_misuse_is_fatal(void)
{
	struct h_child_result res;

	dir = make_dir();
	h_fork_fatal(do_unregister_never_registered_watch, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_inotify_watch_unregister");
	h_fork_fatal(do_unregister_unregistered_instance, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_inotify_unregister");
	h_fork_fatal(do_register_instance_twice, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_inotify_register");
	h_fork_fatal(do_register_watch_twice, (void *)dir, 1, &res);
	CHECK_FATAL(&res, "iv_inotify_watch_register");
	cleanup_dir();
}

int main(void)
{
	int ret;

	make_base();
	RUN(test_create_modify_move_delete);
	RUN(test_many_events);
	RUN(test_two_watches);
	RUN(test_missing_path_is_enoent);
	RUN(test_unregister_after_failed_register);
	RUN(test_other_errors);
	RUN(test_duplicate_watch_is_eexist);
	RUN(test_watch_on_unregistered_instance);
	RUN(test_register_without_descriptors);
	RUN(test_unregister_closes);
	RUN_BOTH(test_ignored_ends_the_watch);
	RUN(test_unregister_after_ignored);
	RUN_BOTH(test_oneshot);
	RUN(test_overflow_reaches_every_watch);
	RUN_BOTH(test_unregister_self_in_handler);
	RUN_BOTH(test_unregister_other_in_handler);
	RUN_BOTH(test_unregister_instance_in_handler);
	RUN(test_reregister_instance_in_handler);
	RUN(test_rewatch_in_handler);
	RUN(test_unregister_watch_after_its_instance);
	RUN(test_misuse_is_fatal);
	ret = h_done("test_inotify");
	remove_tree(base_root);
	return ret;
}
