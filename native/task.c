/* The common path of a FOP handler, driven in C.
 *
 * glupy's driver (src/glupy/_driver.py) steps a handler's coroutine: each
 * `await self.child.<fop>(...)` yields a Wind, the driver winds it, and the
 * reply is sent back into the coroutine. Written in Python that costs some
 * 20,000 instructions per FOP (a Task object, a generator per await, a
 * StopIteration per return, bound methods for callbacks). This file does the
 * same for the path nearly every FOP takes -- the handler awaits winds, each
 * reply succeeds, the handler returns its FOP's reply -- with PyIter_Send (no
 * StopIteration), a C Wind type with am_send (no generator), and C callbacks.
 *
 * Everything else is handed to the Python driver at the point where it happens
 * ("takeover"): a failed reply (Python throws FopError into the coroutine), an
 * awaited object that is not a Wind (gather), a handler that is not a coroutine,
 * an exception, a result that is not exactly the FOP's reply class. From there
 * the Python driver runs the handler to its end, so the semantics stay those of
 * _driver.py, which the unit tests check in the in-process harness.
 *
 * All of this runs with the GIL held; the winders release it around STACK_WIND.
 */

#include "glupy.h"

#if PY_VERSION_HEX < 0x030A0000
#error "glupy needs Python 3.10 or newer (PyIter_Send)"
#endif

/* glupy._runtime.takeover(frame, fop, handler, coro, kind, obj): see gp_kind */
static PyObject *gp_takeover_fn;

/* What the Python driver is handed (glupy._runtime.takeover's `kind`). */
enum gp_kind {
    GP_KIND_CALLED = 0,  /* obj: a handler's return value that is not a coroutine */
    GP_KIND_ERROR = 1,   /* obj: the exception a handler raised */
    GP_KIND_RESULT = 2,  /* obj: a coroutine's result C could not answer with */
    GP_KIND_REPLY = 3,   /* obj: a failed reply (or an exception) to resume coro with */
    GP_KIND_REQUEST = 4, /* obj: something coro awaited that is not a Wind */
};

/* The FOP whose handler runs on this thread (Caller of glupy's current_frame()). */
static GP_TLS gp_frame_obj *gp_current_fo;

gp_frame_obj *
gp_current_frame_set(gp_frame_obj *fo)
{
    gp_frame_obj *prev = gp_current_fo;
    /* which thread runs the handler now: a report of a stuck handler shows that
     * thread's stack (a plain word, read by the reporter under the GIL) */
    if (prev && prev->req)
        prev->req->thread = 0;
    if (fo && fo->req)
        fo->req->thread = PyThread_get_thread_ident();
    gp_current_fo = fo;
    return prev;
}

PyObject *
gp_mod_current_frame(PyObject *m, PyObject *unused)
{
    return Py_NewRef(gp_current_fo ? (PyObject *)gp_current_fo : Py_None);
}

/* ------------------------------------------------------------ Wind */

typedef struct {
    PyObject_HEAD PyObject *child; /* Xlator */
    PyObject *args;                /* tuple */
    PyObject *lk_owner;            /* bytes: wind on a frame of our own with this lock owner; or None */
    int fop;
    int yielded; /* the current await has handed the Wind to the driver */
} gp_wind_obj;

static PyObject *
gp_wind_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (n < 3 || n > 4 || (kwnames && PyTuple_GET_SIZE(kwnames)) || !PyTuple_Check(args[2]) ||
        (n == 4 && args[3] != Py_None && !PyBytes_Check(args[3]))) {
        PyErr_SetString(PyExc_TypeError, "Wind(child, fop, args: tuple, lk_owner: bytes | None = None)");
        return NULL;
    }
    long fop = PyLong_AsLong(args[1]);
    if (fop == -1 && PyErr_Occurred())
        return NULL;
    gp_wind_obj *w = PyObject_New(gp_wind_obj, (PyTypeObject *)type);
    if (!w)
        return NULL;
    w->child = Py_NewRef(args[0]);
    w->args = Py_NewRef(args[2]);
    w->lk_owner = Py_NewRef(n == 4 ? args[3] : Py_None);
    w->fop = (int)fop;
    w->yielded = 0;
    return (PyObject *)w;
}

static PyObject *
gp_wind_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    if (kw && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "Wind(child, fop, args: tuple, lk_owner: bytes | None = None)");
        return NULL;
    }
    return gp_wind_vectorcall((PyObject *)type, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), NULL);
}

static void
gp_wind_dealloc(gp_wind_obj *w)
{
    Py_DECREF(w->child);
    Py_DECREF(w->args);
    Py_DECREF(w->lk_owner);
    PyObject_Free(w);
}

/* `await wind`: yield the Wind itself to the driver once, then return what the
 * driver sends back (the reply). */
static PyObject *
gp_wind_await(gp_wind_obj *w)
{
    w->yielded = 0;
    return Py_NewRef(w);
}

static PySendResult
gp_wind_am_send(gp_wind_obj *w, PyObject *arg, PyObject **result)
{
    if (!w->yielded) {
        w->yielded = 1;
        *result = Py_NewRef(w);
        return PYGEN_NEXT;
    }
    w->yielded = 0;
    *result = Py_NewRef(arg);
    return PYGEN_RETURN;
}

static PyObject *
gp_wind_iternext(gp_wind_obj *w)
{
    if (!w->yielded) {
        w->yielded = 1;
        return Py_NewRef(w);
    }
    w->yielded = 0;
    return NULL; /* StopIteration(None) */
}

/* send() for the interpreter's slow path (a tracer or profiler is active) */
static PyObject *
gp_wind_send(gp_wind_obj *w, PyObject *arg)
{
    PyObject *result;
    if (gp_wind_am_send(w, arg, &result) == PYGEN_NEXT)
        return result;
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
    Py_DECREF(result);
    if (stop) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

static PyObject *
gp_wind_repr(gp_wind_obj *w)
{
    const char *name = w->fop > 0 && w->fop < GF_FOP_MAXVALUE && gp_fop_names[w->fop] ? gp_fop_names[w->fop] : "?";
    return PyUnicode_FromFormat("<Wind %s to %R>", name, w->child);
}

static PyMemberDef gp_wind_members[] = {
    {"child", T_OBJECT_EX, offsetof(gp_wind_obj, child), READONLY, "the child's Xlator"},
    {"fop", T_INT, offsetof(gp_wind_obj, fop), READONLY, "the GF_FOP number"},
    {"args", T_OBJECT_EX, offsetof(gp_wind_obj, args), READONLY, "the FOP's arguments"},
    {"lk_owner", T_OBJECT_EX, offsetof(gp_wind_obj, lk_owner), READONLY, "a lock owner of our own, or None"},
    {NULL},
};

static PyMethodDef gp_wind_methods[] = {
    {"send", (PyCFunction)gp_wind_send, METH_O, NULL},
    {NULL},
};

static PyAsyncMethods gp_wind_async = {
    .am_await = (unaryfunc)gp_wind_await,
    .am_send = (sendfunc)gp_wind_am_send,
};

PyTypeObject gp_wind_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy._glupy.Wind",
    .tp_doc = "An awaitable FOP on a child; created by glupy.Child methods.",
    .tp_basicsize = sizeof(gp_wind_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = gp_wind_new,
    .tp_vectorcall = gp_wind_vectorcall,
    .tp_dealloc = (destructor)gp_wind_dealloc,
    .tp_as_async = &gp_wind_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)gp_wind_iternext,
    .tp_repr = (reprfunc)gp_wind_repr,
    .tp_members = gp_wind_members,
    .tp_methods = gp_wind_methods,
};

/* ------------------------------------------------------------ tasks */

struct gp_task {
    gp_frame_obj *fo;
    PyObject *coro;
    PyObject *handler;
    int fop;
};

static void
gp_task_free(gp_task *t)
{
    Py_DECREF(t->fo);
    Py_DECREF(t->coro);
    Py_DECREF(t->handler);
    PyMem_Free(t);
}

/* Hand the FOP to the Python driver. If even that fails, answer EIO here: a FOP
 * must never be left unanswered. */
static void
gp_takeover(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *coro, enum gp_kind kind, PyObject *obj)
{
    PyObject *fop_obj = PyLong_FromLong(fop), *kind_obj = PyLong_FromLong(kind);
    PyObject *r = NULL;
    if (fop_obj && kind_obj && gp_takeover_fn) {
        PyObject *argv[6] = {(PyObject *)fo, fop_obj, handler, coro ? coro : Py_None, kind_obj, obj ? obj : Py_None};
        r = PyObject_Vectorcall(gp_takeover_fn, argv, 6, NULL);
    }
    Py_XDECREF(fop_obj);
    Py_XDECREF(kind_obj);
    if (!r) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "glupy._runtime.takeover is not available");
        gp_log_exception(GP_DOMAIN, gp_fop_names[fop]);
        if (gp_unwinders[fop](fo, -1, EIO, NULL) < 0)
            gp_log_exception(GP_DOMAIN, "answering EIO");
    }
    Py_XDECREF(r);
}

/* 1 when a reply (built by the callback of `fop`) must be thrown into the
 * coroutine as an exception: a failure, or an exception object (among them the
 * ValueError of a wind whose FOP number is not one: `fop` may be anything). */
static int
gp_reply_failed(int fop, PyObject *reply)
{
    if (fop <= 0 || fop >= GF_FOP_MAXVALUE || (PyObject *)Py_TYPE(reply) != gp_reg.reply_cls[fop])
        return 1;
    PyObject *ret = GP_REPLY_SLOT(reply, fop, gp_reg.reply_nfields[fop] - 2);
    if (!ret || !PyLong_Check(ret))
        return 1;
    long v = PyLong_AsLong(ret);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return v < 0;
}

/* A handler's result (stolen): unwind it in C when it is exactly the FOP's reply
 * class, else let Python answer (None, another type, an unconvertible field). */
static void
gp_answer(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *result)
{
    if ((PyObject *)Py_TYPE(result) == gp_reg.reply_cls[fop]) {
        int n = gp_reg.reply_nfields[fop];
        PyObject *ret = GP_REPLY_SLOT(result, fop, n - 2);
        PyObject *err = GP_REPLY_SLOT(result, fop, n - 1);
        int32_t op_ret, op_errno;
        /* >= 0: answered (or answered before, by the deadline: dropped) */
        if (ret && err && gp_c_int32(ret, &op_ret, "op_ret") == 0 && gp_c_int32(err, &op_errno, "op_errno") == 0 &&
            gp_unwinders[fop](fo, op_ret, op_errno, result) >= 0) {
            Py_DECREF(result);
            return;
        }
        if (PyErr_Occurred()) {
            /* a reply field C cannot convert: Python logs it and answers EIO */
            PyObject *exc = gp_fetch_exception();
            gp_takeover(fo, fop, handler, NULL, GP_KIND_ERROR, exc);
            Py_XDECREF(exc);
            Py_DECREF(result);
            return;
        }
    }
    gp_takeover(fo, fop, handler, NULL, GP_KIND_RESULT, result);
    Py_DECREF(result);
}

static void
gp_task_finish(gp_task *t, PyObject *result)
{
    gp_answer(t->fo, t->fop, t->handler, result);
    gp_task_free(t);
}

/* Wind `w` for task t. Returns the reply (or an exception object to throw into
 * the coroutine) when it is already there, or NULL when it will arrive through
 * gp_slot_complete, which then owns the task. */
static PyObject *
gp_task_wind(gp_task *t, gp_wind_obj *w, int *fop_out)
{
    int fop = w->fop;
    *fop_out = fop;
    if (fop <= 0 || fop >= GF_FOP_MAXVALUE || !gp_winders[fop])
        PyErr_Format(PyExc_ValueError, "no such FOP: %d", fop);
    else if (!PyObject_TypeCheck(w->child, &gp_xlator_type))
        PyErr_Format(PyExc_TypeError, "cannot wind to %R: not a child of this translator", w->child);
    if (PyErr_Occurred())
        return gp_fetch_exception();
    gp_slot *slot = gp_slot_new(t, fop, t->fo, NULL);
    if (!slot)
        return gp_fetch_exception();
    PyObject *r = gp_wind_on(t->fo, fop, ((gp_xlator_obj *)w->child)->xl, w->args, slot, w->lk_owner);
    if (!r) {
        /* conversion failed before anything was wound */
        gp_slot_free(slot);
        return gp_fetch_exception();
    }
    Py_DECREF(r);
    return gp_slot_wound(slot);
}

/* Run the coroutine from `value` (stolen) until it waits for a reply or ends. */
static void
gp_task_step(gp_task *t, PyObject *value)
{
    for (;;) {
        PyObject *out = NULL;
        PySendResult st = PyIter_Send(t->coro, value, &out);
        Py_DECREF(value);
        if (st == PYGEN_RETURN) {
            gp_task_finish(t, out);
            return;
        }
        if (st == PYGEN_ERROR) {
            PyObject *exc = gp_fetch_exception();
            gp_takeover(t->fo, t->fop, t->handler, NULL, GP_KIND_ERROR, exc);
            Py_XDECREF(exc);
            gp_task_free(t);
            return;
        }
        if (!Py_IS_TYPE(out, &gp_wind_type)) {
            gp_takeover(t->fo, t->fop, t->handler, t->coro, GP_KIND_REQUEST, out);
            Py_DECREF(out);
            gp_task_free(t);
            return;
        }
        int fop;
        PyObject *reply = gp_task_wind(t, (gp_wind_obj *)out, &fop);
        Py_DECREF(out);
        if (!reply)
            return; /* pending: gp_task_resume continues */
        if (t->fo->req->expired) {
            /* answered ETIMEDOUT meanwhile: the handler is not resumed */
            Py_DECREF(reply);
            gp_task_free(t);
            return;
        }
        if (gp_reply_failed(fop, reply)) {
            gp_takeover(t->fo, t->fop, t->handler, t->coro, GP_KIND_REPLY, reply);
            Py_DECREF(reply);
            gp_task_free(t);
            return;
        }
        value = reply;
    }
}

void
gp_task_resume(gp_task *t, int fop, PyObject *reply)
{
    /* The task may end here and drop the last reference to its frame object:
     * hold one until the thread's current frame no longer names it
     * (gp_current_frame_set writes through the current frame's req). */
    gp_frame_obj *fo = (gp_frame_obj *)Py_NewRef(t->fo);
    gp_frame_obj *prev = gp_current_frame_set(fo);
    if (gp_reply_failed(fop, reply)) {
        gp_takeover(t->fo, t->fop, t->handler, t->coro, GP_KIND_REPLY, reply);
        Py_DECREF(reply);
        gp_task_free(t);
    } else {
        gp_task_step(t, reply);
    }
    gp_current_frame_set(prev);
    Py_DECREF(fo);
}

void
gp_task_drop(gp_task *t)
{
    gp_task_free(t);
}

void
gp_task_start(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *const *args, int nargs)
{
    PyObject *r = PyObject_Vectorcall(handler, args, nargs, NULL);
    if (r && PyCoro_CheckExact(r)) {
        Py_XSETREF(fo->coro, Py_NewRef(r));
        gp_task *t = PyMem_Malloc(sizeof(*t));
        if (t) {
            t->fo = (gp_frame_obj *)Py_NewRef(fo);
            t->coro = r;
            t->handler = Py_NewRef(handler);
            t->fop = fop;
            gp_task_step(t, Py_NewRef(Py_None));
            return;
        }
        Py_CLEAR(r);
        PyErr_NoMemory();
    }
    if (r && (PyObject *)Py_TYPE(r) == gp_reg.reply_cls[fop]) {
        gp_answer(fo, fop, handler, r); /* a plain `def` handler (or a cache hit) answered */
        return;
    }
    if (r) {
        gp_takeover(fo, fop, handler, NULL, GP_KIND_CALLED, r);
        Py_DECREF(r);
        return;
    }
    PyObject *exc = gp_fetch_exception();
    gp_takeover(fo, fop, handler, NULL, GP_KIND_ERROR, exc);
    Py_XDECREF(exc);
}

int
gp_task_ready(PyObject *module)
{
    if (PyType_Ready(&gp_wind_type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Wind", (PyObject *)&gp_wind_type);
}

int
gp_task_bind(PyObject *runtime)
{
    Py_XSETREF(gp_takeover_fn, PyObject_GetAttrString(runtime, "takeover"));
    return gp_takeover_fn ? 0 : -1;
}
