/* The tolerant reader's tree (reasoning._tolerant_tree): the known tags of a block, with the
 * recoveries from broken nesting and their problems, and ElementTree's text and tails. */
#include "tags.h"

static int tree_grow(Tree *t)
{
    if (t->n_nodes == t->cap_nodes) {
        int cap = t->cap_nodes ? 2 * t->cap_nodes : 32;
        Node *n = PyMem_Realloc(t->nodes, sizeof(Node) * (size_t)cap);
        if (n == NULL)
            return -1;
        t->nodes = n;
        t->cap_nodes = cap;
    }
    if (t->n_spans + 1 >= t->cap_spans) {
        int cap = t->cap_spans ? 2 * t->cap_spans : 64;
        Span *s = PyMem_Realloc(t->spans, sizeof(Span) * (size_t)cap);
        if (s == NULL)
            return -1;
        t->spans = s;
        t->cap_spans = cap;
    }
    return 0;
}

static int tree_data(Tree *t, Py_ssize_t a, Py_ssize_t b)
{
    if (b <= a)
        return 0;
    if (tree_grow(t) < 0)
        return -1;
    Span *s = &t->spans[t->n_spans];
    s->a = a;
    s->b = b;
    s->next = -1;
    int *head = t->target_tail ? &t->nodes[t->target].tail : &t->nodes[t->target].text;
    if (*head < 0)
        *head = t->n_spans;
    else
        t->spans[t->last_span].next = t->n_spans;
    t->last_span = t->n_spans++;
    return 0;
}

static int tree_start(Tree *t, int parent, int tag, Py_ssize_t attrs_a, Py_ssize_t attrs_b)
{
    if (tree_grow(t) < 0)
        return -1;
    int i = t->n_nodes++;
    Node *n = &t->nodes[i];
    n->tag = tag;
    n->parent = parent;
    n->first = n->last = n->next = n->text = n->tail = -1;
    n->attrs_a = attrs_a;
    n->attrs_b = attrs_b;
    if (parent >= 0) {
        Node *p = &t->nodes[parent];
        if (p->last >= 0)
            t->nodes[p->last].next = i;
        else
            p->first = i;
        p->last = i;
    }
    t->target = i;
    t->target_tail = 0;
    return i;
}

static void tree_end(Tree *t, int node)
{
    t->target = node;
    t->target_tail = 1;
}

/* reasoning._tolerant_tree over c[pos:end] with the tokenizer k: 0 built, 1 for the Python
 * code (nested deeper than 256), -1 error. */
static int build_tree_with(Tree *t, Tok *tok)
{
    Cur *c = &t->c;
    int stack[256], depth = 0, first = 1, root_closed = 0, found;
    Py_ssize_t pos = c->pos, start = c->pos;
    if (tree_start(t, -1, T_REASONING, 0, 0) < 0)
        return -1;
    stack[depth++] = 0;
    Tok k = *tok;
    while ((found = sp_next_tag(c, pos, &k)) > 0) {
        if (tree_data(t, pos, k.at) < 0)
            return -1;
        pos = k.end;
        if (first && !k.closing && k.tag == T_REASONING && k.at == start) {
            first = 0;
            continue;
        }
        first = 0;
        const char *name = TAGS[k.tag];
        if (k.closing) {
            int d = depth - 1;
            while (d >= 0 && t->nodes[stack[d]].tag != k.tag)
                d--;
            if (d < 0) {
                if (problem(t->problems, PyUnicode_FromFormat("stray </%s> ignored", name)) < 0)
                    return -1;
                continue;
            }
            while (t->nodes[stack[depth - 1]].tag != k.tag) {
                if (problem(t->problems, PyUnicode_FromFormat(
                        "unclosed <%s> closed by </%s>", TAGS[t->nodes[stack[depth - 1]].tag],
                        name)) < 0)
                    return -1;
                tree_end(t, stack[--depth]);
            }
            if (k.tag == T_REASONING && depth == 1) {
                root_closed = 1;
                continue;
            }
            tree_end(t, stack[--depth]);
            continue;
        }
        if (BIT(t->nodes[stack[depth - 1]].tag) & LEAF_TAGS) {
            if (problem(t->problems, PyUnicode_FromFormat(
                    "unclosed <%s> closed by <%s>", TAGS[t->nodes[stack[depth - 1]].tag],
                    name)) < 0)
                return -1;
            tree_end(t, stack[--depth]);
        }
        if (BIT(k.tag) & REOPEN_TAGS) {
            int d = depth - 1;
            while (d >= 0 && t->nodes[stack[d]].tag != k.tag)
                d--;
            if (d >= 0) {
                while (t->nodes[stack[depth - 1]].tag != k.tag) {
                    if (problem(t->problems, PyUnicode_FromFormat(
                            "unclosed <%s> closed by <%s>",
                            TAGS[t->nodes[stack[depth - 1]].tag], name)) < 0)
                        return -1;
                    tree_end(t, stack[--depth]);
                }
                if (problem(t->problems, PyUnicode_FromFormat(
                        "unclosed <%s> closed by the next <%s>", name, name)) < 0)
                    return -1;
                tree_end(t, stack[--depth]);
            }
        }
        int node = tree_start(t, stack[depth - 1], k.tag, k.attrs_a, k.attrs_b);
        if (node < 0)
            return -1;
        if (k.selfclose)
            tree_end(t, node);
        else if (depth == (int)(sizeof stack / sizeof *stack))
            return 1; /* nested deeper than any real block: for the Python code */
        else
            stack[depth++] = node;
    }
    if (found < 0)
        return -1;
    if (tree_data(t, pos, c->end) < 0)
        return -1;
    while (depth > 1) {
        if (problem(t->problems, PyUnicode_FromFormat(
                "unclosed <%s>", TAGS[t->nodes[stack[depth - 1]].tag])) < 0)
            return -1;
        depth--;
    }
    if (!root_closed &&
        problem(t->problems, PyUnicode_FromString("unclosed <reasoning>")) < 0)
        return -1;
    return 0;
}

/* build_tree_with, with the tokenizer's memo of failed positions for the whole block. */
int sp_build_tree(Tree *t)
{
    Tok k;
    memset(&k, 0, sizeof k);
    k.failed_base = t->c.pos;
    k.failed = PyMem_Calloc((size_t)((t->c.end - t->c.pos) / 8 + 1), 1);
    if (k.failed == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = build_tree_with(t, &k);
    PyMem_Free(k.failed);
    return rc;
}
