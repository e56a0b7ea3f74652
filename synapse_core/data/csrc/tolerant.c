/* The tolerant reading of a broken block, as reasoning.parse_reasoning_tolerant reads it:
 * the same tree (ElementTree's text and tails), recoveries and problems, in the same order;
 * then fastrow.tolerant_summary_py's summary of it. */
#include "tags.h"

/* Append the text of a span list to parts: 0, or -1 on an error. */
static int append_spans(Tree *t, int first, PyObject *parts)
{
    for (int i = first; i >= 0; i = t->spans[i].next) {
        PyObject *s = PyUnicode_Substring(t->c.s, t->spans[i].a, t->spans[i].b);
        int rc = s == NULL ? -1 : PyList_Append(parts, s);
        Py_XDECREF(s);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* "".join of a span list (and, with also_tails_of, the tails of that node's children), then
 * .strip() */
static PyObject *spans_text(Tree *t, int first, int also_tails_of)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL)
        return NULL;
    int rc = append_spans(t, first, parts);
    if (also_tails_of >= 0)
        for (int ch = t->nodes[also_tails_of].first; ch >= 0 && rc == 0; ch = t->nodes[ch].next)
            rc = append_spans(t, t->nodes[ch].tail, parts);
    if (rc < 0) {
        Py_DECREF(parts);
        return NULL;
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
            PyObject *v[3];
            for (int i = 0; i < 3; i++)
                v[i] = part[i] >= 0 ? spans_text(t, t->nodes[part[i]].text, -1)
                                    : PyUnicode_New(0, 0);
            if (sp_triplet(v, k, w->triplets, &desc) < 0)
                return -1;
            if (desc == NULL)
                return 0;
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
 * Python code must read it (nesting deeper than 256). */
PyObject *sp_tolerant_of(PyObject *arg, Py_ssize_t pos, Py_ssize_t end)
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
        int rc = sp_build_tree(&t);
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

PyObject *sp_tolerant_summary(PyObject *self, PyObject *arg)
{
    (void)self;
    if (require_str(arg, "tolerant_summary") < 0)
        return NULL;
    return sp_tolerant_of(arg, 0, PyUnicode_GET_LENGTH(arg));
}
