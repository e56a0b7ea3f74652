/* The canonical reasoning reader: a block in the schema's grammar (reasoning._CANONICAL_RE)
 * in one pass, returning what fastrow.summarize_reasoning_py returns for it; a block that is
 * not canonical goes to the tolerant reader (tolerant.c); None where the Python code must
 * decide (a step number that is not plain ASCII digits). */
#include "speedups.h"

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
        PyObject *v[3] = {stripped(c, a[0], b[0]), stripped(c, a[1], b[1]),
                          stripped(c, a[2], b[2])};
        PyObject *desc = NULL;
        if (sp_triplet(v, r->n_tri, r->triplets, &desc) < 0)
            return -1;
        if (desc != NULL) {
            int rc = PyList_Append(r->malformed, desc);
            Py_DECREF(desc);
            if (rc < 0)
                return -1;
        }
    }
}

/* The triplet (subj, pred, obj) numbered n, its three parts stripped (new references, taken;
 * NULL after an error): appended to triplets when none is empty, else *desc is its malformed
 * description ("triplet 2 lacks pred"; a new reference). 0, or -1 on an error. */
int sp_triplet(PyObject *v[3], long n, PyObject *triplets, PyObject **desc)
{
    static const char *const PARTS[3] = {"subj", "pred", "obj"};
    char missing[32] = "";
    int n_empty = 0, rc = 0;
    *desc = NULL;
    if (v[0] == NULL || v[1] == NULL || v[2] == NULL)
        rc = -1;
    for (int i = 0; i < 3 && rc == 0; i++)
        if (PyUnicode_GET_LENGTH(v[i]) == 0) {
            n_empty++;
            if (missing[0])
                strcat(missing, "/");
            strcat(missing, PARTS[i]);
        }
    if (rc == 0 && n_empty == 0) {
        PyObject *t = PyTuple_Pack(3, v[0], v[1], v[2]);
        rc = t == NULL ? -1 : PyList_Append(triplets, t);
        Py_XDECREF(t);
    } else if (rc == 0) {
        *desc = n_empty == 3 ? PyUnicode_FromFormat("triplet %ld is empty", n)
                             : PyUnicode_FromFormat("triplet %ld lacks %s", n, missing);
        rc = *desc == NULL ? -1 : 0;
    }
    for (int i = 0; i < 3; i++)
        Py_XDECREF(v[i]);
    return rc;
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
        out = sp_tolerant_of(text, pos, end);
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

PyObject *sp_reasoning_summary(PyObject *self, PyObject *arg)
{
    (void)self;
    if (require_str(arg, "reasoning_summary") < 0)
        return NULL;
    return summary_of(arg, 0, PyUnicode_GET_LENGTH(arg));
}

static PyObject *CLOSE_TAG; /* "</reasoning>" */

/* For a reply that starts (after blanks) with "<reasoning" and holds "</reasoning>": the
 * answer after the block, stripped, and the block's summary, as reasoning.split_inline_reasoning
 * and fastrow.summarize_reasoning_py read them; None for anything else. */
PyObject *sp_inline_summary(PyObject *self, PyObject *arg)
{
    (void)self;
    if (require_str(arg, "inline_summary") < 0)
        return NULL;
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

int sp_canonical_init(void)
{
    CLOSE_TAG = PyUnicode_InternFromString("</reasoning>");
    return CLOSE_TAG == NULL ? -1 : 0;
}
