//! `iv_avl`: the intrusive AVL tree of `iv_avl.h` (SPEC 8).
//!
//! The caller owns every node: a `struct iv_avl_node` is embedded in the
//! caller's element, and the tree only links nodes together through their
//! `left`, `right` and `parent` pointers. The order comes from the tree's
//! `compare` callback, and keys are unique.
//!
//! Balance: every node stores the height of its subtree (a leaf has height 1,
//! an empty subtree counts as 0), and the heights of a node's two subtrees
//! differ by at most one. After an insertion or a deletion the heights are
//! recomputed from the changed node towards the root, rotating wherever a
//! node has become unbalanced; the walk stops as soon as a subtree ends up
//! with the same height it had before, because nothing above it can have
//! changed. Both operations are O(log n) and allocate nothing.
//!
//! All functions here trust the C caller's contract: the tree and node
//! pointers are valid, the nodes linked into a tree are live and belong to
//! that tree only, and nobody else modifies the tree concurrently.

use std::ffi::c_int;
use std::ptr;

use ivykis::engine::fatal::fatal_message;

/// `struct iv_avl_node` (32 bytes on 64-bit systems).
#[repr(C)]
pub struct IvAvlNode {
    /// Subtree of smaller keys.
    pub left: *mut IvAvlNode,
    /// Subtree of greater keys.
    pub right: *mut IvAvlNode,
    /// Parent node, NULL at the root.
    pub parent: *mut IvAvlNode,
    /// Height of the subtree rooted here; 1 for a leaf.
    pub height: u8,
}

/// The comparison callback: negative, zero or positive like `strcmp`.
pub type IvAvlCompare = unsafe extern "C" fn(a: *const IvAvlNode, b: *const IvAvlNode) -> c_int;

/// `struct iv_avl_tree` (16 bytes on 64-bit systems).
#[repr(C)]
pub struct IvAvlTree {
    /// Orders the nodes; NULL is a caller error.
    pub compare: Option<IvAvlCompare>,
    /// The root node, NULL when the tree is empty.
    pub root: *mut IvAvlNode,
}

/// Height of a possibly empty subtree.
///
/// # Safety
/// `node` is NULL or points to a live node.
unsafe fn height(node: *const IvAvlNode) -> u8 {
    if node.is_null() {
        0
    } else {
        // SAFETY: non-NULL, and live by this function's contract.
        unsafe { (*node).height }
    }
}

/// Recomputes `node`'s height from its children's.
///
/// # Safety
/// `node` is a live node whose children are NULL or live.
unsafe fn update_height(node: *mut IvAvlNode) {
    // SAFETY: `node` and its children are live by this function's contract.
    unsafe {
        (*node).height = 1 + height((*node).left).max(height((*node).right));
    }
}

/// Makes whatever pointed to `old` (its parent's child link, or the tree's
/// root) point to `new` instead, and gives `new` `old`'s parent.
///
/// # Safety
/// `old` is a live node of `tree`; `new` is NULL or a live node.
unsafe fn replace_child(tree: *mut IvAvlTree, old: *mut IvAvlNode, new: *mut IvAvlNode) {
    // SAFETY: `tree` and `old` are live by the contract, so is `old`'s
    // parent (a node of the same tree), and `new` when it is not NULL.
    unsafe {
        let parent = (*old).parent;
        if parent.is_null() {
            (*tree).root = new;
        } else if (*parent).left == old {
            (*parent).left = new;
        } else {
            (*parent).right = new;
        }
        if !new.is_null() {
            (*new).parent = parent;
        }
    }
}

/// Rotates the subtree at `top` to the right: its left child takes its place
/// and `top` becomes that child's right child. Returns the new subtree root.
///
/// # Safety
/// `top` is a live node of `tree` with a left child.
unsafe fn rotate_right(tree: *mut IvAvlTree, top: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: `top` and its left child `pivot` are live nodes of `tree`, and
    // so is `pivot`'s right child when it is not NULL.
    unsafe {
        let pivot = (*top).left;
        let moved = (*pivot).right;
        replace_child(tree, top, pivot);
        (*top).left = moved;
        if !moved.is_null() {
            (*moved).parent = top;
        }
        (*pivot).right = top;
        (*top).parent = pivot;
        update_height(top);
        update_height(pivot);
        pivot
    }
}

/// Mirror image of [`rotate_right`]: the right child takes `top`'s place.
///
/// # Safety
/// `top` is a live node of `tree` with a right child.
unsafe fn rotate_left(tree: *mut IvAvlTree, top: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: `top` and its right child `pivot` are live nodes of `tree`, and
    // so is `pivot`'s left child when it is not NULL.
    unsafe {
        let pivot = (*top).right;
        let moved = (*pivot).left;
        replace_child(tree, top, pivot);
        (*top).right = moved;
        if !moved.is_null() {
            (*moved).parent = top;
        }
        (*pivot).left = top;
        (*top).parent = pivot;
        update_height(top);
        update_height(pivot);
        pivot
    }
}

/// Restores the balance of the subtree at `node`, whose children are
/// balanced and differ in height by at most two, and recomputes its height.
/// Returns the subtree's (possibly new) root.
///
/// # Safety
/// `node` is a live node of `tree`.
unsafe fn balance(tree: *mut IvAvlTree, node: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: `node` is a live node of `tree`; a child that is two levels
    // taller than its sibling is not NULL, and neither is the grandchild on
    // the side the rotations below need, so every rotation has its pivot.
    unsafe {
        let left = (*node).left;
        let right = (*node).right;
        let (left_height, right_height) = (height(left), height(right));
        if left_height > right_height + 1 {
            // Left-right shape: straighten it into left-left first.
            if height((*left).left) < height((*left).right) {
                rotate_left(tree, left);
            }
            rotate_right(tree, node)
        } else if right_height > left_height + 1 {
            // Right-left shape: straighten it into right-right first.
            if height((*right).right) < height((*right).left) {
                rotate_right(tree, right);
            }
            rotate_left(tree, node)
        } else {
            update_height(node);
            node
        }
    }
}

/// Rebalances from `node` (whose subtree just changed) up to the root,
/// stopping at the first subtree whose height is what it was before.
///
/// # Safety
/// `node` is NULL or a live node of `tree`, and the children of every node on
/// the path up are balanced subtrees with correct heights except for the
/// changes this walk repairs.
unsafe fn rebalance_upwards(tree: *mut IvAvlTree, mut node: *mut IvAvlNode) {
    while !node.is_null() {
        // SAFETY: `node` is a live node of `tree` (the starting node by the
        // contract, later ones are parents of tree nodes).
        unsafe {
            let old_height = (*node).height;
            let subtree = balance(tree, node);
            if (*subtree).height == old_height {
                return;
            }
            node = (*subtree).parent;
        }
    }
}

/// Leftmost node of the non-empty subtree at `node`.
///
/// # Safety
/// `node` is a live node.
unsafe fn leftmost(mut node: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: `node` and all its descendants are live.
    unsafe {
        while !(*node).left.is_null() {
            node = (*node).left;
        }
    }
    node
}

/// Rightmost node of the non-empty subtree at `node`.
///
/// # Safety
/// `node` is a live node.
unsafe fn rightmost(mut node: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: `node` and all its descendants are live.
    unsafe {
        while !(*node).right.is_null() {
            node = (*node).right;
        }
    }
    node
}

/// `iv_avl_tree_insert`: links `an` into `tree`. Returns 0, or -1 (leaving
/// the tree and `an` unchanged, errno untouched) when a node that compares
/// equal is already in the tree.
#[no_mangle]
pub unsafe extern "C" fn iv_avl_tree_insert(tree: *mut IvAvlTree, an: *mut IvAvlNode) -> c_int {
    // SAFETY: the caller passes a valid tree and a node that is not in any
    // tree; `compare` is the caller's function for exactly these nodes. Every
    // pointer followed below is a live node of `tree`.
    unsafe {
        let Some(compare) = (*tree).compare else {
            fatal_message("iv_avl_tree_insert: tree has no compare function");
        };

        // Find the empty link where `an` belongs.
        let mut parent = ptr::null_mut::<IvAvlNode>();
        let mut link: *mut *mut IvAvlNode = ptr::addr_of_mut!((*tree).root);
        while !(*link).is_null() {
            parent = *link;
            let order = compare(an, parent);
            if order < 0 {
                link = ptr::addr_of_mut!((*parent).left);
            } else if order > 0 {
                link = ptr::addr_of_mut!((*parent).right);
            } else {
                return -1;
            }
        }

        (*an).left = ptr::null_mut();
        (*an).right = ptr::null_mut();
        (*an).parent = parent;
        (*an).height = 1;
        *link = an;

        rebalance_upwards(tree, parent);
    }
    0
}

/// `iv_avl_tree_delete`: unlinks `an`, which must be in `tree`. The fields
/// of `an` are left as they were; the node may be freed right after.
#[no_mangle]
pub unsafe extern "C" fn iv_avl_tree_delete(tree: *mut IvAvlTree, an: *mut IvAvlNode) {
    // SAFETY: the caller passes a valid tree and a node linked into it, so
    // `an`, its parent, children and all their descendants are live nodes of
    // `tree`.
    unsafe {
        let left = (*an).left;
        let right = (*an).right;

        let rebalance_from = if left.is_null() || right.is_null() {
            // At most one child: it moves up into `an`'s place.
            let child = if left.is_null() { right } else { left };
            replace_child(tree, an, child);
            (*an).parent
        } else {
            // Two children: `an`'s in-order successor (the leftmost node of
            // its right subtree, which has no left child) takes its place.
            let successor = leftmost(right);
            let rebalance_from = if successor == right {
                // The successor keeps its right subtree, gains `an`'s left
                // one, and its height must then be recomputed.
                successor
            } else {
                // Detach the successor, handing its right subtree to its
                // parent, then give it `an`'s right subtree.
                let successor_parent = (*successor).parent;
                let successor_right = (*successor).right;
                (*successor_parent).left = successor_right;
                if !successor_right.is_null() {
                    (*successor_right).parent = successor_parent;
                }
                (*successor).right = right;
                (*right).parent = successor;
                successor_parent
            };
            (*successor).left = left;
            (*left).parent = successor;
            // It inherits `an`'s height too, so that the upward walk sees
            // the height this position had before the deletion.
            (*successor).height = (*an).height;
            replace_child(tree, an, successor);
            rebalance_from
        };

        rebalance_upwards(tree, rebalance_from);
    }
}

/// `iv_avl_tree_next`: `an`'s in-order successor, or NULL for the maximum.
#[no_mangle]
pub unsafe extern "C" fn iv_avl_tree_next(an: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: the caller passes a node linked into a tree, so its right
    // subtree and all its ancestors are live nodes.
    unsafe {
        if !(*an).right.is_null() {
            return leftmost((*an).right);
        }
        // Climb until we come up from a left child: that parent is next.
        let mut node = an;
        let mut parent = (*node).parent;
        while !parent.is_null() && (*parent).right == node {
            node = parent;
            parent = (*node).parent;
        }
        parent
    }
}

/// `iv_avl_tree_prev`: `an`'s in-order predecessor, or NULL for the minimum.
#[no_mangle]
pub unsafe extern "C" fn iv_avl_tree_prev(an: *mut IvAvlNode) -> *mut IvAvlNode {
    // SAFETY: the caller passes a node linked into a tree, so its left
    // subtree and all its ancestors are live nodes.
    unsafe {
        if !(*an).left.is_null() {
            return rightmost((*an).left);
        }
        // Climb until we come up from a right child: that parent is previous.
        let mut node = an;
        let mut parent = (*node).parent;
        while !parent.is_null() && (*parent).left == node {
            node = parent;
            parent = (*node).parent;
        }
        parent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element with an embedded node at offset 0, so a node pointer is also
    /// an element pointer.
    #[repr(C)]
    struct Item {
        node: IvAvlNode,
        key: i32,
    }

    unsafe extern "C" fn compare_items(a: *const IvAvlNode, b: *const IvAvlNode) -> c_int {
        // SAFETY: every node handed to these trees is the first field of an
        // `Item`, so the casts recover the items.
        let (a, b) = unsafe { ((*a.cast::<Item>()).key, (*b.cast::<Item>()).key) };
        a.cmp(&b) as c_int
    }

    fn new_item(key: i32) -> Box<Item> {
        Box::new(Item {
            node: IvAvlNode {
                left: ptr::null_mut(),
                right: ptr::null_mut(),
                parent: ptr::null_mut(),
                height: 0,
            },
            key,
        })
    }

    /// Checks links, order and heights below `node`; returns its height.
    unsafe fn check(node: *const IvAvlNode) -> u8 {
        if node.is_null() {
            return 0;
        }
        // SAFETY: `node` is a live node of a tree under test.
        unsafe {
            let (left, right) = ((*node).left, (*node).right);
            for child in [left, right] {
                if !child.is_null() {
                    assert_eq!((*child).parent as *const IvAvlNode, node);
                }
            }
            let (lh, rh) = (check(left), check(right));
            assert!(lh.abs_diff(rh) <= 1, "unbalanced");
            assert_eq!((*node).height, 1 + lh.max(rh));
            (*node).height
        }
    }

    #[test]
    fn insert_delete_walk() {
        let mut tree = IvAvlTree {
            compare: Some(compare_items),
            root: ptr::null_mut(),
        };
        // A fixed pseudo-random permutation of 0..1000.
        let keys: Vec<i32> = (0..1000).map(|i| (i * 389) % 1000).collect();
        let mut items: Vec<Box<Item>> = keys.iter().map(|&k| new_item(k)).collect();
        // SAFETY: the items outlive the tree, and each is inserted once.
        unsafe {
            for item in &mut items {
                assert_eq!(iv_avl_tree_insert(&mut tree, &mut item.node), 0);
                check(tree.root);
            }
            let mut duplicate = new_item(500);
            assert_eq!(iv_avl_tree_insert(&mut tree, &mut duplicate.node), -1);

            // Forward walk visits 0..1000 in order, backward walk the reverse.
            let mut node = leftmost(tree.root);
            for expected in 0..1000 {
                assert_eq!((*node.cast::<Item>()).key, expected);
                node = iv_avl_tree_next(node);
            }
            assert!(node.is_null());
            let mut node = rightmost(tree.root);
            for expected in (0..1000).rev() {
                assert_eq!((*node.cast::<Item>()).key, expected);
                node = iv_avl_tree_prev(node);
            }
            assert!(node.is_null());

            // Delete the even keys, then the rest.
            for item in items.iter_mut().filter(|item| item.key % 2 == 0) {
                iv_avl_tree_delete(&mut tree, &mut item.node);
                check(tree.root);
            }
            let mut node = leftmost(tree.root);
            for expected in (1..1000).step_by(2) {
                assert_eq!((*node.cast::<Item>()).key, expected);
                node = iv_avl_tree_next(node);
            }
            for item in items.iter_mut().filter(|item| item.key % 2 == 1) {
                iv_avl_tree_delete(&mut tree, &mut item.node);
                check(tree.root);
            }
        }
        assert!(tree.root.is_null());
    }
}
