/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * abi.c: the binary interface of the ivykis 0.43 headers on x86_64 Linux
 * (SPEC section 10), checked at compile time.
 *
 * For every public structure: its size and alignment, and for every field
 * (public and private) its offset and exact type.  For every exported
 * function: its exact prototype.  For every flag macro: its value.  The file
 * must compile against our headers and against the C ivykis headers alike;
 * a layout or prototype difference is a compile error naming the field.
 * main() then exercises the header-only inline helpers and prints "abi ok".
 *
 * Build: cc -std=c11 -I<include dir> tests/c/abi.c (no library needed);
 * add -DIV_ABI_CHECK_0_42 for ivykis 0.42 headers, which lack
 * iv_work_pool_submit_continuation.
 */

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <iv.h>
#include <iv_avl.h>
#include <iv_event.h>
#include <iv_event_raw.h>
#include <iv_fd_pump.h>
#include <iv_inotify.h>
#include <iv_list.h>
#include <iv_popen.h>
#include <iv_signal.h>
#include <iv_thread.h>
#include <iv_tls.h>
#include <iv_wait.h>
#include <iv_work.h>

#if !defined(__x86_64__) || !defined(__LP64__)
#error "these offsets are those of x86_64 (LP64) Linux"
#endif

/* Type names that cannot be written inline in a _Generic association. */
typedef void (*callback_fn)(void *);
typedef void (*inotify_handler_fn)(void *, struct inotify_event *);
typedef void (*wait_handler_fn)(void *, int, const struct rusage *);
typedef void (*set_bands_fn)(void *, int, int);
typedef int (*avl_compare_fn)(const struct iv_avl_node *,
			      const struct iv_avl_node *);
typedef void *pad6[6];
typedef void *pad4[4];
typedef void *pad11[11];

/* sizeof and alignment of struct s. */
#define CHECK_STRUCT(s, size)						\
	_Static_assert(sizeof(struct s) == (size),			\
		       "sizeof(struct " #s ") != " #size);		\
	_Static_assert(_Alignof(struct s) == 8,				\
		       "alignment of struct " #s " != 8")

/* Offset and exact type (compatible, qualifiers included) of s.member. */
#define CHECK_FIELD(s, member, offset, type)				\
	_Static_assert(offsetof(struct s, member) == (offset),		\
		       "offsetof(struct " #s ", " #member ") != " #offset); \
	_Static_assert(_Generic(&((struct s *)0)->member,		\
				type *: 1, default: 0),			\
		       "type of struct " #s "." #member " is not " #type)

/* Exact prototype of an exported function. */
#define CHECK_FUNCTION(name, ptr_type)					\
	_Static_assert(_Generic(&name, ptr_type: 1, default: 0),	\
		       "prototype of " #name " is not " #ptr_type)

/* ---- iv_list.h ---------------------------------------------------------- */

CHECK_STRUCT(iv_list_head, 16);
CHECK_FIELD(iv_list_head, next, 0, struct iv_list_head *);
CHECK_FIELD(iv_list_head, prev, 8, struct iv_list_head *);

/* ---- iv_avl.h ----------------------------------------------------------- */

CHECK_STRUCT(iv_avl_node, 32);
CHECK_FIELD(iv_avl_node, left, 0, struct iv_avl_node *);
CHECK_FIELD(iv_avl_node, right, 8, struct iv_avl_node *);
CHECK_FIELD(iv_avl_node, parent, 16, struct iv_avl_node *);
CHECK_FIELD(iv_avl_node, height, 24, uint8_t);

CHECK_STRUCT(iv_avl_tree, 16);
CHECK_FIELD(iv_avl_tree, compare, 0, avl_compare_fn);
CHECK_FIELD(iv_avl_tree, root, 8, struct iv_avl_node *);

CHECK_FUNCTION(iv_avl_tree_insert,
	       int (*)(struct iv_avl_tree *, struct iv_avl_node *));
CHECK_FUNCTION(iv_avl_tree_delete,
	       void (*)(struct iv_avl_tree *, struct iv_avl_node *));
CHECK_FUNCTION(iv_avl_tree_next,
	       struct iv_avl_node *(*)(struct iv_avl_node *));
CHECK_FUNCTION(iv_avl_tree_prev,
	       struct iv_avl_node *(*)(struct iv_avl_node *));

/* ---- iv.h --------------------------------------------------------------- */

CHECK_FUNCTION(iv_init, void (*)(void));
CHECK_FUNCTION(iv_inited, int (*)(void));
CHECK_FUNCTION(iv_main, void (*)(void));
CHECK_FUNCTION(iv_quit, void (*)(void));
CHECK_FUNCTION(iv_deinit, void (*)(void));
CHECK_FUNCTION(iv_poll_method_name, const char *(*)(void));
CHECK_FUNCTION(iv_fatal, void (*)(const char *, ...));
CHECK_FUNCTION(iv_set_fatal_msg_handler,
	       void (*)(void (*)(const char *)));
CHECK_FUNCTION(iv_get_thread_id, unsigned long (*)(void));
CHECK_FUNCTION(__iv_now_location_valid, const struct timespec *(*)(void));
CHECK_FUNCTION(iv_invalidate_now, void (*)(void));

CHECK_STRUCT(iv_fd, 128);
CHECK_FIELD(iv_fd, fd, 0, int);
CHECK_FIELD(iv_fd, cookie, 8, void *);
CHECK_FIELD(iv_fd, handler_in, 16, callback_fn);
CHECK_FIELD(iv_fd, handler_out, 24, callback_fn);
CHECK_FIELD(iv_fd, handler_err, 32, callback_fn);
CHECK_FIELD(iv_fd, pad, 40, pad11);

CHECK_FUNCTION(IV_FD_INIT, void (*)(struct iv_fd *));
CHECK_FUNCTION(iv_fd_register, void (*)(struct iv_fd *));
CHECK_FUNCTION(iv_fd_register_try, int (*)(struct iv_fd *));
CHECK_FUNCTION(iv_fd_unregister, void (*)(struct iv_fd *));
CHECK_FUNCTION(iv_fd_registered, int (*)(const struct iv_fd *));
CHECK_FUNCTION(iv_fd_set_handler_in, void (*)(struct iv_fd *, callback_fn));
CHECK_FUNCTION(iv_fd_set_handler_out, void (*)(struct iv_fd *, callback_fn));
CHECK_FUNCTION(iv_fd_set_handler_err, void (*)(struct iv_fd *, callback_fn));

CHECK_STRUCT(iv_task, 64);
CHECK_FIELD(iv_task, cookie, 0, void *);
CHECK_FIELD(iv_task, handler, 8, callback_fn);
CHECK_FIELD(iv_task, pad, 16, pad6);

CHECK_FUNCTION(IV_TASK_INIT, void (*)(struct iv_task *));
CHECK_FUNCTION(iv_task_register, void (*)(struct iv_task *));
CHECK_FUNCTION(iv_task_unregister, void (*)(struct iv_task *));
CHECK_FUNCTION(iv_task_registered, int (*)(const struct iv_task *));

CHECK_STRUCT(iv_timer, 64);
CHECK_FIELD(iv_timer, expires, 0, struct timespec);
CHECK_FIELD(iv_timer, cookie, 16, void *);
CHECK_FIELD(iv_timer, handler, 24, callback_fn);
CHECK_FIELD(iv_timer, pad, 32, pad4);

CHECK_FUNCTION(IV_TIMER_INIT, void (*)(struct iv_timer *));
CHECK_FUNCTION(iv_timer_register, void (*)(struct iv_timer *));
CHECK_FUNCTION(iv_timer_unregister, void (*)(struct iv_timer *));
CHECK_FUNCTION(iv_timer_registered, int (*)(const struct iv_timer *));

/* ---- iv_event.h --------------------------------------------------------- */

CHECK_STRUCT(iv_event, 40);
CHECK_FIELD(iv_event, cookie, 0, void *);
CHECK_FIELD(iv_event, handler, 8, callback_fn);
CHECK_FIELD(iv_event, owner, 16, void *);
CHECK_FIELD(iv_event, list, 24, struct iv_list_head);

CHECK_FUNCTION(iv_event_register, int (*)(struct iv_event *));
CHECK_FUNCTION(iv_event_unregister, void (*)(struct iv_event *));
CHECK_FUNCTION(iv_event_post, void (*)(struct iv_event *));

/* ---- iv_event_raw.h ----------------------------------------------------- */

CHECK_STRUCT(iv_event_raw, 152);
CHECK_FIELD(iv_event_raw, cookie, 0, void *);
CHECK_FIELD(iv_event_raw, handler, 8, callback_fn);
CHECK_FIELD(iv_event_raw, event_rfd, 16, struct iv_fd);
CHECK_FIELD(iv_event_raw, event_wfd, 144, int);

CHECK_FUNCTION(iv_event_raw_register, int (*)(struct iv_event_raw *));
CHECK_FUNCTION(iv_event_raw_unregister, void (*)(struct iv_event_raw *));
CHECK_FUNCTION(iv_event_raw_post, void (*)(const struct iv_event_raw *));

/* ---- iv_fd_pump.h ------------------------------------------------------- */

CHECK_STRUCT(iv_fd_pump, 56);
CHECK_FIELD(iv_fd_pump, from_fd, 0, int);
CHECK_FIELD(iv_fd_pump, to_fd, 4, int);
CHECK_FIELD(iv_fd_pump, cookie, 8, void *);
CHECK_FIELD(iv_fd_pump, set_bands, 16, set_bands_fn);
CHECK_FIELD(iv_fd_pump, flags, 24, unsigned int);
CHECK_FIELD(iv_fd_pump, buf, 32, void *);
CHECK_FIELD(iv_fd_pump, bytes, 40, int);
CHECK_FIELD(iv_fd_pump, full, 44, int);
CHECK_FIELD(iv_fd_pump, saw_fin, 48, int);

_Static_assert(IV_FD_PUMP_FLAG_RELAY_EOF == 1, "IV_FD_PUMP_FLAG_RELAY_EOF");

CHECK_FUNCTION(iv_fd_pump_init, void (*)(struct iv_fd_pump *));
CHECK_FUNCTION(iv_fd_pump_destroy, void (*)(struct iv_fd_pump *));
CHECK_FUNCTION(iv_fd_pump_pump, int (*)(struct iv_fd_pump *));
CHECK_FUNCTION(iv_fd_pump_is_done, int (*)(const struct iv_fd_pump *));

/* ---- iv_inotify.h ------------------------------------------------------- */

CHECK_STRUCT(iv_inotify, 152);
CHECK_FIELD(iv_inotify, fd, 0, struct iv_fd);
CHECK_FIELD(iv_inotify, watches, 128, struct iv_avl_tree);
CHECK_FIELD(iv_inotify, term, 144, void **);

CHECK_STRUCT(iv_inotify_watch, 80);
CHECK_FIELD(iv_inotify_watch, inotify, 0, struct iv_inotify *);
CHECK_FIELD(iv_inotify_watch, pathname, 8, const char *);
CHECK_FIELD(iv_inotify_watch, mask, 16, uint32_t);
CHECK_FIELD(iv_inotify_watch, cookie, 24, void *);
CHECK_FIELD(iv_inotify_watch, handler, 32, inotify_handler_fn);
CHECK_FIELD(iv_inotify_watch, wd, 40, int);
CHECK_FIELD(iv_inotify_watch, an, 48, struct iv_avl_node);

CHECK_FUNCTION(iv_inotify_register, int (*)(struct iv_inotify *));
CHECK_FUNCTION(iv_inotify_unregister, void (*)(struct iv_inotify *));
CHECK_FUNCTION(iv_inotify_watch_register, int (*)(struct iv_inotify_watch *));
CHECK_FUNCTION(iv_inotify_watch_unregister,
	       void (*)(struct iv_inotify_watch *));

/* ---- iv_popen.h --------------------------------------------------------- */

CHECK_STRUCT(iv_popen_request, 32);
CHECK_FIELD(iv_popen_request, file, 0, char *);
CHECK_FIELD(iv_popen_request, argv, 8, char **);
CHECK_FIELD(iv_popen_request, type, 16, char *);
CHECK_FIELD(iv_popen_request, child, 24, void *);

CHECK_FUNCTION(iv_popen_request_submit, int (*)(struct iv_popen_request *));
CHECK_FUNCTION(iv_popen_request_close, void (*)(struct iv_popen_request *));

/* ---- iv_signal.h -------------------------------------------------------- */

CHECK_STRUCT(iv_signal, 216);
CHECK_FIELD(iv_signal, signum, 0, int);
CHECK_FIELD(iv_signal, flags, 4, unsigned int);
CHECK_FIELD(iv_signal, cookie, 8, void *);
CHECK_FIELD(iv_signal, handler, 16, callback_fn);
CHECK_FIELD(iv_signal, an, 24, struct iv_avl_node);
CHECK_FIELD(iv_signal, active, 56, uint8_t);
CHECK_FIELD(iv_signal, ev, 64, struct iv_event_raw);

_Static_assert(IV_SIGNAL_FLAG_EXCLUSIVE == 1, "IV_SIGNAL_FLAG_EXCLUSIVE");
_Static_assert(IV_SIGNAL_FLAG_THIS_THREAD == 2, "IV_SIGNAL_FLAG_THIS_THREAD");

CHECK_FUNCTION(iv_signal_register, int (*)(struct iv_signal *));
CHECK_FUNCTION(iv_signal_unregister, void (*)(struct iv_signal *));

/* ---- iv_thread.h -------------------------------------------------------- */

CHECK_FUNCTION(iv_thread_create,
	       int (*)(const char *, callback_fn, void *));
CHECK_FUNCTION(iv_thread_set_debug_state, void (*)(int));
CHECK_FUNCTION(iv_thread_get_id, unsigned long (*)(void));
CHECK_FUNCTION(iv_thread_list_children, void (*)(void));

/* ---- iv_tls.h ----------------------------------------------------------- */

CHECK_STRUCT(iv_tls_user, 48);
CHECK_FIELD(iv_tls_user, sizeof_state, 0, size_t);
CHECK_FIELD(iv_tls_user, init_thread, 8, callback_fn);
CHECK_FIELD(iv_tls_user, deinit_thread, 16, callback_fn);
CHECK_FIELD(iv_tls_user, list, 24, struct iv_list_head);
CHECK_FIELD(iv_tls_user, state_offset, 40, int);

CHECK_FUNCTION(iv_tls_user_register, void (*)(struct iv_tls_user *));
CHECK_FUNCTION(iv_tls_user_ptr, void *(*)(const struct iv_tls_user *));

/* ---- iv_wait.h ---------------------------------------------------------- */

CHECK_STRUCT(iv_wait_interest, 128);
CHECK_FIELD(iv_wait_interest, pid, 0, pid_t);
CHECK_FIELD(iv_wait_interest, cookie, 8, void *);
CHECK_FIELD(iv_wait_interest, handler, 16, wait_handler_fn);
CHECK_FIELD(iv_wait_interest, avl_node, 24, struct iv_avl_node);
CHECK_FIELD(iv_wait_interest, ev, 56, struct iv_event);
CHECK_FIELD(iv_wait_interest, events_pending, 96, struct iv_list_head);
CHECK_FIELD(iv_wait_interest, dummy, 112, void *);
CHECK_FIELD(iv_wait_interest, flags, 120, unsigned int);

CHECK_FUNCTION(iv_wait_interest_register, void (*)(struct iv_wait_interest *));
CHECK_FUNCTION(iv_wait_interest_register_spawn,
	       int (*)(struct iv_wait_interest *, callback_fn, void *));
CHECK_FUNCTION(iv_wait_interest_unregister,
	       void (*)(struct iv_wait_interest *));
CHECK_FUNCTION(iv_wait_interest_kill,
	       int (*)(const struct iv_wait_interest *, int));

/* ---- iv_work.h ---------------------------------------------------------- */

CHECK_STRUCT(iv_work_pool, 40);
CHECK_FIELD(iv_work_pool, max_threads, 0, int);
CHECK_FIELD(iv_work_pool, cookie, 8, void *);
CHECK_FIELD(iv_work_pool, thread_start, 16, callback_fn);
CHECK_FIELD(iv_work_pool, thread_stop, 24, callback_fn);
CHECK_FIELD(iv_work_pool, priv, 32, void *);

CHECK_STRUCT(iv_work_item, 40);
CHECK_FIELD(iv_work_item, cookie, 0, void *);
CHECK_FIELD(iv_work_item, work, 8, callback_fn);
CHECK_FIELD(iv_work_item, completion, 16, callback_fn);
CHECK_FIELD(iv_work_item, list, 24, struct iv_list_head);

CHECK_FUNCTION(iv_work_pool_create, int (*)(struct iv_work_pool *));
CHECK_FUNCTION(iv_work_pool_put, void (*)(struct iv_work_pool *));
CHECK_FUNCTION(iv_work_pool_submit_work,
	       void (*)(struct iv_work_pool *, struct iv_work_item *));
#ifndef IV_ABI_CHECK_0_42
/* New in 0.43: define IV_ABI_CHECK_0_42 to check the 0.42 headers. */
CHECK_FUNCTION(iv_work_pool_submit_continuation,
	       void (*)(struct iv_work_pool *, struct iv_work_item *));
#endif

/* ---- header-only helpers, at run time ------------------------------------ */

static int failures;

#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
		failures++;						\
	}								\
} while (0)

struct element {
	int			value;
	struct iv_list_head	link;
};

/* Values of the list at head, front to back, as a decimal number. */
static int list_digits(struct iv_list_head *head)
{
	struct iv_list_head *pos;
	int digits = 0;

	iv_list_for_each (pos, head)
		digits = digits * 10 +
			 iv_list_entry(pos, struct element, link)->value;
	return digits;
}

static void check_list_helpers(void)
{
	struct iv_list_head a = IV_LIST_HEAD_INIT(a);
	struct iv_list_head b;
	struct iv_list_head *pos;
	struct iv_list_head *next;
	struct element e[6];
	int i;

	INIT_IV_LIST_HEAD(&b);
	for (i = 0; i < 6; i++)
		e[i].value = i + 1;

	EXPECT(iv_list_empty(&a));
	iv_list_add_tail(&e[1].link, &a);
	iv_list_add_tail(&e[2].link, &a);
	iv_list_add(&e[0].link, &a);
	EXPECT(list_digits(&a) == 123);

	iv_list_add_tail(&e[3].link, &b);
	iv_list_add_tail(&e[4].link, &b);
	iv_list_splice_tail_init(&b, &a);
	EXPECT(iv_list_empty(&b));
	EXPECT(list_digits(&a) == 12345);

	iv_list_add(&e[5].link, &b);
	iv_list_splice_init(&b, &a);
	EXPECT(list_digits(&a) == 612345);

	iv_list_del(&e[5].link);
	EXPECT(e[5].link.next == NULL && e[5].link.prev == NULL);
	iv_list_del_init(&e[2].link);
	EXPECT(iv_list_empty(&e[2].link));
	EXPECT(list_digits(&a) == 1245);

	iv_list_for_each_safe (pos, next, &a)
		iv_list_del(pos);
	EXPECT(iv_list_empty(&a));

	iv_list_add(&e[0].link, &b);
	iv_list_splice(&b, &a);
	EXPECT(list_digits(&a) == 1);
	/* A plain splice leaves b stale: it must be re-initialised. */
	INIT_IV_LIST_HEAD(&b);
	iv_list_add(&e[1].link, &b);
	iv_list_del_init(&e[0].link);
	EXPECT(iv_list_empty(&a));
	iv_list_splice_tail(&b, &a);
	EXPECT(list_digits(&a) == 2);
}

static void dummy_callback(void *cookie)
{
	(void)cookie;
}

static void check_init_helpers(void)
{
	struct iv_work_pool pool;
	struct iv_avl_tree tree = IV_AVL_TREE_INIT(NULL);

	pool.thread_start = dummy_callback;
	pool.thread_stop = dummy_callback;
	IV_WORK_POOL_INIT(&pool);
	EXPECT(pool.thread_start == NULL && pool.thread_stop == NULL);

	EXPECT(iv_avl_tree_empty(&tree));
	EXPECT(iv_avl_tree_min(&tree) == NULL);
	EXPECT(iv_avl_tree_max(&tree) == NULL);
}

int main(void)
{
	check_list_helpers();
	check_init_helpers();
	if (failures)
		return 1;
	printf("abi ok\n");
	return 0;
}
