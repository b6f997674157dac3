/* A minimal PEP 523 user for the tests: counts the frames it sees and chains to the
 * evaluator it found when installed, restoring that one when uninstalled (as
 * torch.compile does). Built by tests/_hook/test_foreign_evaluator.py. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static _PyFrameEvalFunction previous = NULL;
static long frames_seen = 0;

static PyObject *
counting_eval(PyThreadState *tstate, struct _PyInterpreterFrame *frame, int throwflag)
{
    frames_seen++;
    return previous(tstate, frame, throwflag);
}

static PyObject *
install(PyObject *module, PyObject *unused)
{
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    previous = _PyInterpreterState_GetEvalFrameFunc(interp);
    _PyInterpreterState_SetEvalFrameFunc(interp, counting_eval);
    Py_RETURN_NONE;
}

static PyObject *
uninstall(PyObject *module, PyObject *unused)
{
    _PyInterpreterState_SetEvalFrameFunc(PyThreadState_Get()->interp, previous);
    Py_RETURN_NONE;
}

static PyObject *
is_current(PyObject *module, PyObject *unused)
{
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    return PyBool_FromLong(_PyInterpreterState_GetEvalFrameFunc(interp) == counting_eval);
}

static PyObject *
count(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(frames_seen);
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, NULL},
    {"uninstall", uninstall, METH_NOARGS, NULL},
    {"is_current", is_current, METH_NOARGS, NULL},
    {"count", count, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_foreign_evaluator", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit__foreign_evaluator(void)
{
    return PyModule_Create(&module_def);
}
