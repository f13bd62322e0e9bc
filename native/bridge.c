/* The xlator entry points (init, fini, reconfigure, notify, callbacks, statedump)
 * and the machinery the generated FOP glue relies on: interpreter start-up, the
 * _glupy module, dispatching a FOP to Python, and the wind/callback handshake.
 *
 * Threads: GlusterFS calls FOPs and callbacks on its own threads. Every entry
 * from GlusterFS takes the GIL with PyGILState_Ensure; every call back into
 * GlusterFS (wind, unwind, unref) releases it. A callback may run synchronously
 * inside a wind on the same thread, or concurrently on another thread: the slot
 * state machine below resolves both under the GIL. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include "glupy.h"
#include "layout_check.h"

#ifndef GLUPY_PYTHON
#error "GLUPY_PYTHON (the Python executable of glupy's environment) must be defined by the build"
#endif
#ifndef GLUPY_LIBPYTHON
#error "GLUPY_LIBPYTHON (the libpython soname) must be defined by the build"
#endif

/* The raised exception, normalised, with its traceback (PyErr_GetRaisedException
 * arrives only in Python 3.12). */
PyObject *
gp_fetch_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

typedef struct gp_notify_line gp_notify_line;

#define GP_PRIV_MAGIC 0x676c7570795f7876ULL /* "glupy_xv" */

typedef struct {
    uint64_t magic;                       /* GP_PRIV_MAGIC: this is a glupy translator (gp_xlator_is_glupy) */
    PyObject *instance;                   /* the Python translator */
    PyObject *handlers[GF_FOP_MAXVALUE];  /* bound methods of overridden FOPs */
    PyObject *hooks;                      /* dict of optional hooks: notify, statedump, ... */
    PyObject *handle;                     /* Xlator object for `this` */
    struct xlator_fops fops;              /* this instance's table */
    struct xlator_fops *base_fops;        /* GlusterFS's defaults for this xlator */
    char overridden[GF_FOP_MAXVALUE];     /* FOPs the Python class handles */
    PyObject *observers[GF_FOP_MAXVALUE]; /* bound observers (glupy.observer) of observed FOPs */
    PyObject *tail_code[GF_FOP_MAXVALUE]; /* the handler's code if its awaits are all `return await`
                                             (glupy._driver.tail_await_code), else NULL */
    char observed[GF_FOP_MAXVALUE];       /* FOPs routed to the observer path (gp_obs_fop_NAME) */
    gf_boolean_t pass_through;            /* option pass-through: all FOPs in C */
    double fop_timeout;                   /* option fop-timeout: seconds (0: none) */
    int named_lookups_only;               /* the class's named_lookups_only */
    int fresh_lookups_only;               /* ... and fresh_lookups_only */
    int has_notify;                       /* the class has a notify hook (read without the GIL) */
    gp_notify_line *notify_line;          /* events for the notify hook (made at the first one) */
    unsigned notify_cycles;               /* notify calls past GP_NOTIFY_DEPTH (for the log) */
    pthread_mutex_t reconfigure_lock;     /* one reconfigure (hook or reload) at a time, late ones included */
    int reconfiguring;                    /* a reconfigure's Python part is queued or running (atomic) */
    PyObject *missing_names;              /* its missing_names (a gp_missing_type), or NULL */
    PyObject *retired;                    /* earlier missing_names, kept until fini (read without GIL) */
    char module[256], cls[128];
    char generation[64];                  /* option generation: a new value reloads the module */
} gp_private_t;

static void gp_notify_line_release(gp_private_t *priv);

/* Whether xl is a running glupy translator: its context slots then hold Python
 * objects. Any other translator's hold its own C data (posix's struct posix_fd...),
 * which read as a PyObject crashed the process (`self.child.xlator.fd_ctx_get(fd)`).
 * The address test comes first and reads nothing: a glupy translator's fops table is
 * the one inside its private (init), so a C translator's private is never read. */
int
gp_xlator_is_glupy(xlator_t *xl)
{
    gp_private_t *priv = xl ? xl->private : NULL;
    return priv && xl->fops == &priv->fops && priv->magic == GP_PRIV_MAGIC;
}

#define GP_FOP_TIMEOUT_DEFAULT 60
#define GP_STR_(x) #x
#define GP_STR(x) GP_STR_(x)

static PyObject *gp_runtime;      /* glupy._runtime */
static PyObject *gp_observe_fn;   /* glupy._runtime.observe(observer, args) */
static PyObject *gp_module;       /* _glupy */
int gp_embedded;                  /* we initialised the interpreter (not a gfapi host) */

/* ------------------------------------------------------------ threads */

static pthread_key_t gp_thread_key;
/* This thread's pinned state (gp_gil_acquire, in our own interpreter only), or NULL. */
static GP_TLS PyThreadState *gp_pinned;
static pthread_once_t gp_thread_key_once = PTHREAD_ONCE_INIT;

/* At thread exit: delete the thread state kept by gp_gil_acquire. Python's own
 * thread-local slot may already be cleared by now (glibc clears every key
 * before destructors run), so the thread state comes from our key's value. */
static void
gp_thread_exit(void *tstate)
{
    gp_pinned = NULL;
    if (!tstate || !Py_IsInitialized())
        return;
    PyEval_RestoreThread(tstate);
    PyThreadState_Clear(tstate);
    PyThreadState_DeleteCurrent(); /* and releases the GIL */
}

static void
gp_thread_key_create(void)
{
    pthread_key_create(&gp_thread_key, gp_thread_exit);
}

#if PY_VERSION_HEX >= 0x030D0000
#define gp_tstate_now() PyThreadState_GetUnchecked()
#else
#define gp_tstate_now() _PyThreadState_UncheckedGet()
#endif

PyGILState_STATE
gp_gil_acquire(void)
{
    PyThreadState *pinned = gp_pinned;
    if (__builtin_expect(pinned != NULL, 1)) {
        /* what PyGILState_Ensure does for a thread it knows, without its counter: the
         * pin keeps the state, and gp_gil_release mirrors this */
        if (gp_tstate_now() == pinned)
            return PyGILState_LOCKED; /* held already (a reply inside a wind under the GIL) */
        PyEval_RestoreThread(pinned);
        return PyGILState_UNLOCKED;
    }
    PyGILState_STATE s = PyGILState_Ensure();
    pthread_once(&gp_thread_key_once, gp_thread_key_create);
    /* Only in our own interpreter: a hosting Python process manages the thread
     * states of threads it knows, and its main thread calls into GlusterFS. */
    if (gp_embedded && !pthread_getspecific(gp_thread_key)) {
        PyGILState_Ensure(); /* the pin: never released; gp_thread_exit deletes the state */
        pthread_setspecific(gp_thread_key, PyGILState_GetThisThreadState());
        /* (the first state s goes back through the pinned path too: the pin's count
         * of 2 only keeps the state, which gp_thread_exit deletes whatever it is) */
        gp_pinned = PyGILState_GetThisThreadState();
    }
    return s;
}

void
gp_gil_release(PyGILState_STATE state)
{
    if (__builtin_expect(gp_pinned != NULL, 1)) {
        if (state == PyGILState_UNLOCKED)
            PyEval_SaveThread();
        return;
    }
    PyGILState_Release(state);
}

/* ------------------------------------------------------------ logging */

static int
gp_gf_level(int pylevel)
{
    if (pylevel >= 50)
        return GF_LOG_CRITICAL;
    if (pylevel >= 40)
        return GF_LOG_ERROR;
    if (pylevel >= 30)
        return GF_LOG_WARNING;
    if (pylevel >= 20)
        return GF_LOG_INFO;
    return GF_LOG_DEBUG;
}

/* _glupy.log(domain, level, message): one GlusterFS log line per text line. */
static PyObject *
gp_mod_log(PyObject *m, PyObject *args)
{
    const char *domain, *msg;
    int level;
    if (!PyArg_ParseTuple(args, "sis", &domain, &level, &msg))
        return NULL;
    int gl = gp_gf_level(level);
    const char *p = msg;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (len)
            gf_log(domain, gl, "%.*s", len, p);
        p += len + (nl ? 1 : 0);
    }
    Py_RETURN_NONE;
}

void
gp_log_exception(const char *domain, const char *context)
{
    PyObject *exc = gp_fetch_exception();
    if (!exc)
        return;
    PyObject *r = gp_runtime ? PyObject_CallMethod(gp_runtime, "log_limited", "ssO", domain, context, exc) : NULL;
    if (!r) {
        PyErr_Clear();
        PyObject *s = PyObject_Str(exc);
        gf_log(domain, GF_LOG_ERROR, "%s: %s", context, s ? PyUnicode_AsUTF8(s) : "(unprintable exception)");
        Py_XDECREF(s);
        PyErr_Clear();
    }
    Py_XDECREF(r);
    Py_DECREF(exc);
}

/* ------------------------------------------------------------ replies */

PyObject *
gp_make_reply(int fop, int32_t op_ret, int32_t op_errno, PyObject **fields, int n)
{
    PyTypeObject *cls = (PyTypeObject *)gp_reg.reply_cls[fop];
    PyObject *reply = NULL;
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok = ok && fields[i];
    PyObject *ret = PyLong_FromLong(op_ret), *err = PyLong_FromLong(op_errno);
    if (ok && ret && err && n + 2 == gp_reg.reply_nfields[fop])
        reply = cls->tp_alloc(cls, 0);
    if (!reply) {
        for (int i = 0; i < n; i++)
            Py_XDECREF(fields[i]);
        Py_XDECREF(ret);
        Py_XDECREF(err);
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_SystemError, "cannot build the reply of %s", gp_fop_names[fop]);
        return NULL;
    }
    /* the class's own __slots__, filled directly: no __init__ call on the hot path */
    for (int i = 0; i < n; i++)
        GP_REPLY_SLOT(reply, fop, i) = fields[i];
    GP_REPLY_SLOT(reply, fop, n) = ret;
    GP_REPLY_SLOT(reply, fop, n + 1) = err;
    return reply;
}

PyObject *
gp_reply_get(PyObject *reply, int fop, int i, const char *name, gp_tmp *tmp)
{
    /* A new reference, kept in tmp until the unwind is over: the C pointers
     * converted from it are used with the GIL released, while another thread
     * may replace the reply's fields (a handler that kept the reply). */
    PyObject *v;
    if ((PyObject *)Py_TYPE(reply) == gp_reg.reply_cls[fop]) {
        v = Py_XNewRef(GP_REPLY_SLOT(reply, fop, i));
        if (!v)
            PyErr_Format(PyExc_AttributeError, "%s reply has no %s", gp_fop_names[fop], name);
    } else {
        v = PyObject_GetAttrString(reply, name);
    }
    if (v && gp_tmp_add(tmp, GP_TMP_PYOBJ, v) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* Record the slot offsets of a reply class: its `fields`, then op_ret, op_errno. */
static int
gp_register_reply(int fop, PyObject *cls)
{
    PyObject *fields = PyObject_GetAttrString(cls, "fields");
    if (!fields || !PyTuple_Check(fields)) {
        Py_XDECREF(fields);
        PyErr_Format(PyExc_TypeError, "reply class of %s has no fields tuple", gp_fop_names[fop]);
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (n + 2 > GP_REPLY_MAX) {
        Py_DECREF(fields);
        PyErr_Format(PyExc_ValueError, "reply of %s has too many fields", gp_fop_names[fop]);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n + 2; i++) {
        PyObject *name = i < n ? Py_NewRef(PyTuple_GET_ITEM(fields, i))
                               : PyUnicode_FromString(i == n ? "op_ret" : "op_errno");
        PyObject *descr = name ? PyObject_GetAttr(cls, name) : NULL;
        Py_XDECREF(name);
        if (!descr || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
            ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            Py_XDECREF(descr);
            Py_DECREF(fields);
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "reply class of %s must declare its fields in __slots__",
                             gp_fop_names[fop]);
            return -1;
        }
        gp_reg.reply_off[fop][i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
    }
    gp_reg.reply_nfields[fop] = (int)n + 2;
    Py_DECREF(fields);
    return 0;
}

/* _glupy.unwind(frame, fop, op_ret, op_errno, reply_or_None) -> False if the
 * FOP had been answered already (its deadline passed), True otherwise */
static PyObject *
gp_mod_unwind(PyObject *m, PyObject *const *argv, Py_ssize_t argc)
{
    if (argc != 5 || !PyObject_TypeCheck(argv[0], &gp_frame_type)) {
        PyErr_SetString(PyExc_TypeError, "unwind(frame, fop, op_ret, op_errno, reply)");
        return NULL;
    }
    gp_frame_obj *fo = (gp_frame_obj *)argv[0];
    long fop = PyLong_AsLong(argv[1]);
    int32_t op_ret, op_errno;
    if (gp_c_int32(argv[2], &op_ret, "op_ret") || gp_c_int32(argv[3], &op_errno, "op_errno"))
        return NULL;
    if (fop <= 0 || fop >= GF_FOP_MAXVALUE || !gp_unwinders[fop]) {
        PyErr_Format(PyExc_ValueError, "no such FOP: %ld", fop);
        return NULL;
    }
    int r = gp_unwinders[fop](fo, op_ret, op_errno, argv[4] == Py_None ? NULL : argv[4]);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r == 0); /* False: answered already, by its deadline */
}

/* _glupy.register(uuid_cls, dirent_cls, lockinfo_cls, pending, replies: dict[int, type]) */
static PyObject *
gp_mod_register(PyObject *m, PyObject *args)
{
    PyObject *uuid_cls, *dirent_cls, *lockinfo_cls, *pending, *replies;
    if (!PyArg_ParseTuple(args, "OOOOO!", &uuid_cls, &dirent_cls, &lockinfo_cls, &pending, &PyDict_Type, &replies))
        return NULL;
    Py_XSETREF(gp_reg.uuid_cls, Py_NewRef(uuid_cls));
    Py_XSETREF(gp_reg.dirent_cls, Py_NewRef(dirent_cls));
    Py_XSETREF(gp_reg.lockinfo_cls, Py_NewRef(lockinfo_cls));
    Py_XSETREF(gp_reg.pending, Py_NewRef(pending));
    for (int i = 0; i < GF_FOP_MAXVALUE; i++) {
        PyObject *key = PyLong_FromLong(i);
        PyObject *cls = key ? PyDict_GetItemWithError(replies, key) : NULL;
        Py_XDECREF(key);
        if (PyErr_Occurred())
            return NULL;
        Py_XSETREF(gp_reg.reply_cls[i], Py_XNewRef(cls));
        if (!cls && gp_winders[i]) {
            PyErr_Format(PyExc_ValueError, "no reply class for FOP %s", gp_fop_names[i]);
            return NULL;
        }
        if (cls && gp_register_reply(i, cls) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
gp_mod_fop_names(PyObject *m, PyObject *unused)
{
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < GF_FOP_MAXVALUE; i++) {
        if (!gp_fop_names[i])
            continue;
        PyObject *k = PyLong_FromLong(i);
        PyObject *v = PyUnicode_FromString(gp_fop_names[i]);
        if (!k || !v || PyDict_SetItem(d, k, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return d;
}

static PyMethodDef gp_mod_methods[] = {
    {"wind", (PyCFunction)(void (*)(void))gp_mod_wind, METH_FASTCALL, NULL},
    {"child_method", (PyCFunction)(void (*)(void))gp_mod_child_method, METH_FASTCALL, NULL},
    {"unwind", (PyCFunction)(void (*)(void))gp_mod_unwind, METH_FASTCALL, NULL},
    {"register", gp_mod_register, METH_VARARGS, NULL},
    {"log", gp_mod_log, METH_VARARGS, NULL},
    {"fop_names", gp_mod_fop_names, METH_NOARGS, NULL},
    {"current_frame", gp_mod_current_frame, METH_NOARGS, NULL},
    {"submit", (PyCFunction)(void (*)(void))gp_mod_submit, METH_FASTCALL, NULL},
    {"call_begin", gp_mod_call_begin, METH_NOARGS, NULL},
    {"call_end", gp_mod_call_end, METH_NOARGS, NULL},
    {"loop_beat", gp_mod_loop_beat, METH_NOARGS, NULL},
    {"thread_begin", gp_mod_thread_begin, METH_NOARGS, NULL},
    {"thread_end", gp_mod_call_end, METH_NOARGS, NULL}, /* (one table or the other) */
    {NULL},
};

static struct PyModuleDef gp_moddef = {
    PyModuleDef_HEAD_INIT, "glupy._glupy", "The native half of glupy, inside a GlusterFS process.", -1,
    gp_mod_methods,
};

/* ------------------------------------------------------------ interpreter */

static pthread_mutex_t gp_start_lock = PTHREAD_MUTEX_INITIALIZER;
static int gp_started; /* 1: ready, -1: failed for good */

/* Start (or join) the interpreter and import glupy._runtime. Called from init with
 * no GIL held. On failure writes a one-line reason into err. */
static int
gp_python_start(xlator_t *this, char *err, size_t errlen)
{
    int ret = -1;
    pthread_mutex_lock(&gp_start_lock);
    if (gp_started) {
        ret = gp_started > 0 ? 0 : -1;
        if (ret)
            snprintf(err, errlen, "the Python interpreter failed to start earlier in this process");
        goto out;
    }
    if (!Py_IsInitialized()) {
        /* glusterfs dlopen()s translators RTLD_LOCAL; make libpython's symbols
         * global so that extension modules (ssl, hashlib, ...) resolve them. */
        if (!dlopen(GLUPY_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) &&
            !dlopen(GLUPY_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL)) {
            snprintf(err, errlen, "cannot load %s: %s", GLUPY_LIBPYTHON, dlerror());
            gp_started = -1;
            goto out;
        }
        PyConfig config;
        PyConfig_InitPythonConfig(&config);
        config.install_signal_handlers = 0; /* the signals belong to GlusterFS */
        config.parse_argv = 0;
        config.buffered_stdio = 0;
        /* The executable of glupy's environment: Python finds the virtualenv's
         * pyvenv.cfg beside it, and with it glupy and the translators' packages. */
        PyStatus st = PyConfig_SetBytesString(&config, &config.executable, GLUPY_PYTHON);
        if (!PyStatus_Exception(st))
            st = PyConfig_SetBytesString(&config, &config.program_name, GLUPY_PYTHON);
        if (!PyStatus_Exception(st))
            st = Py_InitializeFromConfig(&config);
        PyConfig_Clear(&config);
        if (PyStatus_Exception(st)) {
            snprintf(err, errlen, "cannot start Python (%s): %s", GLUPY_PYTHON, st.err_msg ? st.err_msg : "?");
            gp_started = -1;
            goto out;
        }
        gp_embedded = 1;
        gp_memory_hook_install();
        /* Threads come and go here (an epoll thread ends when event-threads is
         * lowered, taking with it the state of the thread that started Python; our
         * workers end when idle), and an interpreter whose thread states are all
         * gone hands the next thread its first one again, which CPython 3.11 then
         * refuses: "init_threadstate: thread state already initialized", abort (a
         * brick, on a worker's first GIL after `volume set server.event-threads 1`).
         * One thread state that no thread ever uses keeps the list from emptying. */
        PyThreadState_New(PyInterpreterState_Main());
        PyEval_SaveThread(); /* from now on every thread takes the GIL as needed */
    } else {
        /* A Python process (gfapi) hosts us: use its interpreter, never a second one. */
        PyGILState_STATE g = gp_gil_acquire();
        const char *running = Py_GetVersion();
        char built[16];
        snprintf(built, sizeof(built), "%d.%d.", PY_MAJOR_VERSION, PY_MINOR_VERSION);
        int ok = strncmp(running, built, strlen(built)) == 0;
        gp_gil_release(g);
        if (!ok) {
            snprintf(err, errlen, "this process runs Python %.8s but glupy was built for %s", running, PY_VERSION);
            gp_started = -1;
            goto out;
        }
    }

    /* Python objects of our types may outlive the graph (a gfapi host lives on
     * after glfs_fini, which dlclose()s translators): never unmap this library. */
    Dl_info self;
    if (!dladdr((void *)gp_python_start, &self) || !dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) {
        snprintf(err, errlen, "cannot pin the glupy bridge in memory: %s", dlerror());
        gp_started = -1;
        goto out;
    }

    PyGILState_STATE g = gp_gil_acquire();
    gp_module = PyModule_Create(&gp_moddef);
    if (gp_module && gp_types_ready(gp_module) == 0 && gp_task_ready(gp_module) == 0 &&
        PyModule_AddIntConstant(gp_module, "EMBEDDED", gp_embedded) == 0 &&
        PyModule_AddStringConstant(gp_module, "PYTHON", GLUPY_PYTHON) == 0) {
        PyObject *mods = PyImport_GetModuleDict();
        gp_reg.str_bytes = PyUnicode_InternFromString("bytes");
        gp_reg.kw_uuid = Py_BuildValue("(s)", "bytes");
        gp_reg.kw_reply = Py_BuildValue("(ss)", "op_ret", "op_errno");
        if (PyDict_SetItemString(mods, "glupy._glupy", gp_module) == 0) {
            gp_runtime = PyImport_ImportModule("glupy._runtime");
            if (gp_runtime && (gp_task_bind(gp_runtime) < 0 || gp_workers_start(gp_runtime) < 0 ||
                               !(gp_observe_fn = PyObject_GetAttrString(gp_runtime, "observe"))))
                Py_CLEAR(gp_runtime);
        }
    }
    if (!gp_runtime) {
        PyObject *exc = gp_fetch_exception();
        PyObject *s = exc ? PyObject_Str(exc) : NULL;
        PyObject *path = PySys_GetObject("path");
        PyObject *ps = path ? PyObject_Repr(path) : NULL;
        snprintf(err, errlen, "cannot import glupy._runtime with %s: %s (sys.path=%s); is glupy installed in that environment?",
                 GLUPY_PYTHON, s ? PyUnicode_AsUTF8(s) : "unknown error", ps ? PyUnicode_AsUTF8(ps) : "?");
        Py_XDECREF(s);
        Py_XDECREF(ps);
        Py_XDECREF(exc);
        PyErr_Clear();
        gp_started = -1;
    } else {
        gp_started = 1;
        ret = 0;
    }
    gp_gil_release(g);
out:
    pthread_mutex_unlock(&gp_start_lock);
    return ret;
}

/* ------------------------------------------------------------ dispatch */

/* The parent gfid of a named lookup, or NULL (nameless, or no parent known). */
static const unsigned char *
gp_loc_pargfid(loc_t *loc)
{
    if (!loc || !loc->name || !loc->name[0])
        return NULL;
    if (!gf_uuid_is_null(loc->pargfid))
        return loc->pargfid;
    if (loc->parent && !gf_uuid_is_null(loc->parent->gfid))
        return loc->parent->gfid;
    return NULL;
}

int
gp_lookup_before_python(call_frame_t *frame, xlator_t *this, loc_t *loc, dict_t *xdata)
{
    gp_private_t *priv = this->private;
    if (!priv || !(priv->missing_names || priv->named_lookups_only || priv->fresh_lookups_only))
        return 0;
    const unsigned char *pargfid = gp_loc_pargfid(loc);
    /* a revalidation: the client holds an inode for the name, evidence that it exists */
    int known = loc && loc->inode && !gf_uuid_is_null(loc->inode->gfid);
    if (priv->missing_names && pargfid) {
        if (known) {
            gp_missing_forget(priv->missing_names, pargfid, loc->name);
        } else {
            struct iatt postparent;
            int answer = gp_missing_answer(priv->missing_names, pargfid, loc->name, xdata, &postparent);
            if (answer) {
                STACK_UNWIND_STRICT(lookup, frame, -1, ENOENT, NULL, NULL, NULL,
                                    answer == 2 ? &postparent : NULL);
                return 1;
            }
        }
    }
    if ((!pargfid && (priv->named_lookups_only || priv->fresh_lookups_only)) ||
        (known && priv->fresh_lookups_only)) {
        priv->base_fops->lookup(frame, this, loc, xdata);
        return 1;
    }
    return 0;
}

int
gp_dispatch(xlator_t *this, call_frame_t *frame, gp_req *req, int fop, PyObject **args, int nargs,
            const gp_expect *expect, gp_later **later)
{
    gp_private_t *priv = this->private;
    if (gp_later_waiting() && gp_on_worker())
        gp_later_flush(); /* earlier FOPs' deferred winds: their arguments go now */
    if (!req && args && !(req = gp_req_new(frame, this, fop, priv->fop_timeout, expect)))
        PyErr_NoMemory();
    if (!req || !args) {
        if (PyErr_Occurred())
            gp_log_exception(this->name, gp_fop_names[fop]);
        return req ? gp_req_drop(req) : -1;
    }
    if (gp_req_expired(req)) { /* answered ETIMEDOUT while this thread waited for the GIL */
        gp_req_unref(req);
        return 0;
    }
    gp_frame_obj *fo = gp_frame_new(this, req);
    if (!fo) {
        gp_log_exception(this->name, gp_fop_names[fop]);
        return gp_req_drop(req);
    }
    gp_frame_obj *prev = gp_current_frame_set(fo);
    PyObject *handler = priv->handlers[fop];
    /* still the code that was looked at (a function's __code__ can be replaced) */
    int tail_awaits = priv->tail_code[fop] && PyMethod_Check(handler) &&
                      PyFunction_Check(PyMethod_GET_FUNCTION(handler)) &&
                      PyFunction_GET_CODE(PyMethod_GET_FUNCTION(handler)) == priv->tail_code[fop];
    gp_task_start(fo, fop, handler, args, nargs, tail_awaits, later && gp_on_worker() ? later : NULL); /* always answers */
    gp_current_frame_set(prev);
    Py_DECREF(fo);
    return 0;
}

PyObject *
gp_handler(xlator_t *this, int fop)
{
    gp_private_t *priv = this->private; /* NULL once fini ran (set under the GIL) */
    return priv && fop > 0 && fop < GF_FOP_MAXVALUE ? Py_XNewRef(priv->handlers[fop]) : NULL;
}

/* ------------------------------------------------------------ observers */

int
gp_observing(xlator_t *this, int fop)
{
    gp_private_t *priv = this->private;
    return priv && __atomic_load_n(&priv->observers[fop], __ATOMIC_RELAXED) != NULL && gp_observe_room();
}

call_frame_t *
gp_observe_caller(call_frame_t *frame)
{
    call_frame_t *own = copy_frame(frame);
    if (own && frame->root->client)
        own->root->client = gf_client_ref(frame->root->client);
    return own;
}

/* The caller is shown through a Caller whose FOP is `caller` (a copy of the stack): it is
 * taken back before this returns, so a Caller kept by the observer reads "answered". */
void
gp_observe(xlator_t *this, int fop, call_frame_t *caller, PyObject **args, int nargs)
{
    gp_private_t *priv = this->private; /* NULL once fini ran: nothing to show it to */
    PyObject *fn = priv ? priv->observers[fop] : NULL;
    if (!fn || !gp_observe_fn)
        return;
    static const gp_expect nothing = GP_EXPECT_INIT;
    gp_req *req = gp_req_new(caller, this, fop, 0, &nothing); /* no deadline: an observer answers nothing */
    gp_frame_obj *fo = req ? gp_frame_new(this, req) : NULL;
    PyObject *argt = fo ? PyTuple_New(nargs) : NULL;
    if (!argt) {
        if (req)
            gp_req_take(req);
        if (fo)
            Py_DECREF(fo);
        else if (req)
            gp_req_unref(req);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        gp_log_exception(this->name, "observer");
        return;
    }
    for (int i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(argt, i, Py_NewRef(args[i]));
    Py_INCREF(fn);
    gp_frame_obj *prev = gp_current_frame_set(fo);
    gp_hook_run run;
    gp_hook_begin(&run, "observer", this->name, GP_HOOK_LIMIT_SHORT);
    PyObject *r = PyObject_CallFunctionObjArgs(gp_observe_fn, fn, argt, NULL);
    if (!r)
        gp_log_exception(this->name, "observer");
    gp_hook_end(&run);
    gp_current_frame_set(prev);
    Py_XDECREF(r);
    Py_DECREF(fn);
    Py_DECREF(argt);
    gp_req_take(fo->req); /* the copy stays the observation's (gp_obs_free_NAME destroys it) */
    Py_DECREF(fo);
}

/* ------------------------------------------------------------ xlator entry points */

static PyObject *
gp_hook(gp_private_t *priv, const char *name)
{
    return priv && priv->hooks ? PyDict_GetItemString(priv->hooks, name) : NULL;
}

int32_t
mem_acct_init(xlator_t *this)
{
    return xlator_mem_acct_init(this, gf_common_mt_end + 1);
}

static int
gp_option(xlator_t *this, const char *key, char *out, size_t len)
{
    char *v = NULL;
    out[0] = '\0';
    if (dict_get_str(this->options, (char *)key, &v) != 0 || !v)
        return -1;
    snprintf(out, len, "%s", v);
    return 0;
}

/* An option's text, or NULL when unset. */
static char *
gp_option_text(dict_t *options, const char *key)
{
    char *v = NULL;
    return options && dict_get_str(options, (char *)key, &v) == 0 ? v : NULL;
}

static gf_boolean_t
gp_option_bool(dict_t *options, const char *key)
{
    char *v = gp_option_text(options, key);
    gf_boolean_t b = _gf_false;
    if (v)
        gf_string2boolean(v, &b);
    return b;
}

/* A number of seconds (`fallback` when unset). */
static double
gp_option_seconds_or(dict_t *options, const char *key, double fallback)
{
    char *v = gp_option_text(options, key);
    double d = fallback;
    if (v)
        gf_string2double(v, &d);
    return d > 0 ? d : 0;
}

/* fop-timeout (its default when unset). */
static double
gp_option_seconds(dict_t *options, const char *key)
{
    return gp_option_seconds_or(options, key, GP_FOP_TIMEOUT_DEFAULT);
}

/* Python handlers where the class overrides a FOP, unless pass-through is on. */
static void
gp_apply_table(gp_private_t *priv)
{
    static const char none[GF_FOP_MAXVALUE];
    gp_fill_fops(&priv->fops, priv->pass_through ? none : priv->overridden, priv->pass_through ? none : priv->observed,
                 priv->base_fops);
}

/* Take what _runtime.create() or reload() returned, with the GIL:
 * (instance, {GF_FOP number: bound handler}, {hook name: callable}). Handlers are
 * set before the table routes a FOP to them (gp_dispatch reads them under the
 * GIL). On a reload a FOP the old class handled stays routed to Python: the
 * runtime gives the new instance a forwarder for it. The previous missing_names
 * stays alive until fini: the lookup fast path reads it without the GIL. */
static int
gp_adopt(gp_private_t *priv, PyObject *res)
{
    PyObject *inst, *handlers, *hooks;
    if (!PyArg_ParseTuple(res, "OO!O!", &inst, &PyDict_Type, &handlers, &PyDict_Type, &hooks))
        return -1;
    /* Observers first. A FOP observed once stays routed to the observer path (a reload
     * that drops its observer leaves it all in C). A FOP routed to Python before keeps
     * its handler path, where the handler lifecycle.observing made runs the observer. */
    PyObject *observers = PyDict_GetItemString(hooks, "observers");
    PyObject *observing[GF_FOP_MAXVALUE] = {0}; /* borrowed */
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (observers && PyDict_Check(observers) && PyDict_Next(observers, &pos, &k, &v)) {
        long fop = PyLong_AsLong(k);
        if (fop > 0 && fop < GF_FOP_MAXVALUE && gp_winders[fop])
            observing[fop] = v;
    }
    if (PyErr_Occurred())
        return -1;
    for (int fop = 0; fop < GF_FOP_MAXVALUE; fop++) {
        if (observing[fop]) {
            Py_XSETREF(priv->observers[fop], Py_NewRef(observing[fop]));
            priv->observed[fop] = 1;
        } else {
            Py_CLEAR(priv->observers[fop]);
        }
    }
    pos = 0;
    while (PyDict_Next(handlers, &pos, &k, &v)) {
        long fop = PyLong_AsLong(k);
        if (fop > 0 && fop < GF_FOP_MAXVALUE && gp_winders[fop]) {
            Py_XSETREF(priv->handlers[fop], Py_NewRef(v));
            if (!observing[fop])
                priv->overridden[fop] = 1;
        }
    }
    PyObject *tail = PyDict_GetItemString(hooks, "tail_awaits");
    for (int fop = 0; fop < GF_FOP_MAXVALUE; fop++) {
        PyObject *key = tail && PyDict_Check(tail) ? PyLong_FromLong(fop) : NULL;
        PyObject *code = key ? PyDict_GetItemWithError(tail, key) : NULL;
        Py_XDECREF(key);
        if (PyErr_Occurred())
            return -1;
        Py_XSETREF(priv->tail_code[fop], code && PyCode_Check(code) ? Py_NewRef(code) : NULL);
    }
    PyObject *named = PyDict_GetItemString(hooks, "named_lookups_only");
    PyObject *fresh = PyDict_GetItemString(hooks, "fresh_lookups_only");
    PyObject *missing = PyDict_GetItemString(hooks, "missing_names");
    if (!(missing && PyObject_TypeCheck(missing, &gp_missing_type)))
        missing = NULL;
    if (priv->missing_names && missing != priv->missing_names) {
        if (!priv->retired && !(priv->retired = PyList_New(0)))
            return -1;
        if (PyList_Append(priv->retired, priv->missing_names) < 0)
            return -1;
        Py_CLEAR(priv->missing_names);
    }
    __atomic_store_n(&priv->missing_names, missing ? Py_NewRef(missing) : NULL, __ATOMIC_RELEASE);
    priv->named_lookups_only = named && PyObject_IsTrue(named) == 1;
    priv->fresh_lookups_only = fresh && PyObject_IsTrue(fresh) == 1;
    Py_XSETREF(priv->instance, Py_NewRef(inst));
    Py_XSETREF(priv->hooks, Py_NewRef(hooks));
    priv->has_notify = PyDict_GetItemString(hooks, "notify") != NULL;
    return 0;
}

/* After a translator of a brick's graph fails init, glusterfsd finis the ones that
 * started, dlclose()s every translator's library (glusterfs_graph_destroy) and
 * exits; but io-threads' fini only tells its worker threads to stop, so a worker
 * that wakes after the unmapping runs code that is gone: SIGSEGV in the exiting
 * brick (glfs_iotwr000, under cleanup_and_exit), about one failed start in 15. So,
 * when our init fails, keep every library of the graph mapped until the process
 * ends (RTLD_NODELETE), as we keep our own. */
static void
gp_pin_graph_libraries(xlator_t *this)
{
    if (!this->graph)
        return;
    for (xlator_t *x = this->graph->first; x; x = x->next) {
        struct link_map *lm = NULL;
        if (x->dlhandle && dlinfo(x->dlhandle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && lm->l_name[0])
            dlopen(lm->l_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
}

static int32_t gp_init(xlator_t *this);

int32_t
init(xlator_t *this)
{
    char err[1024] = "";
    if (glupy_layout_check(this, err, sizeof(err)) != 0) { /* then this->graph may not be where we think */
        gf_log(this->name, GF_LOG_ERROR, "glupy: refusing to start: %s", err);
        return -1;
    }
    int32_t ret = gp_init(this);
    if (ret != 0)
        gp_pin_graph_libraries(this);
    return ret;
}

/* A hook handed from a GlusterFS thread to a worker, waited for a bounded time:
 * the GlusterFS thread calls gp_handoff_wait after submitting the work; the worker
 * calls gp_handoff_done once the hook returned. Whichever comes second frees the
 * work item (the worker, when the wait gave up: "abandoned"). */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, abandoned;
} gp_handoff;

static void
gp_handoff_init(gp_handoff *h)
{
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
}

static void
gp_handoff_destroy(gp_handoff *h)
{
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
}

/* CLOCK_REALTIME `seconds_from_now` (pthread_cond_timedwait's clock). */
static void
gp_timespec_at(struct timespec *ts, double seconds_from_now)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)seconds_from_now;
    ts->tv_nsec += (long)((seconds_from_now - (time_t)seconds_from_now) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* A budget of seconds a GlusterFS thread may spend waiting for hooks: at most `cap`,
 * refilled at `rate` seconds a second. */
typedef struct {
    pthread_mutex_t lock;
    double budget, refilled_at, cap, rate;
} gp_bucket;

/* What is left of b, topped up, once `spent` is taken off. */
static double
gp_bucket_take(gp_bucket *b, double spent)
{
    double now = gp_now();
    pthread_mutex_lock(&b->lock);
    if (b->refilled_at == 0)
        b->refilled_at = now;
    b->budget += (now - b->refilled_at) * b->rate - spent;
    if (b->budget > b->cap)
        b->budget = b->cap;
    b->refilled_at = now;
    double left = b->budget;
    pthread_mutex_unlock(&b->lock);
    return left;
}

/* 1: the worker finished within `seconds` (its results may be read); 0: it did
 * not, the work item now belongs to the worker. */
static int
gp_handoff_wait(gp_handoff *h, double seconds)
{
    struct timespec until;
    gp_timespec_at(&until, seconds);
    pthread_mutex_lock(&h->lock);
    while (!h->done)
        if (pthread_cond_timedwait(&h->cond, &h->lock, &until) == ETIMEDOUT)
            break;
    int done = h->done;
    if (!done)
        h->abandoned = 1;
    pthread_mutex_unlock(&h->lock);
    return done;
}

/* On the worker, results written: 1 if nobody waits any more (free the item). */
static int
gp_handoff_done(gp_handoff *h)
{
    pthread_mutex_lock(&h->lock);
    int abandoned = h->abandoned;
    h->done = 1;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
    return abandoned;
}

/* A translator's init() runs on a worker, and GlusterFS's thread (the main thread
 * while a process starts; an epoll thread when a new graph comes) waits for it at
 * most its option init-timeout (GP_INIT_WAIT by default): an init() that blocks (a server it connects to that does not
 * answer, a lock) held the process's start for good -- a mount that never came up,
 * a brick never online -- and nothing in the log said why. Past the wait the
 * translator fails to start, with that cause, and the late init() ends on its
 * worker, its outcome discarded. glupy.admin's trial start allows as long. */
#define GP_INIT_WAIT 30

typedef struct {
    gp_work w;
    PyObject *handle;      /* the Xlator the instance is made for (a reference) */
    const char *module, *cls;
    PyObject *res, *exc;   /* create()'s result, or the exception it raised */
    double limit;          /* init-timeout: then HandlerTimedOut is raised in it */
    gp_handoff handoff;
} gp_init_work;

static void
gp_init_work_free(gp_init_work *iw)
{
    free((char *)iw->module);
    free((char *)iw->cls);
    gp_handoff_destroy(&iw->handoff);
    free(iw);
}

static void
gp_init_create(gp_init_work *iw)
{
    gp_hook_run run;
    gp_hook_begin(&run, "init", ((gp_xlator_obj *)iw->handle)->xl ? ((gp_xlator_obj *)iw->handle)->xl->name : NULL,
                  iw->limit);
    iw->res = PyObject_CallMethod(gp_runtime, "create", "Oss", iw->handle, iw->module, iw->cls);
    if (!iw->res)
        iw->exc = gp_fetch_exception();
    gp_hook_end(&run);
}

static void
gp_init_run(gp_work *w)
{
    gp_init_work *iw = (gp_init_work *)w;
    PyGILState_STATE g = gp_gil_acquire();
    gp_init_create(iw);
    gp_gil_release(g);
    if (!gp_handoff_done(&iw->handoff))
        return; /* init() waits for the outcome */
    g = gp_gil_acquire();
    gf_log("glupy", GF_LOG_WARNING, "glupy: an init() given up on (option init-timeout) returned after all (%s): "
           "discarded", iw->res ? "started" : "failed");
    Py_XDECREF(iw->res);
    Py_XDECREF(iw->exc);
    Py_DECREF(iw->handle);
    gp_gil_release(g);
    gp_init_work_free(iw);
}

/* Make the instance (runtime.create) within GP_INIT_WAIT: 0 with *res set, or -1
 * with *exc set (an exception object, or NULL if it timed out: logged). */
static int
gp_init_instance(xlator_t *this, gp_private_t *priv, PyObject *handle, PyObject **res, PyObject **exc)
{
    double wait = gp_option_seconds_or(this->options, "init-timeout", GP_INIT_WAIT);
    if (wait <= 0)
        wait = GP_INIT_WAIT;
    gp_init_work local = {.handle = handle, .module = priv->module, .cls = priv->cls, .limit = wait};
    if (gp_on_worker()) {
        PyGILState_STATE g = gp_gil_acquire();
        gp_init_create(&local);
        gp_gil_release(g);
        *res = local.res;
        *exc = local.exc;
        return *res ? 0 : -1;
    }
    gp_init_work *iw = calloc(1, sizeof(*iw));
    if (!iw) {
        *res = NULL;
        *exc = NULL;
        gf_log(this->name, GF_LOG_ERROR, "glupy: cannot start translator module=%s: out of memory", priv->module);
        return -1;
    }
    *iw = local;
    iw->w.run = gp_init_run;
    /* the worker's reference to the handle and copies of the names: priv may be gone when it ends */
    iw->module = strdup(priv->module);
    iw->cls = strdup(priv->cls);
    PyGILState_STATE g = gp_gil_acquire();
    Py_INCREF(handle);
    gp_gil_release(g);
    gp_handoff_init(&iw->handoff);
    gp_work_submit(&iw->w);
    if (gp_handoff_wait(&iw->handoff, wait)) {
        *res = iw->res;
        *exc = iw->exc;
        gp_init_work_free(iw);
        g = gp_gil_acquire();
        Py_DECREF(handle);
        gp_gil_release(g);
        return *res ? 0 : -1;
    }
    /* the worker owns iw now; what the late init() does through the handle raises */
    __atomic_store_n(&((gp_xlator_obj *)handle)->xl, NULL, __ATOMIC_RELEASE);
    gf_log(this->name, GF_LOG_ERROR,
           "glupy: cannot start translator module=%s class=%s: init() did not return within %g s (option "
           "init-timeout; it goes on on a thread of its own, and whatever it does is discarded)",
           priv->module, priv->cls[0] ? priv->cls : "(default)", wait);
    *res = NULL;
    *exc = NULL;
    return -1;
}

static int32_t
gp_init(xlator_t *this)
{
    char err[1024] = "";
    gp_private_t *priv = NULL;

    gp_ctx = this->ctx;

    priv = GF_CALLOC(1, sizeof(*priv), gf_common_mt_char);
    if (!priv)
        return -1;
    priv->magic = GP_PRIV_MAGIC;
    pthread_mutex_init(&priv->reconfigure_lock, NULL);
    if (gp_option(this, "module", priv->module, sizeof(priv->module)) != 0) {
        gf_log(this->name, GF_LOG_ERROR,
               "glupy: no 'module' option: set it to the Python module (and optionally :Class) of the translator, "
               "e.g. `option module glupy.translators.passthrough`");
        GF_FREE(priv);
        return -1;
    }
    gp_option(this, "class", priv->cls, sizeof(priv->cls));
    gp_option(this, "generation", priv->generation, sizeof(priv->generation));

    if (gp_python_start(this, err, sizeof(err)) != 0) {
        gf_log(this->name, GF_LOG_ERROR, "glupy: module=%s: %s", priv->module, err);
        GF_FREE(priv);
        return -1;
    }

    PyGILState_STATE g = gp_gil_acquire();
    PyObject *handle = gp_xlator_new(this);
    PyObject *res = NULL, *exc = handle ? NULL : gp_fetch_exception();
    gp_gil_release(g);
    int started = handle && gp_init_instance(this, priv, handle, &res, &exc) == 0;
    if (handle && !started && !exc) { /* init() did not return in time, or no memory (logged) */
        GF_FREE(priv);
        return -1;
    }
    g = gp_gil_acquire();
    if (!started || gp_adopt(priv, res) < 0) {
        if (!exc)
            exc = gp_fetch_exception();
        PyObject *msg = exc ? PyObject_CallMethod(gp_runtime, "describe_init_error", "O", exc) : NULL;
        gf_log(this->name, GF_LOG_ERROR, "glupy: cannot start translator module=%s class=%s: %s", priv->module,
               priv->cls[0] ? priv->cls : "(default)", msg ? PyUnicode_AsUTF8(msg) : "unknown error");
        Py_XDECREF(msg);
        Py_XDECREF(exc);
        PyErr_Clear();
        Py_XDECREF(res);
        Py_XDECREF(handle);
        gp_gil_release(g);
        GF_FREE(priv);
        return -1;
    }
    priv->handle = (PyObject *)handle;
    Py_DECREF(res);
    gp_gil_release(g);

    /* This instance's own table: Python where overridden, C defaults elsewhere,
     * so a FOP the class does not define never enters Python. */
    priv->base_fops = this->fops;
    priv->pass_through = gp_option_bool(this->options, "pass-through");
    priv->fop_timeout = gp_option_seconds(this->options, "fop-timeout");
    gp_memory_limit_set(gp_option_seconds_or(this->options, "memory-limit", 0));
    memcpy(&priv->fops, priv->base_fops, sizeof(priv->fops));
    gp_apply_table(priv);
    this->private = priv;
    this->fops = &priv->fops;
    gf_log(this->name, GF_LOG_INFO, "glupy: translator module=%s class=%s started (Python %s, %s)%s", priv->module,
           priv->cls[0] ? priv->cls : "(default)", PY_VERSION, gp_embedded ? "embedded" : "hosted by this process",
           priv->pass_through ? "; pass-through is on: no FOP enters Python" : "");
    return 0;
}

/* The fini hook runs on a worker, waited for at most GP_FINI_WAIT: one that blocked
 * (joining a thread that never ends) hung a gfapi program's glfs_fini for good, and
 * would hold the thread that tears an old graph down. Past the wait the translator is
 * torn down without it; it ends on its worker (its objects of the graph cut loose). */
#define GP_FINI_WAIT 10.0

typedef struct {
    gp_work w;
    PyObject *hook; /* a reference */
    char *name;     /* the translator's, for the log: the xlator may be gone when it ends */
    gp_handoff handoff;
} gp_fini_work;

static void
gp_fini_call(PyObject *hook, const char *name)
{
    gp_hook_run run;
    gp_hook_begin(&run, "fini", name, GP_FINI_WAIT);
    PyObject *r = PyObject_CallNoArgs(hook);
    if (!r)
        gp_log_exception(name, "fini");
    Py_XDECREF(r);
    gp_hook_end(&run);
}

static void
gp_fini_run(gp_work *w)
{
    gp_fini_work *fw = (gp_fini_work *)w;
    PyGILState_STATE g = gp_gil_acquire();
    gp_fini_call(fw->hook, fw->name);
    gp_gil_release(g);
    if (!gp_handoff_done(&fw->handoff))
        return; /* fini() waits for it */
    g = gp_gil_acquire();
    gf_log(fw->name, GF_LOG_WARNING, "glupy: the fini hook given up on returned after all");
    Py_DECREF(fw->hook);
    gp_gil_release(g);
    gp_handoff_destroy(&fw->handoff);
    free(fw->name);
    free(fw);
}

/* Run the fini hook (a reference, stolen) within GP_FINI_WAIT; no GIL held. */
static void
gp_fini_hook(xlator_t *this, PyObject *hook)
{
    gp_fini_work *fw = gp_on_worker() ? NULL : calloc(1, sizeof(*fw));
    if (fw && !(fw->name = strdup(this->name))) {
        free(fw);
        fw = NULL;
    }
    if (!fw) { /* on a worker already (or no memory) */
        PyGILState_STATE g = gp_gil_acquire();
        gp_fini_call(hook, this->name);
        Py_DECREF(hook);
        gp_gil_release(g);
        return;
    }
    fw->w.run = gp_fini_run;
    fw->hook = hook;
    gp_handoff_init(&fw->handoff);
    gp_work_submit(&fw->w);
    if (gp_handoff_wait(&fw->handoff, GP_FINI_WAIT)) {
        PyGILState_STATE g = gp_gil_acquire();
        Py_DECREF(hook);
        gp_gil_release(g);
        gp_handoff_destroy(&fw->handoff);
        free(fw->name);
        free(fw);
        return;
    }
    gf_log(this->name, GF_LOG_ERROR,
           "glupy: the fini hook still running after %.0f s: the translator is torn down without waiting for it "
           "(it ends on its worker; what it does with this graph's objects raises)", GP_FINI_WAIT);
}

/* Move *slot's reference into the list `last` (or, without one, drop it here). GIL held. */
static void
gp_hand_over(PyObject *last, PyObject **slot)
{
    if (*slot && last && PyList_Append(last, *slot) < 0)
        PyErr_Clear();
    Py_CLEAR(*slot);
}

/* The translator's last references go away on a worker: what they free runs its
 * __del__ there, and one that blocked, on the thread calling glfs_fini in a gfapi
 * program, hung its Client.umount() for good (a seventh red-team session). Nothing
 * waits for it; what it does is bounded as the fini hook is (CPU time). GIL held. */
typedef struct {
    gp_work w;
    PyObject *last;
    char xlator[64];
} gp_drop_work;

static void
gp_drop_run(gp_work *w)
{
    gp_drop_work *dw = (gp_drop_work *)w;
    PyGILState_STATE g = gp_gil_acquire();
    gp_hook_run run;
    gp_hook_begin(&run, "fini", dw->xlator, GP_HOOK_LIMIT);
    Py_DECREF(dw->last);
    if (PyErr_Occurred())
        PyErr_Clear();
    gp_hook_end(&run);
    gp_gil_release(g);
    free(dw);
}

static void
gp_drop_on_worker(xlator_t *this, PyObject *last)
{
    gp_drop_work *dw = last && PyList_GET_SIZE(last) ? calloc(1, sizeof(*dw)) : NULL;
    if (!dw) {
        Py_XDECREF(last);
        return;
    }
    dw->w.run = gp_drop_run;
    dw->last = last;
    snprintf(dw->xlator, sizeof(dw->xlator), "%s", this->name);
    gp_work_submit(&dw->w);
}

void
fini(xlator_t *this)
{
    gp_private_t *priv = this->private;
    if (!priv)
        return;
    /* observations still queued hold this graph's inodes and fds: let them run first;
     * what of this translator's still waits then is dropped while they exist (in a gfapi
     * program glfs_fini frees them next: an observation run later crashed it, a sixth
     * red-team session) */
    gp_observe_drain(2.0);
    int dropped = gp_observe_drop_waiting(this, GP_FINI_WAIT);
    if (dropped)
        gf_log(this->name, GF_LOG_WARNING,
               "glupy: %d observations or context releases of this translator still waited: dropped unseen", dropped);
    PyGILState_STATE g = gp_gil_acquire();
    PyObject *hook = Py_XNewRef(gp_hook(priv, "fini"));
    gp_gil_release(g);
    if (hook)
        gp_fini_hook(this, hook);
    g = gp_gil_acquire();
    /* The graph is going away, and translators finished before this one may
     * already have freed their state: from now on no Python object may release
     * an inode or fd of this graph (their forget/release callbacks would reach
     * those translators). In a gfapi host the whole ctx goes away, and with it
     * every dict and buffer. Cut them loose first, then drop the instance. */
    int n = gp_orphan(this->ctx, this->graph, !gp_embedded);
    if (n)
        gf_log(this->name, GF_LOG_DEBUG, "glupy: %d Python objects outlive this graph", n);
    PyObject *last = PyList_New(0); /* the instance and what it holds, dropped on a worker */
    for (int i = 0; i < GF_FOP_MAXVALUE; i++) {
        gp_hand_over(last, &priv->handlers[i]);
        gp_hand_over(last, &priv->observers[i]);
        gp_hand_over(last, &priv->tail_code[i]);
    }
    gp_hand_over(last, &priv->hooks);
    gp_hand_over(last, &priv->missing_names);
    gp_hand_over(last, &priv->retired);
    gp_hand_over(last, &priv->instance);
    gp_hand_over(last, &priv->handle);
    gp_drop_on_worker(this, last);
    gp_notify_line_release(priv);
    /* no FOP reaches a finished xlator, but leave it a valid table; a context
     * release queued later (gp_release_ctx) finds no private under the GIL */
    this->fops = priv->base_fops;
    this->private = NULL;
    priv->magic = 0;
    gp_gil_release(g);
    GF_FREE(priv);
}

/* A new option generation: the runtime imports the module's code again and makes
 * a new instance (init, then migrate(old)); FOPs from now on go to it, FOPs in
 * flight finish on the old one. If anything fails the old instance keeps serving
 * and reconfigure fails (glusterd's volume set still succeeds: the log says why). */
#define GP_RELOAD_WAIT 30.0 /* CPU seconds: imports a module's code again and starts it */

static int32_t
gp_reload(xlator_t *this, gp_private_t *priv, dict_t *options, const char *generation)
{
    PyGILState_STATE g = gp_gil_acquire();
    PyObject *opts = gp_py_xdata(options);
    gp_hook_run run; /* the new code's import, init() and migrate(): as long as a reload is waited for */
    gp_hook_begin(&run, "reload", this->name, GP_RELOAD_WAIT);
    PyObject *res = opts ? PyObject_CallMethod(gp_runtime, "reload", "OssOO", priv->handle, priv->module, priv->cls,
                                               priv->instance, opts)
                         : NULL;
    gp_hook_end(&run);
    Py_XDECREF(opts);
    int ret = 0;
    if (!res || gp_adopt(priv, res) < 0) {
        PyObject *exc = gp_fetch_exception();
        PyObject *msg = exc ? PyObject_CallMethod(gp_runtime, "describe_init_error", "O", exc) : NULL;
        gf_log(this->name, GF_LOG_ERROR, "glupy: reload of module=%s generation=%s refused, the running code "
               "keeps serving: %s", priv->module, generation, msg ? PyUnicode_AsUTF8(msg) : "unknown error");
        Py_XDECREF(msg);
        Py_XDECREF(exc);
        PyErr_Clear();
        ret = -1;
    } else {
        snprintf(priv->generation, sizeof(priv->generation), "%s", generation);
        gp_apply_table(priv);
        gf_log(this->name, GF_LOG_INFO, "glupy: reloaded module=%s generation=%s", priv->module, generation);
    }
    Py_XDECREF(res);
    gp_gil_release(g);
    return ret;
}

/* The Python part of reconfigure (on a worker: see reconfigure): a new generation
 * reloads the code, else the class's reconfigure hook gets the options. */
static int32_t
gp_reconfigure_python(xlator_t *this, dict_t *options, const char *generation)
{
    gp_private_t *priv = this->private;
    int ret = 0;
    if (!priv)
        return 0;
    pthread_mutex_lock(&priv->reconfigure_lock); /* before the GIL: nobody holding it waits for this */
    if (generation && strcmp(generation, priv->generation) != 0) {
        ret = gp_reload(this, priv, options, generation);
        pthread_mutex_unlock(&priv->reconfigure_lock);
        return ret;
    }
    PyGILState_STATE g = gp_gil_acquire();
    PyObject *hook = gp_hook(priv, "reconfigure");
    if (hook) {
        gp_hook_run run;
        gp_hook_begin(&run, "reconfigure", this->name, GP_HOOK_LIMIT);
        PyObject *opts = gp_py_xdata(options);
        PyObject *r = opts ? PyObject_CallOneArg(hook, opts) : NULL;
        if (!r) {
            gp_log_exception(this->name, "reconfigure (the old option values stay in force)");
            ret = -1;
        }
        Py_XDECREF(r);
        Py_XDECREF(opts);
        gp_hook_end(&run);
    }
    gp_gil_release(g);
    pthread_mutex_unlock(&priv->reconfigure_lock);
    return ret;
}

static PyObject *gp_py_upcall(void *data);

/* Whether a hook may answer event ev with `other`, which then goes on instead: an
 * event of the same family, going the same way with the same kind of data (up
 * from a child with its xlator; down from a parent with its xlator), or an upcall
 * turned into a SOME_DESCENDENT_UP/DOWN (a flush of the caches above: crypt).
 * Nothing else: the xlator of a CHILD_UP taken as an upcall's gf_upcall hung the
 * mount, a PARENT_UP sent back down for a CHILD_UP cycled through posix for ever.
 * The same: glupy.lifecycle.passed_on. */
static int
gp_event_family(int ev)
{
    switch (ev) {
    case GF_EVENT_CHILD_UP:
    case GF_EVENT_CHILD_DOWN:
    case GF_EVENT_CHILD_CONNECTING:
    case GF_EVENT_SOME_DESCENDENT_UP:
    case GF_EVENT_SOME_DESCENDENT_DOWN:
        return 1;
    case GF_EVENT_PARENT_UP:
    case GF_EVENT_PARENT_DOWN:
        return 2;
    default:
        return 0;
    }
}

static int
gp_event_may_replace(int ev, long other)
{
    if (ev == GF_EVENT_UPCALL)
        return other == GF_EVENT_SOME_DESCENDENT_UP || other == GF_EVENT_SOME_DESCENDENT_DOWN;
    return other > 0 && other < GF_EVENT_MAXVAL && gp_event_family(ev) && gp_event_family((int)other) == gp_event_family(ev);
}

/* Call the class's notify hook (takes the GIL): *event may become another event
 * (the hook returned one), *propagate 0 (it returned False). */
static void
gp_notify_hook(xlator_t *this, int32_t *event, void *data, int *propagate)
{
    gp_private_t *priv = this->private;
    if (!priv)
        return;
    PyGILState_STATE g = gp_gil_acquire();
    gp_hook_run run;
    gp_hook_begin(&run, "notify", this->name, GP_HOOK_LIMIT);
    PyObject *hook = gp_hook(priv, "notify");
    if (hook) {
        /* data is the xlator that sent the event for the events that matter
         * to translators (CHILD_UP/DOWN/CONNECTING, PARENT_UP/DOWN) */
        PyObject *source = NULL;
        int ev = *event;
        if (ev == GF_EVENT_CHILD_UP || ev == GF_EVENT_CHILD_DOWN || ev == GF_EVENT_CHILD_CONNECTING ||
            ev == GF_EVENT_PARENT_UP || ev == GF_EVENT_PARENT_DOWN || ev == GF_EVENT_SOME_DESCENDENT_UP ||
            ev == GF_EVENT_SOME_DESCENDENT_DOWN) {
            source = data ? gp_xlator_new(data) : Py_NewRef(Py_None);
        } else if (ev == GF_EVENT_UPCALL && data) {
            source = gp_py_upcall(data);
        } else {
            source = Py_NewRef(Py_None);
        }
        if (!source) {
            gp_log_exception(this->name, "notify: converting the event's data");
            source = Py_NewRef(Py_None);
        }
        PyObject *r = PyObject_CallFunction(hook, "iO", ev, source);
        if (!r) {
            gp_log_exception(this->name, "notify");
        } else if (r == Py_False) {
            *propagate = 0;
        } else if (PyLong_Check(r) && !PyBool_Check(r)) {
            /* an Event: pass that on instead (a cluster translator turning its
             * children's states into its own) */
            long other = PyLong_AsLong(r);
            if (other == ev)
                ;
            else if (gp_event_may_replace(ev, other))
                *event = (int32_t)other;
            else
                gf_log(this->name, GF_LOG_ERROR,
                       "glupy: notify answered event %d with %ld, which cannot replace it (not an event going the "
                       "same way with the same kind of data): passing on %d",
                       ev, other, ev);
            PyErr_Clear();
        }
        Py_XDECREF(r);
        Py_XDECREF(source);
    }
    gp_hook_end(&run);
    gp_gil_release(g);
}


/* ------------------------------------------------------------ reconfigure
 *
 * `gluster volume set` reaches reconfigure on the thread that brought the new
 * volfile (a client's management connection, served by an epoll thread that also
 * serves data connections). The options the bridge reads itself apply there, in C;
 * the Python part (the class's reconfigure hook, or a reload, whose init and
 * migrate are the translator's own code) runs on a worker, waited for a bounded
 * time: a hook that blocks holds a worker and the epoll thread at most a second;
 * its outcome, when it comes, is logged as usual. A reload too (its init, imports):
 * it waited up to GP_RELOAD_WAIT there, and with one epoll thread (server.event-threads
 * 1) every client of the brick waited as long (a seventh red-team session); glupy
 * reload reads the outcome from the log. GlusterFS is always answered 0: it reconfigures a graph from
 * the bottom up and stops at the first translator that fails, so a failed or late
 * hook of a translator above posix kept every translator above it on its old options
 * (`volume set features.read-only on` reported success and the brick went on taking
 * writes). One reconfigure of a translator runs at a time: while one is still running
 * (a hook that blocks), a later one's Python part is skipped at once (logged), where it
 * held another worker and the epoll thread a second each time. */
#define GP_RECONFIGURE_WAIT 1.0

typedef struct {
    gp_work w;
    xlator_t *this;
    dict_t *options;
    char *generation;
    gp_handoff handoff;
    int32_t ret;
} gp_reconfigure_work;

static void
gp_reconfigure_work_free(gp_reconfigure_work *rw)
{
    dict_unref(rw->options);
    free(rw->generation);
    gp_handoff_destroy(&rw->handoff);
    free(rw);
}

static void
gp_reconfigure_run(gp_work *w)
{
    gp_reconfigure_work *rw = (gp_reconfigure_work *)w;
    rw->ret = gp_reconfigure_python(rw->this, rw->options, rw->generation);
    gp_private_t *priv = rw->this->private;
    if (priv)
        __atomic_store_n(&priv->reconfiguring, 0, __ATOMIC_RELEASE);
    if (gp_handoff_done(&rw->handoff)) /* answered as failed meanwhile */
        gp_reconfigure_work_free(rw);
}

int32_t
reconfigure(xlator_t *this, dict_t *options)
{
    gp_private_t *priv = this->private;
    if (!priv)
        return 0;
    gf_boolean_t pass_through = gp_option_bool(options, "pass-through");
    if (pass_through != priv->pass_through) {
        priv->pass_through = pass_through;
        gp_apply_table(priv);
        gf_log(this->name, GF_LOG_INFO, "glupy: pass-through %s", pass_through ? "on: FOPs stay in C" : "off");
    }
    gp_memory_limit_set(gp_option_seconds_or(options, "memory-limit", 0));
    double timeout = gp_option_seconds(options, "fop-timeout");
    if (timeout != priv->fop_timeout) {
        priv->fop_timeout = timeout; /* for FOPs from now on */
        gf_log(this->name, GF_LOG_INFO, "glupy: fop-timeout %.1f s", timeout);
    }
    char *generation = gp_option_text(options, "generation");
    if (gp_on_worker()) {
        gp_reconfigure_python(this, options, generation); /* failures logged: 0 for GlusterFS all the same */
        return 0;
    }
    if (__atomic_exchange_n(&priv->reconfiguring, 1, __ATOMIC_ACQ_REL)) {
        gf_log(this->name, GF_LOG_ERROR,
               "glupy: an earlier reconfigure hook (or reload) is still running: this change does not reach the "
               "translator's Python code (its options stay as they were; a later change will, once it is done)");
        return 0;
    }
    gp_reconfigure_work *rw = calloc(1, sizeof(*rw));
    if (!rw || (generation && !(rw->generation = strdup(generation)))) {
        free(rw);
        __atomic_store_n(&priv->reconfiguring, 0, __ATOMIC_RELEASE);
        gf_log(this->name, GF_LOG_ERROR, "glupy: reconfigure: out of memory");
        return 0;
    }
    rw->w.run = gp_reconfigure_run;
    rw->this = this;
    rw->options = dict_ref(options);
    gp_handoff_init(&rw->handoff);
    gp_work_submit(&rw->w);
    int reload = generation && strcmp(generation, priv->generation) != 0;
    if (gp_handoff_wait(&rw->handoff, GP_RECONFIGURE_WAIT)) {
        gp_reconfigure_work_free(rw); /* (its failure, if it failed, is logged) */
        return 0;
    }
    gf_log(this->name, GF_LOG_ERROR,
           "glupy: %s still running after %.0f s: GlusterFS goes on reconfiguring the other translators; what "
           "it does when it ends is logged",
           reload ? "reloading the code" : "the reconfigure hook", GP_RECONFIGURE_WAIT);
    return 0;
}

/* A translator's notify hook, off GlusterFS's threads.
 *
 * The hook runs on a worker, one event at a time and in the order the events came
 * (a "line" of events per translator). The thread that brought an event waits for
 * the hook's answer a bounded time: GP_NOTIFY_WAIT for an event of the graph's life
 * (PARENT_UP, CHILD_UP, ...: rare, and a hook may answer them with another event);
 * for an upcall, which protocol/client's epoll thread brings between the bricks'
 * replies, no more than what is left of a budget of GP_NOTIFY_BUDGET seconds,
 * refilled at GP_NOTIFY_SHARE seconds a second, one budget for every translator of
 * the process (per translator, eight stacked translators with slow hooks took 1.6 s
 * of each second). An event the thread does not wait
 * for (the budget is spent, earlier events still wait for the hook, or the hook did
 * not answer in time) goes on unchanged at once and stays queued for the hook,
 * which gets it later (its answer then changes nothing: logged). So the hook sees
 * every event, in order, and GlusterFS's thread is never held long: a hook blocked
 * for good cost the epoll thread a second per upcall, and one taking 0.3 s on every
 * upcall, at 25 upcalls a second, held it for good (the mount's other FOPs waited
 * over 5 s). At most GP_NOTIFY_QUEUE events wait; beyond, new ones are dropped
 * (logged). */
#define GP_NOTIFY_WAIT 1.0
#define GP_NOTIFY_BUDGET 0.25
#define GP_NOTIFY_SHARE 0.2
#define GP_NOTIFY_QUEUE 4096

typedef struct gp_notify_item {
    struct gp_notify_item *next;
    int32_t event;
    void *data;                              /* the event's data, or &up */
    struct gf_upcall up;                     /* an upcall's copy: the sender's is gone once notify returns */
    struct gf_upcall_cache_invalidation ci;
    int propagate;
    int done;                                /* the hook answered (under the line's lock) */
    int abandoned;                           /* nobody waits for the answer: the runner frees it */
} gp_notify_item;

struct gp_notify_line {
    xlator_t *this;
    pthread_mutex_t lock;
    pthread_cond_t answered;
    gp_notify_item *head, *tail;             /* events waiting for the hook */
    unsigned queued;
    int running;                             /* a runner is submitted or runs the hook */
    int refs;                                /* the translator's, and a runner's while it runs */
    unsigned late, deferred, dropped, late_answers; /* for the log */
};

typedef struct {
    gp_work w;
    gp_notify_line *line;
} gp_notify_runner;

static gp_notify_line *
gp_notify_line_of(xlator_t *this, gp_private_t *priv)
{
    gp_notify_line *line = __atomic_load_n(&priv->notify_line, __ATOMIC_ACQUIRE);
    if (line)
        return line;
    line = calloc(1, sizeof(*line));
    if (!line)
        return NULL;
    line->this = this;
    pthread_mutex_init(&line->lock, NULL);
    pthread_cond_init(&line->answered, NULL);
    line->refs = 1;
    gp_notify_line *none = NULL;
    if (__atomic_compare_exchange_n(&priv->notify_line, &none, line, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return line;
    pthread_cond_destroy(&line->answered);
    pthread_mutex_destroy(&line->lock);
    free(line);
    return none; /* another thread's, made meanwhile */
}

static void
gp_notify_item_free(gp_notify_item *it)
{
    free(it->up.client_uid);
    free(it);
}

/* Drop a reference (with the line's lock held: it is released here). */
static void
gp_notify_line_unref_locked(gp_notify_line *line)
{
    int last = --line->refs == 0;
    pthread_mutex_unlock(&line->lock);
    if (last) {
        pthread_cond_destroy(&line->answered);
        pthread_mutex_destroy(&line->lock);
        free(line);
    }
}

/* On a worker: the hook for each queued event, in order, until none is left. */
static void
gp_notify_run(gp_work *w)
{
    gp_notify_line *line = ((gp_notify_runner *)w)->line;
    free(w);
    pthread_mutex_lock(&line->lock);
    while (line->head) {
        gp_notify_item *it = line->head;
        line->head = it->next;
        if (!line->head)
            line->tail = NULL;
        line->queued--;
        pthread_mutex_unlock(&line->lock);
        int32_t event = it->event;
        int propagate = 1;
        gp_notify_hook(line->this, &event, it->data, &propagate); /* nothing if the translator is gone */
        pthread_mutex_lock(&line->lock);
        if (it->abandoned) {
            if (event != it->event || !propagate) {
                unsigned n = ++line->late_answers;
                if (n <= 5 || n % 1000 == 0)
                    gf_log(line->this->name, GF_LOG_WARNING,
                           "glupy: notify(%d) answered after the event had gone on unchanged: the answer (%s) "
                           "is ignored (%u such answers in all)",
                           it->event, propagate ? "another event" : "stop it", n);
            }
            gp_notify_item_free(it);
        } else {
            it->event = event;
            it->propagate = propagate;
            it->done = 1;
            pthread_cond_broadcast(&line->answered);
        }
    }
    line->running = 0;
    gp_notify_line_unref_locked(line);
}

/* The seconds upcalls may still wait for hooks: the process's. */
static gp_bucket gp_notify_bucket = {PTHREAD_MUTEX_INITIALIZER, GP_NOTIFY_BUDGET, 0, GP_NOTIFY_BUDGET,
                                     GP_NOTIFY_SHARE};

/* Queue the event for the hook and wait for its answer within the budget: 0 if it
 * answered (*event, *propagate as it said), -1 if the event goes on unchanged. */
static int
gp_notify_off_thread(xlator_t *this, int32_t *event, void *data, int *propagate)
{
    gp_private_t *priv = this->private;
    gp_notify_line *line = gp_notify_line_of(this, priv);
    gp_notify_item *it = calloc(1, sizeof(*it));
    if (!line || !it) {
        free(it);
        return -1;
    }
    it->event = *event;
    it->data = data;
    it->propagate = 1;
    if (*event == GF_EVENT_UPCALL && data) {
        struct gf_upcall *up = data;
        it->up = *up;
        it->up.client_uid = up->client_uid ? strdup(up->client_uid) : NULL;
        it->up.data = NULL;
        if (up->event_type == GF_UPCALL_CACHE_INVALIDATION && up->data) {
            it->ci = *(struct gf_upcall_cache_invalidation *)up->data;
            it->ci.dict = NULL;
            it->up.data = &it->ci;
        }
        it->data = &it->up;
    }
    double now = gp_now();
    pthread_mutex_lock(&line->lock);
    if (line->queued >= GP_NOTIFY_QUEUE) {
        unsigned n = ++line->dropped;
        pthread_mutex_unlock(&line->lock);
        gp_notify_item_free(it);
        if (n <= 5 || n % 1000 == 0)
            gf_log(this->name, GF_LOG_ERROR,
                   "glupy: notify(%d) goes on without the hook: %d events already wait for it (%u events dropped "
                   "so in all)", *event, GP_NOTIFY_QUEUE, n);
        return -1;
    }
    /* behind: events wait for the hook already, or upcalls used their share of the epoll thread */
    const char *behind = line->head || line->running ? "earlier events wait for it" : NULL;
    double wait = *event == GF_EVENT_UPCALL ? gp_bucket_take(&gp_notify_bucket, 0) : GP_NOTIFY_WAIT;
    if (!behind && wait < 0.001)
        behind = "upcalls used the hook's share of the epoll thread's time";
    it->abandoned = behind != NULL;
    if (line->tail)
        line->tail->next = it;
    else
        line->head = it;
    line->tail = it;
    line->queued++;
    gp_notify_runner *runner = NULL;
    if (!line->running) {
        runner = calloc(1, sizeof(*runner));
        if (runner) {
            runner->w.run = gp_notify_run;
            runner->line = line;
            line->running = 1;
            line->refs++;
        }
    }
    if (behind) {
        unsigned n = ++line->deferred;
        pthread_mutex_unlock(&line->lock);
        if (runner)
            gp_work_submit(&runner->w);
        if (n <= 5 || n % 1000 == 0)
            gf_log(this->name, GF_LOG_WARNING,
                   "glupy: notify(%d) goes on at once, unchanged, and the hook gets it later: %s (%u events so "
                   "in all)", *event, behind, n);
        return -1;
    }
    if (runner)
        gp_work_submit(&runner->w);
    struct timespec until;
    gp_timespec_at(&until, wait);
    while (!it->done)
        if (pthread_cond_timedwait(&line->answered, &line->lock, &until) == ETIMEDOUT)
            break;
    gp_bucket_take(&gp_notify_bucket, gp_now() - now);
    if (it->done) {
        pthread_mutex_unlock(&line->lock);
        *event = it->event;
        *propagate = it->propagate;
        gp_notify_item_free(it);
        return 0;
    }
    it->abandoned = 1; /* the runner frees it */
    unsigned late = ++line->late;
    pthread_mutex_unlock(&line->lock);
    if (late <= 5 || late % 100 == 0)
        gf_log(this->name, GF_LOG_WARNING,
               "glupy: notify(%d) still running after %.2g s: the event goes on unchanged (%u late in all)",
               *event, wait, late);
    return -1;
}

/* fini: the translator lets go of its line (a runner still running keeps it). */
static void
gp_notify_line_release(gp_private_t *priv)
{
    gp_notify_line *line = priv->notify_line;
    priv->notify_line = NULL;
    if (line) {
        pthread_mutex_lock(&line->lock);
        gp_notify_line_unref_locked(line);
    }
}

/* Notify calls nested on one thread. A hook that answers an event with one going
 * the other way (CHILD_UP with PARENT_UP, which posix answers with CHILD_UP...)
 * makes an endless ping-pong through the graph on one stack, a crash once the stack
 * is gone: past GP_NOTIFY_DEPTH nested calls the hook is left out and the event
 * goes on unchanged, which ends the cycle. (Legitimate nesting is one level per
 * glupy translator an event crosses.) */
#define GP_NOTIFY_DEPTH 64
static GP_TLS int gp_notify_depth;

int32_t
notify(xlator_t *this, int32_t event, void *data, ...)
{
    gp_private_t *priv = this->private;
    int propagate = 1;
    int32_t out = event;
    if (priv && priv->has_notify && gp_notify_depth >= GP_NOTIFY_DEPTH) {
        unsigned cut = ++priv->notify_cycles;
        if (cut <= 5 || cut % 1000 == 0)
            gf_log(this->name, GF_LOG_ERROR,
                   "glupy: notify(%d) nested %d deep on one thread (the hook's answers make a cycle through the "
                   "graph?): the event goes on unchanged, without the hook (%u times in all)",
                   event, gp_notify_depth, cut);
    } else if (priv && priv->has_notify) {
        if (gp_on_worker())
            gp_notify_hook(this, &out, data, &propagate);
        else if (gp_notify_off_thread(this, &out, data, &propagate) != 0) {
            out = event;
            propagate = 1;
        }
    }
    /* the event's own data goes on (still valid: its sender waits for this call) */
    gp_notify_depth++;
    int32_t ret = propagate ? default_notify(this, out, data) : 0;
    gp_notify_depth--;
    return ret;
}

/* An upcall as a dict; glupy._runtime makes it a glupy.Upcall. */
static PyObject *
gp_py_upcall(void *data)
{
    struct gf_upcall *up = data;
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    PyObject *gfid = gp_py_gfid(up->gfid), *kind = PyLong_FromUnsignedLong(up->event_type);
    PyObject *client = gp_py_str(up->client_uid);
    int ok = gfid && kind && client && PyDict_SetItemString(d, "gfid", gfid) == 0 &&
             PyDict_SetItemString(d, "kind", kind) == 0 && PyDict_SetItemString(d, "client", client) == 0;
    Py_XDECREF(gfid);
    Py_XDECREF(kind);
    Py_XDECREF(client);
    if (ok && up->event_type == GF_UPCALL_CACHE_INVALIDATION && up->data) {
        struct gf_upcall_cache_invalidation *ci = up->data;
        PyObject *flags = PyLong_FromUnsignedLong(ci->flags);
        /* the bricks' features.cache-invalidation-timeout: how long they keep telling
         * this client about an inode it used */
        PyObject *expire = PyLong_FromUnsignedLong(ci->expire_time_attr);
        PyObject *st = gp_py_iatt(&ci->stat), *pst = gp_py_iatt(&ci->p_stat);
        ok = flags && expire && st && pst && PyDict_SetItemString(d, "flags", flags) == 0 &&
             PyDict_SetItemString(d, "expire", expire) == 0 &&
             PyDict_SetItemString(d, "stat", st) == 0 && PyDict_SetItemString(d, "parent_stat", pst) == 0;
        Py_XDECREF(flags);
        Py_XDECREF(expire);
        Py_XDECREF(st);
        Py_XDECREF(pst);
    }
    if (!ok)
        Py_CLEAR(d);
    return d;
}

double
gp_fop_timeout(xlator_t *this)
{
    gp_private_t *priv = this->private;
    return priv ? priv->fop_timeout : 0;
}

double
gp_queue_deadline(xlator_t *this)
{
    double timeout = gp_fop_timeout(this);
    return timeout > 0 ? gp_now() + timeout : 0;
}

/* ------------------------------------------------------------ callbacks: context release */

/* The context's reference and the hook go to the observer thread: forget and release
 * come on whichever GlusterFS thread dropped the last reference (the FUSE reader, epoll,
 * an io-thread), which must neither wait for the GIL (a handler may hold it in a long C
 * call) nor run Python code (a hook, or the context's __del__, may block). The observer
 * thread takes them in bursts, after the observations queued before them (a file's last
 * write is observed before its fd's context ends), and fini waits for them. */
typedef struct {
    gp_work w;
    xlator_t *this;
    const char *hook_name;
    PyObject *ctx; /* the reference the xlator's context held */
} gp_ctx_work;

/* `this` NULL: its graph was torn down while the release waited (gp_release_ctx_discard):
 * the context object alone is dropped. */
static void
gp_release_ctx_now(xlator_t *this, const char *hook_name, PyObject *ctx)
{
    PyGILState_STATE g = gp_gil_acquire();
    gp_hook_run run;
    gp_hook_begin(&run, hook_name, this ? this->name : NULL, GP_HOOK_LIMIT_SHORT);
    /* this->private is NULL once fini ran (set under the GIL): then no hook */
    PyObject *hook = this ? Py_XNewRef(gp_hook(this->private, hook_name)) : NULL;
    if (hook) {
        PyObject *r = PyObject_CallOneArg(hook, ctx);
        if (!r)
            gp_log_exception(this->name, hook_name);
        Py_XDECREF(r);
        Py_DECREF(hook);
    }
    Py_DECREF(ctx); /* the context's __del__, if it has one */
    if (PyErr_Occurred()) /* (HandlerTimedOut, in a __del__: reported as unraisable) */
        PyErr_Clear();
    gp_hook_end(&run);
    gp_gil_release(g);
}

static void
gp_release_ctx_run(gp_work *w)
{
    gp_ctx_work *cw = (gp_ctx_work *)w;
    gp_release_ctx_now(cw->this, cw->hook_name, cw->ctx);
    free(cw);
}

/* A graph torn down (fini) while the release waits: the context object is dropped on a
 * worker, without its hook (the translator is gone). */
static void
gp_release_ctx_discard(gp_work *w)
{
    ((gp_ctx_work *)w)->this = NULL;
    w->expire = NULL;
    gp_work_submit(w);
}

static void
gp_release_ctx(xlator_t *this, const char *hook_name, uint64_t value)
{
    if (!value)
        return;
    PyObject *ctx = (PyObject *)(uintptr_t)value;
    gp_ctx_work *cw = gp_on_own_thread() ? NULL : calloc(1, sizeof(*cw));
    if (!cw) {
        gp_release_ctx_now(this, hook_name, ctx);
        return;
    }
    cw->w.run = gp_release_ctx_run;
    cw->w.expire = gp_release_ctx_discard;
    cw->this = this;
    cw->hook_name = hook_name;
    cw->ctx = ctx;
    gp_observe_submit(&cw->w, this, 0, 0);
}

static int32_t
gp_forget(xlator_t *this, inode_t *inode)
{
    uint64_t v = 0;
    inode_ctx_del(inode, this, &v);
    gp_release_ctx(this, "forget", v);
    return 0;
}

static int32_t
gp_release(xlator_t *this, fd_t *fd)
{
    uint64_t v = 0;
    gp_fd_ctx_del(fd, this, &v);
    gp_release_ctx(this, "release", v);
    return 0;
}

static int32_t
gp_releasedir(xlator_t *this, fd_t *fd)
{
    uint64_t v = 0;
    gp_fd_ctx_del(fd, this, &v);
    gp_release_ctx(this, "releasedir", v);
    return 0;
}

/* ------------------------------------------------------------ statedump */

/* The statedump hook runs on a worker: statedumps come on GlusterFS's signal
 * thread, which also takes SIGTERM; a hook that blocks must not keep the process
 * from stopping. The thread waits for it at most GP_NOTIFY_WAIT seconds. */
typedef struct {
    gp_work w;
    xlator_t *this;
    gp_handoff handoff;
    char *items; /* the hook's (key, str) list as "key\0value\0" pairs, then "\0" */
    size_t size;
} gp_dump_work;

static void
gp_dump_work_free(gp_dump_work *dw)
{
    free(dw->items);
    gp_handoff_destroy(&dw->handoff);
    free(dw);
}

static void
gp_dump_run(gp_work *w)
{
    gp_dump_work *dw = (gp_dump_work *)w;
    FILE *out = open_memstream(&dw->items, &dw->size);
    PyGILState_STATE g = gp_gil_acquire();
    gp_hook_run run;
    gp_hook_begin(&run, "statedump", dw->this->name, GP_HOOK_LIMIT_SHORT);
    PyObject *hook = Py_XNewRef(gp_hook(dw->this->private, "statedump"));
    PyObject *items = hook ? PyObject_CallNoArgs(hook) : NULL; /* list of (key, str) */
    if (hook && !items)
        gp_log_exception(dw->this->name, "statedump");
    for (Py_ssize_t i = 0; out && items && PyList_Check(items) && i < PyList_GET_SIZE(items); i++) {
        const char *key, *value;
        if (PyArg_ParseTuple(PyList_GET_ITEM(items, i), "ss", &key, &value)) {
            fputs(key, out);
            fputc(0, out);
            fputs(value, out);
            fputc(0, out);
        } else {
            PyErr_Clear();
        }
    }
    Py_XDECREF(items);
    Py_XDECREF(hook);
    gp_hook_end(&run);
    gp_gil_release(g);
    if (out) {
        fputc(0, out);
        fputc(0, out);
        fclose(out);
    }
    if (gp_handoff_done(&dw->handoff)) /* the dump went on without it */
        gp_dump_work_free(dw);
}

/* One "key=value" line of a statedump. GlusterFS 10.3's gf_proc_dump_write formats the
 * line into a GF_DUMP_MAX_BUF_LEN buffer and adds up the lengths vsnprintf would have
 * written, not what it wrote: a longer line overflowed the buffer and aborted the
 * process (a statedump hook's value of 4,100 characters, or an option's). Key and value
 * are cut to fit, the value ending with CUT. */
#define GP_DUMP_CUT "...[cut]"
static void
gp_dump_write(const char *key, const char *value)
{
    char k[GF_DUMP_MAX_BUF_LEN / 8];
    snprintf(k, sizeof(k), "%s", key);
    int room = GF_DUMP_MAX_BUF_LEN - (int)strlen(k) - 3; /* '=', '\n', the NUL */
    if (strnlen(value, room + 1) <= (size_t)room)
        gf_proc_dump_write(k, "%s", value);
    else
        gf_proc_dump_write(k, "%.*s%s", room - (int)strlen(GP_DUMP_CUT), value, GP_DUMP_CUT);
}

/* How long the signal thread waits for the next statedump hook: what is left of a
 * budget of GP_DUMP_WAIT for every translator of the process, refilled at
 * GP_DUMP_SHARE seconds a second, and at least GP_DUMP_LEAST (a hook that answers at
 * once still shows). The signal thread also takes SIGTERM: eight translators whose
 * statedump hooks blocked, waited a second each, kept the process from ending 7.8 s
 * after a statedump. */
#define GP_DUMP_WAIT 1.0
#define GP_DUMP_SHARE 0.2
#define GP_DUMP_LEAST 0.05
static gp_bucket gp_dump_bucket = {PTHREAD_MUTEX_INITIALIZER, GP_DUMP_WAIT, 0, GP_DUMP_WAIT, GP_DUMP_SHARE};

static int32_t
gp_dump_priv(xlator_t *this)
{
    gp_private_t *priv = this->private;
    if (!priv)
        return 0;
    gf_proc_dump_add_section("xlator.glupy.%s.priv", this->name);
    gp_dump_write("module", priv->module);
    gp_dump_write("class", priv->cls[0] ? priv->cls : "(default)");
    gp_dump_work *dw = calloc(1, sizeof(*dw));
    if (!dw)
        return 0;
    dw->w.run = gp_dump_run;
    dw->this = this;
    gp_handoff_init(&dw->handoff);
    gp_work_submit(&dw->w);
    double wait = gp_bucket_take(&gp_dump_bucket, 0), start = gp_now();
    if (wait < GP_DUMP_LEAST)
        wait = GP_DUMP_LEAST;
    int answered = gp_handoff_wait(&dw->handoff, wait);
    gp_bucket_take(&gp_dump_bucket, gp_now() - start);
    if (!answered) {
        gf_proc_dump_write("statedump", "the hook did not answer within %.2g s", wait);
        gf_log(this->name, GF_LOG_WARNING, "glupy: statedump() still running after %.2g s: dumped without it",
               wait);
        return 0;
    }
    for (const char *p = dw->items; p && *p;) {
        const char *value = p + strlen(p) + 1;
        gp_dump_write(p, value);
        p = value + strlen(value) + 1;
    }
    gp_dump_work_free(dw);
    return 0;
}

/* ------------------------------------------------------------ the xlator's tables */

/* The errno a failed FOP of fop_table.SERVER_SAFE_ERRNO is answered with: under
 * protocol/server (a brick), GlusterFS 10.3 logs such a failure with a format string it
 * gives no value for, and crashes, unless the errno is ENOENT or ESTALE (logged at DEBUG,
 * never formatted): ESTALE then, said in the log. Elsewhere, the errno as it is. */
int32_t
gp_server_safe_errno(call_frame_t *frame, int fop, int32_t op_ret, int32_t op_errno)
{
    static int said;
    if (op_ret >= 0 || op_errno == ENOENT || op_errno == ESTALE || !frame || !frame->this)
        return op_errno;
    xlator_t *top = frame->this;
    for (int depth = 0; top->parents && depth < 256; depth++)
        top = top->parents->xlator;
    if (!top->type || strcmp(top->type, "protocol/server") != 0)
        return op_errno;
    gf_msg(frame->this->name, __atomic_exchange_n(&said, 1, __ATOMIC_RELAXED) ? GF_LOG_DEBUG : GF_LOG_WARNING, 0, 0,
           "%s failed (%s): answered ESTALE, as protocol/server of GlusterFS 10.3 crashes on any other failed %s "
           "(it logs the failure with a format string it gives no value for); logged once", gf_fop_list[fop],
           strerror(op_errno), gf_fop_list[fop]);
    return ESTALE;
}

/* Empty here: GlusterFS fills it with its defaults (default_stat...) when it loads
 * glupy.so, before any init. Each instance then uses a table of its own (init). */
struct xlator_fops gp_default_fops;

static struct xlator_cbks gp_cbks = {
    .forget = gp_forget,
    .release = gp_release,
    .releasedir = gp_releasedir,
};

static struct xlator_dumpops gp_dumpops = {
    .priv = gp_dump_priv,
};

struct volume_options options[] = {
    {.key = {"module"},
     .type = GF_OPTION_TYPE_STR,
     .description = "The Python module of the translator, e.g. glupy.translators.passthrough, "
                    "optionally with :Class."},
    {.key = {"class"},
     .type = GF_OPTION_TYPE_STR,
     .description = "The translator class in the module (default: the module's only Translator subclass)."},
    {.key = {"pass-through"},
     .type = GF_OPTION_TYPE_BOOL,
     .default_value = "off",
     .op_version = {1},
     .flags = OPT_FLAG_SETTABLE,
     .description = "on: every FOP passes through in C and no FOP enters Python (reconfigurable)."},
    {.key = {"fop-timeout"},
     .type = GF_OPTION_TYPE_DOUBLE,
     .default_value = GP_STR(GP_FOP_TIMEOUT_DEFAULT),
     .min = 0,
     .max = 86400,
     .op_version = {1},
     .flags = OPT_FLAG_SETTABLE,
     .description = "Seconds a FOP may spend in Python before it is answered ETIMEDOUT and its handler's "
                    "stack is logged (0: no deadline; reconfigurable)."},
    {.key = {"init-timeout"},
     .type = GF_OPTION_TYPE_DOUBLE,
     .default_value = GP_STR(GP_INIT_WAIT),
     .min = 1,
     .max = 3600,
     .op_version = {1},
     .description = "Seconds the translator's init() may take when a graph starts: past it the translator fails "
                    "to start, with that cause in the log (init() goes on on a thread of its own)."},
    {.key = {"memory-limit"},
     .type = GF_OPTION_TYPE_DOUBLE,
     .default_value = "0",
     .min = 0,
     .max = 1 << 30,
     .op_version = {1},
     .flags = OPT_FLAG_SETTABLE,
     .description = "MiB of resident memory of the process past which, while it still grows fast, MemoryError is "
                    "raised in the handlers and hooks running then (0: half of the machine's or the cgroup's "
                    "memory; reconfigurable)."},
    {.key = {"generation"},
     .type = GF_OPTION_TYPE_STR,
     .op_version = {1},
     .flags = OPT_FLAG_SETTABLE,
     .description = "Any new value (glupy reload sets one) imports the module's code again and switches to a "
                    "new instance without a restart; FOPs in flight finish on the old one."},
    {.key = {"identity"},
     .type = GF_OPTION_TYPE_STR,
     .description = "VERSION+sha256.DIGEST of the module as attached (glupy attach records it): the translator "
                    "refuses to start where its module differs."},
    /* The translator's own options are declared on its Python class and checked there. */
    {.key = {NULL}},
};

xlator_api_t xlator_api = {
    .init = init,
    .fini = fini,
    .reconfigure = reconfigure,
    .mem_acct_init = mem_acct_init,
    .notify = notify,
    .op_version = {1},
    .fops = &gp_default_fops,
    .cbks = &gp_cbks,
    .dumpops = &gp_dumpops,
    .options = options,
    .identifier = "glupy",
    .category = GF_EXPERIMENTAL,
};
