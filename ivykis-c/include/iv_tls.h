/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_tls.h: per-loop state for code built on top of ivykis.  A user
 * registered before the first iv_init() gets ->sizeof_state zeroed bytes in
 * every thread that has a loop, with constructor and destructor callbacks.
 */

#ifndef __IV_TLS_H
#define __IV_TLS_H

#include <stddef.h>
#include <iv_list.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_tls_user {
	size_t			sizeof_state;
	void			(*init_thread)(void *st);
	void			(*deinit_thread)(void *st);

	/* Private to the library. */
	struct iv_list_head	list;
	int			state_offset;
};

void iv_tls_user_register(struct iv_tls_user *user);
/* This thread's state area for user, or NULL without a loop. */
void *iv_tls_user_ptr(const struct iv_tls_user *user);

#ifdef __cplusplus
}
#endif

#endif /* __IV_TLS_H */
