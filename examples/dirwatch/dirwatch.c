/*
 * dirwatch: prints what happens in a directory, using iv_inotify.
 *
 *   dirwatch DIR      watch DIR until it is deleted or moved away, or until
 *                     Ctrl-C
 *   dirwatch --demo   watch a scratch directory while a timer creates,
 *                     changes, renames and deletes things in it, then
 *                     deletes the directory itself (which ends the program)
 *
 * Build: cc -o dirwatch dirwatch.c $(pkg-config --cflags --libs ivykis)
 * (or `make examples` in the source tree).
 *
 * What it shows:
 *   - one iv_inotify instance with one iv_inotify_watch on a directory;
 *   - the two halves of a rename (IN_MOVED_FROM, IN_MOVED_TO) paired by
 *     their cookie; a half that stays alone for a moment is a move into or
 *     out of the directory (a short iv_timer decides);
 *   - the watch's last event, IN_IGNORED, after which the library has let
 *     go of the watch; the program then unregisters the instance, and
 *     iv_main() returns because nothing is registered any more;
 *   - IN_Q_OVERFLOW, which says that events were lost;
 *   - iv_signal for a clean exit on SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iv.h>
#include <iv_inotify.h>
#include <iv_signal.h>

static struct iv_inotify inotify;
static struct iv_inotify_watch watch;
static struct iv_signal sigint;
static int watching;

/* A MOVED_FROM waiting for its MOVED_TO. */
static struct iv_timer lone_move;
static uint32_t move_cookie;
static char move_name[NAME_MAX + 1];

static void stop(void)
{
	if (!watching)
		return;
	watching = 0;
	/* After IN_IGNORED this does nothing: the watch is already gone. */
	iv_inotify_watch_unregister(&watch);
	iv_inotify_unregister(&inotify);
	if (iv_timer_registered(&lone_move))
		iv_timer_unregister(&lone_move);
	iv_signal_unregister(&sigint);
}

static void flush_move(void)
{
	if (iv_timer_registered(&lone_move)) {
		iv_timer_unregister(&lone_move);
		printf("moved out %s\n", move_name);
	}
}

static void lone_move_expired(void *cookie)
{
	(void)cookie;
	printf("moved out %s\n", move_name);
	fflush(stdout);
}

static void got_event(void *cookie, struct inotify_event *ev)
{
	const char *kind = (ev->mask & IN_ISDIR) ? "directory" : "file";
	const char *name = ev->len ? ev->name : "";

	(void)cookie;

	if (ev->mask & IN_MOVED_TO) {
		if (iv_timer_registered(&lone_move) &&
		    ev->cookie == move_cookie) {
			iv_timer_unregister(&lone_move);
			printf("renamed   %s -> %s\n", move_name, name);
		} else {
			flush_move();
			printf("moved in  %s %s\n", kind, name);
		}
		fflush(stdout);
		return;
	}
	flush_move();

	if (ev->mask & IN_MOVED_FROM) {
		/* Wait a little for the other half of the rename. */
		move_cookie = ev->cookie;
		snprintf(move_name, sizeof(move_name), "%s", name);
		IV_TIMER_INIT(&lone_move);
		iv_validate_now();
		lone_move.expires = iv_now;
		lone_move.expires.tv_nsec += 50 * 1000 * 1000;
		if (lone_move.expires.tv_nsec >= 1000000000) {
			lone_move.expires.tv_sec++;
			lone_move.expires.tv_nsec -= 1000000000;
		}
		lone_move.handler = lone_move_expired;
		iv_timer_register(&lone_move);
	} else if (ev->mask & IN_CREATE) {
		printf("created   %s %s\n", kind, name);
	} else if (ev->mask & IN_DELETE) {
		printf("deleted   %s %s\n", kind, name);
	} else if (ev->mask & IN_MODIFY) {
		printf("modified  %s\n", name);
	} else if (ev->mask & IN_Q_OVERFLOW) {
		printf("overflow: events were lost, look at the directory again\n");
	} else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		printf("the watched directory was %s\n",
		       (ev->mask & IN_DELETE_SELF) ? "deleted" : "moved");
		if (ev->mask & IN_MOVE_SELF) {
			/* Still watched under its new name: end it here. */
			stop();
		}
	} else if (ev->mask & IN_IGNORED) {
		printf("no longer watched\n");
		stop();
	}
	fflush(stdout);
}

static void got_sigint(void *cookie)
{
	(void)cookie;
	printf("interrupted\n");
	stop();
}

static int start(const char *dir)
{
	IV_INOTIFY_INIT(&inotify);
	if (iv_inotify_register(&inotify) < 0) {
		fprintf(stderr, "dirwatch: inotify: %s\n", strerror(errno));
		return -1;
	}

	IV_INOTIFY_WATCH_INIT(&watch);
	watch.inotify = &inotify;
	watch.pathname = dir;
	watch.mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_FROM |
		     IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
	watch.handler = got_event;
	if (iv_inotify_watch_register(&watch) < 0) {
		fprintf(stderr, "dirwatch: %s: %s\n", dir, strerror(errno));
		iv_inotify_unregister(&inotify);
		return -1;
	}

	IV_SIGNAL_INIT(&sigint);
	sigint.signum = SIGINT;
	sigint.handler = got_sigint;
	iv_signal_register(&sigint);

	IV_TIMER_INIT(&lone_move);
	watching = 1;
	printf("watching %s\n", dir);
	fflush(stdout);
	return 0;
}

/* --- demo ------------------------------------------------------------- */

static char demo_dir[PATH_MAX];
static struct iv_timer demo_timer;
static int demo_step;

/* The path of `name` in the demo directory (two buffers, used in turn, so
 * that rename() can take two of them). */
static const char *in_demo(const char *name)
{
	static char paths[2][PATH_MAX + NAME_MAX + 2];
	static int next;
	char *path = paths[next++ % 2];

	snprintf(path, sizeof(paths[0]), "%s/%s", demo_dir, name);
	return path;
}

static void demo_next(void *cookie)
{
	int fd;

	(void)cookie;
	switch (demo_step++) {
	case 0:
		fd = open(in_demo("notes.txt"), O_CREAT | O_WRONLY, 0600);
		if (fd >= 0) {
			if (write(fd, "hello\n", 6) < 0)
				perror("write");
			close(fd);
		}
		break;
	case 1:
		rename(in_demo("notes.txt"), in_demo("notes.old"));
		break;
	case 2:
		mkdir(in_demo("sub"), 0700);
		break;
	case 3:
		rmdir(in_demo("sub"));
		unlink(in_demo("notes.old"));
		break;
	default:
		/* The end: the watch gets IN_DELETE_SELF, then IN_IGNORED. */
		rmdir(demo_dir);
		return;
	}
	iv_validate_now();
	demo_timer.expires = iv_now;
	demo_timer.expires.tv_nsec += 20 * 1000 * 1000;
	if (demo_timer.expires.tv_nsec >= 1000000000) {
		demo_timer.expires.tv_sec++;
		demo_timer.expires.tv_nsec -= 1000000000;
	}
	iv_timer_register(&demo_timer);
}

static int demo(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(demo_dir, sizeof(demo_dir), "%s/dirwatch-demo-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(demo_dir) == NULL) {
		perror("dirwatch: mkdtemp");
		return -1;
	}
	if (start(demo_dir) < 0) {
		rmdir(demo_dir);
		return -1;
	}
	IV_TIMER_INIT(&demo_timer);
	demo_timer.handler = demo_next;
	demo_next(NULL);
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc != 2 || argv[1][0] == '\0' || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: %s DIR | --demo\n", argv[0]);
		return 2;
	}

	iv_init();
	if (!strcmp(argv[1], "--demo"))
		ret = demo();
	else
		ret = start(argv[1]);
	if (ret == 0)
		iv_main();
	iv_deinit();
	return ret == 0 ? 0 : 1;
}
