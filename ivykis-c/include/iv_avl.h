/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_avl.h: an intrusive AVL tree.  Elements embed a struct iv_avl_node; the
 * tree orders them with the caller's compare function (negative, zero or
 * positive, like strcmp).  Keys must be unique: inserting a node that
 * compares equal to one already in the tree fails with -1.
 */

#ifndef __IV_AVL_H
#define __IV_AVL_H

#include <inttypes.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_avl_node {
	struct iv_avl_node	*left;
	struct iv_avl_node	*right;
	struct iv_avl_node	*parent;
	/* Height of the subtree rooted here; a leaf has height 1. */
	uint8_t			height;
};

struct iv_avl_tree {
	int			(*compare)(const struct iv_avl_node *a,
					   const struct iv_avl_node *b);
	struct iv_avl_node	*root;
};

/* Static initialiser of an empty tree ordered by comp. */
#define IV_AVL_TREE_INIT(comp)			\
	{ .compare = comp, .root = NULL }

/* Make *tree an empty tree ordered by comp. */
#define INIT_IV_AVL_TREE(tree, comp)		\
	do {					\
		(tree)->compare = (comp);	\
		(tree)->root = NULL;		\
	} while (0)

/* Insert node; returns 0, or -1 (tree unchanged) if an equal key exists. */
int iv_avl_tree_insert(struct iv_avl_tree *tree, struct iv_avl_node *node);
/* Remove node, which must be in tree. */
void iv_avl_tree_delete(struct iv_avl_tree *tree, struct iv_avl_node *node);
/* In-order successor / predecessor of node, or NULL at the end. */
struct iv_avl_node *iv_avl_tree_next(struct iv_avl_node *node);
struct iv_avl_node *iv_avl_tree_prev(struct iv_avl_node *node);

static inline int iv_avl_tree_empty(const struct iv_avl_tree *tree)
{
	return tree->root == NULL;
}

/* The smallest node, or NULL if the tree is empty. */
static inline struct iv_avl_node *
iv_avl_tree_min(const struct iv_avl_tree *tree)
{
	struct iv_avl_node *node = tree->root;

	if (node != NULL) {
		while (node->left != NULL)
			node = node->left;
	}

	return node;
}

/* The largest node, or NULL if the tree is empty. */
static inline struct iv_avl_node *
iv_avl_tree_max(const struct iv_avl_tree *tree)
{
	struct iv_avl_node *node = tree->root;

	if (node != NULL) {
		while (node->right != NULL)
			node = node->right;
	}

	return node;
}

/* In-order walk; the body must not delete the current node. */
#define iv_avl_tree_for_each(node, tree) \
	for (node = iv_avl_tree_min(tree); node != NULL; \
	     node = iv_avl_tree_next(node))

/* iv_avl_tree_next() that passes NULL through. */
static inline struct iv_avl_node *
iv_avl_tree_next_safe(struct iv_avl_node *node)
{
	return node != NULL ? iv_avl_tree_next(node) : NULL;
}

/* In-order walk; the body may delete (and free) the current node. */
#define iv_avl_tree_for_each_safe(node, next_node, tree)		\
	for (node = iv_avl_tree_min(tree),				\
	     next_node = iv_avl_tree_next_safe(node);			\
	     node != NULL;						\
	     node = next_node, next_node = iv_avl_tree_next_safe(node))

#ifdef __cplusplus
}
#endif

#endif /* __IV_AVL_H */
