/*
 * The DLE/ETX codec of tcpbridge.dle, compiled: the same two functions as
 * the pure-Python codec there, which stays the reference and the fallback.
 *
 *   encode(data) -> bytes
 *       every DLE and every ETX gets a DLE in front.
 *   decode(data, pending) -> (payload, rest, pending)
 *       one read of the host's stream; pending says a DLE ended the last
 *       read.  rest is None while the session goes on, else the bytes after
 *       the bare ETX.
 *
 * Plain bytes are found and copied a word at a time, so data with few
 * escapes costs about a memcpy, and escape-dense data one pass.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define DLE 0x10
#define ETX 0x03

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether any of the 8 bytes in x is a DLE or an ETX (word at a time). */
static inline int
special8(uint64_t x)
{
    uint64_t d = x ^ (ONES * DLE), e = x ^ (ONES * ETX);
    return (((d - ONES) & ~d) | ((e - ONES) & ~e)) & HIGHS ? 1 : 0;
}

static inline int
special(unsigned char c)
{
    return (c == DLE) | (c == ETX);
}

/*
 * How many bytes from s on, in whole words, hold neither DLE nor ETX.  Not
 * inlined: kept out of the byte loops, whose variables then stay in
 * registers.
 */
static Py_ssize_t __attribute__((noinline))
plainWords(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t j = 0;
    while (j + 8 <= n) {
        uint64_t x;
        memcpy(&x, s + j, 8);
        if (special8(x))
            break;
        j += 8;
    }
    return j;
}

static PyObject *
encode(PyObject *module, PyObject *arg)
{
    Py_buffer in;
    PyObject *result;
    const unsigned char *s;
    unsigned char *o;
    Py_ssize_t n, i, count = 0;

    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    s = in.buf;
    n = in.len;
    for (i = 0; i < n; i++)
        count += special(s[i]);
    if (count == 0 && PyBytes_CheckExact(arg)) {
        PyBuffer_Release(&in);
        Py_INCREF(arg);
        return arg;
    }
    result = PyBytes_FromStringAndSize(NULL, n + count);
    if (result == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    o = (unsigned char *)PyBytes_AS_STRING(result);
    i = 0;
    if (count * 8 > n) {
        /* Dense: no branch per byte, a DLE written always and kept when due. */
        for (; i < n; i++) {
            *o = DLE;
            o += special(s[i]);
            *o++ = s[i];
        }
    }
    else {
        while (i < n) {
            Py_ssize_t run = plainWords(s + i, n - i);
            memcpy(o, s + i, run);
            o += run;
            i += run;
            while (i < n && !special(s[i]))
                *o++ = s[i++];
            if (i < n) {
                *o++ = DLE;
                *o++ = s[i++];
            }
        }
    }
    PyBuffer_Release(&in);
    return result;
}

/* Called once a read of the host's: METH_FASTCALL, and the result built
 * with PyTuple_Pack, so that a few bytes cost no argument tuple and no
 * format strings (about half of what a 32-byte read cost). */
static PyObject *
decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *data, *payload = NULL, *rest = NULL, *result;
    Py_buffer in;
    int pendingArg, pending;
    const unsigned char *s;
    unsigned char *o, *start;
    Py_ssize_t n, i = 0;
    unsigned plain = 0;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "decode() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    data = args[0];
    pendingArg = PyObject_IsTrue(args[1]);
    if (pendingArg < 0)
        return NULL;
    /* A copy whose address is never taken: the byte stores below may
     * alias anything whose address escaped, which would keep it in memory. */
    pending = pendingArg;
    if (PyObject_GetBuffer(data, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    s = in.buf;
    n = in.len;
    if (!pending) {
        i = plainWords(s, n);
        while (i < n && !special(s[i]))
            i++;
        if (i == n && PyBytes_CheckExact(data)) {
            /* Nothing to decode: the read itself is the payload. */
            PyBuffer_Release(&in);
            return PyTuple_Pack(3, data, Py_None, Py_False);
        }
    }
    /* The payload is never longer than the read plus the waiting DLE. */
    payload = PyBytes_FromStringAndSize(NULL, n + 1);
    if (payload == NULL)
        goto error;
    start = o = (unsigned char *)PyBytes_AS_STRING(payload);
    memcpy(o, s, i);
    o += i;
    /* pending: the last byte taken was a DLE waiting for its partner;
     * plain: how many plain bytes were just taken one by one. */
    while (i < n) {
        unsigned char c = s[i];
        int isDLE = c == DLE, isETX = c == ETX;
        if (isETX && !pending) {
            /* A bare ETX: the host closes; what follows is not ours. */
            rest = PyBytes_FromStringAndSize((const char *)s + i + 1, n - i - 1);
            if (rest == NULL)
                goto error;
            break;
        }
        /* No branch per byte (escape-dense data would mispredict half of
         * them): each write is made always and kept only when due.  After
         * a DLE, a DLE or an ETX is itself, any other byte passes with the
         * DLE; a DLE not after one waits for its partner. */
        *o = DLE;
        o += pending & ((isDLE | isETX) ^ 1);
        *o = c;
        o += pending | (isDLE ^ 1);
        plain = (plain + 1) & -(unsigned)((isDLE | isETX | pending) ^ 1);
        pending = (pending ^ 1) & isDLE;
        i++;
        if (plain >= 8) {
            /* Plain data again: copy the whole words that hold neither
             * byte (escape-dense data seldom gets here, so the test is
             * nearly always guessed right). */
            Py_ssize_t run = plainWords(s + i, n - i);
            plain = 0;
            memcpy(o, s + i, run);
            o += run;
            i += run;
        }
    }
    PyBuffer_Release(&in);
    if (_PyBytes_Resize(&payload, o - start) < 0) {
        Py_XDECREF(rest);
        return NULL;
    }
    result = PyTuple_Pack(3, payload, rest ? rest : Py_None,
                          pending ? Py_True : Py_False);
    Py_DECREF(payload);
    Py_XDECREF(rest);
    return result;

error:
    PyBuffer_Release(&in);
    Py_XDECREF(payload);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_O, "Escape peer data for the host."},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "Decode one read of the host's stream: (payload, rest, pending)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "tcpbridge._dle",
    "The compiled DLE/ETX codec (see tcpbridge.dle).", -1, methods,
};

PyMODINIT_FUNC
PyInit__dle(void)
{
    return PyModule_Create(&module);
}
