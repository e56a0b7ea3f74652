/* The tag tokenizer of the tolerant reader: reasoning._TAG_RE's matches, with the regex's
 * backtracking order, in linear time (a memo of the positions where a tag's rest cannot
 * match). */
#include "tags.h"

static int known_failure(const Tok *t, Py_ssize_t k)
{
    Py_ssize_t i = k - t->failed_base;
    return (t->failed[i >> 3] >> (i & 7)) & 1;
}

static void note_failure(Tok *t, Py_ssize_t k)
{
    Py_ssize_t i = k - t->failed_base;
    t->failed[i >> 3] |= (unsigned char)(1u << (i & 7));
}

/* One position of the search below: where the rest of a tag is tried from, and the positions
 * after each way one more attribute can be read there (-1: that way does not apply). */
typedef struct {
    Py_ssize_t k, j, child[3];
    int next;
} Frame;

/* The attribute ways at f->k, in the regex's order: a quoted value (to its closing quote), an
 * unquoted [^\s>]* value (greedy; a shorter one never helps: what follows it is neither a
 * space nor ">"), an empty value when \s* gives back the last space after "=". */
static void ways(const Cur *c, Frame *f)
{
    Py_ssize_t k = f->k, j = k;
    f->child[0] = f->child[1] = f->child[2] = -1;
    f->next = 0;
    while (j < c->end && Py_UNICODE_ISSPACE(at(c, j)))
        j++;
    f->j = j;
    if (j == k) /* \s+ */
        return;
    Py_ssize_t n = j; /* [\w-]+ */
    while (n < c->end && (is_word(at(c, n)) || at(c, n) == '-'))
        n++;
    if (n == j)
        return;
    Py_ssize_t e = n; /* \s*=\s* */
    while (e < c->end && Py_UNICODE_ISSPACE(at(c, e)))
        e++;
    if (!(e < c->end && at(c, e) == '='))
        return;
    Py_ssize_t eq = ++e;
    while (e < c->end && Py_UNICODE_ISSPACE(at(c, e)))
        e++;
    if (e < c->end && (at(c, e) == '"' || at(c, e) == '\'')) {
        Py_UCS4 q = at(c, e);
        Py_ssize_t g = e + 1;
        while (g < c->end && at(c, g) != q)
            g++;
        if (g < c->end)
            f->child[0] = g + 1;
    }
    Py_ssize_t g = e;
    while (g < c->end && !Py_UNICODE_ISSPACE(at(c, g)) && at(c, g) != '>')
        g++;
    f->child[1] = g;
    if (e > eq)
        f->child[2] = e - 1;
}

/* _TAG_RE's (?:\s+[\w-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))*\s*(/?)> from k, as the regex
 * backtracks: one more attribute first (each way in turn), then the end of the tag. Whether
 * the rest matches from a position does not depend on what came before it, so the positions
 * where it failed are remembered for the whole block (t->failed): every position is searched
 * once, where the regex can take exponential time. An explicit stack, so any number of
 * attributes is fine. Returns the position after ">", -1 for no match, -2 out of memory. */
static Py_ssize_t tag_rest(const Cur *c, Py_ssize_t k, Tok *t)
{
    if (known_failure(t, k))
        return -1;
    Py_ssize_t depth = 0, cap = 16, out = -1;
    Frame *stack = PyMem_Malloc(sizeof(Frame) * (size_t)cap);
    if (stack == NULL)
        return -2;
    stack[0].k = k;
    ways(c, &stack[0]);
    while (depth >= 0) {
        Frame *f = &stack[depth];
        Py_ssize_t child = -1;
        while (f->next < 3 && child < 0) {
            Py_ssize_t cand = f->child[f->next++];
            if (cand >= 0 && !known_failure(t, cand))
                child = cand;
        }
        if (child >= 0) {
            if (depth + 1 == cap) {
                cap *= 2;
                Frame *grown = PyMem_Realloc(stack, sizeof(Frame) * (size_t)cap);
                if (grown == NULL) {
                    out = -2;
                    break;
                }
                stack = grown;
                f = &stack[depth];
            }
            stack[++depth].k = child;
            ways(c, &stack[depth]);
            continue;
        }
        Py_ssize_t j = f->j; /* \s*(/?)> */
        if (j + 1 < c->end && at(c, j) == '/' && at(c, j + 1) == '>') {
            t->attrs_b = f->k;
            t->selfclose = 1;
            out = j + 2;
            break;
        }
        if (j < c->end && at(c, j) == '>') {
            t->attrs_b = f->k;
            t->selfclose = 0;
            out = j + 1;
            break;
        }
        note_failure(t, f->k);
        depth--;
    }
    PyMem_Free(stack);
    return out;
}

/* The next _TAG_RE match at or after pos: 1 found, 0 none, -1 out of memory (error set). */
int sp_next_tag(const Cur *c, Py_ssize_t pos, Tok *t)
{
    for (Py_ssize_t i = pos; i < c->end; i++) {
        if (at(c, i) != '<')
            continue;
        Py_ssize_t j = i + 1;
        t->closing = j < c->end && at(c, j) == '/';
        j += t->closing;
        t->tag = -1;
        for (int k = 0; k < T_N; k++) { /* no tag is a prefix of another: one can match */
            Py_ssize_t n = (Py_ssize_t)strlen(TAGS[k]), m = 0;
            while (m < n && j + m < c->end && at(c, j + m) == (Py_UCS4)TAGS[k][m])
                m++;
            if (m == n && (j + n == c->end || !is_word(at(c, j + n)))) {
                t->tag = k;
                j += n;
                break;
            }
        }
        if (t->tag < 0)
            continue;
        t->attrs_a = j;
        Py_ssize_t e = tag_rest(c, j, t);
        if (e == -2)
            return -1;
        if (e < 0)
            continue;
        t->at = i;
        t->end = e;
        return 1;
    }
    return 0;
}

/* The end of the last closing tag (a _TAG_RE match with "/") in text, -1 if none: how
 * reasoning.split_inline_reasoning cuts a block that lacks "</reasoning>". */
PyObject *sp_last_closing_end(PyObject *self, PyObject *arg)
{
    (void)self;
    if (require_str(arg, "last_closing_end") < 0)
        return NULL;
    Cur c = {arg, PyUnicode_KIND(arg), PyUnicode_DATA(arg), 0, PyUnicode_GET_LENGTH(arg)};
    Tok k;
    memset(&k, 0, sizeof k);
    k.failed = PyMem_Calloc((size_t)(c.end / 8 + 1), 1);
    if (k.failed == NULL)
        return PyErr_NoMemory();
    Py_ssize_t pos = 0, last = -1;
    int found;
    while ((found = sp_next_tag(&c, pos, &k)) > 0) {
        if (k.closing)
            last = k.end;
        pos = k.end;
    }
    PyMem_Free(k.failed);
    return found < 0 ? NULL : PyLong_FromSsize_t(last);
}
