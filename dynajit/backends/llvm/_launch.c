/* Calls a compiled kernel `void k(void **buffers, int64_t *params, int64_t start,
 * int64_t end)` on NumPy arrays with little per-call cost: array data pointers are read from
 * the ndarray struct (its first field after the object header, stable across NumPy 1.x and
 * 2.x), other objects go through the buffer protocol. The GIL is released while the kernel
 * runs; `threads > 1` splits [start, end) over that many native threads. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>

typedef void (*kernel_fn)(void **, int64_t *, int64_t, int64_t);

static PyTypeObject *ndarray_type = NULL;

typedef struct {
    PyObject_HEAD
    char *data;
} array_head;

static int data_pointer(PyObject *obj, void **out) {
    if (ndarray_type != NULL && PyObject_TypeCheck(obj, ndarray_type)) {
        *out = ((array_head *)obj)->data;
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_STRIDED_RO) < 0) return -1;
    *out = view.buf;
    PyBuffer_Release(&view);
    return 0;
}

typedef struct {
    kernel_fn fn;
    void **buffers;
    int64_t *params;
    int64_t start, end;
} chunk;

static void *run_chunk(void *arg) {
    chunk *c = (chunk *)arg;
    c->fn(c->buffers, c->params, c->start, c->end);
    return NULL;
}

#define MAX_BUFFERS 256
#define MAX_THREADS 256

/* launch(address, arrays: tuple, params: ndarray[int64], start, end, threads) */
static PyObject *launch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "launch(address, arrays, params, start, end, threads)");
        return NULL;
    }
    kernel_fn fn = (kernel_fn)PyLong_AsVoidPtr(args[0]);
    if (fn == NULL && PyErr_Occurred()) return NULL;
    PyObject *arrays = args[1];
    if (!PyTuple_Check(arrays) || PyTuple_GET_SIZE(arrays) > MAX_BUFFERS) {
        PyErr_SetString(PyExc_TypeError, "launch: arrays must be a tuple of at most 256 arrays");
        return NULL;
    }
    void *buffers[MAX_BUFFERS];
    Py_ssize_t n = PyTuple_GET_SIZE(arrays);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (data_pointer(PyTuple_GET_ITEM(arrays, i), &buffers[i]) < 0) return NULL;
    }
    void *params = NULL;
    if (data_pointer(args[2], &params) < 0) return NULL;
    int64_t start = PyLong_AsLongLong(args[3]);
    int64_t end = PyLong_AsLongLong(args[4]);
    long threads = PyLong_AsLong(args[5]);
    if (PyErr_Occurred()) return NULL;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    if (end - start < threads) threads = end - start > 0 ? (long)(end - start) : 1;
    Py_BEGIN_ALLOW_THREADS
    if (threads == 1) {
        fn(buffers, (int64_t *)params, start, end);
    } else {
        pthread_t ids[MAX_THREADS];
        chunk chunks[MAX_THREADS];
        int started[MAX_THREADS];
        int64_t total = end - start;
        for (long t = 0; t < threads; t++) {
            chunks[t].fn = fn;
            chunks[t].buffers = buffers;
            chunks[t].params = (int64_t *)params;
            chunks[t].start = start + total * t / threads;
            chunks[t].end = start + total * (t + 1) / threads;
        }
        for (long t = 1; t < threads; t++)
            started[t] = pthread_create(&ids[t], NULL, run_chunk, &chunks[t]) == 0;
        run_chunk(&chunks[0]);
        for (long t = 1; t < threads; t++) {
            if (started[t]) pthread_join(ids[t], NULL);
            else run_chunk(&chunks[t]); /* no thread: run it here */
        }
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *set_ndarray_type(PyObject *self, PyObject *type) {
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "expected numpy.ndarray");
        return NULL;
    }
    Py_INCREF(type);
    Py_XDECREF((PyObject *)ndarray_type);
    ndarray_type = (PyTypeObject *)type;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"launch", (PyCFunction)(void (*)(void))launch, METH_FASTCALL,
     "launch(address, arrays, params, start, end, threads): run a compiled kernel"},
    {"set_ndarray_type", set_ndarray_type, METH_O, "tell the launcher numpy.ndarray"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_launch", NULL, -1, methods};

PyMODINIT_FUNC PyInit__launch(void) { return PyModule_Create(&module); }
