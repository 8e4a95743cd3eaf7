/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_thread.h: threads tied to the creating thread's loop, which keeps
 * running until all of its child threads have ended.
 */

#ifndef __IV_THREAD_H
#define __IV_THREAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* Start start_routine(arg) in a new thread; 0 on success. */
int iv_thread_create(const char *name, void (*start_routine)(void *),
		     void *arg);
/* Nonzero: log thread creation, exit and join to stderr. */
void iv_thread_set_debug_state(int state);
/* The operating system's id of the calling thread. */
unsigned long iv_thread_get_id(void);
/* Print the calling thread's live children to stderr. */
void iv_thread_list_children(void);

#ifdef __cplusplus
}
#endif

#endif /* __IV_THREAD_H */
