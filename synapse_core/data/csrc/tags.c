/* The tag tokenizer of the tolerant reader: reasoning._TAG_RE's matches, with the regex's
 * backtracking order (and a memo of the positions where a tag's rest cannot match). */
#include "tags.h"

static int known_failure(const Tok *t, Py_ssize_t k)
{
    Py_ssize_t i = k - t->failed_base;
    return t->failed != NULL && (t->failed[i >> 3] >> (i & 7)) & 1;
}

static Py_ssize_t note_failure(const Cur *c, Tok *t, Py_ssize_t k)
{
    if (t->failed == NULL) {
        t->failed = PyMem_Calloc((size_t)((c->end - t->failed_base) / 8 + 1), 1);
        if (t->failed == NULL) /* no memory for the shortcut: search on without it */
            return -1;
    }
    Py_ssize_t i = k - t->failed_base;
    t->failed[i >> 3] |= (unsigned char)(1u << (i & 7));
    return -1;
}

/* _TAG_RE's (?:\s+[\w-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))*\s*(/?)> from k, with the
 * regex's backtracking order: one more attribute first (each value form in turn), then the end.
 * Returns the position after ">" or -1. (A shorter [^\s>]* value never helps: what follows it
 * is neither a space nor ">".) */
static Py_ssize_t tag_rest(const Cur *c, Py_ssize_t k, Tok *t, int depth)
{
    if (t->too_deep || depth > 1000) { /* over a thousand attributes: for the Python code */
        t->too_deep = 1;
        return -1;
    }
    if (known_failure(t, k))
        return -1;
    Py_ssize_t j = k;
    while (j < c->end && Py_UNICODE_ISSPACE(at(c, j)))
        j++;
    if (j > k) { /* \s+[\w-]+\s*=\s* */
        Py_ssize_t n = j;
        while (n < c->end && (is_word(at(c, n)) || at(c, n) == '-'))
            n++;
        if (n > j) {
            Py_ssize_t e = n;
            while (e < c->end && Py_UNICODE_ISSPACE(at(c, e)))
                e++;
            if (e < c->end && at(c, e) == '=') {
                Py_ssize_t eq = ++e;
                while (e < c->end && Py_UNICODE_ISSPACE(at(c, e)))
                    e++;
                if (e < c->end && (at(c, e) == '"' || at(c, e) == '\'')) {
                    Py_UCS4 q = at(c, e);
                    Py_ssize_t f = e + 1;
                    while (f < c->end && at(c, f) != q)
                        f++;
                    if (f < c->end) {
                        Py_ssize_t r = tag_rest(c, f + 1, t, depth + 1);
                        if (r >= 0)
                            return r;
                    }
                }
                Py_ssize_t f = e;
                while (f < c->end && !Py_UNICODE_ISSPACE(at(c, f)) && at(c, f) != '>')
                    f++;
                Py_ssize_t r = tag_rest(c, f, t, depth + 1);
                if (r >= 0)
                    return r;
                if (e > eq) { /* then \s* gives a space back: an empty value before it */
                    r = tag_rest(c, e - 1, t, depth + 1);
                    if (r >= 0)
                        return r;
                }
            }
        }
    }
    /* \s*(/?)> */
    t->attrs_b = k;
    t->selfclose = j < c->end && at(c, j) == '/';
    if (t->selfclose && j + 1 < c->end && at(c, j + 1) == '>')
        return j + 2;
    t->selfclose = 0;
    if (j < c->end && at(c, j) == '>')
        return j + 1;
    return depth > 0 && !t->too_deep ? note_failure(c, t, k) : -1;
}

/* The next _TAG_RE match at or after pos (0: none). */
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
        t->attrs_a = t->failed_base = j;
        t->failed = NULL;
        Py_ssize_t e = tag_rest(c, j, t, 0);
        PyMem_Free(t->failed);
        t->failed = NULL;
        if (t->too_deep)
            return 0;
        if (e < 0)
            continue;
        t->at = i;
        t->end = e;
        return 1;
    }
    return 0;
}
