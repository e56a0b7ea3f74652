/* conversation_quality's value and its sentence-repetition measure (scoring.py). */
#include "speedups.h"

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
PyObject *sp_repetition(PyObject *self, PyObject *arg)
{
    (void)self;
    if (require_str(arg, "repetition") < 0)
        return NULL;
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
PyObject *sp_conversation_quality(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
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

int sp_scoring_init(void)
{
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL)
        return -1;
    ROUND = PyObject_GetAttrString(builtins, "round");
    Py_DECREF(builtins);
    return ROUND == NULL ? -1 : 0;
}
