/* Calls a compiled kernel `void k(void **buffers, int64_t *params, int64_t start,
 * int64_t end)` on NumPy arrays with little per-call cost: array data pointers are read from
 * the ndarray struct (its first field after the object header, stable across NumPy 1.x and
 * 2.x), other objects go through the buffer protocol. The GIL is released while the kernel
 * runs; `threads > 1` splits [start, end) over that many native threads (a persistent pool). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

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

/* One kernel of a row program: its kernel rows x run over buffer rows x + offset; it has
 * `rows` kernel rows of `per_row` iterations of its (possibly collapsed) outer loop. */
typedef struct {
    kernel_fn fn;
    void **buffers;
    int64_t *params;
    int64_t offset, rows, per_row;
} row_step;

/* A thread's share: [start, end) of a kernel's outer loop, or, with `nsteps` > 0, buffer
 * rows [start, end) of a row program, run block by block, every step per block. */
typedef struct {
    kernel_fn fn;
    void **buffers;
    int64_t *params;
    int64_t start, end;
    const row_step *steps;
    long nsteps;
    int64_t block;
} chunk;

static int64_t clamp_rows(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

static void *run_chunk(void *arg) {
    chunk *c = (chunk *)arg;
    if (c->nsteps == 0) {
        c->fn(c->buffers, c->params, c->start, c->end);
        return NULL;
    }
    for (int64_t s = c->start; s < c->end; s += c->block) {
        int64_t e = s + c->block < c->end ? s + c->block : c->end;
        for (long k = 0; k < c->nsteps; k++) {
            const row_step *st = &c->steps[k];
            int64_t lo = clamp_rows(s - st->offset, st->rows);
            int64_t hi = clamp_rows(e - st->offset, st->rows);
            if (lo < hi) st->fn(st->buffers, st->params, lo * st->per_row, hi * st->per_row);
        }
    }
    return NULL;
}

#define MAX_BUFFERS 256
#define MAX_THREADS 256
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif
#define SPIN_NS 50000 /* a worker spins this long for the next launch before it sleeps */

/* A persistent pool of worker threads: starting and joining threads per launch costs about
 * 30 us, waking a spinning or sleeping worker a few. One parallel launch uses the pool at a
 * time (launch_lock); a launch that finds it busy (another Python thread's kernel) starts
 * its own threads. Worker i runs jobs[i] of each generation it takes part in; it reads the
 * generation, the job count and its job under `lock`, so it never runs a job twice. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    _Atomic long generation;
    _Atomic long pending;
    long njobs;
    chunk jobs[MAX_THREADS];
    long nworkers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg) {
    long index = (long)(intptr_t)arg;
    long seen = 0;
    for (;;) {
        int64_t until = now_ns() + SPIN_NS;
        for (int i = 0; atomic_load(&pool.generation) == seen; i++) {
            if ((i & 255) == 255 && now_ns() > until) break;
            cpu_relax();
        }
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = atomic_load(&pool.generation);
        int mine = index < pool.njobs;
        chunk job;
        if (mine) job = pool.jobs[index];
        pthread_mutex_unlock(&pool.lock);
        if (!mine) continue;
        run_chunk(&job);
        if (atomic_fetch_sub(&pool.pending, 1) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

/* After fork the child has none of the workers: it starts its own when it needs them. */
static void forget_workers(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pthread_mutex_init(&launch_lock, NULL);
    pool.nworkers = 0;
    pool.njobs = 0;
    atomic_store(&pool.generation, 0);
    atomic_store(&pool.pending, 0);
}

/* Runs chunks[0] here and chunks[1..n) on pool workers; 0 when the pool could not take them
 * (busy, or threads could not be started), and nothing has run. */
static int run_on_pool(chunk *chunks, long n) {
    if (pthread_mutex_trylock(&launch_lock) != 0) return 0;
    while (pool.nworkers < n - 1) {
        pthread_t id;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&id, &attr, worker, (void *)(intptr_t)pool.nworkers);
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool.nworkers++;
    }
    if (pool.nworkers < n - 1) {
        pthread_mutex_unlock(&launch_lock);
        return 0;
    }
    pthread_mutex_lock(&pool.lock);
    for (long t = 1; t < n; t++) pool.jobs[t - 1] = chunks[t];
    pool.njobs = n - 1;
    atomic_store(&pool.pending, n - 1);
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_chunk(&chunks[0]);
    int64_t until = now_ns() + SPIN_NS;
    for (int i = 0; atomic_load(&pool.pending) > 0; i++) {
        if ((i & 255) == 255 && now_ns() > until) break;
        cpu_relax();
    }
    pthread_mutex_lock(&pool.lock);
    while (atomic_load(&pool.pending) > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&launch_lock);
    return 1;
}

/* Runs `whole` split into `threads` contiguous shares: on the pool, else on threads started
 * here (a share whose thread cannot start runs on the calling thread). */
static void run_split(const chunk *whole, long threads) {
    if (threads <= 1) {
        run_chunk((void *)whole);
        return;
    }
    pthread_t ids[MAX_THREADS];
    chunk chunks[MAX_THREADS];
    int started[MAX_THREADS];
    int64_t total = whole->end - whole->start;
    for (long t = 0; t < threads; t++) {
        chunks[t] = *whole;
        chunks[t].start = whole->start + total * t / threads;
        chunks[t].end = whole->start + total * (t + 1) / threads;
    }
    if (run_on_pool(chunks, threads)) return;
    for (long t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, run_chunk, &chunks[t]) == 0;
    run_chunk(&chunks[0]);
    for (long t = 1; t < threads; t++) {
        if (started[t]) pthread_join(ids[t], NULL);
        else run_chunk(&chunks[t]); /* no thread: run it here */
    }
}

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
    chunk whole = {fn, buffers, (int64_t *)params, start, end, NULL, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    run_split(&whole, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* launch_rows(steps, rows, block, threads): a row program; steps is a tuple of
 * (address, arrays, params, offset, kernel rows, per_row). Each thread takes a contiguous
 * share of the buffer rows [0, rows) and runs every step on each block of it: steps touch
 * the buffers they make only in their own rows, so threads need no barrier between steps. */
static PyObject *launch_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "launch_rows(steps: tuple, rows, block, threads)");
        return NULL;
    }
    Py_ssize_t nsteps = PyTuple_GET_SIZE(args[0]);
    int64_t rows = PyLong_AsLongLong(args[1]);
    int64_t block = PyLong_AsLongLong(args[2]);
    long threads = PyLong_AsLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    Py_ssize_t nbuf = 0;
    for (Py_ssize_t k = 0; k < nsteps; k++) {
        PyObject *step = PyTuple_GET_ITEM(args[0], k);
        if (!PyTuple_Check(step) || PyTuple_GET_SIZE(step) != 6 ||
            !PyTuple_Check(PyTuple_GET_ITEM(step, 1))) {
            PyErr_SetString(PyExc_TypeError, "launch_rows: a step is (address, arrays, "
                                             "params, offset, rows, per_row)");
            return NULL;
        }
        nbuf += PyTuple_GET_SIZE(PyTuple_GET_ITEM(step, 1));
    }
    row_step *steps = PyMem_Malloc(sizeof(row_step) * (nsteps ? nsteps : 1));
    void **buffers = PyMem_Malloc(sizeof(void *) * (nbuf ? nbuf : 1));
    if (steps == NULL || buffers == NULL) {
        PyMem_Free(steps);
        PyMem_Free(buffers);
        return PyErr_NoMemory();
    }
    void **next = buffers;
    for (Py_ssize_t k = 0; k < nsteps; k++) {
        PyObject *step = PyTuple_GET_ITEM(args[0], k);
        PyObject *arrays = PyTuple_GET_ITEM(step, 1);
        row_step *st = &steps[k];
        st->fn = (kernel_fn)PyLong_AsVoidPtr(PyTuple_GET_ITEM(step, 0));
        st->buffers = next;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(arrays); i++) {
            if (data_pointer(PyTuple_GET_ITEM(arrays, i), next++) < 0) goto fail;
        }
        void *params = NULL;
        if (data_pointer(PyTuple_GET_ITEM(step, 2), &params) < 0) goto fail;
        st->params = (int64_t *)params;
        st->offset = PyLong_AsLongLong(PyTuple_GET_ITEM(step, 3));
        st->rows = PyLong_AsLongLong(PyTuple_GET_ITEM(step, 4));
        st->per_row = PyLong_AsLongLong(PyTuple_GET_ITEM(step, 5));
        if (PyErr_Occurred()) goto fail;
    }
    if (block < 1) block = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    if (rows < threads) threads = rows > 0 ? (long)rows : 1;
    chunk whole = {NULL, NULL, NULL, 0, rows, steps, (long)nsteps, block};
    Py_BEGIN_ALLOW_THREADS
    run_split(&whole, threads);
    Py_END_ALLOW_THREADS
    PyMem_Free(steps);
    PyMem_Free(buffers);
    Py_RETURN_NONE;
fail:
    PyMem_Free(steps);
    PyMem_Free(buffers);
    return NULL;
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
    {"launch_rows", (PyCFunction)(void (*)(void))launch_rows, METH_FASTCALL,
     "launch_rows(steps, rows, block, threads): run a row program (blocks of rows)"},
    {"set_ndarray_type", set_ndarray_type, METH_O, "tell the launcher numpy.ndarray"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_launch", NULL, -1, methods};

PyMODINIT_FUNC PyInit__launch(void) {
    pthread_atfork(NULL, NULL, forget_workers);
    return PyModule_Create(&module);
}
