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

/* The FOP whose handler runs on this thread (Caller of glupy's current_frame()). */
static GP_TLS gp_frame_obj *gp_current_fo;

/* What a slot's reply is when it was answered in C (a tail await): not a reply. */
static PyObject *gp_answered;
/* coroutine.cr_await's getter (what a suspended coroutine awaits), called directly */
static getter gp_cr_await_get;
static void *gp_cr_await_closure;

gp_frame_obj *
gp_current_frame_set(gp_frame_obj *fo)
{
    gp_frame_obj *prev = gp_current_fo;
    /* which thread runs the handler now: a report of a stuck handler shows that
     * thread's stack (a plain word, read by the reporter under the GIL) */
    if (prev && prev->req) {
        prev->req->thread = 0;
        /* the handler left this thread before the exception its deadline raised in it
         * fired: it must not fire in the next handler this thread runs */
        if (prev->req->interrupted) {
            PyThreadState_SetAsyncExc(PyThread_get_thread_ident(), NULL);
            prev->req->interrupted = 0;
        }
    }
    if (fo && fo->req) {
        fo->req->thread = PyThread_get_thread_ident();
        fo->req->thread_tick = __atomic_load_n(&gp_ticks, __ATOMIC_RELAXED);
    }
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
    int wound;   /* wound inside the await already (gp_await_here): its reply, or NULL while out, is */
    PyObject *result;
} gp_wind_obj;

/* A handler's `return await` of its own FOP's wind, wound where it is awaited (task.c,
 * "tail awaits"): PYGEN_RETURN, or -1 when the await is not one. */
static int gp_await_here(gp_wind_obj *w, PyObject **result);

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
    w->wound = 0;
    w->result = NULL;
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
    Py_XDECREF(w->result);
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
        int st = gp_await_here(w, result);
        if (st >= 0)
            return st;
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

/* ------------------------------------------------------------ Child.<fop>
 *
 * glupy.Child's FOP methods are Python functions (glupy.translator._make_child_method:
 * ``return Wind(self.xlator, FOP, (args...))``). Inside GlusterFS each is replaced by a
 * ChildMethod wrapping it: the common call, ``self.child.stat(loc, xdata)`` with its
 * arguments by position on a glupy.Child, makes the Wind here without a Python frame;
 * any other call (keywords, lk_owner, a subclass of Child) goes to the function. A
 * method descriptor: ``self.child.stat(...)`` binds nothing. */

typedef struct {
    PyObject_HEAD PyObject *func; /* the Python method */
    PyTypeObject *child_type;     /* glupy.Child */
    Py_ssize_t xlator_offset;     /* of its `xlator` slot */
    int fop, nargs, xdata_last;   /* the FOP's Python arguments; the last is xdata (default None) */
    vectorcallfunc vectorcall;
} gp_childfn_obj;

static PyObject *
gp_childfn_call(gp_childfn_obj *f, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf) - 1; /* after self */
    if (!kwnames && n >= 0 && Py_IS_TYPE(args[0], f->child_type) &&
        (n == f->nargs || (f->xdata_last && n == f->nargs - 1))) {
        PyObject *xl = *(PyObject **)((char *)args[0] + f->xlator_offset);
        if (xl) {
            PyObject *t = PyTuple_New(f->nargs);
            if (!t)
                return NULL;
            for (Py_ssize_t i = 0; i < n; i++)
                PyTuple_SET_ITEM(t, i, Py_NewRef(args[1 + i]));
            if (n < f->nargs)
                PyTuple_SET_ITEM(t, n, Py_NewRef(Py_None));
            gp_wind_obj *w = PyObject_New(gp_wind_obj, &gp_wind_type);
            if (!w) {
                Py_DECREF(t);
                return NULL;
            }
            w->child = Py_NewRef(xl);
            w->args = t;
            w->lk_owner = Py_NewRef(Py_None);
            w->fop = f->fop;
            w->yielded = 0;
            w->wound = 0;
            w->result = NULL;
            return (PyObject *)w;
        }
    }
    return PyObject_Vectorcall(f->func, args, nargsf, kwnames);
}

static PyObject *
gp_childfn_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (!obj || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static void
gp_childfn_dealloc(gp_childfn_obj *f)
{
    Py_XDECREF(f->func);
    Py_XDECREF(f->child_type);
    PyObject_Free(f);
}

static PyObject *
gp_childfn_attr(gp_childfn_obj *f, void *name)
{
    return PyObject_GetAttrString(f->func, (const char *)name);
}

static PyGetSetDef gp_childfn_getset[] = {
    {"__doc__", (getter)gp_childfn_attr, NULL, NULL, "__doc__"},
    {"__name__", (getter)gp_childfn_attr, NULL, NULL, "__name__"},
    {"__qualname__", (getter)gp_childfn_attr, NULL, NULL, "__qualname__"},
    {"__module__", (getter)gp_childfn_attr, NULL, NULL, "__module__"},
    {"__annotations__", (getter)gp_childfn_attr, NULL, NULL, "__annotations__"},
    {NULL},
};

static PyMemberDef gp_childfn_members[] = {
    {"__wrapped__", T_OBJECT_EX, offsetof(gp_childfn_obj, func), READONLY, "the Python method"},
    {NULL},
};

static PyTypeObject gp_childfn_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy._glupy.ChildMethod",
    .tp_doc = "A glupy.Child FOP method made in C (its Python function: __wrapped__).",
    .tp_basicsize = sizeof(gp_childfn_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(gp_childfn_obj, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = gp_childfn_get,
    .tp_dealloc = (destructor)gp_childfn_dealloc,
    .tp_getset = gp_childfn_getset,
    .tp_members = gp_childfn_members,
};

/* _glupy.child_method(func, Child, fop, nargs, xdata_last) */
PyObject *
gp_mod_child_method(PyObject *m, PyObject *const *argv, Py_ssize_t argc)
{
    if (argc != 5 || !PyCallable_Check(argv[0]) || !PyType_Check(argv[1]) || !PyLong_Check(argv[2]) ||
        !PyLong_Check(argv[3])) {
        PyErr_SetString(PyExc_TypeError, "child_method(func, Child, fop, nargs, xdata_last)");
        return NULL;
    }
    PyObject *slot = PyDict_GetItemString(((PyTypeObject *)argv[1])->tp_dict, "xlator"); /* borrowed */
    if (!slot || !Py_IS_TYPE(slot, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)slot)->d_member->type != T_OBJECT_EX) {
        PyErr_SetString(PyExc_TypeError, "child_method: the class has no `xlator` slot");
        return NULL;
    }
    long fop = PyLong_AsLong(argv[2]), nargs = PyLong_AsLong(argv[3]);
    if (fop <= 0 || fop >= GF_FOP_MAXVALUE || nargs < 0 || nargs > 16) {
        PyErr_SetString(PyExc_ValueError, "child_method: no such FOP, or too many arguments");
        return NULL;
    }
    gp_childfn_obj *f = PyObject_New(gp_childfn_obj, &gp_childfn_type);
    if (!f)
        return NULL;
    f->func = Py_NewRef(argv[0]);
    f->child_type = (PyTypeObject *)Py_NewRef(argv[1]);
    f->xlator_offset = ((PyMemberDescrObject *)slot)->d_member->offset;
    f->fop = (int)fop;
    f->nargs = (int)nargs;
    f->xdata_last = PyObject_IsTrue(argv[4]) == 1 && nargs > 0;
    f->vectorcall = (vectorcallfunc)gp_childfn_call;
    return (PyObject *)f;
}

/* ------------------------------------------------------------ tasks */

struct gp_task {
    gp_frame_obj *fo;
    PyObject *coro;
    PyObject *handler;
    int fop;
    int tail_awaits; /* every await of the handler is `return await` (glupy._driver.tail_await_code) */
    int answered;    /* its tail await passed the FOP on (gp_await_here): its result is nobody's */
};

/* The task whose coroutine gp_task_step sends into on this thread (gp_await_here). */
static GP_TLS gp_task *gp_sending;

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

/* The xlator of `child` (an Xlator object) if it is a child of `this`, else NULL. A
 * wind to any other xlator (the translator itself, a parent, another graph's) is
 * refused: one to itself re-enters this translator's own entry point on the same
 * stack, for ever, until the stack overflows. */
static xlator_t *
gp_child_xl(xlator_t *this, PyObject *child)
{
    if (!PyObject_TypeCheck(child, &gp_xlator_type))
        return NULL;
    xlator_t *xl = ((gp_xlator_obj *)child)->xl;
    for (xlator_list_t *c = this ? this->children : NULL; c; c = c->next)
        if (c->xlator == xl)
            return xl;
    return NULL;
}

/* A handler's result (stolen): unwind it in C when it is exactly the FOP's reply
 * class, else let Python answer (None, another type, an unconvertible field). */
static void
gp_answer(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *result)
{
    if (Py_IS_TYPE(result, &gp_wind_type)) {
        /* `return self.child.<fop>(...)` unawaited: a tail call (glupy._driver.tail_call) */
        gp_wind_obj *w = (gp_wind_obj *)result;
        xlator_t *child = w->fop == fop && w->lk_owner == Py_None ? gp_child_xl(fo->this, w->child) : NULL;
        if (child) {
            if (gp_tailers[fop](fo, child, w->args) >= 0) {
                Py_DECREF(result);
                return;
            }
            PyObject *exc = gp_fetch_exception(); /* an argument: Python logs it and answers EIO */
            gp_takeover(fo, fop, handler, NULL, GP_KIND_ERROR, exc);
            Py_XDECREF(exc);
            Py_DECREF(result);
            return;
        }
        /* another FOP's wind, one with a lock owner, or to no child: the Python driver refuses it */
    }
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

/* ------------------------------------------------------------ winds: slots, the wind itself */

/* ANSWERED: the reply of a tail await was unwound to the caller in C (gp_slot_answered)
 * before the winder returned: the winder finishes the handler (gp_task_answered).
 * DETACHED: a tail await's reply was still out when the winder returned: the handler was
 * finished then, and the slot is the callback's (gp_slot_wound). The fast callback moves a
 * slot from WINDING without the GIL (compare-and-swap); every other move is under it. */
enum { GP_SLOT_WINDING, GP_SLOT_DONE, GP_SLOT_WAITING, GP_SLOT_ANSWERED, GP_SLOT_DETACHED };

struct gp_slot {
    int state;
    int fop;                /* the FOP wound */
    int fast;               /* a tail await: wound on the FOP's own frame, passed to the child (gp_req_pass) */
    PyObject *result;       /* set when the callback ran before the wind returned */
    gp_task *task;          /* resumed with the reply (task.c), or else: */
    PyObject *callback;     /* called with the reply when it arrives later, */
    gp_frame_obj *fo;       /* the FOP that winds (the thread's current one in callback); NULL once detached */
    gp_req *req;            /* fo's request, a reference of the slot's own: a callback needs no GIL for it */
    call_frame_t *own_call; /* the wind's own stack (gp_req_wind_begin), once wound */
    int lock_wait;          /* the FOP has no deadline until its reply (gp_req_lock_wait): waits for a lock, or passed */
};

/* A slot whose reply resumes task t (a wind of `fop`), or else calls `callback`
 * (new references taken to fo and callback); NULL with an exception set. Not from
 * Python's allocator: a detached slot is freed without the GIL. */
static gp_slot *
gp_slot_new(gp_task *t, int fop, gp_frame_obj *fo, PyObject *callback)
{
    gp_slot *slot = gp_block_alloc(sizeof(*slot)); /* zeroed */
    if (!slot) {
        PyErr_NoMemory();
        return NULL;
    }
    slot->state = GP_SLOT_WINDING;
    slot->fop = fop;
    slot->task = t;
    slot->callback = Py_XNewRef(callback);
    slot->fo = (gp_frame_obj *)Py_NewRef(fo);
    if ((slot->req = fo->req))
        gp_req_ref(slot->req);
    return slot;
}

/* Whether a wind of `fop` with these arguments waits for a lock (F_SETLKW, ENTRYLK_LOCK). */
static int
gp_wind_waits_for_lock(int fop, PyObject *args)
{
    int at = fop == GF_FOP_LK ? 1 : fop == GF_FOP_INODELK || fop == GF_FOP_FINODELK ? 2
           : fop == GF_FOP_ENTRYLK || fop == GF_FOP_FENTRYLK ? 3 : -1;
    if (at < 0 || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) <= at || !PyLong_Check(PyTuple_GET_ITEM(args, at)))
        return 0;
    long cmd = PyLong_AsLong(PyTuple_GET_ITEM(args, at));
    if (cmd == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return fop == GF_FOP_ENTRYLK || fop == GF_FOP_FENTRYLK ? cmd == ENTRYLK_LOCK : cmd == F_SETLKW;
}

/* Destroying the wind's own stack once its reply is in is what GlusterFS's
 * cluster translators do with their lock frames, in the callback too. */
static void
gp_slot_free(gp_slot *slot)
{
    if (slot->own_call)
        gp_req_wind_destroy(slot->own_call);
    Py_XDECREF(slot->callback);
    Py_XDECREF(slot->fo);
    if (slot->req)
        gp_req_unref(slot->req);
    gp_block_free(slot, sizeof(*slot));
}

/* A detached slot (no Python references left), by its callback: no GIL needed. */
static void
gp_slot_free_detached(gp_slot *slot)
{
    if (slot->req)
        gp_req_unref(slot->req);
    gp_block_free(slot, sizeof(*slot));
}

/* After the winder returned: the reply if the callback already ran (the slot is
 * freed), else NULL, and the slot waits for gp_slot_complete. Decided under the
 * GIL: the callback either ran inside the wind (DONE) or will find the slot
 * WAITING and resume the task itself. */
static PyObject *
gp_slot_wound(gp_slot *slot)
{
    int state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
    if (state == GP_SLOT_DONE) {
        PyObject *result = slot->result;
        if (slot->fast)
            gp_req_lock_wait(slot->req, 0); /* the reply is back in Python: the pass ends */
        gp_slot_free(slot);
        return result;
    }
    if (slot->fast) {
        /* A tail await: its handler only returns what it awaits, and the callback answers
         * the caller. Finish the handler now (gp_answered), whether the reply is in or not:
         * nothing of it waits for a reply that may never come, as with a tail call. */
        gp_frame_obj *fo = slot->fo;
        slot->fo = NULL;
        slot->task = NULL;
        int expected = GP_SLOT_WINDING;
        if (__atomic_compare_exchange_n(&slot->state, &expected, GP_SLOT_DETACHED, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            Py_DECREF(fo); /* (the FOP is passed: its Caller going answers nothing, types.c) */
            return Py_NewRef(gp_answered); /* the slot is the callback's now */
        }
        slot->fo = fo;
        state = expected; /* ANSWERED meanwhile, by the callback on another thread */
    }
    if (state == GP_SLOT_ANSWERED) {
        gp_slot_free(slot);
        return Py_NewRef(gp_answered);
    }
    slot->state = GP_SLOT_WAITING;
    return NULL;
}

/* The handler whose tail await's reply failed the checks in C was finished when it was
 * wound (gp_slot_wound): Python answers the reply (stolen) as it answers a handler's result
 * (EIO and a log line naming the field), through a Caller object of its own. */
static void
gp_slot_answer_detached(gp_slot *slot, PyObject *reply)
{
    gp_req *req = slot->req;
    int fop = slot->fop;
    slot->req = NULL;
    gp_slot_free(slot);
    gp_frame_obj *fo = req ? gp_frame_new(req->this, req) : NULL; /* (takes the slot's reference) */
    if (!fo) {
        gp_log_exception(GP_DOMAIN, gp_fop_names[fop]);
        call_frame_t *frame = req ? gp_req_take(req) : NULL;
        if (frame) {
            Py_BEGIN_ALLOW_THREADS
            gp_failers[fop](frame, EIO);
            Py_END_ALLOW_THREADS
        }
        if (req)
            gp_req_unref(req);
        Py_DECREF(reply);
        return;
    }
    gp_req_lock_wait(req, 0); /* the reply is back in Python: the pass ends */
    gp_frame_obj *prev = gp_current_frame_set(fo);
    PyObject *handler = gp_handler(req->this, fop);
    if (PyExceptionInstance_Check(reply)) {
        gp_takeover(fo, fop, handler ? handler : Py_None, NULL, GP_KIND_ERROR, reply);
        Py_DECREF(reply);
    } else {
        gp_answer(fo, fop, handler ? handler : Py_None, reply);
    }
    Py_XDECREF(handler);
    gp_current_frame_set(prev);
    Py_DECREF(fo);
}

void
gp_slot_complete(gp_slot *slot, PyObject *reply)
{
    if (!reply) {
        /* a conversion failed: hand the exception to the waiting task */
        reply = gp_fetch_exception();
    }
    int expired = slot->req && gp_req_expired(slot->req); /* answered ETIMEDOUT meanwhile: drop the reply */
    if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == GP_SLOT_WINDING) {
        slot->result = reply;
        slot->state = GP_SLOT_DONE;
        return;
    }
    if (expired) {
        Py_DECREF(reply);
        if (slot->task)
            gp_task_drop(slot->task);
        gp_slot_free(slot);
        return;
    }
    /* Handler code runs on the bridge's workers, never on the thread the reply
     * came on (protocol/client's epoll thread, an io-thread...). */
    if (gp_on_worker() || gp_defer_reply(slot, reply) < 0)
        gp_slot_resume(slot, reply);
}

void
gp_slot_resume(gp_slot *slot, PyObject *reply)
{
    if (slot->req && gp_req_expired(slot->req)) {
        /* the deadline passed while the reply waited for a worker */
        Py_DECREF(reply);
        if (slot->task)
            gp_task_drop(slot->task);
        gp_slot_free(slot);
        return;
    }
    if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == GP_SLOT_DETACHED) {
        gp_slot_answer_detached(slot, reply);
        return;
    }
    if (slot->task) {
        gp_task *t = slot->task;
        int fop = slot->fop;
        gp_slot_free(slot);
        gp_task_resume(t, fop, reply);
        return;
    }
    PyObject *cb = Py_NewRef(slot->callback);
    /* the slot's reference may be the frame object's last: hold one while it is current */
    gp_frame_obj *fo = (gp_frame_obj *)Py_NewRef(slot->fo);
    gp_frame_obj *prev = gp_current_frame_set(fo);
    gp_slot_free(slot);
    PyObject *r = PyObject_CallOneArg(cb, reply);
    if (!r)
        gp_log_exception(GP_DOMAIN, "resuming a handler");
    gp_current_frame_set(prev);
    Py_DECREF(fo);
    Py_XDECREF(r);
    Py_DECREF(cb);
    Py_DECREF(reply);
}

/* ------------------------------------------------------------ tail awaits
 *
 * A handler whose every await is `return await X` (glupy._driver.tail_await_code) that
 * awaits a wind of its own FOP directly returns that wind's reply and does nothing else:
 * it passes the FOP on, as a tail call does. So the wind goes out on the FOP's own frame
 * (gp_req_pass: no stack of its own, no deadline until the reply, as a tail call's), and
 * the reply's callback (gp_cbk_NAME, generated) checks it as gp_unwind_NAME would check
 * the handler's answer (gp_fast_NAME: the same validation) and, if it passes, unwinds it
 * to the caller at once, in C, on the thread it came on -- as a tail call's reply goes
 * back -- instead of converting it for Python, handing it to a worker, resuming the
 * handler and converting its answer back. The wind is made inside the handler's own
 * await (gp_await_here), whose value is then None, which the handler returns and nobody
 * sees; elsewhere (CPython other than 3.11 and 3.12) the coroutine is finished by the
 * winder as soon as the wind returns, sent None (gp_slot_wound, gp_task_answered): no
 * Python work, and no worker, waits for the reply. On a worker the wind itself goes out
 * once the run has let the GIL go ("winds sent after the run"). A reply that fails the
 * checks takes the ordinary path: Python answers it (EIO and a log line,
 * gp_slot_answer_detached). */

/* The request (borrowed) of the FOP whose reply may go to its caller in C, or NULL. No
 * GIL needed: called by a callback, which must not hold it (a leaf's ENOSYS is answered
 * under the GIL, inside gp_wind_NAME: that one takes the ordinary path). */
gp_req *
gp_slot_fast(gp_slot *slot)
{
    /* A passed FOP stays passed until answered, or until Python takes its reply back
     * (gp_slot_wound, gp_slot_answer_detached): meanwhile a Caller object that goes
     * away must not answer it (types.c), nor its deadline. */
    if (slot->fast)
        return PyGILState_Check() ? NULL : slot->req;
    if (slot->lock_wait && slot->req) /* (every callback calls this first) */
        gp_req_lock_wait(slot->req, 0);
    return NULL;
}

/* The reply of a fast slot went to the caller: called by the callback, without the GIL.
 * Before the winder's return the winder finishes the handler and frees the slot; after
 * it (DETACHED), the handler is finished already and the slot is freed here. */
void
gp_slot_answered(gp_slot *slot)
{
    int expected = GP_SLOT_WINDING;
    if (__atomic_compare_exchange_n(&slot->state, &expected, GP_SLOT_ANSWERED, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return;
    gp_slot_free_detached(slot);
}

/* Wind `fop` for the FOP fo carries, on a stack of its own (gp_req_wind_begin),
 * with lk_owner as its lock owner when that is a bytes object; a tail await's on the
 * FOP's own frame. The winder's
 * result: None, or NULL with an exception set (nothing wound). */
static PyObject *
gp_wind_on(gp_frame_obj *fo, int fop, xlator_t *child, PyObject *args, gp_slot *slot, PyObject *lk_owner)
{
    if (lk_owner && lk_owner != Py_None &&
        (!PyBytes_Check(lk_owner) || PyBytes_GET_SIZE(lk_owner) < 1 ||
         PyBytes_GET_SIZE(lk_owner) > GF_MAX_LOCK_OWNER_LEN)) {
        PyErr_Format(PyExc_ValueError, "lk_owner must be 1 to %d bytes", GF_MAX_LOCK_OWNER_LEN);
        return NULL;
    }
    if (slot->fast) {
        /* a tail await passes the FOP on, on its own frame (see "tail awaits") */
        call_frame_t *frame = gp_req_pass(fo->req);
        if (!frame)
            return NULL;
        slot->lock_wait = 1; /* the callback (gp_slot_fast) ends the pass */
        return gp_winders[fop](frame, child, args, slot);
    }
    call_frame_t *own = gp_req_wind_begin(fo->req);
    if (!own)
        return NULL;
    slot->own_call = own;
    if (lk_owner && lk_owner != Py_None) {
        own->root->lk_owner.len = (int)PyBytes_GET_SIZE(lk_owner);
        memcpy(own->root->lk_owner.data, PyBytes_AS_STRING(lk_owner), PyBytes_GET_SIZE(lk_owner));
    }
    return gp_winders[fop](own, child, args, slot);
}

/* The one wind of the C side, for both drivers: the C driver (gp_task_wind, the
 * reply resumes task t) and the Python one (_glupy.wind, the reply goes to
 * `callback`). Returns the reply when it is already there; else NULL with
 * *pending set (the reply comes through gp_slot_complete), or NULL with an
 * exception set when nothing was wound. */
static PyObject *
gp_wind_slot(gp_frame_obj *fo, gp_task *t, PyObject *callback, int fop, PyObject *child, PyObject *args,
             PyObject *lk_owner, int fast, int *pending)
{
    *pending = 0;
    if (fop <= 0 || fop >= GF_FOP_MAXVALUE || !gp_winders[fop]) {
        PyErr_Format(PyExc_ValueError, "no such FOP: %d", fop);
        return NULL;
    }
    xlator_t *target = gp_child_xl(fo->this, child);
    if (!target) {
        PyErr_Format(PyExc_TypeError, "cannot wind to %R: not a child of this translator", child);
        return NULL;
    }
    gp_slot *slot = gp_slot_new(t, fop, fo, callback);
    if (!slot)
        return NULL;
    int callers_owner = !lk_owner || lk_owner == Py_None;
    slot->fast = fast && fo->req && callers_owner;
    /* Only the caller's own lock request waits without a deadline (a lock FOP's handler
     * passing it on with the caller's owner, as it would go without glupy). A lock the
     * translator takes for itself keeps the deadline: one it leaked held every later FOP
     * waiting on it for good (a seventh red-team session). */
    if (!slot->fast && fo->req && fo->req->fop == fop && callers_owner && gp_wind_waits_for_lock(fop, args)) {
        slot->lock_wait = 1; /* before the wind: its reply may come inside it */
        gp_req_lock_wait(fo->req, 1);
    }
    PyObject *r = gp_wind_on(fo, fop, target, args, slot, lk_owner);
    if (!r) {
        /* conversion failed before anything was wound */
        if (slot->lock_wait)
            gp_req_lock_wait(fo->req, 0);
        gp_slot_free(slot);
        return NULL;
    }
    Py_DECREF(r);
    PyObject *result = gp_slot_wound(slot);
    *pending = result == NULL;
    return result;
}

/* _glupy.wind(frame, child, fop, args, callback[, lk_owner]) -> reply, or PENDING
 * when the reply will come later through callback(reply). */
PyObject *
gp_mod_wind(PyObject *m, PyObject *const *argv, Py_ssize_t argc)
{
    if ((argc != 5 && argc != 6) || !PyObject_TypeCheck(argv[0], &gp_frame_type) || !PyLong_Check(argv[2]) ||
        !PyTuple_Check(argv[3])) {
        PyErr_SetString(PyExc_TypeError, "wind(frame, child, fop, args, callback[, lk_owner])");
        return NULL;
    }
    int overflow = 0;
    long fop = PyLong_AsLongAndOverflow(argv[2], &overflow);
    if (overflow || fop <= 0 || fop >= GF_FOP_MAXVALUE) {
        PyErr_Format(PyExc_ValueError, "no such FOP: %R", argv[2]);
        return NULL;
    }
    int pending;
    PyObject *reply = gp_wind_slot((gp_frame_obj *)argv[0], NULL, argv[4], (int)fop, argv[1], argv[3],
                                   argc == 6 ? argv[5] : NULL, 0, &pending);
    if (!reply && pending)
        return Py_NewRef(gp_reg.pending);
    return reply;
}

/* Wind `w` for task t. Returns the reply (or an exception object to throw into
 * the coroutine) when it is already there, or NULL when it will arrive through
 * gp_slot_complete, which then owns the task. */
static PyObject *
gp_task_wind(gp_task *t, gp_wind_obj *w, int *fop_out)
{
    *fop_out = w->fop;
    int pending;
    int fast = 0;
    if (t->tail_awaits && w->fop == t->fop) {
        /* awaited by the handler itself, not by a coroutine it awaits (whose code may
         * do more with the reply) */
        PyObject *awaited = gp_cr_await_get(t->coro, gp_cr_await_closure); /* t->coro: exactly a coroutine */
        fast = awaited == (PyObject *)w;
        if (awaited)
            Py_DECREF(awaited);
        else
            PyErr_Clear();
    }
    PyObject *reply = gp_wind_slot(t->fo, t, NULL, w->fop, w->child, w->args, w->lk_owner, fast, &pending);
    if (!reply && !pending)
        return gp_fetch_exception();
    return reply;
}

/* A tail await wound where it is awaited, inside the handler's own SEND (the Wind's
 * am_send): when it passes the FOP on (the reply goes to the caller in C), the await
 * returns None at once and the handler returns it, in the same send: no yield to the
 * driver and no second send to finish the handler (gp_task_answered), about 500
 * instructions a FOP (callgrind). The handler's own await, not a coroutine's it awaits
 * (whose code may do more with the reply), is told by the frame running: the handler's.
 * A reply back in Python (one that failed the checks), or a wind that could not go,
 * goes to the driver with the Wind, yielded as any (gp_task_step). CPython 3.11 and
 * 3.12 (the running frame in PyThreadState's cframe); others take gp_task_wind's way. */
static int
gp_await_here(gp_wind_obj *w, PyObject **result)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
    gp_task *t = gp_sending;
    if (!t || !t->tail_awaits || w->fop != t->fop || w->lk_owner != Py_None || !t->fo->req ||
        PyThreadState_GET()->cframe->current_frame != (void *)((PyCoroObject *)t->coro)->cr_iframe)
        return -1;
    int pending;
    PyObject *reply = gp_wind_slot(t->fo, t, NULL, w->fop, w->child, w->args, w->lk_owner, 1, &pending);
    if (reply == gp_answered) {
        Py_DECREF(reply);
        t->answered = 1;
        *result = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    w->wound = 1;
    w->result = reply || pending ? reply : gp_fetch_exception();
    w->yielded = 1;
    *result = Py_NewRef(w);
    return PYGEN_NEXT;
#else
    return -1;
#endif
}

/* The reply of the handler's tail await went to the caller in C: the handler's coroutine
 * returns what it is sent, here None, which nobody sees. */
static void gp_task_ended(gp_task *t, PySendResult st, PyObject *out);

static void
gp_task_answered(gp_task *t)
{
    PyObject *out = NULL;
    gp_task_ended(t, PyIter_Send(t->coro, Py_None, &out), out);
}

/* The end of a handler whose FOP was answered in C (passed on): nothing of it is used. */
static void
gp_task_ended(gp_task *t, PySendResult st, PyObject *out)
{
    if (st == PYGEN_ERROR)
        gp_log_exception(GP_DOMAIN, "finishing a handler answered in C");
    else if (st == PYGEN_NEXT)
        gf_log(GP_DOMAIN, GF_LOG_ERROR, "glupy: a %s handler answered in C went on awaiting: closed",
               gp_fop_names[t->fop]);
    Py_XDECREF(out);
    gp_task_free(t); /* a coroutine still suspended is closed */
}

/* Run the coroutine from `value` (stolen) until it waits for a reply or ends. */
static void
gp_task_step(gp_task *t, PyObject *value)
{
    for (;;) {
        PyObject *out = NULL;
        gp_task *outer = gp_sending;
        gp_sending = t;
        PySendResult st = PyIter_Send(t->coro, value, &out);
        gp_sending = outer;
        Py_DECREF(value);
        if (t->answered) {
            gp_task_ended(t, st, out);
            return;
        }
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
        gp_wind_obj *wo = (gp_wind_obj *)out;
        PyObject *reply;
        if (wo->wound) { /* wound where it was awaited (gp_await_here): its reply, or NULL while out */
            fop = wo->fop;
            reply = wo->result;
            wo->result = NULL;
            wo->wound = 0;
        } else {
            reply = gp_task_wind(t, wo, &fop);
        }
        Py_DECREF(out);
        if (!reply)
            return; /* pending: gp_task_resume continues */
        if (reply == gp_answered) {
            Py_DECREF(reply);
            gp_task_answered(t);
            return;
        }
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

static void gp_task_first(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *const *args, int nargs,
                          int tail_awaits);

/* ------------------------------------------------------------ winds sent after the run
 *
 * A tail await's wind holds nothing of Python's once its C arguments are made: the
 * handler is finished as soon as the wind is out (gp_slot_wound) and its reply goes to
 * the caller in C. So the wind the first step of a handler prepares on a worker is not
 * sent there, between a release of the GIL and a retaking of it (about 400 instructions
 * a FOP, callgrind), but by the run (gp_run_NAME) once it has let the GIL go for good
 * (gp_later_send). Its record holds a reference to the arguments' tuple, which the C
 * arguments borrow from, and their conversion's temporaries, until a worker next holds
 * the GIL: the next FOP's run, or the worker itself once it found no work for a few
 * milliseconds (workers.c, gp_queue_pop). */

typedef struct {
    gp_frame_obj *fo;  /* the run's FOP */
    gp_later **later;  /* where its wind goes */
} gp_later_run;
static GP_TLS gp_later_run *gp_later_at;
gp_later *gp_later_head; /* winds sent, their records to drop (pushed without a lock) */

gp_later *
gp_later_take(gp_slot *slot, size_t size, PyObject *args, gp_tmp *tmp)
{
    gp_later_run *run = gp_later_at;
    if (!run || !slot->fast || slot->fo != run->fo || *run->later)
        return NULL;
    gp_later *l = gp_block_alloc_dirty(size); /* (every field is set: the generated winder sets its own) */
    if (!l)
        return NULL;
    l->next = NULL;
    l->send = NULL;
    l->slot = slot;
    l->size = size;
    /* The FOP is passed (gp_req_pass), but until its wind goes its deadline still runs:
     * what runs before the run lets the GIL go (the handler's frame ending: a finalizer
     * that blocks) must not keep it unanswered for good (gp_later_send, the timer). */
    __atomic_store_n(&slot->req->unsent, 1, __ATOMIC_RELEASE);
    l->keep = Py_NewRef(args);
    memcpy(&l->tmp, tmp, offsetof(gp_tmp, item) + tmp->n * sizeof(tmp->item[0]));
    tmp->n = 0;
    *run->later = l;
    return l;
}

void
gp_later_send(gp_later *l)
{
    int unsent = 1;
    if (__atomic_compare_exchange_n(&l->slot->req->unsent, &unsent, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        l->send(l);
    else
        gp_slot_free_detached(l->slot); /* answered ETIMEDOUT meanwhile: nothing goes, no reply comes */
    gp_later *head = __atomic_load_n(&gp_later_head, __ATOMIC_RELAXED);
    do
        l->next = head;
    while (!__atomic_compare_exchange_n(&gp_later_head, &head, l, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void
gp_later_flush(void)
{
    gp_later *l = __atomic_exchange_n(&gp_later_head, NULL, __ATOMIC_ACQUIRE);
    while (l) {
        gp_later *next = l->next;
        gp_tmp_release(&l->tmp);
        Py_DECREF(l->keep);
        gp_block_free(l, l->size);
        l = next;
    }
}

void
gp_task_start(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *const *args, int nargs, int tail_awaits,
              gp_later **later)
{
    gp_later_run run = {fo, later}, *outer = gp_later_at;
    gp_later_at = later ? &run : NULL; /* (the first step only: a resumed handler's wind is not the run's) */
    gp_task_first(fo, fop, handler, args, nargs, tail_awaits);
    gp_later_at = outer;
}

static void
gp_task_first(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *const *args, int nargs, int tail_awaits)
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
            t->tail_awaits = tail_awaits;
            t->answered = 0;
            gp_task_step(t, Py_NewRef(Py_None));
            return;
        }
        Py_CLEAR(r);
        PyErr_NoMemory();
    }
    if (r && ((PyObject *)Py_TYPE(r) == gp_reg.reply_cls[fop] || Py_IS_TYPE(r, &gp_wind_type))) {
        gp_answer(fo, fop, handler, r); /* a plain `def` handler answered, or passed the FOP on */
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
    if (PyType_Ready(&gp_wind_type) < 0 || PyType_Ready(&gp_childfn_type) < 0)
        return -1;
    if (!gp_answered && !(gp_answered = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type)))
        return -1;
    PyObject *d = PyDict_GetItemString(PyCoro_Type.tp_dict, "cr_await"); /* borrowed */
    if (!d || !Py_IS_TYPE(d, &PyGetSetDescr_Type) || !((PyGetSetDescrObject *)d)->d_getset->get) {
        PyErr_SetString(PyExc_SystemError, "glupy: coroutines have no cr_await getter");
        return -1;
    }
    gp_cr_await_get = ((PyGetSetDescrObject *)d)->d_getset->get;
    gp_cr_await_closure = ((PyGetSetDescrObject *)d)->d_getset->closure;
    return PyModule_AddObjectRef(module, "Wind", (PyObject *)&gp_wind_type);
}

int
gp_task_bind(PyObject *runtime)
{
    Py_XSETREF(gp_takeover_fn, PyObject_GetAttrString(runtime, "takeover"));
    return gp_takeover_fn ? 0 : -1;
}
