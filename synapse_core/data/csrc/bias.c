/* The bias prefilter's word lookup (bias.bias_detection): which trigger words stand in an
 * answer as whole a-z tokens, without a bytes object per token. */
#include "speedups.h"

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

PyObject *sp_vocab(PyObject *self, PyObject *arg)
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
PyObject *sp_tokens_in(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
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
