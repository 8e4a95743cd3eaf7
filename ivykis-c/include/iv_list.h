/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_list.h: an intrusive, circular, doubly linked list.  The interface
 * follows the Linux kernel's <linux/list.h>: a list is a struct iv_list_head
 * that points to itself when empty, and elements embed a struct iv_list_head
 * that is linked into it.  Everything here is inline; the library exports no
 * list functions.
 */

#ifndef __IV_LIST_H
#define __IV_LIST_H

#include <inttypes.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_list_head {
	struct iv_list_head	*next;
	struct iv_list_head	*prev;
};

/* Static initialiser of an empty list named var. */
#define IV_LIST_HEAD_INIT(var) { &(var), &(var) }

/* Make *head an empty list. */
#define INIT_IV_LIST_HEAD(head) do {		\
	(head)->next = (head);			\
	(head)->prev = (head);			\
} while (0)

/* Link elem in right after head (at the front of the list). */
static inline void
iv_list_add(struct iv_list_head *elem, struct iv_list_head *head)
{
	struct iv_list_head *after = head->next;

	elem->next = after;
	elem->prev = head;
	after->prev = elem;
	head->next = elem;
}

/* Link elem in right before head (at the back of the list). */
static inline void
iv_list_add_tail(struct iv_list_head *elem, struct iv_list_head *head)
{
	struct iv_list_head *before = head->prev;

	elem->next = head;
	elem->prev = before;
	before->next = elem;
	head->prev = elem;
}

/* Unlink elem; its pointers are cleared so that a stale use faults. */
static inline void iv_list_del(struct iv_list_head *elem)
{
	elem->prev->next = elem->next;
	elem->next->prev = elem->prev;
	elem->next = NULL;
	elem->prev = NULL;
}

/* Unlink elem and leave it as an empty list of its own. */
static inline void iv_list_del_init(struct iv_list_head *elem)
{
	elem->prev->next = elem->next;
	elem->next->prev = elem->prev;
	INIT_IV_LIST_HEAD(elem);
}

static inline int iv_list_empty(const struct iv_list_head *head)
{
	return head->next == head;
}

/*
 * Move the elements of the non-empty list src between the adjacent nodes
 * before and after.  src itself is left pointing at the moved elements.
 */
static inline void __iv_list_splice(struct iv_list_head *src,
				    struct iv_list_head *before,
				    struct iv_list_head *after)
{
	struct iv_list_head *first = src->next;
	struct iv_list_head *last = src->prev;

	before->next = first;
	first->prev = before;
	last->next = after;
	after->prev = last;
}

/* Move all of src to the front of head; src must be re-initialised. */
static inline void
iv_list_splice(struct iv_list_head *src, struct iv_list_head *head)
{
	if (!iv_list_empty(src))
		__iv_list_splice(src, head, head->next);
}

/* Move all of src to the front of head and leave src empty. */
static inline void
iv_list_splice_init(struct iv_list_head *src, struct iv_list_head *head)
{
	if (!iv_list_empty(src)) {
		__iv_list_splice(src, head, head->next);
		INIT_IV_LIST_HEAD(src);
	}
}

/* Move all of src to the back of head; src must be re-initialised. */
static inline void
iv_list_splice_tail(struct iv_list_head *src, struct iv_list_head *head)
{
	if (!iv_list_empty(src))
		__iv_list_splice(src, head->prev, head);
}

/* Move all of src to the back of head and leave src empty. */
static inline void
iv_list_splice_tail_init(struct iv_list_head *src, struct iv_list_head *head)
{
	if (!iv_list_empty(src)) {
		__iv_list_splice(src, head->prev, head);
		INIT_IV_LIST_HEAD(src);
	}
}

/*
 * The structure of type `type` whose member `member` lives at `ptr`.  The
 * temporary checks that ptr has the member's type; __extension__ keeps
 * -pedantic quiet about the GNU statement expression, and the detour through
 * uintptr_t drops the const without a -Wcast-qual warning.
 */
#define iv_container_of(ptr, type, member) __extension__ ({		\
	const __typeof__(((type *)0)->member) *__iv_member_ptr = (ptr);	\
	(type *)(void *)((char *)(uintptr_t)__iv_member_ptr -		\
			 offsetof(type, member)); })

#define iv_list_entry(elem, type, member) \
	iv_container_of(elem, type, member)

/* Walk the list; the body must not unlink the current element. */
#define iv_list_for_each(pos, head) \
	for (pos = (head)->next; pos != (head); pos = pos->next)

/* Walk the list; the body may unlink (and free) the current element. */
#define iv_list_for_each_safe(pos, next_pos, head)			\
	for (pos = (head)->next, next_pos = pos->next; pos != (head);	\
	     pos = next_pos, next_pos = pos->next)

#ifdef __cplusplus
}
#endif

#endif /* __IV_LIST_H */
