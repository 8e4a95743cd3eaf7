/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * avl.c: conformance test of iv_avl (iv_avl_tree_insert/delete/next/prev and
 * the inline helpers of iv_avl.h).
 *
 * A model (a membership array over a small key space) shadows the tree
 * through random inserts and deletes.  After each step the tree is checked
 * against the model: in-order walks with next and prev, min and max,
 * parent links, stored heights (a leaf is 1), the AVL balance rule.  The
 * same test passes against the C ivykis library, which shows that it tests
 * the interface and not this implementation.
 *
 * Usage: avl [seed]
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <iv_avl.h>
#include <iv_list.h>

struct item {
	int			key;
	int			in_tree;
	struct iv_avl_node	node;
};

static struct item *item_of(const struct iv_avl_node *node)
{
	return iv_container_of(node, struct item, node);
}

static int compare_items(const struct iv_avl_node *a,
			 const struct iv_avl_node *b)
{
	int ka = item_of(a)->key;
	int kb = item_of(b)->key;

	return (ka > kb) - (ka < kb);
}

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		if (++failures > 20)					\
			exit(1);					\
	}								\
} while (0)

/* xorshift64: a small deterministic generator, so failures reproduce. */
static uint64_t rng_state;

static unsigned int rng_below(unsigned int bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned int)(rng_state % bound);
}

/*
 * Checks the subtree at node: parent links, key order within (lo, hi),
 * stored height, balance.  Returns its height and counts its nodes.
 */
static int check_subtree(const struct iv_avl_node *node,
			 const struct iv_avl_node *parent,
			 int lo, int hi, int *count)
{
	int key, left_height, right_height, height;

	if (node == NULL)
		return 0;

	key = item_of(node)->key;
	CHECK(node->parent == parent);
	CHECK(key > lo && key < hi);
	CHECK(item_of(node)->in_tree);

	left_height = check_subtree(node->left, node, lo, key, count);
	right_height = check_subtree(node->right, node, key, hi, count);
	height = 1 + (left_height > right_height ? left_height : right_height);

	CHECK(node->height == height);
	CHECK(abs(left_height - right_height) <= 1);

	(*count)++;
	return height;
}

/* Compares the tree with the model items[0..nitems). */
static void check_tree(const struct iv_avl_tree *tree,
		       const struct item *items, int nitems)
{
	struct iv_avl_node *node;
	int expected_count = 0;
	int count = 0;
	int first = -1;
	int last = -1;
	int i;

	for (i = 0; i < nitems; i++) {
		if (items[i].in_tree) {
			if (first < 0)
				first = i;
			last = i;
			expected_count++;
		}
	}

	check_subtree(tree->root, NULL, -1, nitems, &count);
	CHECK(count == expected_count);
	CHECK(iv_avl_tree_empty(tree) == (expected_count == 0));

	/* Forward: min, then next until NULL, visits the model in order. */
	node = iv_avl_tree_min(tree);
	CHECK(first < 0 ? node == NULL : node == &items[first].node);
	for (i = 0; i < nitems; i++) {
		if (!items[i].in_tree)
			continue;
		CHECK(node == &items[i].node);
		if (node != &items[i].node)
			return;
		node = iv_avl_tree_next(node);
	}
	CHECK(node == NULL);

	/* Backward: max, then prev until NULL. */
	node = iv_avl_tree_max(tree);
	CHECK(last < 0 ? node == NULL : node == &items[last].node);
	for (i = nitems - 1; i >= 0; i--) {
		if (!items[i].in_tree)
			continue;
		CHECK(node == &items[i].node);
		if (node != &items[i].node)
			return;
		node = iv_avl_tree_prev(node);
	}
	CHECK(node == NULL);
}

/* One random insert or delete, mirrored in the model. */
static void random_step(struct iv_avl_tree *tree, struct item *items,
			int nitems)
{
	struct item *it = &items[rng_below((unsigned int)nitems)];

	if (it->in_tree) {
		iv_avl_tree_delete(tree, &it->node);
		it->in_tree = 0;
	} else {
		CHECK(iv_avl_tree_insert(tree, &it->node) == 0);
		it->in_tree = 1;
	}
}

static struct item *new_items(int nitems)
{
	struct item *items =
		(struct item *)calloc((size_t)nitems, sizeof(*items));
	int i;

	if (items == NULL) {
		perror("calloc");
		exit(1);
	}
	for (i = 0; i < nitems; i++)
		items[i].key = i;
	return items;
}

/* Small key space, every step checked: exercises every rotation case. */
static void test_small_random(void)
{
	enum { NITEMS = 48, STEPS = 20000 };
	struct iv_avl_tree tree = IV_AVL_TREE_INIT(compare_items);
	struct item *items = new_items(NITEMS);
	int step;

	for (step = 0; step < STEPS; step++) {
		random_step(&tree, items, NITEMS);
		check_tree(&tree, items, NITEMS);
	}
	free(items);
}

/* Larger trees, checked now and then; then emptied in random order. */
static void test_large_random(void)
{
	enum { NITEMS = 4096, STEPS = 200000, CHECK_EVERY = 5000 };
	struct iv_avl_tree tree;
	struct item *items = new_items(NITEMS);
	int step;
	int i;

	INIT_IV_AVL_TREE(&tree, compare_items);
	for (step = 1; step <= STEPS; step++) {
		random_step(&tree, items, NITEMS);
		if (step % CHECK_EVERY == 0)
			check_tree(&tree, items, NITEMS);
	}

	/* A tree of n nodes is at most about 1.44 log2(n) high. */
	CHECK(tree.root == NULL || tree.root->height <= 18);

	for (i = 0; i < NITEMS; i++) {
		int j = (int)rng_below((unsigned int)NITEMS);

		if (items[j].in_tree) {
			iv_avl_tree_delete(&tree, &items[j].node);
			items[j].in_tree = 0;
		}
	}
	check_tree(&tree, items, NITEMS);
	for (i = 0; i < NITEMS; i++) {
		if (items[i].in_tree) {
			iv_avl_tree_delete(&tree, &items[i].node);
			items[i].in_tree = 0;
		}
	}
	check_tree(&tree, items, NITEMS);
	CHECK(tree.root == NULL);
	free(items);
}

/* Ascending and descending insertion: the worst case of unbalanced trees. */
static void test_sorted_inserts(void)
{
	enum { NITEMS = 1023 };
	struct iv_avl_tree tree = IV_AVL_TREE_INIT(compare_items);
	struct item *items = new_items(NITEMS);
	int i;

	for (i = 0; i < NITEMS; i++) {
		CHECK(iv_avl_tree_insert(&tree, &items[i].node) == 0);
		items[i].in_tree = 1;
	}
	check_tree(&tree, items, NITEMS);
	/* 1023 = 2^10 - 1 nodes inserted in order end up perfectly balanced. */
	CHECK(tree.root->height == 10);

	for (i = 0; i < NITEMS; i++) {
		iv_avl_tree_delete(&tree, &items[i].node);
		items[i].in_tree = 0;
	}
	check_tree(&tree, items, NITEMS);

	for (i = NITEMS - 1; i >= 0; i--) {
		CHECK(iv_avl_tree_insert(&tree, &items[i].node) == 0);
		items[i].in_tree = 1;
	}
	check_tree(&tree, items, NITEMS);
	for (i = NITEMS - 1; i >= 0; i--) {
		iv_avl_tree_delete(&tree, &items[i].node);
		items[i].in_tree = 0;
		if (i % 100 == 0)
			check_tree(&tree, items, NITEMS);
	}
	CHECK(iv_avl_tree_empty(&tree));
	free(items);
}

/* An equal key is refused and leaves the tree as it was. */
static void test_duplicate(void)
{
	struct iv_avl_tree tree = IV_AVL_TREE_INIT(compare_items);
	struct item *items = new_items(8);
	struct item twin = { 5, 0, { NULL, NULL, NULL, 0 } };
	int i;

	for (i = 0; i < 8; i++) {
		CHECK(iv_avl_tree_insert(&tree, &items[i].node) == 0);
		items[i].in_tree = 1;
	}
	CHECK(iv_avl_tree_insert(&tree, &twin.node) == -1);
	check_tree(&tree, items, 8);
	free(items);
}

/* The iteration macros, including deleting the current node. */
static void test_for_each(void)
{
	enum { NITEMS = 100 };
	struct iv_avl_tree tree = IV_AVL_TREE_INIT(compare_items);
	struct item *items = new_items(NITEMS);
	struct iv_avl_node *node;
	struct iv_avl_node *next;
	int expected;
	int i;

	for (i = 0; i < NITEMS; i++) {
		CHECK(iv_avl_tree_insert(&tree, &items[(i * 37) % NITEMS].node)
		      == 0);
		items[(i * 37) % NITEMS].in_tree = 1;
	}

	expected = 0;
	iv_avl_tree_for_each (node, &tree) {
		CHECK(item_of(node)->key == expected);
		expected++;
	}
	CHECK(expected == NITEMS);

	/* Delete every odd key while walking. */
	expected = 0;
	iv_avl_tree_for_each_safe (node, next, &tree) {
		struct item *it = item_of(node);

		CHECK(it->key == expected);
		expected++;
		if (it->key % 2) {
			iv_avl_tree_delete(&tree, node);
			it->in_tree = 0;
		}
	}
	CHECK(expected == NITEMS);
	check_tree(&tree, items, NITEMS);

	/* Delete everything while walking. */
	iv_avl_tree_for_each_safe (node, next, &tree) {
		iv_avl_tree_delete(&tree, node);
		item_of(node)->in_tree = 0;
	}
	CHECK(iv_avl_tree_empty(&tree));
	CHECK(iv_avl_tree_min(&tree) == NULL);
	CHECK(iv_avl_tree_max(&tree) == NULL);
	CHECK(iv_avl_tree_next_safe(NULL) == NULL);
	free(items);
}

int main(int argc, char **argv)
{
	rng_state = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x2545f4914f6cdd1dULL;
	if (rng_state == 0)
		rng_state = 1;

	test_duplicate();
	test_for_each();
	test_sorted_inserts();
	test_small_random();
	test_large_random();

	if (failures) {
		fprintf(stderr, "avl: %d check(s) failed\n", failures);
		return 1;
	}
	printf("avl ok\n");
	return 0;
}
