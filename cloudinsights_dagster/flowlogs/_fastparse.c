/*
 * The flow-log parser's fast path: one pass over a chunk of whole lines of space-separated text
 * (the body of a VPC flow-log file), straight into Arrow buffers.
 *
 * Arrow's CSV reader is general (quotes, escapes, type inference, per-column conversion after
 * tokenizing); a flow-log line is not: fields separated by one space, `-` for null, integers and
 * ASCII identifiers. This loop does tokenizing, integer conversion and dictionary encoding in
 * one pass, with the GIL released, at about twice Arrow's speed.
 *
 * It only ever answers for text it understands completely. Anything else (a row with another
 * number of fields, an empty field, a non-digit in an integer, an out-of-range value, a byte
 * outside printable ASCII, ...) makes it return None, and the caller parses the chunk with
 * Arrow's CSV reader, which then produces the same table or the precise error. So the results
 * of the two paths are identical, and errors are always Arrow's.
 *
 * parse(text, kinds) -> None | (rows, columns)
 *   text:  a buffer of whole lines (the last may lack its newline); empty lines are skipped.
 *   kinds: bytes, one per field: b'i' int32, b'l' int64, b's' string, b'd' dictionary string.
 *   columns[i]: (validity bitmap bytes or None, *buffers) with buffers
 *     'i'/'l': data;  's': int32 offsets, data;  'd': int32 indices, dictionary int32 offsets,
 *     dictionary data (values in order of first appearance, as Arrow's dictionary encoding).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *src, size_t n) {
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

/* Distinct values of a dictionary column: open addressing on (offset, length) into `values`. */
typedef struct {
    Buf values;       /* concatenated distinct values */
    Buf offsets;      /* int32 offsets into values, one per distinct value + 1 */
    int32_t *slots;   /* value index + 1; 0 = empty */
    uint64_t *hashes; /* hash per slot */
    size_t mask, count;
} Dict;

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

static int dict_init(Dict *d) {
    memset(d, 0, sizeof *d);
    d->mask = 255;
    d->slots = calloc(d->mask + 1, sizeof *d->slots);
    d->hashes = calloc(d->mask + 1, sizeof *d->hashes);
    int32_t zero = 0;
    if (!d->slots || !d->hashes || buf_put(&d->offsets, &zero, 4)) return -1;
    return 0;
}

static void dict_free(Dict *d) {
    free(d->values.data);
    free(d->offsets.data);
    free(d->slots);
    free(d->hashes);
}

static int dict_grow(Dict *d) {
    size_t mask = d->mask * 2 + 1;
    int32_t *slots = calloc(mask + 1, sizeof *slots);
    uint64_t *hashes = calloc(mask + 1, sizeof *hashes);
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return -1;
    }
    for (size_t i = 0; i <= d->mask; i++) {
        if (!d->slots[i]) continue;
        size_t j = d->hashes[i] & mask;
        while (slots[j]) j = (j + 1) & mask;
        slots[j] = d->slots[i];
        hashes[j] = d->hashes[i];
    }
    free(d->slots);
    free(d->hashes);
    d->slots = slots;
    d->hashes = hashes;
    d->mask = mask;
    return 0;
}

/* The index of a value, added when new; -1 when out of memory or past int32. */
static int64_t dict_index(Dict *d, const char *p, size_t n) {
    uint64_t h = hash_bytes(p, n);
    const int32_t *offsets = (const int32_t *)d->offsets.data;
    size_t j = h & d->mask;
    for (; d->slots[j]; j = (j + 1) & d->mask) {
        if (d->hashes[j] != h) continue;
        int32_t k = d->slots[j] - 1;
        if ((size_t)(offsets[k + 1] - offsets[k]) == n &&
            memcmp(d->values.data + offsets[k], p, n) == 0)
            return k;
    }
    if (d->values.len + n > INT32_MAX || d->count >= INT32_MAX - 1) return -1;
    int32_t k = (int32_t)d->count++;
    if (buf_put(&d->values, p, n)) return -1;
    int32_t end = (int32_t)d->values.len;
    if (buf_put(&d->offsets, &end, 4)) return -1;
    d->slots[j] = k + 1;
    d->hashes[j] = h;
    if (d->count * 2 > d->mask && dict_grow(d)) return -1;
    return k;
}

typedef struct {
    char kind;
    uint8_t *validity;
    int64_t nulls;
    Buf data;    /* int32/int64 values, string data, or dictionary indices */
    Buf offsets; /* strings: int32 offsets */
    Dict dict;
} Column;

enum { OK = 0, NOT_MINE = 1, NO_MEMORY = 2 };

static inline void set_null(Column *col, int64_t row) {
    col->validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
    col->nulls++;
}

/* Fields end at a byte <= ' ': one space, or the line's newline for the last field. */
#define FIELD_END(c) ((unsigned char)(c) <= ' ')

/* Parse the field at *pp of an integer column; leaves *pp on the field's terminator. */
static inline int put_integer(Column *col, int64_t row, const char **pp) {
    const char *p = *pp;
    int negative = p[0] == '-';
    if (negative && FIELD_END(p[1])) { /* "-": null */
        set_null(col, row);
        if (col->kind == 'i') ((int32_t *)col->data.data)[row] = 0;
        else ((int64_t *)col->data.data)[row] = 0;
        *pp = p + 1;
        return OK;
    }
    p += negative;
    const char *digits = p;
    uint64_t v = 0;
    unsigned d;
    while ((d = (unsigned)(unsigned char)*p - '0') <= 9) {
        v = v * 10 + d;
        p++;
    }
    size_t n = (size_t)(p - digits);
    /* Empty, over 18 digits (no overflow check needed below that), leading zeros or a stray
       character: Arrow decides. */
    if (n == 0 || n > 18 || (n > 1 && digits[0] == '0') || !FIELD_END(*p)) return NOT_MINE;
    if (col->kind == 'i') {
        if (v > (uint64_t)INT32_MAX + negative) return NOT_MINE;
        ((int32_t *)col->data.data)[row] = negative ? (int32_t)(-(int64_t)v) : (int32_t)v;
    } else {
        ((int64_t *)col->data.data)[row] = negative ? -(int64_t)v : (int64_t)v;
    }
    *pp = p;
    return OK;
}

/* Parse the field at *pp of a string column; leaves *pp on the field's terminator. */
static inline int put_string(Column *col, int64_t row, const char **pp) {
    const char *start = *pp, *p = start;
    unsigned char high = 0;
    while (!FIELD_END(*p)) high |= (unsigned char)*p++;
    size_t n = (size_t)(p - start);
    *pp = p;
    if (n == 0 || (high & 0x80)) return NOT_MINE; /* empty or non-ASCII: Arrow decides */
    if (n == 1 && start[0] == '-') {
        set_null(col, row);
        if (col->kind == 'd') {
            ((int32_t *)col->data.data)[row] = 0;
            return OK;
        }
        n = 0;
    }
    if (col->kind == 'd') {
        int64_t k = dict_index(&col->dict, start, n);
        if (k < 0) return NO_MEMORY;
        ((int32_t *)col->data.data)[row] = (int32_t)k;
        return OK;
    }
    if (col->data.len + n > INT32_MAX) return NOT_MINE;
    if (n && buf_put(&col->data, start, n)) return NO_MEMORY;
    int32_t end = (int32_t)col->data.len;
    return buf_put(&col->offsets, &end, 4) ? NO_MEMORY : OK;
}

/* Parse the lines of [p, end): end[-1] must be a newline, so no scan runs past it. */
static int parse_lines(const char *p, const char *end, Column *cols, Py_ssize_t ncols,
                       int64_t *row) {
    while (p < end) {
        if (*p == '\n') { /* an empty line */
            p++;
            continue;
        }
        for (Py_ssize_t c = 0; c < ncols; c++) {
            Column *col = &cols[c];
            int status = (col->kind == 'i' || col->kind == 'l') ? put_integer(col, *row, &p)
                                                                : put_string(col, *row, &p);
            if (status) return status;
            /* One space between fields; the newline after the last. */
            if (*p != (c == ncols - 1 ? '\n' : ' ')) return NOT_MINE;
            p++;
        }
        ++*row;
    }
    return OK;
}

/* The last '\n' in text, or NULL (memrchr is a glibc extension; the scan is from the end, and
 * the last line is short, so this stays cheap). */
static const char *find_last_newline(const char *text, size_t size) {
    while (size) {
        if (text[--size] == '\n') return text + size;
    }
    return NULL;
}

static int parse_text(const char *text, size_t size, Column *cols, Py_ssize_t ncols,
                      int64_t *rows_out) {
    int64_t row = 0;
    const char *last_newline = find_last_newline(text, size);
    const char *body_end = last_newline ? last_newline + 1 : text;
    int status = parse_lines(text, body_end, cols, ncols, &row);
    size_t rest = (size_t)(text + size - body_end);
    if (status == OK && rest) { /* a last line without its newline: parse a terminated copy */
        char *line = malloc(rest + 1);
        if (!line) return NO_MEMORY;
        memcpy(line, body_end, rest);
        line[rest] = '\n';
        status = parse_lines(line, line + rest + 1, cols, ncols, &row);
        free(line);
    }
    *rows_out = row;
    return status;
}

static PyObject *as_bytes(const Buf *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
}

static PyObject *column_result(Column *col, int64_t rows) {
    PyObject *validity;
    if (col->nulls)
        validity = PyBytes_FromStringAndSize((const char *)col->validity, (rows + 7) / 8);
    else
        validity = Py_NewRef(Py_None);
    if (!validity) return NULL;
    switch (col->kind) {
    case 'i': col->data.len = (size_t)rows * 4; break;
    case 'l': col->data.len = (size_t)rows * 8; break;
    case 'd': col->data.len = (size_t)rows * 4; break;
    default: break;
    }
    if (col->kind == 's')
        return Py_BuildValue("(NNN)", validity, as_bytes(&col->offsets), as_bytes(&col->data));
    if (col->kind == 'd')
        return Py_BuildValue("(NNNN)", validity, as_bytes(&col->data),
                             as_bytes(&col->dict.offsets), as_bytes(&col->dict.values));
    return Py_BuildValue("(NN)", validity, as_bytes(&col->data));
}

static int64_t count_lines(const char *p, size_t n) {
    int64_t lines = 1;
    const char *end = p + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        lines++;
        p++;
    }
    return lines;
}

static PyObject *fastparse_parse(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer text;
    const char *kinds;
    Py_ssize_t ncols;
    if (!PyArg_ParseTuple(args, "y*y#", &text, &kinds, &ncols)) return NULL;
    for (Py_ssize_t c = 0; c < ncols; c++) {
        if (!strchr("ilsd", kinds[c]) || kinds[c] == 0) {
            PyBuffer_Release(&text);
            return PyErr_Format(PyExc_ValueError, "unknown column kind %c", kinds[c]);
        }
    }
    Column *cols = calloc((size_t)(ncols ? ncols : 1), sizeof *cols);
    int status = cols ? OK : NO_MEMORY;
    int64_t rows = 0;
    Py_BEGIN_ALLOW_THREADS
    /* An upper bound on the rows: fixed-width buffers are sized once. */
    int64_t max_rows = count_lines(text.buf, (size_t)text.len);
    for (Py_ssize_t c = 0; status == OK && c < ncols; c++) {
        Column *col = &cols[c];
        col->kind = kinds[c];
        /* Fixed-width values and indices are written in place; string data grows. */
        size_t width = col->kind == 'l' ? 8 : col->kind == 's' ? 16 : 4;
        col->validity = malloc((size_t)(max_rows + 7) / 8);
        if (!col->validity || buf_reserve(&col->data, (size_t)max_rows * width))
            status = NO_MEMORY;
        else
            memset(col->validity, 0xFF, (size_t)(max_rows + 7) / 8);
        if (status == OK && col->kind == 's') {
            int32_t zero = 0;
            if (buf_reserve(&col->offsets, (size_t)(max_rows + 1) * 4) ||
                buf_put(&col->offsets, &zero, 4))
                status = NO_MEMORY;
        }
        if (status == OK && col->kind == 'd' && dict_init(&col->dict)) status = NO_MEMORY;
    }
    if (status == OK) status = parse_text(text.buf, (size_t)text.len, cols, ncols, &rows);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&text);

    PyObject *result = NULL;
    if (status == NO_MEMORY) {
        PyErr_NoMemory();
    } else if (status == NOT_MINE) {
        result = Py_NewRef(Py_None);
    } else {
        PyObject *columns = PyList_New(ncols);
        for (Py_ssize_t c = 0; columns && c < ncols; c++) {
            PyObject *col = column_result(&cols[c], rows);
            if (!col) {
                Py_CLEAR(columns);
                break;
            }
            PyList_SET_ITEM(columns, c, col);
        }
        if (columns) result = Py_BuildValue("(LN)", (long long)rows, columns);
    }
    for (Py_ssize_t c = 0; cols && c < ncols; c++) {
        free(cols[c].validity);
        free(cols[c].data.data);
        free(cols[c].offsets.data);
        if (cols[c].kind == 'd') dict_free(&cols[c].dict);
    }
    free(cols);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", fastparse_parse, METH_VARARGS,
     "parse(text, kinds) -> None | (rows, columns): see the module's source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fastparse",
    .m_doc = "Fast path of the flow-log text parser (falls back to Arrow's CSV reader).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fastparse(void) { return PyModule_Create(&module); }
