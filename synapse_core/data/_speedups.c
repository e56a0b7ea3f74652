/* Optional compiled helpers for loading a dataset fast (synapse_core.data.compiled).
 *
 * reasoning_summary(text) reads a reasoning block in the canonical schema (the grammar of
 * reasoning._CANONICAL_RE) in one pass and returns what fastrow.summarize_reasoning returns
 * for it, or None for anything else (a broken block, a step attribute it does not read
 * plainly): the caller then runs the Python code, which always decides. any_in(hay, needles)
 * says whether any of the byte strings occurs in hay.
 *
 * Every result is checked against the Python code, row by row and on fuzzed blocks, in
 * tests/core/test_data_speedups.py. Without a C compiler the package works the same, slower.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    PyObject *s;       /* the str */
    int kind;
    const void *data;
    Py_ssize_t pos, end;
} Cur;

static inline Py_UCS4 at(const Cur *c, Py_ssize_t i) { return PyUnicode_READ(c->kind, c->data, i); }

static inline void skip_ws(Cur *c)
{
    while (c->pos < c->end && Py_UNICODE_ISSPACE(at(c, c->pos)))
        c->pos++;
}

/* Consume the ASCII literal lit when it stands at the cursor. */
static int lit(Cur *c, const char *lit)
{
    Py_ssize_t n = (Py_ssize_t)strlen(lit);
    if (c->end - c->pos < n)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (at(c, c->pos + i) != (Py_UCS4)(unsigned char)lit[i])
            return 0;
    c->pos += n;
    return 1;
}

/* [^<]* : the text of a leaf; returns its start, leaves the cursor on the "<" (or the end). */
static Py_ssize_t text(Cur *c)
{
    Py_ssize_t start = c->pos, i = c->pos, end = c->end;
    switch (c->kind) { /* one typed loop per width: this is where a block's time goes */
    case PyUnicode_1BYTE_KIND: {
        const char *p = (const char *)c->data;
        const char *lt = memchr(p + i, '<', (size_t)(end - i));
        i = lt ? (Py_ssize_t)(lt - p) : end;
        break;
    }
    case PyUnicode_2BYTE_KIND: {
        const Py_UCS2 *p = (const Py_UCS2 *)c->data;
        while (i < end && p[i] != '<')
            i++;
        break;
    }
    default: {
        const Py_UCS4 *p = (const Py_UCS4 *)c->data;
        while (i < end && p[i] != '<')
            i++;
    }
    }
    c->pos = i;
    return start;
}

/* [^"<>]* then a closing quote; returns the value's start or -1. */
static Py_ssize_t attr_value(Cur *c)
{
    Py_ssize_t start = c->pos;
    while (c->pos < c->end) {
        Py_UCS4 ch = at(c, c->pos);
        if (ch == '"' || ch == '<' || ch == '>')
            break;
        c->pos++;
    }
    if (c->pos >= c->end || at(c, c->pos) != '"')
        return -1;
    c->pos++;
    return start;
}

/* Non-blank: holds a character str.strip() keeps. */
static int nonblank(const Cur *c, Py_ssize_t a, Py_ssize_t b)
{
    for (; a < b; a++)
        if (!Py_UNICODE_ISSPACE(at(c, a)))
            return 1;
    return 0;
}

/* text[a:b].strip() as a str, interned: a graph's names repeat from triplet to triplet, and
 * marshal sends a repeated object once (the reading process then keeps one copy). */
static PyObject *stripped(const Cur *c, Py_ssize_t a, Py_ssize_t b)
{
    while (a < b && Py_UNICODE_ISSPACE(at(c, a)))
        a++;
    while (b > a && Py_UNICODE_ISSPACE(at(c, b - 1)))
        b--;
    PyObject *s = PyUnicode_Substring(c->s, a, b);
    if (s != NULL && PyUnicode_CheckExact(s))
        PyUnicode_InternInPlace(&s);
    return s;
}

/* Digits of an int a step may name without the Python reading: plain ASCII, at most 18. */
static int ascii_int(const Cur *c, Py_ssize_t a, Py_ssize_t b, long long *out)
{
    if (b <= a || b - a > 18)
        return 0;
    long long v = 0;
    for (; a < b; a++) {
        Py_UCS4 ch = at(c, a);
        if (ch < '0' || ch > '9')
            return 0;
        v = v * 10 + (ch - '0');
    }
    *out = v;
    return 1;
}

enum { M_GOAL, M_SUBGOAL, M_CTX, M_DONE, M_NOW, M_N };
static const char *const MEM_NAMES[M_N] = {"goal", "subgoal", "ctx", "done", "now"};

typedef struct {
    Cur c;
    Py_ssize_t mem_a[M_N], mem_b[M_N]; /* the last value of each memory leaf, -1: none */
    PyObject *triplets, *malformed, *steps, *problems;
    long n_tri, n_items, both;
    int fallback; /* 1: the Python code must read this block (not an error) */
} Reader;

static int add_problem(Reader *r, PyObject *msg)
{
    if (msg == NULL)
        return -1;
    int rc = PyList_Append(r->problems, msg);
    Py_DECREF(msg);
    return rc;
}

/* A leaf <name>text</name> whose "<name>" was consumed; a memory leaf is kept. */
static int leaf(Reader *r, const char *name, int mem)
{
    Cur *c = &r->c;
    Py_ssize_t a = text(c), b = c->pos;
    if (!lit(c, "</") || !lit(c, name) || !lit(c, ">"))
        return 0;
    if (mem >= 0) {
        if (r->mem_a[mem] >= 0 &&
            add_problem(r, PyUnicode_FromFormat("repeated <%s>", MEM_NAMES[mem])) < 0)
            return -1;
        r->mem_a[mem] = a;
        r->mem_b[mem] = b;
    }
    return 1;
}

static const char *const EXTRAS[] = {"reflect", "cont", "err", "note", "warn", "verb", NULL};

/* One of <reflect> <cont> <err> <note> <warn> <verb> with its text: 1 read, 0 none/not it. */
static int extra(Reader *r)
{
    Cur *c = &r->c;
    Py_ssize_t save = c->pos;
    for (int i = 0; EXTRAS[i]; i++) {
        if (lit(c, "<") && lit(c, EXTRAS[i]) && lit(c, ">"))
            return leaf(r, EXTRAS[i], -1);
        c->pos = save;
    }
    return 0;
}

static int mem_section(Reader *r)
{
    Cur *c = &r->c;
    for (;;) {
        skip_ws(c);
        if (lit(c, "</mem>"))
            return 1;
        int ok;
        if (lit(c, "<goal>"))
            ok = leaf(r, "goal", M_GOAL);
        else if (lit(c, "<subgoal>"))
            ok = leaf(r, "subgoal", M_SUBGOAL);
        else if (lit(c, "<ctx>"))
            ok = leaf(r, "ctx", M_CTX);
        else if (lit(c, "<prog>")) {
            ok = 0;
            for (;;) {
                skip_ws(c);
                if (lit(c, "</prog>")) {
                    ok = 1;
                    break;
                }
                int got = lit(c, "<done>") ? leaf(r, "done", M_DONE)
                          : lit(c, "<now>") ? leaf(r, "now", M_NOW) : 0;
                if (got <= 0) {
                    ok = got;
                    break;
                }
            }
        } else
            return 0;
        if (ok <= 0)
            return ok;
    }
}

static int kg_section(Reader *r)
{
    Cur *c = &r->c;
    static const char *const PARTS[3] = {"subj", "pred", "obj"};
    for (;;) {
        skip_ws(c);
        if (lit(c, "</kg>"))
            return 1;
        if (!lit(c, "<tri>"))
            return 0;
        Py_ssize_t a[3], b[3];
        for (int i = 0; i < 3; i++) {
            skip_ws(c);
            if (!lit(c, "<") || !lit(c, PARTS[i]) || !lit(c, ">"))
                return 0;
            a[i] = text(c);
            b[i] = c->pos;
            if (!lit(c, "</") || !lit(c, PARTS[i]) || !lit(c, ">"))
                return 0;
        }
        skip_ws(c);
        if (!lit(c, "</tri>"))
            return 0;
        r->n_tri++;
        PyObject *v[3] = {NULL, NULL, NULL};
        int empty[3], n_empty = 0;
        for (int i = 0; i < 3; i++) {
            v[i] = stripped(c, a[i], b[i]);
            if (v[i] == NULL) {
                Py_XDECREF(v[0]);
                Py_XDECREF(v[1]);
                return -1;
            }
            empty[i] = PyUnicode_GET_LENGTH(v[i]) == 0;
            n_empty += empty[i];
        }
        if (n_empty == 0) {
            PyObject *t = PyTuple_Pack(3, v[0], v[1], v[2]);
            Py_DECREF(v[0]);
            Py_DECREF(v[1]);
            Py_DECREF(v[2]);
            if (t == NULL || PyList_Append(r->triplets, t) < 0) {
                Py_XDECREF(t);
                return -1;
            }
            Py_DECREF(t);
            continue;
        }
        Py_DECREF(v[0]);
        Py_DECREF(v[1]);
        Py_DECREF(v[2]);
        PyObject *msg;
        if (n_empty == 3)
            msg = PyUnicode_FromFormat("triplet %ld is empty", r->n_tri);
        else {
            char missing[32] = "";
            for (int i = 0; i < 3; i++)
                if (empty[i]) {
                    if (missing[0])
                        strcat(missing, "/");
                    strcat(missing, PARTS[i]);
                }
            msg = PyUnicode_FromFormat("triplet %ld lacks %s", r->n_tri, missing);
        }
        if (msg == NULL || PyList_Append(r->malformed, msg) < 0) {
            Py_XDECREF(msg);
            return -1;
        }
        Py_DECREF(msg);
    }
}

static int logic_section(Reader *r)
{
    Cur *c = &r->c;
    static const char *const KINDS[] = {"prop", "proof", "crit", "doubt", NULL};
    for (;;) {
        skip_ws(c);
        if (lit(c, "</logic>"))
            return 1;
        const char *kind = NULL;
        Py_ssize_t save = c->pos;
        for (int i = 0; KINDS[i] && !kind; i++) {
            if (lit(c, "<") && lit(c, KINDS[i]) && lit(c, ">"))
                kind = KINDS[i];
            else
                c->pos = save;
        }
        if (!kind)
            return 0;
        int sym = 0, nat = 0;
        skip_ws(c);
        if (lit(c, "<sym>")) {
            Py_ssize_t a = text(c), b = c->pos;
            if (!lit(c, "</sym>"))
                return 0;
            sym = nonblank(c, a, b);
            skip_ws(c);
        }
        if (lit(c, "<nat>")) {
            Py_ssize_t a = text(c), b = c->pos;
            if (!lit(c, "</nat>"))
                return 0;
            nat = nonblank(c, a, b);
            skip_ws(c);
        }
        if (!lit(c, "</") || !lit(c, kind) || !lit(c, ">"))
            return 0;
        r->n_items++;
        r->both += sym && nat;
    }
}

static int is_dep_sep(Py_UCS4 ch) { return ch == ',' || ch == ';' || Py_UNICODE_ISSPACE(ch); }

/* The (index, depends_on) of a step whose attributes were read; sets fallback when the
 * Python reading would report a problem or read them otherwise. */
static int add_step(Reader *r, Py_ssize_t ia, Py_ssize_t ib, Py_ssize_t da, Py_ssize_t db)
{
    Cur *c = &r->c;
    long long index, dep;
    if (ia < 0 || !ascii_int(c, ia, ib, &index)) {
        r->fallback = 1;
        return 0;
    }
    PyObject *deps = PyList_New(0);
    if (deps == NULL)
        return -1;
    Py_ssize_t i = da < 0 ? db : da;
    while (i < db) {
        while (i < db && is_dep_sep(at(c, i)))
            i++;
        Py_ssize_t j = i;
        while (j < db && !is_dep_sep(at(c, j)))
            j++;
        if (j > i) {
            PyObject *v;
            if (!ascii_int(c, i, j, &dep)) {
                Py_DECREF(deps);
                r->fallback = 1;
                return 0;
            }
            v = PyLong_FromLongLong(dep);
            if (v == NULL || PyList_Append(deps, v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(deps);
                return -1;
            }
            Py_DECREF(v);
        }
        i = j;
    }
    PyObject *tdeps = PyList_AsTuple(deps);
    Py_DECREF(deps);
    if (tdeps == NULL)
        return -1;
    PyObject *step = Py_BuildValue("(LN)", index, tdeps);
    if (step == NULL || PyList_Append(r->steps, step) < 0) {
        Py_XDECREF(step);
        return -1;
    }
    Py_DECREF(step);
    return 1;
}

/* <step( index="…")?( depends_on="…")?\s*> text </step>, after "<step" was consumed */
static int step(Reader *r)
{
    Cur *c = &r->c;
    Py_ssize_t ia = -1, ib = -1, da = -1, db = -1, save = c->pos;
    skip_ws(c);
    if (c->pos > save && lit(c, "index=\"")) {
        ia = attr_value(c);
        if (ia < 0)
            return 0;
        ib = c->pos - 1;
        save = c->pos;
        skip_ws(c);
    }
    if (c->pos > save && lit(c, "depends_on=\"")) {
        da = attr_value(c);
        if (da < 0)
            return 0;
        db = c->pos - 1;
        skip_ws(c);
    }
    if (!lit(c, ">"))
        return 0;
    text(c);
    if (!lit(c, "</step>"))
        return 0;
    return add_step(r, ia, ib, da, db);
}

static int chain_section(Reader *r)
{
    Cur *c = &r->c;
    for (;;) {
        skip_ws(c);
        if (lit(c, "</chain>"))
            return 1;
        int ok = lit(c, "<step") ? step(r) : extra(r);
        if (ok <= 0)
            return ok;
    }
}

/* The sections up to "</reasoning>" (or, for a block given without its outer tags, up to
 * the end): 1 canonical, 0 not, -1 error. */
static int sections(Reader *r, int wrapped)
{
    Cur *c = &r->c;
    for (;;) {
        skip_ws(c);
        if (wrapped ? c->pos == c->end : lit(c, "</reasoning>"))
            break;
        int ok = lit(c, "<mem>")     ? mem_section(r)
                 : lit(c, "<kg>")    ? kg_section(r)
                 : lit(c, "<logic>") ? logic_section(r)
                 : lit(c, "<chain>") ? chain_section(r)
                                     : extra(r);
        if (ok <= 0 || r->fallback)
            return ok;
    }
    skip_ws(c);
    return c->pos == c->end;
}

static int last_nonblank(Reader *r, int m)
{
    return r->mem_a[m] >= 0 && nonblank(&r->c, r->mem_a[m], r->mem_b[m]);
}

static PyObject *tolerant_of(PyObject *arg, Py_ssize_t pos, Py_ssize_t end);

/* The summary of the block text[pos:end] (None: for the Python code), as
 * fastrow.summarize_reasoning_py(text[pos:end]). */
static PyObject *summary_of(PyObject *text, Py_ssize_t pos, Py_ssize_t end)
{
    Reader r;
    memset(&r, 0, sizeof r);
    r.c.s = text;
    r.c.kind = PyUnicode_KIND(text);
    r.c.data = PyUnicode_DATA(text);
    r.c.pos = pos;
    r.c.end = end;
    for (int i = 0; i < M_N; i++)
        r.mem_a[i] = r.mem_b[i] = -1;
    /* text.strip(); a block without its outer tags is read as if wrapped in them */
    skip_ws(&r.c);
    while (r.c.end > r.c.pos && Py_UNICODE_ISSPACE(at(&r.c, r.c.end - 1)))
        r.c.end--;
    int wrapped = !lit(&r.c, "<reasoning");
    if (!wrapped && !lit(&r.c, ">"))
        Py_RETURN_NONE;
    r.triplets = PyList_New(0);
    r.malformed = PyList_New(0);
    r.steps = PyList_New(0);
    r.problems = PyList_New(0);
    PyObject *out = NULL;
    if (!r.triplets || !r.malformed || !r.steps || !r.problems)
        goto done;
    int ok = sections(&r, wrapped);
    if (ok < 0)
        goto done;
    if (ok == 0 && !r.fallback) {
        out = tolerant_of(text, pos, end);
        goto done;
    }
    if (r.fallback) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(r.malformed);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyList_Append(r.problems, PyList_GET_ITEM(r.malformed, i)) < 0)
            goto done;
    out = Py_BuildValue("(OOOOllOO)", last_nonblank(&r, M_GOAL) ? Py_True : Py_False,
                        last_nonblank(&r, M_DONE) || last_nonblank(&r, M_NOW) ? Py_True : Py_False,
                        r.triplets, r.malformed, r.n_items, r.both, r.steps, r.problems);
done:
    Py_XDECREF(r.triplets);
    Py_XDECREF(r.malformed);
    Py_XDECREF(r.steps);
    Py_XDECREF(r.problems);
    return out;
}

static PyObject *reasoning_summary(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "reasoning_summary() takes a str");
        return NULL;
    }
    return summary_of(arg, 0, PyUnicode_GET_LENGTH(arg));
}

static PyObject *CLOSE_TAG; /* "</reasoning>" */

/* For a reply that starts (after blanks) with "<reasoning" and holds "</reasoning>": the
 * answer after the block, stripped, and the block's summary, as reasoning.split_inline_reasoning
 * and fastrow.summarize_reasoning_py read them; None for anything else. */
static PyObject *inline_summary(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "inline_summary() takes a str");
        return NULL;
    }
    Cur c = {arg, PyUnicode_KIND(arg), PyUnicode_DATA(arg), 0, PyUnicode_GET_LENGTH(arg)};
    if (!(c.end > 0 && at(&c, 0) == '<'))
        skip_ws(&c); /* content.lstrip() unless it starts with the tag */
    Py_ssize_t start = c.pos;
    if (!lit(&c, "<reasoning"))
        Py_RETURN_NONE;
    Py_ssize_t found = PyUnicode_Find(arg, CLOSE_TAG, start, c.end, 1);
    if (found < -1)
        return NULL;
    if (found == -1)
        Py_RETURN_NONE;
    Py_ssize_t cut = found + PyUnicode_GET_LENGTH(CLOSE_TAG);
    PyObject *summary = summary_of(arg, start, cut);
    if (summary == NULL || summary == Py_None)
        return summary;
    Py_ssize_t a = cut, b = c.end;
    while (a < b && Py_UNICODE_ISSPACE(at(&c, a)))
        a++;
    while (b > a && Py_UNICODE_ISSPACE(at(&c, b - 1)))
        b--;
    PyObject *answer = PyUnicode_Substring(arg, a, b);
    if (answer == NULL) {
        Py_DECREF(summary);
        return NULL;
    }
    return Py_BuildValue("(NN)", answer, summary);
}

static PyObject *any_in(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "any_in(hay: bytes, needles: tuple[bytes, ...])");
        return NULL;
    }
    const char *hay = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]), k = PyTuple_GET_SIZE(args[1]);
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *w = PyTuple_GET_ITEM(args[1], i);
        if (!PyBytes_Check(w)) {
            PyErr_SetString(PyExc_TypeError, "any_in(): needles must be bytes");
            return NULL;
        }
        Py_ssize_t m = PyBytes_GET_SIZE(w);
        if (m == 0 || (m <= n && memmem(hay, (size_t)n, PyBytes_AS_STRING(w), (size_t)m)))
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}


/* ---- scoring.conversation_quality's repetition ---------------------------------------- */

/* The pieces of text[a:b] between single . ! ? or newlines that are over 20 characters,
 * stripped, as (start, end, hash); one typed loop per width. Returns their number, or -1
 * when out of memory; *out is PyMem-allocated (free it). */
#define PIECES(T)                                                                              \
    static Py_ssize_t pieces_##T(const T *p, Py_ssize_t a0, Py_ssize_t b0, Py_ssize_t **out)   \
    {                                                                                          \
        Py_ssize_t n = 0, cap = 16, start = a0;                                                \
        Py_ssize_t *v = PyMem_Malloc(sizeof(Py_ssize_t) * 3 * (size_t)cap);                    \
        if (v == NULL)                                                                         \
            return -1;                                                                         \
        for (Py_ssize_t i = a0; i <= b0; i++) {                                                \
            if (i < b0) {                                                                      \
                T ch = p[i];                                                                   \
                if (!(ch == '.' || ch == '!' || ch == '?' || ch == '\n'))                      \
                    continue;                                                                  \
            }                                                                                  \
            Py_ssize_t a = start, b = i;                                                       \
            start = i + 1;                                                                     \
            if (b - a <= 20)                                                                   \
                continue;                                                                      \
            while (a < b && Py_UNICODE_ISSPACE(p[a]))                                          \
                a++;                                                                           \
            while (b > a && Py_UNICODE_ISSPACE(p[b - 1]))                                      \
                b--;                                                                           \
            size_t h = 1469598103934665603ULL;                                                 \
            for (Py_ssize_t k = a; k < b; k++)                                                 \
                h = (h ^ p[k]) * 1099511628211ULL;                                             \
            if (n == cap) {                                                                    \
                cap *= 2;                                                                      \
                Py_ssize_t *w = PyMem_Realloc(v, sizeof(Py_ssize_t) * 3 * (size_t)cap);        \
                if (w == NULL) {                                                               \
                    PyMem_Free(v);                                                             \
                    return -1;                                                                 \
                }                                                                              \
                v = w;                                                                         \
            }                                                                                  \
            v[3 * n] = a;                                                                      \
            v[3 * n + 1] = b;                                                                  \
            v[3 * n + 2] = (Py_ssize_t)h;                                                      \
            n++;                                                                               \
        }                                                                                      \
        *out = v;                                                                              \
        return n;                                                                              \
    }
PIECES(Py_UCS1)
PIECES(Py_UCS2)
PIECES(Py_UCS4)

static int same_text(const Cur *c, Py_ssize_t a1, Py_ssize_t a2, Py_ssize_t n)
{
    return memcmp((const char *)c->data + a1 * c->kind, (const char *)c->data + a2 * c->kind,
                  (size_t)(n * c->kind)) == 0;
}

/* The share of repeated sentences in text[a:b] (see repetition); -1 when out of memory. */
static double repetition_of(const Cur *c, Py_ssize_t a0, Py_ssize_t b0)
{
    Py_ssize_t *v = NULL;
    Py_ssize_t n = c->kind == PyUnicode_1BYTE_KIND   ? pieces_Py_UCS1(c->data, a0, b0, &v)
                   : c->kind == PyUnicode_2BYTE_KIND ? pieces_Py_UCS2(c->data, a0, b0, &v)
                                                     : pieces_Py_UCS4(c->data, a0, b0, &v);
    if (n < 0) {
        PyErr_NoMemory();
        return -1.0;
    }
    Py_ssize_t distinct = 0, cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    Py_ssize_t *slots = n ? PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)cap) : NULL;
    if (n && slots == NULL) {
        PyMem_Free(v);
        PyErr_NoMemory();
        return -1.0;
    }
    for (Py_ssize_t k = 0; k < cap && n; k++)
        slots[k] = -1;
    for (Py_ssize_t i = 0; i < n; i++) { /* a set of the pieces: slots hold piece numbers */
        Py_ssize_t a = v[3 * i], len = v[3 * i + 1] - a;
        size_t h = (size_t)v[3 * i + 2], mask = (size_t)cap - 1, k = h & mask;
        for (;; k = (k + 1) & mask) {
            Py_ssize_t j = slots[k];
            if (j < 0) {
                slots[k] = i;
                distinct++;
                break;
            }
            if ((size_t)v[3 * j + 2] == h && v[3 * j + 1] - v[3 * j] == len &&
                same_text(c, v[3 * j], a, len))
                break; /* a repeat */
        }
    }
    PyMem_Free(slots);
    PyMem_Free(v);
    return n ? (double)(n - distinct) / (double)n : 0.0;
}

/* Share of the sentences over 20 characters (the pieces between single . ! ? or newlines)
 * that repeat an earlier one once stripped: scoring._repetition(text). */
static PyObject *repetition(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "repetition() takes a str");
        return NULL;
    }
    Cur c = {arg, PyUnicode_KIND(arg), PyUnicode_DATA(arg), 0, PyUnicode_GET_LENGTH(arg)};
    double rep = repetition_of(&c, 0, c.end);
    return rep < 0 ? NULL : PyFloat_FromDouble(rep);
}

/* ---- scoring.conversation_quality_of's value ---------------------------------------------- */

/* What conversation_quality counts in text[a:b], in one typed pass per width: spaces and
 * newlines, words (len(text.split())), "?" from tail on, "```" (str.count: k backticks in a
 * row hold k // 3). */
typedef struct {
    Py_ssize_t spaces, newlines, words, questions, fences;
} Counts;

#define SCAN(T)                                                                                \
    static void scan_##T(const T *p, Py_ssize_t a, Py_ssize_t b, Py_ssize_t tail, Counts *n)  \
    {                                                                                          \
        Py_ssize_t run = 0;                                                                    \
        int in_word = 0;                                                                       \
        memset(n, 0, sizeof *n);                                                               \
        for (Py_ssize_t i = a; i < b; i++) {                                                   \
            T ch = p[i];                                                                       \
            int space = Py_UNICODE_ISSPACE(ch);                                                \
            n->spaces += ch == ' ';                                                            \
            n->newlines += ch == '\n';                                                         \
            n->words += !space && !in_word;                                                    \
            in_word = !space;                                                                  \
            n->questions += ch == '?' && i >= tail;                                            \
            if (ch == '`')                                                                     \
                run++;                                                                         \
            else {                                                                             \
                n->fences += run / 3;                                                          \
                run = 0;                                                                       \
            }                                                                                  \
        }                                                                                      \
        n->fences += run / 3;                                                                  \
    }
SCAN(Py_UCS1)
SCAN(Py_UCS2)
SCAN(Py_UCS4)

static void scan(const Cur *c, Py_ssize_t a, Py_ssize_t b, Py_ssize_t tail, Counts *n)
{
    if (c->kind == PyUnicode_1BYTE_KIND)
        scan_Py_UCS1(c->data, a, b, tail, n);
    else if (c->kind == PyUnicode_2BYTE_KIND)
        scan_Py_UCS2(c->data, a, b, tail, n);
    else
        scan_Py_UCS4(c->data, a, b, tail, n);
}

/* word (lowercase ASCII) in text[a:b].lower(): only ASCII letters lower to the ASCII letters
 * of these words (U+0130 lowers to "i" + a combining dot, U+212A to "k"; neither can match). */
static int contains_lower(const Cur *c, Py_ssize_t a, Py_ssize_t b, const char *word)
{
    Py_ssize_t n = (Py_ssize_t)strlen(word);
    for (Py_ssize_t i = a; i + n <= b; i++) {
        Py_ssize_t j = 0;
        for (; j < n; j++) {
            Py_UCS4 ch = at(c, i + j);
            if (ch >= 'A' && ch <= 'Z')
                ch += 'a' - 'A';
            if (ch != (Py_UCS4)(unsigned char)word[j])
                break;
        }
        if (j == n)
            return 1;
    }
    return 0;
}

/* scoring._ENDS_OK */
static int ends_ok(Py_UCS4 ch)
{
    return (ch < 128 && ch && strchr(".!?:;)]}\"'*`", (int)ch) != NULL) || ch == 0xBB ||
           ch == 0x201D || ch == 0x2019 || ch == 0x2026 || (ch >= 0x1F300 && ch <= 0x1FAFF) ||
           (ch >= 0x2600 && ch <= 0x27BF) || ch == 0xFE0F;
}

static PyObject *ROUND; /* builtins.round */

/* Python's round(x, ndigits), exactly (it is Python's). */
static int py_round(double x, int ndigits, double *out)
{
    PyObject *args[2] = {PyFloat_FromDouble(x), PyLong_FromLong(ndigits)};
    PyObject *r = NULL;
    if (args[0] != NULL && args[1] != NULL)
        r = PyObject_Vectorcall(ROUND, args, 2, NULL);
    Py_XDECREF(args[0]);
    Py_XDECREF(args[1]);
    if (r == NULL)
        return -1;
    *out = PyFloat_AsDouble(r);
    Py_DECREF(r);
    return 0;
}

enum { R_SYSTEM, R_USER, R_ASSISTANT };

/* scoring.conversation_quality_of(roles, contents)[0] for roles among system/user/assistant
 * (None for any other role: the Python code reads it). */
static PyObject *conversation_quality(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyList_Check(args[0]) || !PyList_Check(args[1]) ||
        PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1])) {
        PyErr_SetString(PyExc_TypeError, "conversation_quality(roles: list, contents: list)");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(args[0]);
    double penalty = 0.0;
    Py_ssize_t last_user = -1, last_answer = -1, bad_order = 0;
    int prev = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *role = PyList_GET_ITEM(args[0], i), *content = PyList_GET_ITEM(args[1], i);
        if (!PyUnicode_Check(role) || !PyUnicode_Check(content))
            Py_RETURN_NONE;
        int r = PyUnicode_CompareWithASCIIString(role, "system") == 0      ? R_SYSTEM
                : PyUnicode_CompareWithASCIIString(role, "user") == 0      ? R_USER
                : PyUnicode_CompareWithASCIIString(role, "assistant") == 0 ? R_ASSISTANT
                                                                           : -1;
        if (r < 0)
            Py_RETURN_NONE;
        if (r == R_SYSTEM)
            continue;
        bad_order += r == prev;
        prev = r;
        if (r == R_USER)
            last_user = i;
        else
            last_answer = i;
    }
    if (last_user < 0)
        penalty += 0.3;
    if (last_answer < 0) {
        penalty += 0.6;
        goto score;
    }
    if (prev != R_ASSISTANT)
        penalty += 0.2;
    if (bad_order)
        penalty += 0.3 < 0.1 * (double)bad_order ? 0.3 : 0.1 * (double)bad_order;
    PyObject *text = PyList_GET_ITEM(args[1], last_answer);
    Cur c = {text, PyUnicode_KIND(text), PyUnicode_DATA(text), 0, PyUnicode_GET_LENGTH(text)};
    Py_ssize_t a = 0, b = c.end; /* last = text.strip() */
    while (a < b && Py_UNICODE_ISSPACE(at(&c, a)))
        a++;
    while (b > a && Py_UNICODE_ISSPACE(at(&c, b - 1)))
        b--;
    Py_ssize_t tail = b - a > 800 ? b - 800 : a; /* last[-800:] */
    Counts n_last;
    scan(&c, a, b, tail, &n_last);
    Py_ssize_t words = b > a ? n_last.spaces + n_last.newlines + 1 : 0;
    if (words < 40 || words > 2000)
        words = n_last.words;
    if (b == a)
        penalty += 0.5;
    else if (words < 20)
        penalty += 0.2;
    else if (words > 2000)
        penalty += 0.1;
    if (b > a) {
        Py_ssize_t prompt_words = 0;
        if (last_user >= 0) {
            PyObject *ptext = PyList_GET_ITEM(args[1], last_user);
            Cur p = {ptext, PyUnicode_KIND(ptext), PyUnicode_DATA(ptext), 0,
                     PyUnicode_GET_LENGTH(ptext)};
            Counts n_prompt;
            scan(&p, 0, p.end, p.end, &n_prompt);
            if (p.end > 0)
                prompt_words = n_prompt.spaces + n_prompt.newlines + 1;
            if (prompt_words > 200)
                prompt_words = n_prompt.words;
        }
        if (prompt_words > 200 && words < prompt_words / 20)
            penalty += 0.1;
        int wizard = 0;
        for (Py_ssize_t i = a; i < a + 8 && i < b; i++)
            wizard |= at(&c, i) == 0x1F9D9;
        if (!wizard)
            penalty += 0.1;
        if (n_last.questions < 3 &&
            contains_lower(&c, tail, b, "investigate") + contains_lower(&c, tail, b, "explore") +
                    contains_lower(&c, tail, b, "exploit") < 3)
            penalty += 0.1;
        double rep = repetition_of(&c, a, b);
        if (rep < 0)
            return NULL;
        if (rep >= 0.2) {
            double amount;
            if (py_round(rep < 0.3 ? rep : 0.3, 2, &amount) < 0)
                return NULL;
            penalty += amount;
        }
        if (n_last.fences % 2)
            penalty += 0.15;
        else if (!ends_ok(at(&c, b - 1)))
            penalty += 0.15;
    }
score:;
    double value;
    if (py_round(1.0 - penalty, 4, &value) < 0)
        return NULL;
    return PyFloat_FromDouble(value > 0.0 ? value : 0.0);
}

/* ---- bias.bias_detection's prefilter ----------------------------------------------------- */

/* A set of lowercase ASCII words, looked up without making a bytes object per token. */
typedef struct {
    Py_ssize_t cap, maxlen;
    size_t *hash;
    PyObject **word; /* borrowed from the tuple the capsule keeps */
    PyObject *keep;
} Vocab;

static size_t fnv(const char *p, Py_ssize_t n)
{
    size_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static void vocab_free(PyObject *cap)
{
    Vocab *v = PyCapsule_GetPointer(cap, "synapse.vocab");
    if (v == NULL)
        return;
    PyMem_Free(v->hash);
    PyMem_Free(v->word);
    Py_XDECREF(v->keep);
    PyMem_Free(v);
}

static PyObject *vocab(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *words = PySequence_Tuple(arg);
    if (words == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(words), cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    Vocab *v = PyMem_Calloc(1, sizeof(Vocab));
    if (v == NULL) {
        Py_DECREF(words);
        return PyErr_NoMemory();
    }
    v->cap = cap;
    v->keep = words;
    v->hash = PyMem_Calloc((size_t)cap, sizeof(size_t));
    v->word = PyMem_Calloc((size_t)cap, sizeof(PyObject *));
    PyObject *out = NULL;
    if (v->hash == NULL || v->word == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *w = PyTuple_GET_ITEM(words, i);
        if (!PyBytes_Check(w) || PyBytes_GET_SIZE(w) == 0) {
            PyErr_SetString(PyExc_TypeError, "vocab() takes non-empty bytes words");
            goto fail;
        }
        const char *p = PyBytes_AS_STRING(w);
        Py_ssize_t len = PyBytes_GET_SIZE(w);
        for (Py_ssize_t j = 0; j < len; j++)
            if (p[j] < 'a' || p[j] > 'z') {
                PyErr_SetString(PyExc_ValueError, "vocab() words are lowercase ASCII letters");
                goto fail;
            }
        if (len > v->maxlen)
            v->maxlen = len;
        size_t h = fnv(p, len), k = h & (size_t)(cap - 1);
        while (v->word[k] != NULL && !(v->hash[k] == h && PyBytes_GET_SIZE(v->word[k]) == len &&
                                       memcmp(PyBytes_AS_STRING(v->word[k]), p, (size_t)len) == 0))
            k = (k + 1) & (size_t)(cap - 1);
        v->hash[k] = h;
        v->word[k] = w;
    }
    out = PyCapsule_New(v, "synapse.vocab", vocab_free);
    if (out != NULL)
        return out;
fail:
    PyMem_Free(v->hash);
    PyMem_Free(v->word);
    Py_DECREF(words);
    PyMem_Free(v);
    return NULL;
}

/* The words of the vocab that stand in hay as whole tokens (maximal runs of a-z): the same
 * set as vocab & set(hay.translate(<non a-z to space>).split()). */
static PyObject *tokens_in(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "tokens_in(hay: bytes, vocab)");
        return NULL;
    }
    Vocab *v = PyCapsule_GetPointer(args[1], "synapse.vocab");
    if (v == NULL)
        return NULL;
    const char *p = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    PyObject *found = PySet_New(NULL);
    if (found == NULL)
        return NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && (p[i] < 'a' || p[i] > 'z'))
            i++;
        Py_ssize_t j = i;
        while (j < n && p[j] >= 'a' && p[j] <= 'z')
            j++;
        Py_ssize_t len = j - i;
        if (len > 0 && len <= v->maxlen) {
            size_t h = fnv(p + i, len), k = h & (size_t)(v->cap - 1);
            for (; v->word[k] != NULL; k = (k + 1) & (size_t)(v->cap - 1)) {
                PyObject *w = v->word[k];
                if (v->hash[k] == h && PyBytes_GET_SIZE(w) == len &&
                    memcmp(PyBytes_AS_STRING(w), p + i, (size_t)len) == 0) {
                    if (PySet_Add(found, w) < 0) {
                        Py_DECREF(found);
                        return NULL;
                    }
                    break;
                }
            }
        }
        i = j;
    }
    return found;
}

/* ---- the tolerant reading of a broken block (reasoning.parse_reasoning_tolerant) ---------- */

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

static inline int is_word(Py_UCS4 ch) { return ch == '_' || Py_UNICODE_ISALNUM(ch); }

/* One match of reasoning._TAG_RE. */
typedef struct {
    Py_ssize_t at, end, attrs_a, attrs_b;
    int closing, tag, selfclose, too_deep;
    /* positions from which tag_rest is known to fail (bit k - failed_base), so that a tag
     * with many quoted values costs linear time where re backtracks exponentially */
    unsigned char *failed;
    Py_ssize_t failed_base;
} Tok;

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
static int next_tag(const Cur *c, Py_ssize_t pos, Tok *t)
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

static int problem(PyObject *problems, PyObject *msg)
{
    if (msg == NULL)
        return -1;
    int rc = PyList_Append(problems, msg);
    Py_DECREF(msg);
    return rc;
}

/* reasoning._tolerant_tree over c[pos:end]: 0 built, -1 error. */
static int build_tree(Tree *t)
{
    Cur *c = &t->c;
    int stack[256], depth = 0, first = 1, root_closed = 0;
    Py_ssize_t pos = c->pos, start = c->pos;
    if (tree_start(t, -1, T_REASONING, 0, 0) < 0)
        return -1;
    stack[depth++] = 0;
    Tok k;
    k.too_deep = 0;
    while (next_tag(c, pos, &k)) {
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
    if (k.too_deep)
        return 1;
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

/* "".join of a span list, then .strip() */
static PyObject *spans_text(Tree *t, int first, int also_tails_of)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL)
        return NULL;
    for (int i = first; i >= 0; i = t->spans[i].next) {
        PyObject *s = PyUnicode_Substring(t->c.s, t->spans[i].a, t->spans[i].b);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(s);
    }
    if (also_tails_of >= 0)
        for (int ch = t->nodes[also_tails_of].first; ch >= 0; ch = t->nodes[ch].next)
            for (int i = t->nodes[ch].tail; i >= 0; i = t->spans[i].next) {
                PyObject *s = PyUnicode_Substring(t->c.s, t->spans[i].a, t->spans[i].b);
                if (s == NULL || PyList_Append(parts, s) < 0) {
                    Py_XDECREF(s);
                    Py_DECREF(parts);
                    return NULL;
                }
                Py_DECREF(s);
            }
    PyObject *empty = PyUnicode_New(0, 0);
    PyObject *joined = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    if (joined == NULL)
        return NULL;
    PyObject *out = PyObject_CallMethod(joined, "strip", NULL);
    Py_DECREF(joined);
    if (out != NULL && PyUnicode_CheckExact(out))
        PyUnicode_InternInPlace(&out);
    return out;
}

/* A leaf's text (no children: an opening tag always closes an open leaf) has a non-space. */
static int spans_nonblank(Tree *t, int first)
{
    for (int i = first; i >= 0; i = t->spans[i].next)
        if (nonblank(&t->c, t->spans[i].a, t->spans[i].b))
            return 1;
    return 0;
}

static PyObject *REASONING_MODULE; /* synapse_core.data.reasoning, for the rare cases */

static PyObject *reasoning_helper(const char *name)
{
    if (REASONING_MODULE == NULL) {
        REASONING_MODULE = PyImport_ImportModule("synapse_core.data.reasoning");
        if (REASONING_MODULE == NULL)
            return NULL;
    }
    return PyObject_GetAttrString(REASONING_MODULE, name);
}

/* The value of attribute name in node's attributes, as reasoning._ATTR_RE's finditer and the
 * dict built from it read them (the last one wins): a new str, or NULL with no error if absent. */
static PyObject *attr_of(Tree *t, int node, const char *name)
{
    const Cur *c = &t->c;
    Py_ssize_t p = t->nodes[node].attrs_a, end = t->nodes[node].attrs_b, va = -1, vb = -1;
    Py_ssize_t len = (Py_ssize_t)strlen(name);
    while (p < end) {
        if (!(is_word(at(c, p)) || at(c, p) == '-')) {
            p++;
            continue;
        }
        Py_ssize_t n = p;
        while (n < end && (is_word(at(c, n)) || at(c, n) == '-'))
            n++;
        Py_ssize_t e = n;
        while (e < end && Py_UNICODE_ISSPACE(at(c, e)))
            e++;
        if (!(e < end && at(c, e) == '=')) {
            p = n; /* no suffix of the name matches either */
            continue;
        }
        e++;
        while (e < end && Py_UNICODE_ISSPACE(at(c, e)))
            e++;
        Py_ssize_t a = e, b;
        Py_UCS4 q = e < end ? at(c, e) : 0;
        Py_ssize_t f = e + 1;
        if (q == '"' || q == '\'') {
            while (f < end && at(c, f) != q)
                f++;
        }
        if ((q == '"' || q == '\'') && f < end) {
            a = e + 1;
            b = f;
            e = f + 1;
        } else {
            while (e < end && !Py_UNICODE_ISSPACE(at(c, e)) && at(c, e) != '>')
                e++;
            b = e;
        }
        int same = n - p == len;
        for (Py_ssize_t i = 0; same && i < len; i++)
            same = at(c, p + i) == (Py_UCS4)(unsigned char)name[i];
        if (same) {
            va = a;
            vb = b;
        }
        p = e;
    }
    return va < 0 ? NULL : PyUnicode_Substring(c->s, va, vb);
}

typedef struct {
    Tree *t;
    int n_tri, goal_set, done_set, now_set, goal, done, now;
    int mem_seen[T_N];
    long n_items, both;
    PyObject *triplets, *malformed, *steps;
} Walk;

static int add_step_tolerant(Walk *w, int node)
{
    Tree *t = w->t;
    PyObject *idx = attr_of(t, node, "index"), *dep = NULL;
    if (idx == NULL && PyErr_Occurred())
        return -1;
    dep = attr_of(t, node, "depends_on");
    if (dep == NULL && PyErr_Occurred()) {
        Py_XDECREF(idx);
        return -1;
    }
    PyObject *fields = NULL, *fn = reasoning_helper("step_fields");
    if (fn != NULL)
        fields = PyObject_CallFunction(fn, "nOOO", PyList_GET_SIZE(w->steps),
                                       idx ? idx : Py_None, dep ? dep : Py_None, t->problems);
    Py_XDECREF(fn);
    Py_XDECREF(idx);
    Py_XDECREF(dep);
    if (fields == NULL)
        return -1;
    int rc = PyList_Append(w->steps, fields);
    Py_DECREF(fields);
    return rc;
}

static int walk(Walk *w, int node, int parent_tag)
{
    Tree *t = w->t;
    Node *n = &t->nodes[node];
    int tag = n->tag;
    if (EXPECTED[tag] >= 0 && parent_tag != EXPECTED[tag] && tag != T_TRI &&
        problem(t->problems, PyUnicode_FromFormat("<%s> outside <%s>", TAGS[tag],
                                                  TAGS[(int)EXPECTED[tag]])) < 0)
        return -1;
    if (BIT(tag) & CONTAINER_TAGS) {
        int stray = spans_nonblank(t, n->text);
        for (int ch = n->first; ch >= 0 && !stray; ch = t->nodes[ch].next)
            stray = spans_nonblank(t, t->nodes[ch].tail);
        if (stray) {
            PyObject *text = spans_text(t, n->text, node), *fn = reasoning_helper("short_text");
            PyObject *shown = text && fn ? PyObject_CallOneArg(fn, text) : NULL;
            Py_XDECREF(text);
            Py_XDECREF(fn);
            if (shown == NULL ||
                problem(t->problems, PyUnicode_FromFormat("stray text in <%s>: '%U'", TAGS[tag],
                                                          shown)) < 0) {
                Py_XDECREF(shown);
                return -1;
            }
            Py_DECREF(shown);
        }
        for (int ch = n->first; ch >= 0; ch = t->nodes[ch].next)
            if (walk(w, ch, tag) < 0)
                return -1;
        return 0;
    }
    switch (tag) {
    case T_GOAL: case T_SUBGOAL: case T_CTX: case T_DONE: case T_NOW:
        if (w->mem_seen[tag] &&
            problem(t->problems, PyUnicode_FromFormat("repeated <%s>", TAGS[tag])) < 0)
            return -1;
        w->mem_seen[tag] = 1;
        if (tag == T_GOAL)
            w->goal = spans_nonblank(t, n->text);
        else if (tag == T_DONE)
            w->done = spans_nonblank(t, n->text);
        else if (tag == T_NOW)
            w->now = spans_nonblank(t, n->text);
        return 0;
    case T_TRI: {
        int k = ++w->n_tri;
        int part[3] = {-1, -1, -1}; /* the last subj, pred, obj child */
        for (int ch = n->first; ch >= 0; ch = t->nodes[ch].next) {
            int ct = t->nodes[ch].tag;
            if (ct == T_SUBJ || ct == T_PRED || ct == T_OBJ)
                part[ct - T_SUBJ] = ch;
        }
        PyObject *desc = NULL;
        if (parent_tag != T_KG)
            desc = PyUnicode_FromFormat("triplet %d outside <kg>", k);
        else {
            PyObject *v[3] = {NULL, NULL, NULL};
            int empty[3], n_empty = 0;
            for (int i = 0; i < 3; i++) {
                v[i] = part[i] >= 0 ? spans_text(t, t->nodes[part[i]].text, -1)
                                    : PyUnicode_New(0, 0);
                if (v[i] == NULL) {
                    Py_XDECREF(v[0]);
                    Py_XDECREF(v[1]);
                    return -1;
                }
                empty[i] = PyUnicode_GET_LENGTH(v[i]) == 0;
                n_empty += empty[i];
            }
            if (n_empty == 0) {
                PyObject *tri = PyTuple_Pack(3, v[0], v[1], v[2]);
                for (int i = 0; i < 3; i++)
                    Py_DECREF(v[i]);
                int rc = tri == NULL ? -1 : PyList_Append(w->triplets, tri);
                Py_XDECREF(tri);
                return rc;
            }
            for (int i = 0; i < 3; i++)
                Py_DECREF(v[i]);
            char missing[32] = "";
            static const char *const PARTS[3] = {"subj", "pred", "obj"};
            for (int i = 0; i < 3; i++)
                if (empty[i]) {
                    if (missing[0])
                        strcat(missing, "/");
                    strcat(missing, PARTS[i]);
                }
            desc = n_empty == 3 ? PyUnicode_FromFormat("triplet %d is empty", k)
                                : PyUnicode_FromFormat("triplet %d lacks %s", k, missing);
        }
        if (desc == NULL || PyList_Append(w->malformed, desc) < 0 ||
            PyList_Append(t->problems, desc) < 0) {
            Py_XDECREF(desc);
            return -1;
        }
        Py_DECREF(desc);
        return 0;
    }
    case T_STEP:
        return add_step_tolerant(w, node);
    default:
        break;
    }
    if (BIT(tag) & LOGIC_TAGS) {
        int sym = -1, nat = -1; /* el.find(): the first such child */
        for (int ch = n->first; ch >= 0; ch = t->nodes[ch].next) {
            if (t->nodes[ch].tag == T_SYM && sym < 0)
                sym = ch;
            if (t->nodes[ch].tag == T_NAT && nat < 0)
                nat = ch;
        }
        w->n_items++;
        w->both += sym >= 0 && nat >= 0 && spans_nonblank(t, t->nodes[sym].text) &&
                   spans_nonblank(t, t->nodes[nat].text);
        return 0;
    }
    if (BIT(tag) & EXTRA_TAGS)
        return 0;
    return problem(t->problems, PyUnicode_FromFormat("stray <%s> inside <%s>", TAGS[tag],
                                                     TAGS[parent_tag]));
}

/* fastrow.tolerant_summary_py(text[pos:end]): the tolerant reading of a block; None where the
 * Python code must read it (nesting deeper than 256, a tag with over 1,000 attributes). */
static PyObject *tolerant_of(PyObject *arg, Py_ssize_t pos, Py_ssize_t end)
{
    Cur c = {arg, PyUnicode_KIND(arg), PyUnicode_DATA(arg), pos, end};
    skip_ws(&c); /* text.strip() */
    while (c.end > c.pos && Py_UNICODE_ISSPACE(at(&c, c.end - 1)))
        c.end--;
    PyObject *wrapped = NULL;
    if (!lit(&c, "<reasoning")) { /* read as f"<reasoning>{body}</reasoning>" */
        PyObject *body = PyUnicode_Substring(arg, c.pos, c.end);
        wrapped = body ? PyUnicode_FromFormat("<reasoning>%U</reasoning>", body) : NULL;
        Py_XDECREF(body);
        if (wrapped == NULL)
            return NULL;
        c = (Cur){wrapped, PyUnicode_KIND(wrapped), PyUnicode_DATA(wrapped), 0,
                  PyUnicode_GET_LENGTH(wrapped)};
    } else
        c.pos -= 10; /* back to the "<" */
    Tree t;
    memset(&t, 0, sizeof t);
    t.c = c;
    Walk w;
    memset(&w, 0, sizeof w);
    w.t = &t;
    PyObject *out = NULL;
    t.problems = PyList_New(0);
    w.triplets = PyList_New(0);
    w.malformed = PyList_New(0);
    w.steps = PyList_New(0);
    if (t.problems && w.triplets && w.malformed && w.steps) {
        int rc = build_tree(&t);
        if (rc > 0)
            out = Py_NewRef(Py_None);
        else if (rc == 0 && walk(&w, 0, -1) == 0)
            out = Py_BuildValue("(OOOOllOO)", w.goal ? Py_True : Py_False,
                                w.done || w.now ? Py_True : Py_False, w.triplets, w.malformed,
                                w.n_items, w.both, w.steps, t.problems);
    }
    Py_XDECREF(t.problems);
    Py_XDECREF(w.triplets);
    Py_XDECREF(w.malformed);
    Py_XDECREF(w.steps);
    PyMem_Free(t.nodes);
    PyMem_Free(t.spans);
    Py_XDECREF(wrapped);
    return out;
}

static PyObject *tolerant_summary(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "tolerant_summary() takes a str");
        return NULL;
    }
    return tolerant_of(arg, 0, PyUnicode_GET_LENGTH(arg));
}

static PyMethodDef methods[] = {
    {"reasoning_summary", reasoning_summary, METH_O,
     "fastrow.summarize_reasoning(text) for a canonical block, else None."},
    {"any_in", (PyCFunction)(void (*)(void))any_in, METH_FASTCALL,
     "any_in(hay, needles): whether any of the byte strings occurs in hay."},
    {"inline_summary", inline_summary, METH_O,
     "(answer, summary) of a reply that starts with a canonical block, else None."},
    {"tolerant_summary", tolerant_summary, METH_O,
     "fastrow.summarize_reasoning_py(text) for a block read by the tolerant parser."},
    {"repetition", repetition, METH_O, "scoring._repetition(text)."},
    {"conversation_quality", (PyCFunction)(void (*)(void))conversation_quality, METH_FASTCALL,
     "scoring.conversation_quality_of(roles, contents)[0], or None for another role."},
    {"vocab", vocab, METH_O, "vocab(words): a set of lowercase ASCII words for tokens_in."},
    {"tokens_in", (PyCFunction)(void (*)(void))tokens_in, METH_FASTCALL,
     "tokens_in(hay, vocab): the words of vocab that are whole a-z tokens of hay, as a set."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_speedups",
    .m_doc = "Compiled helpers for synapse_core.data.", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__speedups(void)
{
    CLOSE_TAG = PyUnicode_InternFromString("</reasoning>");
    if (CLOSE_TAG == NULL)
        return NULL;
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL)
        return NULL;
    ROUND = PyObject_GetAttrString(builtins, "round");
    Py_DECREF(builtins);
    if (ROUND == NULL)
        return NULL;
    return PyModule_Create(&module);
}
