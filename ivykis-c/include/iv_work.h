/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_work.h: pools of worker threads.  A work item's ->work runs on a
 * worker thread, then its ->completion runs in the thread that created the
 * pool.
 */

#ifndef __IV_WORK_H
#define __IV_WORK_H

#include <iv.h>
#include <iv_list.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_work_pool {
	int		max_threads;
	void		*cookie;
	void		(*thread_start)(void *cookie);
	void		(*thread_stop)(void *cookie);

	/* Private to the library. */
	void		*priv;
};

struct iv_work_item {
	void			*cookie;
	void			(*work)(void *cookie);
	void			(*completion)(void *cookie);

	/* Private to the library. */
	struct iv_list_head	list;
};

/* The per-thread hooks are optional: start with none. */
static inline void IV_WORK_POOL_INIT(struct iv_work_pool *pool)
{
	pool->thread_start = NULL;
	pool->thread_stop = NULL;
}

/* Nothing to prepare: submitting sets up the private fields. */
static inline void IV_WORK_ITEM_INIT(struct iv_work_item *item)
{
	(void)item;
}

/* 0 on success, -1 on failure. */
int iv_work_pool_create(struct iv_work_pool *pool);
/* Drop the creator's reference; queued work still runs and completes. */
void iv_work_pool_put(struct iv_work_pool *pool);
/* From the pool's thread; a NULL pool runs the item in this thread. */
void iv_work_pool_submit_work(struct iv_work_pool *pool,
			      struct iv_work_item *item);
/* Like iv_work_pool_submit_work(), but callable from a worker thread too. */
void iv_work_pool_submit_continuation(struct iv_work_pool *pool,
				      struct iv_work_item *item);

#ifdef __cplusplus
}
#endif

#endif /* __IV_WORK_H */
