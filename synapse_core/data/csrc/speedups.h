/* Shared by the compiled helpers of synapse_core.data (see module.c). */
#ifndef SYNAPSE_SPEEDUPS_H
#define SYNAPSE_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* A str being read: its kind and data, and the span [pos, end) left to read. */
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
static inline int lit(Cur *c, const char *lit)
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
static inline Py_ssize_t text(Cur *c)
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

/* Non-blank: holds a character str.strip() keeps. */
static inline int nonblank(const Cur *c, Py_ssize_t a, Py_ssize_t b)
{
    for (; a < b; a++)
        if (!Py_UNICODE_ISSPACE(at(c, a)))
            return 1;
    return 0;
}

static inline int is_word(Py_UCS4 ch) { return ch == '_' || Py_UNICODE_ISALNUM(ch); }

/* Append msg (a new reference, or NULL after an error) to problems. */
static inline int problem(PyObject *problems, PyObject *msg)
{
    if (msg == NULL)
        return -1;
    int rc = PyList_Append(problems, msg);
    Py_DECREF(msg);
    return rc;
}

/* 0 when arg is a str, else -1 with a TypeError naming the function. */
static inline int require_str(PyObject *arg, const char *function)
{
    if (PyUnicode_Check(arg))
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes a str, not %.100s", function, Py_TYPE(arg)->tp_name);
    return -1;
}

/* canonical.c */
int sp_canonical_init(void);
PyObject *sp_reasoning_summary(PyObject *self, PyObject *arg);
PyObject *sp_inline_summary(PyObject *self, PyObject *arg);
int sp_triplet(PyObject *v[3], long n, PyObject *triplets, PyObject **desc);
/* tolerant.c (last_closing_end: tags.c) */
PyObject *sp_tolerant_of(PyObject *text, Py_ssize_t pos, Py_ssize_t end);
PyObject *sp_tolerant_summary(PyObject *self, PyObject *arg);
PyObject *sp_last_closing_end(PyObject *self, PyObject *arg);
/* scoring.c */
int sp_scoring_init(void);
PyObject *sp_repetition(PyObject *self, PyObject *arg);
PyObject *sp_conversation_quality(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* bias.c */
PyObject *sp_vocab(PyObject *self, PyObject *arg);
PyObject *sp_tokens_in(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
