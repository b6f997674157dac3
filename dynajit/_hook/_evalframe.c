/* dynajit's PEP 523 frame hook: sees every Python frame before it runs, runs a cached
 * compiled entry in its place when that entry's guard passes, and otherwise asks a per-thread
 * Python callback (or runs the frame as usual). It knows nothing about graphs; the Python
 * side (dynajit.capture) decides what an entry is. See dynajit/_hook/__init__.py for the
 * protocol and DESIGN.md "The frame hook" for why it is shaped this way. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030D0000
#  error "dynajit._hook._evalframe supports CPython 3.11 and 3.12 only"
#endif

/* Python.h (included without Py_BUILD_CORE) defines _PyGC_FINALIZED as a macro on 3.12;
 * the internal headers declare a function of that name. */
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE

/* ------------------------------------------------------------------------------------------
 * Per-version frame layout and frame-ownership rules: the only version-specific code here.
 *
 * DJ_FRAME_FUNC(f)       the frame's function object (borrowed).
 * DJ_CODE_*EXTRA*        the PEP 523 co_extra API (renamed PyUnstable_* in 3.12).
 * DJ_HOOK_POPS_FRAME     1 when an evaluator that returns without evaluating a thread-owned
 *                        frame must clear and pop it itself (3.12); 0 when its caller does
 *                        (3.11: clearing it here too would be a double free).
 * dj_enter_evaluator / dj_leave_evaluator
 *                        wrap each call into the evaluator we chain to, to keep deep
 *                        recursion as it is without the hook while guarding the C stack
 *                        (with any custom evaluator installed, CPython stops inlining
 *                        Python-to-Python calls, so every Python call nests C frames).
 *                        3.12: _PyEval_EvalFrameDefault charges 2 units (PY_EVAL_C_STACK_UNITS)
 *                        of the 1500-unit C recursion budget per entry, so recursion would
 *                        stop near depth 750 instead of the Python limit (1000). We give back
 *                        1 unit per call: the Python limit is hit first again, and nested
 *                        evaluations stay capped at ~1500 by CPython's own C-stack guard.
 *                        3.11: one counter covers Python and C recursion, so nothing is
 *                        needed at the default limit, but a raised sys.setrecursionlimit()
 *                        would let hooked recursion overflow the C stack (~20000 levels on
 *                        an 8 MiB stack); we cap nested evaluations at the same ~1500.
 * ---------------------------------------------------------------------------------------- */
#if PY_VERSION_HEX >= 0x030C0000

#define DJ_FRAME_FUNC(f) ((f)->f_funcobj)
#define DJ_CODE_GET_EXTRA PyUnstable_Code_GetExtra
#define DJ_CODE_SET_EXTRA PyUnstable_Code_SetExtra
#define DJ_REQUEST_CODE_EXTRA_INDEX PyUnstable_Eval_RequestCodeExtraIndex
#define DJ_HOOK_POPS_FRAME 1

static inline int
dj_enter_evaluator(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag)
{
    tstate->c_recursion_remaining += 1;
    return 0;
}

static inline void
dj_leave_evaluator(PyThreadState *tstate)
{
    tstate->c_recursion_remaining -= 1;
}

/* 3.12's clear_thread_frame() + _PyFrame_ClearExceptCode() + _PyThreadState_PopFrame()
 * (Python/ceval.c, Python/frame.c, Python/pystate.c), which are not exported. Only valid for
 * a thread-owned frame that is the top of the data stack, not linked into the frame chain,
 * and has no frame object (dj_eval_frame checks the last one before intercepting), so the
 * frame-object ownership transfer of the original is not needed. */
static void
dj_clear_and_pop_frame(PyThreadState *tstate, _PyInterpreterFrame *frame)
{
    assert(frame->owner == FRAME_OWNED_BY_THREAD);
    assert(frame->frame_obj == NULL);
    assert((PyObject **)frame + frame->f_code->co_framesize == tstate->datastack_top);
    /* Decrefs below may run finalizers: CPython charges one unit for them too. */
    tstate->c_recursion_remaining--;
    for (int i = 0; i < frame->stacktop; i++) {
        Py_XDECREF(frame->localsplus[i]);
    }
    Py_XDECREF(frame->f_locals);
    Py_DECREF(frame->f_funcobj);
    Py_DECREF(frame->f_code);
    tstate->c_recursion_remaining++;

    PyObject **base = (PyObject **)frame;
    _PyStackChunk *chunk = tstate->datastack_chunk;
    if (base == &chunk->data[0]) {
        /* The frame opened a new chunk: free it and make the previous chunk current.
         * The root chunk is never the first slot of a frame, so `previous` exists. */
        _PyStackChunk *previous = chunk->previous;
        tstate->datastack_top = &previous->data[previous->top];
        tstate->datastack_chunk = previous;
        tstate->datastack_limit = (PyObject **)(((char *)previous) + previous->size);
        PyObjectArenaAllocator arena;
        PyObject_GetArenaAllocator(&arena);
        arena.free(arena.ctx, chunk, chunk->size);
    }
    else {
        tstate->datastack_top = base;
    }
}

#else /* 3.11 */

#define DJ_FRAME_FUNC(f) ((PyObject *)(f)->f_func)
#define DJ_CODE_GET_EXTRA _PyCode_GetExtra
#define DJ_CODE_SET_EXTRA _PyCode_SetExtra
#define DJ_REQUEST_CODE_EXTRA_INDEX _PyEval_RequestCodeExtraIndex
#define DJ_HOOK_POPS_FRAME 0

#define DJ_MAX_EVALUATOR_NESTING 1500

static inline int
dj_enter_evaluator(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag)
{
    /* 3.11's recursion counter counts every frame being evaluated, and with the hook each
     * of them nests C frames. Only a fresh thread-owned frame may be refused here: its
     * caller clears it. */
    if (tstate->recursion_limit - tstate->recursion_remaining >= DJ_MAX_EVALUATOR_NESTING
        && frame->owner == FRAME_OWNED_BY_THREAD && !throwflag) {
        PyErr_SetString(PyExc_RecursionError,
                        "maximum recursion depth exceeded (dynajit's frame hook allows "
                        "1500 nested Python calls)");
        return -1;
    }
    return 0;
}

static inline void
dj_leave_evaluator(PyThreadState *tstate)
{
}

#endif
/* ---------------------------- end of the per-version section ---------------------------- */

#define DJ_NOT_INTERCEPTED_FLAGS \
    (CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR)

static PyObject *dj_eval_frame(PyThreadState *, _PyInterpreterFrame *, int);

/* Module-wide state. Single-phase init: one interpreter. All of it is guarded by the GIL. */
static Py_ssize_t extra_index = -1;          /* our co_extra slot */
static PyObject *skip_marker = NULL;         /* co_extra value of a code marked skip */
static PyObject *run_only = NULL;            /* the RUN_ONLY constant */
static PyObject *state_dict_key = NULL;      /* key of our object in each thread's dict */
static Py_tss_t state_key = Py_tss_NEEDS_INIT;  /* -> this thread's ThreadHookState */
static Py_tss_t chain_key = Py_tss_NEEDS_INIT;  /* -> frame being handed to a foreign prev */
static int active_threads = 0;               /* threads with a callback (or one swapped out) */
static _PyFrameEvalFunction previous_eval = NULL;  /* evaluator found when installing */
static PyInterpreterState *hook_interp = NULL;


/* ------------------------------ per-code cache (co_extra) ------------------------------- */

static void
free_extra(void *value)
{
    Py_XDECREF((PyObject *)value);
}

/* Borrowed: NULL (nothing), skip_marker, or a tuple of (guard, entry) tuples. */
static inline PyObject *
get_extra(PyCodeObject *code)
{
    void *value = NULL;
    if (DJ_CODE_GET_EXTRA((PyObject *)code, extra_index, &value) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return (PyObject *)value;
}

/* Steals `value` (which may be NULL); the previous value is freed by free_extra. */
static int
set_extra(PyObject *code, PyObject *value)
{
    if (DJ_CODE_SET_EXTRA(code, extra_index, value) < 0) {
        Py_XDECREF(value);
        return -1;
    }
    return 0;
}


/* ------------------------------ install / uninstall ------------------------------------ */

static void
install_hook(void)
{
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    _PyFrameEvalFunction current = _PyInterpreterState_GetEvalFrameFunc(interp);
    hook_interp = interp;
    if (current == dj_eval_frame) {
        return;  /* still installed (or restored by a PEP 523 user that sat above us) */
    }
    previous_eval = current;
    _PyInterpreterState_SetEvalFrameFunc(interp, dj_eval_frame);
}

static void
uninstall_hook(void)
{
    if (hook_interp == NULL) {
        return;
    }
    /* If another PEP 523 user installed itself above us, leave it in place: it chains to us
     * and we pass every frame through while no thread has a callback. */
    if (_PyInterpreterState_GetEvalFrameFunc(hook_interp) == dj_eval_frame) {
        _PyInterpreterState_SetEvalFrameFunc(hook_interp, previous_eval);
    }
}


/* ------------------------------ per-thread state --------------------------------------- */

/* One per thread that ever called set_callback, owned by the thread state's dict (so it dies
 * with the thread) and reachable fast through `state_key`. */
typedef struct {
    PyObject_HEAD
    PyObject *callback;  /* strong; NULL means None */
    int swapped_out;     /* hook calls in progress that set the callback aside */
    int counted;         /* contributes to active_threads */
} ThreadHookState;

static void
update_active(ThreadHookState *st)
{
    int active = st->callback != NULL || st->swapped_out > 0;
    if (active == st->counted) {
        return;
    }
    st->counted = active;
    if (active) {
        if (active_threads++ == 0) {
            install_hook();
        }
    }
    else if (--active_threads == 0) {
        uninstall_hook();
    }
}

static void
state_dealloc(ThreadHookState *st)
{
    if (PyThread_tss_get(&state_key) == st) {
        PyThread_tss_set(&state_key, NULL);
    }
    PyObject *callback = st->callback;
    st->callback = NULL;
    st->swapped_out = 0;
    update_active(st);
    Py_XDECREF(callback);
    Py_TYPE(st)->tp_free((PyObject *)st);
}

static PyTypeObject ThreadHookState_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dynajit._hook._evalframe.ThreadHookState",
    .tp_basicsize = sizeof(ThreadHookState),
    .tp_dealloc = (destructor)state_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "dynajit's frame-hook state for one thread (internal).",
};

static ThreadHookState *
get_state(int create)
{
    ThreadHookState *st = PyThread_tss_get(&state_key);
    if (st != NULL || !create) {
        return st;
    }
    PyObject *dict = PyThreadState_GetDict();
    if (dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "dynajit._hook: no thread state dict");
        return NULL;
    }
    st = (ThreadHookState *)PyDict_GetItemWithError(dict, state_dict_key);
    if (st == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        st = PyObject_New(ThreadHookState, &ThreadHookState_Type);
        if (st == NULL) {
            return NULL;
        }
        st->callback = NULL;
        st->swapped_out = 0;
        st->counted = 0;
        int failed = PyDict_SetItem(dict, state_dict_key, (PyObject *)st);
        Py_DECREF(st);  /* the thread dict owns it */
        if (failed) {
            return NULL;
        }
    }
    if (PyThread_tss_set(&state_key, st) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "dynajit._hook: cannot set thread-local state");
        return NULL;
    }
    return st;
}

/* Sets the thread's callback aside for the hook's own Python calls (guards, the callback), so
 * they are never intercepted. Returns the callback; the reference moves to the caller. */
static inline PyObject *
swap_out_callback(ThreadHookState *st)
{
    PyObject *callback = st->callback;
    st->callback = NULL;
    st->swapped_out++;
    return callback;
}

/* Puts back what swap_out_callback returned. A callback left behind by unbalanced
 * set_callback calls made in between is dropped. */
static inline void
swap_in_callback(ThreadHookState *st, PyObject *callback)
{
    PyObject *stray = st->callback;
    st->callback = callback;
    st->swapped_out--;
    update_active(st);
    Py_XDECREF(stray);
}


/* ------------------------------ the evaluator ------------------------------------------ */

/* Runs the frame with the evaluator that was installed before us. A foreign previous
 * evaluator that was installed above an earlier instance of our hook chains back to us: the
 * frame is recorded in chain_key so that loop ends in the default evaluator. */
static PyObject *
chain(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag)
{
    _PyFrameEvalFunction prev = previous_eval;
    PyObject *result;
    if (dj_enter_evaluator(tstate, frame, throwflag) < 0) {
        return NULL;
    }
    if (prev == _PyEval_EvalFrameDefault) {
        result = _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    }
    else {
        void *outer = PyThread_tss_get(&chain_key);
        PyThread_tss_set(&chain_key, frame);
        result = prev(tstate, frame, throwflag);
        PyThread_tss_set(&chain_key, outer);
    }
    dj_leave_evaluator(tstate);
    return result;
}

/* The frame's result is `result` (NULL: an exception is set); the frame itself never ran. */
static inline PyObject *
finish_intercepted(PyThreadState *tstate, _PyInterpreterFrame *frame, PyObject *result)
{
#if DJ_HOOK_POPS_FRAME
    dj_clear_and_pop_frame(tstate, frame);
#else
    (void)tstate;
    (void)frame;
#endif
    return result;
}

/* Calls each guard of `entries` (a tuple of (guard, entry)) with the flat argument vector,
 * the callback set aside. Returns 1 and a new reference to the first entry whose guard
 * passed, 0 when none passed, -1 on a guard error. */
static int
find_entry(ThreadHookState *st, PyObject *entries, PyObject *const *args, Py_ssize_t nargs,
           PyObject **entry)
{
    Py_ssize_t n = PyTuple_GET_SIZE(entries);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(entries, i);
        PyObject *callback = swap_out_callback(st);
        PyObject *verdict = PyObject_Vectorcall(PyTuple_GET_ITEM(pair, 0), args, nargs, NULL);
        swap_in_callback(st, callback);
        if (verdict == NULL) {
            return -1;
        }
        int passed = verdict == Py_True ? 1 : verdict == Py_False ? 0 : PyObject_IsTrue(verdict);
        Py_DECREF(verdict);
        if (passed < 0) {
            return -1;
        }
        if (passed) {
            *entry = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
            return 1;
        }
    }
    return 0;
}

static PyObject *
intercept(PyThreadState *tstate, _PyInterpreterFrame *frame, ThreadHookState *st,
          PyObject *entries)
{
    PyCodeObject *code = frame->f_code;
    /* The argument slots come first in localsplus: positional, keyword-only, *args, **kwargs.
     * They are filled before the frame is evaluated; cells are only made by its first
     * instructions, so argument slots still hold the plain values. */
    Py_ssize_t nargs = code->co_argcount + code->co_kwonlyargcount
                       + ((code->co_flags & CO_VARARGS) != 0)
                       + ((code->co_flags & CO_VARKEYWORDS) != 0);
    PyObject *const *args = frame->localsplus;
    PyObject *entry = NULL;
    PyObject *result;

    Py_INCREF(st);
    if (entries != NULL) {
        Py_INCREF(entries);  /* a guard may replace the code's entries */
        int found = find_entry(st, entries, args, nargs, &entry);
        Py_DECREF(entries);
        if (found < 0) {
            Py_DECREF(st);
            return finish_intercepted(tstate, frame, NULL);
        }
    }
    if (entry == NULL) {
        if (st->callback == run_only) {
            Py_DECREF(st);
            return chain(tstate, frame, 0);
        }
        PyObject *argtuple = PyTuple_New(nargs);
        if (argtuple == NULL) {
            Py_DECREF(st);
            return finish_intercepted(tstate, frame, NULL);
        }
        for (Py_ssize_t i = 0; i < nargs; i++) {
            PyTuple_SET_ITEM(argtuple, i, Py_NewRef(args[i]));
        }
        PyObject *callback = swap_out_callback(st);
        PyObject *cbargs[2] = {DJ_FRAME_FUNC(frame), argtuple};
        entry = PyObject_Vectorcall(callback, cbargs, 2, NULL);
        swap_in_callback(st, callback);
        Py_DECREF(argtuple);
        if (entry == NULL) {
            Py_DECREF(st);
            return finish_intercepted(tstate, frame, NULL);
        }
        if (entry == Py_None) {
            Py_DECREF(entry);
            Py_DECREF(st);
            return chain(tstate, frame, 0);
        }
    }
    Py_DECREF(st);
    /* The callback is back on: resume functions and eager callees get intercepted too. */
    result = PyObject_Vectorcall(entry, args, nargs, NULL);
    Py_DECREF(entry);
    return finish_intercepted(tstate, frame, result);
}

static PyObject *
dj_eval_frame(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag)
{
    if (previous_eval != _PyEval_EvalFrameDefault
        && PyThread_tss_get(&chain_key) == (void *)frame) {
        /* We handed this frame to a PEP 523 user that chains back to us. */
        PyThread_tss_set(&chain_key, NULL);
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    }
    ThreadHookState *st = PyThread_tss_get(&state_key);
    if (st == NULL || st->callback == NULL) {
        return chain(tstate, frame, throwflag);
    }
    PyCodeObject *code = frame->f_code;
    if (throwflag
        || frame->owner != FRAME_OWNED_BY_THREAD
        || frame->frame_obj != NULL
        || (code->co_flags & DJ_NOT_INTERCEPTED_FLAGS)
        || !(code->co_flags & CO_OPTIMIZED)          /* module and class bodies */
        || !PyFunction_Check(DJ_FRAME_FUNC(frame))) {
        return chain(tstate, frame, throwflag);
    }
    PyObject *extra = get_extra(code);
    if (extra == skip_marker) {
        return chain(tstate, frame, throwflag);
    }
    if (extra == NULL && st->callback == run_only) {
        return chain(tstate, frame, throwflag);
    }
    return intercept(tstate, frame, st, extra);
}


/* ------------------------------ Python API --------------------------------------------- */

static int
check_code(PyObject *code)
{
    if (!PyCode_Check(code)) {
        PyErr_Format(PyExc_TypeError, "expected a code object, got %.100s",
                     Py_TYPE(code)->tp_name);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(set_callback_doc,
"set_callback(callback, /)\n--\n\n"
"Set this thread's frame callback and return the previous one.\n\n"
"``callback`` is None (frames run normally), RUN_ONLY (cached entries run, the callback is\n"
"never called) or a callable ``callback(func, args) -> entry | None`` called for a frame with\n"
"no passing cached entry. ``func`` is the frame's function and ``args`` the tuple of its\n"
"flat argument slots (positional, keyword-only, then the *args tuple and the **kwargs dict).\n"
"Returning None runs the frame normally; returning a callable calls it with the same\n"
"arguments and makes its result (or exception) the frame's. While the callback runs, this\n"
"thread's callback reads as None. The evaluator is installed while any thread has a\n"
"callback and the previous one is restored when none has.\n\n"
"    prev = set_callback(convert_frame)\n"
"    try:\n"
"        fn(*args)\n"
"    finally:\n"
"        set_callback(prev)");

static PyObject *
py_set_callback(PyObject *module, PyObject *callback)
{
    if (callback != Py_None && callback != run_only && !PyCallable_Check(callback)) {
        PyErr_Format(PyExc_TypeError, "callback must be None, RUN_ONLY or callable, not %.100s",
                     Py_TYPE(callback)->tp_name);
        return NULL;
    }
    ThreadHookState *st = get_state(callback != Py_None);
    if (st == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;  /* no state yet and setting None: nothing to do */
    }
    PyObject *previous = st->callback;
    st->callback = callback == Py_None ? NULL : Py_NewRef(callback);
    update_active(st);
    return previous != NULL ? previous : Py_NewRef(Py_None);
}

PyDoc_STRVAR(get_callback_doc,
"get_callback()\n--\n\n"
"This thread's frame callback: None, RUN_ONLY or a callable (see set_callback).\n\n"
"    assert get_callback() is None");

static PyObject *
py_get_callback(PyObject *module, PyObject *unused)
{
    ThreadHookState *st = get_state(0);
    if (st == NULL || st->callback == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(st->callback);
}

PyDoc_STRVAR(mark_skip_doc,
"mark_skip(code, /)\n--\n\n"
"Never intercept frames of ``code``: they run normally without a callback call. Replaces\n"
"any entries cached for it. Mark compiled entries' and resume helpers' own code.\n\n"
"    mark_skip(entry.__code__)");

static PyObject *
py_mark_skip(PyObject *module, PyObject *code)
{
    if (check_code(code) < 0 || set_extra(code, Py_NewRef(skip_marker)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(is_skipped_doc,
"is_skipped(code, /)\n--\n\n"
"Whether ``code`` is marked skip (see mark_skip).\n\n"
"    assert not is_skipped(f.__code__)");

static PyObject *
py_is_skipped(PyObject *module, PyObject *code)
{
    if (check_code(code) < 0) {
        return NULL;
    }
    return PyBool_FromLong(get_extra((PyCodeObject *)code) == skip_marker);
}

PyDoc_STRVAR(set_entries_doc,
"set_entries(code, entries, /)\n--\n\n"
"Cache ``entries`` for ``code``: a list of ``(guard, entry)`` pairs tried in order, or None\n"
"(or an empty list) to clear the cache and any skip mark. On a call, ``guard(*flat_args)``\n"
"runs (with this thread's callback set aside); the first truthy one selects\n"
"``entry(*flat_args)``, whose result or exception is the frame's. A guard's exception is the\n"
"frame's exception. The list is copied.\n\n"
"    set_entries(f.__code__, [(guard, entry)])");

static PyObject *
py_set_entries(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set_entries(code, entries) takes 2 arguments");
        return NULL;
    }
    PyObject *code = args[0];
    if (check_code(code) < 0) {
        return NULL;
    }
    PyObject *entries = NULL;
    if (args[1] != Py_None) {
        PyObject *pairs = PySequence_Tuple(args[1]);
        if (pairs == NULL) {
            return NULL;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(pairs);
        entries = n > 0 ? PyTuple_New(n) : NULL;
        if (n > 0 && entries == NULL) {
            Py_DECREF(pairs);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *pair = PySequence_Tuple(PyTuple_GET_ITEM(pairs, i));
            if (pair == NULL || PyTuple_GET_SIZE(pair) != 2
                || !PyCallable_Check(PyTuple_GET_ITEM(pair, 0))
                || !PyCallable_Check(PyTuple_GET_ITEM(pair, 1))) {
                if (pair != NULL || PyErr_ExceptionMatches(PyExc_TypeError)) {
                    PyErr_Clear();
                    PyErr_Format(PyExc_TypeError,
                                 "entries[%zd] must be a (guard, entry) pair of callables", i);
                }
                Py_XDECREF(pair);
                Py_DECREF(entries);
                Py_DECREF(pairs);
                return NULL;
            }
            PyTuple_SET_ITEM(entries, i, pair);
        }
        Py_DECREF(pairs);
    }
    if (set_extra(code, entries) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(get_entries_doc,
"get_entries(code, /)\n--\n\n"
"The ``(guard, entry)`` pairs cached for ``code`` as a new list, or None when there are\n"
"none (or the code is marked skip).\n\n"
"    entries = get_entries(f.__code__) or []");

static PyObject *
py_get_entries(PyObject *module, PyObject *code)
{
    if (check_code(code) < 0) {
        return NULL;
    }
    PyObject *extra = get_extra((PyCodeObject *)code);
    if (extra == NULL || extra == skip_marker) {
        Py_RETURN_NONE;
    }
    return PySequence_List(extra);
}

PyDoc_STRVAR(is_installed_doc,
"is_installed()\n--\n\n"
"Whether dynajit's evaluator is the interpreter's current frame evaluator.\n\n"
"    assert not is_installed()");

static PyObject *
py_is_installed(PyObject *module, PyObject *unused)
{
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    return PyBool_FromLong(_PyInterpreterState_GetEvalFrameFunc(interp) == dj_eval_frame);
}

PyDoc_STRVAR(active_threads_doc,
"active_threads()\n--\n\n"
"How many threads currently have a callback (the evaluator is installed while >0).\n\n"
"    assert active_threads() == 0");

static PyObject *
py_active_threads(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(active_threads);
}

static PyMethodDef methods[] = {
    {"set_callback", py_set_callback, METH_O, set_callback_doc},
    {"get_callback", py_get_callback, METH_NOARGS, get_callback_doc},
    {"mark_skip", py_mark_skip, METH_O, mark_skip_doc},
    {"is_skipped", py_is_skipped, METH_O, is_skipped_doc},
    {"set_entries", (PyCFunction)(void (*)(void))py_set_entries, METH_FASTCALL,
     set_entries_doc},
    {"get_entries", py_get_entries, METH_O, get_entries_doc},
    {"is_installed", py_is_installed, METH_NOARGS, is_installed_doc},
    {"active_threads", py_active_threads, METH_NOARGS, active_threads_doc},
    {NULL, NULL, 0, NULL},
};


/* ------------------------------ RUN_ONLY and module init ------------------------------- */

static PyObject *
run_only_repr(PyObject *self)
{
    return PyUnicode_FromString("dynajit._hook.RUN_ONLY");
}

static PyTypeObject RunOnly_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dynajit._hook._evalframe.RunOnlyType",
    .tp_basicsize = sizeof(PyObject),
    .tp_repr = run_only_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Type of RUN_ONLY: run cached entries, never call the callback.",
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dynajit._hook._evalframe",
    .m_doc = "dynajit's PEP 523 frame hook (see dynajit._hook).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__evalframe(void)
{
    if (PyType_Ready(&ThreadHookState_Type) < 0 || PyType_Ready(&RunOnly_Type) < 0) {
        return NULL;
    }
    if (!PyThread_tss_is_created(&state_key) && PyThread_tss_create(&state_key) != 0) {
        return PyErr_NoMemory();
    }
    if (!PyThread_tss_is_created(&chain_key) && PyThread_tss_create(&chain_key) != 0) {
        return PyErr_NoMemory();
    }
    if (extra_index < 0) {
        extra_index = DJ_REQUEST_CODE_EXTRA_INDEX(free_extra);
        if (extra_index < 0) {
            PyErr_SetString(PyExc_RuntimeError, "dynajit._hook: no free co_extra index");
            return NULL;
        }
    }
    if (skip_marker == NULL) {
        skip_marker = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
        run_only = PyType_GenericAlloc(&RunOnly_Type, 0);
        state_dict_key = PyUnicode_InternFromString("dynajit._hook.thread_state");
        if (skip_marker == NULL || run_only == NULL || state_dict_key == NULL) {
            return NULL;
        }
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "RUN_ONLY", run_only) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
