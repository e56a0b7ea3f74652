/* synapse_core.data._speedups: optional compiled helpers for loading a dataset fast (see
 * synapse_core/data/compiled.py and docs/data.md).
 *
 * Each function answers what a Python function of the package answers, exactly, or None where
 * the Python code must decide; every one is checked against its Python original, on real and
 * fuzzed input, in tests/core/test_data_speedups.py. Without a C compiler the package works
 * the same, slower.
 *
 *   canonical.c  the canonical reasoning reader, and an inline block split from its answer
 *   tags.c       the tolerant reader's tag tokenizer (reasoning._TAG_RE)
 *   tree.c       the tolerant reader's tree (reasoning._tolerant_tree)
 *   tolerant.c   the tolerant reading and its summary (reasoning.parse_reasoning_tolerant)
 *   scoring.c    conversation_quality and its repetition measure
 *   bias.c       the bias prefilter's word lookup
 *   module.c     this table, and the banned-word prefilter (any_in)
 */
#include "speedups.h"

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

static PyMethodDef methods[] = {
    {"reasoning_summary", sp_reasoning_summary, METH_O,
     "fastrow.summarize_reasoning(text) for a canonical block, else None."},
    {"any_in", (PyCFunction)(void (*)(void))any_in, METH_FASTCALL,
     "any_in(hay, needles): whether any of the byte strings occurs in hay."},
    {"inline_summary", sp_inline_summary, METH_O,
     "(answer, summary) of a reply that starts with a canonical block, else None."},
    {"tolerant_summary", sp_tolerant_summary, METH_O,
     "fastrow.summarize_reasoning_py(text) for a block read by the tolerant parser."},
    {"last_closing_end", sp_last_closing_end, METH_O,
     "The end of the last closing reasoning tag in text, or -1."},
    {"repetition", sp_repetition, METH_O, "scoring._repetition(text)."},
    {"conversation_quality", (PyCFunction)(void (*)(void))sp_conversation_quality, METH_FASTCALL,
     "scoring.conversation_quality_of(roles, contents)[0], or None for another role."},
    {"vocab", sp_vocab, METH_O, "vocab(words): a set of lowercase ASCII words for tokens_in."},
    {"tokens_in", (PyCFunction)(void (*)(void))sp_tokens_in, METH_FASTCALL,
     "tokens_in(hay, vocab): the words of vocab that are whole a-z tokens of hay, as a set."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_speedups",
    .m_doc = "Compiled helpers for synapse_core.data.", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__speedups(void)
{
    if (sp_canonical_init() < 0 || sp_scoring_init() < 0)
        return NULL;
    return PyModule_Create(&module);
}
