/* The tolerant reader: its tags, tag tokenizer (tags.c), tree (tree.c) and reading
 * (tolerant.c). */
#ifndef SYNAPSE_TAGS_H
#define SYNAPSE_TAGS_H

#include "speedups.h"

/* The tags, as in config.REASONING_TAGS; kinds of each as the tolerant parser sorts them. */
enum {
    T_REASONING, T_MEM, T_GOAL, T_SUBGOAL, T_PROG, T_DONE, T_NOW, T_CTX, T_KG, T_TRI, T_SUBJ,
    T_PRED, T_OBJ, T_LOGIC, T_PROP, T_SYM, T_NAT, T_CRIT, T_DOUBT, T_PROOF, T_STEP, T_CHAIN,
    T_REFLECT, T_ERR, T_NOTE, T_WARN, T_VERB, T_CONT, T_N
};
static const char *const TAGS[T_N] = {
    "reasoning", "mem", "goal", "subgoal", "prog", "done", "now", "ctx", "kg", "tri", "subj",
    "pred", "obj", "logic", "prop", "sym", "nat", "crit", "doubt", "proof", "step", "chain",
    "reflect", "err", "note", "warn", "verb", "cont"};
#define BIT(t) (1u << (t))
static const unsigned LEAF_TAGS = BIT(T_GOAL) | BIT(T_SUBGOAL) | BIT(T_DONE) | BIT(T_NOW) |
                                  BIT(T_CTX) | BIT(T_SUBJ) | BIT(T_PRED) | BIT(T_OBJ) |
                                  BIT(T_SYM) | BIT(T_NAT) | BIT(T_STEP) | BIT(T_REFLECT) |
                                  BIT(T_CONT) | BIT(T_ERR) | BIT(T_NOTE) | BIT(T_WARN) | BIT(T_VERB);
static const unsigned REOPEN_TAGS = BIT(T_TRI) | BIT(T_PROP) | BIT(T_PROOF) | BIT(T_CRIT) |
                                    BIT(T_DOUBT) | BIT(T_MEM) | BIT(T_KG) | BIT(T_LOGIC) |
                                    BIT(T_CHAIN) | BIT(T_PROG);
static const unsigned CONTAINER_TAGS = BIT(T_REASONING) | BIT(T_MEM) | BIT(T_PROG) | BIT(T_KG) |
                                       BIT(T_LOGIC) | BIT(T_CHAIN);
static const unsigned LOGIC_TAGS = BIT(T_PROP) | BIT(T_PROOF) | BIT(T_CRIT) | BIT(T_DOUBT);
static const unsigned EXTRA_TAGS = BIT(T_REFLECT) | BIT(T_CONT) | BIT(T_ERR) | BIT(T_NOTE) |
                                   BIT(T_WARN) | BIT(T_VERB);
static const signed char EXPECTED[T_N] = {
    [T_REASONING] = -1, [T_MEM] = T_REASONING, [T_GOAL] = T_MEM, [T_SUBGOAL] = T_MEM,
    [T_PROG] = T_MEM, [T_DONE] = T_PROG, [T_NOW] = T_PROG, [T_CTX] = T_MEM,
    [T_KG] = T_REASONING, [T_TRI] = T_KG, [T_SUBJ] = -1, [T_PRED] = -1, [T_OBJ] = -1,
    [T_LOGIC] = T_REASONING, [T_PROP] = T_LOGIC, [T_SYM] = -1, [T_NAT] = -1,
    [T_CRIT] = T_LOGIC, [T_DOUBT] = T_LOGIC, [T_PROOF] = T_LOGIC, [T_STEP] = T_CHAIN,
    [T_CHAIN] = T_REASONING, [T_REFLECT] = -1, [T_ERR] = -1, [T_NOTE] = -1, [T_WARN] = -1,
    [T_VERB] = -1, [T_CONT] = -1};

/* One match of reasoning._TAG_RE. */
typedef struct {
    Py_ssize_t at, end, attrs_a, attrs_b;
    int closing, tag, selfclose;
    /* positions (bit k - failed_base) from which the rest of a tag cannot match, for the
     * whole block: the caller allocates it, one bit a character, zeroed */
    unsigned char *failed;
    Py_ssize_t failed_base;
} Tok;

/* The next match of reasoning._TAG_RE in c at or after pos: 1 found, 0 none, -1 out of
 * memory (the error is set). */
int sp_next_tag(const Cur *c, Py_ssize_t pos, Tok *t);

/* tree.c: the tree of a block */
/* The tree: nodes in document order, each with its text and its tail as lists of spans. */
typedef struct {
    int tag, parent, first, last, next;
    int text, tail; /* first span, -1: none */
    Py_ssize_t attrs_a, attrs_b;
} Node;
typedef struct {
    Py_ssize_t a, b;
    int next;
} Span;

typedef struct {
    Cur c;
    Node *nodes;
    Span *spans;
    int n_nodes, cap_nodes, n_spans, cap_spans;
    int target, target_tail, last_span; /* where text goes now (ElementTree's TreeBuilder) */
    PyObject *problems;
} Tree;

/* reasoning._tolerant_tree over t->c: 0 built, 1 for the Python code (nested deeper than
 * 256), -1 error. */
int sp_build_tree(Tree *t);

#endif
