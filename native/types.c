/* Python object types wrapping GlusterFS objects, and the conversions the
 * generated glue uses. Wrappers hold a GlusterFS reference (inode_ref, fd_ref,
 * dict_ref, iobref_ref) for as long as Python holds the object; structures that
 * are passed by pointer for one call (iatt, gf_flock, statvfs, gf_lease) are
 * copied into the object. */
#include "glupy.h"

gp_registry_t gp_reg;
glusterfs_ctx_t *gp_ctx;

/* Deallocators drop GlusterFS references with the GIL held: releasing the GIL
 * inside tp_dealloc is unsafe during a garbage collection. It cannot deadlock:
 * GlusterFS runs forget/release callbacks (which take the GIL, re-entrantly on
 * this thread) after dropping its own locks, and no thread holding a GlusterFS
 * lock waits for the GIL. */

/* ------------------------------------------------------------ tracking */

static gp_track gp_tracked = {&gp_tracked, &gp_tracked, NULL};

#define GP_TRACK(obj) gp_track_add(&(obj)->track)
#define GP_UNTRACK(obj) gp_track_del(&(obj)->track)

static void
gp_track_add(gp_track *t)
{
    xlator_t *x = THIS;
    t->ctx = x ? x->ctx : NULL;
    t->next = gp_tracked.next;
    t->prev = &gp_tracked;
    gp_tracked.next->prev = t;
    gp_tracked.next = t;
}

static void
gp_track_del(gp_track *t)
{
    if (!t->next)
        return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

static PyObject *
gp_gone(void)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "this object belonged to a GlusterFS graph that has been torn down (glfs_fini)");
    return NULL;
}

/* ------------------------------------------------------------ temporaries */

int
gp_tmp_add(gp_tmp *tmp, enum gp_tmp_kind kind, void *ptr)
{
    if (tmp->n >= GP_TMP_MAX) {
        PyErr_SetString(PyExc_RuntimeError, "glupy: too many temporaries in one call");
        return -1;
    }
    tmp->item[tmp->n].kind = kind;
    tmp->item[tmp->n].ptr = ptr;
    tmp->n++;
    return 0;
}

static void
gp_locklist_free(lock_migration_info_t *head)
{
    lock_migration_info_t *e, *t;
    list_for_each_entry_safe(e, t, &head->list, list)
    {
        list_del_init(&e->list);
        GF_FREE(e->client_uid);
        GF_FREE(e);
    }
    GF_FREE(head);
}

void
gp_tmp_release(gp_tmp *tmp)
{
    for (int i = tmp->n - 1; i >= 0; i--) {
        void *p = tmp->item[i].ptr;
        switch (tmp->item[i].kind) {
            case GP_TMP_PYOBJ:
                Py_DECREF((PyObject *)p);
                break;
            case GP_TMP_IOBREF:
                iobref_unref(p);
                break;
            case GP_TMP_DIRENTS:
                gf_dirent_free(p);
                GF_FREE(p);
                break;
            case GP_TMP_LOCKS:
                gp_locklist_free(p);
                break;
            case GP_TMP_DICT:
                dict_unref(p);
                break;
        }
    }
    tmp->n = 0;
}

/* ------------------------------------------------------------ small helpers */

PyObject *
gp_py_int(long long v)
{
    return PyLong_FromLongLong(v);
}

PyObject *
gp_py_uint(unsigned long long v)
{
    return PyLong_FromUnsignedLongLong(v);
}

PyObject *
gp_py_str(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(s);
}

PyObject *
gp_py_gfid(const unsigned char *gfid)
{
    static const unsigned char null_gfid[16];
    if (memcmp(gfid, null_gfid, 16) == 0)
        Py_RETURN_NONE;
    PyObject *b = PyBytes_FromStringAndSize((const char *)gfid, 16);
    if (!b)
        return NULL;
    PyObject *args[1] = {b};
    PyObject *u = PyObject_Vectorcall(gp_reg.uuid_cls, args, 0, gp_reg.kw_uuid);
    Py_DECREF(b);
    return u;
}

/* A gfid from Python: uuid.UUID, 16 bytes, or None (all zeroes). */
int
gp_c_gfid(PyObject *o, unsigned char *out, const char *what)
{
    if (o == Py_None) {
        memset(out, 0, 16);
        return 0;
    }
    PyObject *b = NULL;
    if (PyBytes_Check(o)) {
        b = o;
        Py_INCREF(b);
    } else {
        b = PyObject_GetAttr(o, gp_reg.str_bytes);
        if (!b)
            return -1;
    }
    if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) != 16) {
        Py_DECREF(b);
        PyErr_Format(PyExc_TypeError, "%s: a gfid is a uuid.UUID or 16 bytes", what);
        return -1;
    }
    memcpy(out, PyBytes_AS_STRING(b), 16);
    Py_DECREF(b);
    return 0;
}

static int
gp_type_check(PyObject *o, PyTypeObject *type, const char *what)
{
    if (PyObject_TypeCheck(o, type))
        return 0;
    PyErr_Format(PyExc_TypeError, "%s must be %s, not %s", what, type->tp_name, Py_TYPE(o)->tp_name);
    return -1;
}

int
gp_c_int32(PyObject *o, int32_t *out, const char *what)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT32_MIN || v > UINT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s out of range", what);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

int
gp_c_uint32(PyObject *o, uint32_t *out, const char *what)
{
    int32_t v;
    if (gp_c_int32(o, &v, what))
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int
gp_c_int64(PyObject *o, int64_t *out, const char *what)
{
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

int
gp_c_uint64(PyObject *o, uint64_t *out, const char *what)
{
    if (PyLong_Check(o) && _PyLong_Sign(o) < 0) {
        int64_t v;
        if (gp_c_int64(o, &v, what))
            return -1;
        *out = (uint64_t)v;
        return 0;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

int
gp_c_str(PyObject *o, const char **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (PyBytes_Check(o)) {
        *out = PyBytes_AS_STRING(o);
        return 0;
    }
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be str or None, not %s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    *out = PyUnicode_AsUTF8(o);
    return *out ? 0 : -1;
}

int
gp_c_outstr(PyObject *o, char **out, const char *what)
{
    return gp_c_str(o, (const char **)out, what);
}

/* ------------------------------------------------------------ Frame */

/* The caller's identity is read under gp_req_lock: the deadline may answer the
 * FOP (and its caller destroy the stack) at any moment from the timer thread. */
static call_stack_t *
gp_frame_root(gp_frame_obj *self)
{
    call_frame_t *frame = self->req ? gp_req_lock_frame(self->req) : NULL;
    if (!frame) {
        if (self->req)
            gp_req_unlock();
        PyErr_SetString(PyExc_RuntimeError, "this FOP has already been answered: its caller is gone");
        return NULL;
    }
    return frame->root;
}

/* Under gp_req_lock: `expr` may make only objects the garbage collector does not
 * track (ints, bytes, str), as making those never runs a collection (see groups). */
#define FRAME_GETTER(field, expr)                                              \
    static PyObject *gp_frame_get_##field(gp_frame_obj *self, void *c)         \
    {                                                                          \
        call_stack_t *root = gp_frame_root(self);                              \
        if (!root)                                                             \
            return NULL;                                                       \
        PyObject *v = expr;                                                    \
        gp_req_unlock();                                                       \
        return v;                                                              \
    }

FRAME_GETTER(uid, PyLong_FromUnsignedLong(root->uid))
FRAME_GETTER(gid, PyLong_FromUnsignedLong(root->gid))
FRAME_GETTER(pid, PyLong_FromLong(root->pid))
FRAME_GETTER(unique, PyLong_FromUnsignedLongLong(root->unique))
FRAME_GETTER(lk_owner, PyBytes_FromStringAndSize(root->lk_owner.data, root->lk_owner.len))
FRAME_GETTER(client, gp_py_str(root->client ? root->client->client_uid : NULL))

/* The groups are copied under gp_req_lock and made into a tuple after it is let go:
 * a tuple is the one object here the garbage collector tracks, so making it may run
 * a collection, which may free another FOP's Caller, whose dealloc takes gp_req_lock
 * (a deadlock of the worker holding the GIL, and of the timer: every FOP in Python
 * hung for good, no deadline). */
static PyObject *
gp_frame_get_groups(gp_frame_obj *self, void *c)
{
    call_stack_t *root = gp_frame_root(self);
    if (!root)
        return NULL;
    int n = root->ngrps > 0 ? root->ngrps : 0;
    gid_t *groups = n ? malloc(n * sizeof(gid_t)) : NULL;
    if (groups)
        memcpy(groups, root->groups, n * sizeof(gid_t));
    gp_req_unlock();
    if (n && !groups)
        return PyErr_NoMemory();
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        PyObject *g = PyLong_FromUnsignedLong(groups[i]);
        if (!g) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, g);
    }
    free(groups);
    return t;
}

static PyObject *
gp_frame_get_valid(gp_frame_obj *self, void *c)
{
    call_frame_t *frame = self->req ? gp_req_lock_frame(self->req) : NULL;
    if (self->req)
        gp_req_unlock();
    return PyBool_FromLong(frame != NULL);
}

static PyObject *
gp_frame_get_coro(gp_frame_obj *self, void *c)
{
    return Py_NewRef(self->coro ? self->coro : Py_None);
}

static int
gp_frame_set_coro(gp_frame_obj *self, PyObject *v, void *c)
{
    Py_XSETREF(self->coro, v && v != Py_None ? Py_NewRef(v) : NULL);
    return 0;
}

/* The last owner of a FOP's Caller lets go. A FOP still unanswered then would
 * hang its caller forever (a handler whose coroutine was dropped): answer EIO. */
gp_frame_obj *
gp_frame_new(xlator_t *this, gp_req *req)
{
    gp_frame_obj *fo = PyObject_New(gp_frame_obj, &gp_frame_type);
    if (!fo)
        return NULL;
    fo->this = this;
    fo->coro = NULL;
    fo->req = req;
    req->fo = (PyObject *)fo;
    req->fo_alive = 1;
    return fo;
}

static void
gp_frame_dealloc(gp_frame_obj *self)
{
    gp_req *r = self->req;
    Py_CLEAR(self->coro);
    if (r) {
        r->fo_alive = 0;
        /* answered (r->frame NULL, for good) needs no lock to see: the common case. A FOP
         * passed to the child by a tail await is the child's to answer (gp_req_pass), passed
         * for good as far as this Caller goes (a reply back in Python gets a Caller of its
         * own): seen without the lock too, its wind being sent after the run (gp_later). */
        call_frame_t *frame = __atomic_load_n(&r->frame, __ATOMIC_ACQUIRE) && !__atomic_load_n(&r->passed, __ATOMIC_ACQUIRE)
                                  ? gp_req_take_unpassed(r) : NULL;
        if (frame) {
            gf_log(r->this->name, GF_LOG_ERROR, "glupy: a %s was left unanswered by its handler: answering EIO",
                   gp_fop_names[r->fop]);
            Py_BEGIN_ALLOW_THREADS
            gp_failers[r->fop](frame, EIO);
            Py_END_ALLOW_THREADS
        }
        gp_req_unref(r);
    }
    PyObject_Free(self);
}

static PyGetSetDef gp_frame_getset[] = {
    {"uid", (getter)gp_frame_get_uid, NULL, "the caller's user id", NULL},
    {"gid", (getter)gp_frame_get_gid, NULL, "the caller's group id", NULL},
    {"pid", (getter)gp_frame_get_pid, NULL, "the caller's process id (negative for GlusterFS's own daemons)", NULL},
    {"groups", (getter)gp_frame_get_groups, NULL, "the caller's supplementary groups", NULL},
    {"lk_owner", (getter)gp_frame_get_lk_owner, NULL, "the lock owner (bytes)", NULL},
    {"client", (getter)gp_frame_get_client, NULL, "the client's identifier on a brick, else None", NULL},
    {"unique", (getter)gp_frame_get_unique, NULL, "the request's unique number", NULL},
    {"valid", (getter)gp_frame_get_valid, NULL, "False once the FOP has been answered", NULL},
    {"coro", (getter)gp_frame_get_coro, (setter)gp_frame_set_coro, "the handler's coroutine (reports)", NULL},
    {NULL},
};

PyTypeObject gp_frame_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Caller",
    .tp_basicsize = sizeof(gp_frame_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Who made the FOP being handled: uid, gid, groups, pid, lock owner, client.",
    .tp_getset = gp_frame_getset,
    .tp_dealloc = (destructor)gp_frame_dealloc,
};

/* ------------------------------------------------------------ Xlator */

PyObject *
gp_xlator_new(xlator_t *xl)
{
    gp_xlator_obj *self = PyObject_New(gp_xlator_obj, &gp_xlator_type);
    if (!self)
        return NULL;
    self->xl = xl;
    GP_TRACK(self);
    self->track.ctx = xl ? xl->ctx : self->track.ctx; /* gone with its process's ctx (gp_orphan) */
    return (PyObject *)self;
}

static void
gp_xlator_dealloc(gp_xlator_obj *self)
{
    GP_UNTRACK(self);
    PyObject_Free(self);
}

/* The translator, or NULL with RuntimeError set once its graph is gone. */
#define GP_XL(self)                                                                                                    \
    ((self)->xl ? (self)->xl : (gp_gone(), (xlator_t *)NULL))

static PyObject *
gp_xlator_get_name(gp_xlator_obj *self, void *c)
{
    xlator_t *xl = GP_XL(self);
    return xl ? gp_py_str(xl->name) : NULL;
}

static PyObject *
gp_xlator_get_type(gp_xlator_obj *self, void *c)
{
    xlator_t *xl = GP_XL(self);
    return xl ? gp_py_str(xl->type) : NULL;
}

static PyObject *
gp_xlator_get_children(gp_xlator_obj *self, void *c)
{
    xlator_t *xl = GP_XL(self);
    PyObject *list = xl ? PyList_New(0) : NULL;
    for (xlator_list_t *l = xl ? xl->children : NULL; list && l; l = l->next) {
        PyObject *child = gp_xlator_new(l->xlator);
        if (!child || PyList_Append(list, child) < 0)
            Py_CLEAR(list);
        Py_XDECREF(child);
    }
    return list;
}

static PyObject *
gp_xlator_get_options(gp_xlator_obj *self, void *c)
{
    xlator_t *xl = GP_XL(self);
    return xl ? gp_py_xdata(xl->options) : NULL;
}

/* Per-inode and per-fd context: a Python object stored in GlusterFS's context
 * slot of this translator; its reference is dropped on forget/release. Only a
 * glupy translator's slots: another translator's hold its own C data. */
static int
gp_xlator_ctx_ok(gp_xlator_obj *self, const char *what)
{
    if (!GP_XL(self))
        return -1;
    if (gp_xlator_is_glupy(self->xl))
        return 0;
    PyErr_Format(PyExc_TypeError, "%s: %s (%s) is not a running glupy translator: its context slots hold its own "
                 "C data, not Python objects", what, self->xl->name, self->xl->type);
    return -1;
}

static PyObject *
gp_xlator_inode_ctx_get(gp_xlator_obj *self, PyObject *inode_obj)
{
    if (gp_xlator_ctx_ok(self, "inode_ctx_get") < 0)
        return NULL;
    inode_t *inode;
    uint64_t v = 0;
    if (gp_c_inode(inode_obj, &inode, "inode") < 0 || !inode)
        return NULL;
    if (inode_ctx_get(inode, self->xl, &v) != 0 || !v)
        Py_RETURN_NONE;
    return Py_NewRef((PyObject *)(uintptr_t)v);
}

static PyObject *
gp_xlator_inode_ctx_set(gp_xlator_obj *self, PyObject *const *args, Py_ssize_t n)
{
    if (gp_xlator_ctx_ok(self, "inode_ctx_set") < 0)
        return NULL;
    inode_t *inode;
    uint64_t old = 0;
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "inode_ctx_set(inode, value)");
        return NULL;
    }
    if (gp_c_inode(args[0], &inode, "inode") < 0 || !inode)
        return NULL;
    PyObject *value = args[1] == Py_None ? NULL : args[1];
    /* Under the GIL every glupy access to this slot is serialised. */
    inode_ctx_del(inode, self->xl, &old);
    if (value) {
        Py_INCREF(value);
        if (inode_ctx_set(inode, self->xl, (uint64_t *)&(uint64_t){(uintptr_t)value}) != 0) {
            Py_DECREF(value);
            Py_XDECREF((PyObject *)(uintptr_t)old);
            PyErr_SetString(PyExc_MemoryError, "inode_ctx_set failed");
            return NULL;
        }
    }
    Py_XDECREF((PyObject *)(uintptr_t)old);
    Py_RETURN_NONE;
}

static PyObject *
gp_xlator_fd_ctx_get(gp_xlator_obj *self, PyObject *fd_obj)
{
    if (gp_xlator_ctx_ok(self, "fd_ctx_get") < 0)
        return NULL;
    fd_t *fd;
    uint64_t v = 0;
    if (gp_c_fd(fd_obj, &fd, "fd") < 0)
        return NULL;
    if (gp_fd_ctx_get(fd, self->xl, &v) != 0 || !v)
        Py_RETURN_NONE;
    return Py_NewRef((PyObject *)(uintptr_t)v);
}

static PyObject *
gp_xlator_fd_ctx_set(gp_xlator_obj *self, PyObject *const *args, Py_ssize_t n)
{
    if (gp_xlator_ctx_ok(self, "fd_ctx_set") < 0)
        return NULL;
    fd_t *fd;
    uint64_t old = 0;
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "fd_ctx_set(fd, value)");
        return NULL;
    }
    if (gp_c_fd(args[0], &fd, "fd") < 0)
        return NULL;
    PyObject *value = args[1] == Py_None ? NULL : args[1];
    gp_fd_ctx_del(fd, self->xl, &old);
    if (value) {
        Py_INCREF(value);
        if (fd_ctx_set(fd, self->xl, (uint64_t)(uintptr_t)value) != 0) {
            Py_DECREF(value);
            Py_XDECREF((PyObject *)(uintptr_t)old);
            PyErr_SetString(PyExc_MemoryError, "fd_ctx_set failed");
            return NULL;
        }
    }
    Py_XDECREF((PyObject *)(uintptr_t)old);
    Py_RETURN_NONE;
}

static PyObject *
gp_xlator_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyObject_TypeCheck(b, &gp_xlator_type) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    int eq = ((gp_xlator_obj *)a)->xl == ((gp_xlator_obj *)b)->xl;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t
gp_xlator_hash(gp_xlator_obj *self)
{
    return _Py_HashPointer(self->xl);
}

static PyObject *
gp_xlator_repr(gp_xlator_obj *self)
{
    if (!self->xl)
        return PyUnicode_FromString("<Xlator of a graph torn down>");
    return PyUnicode_FromFormat("<Xlator %s (%s)>", self->xl->name, self->xl->type);
}

static PyMethodDef gp_xlator_methods[] = {
    {"inode_ctx_get", (PyCFunction)gp_xlator_inode_ctx_get, METH_O, NULL},
    {"inode_ctx_set", (PyCFunction)(void (*)(void))gp_xlator_inode_ctx_set, METH_FASTCALL, NULL},
    {"fd_ctx_get", (PyCFunction)gp_xlator_fd_ctx_get, METH_O, NULL},
    {"fd_ctx_set", (PyCFunction)(void (*)(void))gp_xlator_fd_ctx_set, METH_FASTCALL, NULL},
    {NULL},
};

static PyGetSetDef gp_xlator_getset[] = {
    {"name", (getter)gp_xlator_get_name, NULL, "the translator's name in the volfile", NULL},
    {"type", (getter)gp_xlator_get_type, NULL, "the translator's type, e.g. storage/posix", NULL},
    {"children", (getter)gp_xlator_get_children, NULL, "the children (subvolumes)", NULL},
    {"options", (getter)gp_xlator_get_options, NULL, "the options from the volfile", NULL},
    {NULL},
};

PyTypeObject gp_xlator_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy._glupy.Xlator",
    .tp_basicsize = sizeof(gp_xlator_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A translator in the running graph.",
    .tp_methods = gp_xlator_methods,
    .tp_getset = gp_xlator_getset,
    .tp_richcompare = gp_xlator_richcompare,
    .tp_hash = (hashfunc)gp_xlator_hash,
    .tp_repr = (reprfunc)gp_xlator_repr,
    .tp_dealloc = (destructor)gp_xlator_dealloc,
};

/* ------------------------------------------------------------ Inode */

typedef struct {
    PyObject_HEAD gp_track track;
    inode_t *inode;
} gp_inode_obj;

PyObject *
gp_py_inode(inode_t *inode)
{
    if (!inode)
        Py_RETURN_NONE;
    gp_inode_obj *o = PyObject_New(gp_inode_obj, &gp_inode_type);
    if (o) {
        o->inode = inode_ref(inode);
        GP_TRACK(o);
    }
    return (PyObject *)o;
}

int
gp_c_inode(PyObject *o, inode_t **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_inode_type, what))
        return -1;
    *out = ((gp_inode_obj *)o)->inode;
    return *out ? 0 : (gp_gone(), -1);
}

static void
gp_inode_dealloc(gp_inode_obj *self)
{
    GP_UNTRACK(self);
    if (self->inode)
        inode_unref(self->inode);
    PyObject_Free(self);
}

static PyObject *
gp_inode_get_gfid(gp_inode_obj *self, void *c)
{
    if (!self->inode)
        return gp_gone();
    return gp_py_gfid(self->inode->gfid);
}

static PyObject *
gp_inode_get_type(gp_inode_obj *self, void *c)
{
    if (!self->inode)
        return gp_gone();
    return PyLong_FromLong(self->inode->ia_type);
}

static PyObject *
gp_inode_get_is_root(gp_inode_obj *self, void *c)
{
    if (!self->inode)
        return gp_gone();
    return PyBool_FromLong(__is_root_gfid(self->inode->gfid));
}

static PyObject *
gp_inode_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyObject_TypeCheck(b, &gp_inode_type) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    int eq = ((gp_inode_obj *)a)->inode == ((gp_inode_obj *)b)->inode;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t
gp_inode_hash(gp_inode_obj *self)
{
    return _Py_HashPointer(self->inode);
}

static PyObject *
gp_inode_repr(gp_inode_obj *self)
{
    if (!self->inode)
        return PyUnicode_FromString("<Inode of a torn-down graph>");
    return PyUnicode_FromFormat("<Inode %s type=%d>", uuid_utoa(self->inode->gfid), self->inode->ia_type);
}

static PyGetSetDef gp_inode_getset[] = {
    {"gfid", (getter)gp_inode_get_gfid, NULL, "the GlusterFS file id (uuid.UUID), None before it is known", NULL},
    {"type", (getter)gp_inode_get_type, NULL, "the file type (glupy.FileType)", NULL},
    {"is_root", (getter)gp_inode_get_is_root, NULL, "True for the volume's root directory", NULL},
    {NULL},
};

PyTypeObject gp_inode_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Inode",
    .tp_basicsize = sizeof(gp_inode_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A GlusterFS inode. Equal wrappers denote the same inode.",
    .tp_dealloc = (destructor)gp_inode_dealloc,
    .tp_getset = gp_inode_getset,
    .tp_richcompare = gp_inode_richcompare,
    .tp_hash = (hashfunc)gp_inode_hash,
    .tp_repr = (reprfunc)gp_inode_repr,
};

/* ------------------------------------------------------------ Fd */

typedef struct {
    PyObject_HEAD gp_track track;
    fd_t *fd;
} gp_fd_obj;

PyObject *
gp_py_fd(fd_t *fd)
{
    if (!fd)
        Py_RETURN_NONE;
    gp_fd_obj *o = PyObject_New(gp_fd_obj, &gp_fd_type);
    if (o) {
        o->fd = fd_ref(fd);
        GP_TRACK(o);
    }
    return (PyObject *)o;
}

int
gp_c_fd(PyObject *o, fd_t **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_fd_type, what))
        return -1;
    *out = ((gp_fd_obj *)o)->fd;
    return *out ? 0 : (gp_gone(), -1);
}

static void
gp_fd_dealloc(gp_fd_obj *self)
{
    GP_UNTRACK(self);
    if (self->fd)
        fd_unref(self->fd);
    PyObject_Free(self);
}

static PyObject *
gp_fd_get_inode(gp_fd_obj *self, void *c)
{
    if (!self->fd)
        return gp_gone();
    return gp_py_inode(self->fd->inode);
}

static PyObject *
gp_fd_get_flags(gp_fd_obj *self, void *c)
{
    if (!self->fd)
        return gp_gone();
    return PyLong_FromLong(self->fd->flags);
}

static PyObject *
gp_fd_get_pid(gp_fd_obj *self, void *c)
{
    if (!self->fd)
        return gp_gone();
    return PyLong_FromLong(self->fd->pid);
}

static PyObject *
gp_fd_get_anonymous(gp_fd_obj *self, void *c)
{
    if (!self->fd)
        return gp_gone();
    return PyBool_FromLong(fd_is_anonymous(self->fd));
}

static PyObject *
gp_fd_anonymous(PyObject *cls, PyObject *inode_obj)
{
    inode_t *inode;
    if (gp_c_inode(inode_obj, &inode, "inode") < 0)
        return NULL;
    if (!inode) {
        PyErr_SetString(PyExc_TypeError, "Fd.anonymous needs an inode");
        return NULL;
    }
    fd_t *fd = fd_anonymous(inode);
    if (!fd)
        return PyErr_NoMemory();
    PyObject *o = gp_py_fd(fd);
    fd_unref(fd);
    return o;
}

static PyObject *
gp_fd_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyObject_TypeCheck(b, &gp_fd_type) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    int eq = ((gp_fd_obj *)a)->fd == ((gp_fd_obj *)b)->fd;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t
gp_fd_hash(gp_fd_obj *self)
{
    return _Py_HashPointer(self->fd);
}

static PyGetSetDef gp_fd_getset[] = {
    {"inode", (getter)gp_fd_get_inode, NULL, "the open file's inode", NULL},
    {"flags", (getter)gp_fd_get_flags, NULL, "the open(2) flags", NULL},
    {"pid", (getter)gp_fd_get_pid, NULL, "the pid that opened it", NULL},
    {"anonymous", (getter)gp_fd_get_anonymous, NULL, "True for an anonymous fd", NULL},
    {NULL},
};

static PyMethodDef gp_fd_methods[] = {
    {"anonymous_for", (PyCFunction)gp_fd_anonymous, METH_O | METH_CLASS,
     "An anonymous fd for an inode: lets a translator do fd FOPs on a file nobody opened."},
    {NULL},
};

PyTypeObject gp_fd_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Fd",
    .tp_basicsize = sizeof(gp_fd_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open file or directory.",
    .tp_dealloc = (destructor)gp_fd_dealloc,
    .tp_getset = gp_fd_getset,
    .tp_methods = gp_fd_methods,
    .tp_richcompare = gp_fd_richcompare,
    .tp_hash = (hashfunc)gp_fd_hash,
};

/* ------------------------------------------------------------ Loc */

typedef struct {
    PyObject_HEAD gp_track track;
    loc_t loc;
    int given_with; /* the FOP GlusterFS gave this location with; -1: made in Python */
    char text[];    /* the path (and a name outside it) of a Loc made from GlusterFS's (gp_loc_obj_make) */
} gp_loc_obj;

/* 16 bytes of zeros: gf_uuid_is_null and gf_uuid_copy call into libuuid, some 80
 * instructions a call (callgrind), four of them per location copied. */
static inline int
gp_gfid_null(const unsigned char *g)
{
    uint64_t a, b;
    memcpy(&a, g, 8);
    memcpy(&b, g + 8, 8);
    return (a | b) == 0;
}

/* Whether p points into the n bytes at base. */
static inline int
gp_points_into(const char *p, const char *base, size_t n)
{
    return p && (uintptr_t)p - (uintptr_t)base < n;
}

int
gp_loc_hold(loc_t *dst, loc_t *src, char *buf)
{
    /* loc_copy's copy (GlusterFS 10, libglusterfs/src/xlator.c), field for field */
    if (!gp_gfid_null(src->gfid))
        memcpy(dst->gfid, src->gfid, 16);
    else if (src->inode && !gp_gfid_null(src->inode->gfid))
        memcpy(dst->gfid, src->inode->gfid, 16);
    memcpy(dst->pargfid, src->pargfid, 16);
    if (src->inode)
        dst->inode = inode_ref(src->inode);
    if (src->parent)
        dst->parent = inode_ref(src->parent);
    if (src->path) {
        size_t len = strlen(src->path);
        char *path = len < GP_LOC_HELD_PATH ? buf : GF_MALLOC(len + 1, gf_common_mt_strdup);
        if (!path) {
            gp_loc_unhold(dst, buf);
            return -1;
        }
        memcpy(path, src->path, len + 1);
        dst->path = path;
        if (src->name && (dst->name = strrchr(path, '/')))
            dst->name++;
    } else if (src->name) {
        /* loc_copy keeps the caller's pointer, which the held copy outlives: a copy
         * in buf (an entry name always fits), or else loc_copy's pointer */
        size_t len = strlen(src->name);
        if (len < GP_LOC_HELD_PATH) {
            memcpy(buf, src->name, len + 1);
            dst->name = buf;
        } else {
            dst->name = src->name;
        }
    }
    return 0;
}

void
gp_loc_unhold(loc_t *loc, char *buf)
{
    if (gp_points_into(loc->path, buf, GP_LOC_HELD_PATH))
        loc->path = NULL;
    loc_wipe(loc);
}

/* A Loc of GlusterFS's location *loc: its path (and name) copied into the object, its
 * references taken (take: moved from *loc, the bridge's own held copy, whose path its
 * release frees if it is not in the held block). */
static PyObject *
gp_loc_obj_make(loc_t *loc, int fop, int take)
{
    size_t plen = loc && loc->path ? strlen(loc->path) + 1 : 0;
    int name_in_path = loc && gp_points_into(loc->name, loc->path, plen);
    size_t nlen = loc && loc->name && !name_in_path ? strlen(loc->name) + 1 : 0;
    gp_loc_obj *o = PyObject_Malloc(sizeof(gp_loc_obj) + plen + nlen);
    if (!o)
        return PyErr_NoMemory();
    PyObject_Init((PyObject *)o, &gp_loc_type);
    memset(&o->loc, 0, sizeof(o->loc));
    o->given_with = fop;
    GP_TRACK(o);
    if (!loc)
        return (PyObject *)o;
    /* loc_copy's gfid (a held copy has it already, as it was when the FOP came) */
    memcpy(o->loc.gfid, !take && gp_gfid_null(loc->gfid) && loc->inode ? loc->inode->gfid : loc->gfid, 16);
    memcpy(o->loc.pargfid, loc->pargfid, 16);
    if (plen) {
        memcpy(o->text, loc->path, plen);
        o->loc.path = o->text;
    }
    if (name_in_path) {
        o->loc.name = o->text + (loc->name - loc->path);
    } else if (nlen) {
        memcpy(o->text + plen, loc->name, nlen);
        o->loc.name = o->text + plen;
    }
    if (take) {
        o->loc.inode = loc->inode;
        o->loc.parent = loc->parent;
        loc->inode = loc->parent = NULL;
    } else {
        o->loc.inode = loc->inode ? inode_ref(loc->inode) : NULL;
        o->loc.parent = loc->parent ? inode_ref(loc->parent) : NULL;
    }
    return (PyObject *)o;
}

PyObject *
gp_py_loc(loc_t *loc, int fop)
{
    return gp_loc_obj_make(loc, fop, 0);
}

/* A Loc taking over the references of *loc, the bridge's own copy of a FOP's location
 * (gp_loc_hold), which would otherwise be taken again and dropped. */
PyObject *
gp_py_loc_take(loc_t *loc, int fop)
{
    return gp_loc_obj_make(loc, fop, 1);
}

int
gp_c_loc(PyObject *o, loc_t **out, const char *what)
{
    if (gp_type_check(o, &gp_loc_type, what))
        return -1;
    *out = &((gp_loc_obj *)o)->loc;
    return 0;
}

/* GlusterFS's translators dereference a location's inode without a check (fuse
 * always gives one), and build entry paths and entry locks from its parent and
 * name: a Loc a handler made without them crashed storage/posix (NULL inode in
 * lookup, unlink, rename), and a name such as ".." or "a/b" would reach outside
 * the parent directory. `entry`: what the argument must hold, fop_table.ENTRY_LOCS.
 * A Loc GlusterFS gave with this FOP goes on as it came: what GlusterFS sends
 * its translators take (DHT's statfs has only the root's gfid, no inode). The
 * same rules: glupy.testing.kinds.check_loc. */
int
gp_loc_check(PyObject *obj, int fop, int entry, const char *what)
{
    gp_loc_obj *self = (gp_loc_obj *)obj; /* gp_c_loc checked its type */
    if (self->given_with == fop)
        return 0;
    loc_t *loc = &self->loc;
    const char *name = loc->name;
    size_t len = name ? strlen(name) : 0;
    int named = entry == 1 || entry == 3 || entry == 4 || (entry == 2 && len > 0);
    if (!loc->inode && entry <= 2)
        PyErr_Format(PyExc_ValueError, "%s: a Loc without an inode cannot be wound (use the FOP's own Loc, or "
                     "give inode=)", what);
    else if (entry == 2 && len == 0 && gf_uuid_is_null(loc->gfid) && gf_uuid_is_null(loc->inode->gfid))
        PyErr_Format(PyExc_ValueError, "%s: a lookup without a name needs a gfid (of the Loc or its inode)", what);
    else if (entry == 5 && gf_uuid_is_null(loc->gfid) && (!loc->inode || gf_uuid_is_null(loc->inode->gfid)))
        PyErr_Format(PyExc_ValueError, "%s: a Loc created by gfid needs a gfid", what);
    else if (named) {
        if (!loc->parent)
            PyErr_Format(PyExc_ValueError, "%s: a Loc naming an entry needs its parent", what);
        else if (loc->inode && loc->parent == loc->inode)
            PyErr_Format(PyExc_ValueError, "%s: a Loc's parent cannot be its own inode", what);
        else if (len == 0 || len > 255 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            PyErr_Format(PyExc_ValueError, "%s: '%.60s' is not an entry name (1 to 255 bytes, no '/', not . or ..)",
                         what, name ? name : "");
        else if (entry == 4 && !loc->inode && !(loc->inode = inode_new(loc->parent->table)))
            PyErr_NoMemory();
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* loc_wipe, but for the path when it is the object's own (gp_loc_obj_make) */
static void
gp_loc_obj_wipe(gp_loc_obj *self)
{
    if (self->loc.path == self->text)
        self->loc.path = NULL;
    loc_wipe(&self->loc);
}

static void
gp_loc_dealloc(gp_loc_obj *self)
{
    GP_UNTRACK(self);
    gp_loc_obj_wipe(self);
    PyObject_Free(self);
}

static PyObject *
gp_loc_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "inode", "parent", "gfid", "pargfid", "name", NULL};
    const char *path = NULL, *name = NULL;
    PyObject *inode_o = Py_None, *parent_o = Py_None, *gfid_o = Py_None, *pargfid_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zOOOOz:Loc", names, &path, &inode_o, &parent_o, &gfid_o,
                                     &pargfid_o, &name))
        return NULL;
    inode_t *inode, *parent;
    unsigned char gfid[16], pargfid[16];
    if (gp_c_inode(inode_o, &inode, "inode") || gp_c_inode(parent_o, &parent, "parent") ||
        gp_c_gfid(gfid_o, gfid, "gfid") || gp_c_gfid(pargfid_o, pargfid, "pargfid"))
        return NULL;
    gp_loc_obj *o = (gp_loc_obj *)type->tp_alloc(type, 0);
    if (!o)
        return NULL;
    o->given_with = -1;
    GP_TRACK(o);
    loc_t *loc = &o->loc;
    if (path) {
        loc->path = gf_strdup(path);
        if (!loc->path) {
            Py_DECREF(o);
            return PyErr_NoMemory();
        }
        const char *slash = strrchr(loc->path, '/');
        /* loc->name points into loc->path, as GlusterFS expects */
        loc->name = slash ? slash + 1 : loc->path;
    }
    if (name && (!loc->name || strcmp(name, loc->name) != 0)) {
        Py_DECREF(o);
        PyErr_SetString(PyExc_ValueError, "Loc: name must be the last component of path");
        return NULL;
    }
    if (inode)
        loc->inode = inode_ref(inode);
    if (parent)
        loc->parent = inode_ref(parent);
    memcpy(loc->gfid, gfid, 16);
    memcpy(loc->pargfid, pargfid, 16);
    if (inode && gf_uuid_is_null(loc->gfid))
        gf_uuid_copy(loc->gfid, inode->gfid);
    if (parent && gf_uuid_is_null(loc->pargfid))
        gf_uuid_copy(loc->pargfid, parent->gfid);
    return (PyObject *)o;
}

static PyObject *
gp_loc_get_path(gp_loc_obj *self, void *c)
{
    return gp_py_str(self->loc.path);
}

static PyObject *
gp_loc_get_name(gp_loc_obj *self, void *c)
{
    return gp_py_str(self->loc.name);
}

static PyObject *
gp_loc_get_inode(gp_loc_obj *self, void *c)
{
    return gp_py_inode(self->loc.inode);
}

static PyObject *
gp_loc_get_parent(gp_loc_obj *self, void *c)
{
    return gp_py_inode(self->loc.parent);
}

static PyObject *
gp_loc_get_gfid(gp_loc_obj *self, void *c)
{
    if (!gf_uuid_is_null(self->loc.gfid))
        return gp_py_gfid(self->loc.gfid);
    if (self->loc.inode)
        return gp_py_gfid(self->loc.inode->gfid);
    Py_RETURN_NONE;
}

static PyObject *
gp_loc_get_pargfid(gp_loc_obj *self, void *c)
{
    if (!gf_uuid_is_null(self->loc.pargfid))
        return gp_py_gfid(self->loc.pargfid);
    if (self->loc.parent)
        return gp_py_gfid(self->loc.parent->gfid);
    Py_RETURN_NONE;
}

static PyObject *
gp_loc_repr(gp_loc_obj *self)
{
    return PyUnicode_FromFormat("<Loc path=%s>", self->loc.path ? self->loc.path : "(none)");
}

static PyGetSetDef gp_loc_getset[] = {
    {"path", (getter)gp_loc_get_path, NULL, "the path from the volume root (may be '<gfid:...>/name')", NULL},
    {"name", (getter)gp_loc_get_name, NULL, "the last path component", NULL},
    {"inode", (getter)gp_loc_get_inode, NULL, "the inode, if known", NULL},
    {"parent", (getter)gp_loc_get_parent, NULL, "the parent directory's inode, if known", NULL},
    {"gfid", (getter)gp_loc_get_gfid, NULL, "the file's gfid (uuid.UUID) or None", NULL},
    {"pargfid", (getter)gp_loc_get_pargfid, NULL, "the parent's gfid (uuid.UUID) or None", NULL},
    {NULL},
};

PyTypeObject gp_loc_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Loc",
    .tp_basicsize = sizeof(gp_loc_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Loc(path=None, inode=None, parent=None, gfid=None, pargfid=None, name=None)\n\n"
              "Where a FOP applies: path, name, inode, parent inode and gfids.",
    .tp_new = gp_loc_new,
    .tp_dealloc = (destructor)gp_loc_dealloc,
    .tp_getset = gp_loc_getset,
    .tp_repr = (reprfunc)gp_loc_repr,
};

/* ------------------------------------------------------------ Xdata (dict_t) */

typedef struct {
    PyObject_HEAD gp_track track;
    dict_t *dict;
} gp_xdata_obj;

PyObject *
gp_py_xdata(dict_t *dict)
{
    if (!dict)
        Py_RETURN_NONE;
    gp_xdata_obj *o = PyObject_New(gp_xdata_obj, &gp_xdata_type);
    if (o) {
        o->dict = dict_ref(dict);
        GP_TRACK(o);
    }
    return (PyObject *)o;
}

int
gp_c_xdata(PyObject *o, dict_t **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_xdata_type, what))
        return -1;
    *out = ((gp_xdata_obj *)o)->dict;
    return *out ? 0 : (gp_gone(), -1);
}

/* gp_c_xdata for a wind or an unwind: the dict is referenced for as long as the call
 * (released with tmp), so that while GlusterFS's translators use it, with the GIL
 * released, a change from Python makes the Xdata a copy of its own (gp_xdata_setitem)
 * instead of changing, or freeing, the dict under them. */
int
gp_c_xdata_held(PyObject *o, dict_t **out, gp_tmp *tmp, const char *what)
{
    if (gp_c_xdata(o, out, what) < 0)
        return -1;
    if (*out && gp_tmp_add(tmp, GP_TMP_DICT, dict_ref(*out)) < 0) {
        dict_unref(*out);
        return -1;
    }
    return 0;
}

static PyObject *gp_xdata_update(gp_xdata_obj *self, PyObject *args, PyObject *kw);

static PyObject *
gp_xdata_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *init = NULL;
    if (!PyArg_ParseTuple(args, "|O:Xdata", &init))
        return NULL;
    gp_xdata_obj *o = (gp_xdata_obj *)type->tp_alloc(type, 0);
    if (!o)
        return NULL;
    GP_TRACK(o);
    o->dict = dict_new();
    if (!o->dict) {
        Py_DECREF(o);
        return PyErr_NoMemory();
    }
    if (init || kw) {
        PyObject *a = Py_BuildValue("(O)", init ? init : Py_None);
        PyObject *r = a ? gp_xdata_update(o, a, kw) : NULL;
        Py_XDECREF(a);
        if (!r) {
            Py_DECREF(o);
            return NULL;
        }
        Py_DECREF(r);
    }
    return (PyObject *)o;
}

static void
gp_xdata_dealloc(gp_xdata_obj *self)
{
    GP_UNTRACK(self);
    if (self->dict)
        dict_unref(self->dict);
    Py_TYPE(self)->tp_free(self);
}

#define GP_XDATA_LIVE(self, fail)                                              \
    do {                                                                       \
        if (!(self)->dict) {                                                   \
            gp_gone();                                                         \
            return fail;                                                       \
        }                                                                      \
    } while (0)

static Py_ssize_t
gp_xdata_len(gp_xdata_obj *self)
{
    GP_XDATA_LIVE(self, -1);
    return self->dict->count;
}

static PyObject *
gp_data_value(data_t *data)
{
    switch (data->data_type) {
        case GF_DATA_TYPE_INT:
            return PyLong_FromLongLong(data_to_int64(data));
        case GF_DATA_TYPE_UINT:
            return PyLong_FromUnsignedLongLong(data_to_uint64(data));
        case GF_DATA_TYPE_DOUBLE:
            return PyFloat_FromDouble(strtod(data->data, NULL));
        case GF_DATA_TYPE_STR: {
            size_t len = data->len;
            /* strings carry their NUL; do not show it */
            if (len && data->data[len - 1] == '\0')
                len--;
            return PyUnicode_DecodeUTF8(data->data, len, "surrogateescape");
        }
        case GF_DATA_TYPE_GFUUID:
            return gp_py_gfid((unsigned char *)data->data);
        case GF_DATA_TYPE_IATT:
            return gp_py_iatt((struct iatt *)data->data);
        default:
            return PyBytes_FromStringAndSize(data->data, data->len);
    }
}

static const char *
gp_xdata_key(PyObject *key)
{
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "Xdata keys are str, not %s", Py_TYPE(key)->tp_name);
        return NULL;
    }
    return PyUnicode_AsUTF8(key);
}

/* A value with a reference of its own (data_unref it): another thread may delete
 * the key from a dict it shares with us (the caller's xdata) while we convert it. */
static data_t *
gp_dict_get(dict_t *dict, const char *key)
{
    data_t *data = NULL;
    return dict_get_with_ref(dict, (char *)key, &data) == 0 ? data : NULL;
}

/* A wind creating an entry (fop_table.GFID_REQ_CHECKED) with a gfid-req in its xdata:
 * 16 bytes, neither null nor the root's. storage/posix relinks its handle of the gfid to
 * the new entry: a mkdir given the root's gfid left bricks that never started again
 * (ELOOP in posix_handle_init). 0, or -1 with ValueError set. */
int
gp_check_gfid_req(dict_t *xdata, const char *what)
{
    static const unsigned char root[16] = {[15] = 1};
    data_t *data = xdata ? gp_dict_get(xdata, "gfid-req") : NULL;
    if (!data)
        return 0;
    int bad = data->len != 16 || gf_uuid_is_null((unsigned char *)data->data) || !memcmp(data->data, root, 16);
    data_unref(data);
    if (bad) {
        PyErr_Format(PyExc_ValueError, "%s: gfid-req must be 16 bytes, neither null nor the root's gfid", what);
        return -1;
    }
    return 0;
}

static PyObject *
gp_xdata_getitem(gp_xdata_obj *self, PyObject *key)
{
    GP_XDATA_LIVE(self, NULL);
    const char *k = gp_xdata_key(key);
    if (!k)
        return NULL;
    data_t *data = gp_dict_get(self->dict, k);
    if (!data) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    PyObject *value = gp_data_value(data);
    data_unref(data);
    return value;
}

/* A value this large is a mistake: GlusterFS's dicts carry keys, flags and small
 * values (quick-read's file content is the largest, 64 KiB by default), every hop
 * copies them, and copying a gigabyte with the GIL held stalls every handler. */
#define GP_XDATA_VALUE_MAX (64 << 20)

static int
gp_xdata_value_fits(Py_ssize_t len, const char *key)
{
    if (len <= GP_XDATA_VALUE_MAX)
        return 0;
    PyErr_Format(PyExc_ValueError, "Xdata value of %s: %zd bytes, more than the %d MiB a value may hold", key, len,
                 GP_XDATA_VALUE_MAX >> 20);
    return -1;
}

static int
gp_xdata_setitem(gp_xdata_obj *self, PyObject *key, PyObject *value)
{
    GP_XDATA_LIVE(self, -1);
    const char *k = gp_xdata_key(key);
    int ret;
    if (!k)
        return -1;
    if (GF_ATOMIC_GET(self->dict->refcount) > 1) {
        /* Copy on write: the dict is GlusterFS's too (the FOP's caller, a wind or unwind in
         * flight, a translator that kept it). A thread changing it while storage/posix
         * walked it could free a pair under the walk; this Xdata changes a copy instead. */
        dict_t *own = dict_copy_with_ref(self->dict, NULL);
        if (!own) {
            PyErr_NoMemory();
            return -1;
        }
        dict_unref(self->dict);
        self->dict = own;
    }
    if (!value) {
        if (!dict_get(self->dict, (char *)k)) {
            PyErr_SetObject(PyExc_KeyError, key);
            return -1;
        }
        dict_del(self->dict, (char *)k);
        return 0;
    }
    if (PyBool_Check(value) || PyLong_Check(value)) {
        long long v = PyLong_AsLongLong(value);
        if (v == -1 && PyErr_Occurred())
            return -1;
        ret = dict_set_int64(self->dict, (char *)k, v);
    } else if (PyFloat_Check(value)) {
        ret = dict_set_double(self->dict, (char *)k, PyFloat_AS_DOUBLE(value));
    } else if (PyUnicode_Check(value)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(value, &len);
        if (!s || gp_xdata_value_fits(len, k))
            return -1;
        ret = dict_set_dynstr_with_alloc(self->dict, (char *)k, s);
    } else if (PyObject_TypeCheck(value, &gp_iatt_type)) {
        struct iatt *ia;
        gp_c_iatt(value, &ia, "value");
        struct iatt *copy = GF_MALLOC(sizeof(*copy), gf_common_mt_char);
        if (!copy) {
            PyErr_NoMemory();
            return -1;
        }
        *copy = *ia;
        ret = dict_set_iatt(self->dict, (char *)k, copy, false);
    } else if (PyObject_CheckBuffer(value)) {
        Py_buffer view;
        if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0)
            return -1;
        if (gp_xdata_value_fits(view.len, k)) {
            PyBuffer_Release(&view);
            return -1;
        }
        /* GlusterFS frees binary values with GF_FREE; copy into its memory */
        void *copy = GF_MALLOC(view.len ? view.len : 1, gf_common_mt_char);
        if (copy)
            memcpy(copy, view.buf, view.len);
        Py_ssize_t len = view.len;
        PyBuffer_Release(&view);
        if (!copy) {
            PyErr_NoMemory();
            return -1;
        }
        ret = dict_set_bin(self->dict, (char *)k, copy, len);
        if (ret)
            GF_FREE(copy);
    } else {
        unsigned char gfid[16];
        if (!PyObject_HasAttr(value, gp_reg.str_bytes)) {
            PyErr_Format(PyExc_TypeError, "Xdata values are bytes, str, int, float, uuid.UUID or Iatt, not %s",
                         Py_TYPE(value)->tp_name);
            return -1;
        }
        if (gp_c_gfid(value, gfid, "value"))
            return -1;
        /* not is_static: GlusterFS would keep the pointer, here into this stack frame (a
         * gfid-req set from Python went out as garbage, and posix refused the create) */
        unsigned char *copy = GF_MALLOC(sizeof(gfid), gf_common_mt_char);
        if (!copy) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, gfid, sizeof(gfid));
        ret = dict_set_gfuuid(self->dict, (char *)k, copy, false);
        if (ret)
            GF_FREE(copy);
    }
    if (ret) {
        PyErr_Format(PyExc_OSError, "cannot set key %s in Xdata", k);
        return -1;
    }
    return 0;
}

static int
gp_xdata_contains(gp_xdata_obj *self, PyObject *key)
{
    GP_XDATA_LIVE(self, -1);
    const char *k = gp_xdata_key(key);
    if (!k)
        return -1;
    return dict_get(self->dict, (char *)k) != NULL;
}

/* Keys in insertion order. The dict's lock is held only while copying key
 * pointers into Python strings; no Python code runs under it. */
static PyObject *
gp_xdata_keys(gp_xdata_obj *self, PyObject *unused)
{
    GP_XDATA_LIVE(self, NULL);
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    LOCK(&self->dict->lock);
    for (data_pair_t *p = self->dict->members_list; p; p = p->next) {
        PyObject *k = PyUnicode_DecodeUTF8(p->key, strlen(p->key), "surrogateescape");
        if (!k || PyList_Append(list, k) < 0) {
            Py_XDECREF(k);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(k);
    }
    UNLOCK(&self->dict->lock);
    return list;
}

static PyObject *
gp_xdata_iter(gp_xdata_obj *self)
{
    PyObject *keys = gp_xdata_keys(self, NULL);
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyObject *
gp_xdata_copy(gp_xdata_obj *self, PyObject *unused)
{
    GP_XDATA_LIVE(self, NULL);
    dict_t *d = dict_copy_with_ref(self->dict, NULL);
    if (!d)
        return PyErr_NoMemory();
    PyObject *o = gp_py_xdata(d);
    dict_unref(d);
    return o;
}

static PyObject *
gp_xdata_get_raw(gp_xdata_obj *self, PyObject *key)
{
    GP_XDATA_LIVE(self, NULL);
    const char *k = gp_xdata_key(key);
    if (!k)
        return NULL;
    data_t *data = gp_dict_get(self->dict, k);
    if (!data)
        Py_RETURN_NONE;
    PyObject *value = PyBytes_FromStringAndSize(data->data, data->len);
    data_unref(data);
    return value;
}

static PyObject *
gp_xdata_get(gp_xdata_obj *self, PyObject *const *args, Py_ssize_t n)
{
    GP_XDATA_LIVE(self, NULL);
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    const char *k = gp_xdata_key(args[0]);
    if (!k)
        return NULL;
    data_t *data = gp_dict_get(self->dict, k);
    if (!data)
        return Py_NewRef(n == 2 ? args[1] : Py_None);
    PyObject *value = gp_data_value(data);
    data_unref(data);
    return value;
}

/* items() and values(): lists built from keys() */
static PyObject *
gp_xdata_collect(gp_xdata_obj *self, int pairs)
{
    PyObject *keys = gp_xdata_keys(self, NULL);
    if (!keys)
        return NULL;
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(keys); i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        PyObject *v = gp_xdata_getitem(self, k);
        if (!v) {
            /* removed by another thread meanwhile */
            PyErr_Clear();
            continue;
        }
        PyObject *item = pairs ? PyTuple_Pack(2, k, v) : Py_NewRef(v);
        Py_DECREF(v);
        if (!item || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    Py_DECREF(keys);
    return out;
}

static PyObject *
gp_xdata_items(gp_xdata_obj *self, PyObject *unused)
{
    return gp_xdata_collect(self, 1);
}

static PyObject *
gp_xdata_values(gp_xdata_obj *self, PyObject *unused)
{
    return gp_xdata_collect(self, 0);
}

/* update(mapping_or_None, kwargs_or_None) as dict.update */
static PyObject *
gp_xdata_update(gp_xdata_obj *self, PyObject *args, PyObject *kw)
{
    PyObject *sources[2] = {NULL, kw};
    if (!PyArg_ParseTuple(args, "|OO:update", &sources[0], &sources[1]))
        return NULL;
    for (int s = 0; s < 2; s++) {
        PyObject *src = sources[s];
        if (!src || src == Py_None)
            continue;
        /* as dict.update: a mapping (it has keys()) gives items(), anything else is an
         * iterable of pairs; either may be a liar, so each item is checked to be a pair */
        int is_mapping = PyObject_HasAttrString(src, "keys");
        PyObject *items = is_mapping ? PyMapping_Items(src) : PySequence_List(src);
        if (!items)
            return NULL;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *kv = PySequence_Fast(PyList_GET_ITEM(items, i), "Xdata.update: an item is not a (key, value) pair");
            int bad = !kv;
            if (kv && PySequence_Fast_GET_SIZE(kv) != 2) {
                PyErr_Format(PyExc_ValueError, "Xdata.update: item %zd has %zd elements, a (key, value) pair has 2", i,
                             PySequence_Fast_GET_SIZE(kv));
                bad = 1;
            }
            if (!bad && gp_xdata_setitem(self, PySequence_Fast_GET_ITEM(kv, 0), PySequence_Fast_GET_ITEM(kv, 1)) < 0)
                bad = 1;
            Py_XDECREF(kv);
            if (bad) {
                Py_DECREF(items);
                return NULL;
            }
        }
        Py_DECREF(items);
    }
    Py_RETURN_NONE;
}

static PyObject *
gp_xdata_repr(gp_xdata_obj *self)
{
    PyObject *keys = gp_xdata_keys(self, NULL);
    if (!keys)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<Xdata keys=%R>", keys);
    Py_DECREF(keys);
    return r;
}

static PyMappingMethods gp_xdata_mapping = {
    .mp_length = (lenfunc)gp_xdata_len,
    .mp_subscript = (binaryfunc)gp_xdata_getitem,
    .mp_ass_subscript = (objobjargproc)gp_xdata_setitem,
};

static PySequenceMethods gp_xdata_sequence = {
    .sq_contains = (objobjproc)gp_xdata_contains,
};

static PyMethodDef gp_xdata_methods[] = {
    {"keys", (PyCFunction)gp_xdata_keys, METH_NOARGS, "The keys, in insertion order."},
    {"items", (PyCFunction)gp_xdata_items, METH_NOARGS, "(key, value) pairs."},
    {"values", (PyCFunction)gp_xdata_values, METH_NOARGS, "The values."},
    {"get", (PyCFunction)(void (*)(void))gp_xdata_get, METH_FASTCALL, "The value of key, or default."},
    {"update", (PyCFunction)(void (*)(void))gp_xdata_update, METH_VARARGS | METH_KEYWORDS, "As dict.update."},
    {"copy", (PyCFunction)gp_xdata_copy, METH_NOARGS, "A new Xdata with the same items."},
    {"raw", (PyCFunction)gp_xdata_get_raw, METH_O, "The value's raw bytes, whatever its type, or None."},
    {NULL},
};

PyTypeObject gp_xdata_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Xdata",
    .tp_basicsize = sizeof(gp_xdata_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Xdata(mapping=None, **items)\n\nA GlusterFS dict: str keys; bytes, str, int, float, "
              "uuid.UUID or Iatt values. Shared, not copied, when passed on.",
    .tp_new = gp_xdata_new,
    .tp_dealloc = (destructor)gp_xdata_dealloc,
    .tp_as_mapping = &gp_xdata_mapping,
    .tp_as_sequence = &gp_xdata_sequence,
    .tp_iter = (getiterfunc)gp_xdata_iter,
    .tp_methods = gp_xdata_methods,
    .tp_repr = (reprfunc)gp_xdata_repr,
};

/* ------------------------------------------------------------ value structs
 * Iatt, Statvfs, Flock and Lease hold a copy of the C structure; their integer
 * fields are exposed with PyMemberDef offsets, so there is no per-field code. */

#define GP_STRUCT_TYPE(Name, ctype)                                            \
    typedef struct {                                                           \
        PyObject_HEAD ctype v;                                                 \
    } gp_##Name##_obj;

GP_STRUCT_TYPE(iatt, struct iatt)
GP_STRUCT_TYPE(statvfs, struct statvfs)
GP_STRUCT_TYPE(flock, struct gf_flock)
GP_STRUCT_TYPE(lease, struct gf_lease)

#define MEMBER(obj, pyname, T, field, doc)                                     \
    {                                                                          \
        pyname, T, offsetof(gp_##obj##_obj, v) + offsetof(__typeof__(((gp_##obj##_obj *)0)->v), field), 0, doc \
    }

/* Generic constructor: keyword arguments set members and setters. */
static PyObject *
gp_struct_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args)) {
        PyErr_Format(PyExc_TypeError, "%s() takes keyword arguments only", type->tp_name);
        return NULL;
    }
    PyObject *o = type->tp_alloc(type, 0); /* zeroed */
    if (!o)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (kw && PyDict_Next(kw, &pos, &k, &v)) {
        if (PyObject_SetAttr(o, k, v) < 0) {
            Py_DECREF(o);
            return NULL;
        }
    }
    return o;
}

static PyObject *
gp_struct_copy(PyObject *self, PyObject *unused)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject *o = type->tp_alloc(type, 0);
    if (o)
        memcpy((char *)o + sizeof(PyObject), (char *)self + sizeof(PyObject), type->tp_basicsize - sizeof(PyObject));
    return o;
}

static PyObject *
gp_struct_richcompare(PyObject *a, PyObject *b, int op)
{
    if (Py_TYPE(a) != Py_TYPE(b) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    int eq = memcmp((char *)a + sizeof(PyObject), (char *)b + sizeof(PyObject),
                    Py_TYPE(a)->tp_basicsize - sizeof(PyObject)) == 0;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyMethodDef gp_struct_methods[] = {
    {"copy", (PyCFunction)gp_struct_copy, METH_NOARGS, "An independent copy."},
    {"__copy__", (PyCFunction)gp_struct_copy, METH_NOARGS, NULL},
    {NULL},
};

/* Iatt */

PyObject *
gp_py_iatt(struct iatt *ia)
{
    if (!ia)
        Py_RETURN_NONE;
    gp_iatt_obj *o = PyObject_New(gp_iatt_obj, &gp_iatt_type);
    if (o)
        o->v = *ia;
    return (PyObject *)o;
}

int
gp_c_iatt(PyObject *o, struct iatt **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_iatt_type, what))
        return -1;
    *out = &((gp_iatt_obj *)o)->v;
    return 0;
}

static PyMemberDef gp_iatt_members[] = {
    MEMBER(iatt, "ino", T_ULONGLONG, ia_ino, "inode number"),
    MEMBER(iatt, "dev", T_ULONGLONG, ia_dev, "device of the brick"),
    MEMBER(iatt, "rdev", T_ULONGLONG, ia_rdev, "device id of a special file"),
    MEMBER(iatt, "size", T_ULONGLONG, ia_size, "size in bytes"),
    MEMBER(iatt, "nlink", T_UINT, ia_nlink, "link count"),
    MEMBER(iatt, "uid", T_UINT, ia_uid, "owner"),
    MEMBER(iatt, "gid", T_UINT, ia_gid, "group"),
    MEMBER(iatt, "blksize", T_UINT, ia_blksize, "preferred I/O size"),
    MEMBER(iatt, "blocks", T_ULONGLONG, ia_blocks, "512-byte blocks allocated"),
    MEMBER(iatt, "atime", T_LONGLONG, ia_atime, "access time (s)"),
    MEMBER(iatt, "mtime", T_LONGLONG, ia_mtime, "modification time (s)"),
    MEMBER(iatt, "ctime", T_LONGLONG, ia_ctime, "change time (s)"),
    MEMBER(iatt, "btime", T_LONGLONG, ia_btime, "birth time (s)"),
    MEMBER(iatt, "atime_nsec", T_UINT, ia_atime_nsec, NULL),
    MEMBER(iatt, "mtime_nsec", T_UINT, ia_mtime_nsec, NULL),
    MEMBER(iatt, "ctime_nsec", T_UINT, ia_ctime_nsec, NULL),
    MEMBER(iatt, "btime_nsec", T_UINT, ia_btime_nsec, NULL),
    MEMBER(iatt, "flags", T_ULONGLONG, ia_flags, "which fields are valid (IATT_* bits)"),
    MEMBER(iatt, "attributes", T_ULONGLONG, ia_attributes, "chattr attributes"),
    MEMBER(iatt, "attributes_mask", T_ULONGLONG, ia_attributes_mask, NULL),
    {NULL},
};

static PyObject *
gp_iatt_get_gfid(gp_iatt_obj *self, void *c)
{
    return gp_py_gfid(self->v.ia_gfid);
}

static int
gp_iatt_set_gfid(gp_iatt_obj *self, PyObject *v, void *c)
{
    return v ? gp_c_gfid(v, self->v.ia_gfid, "gfid") : -1;
}

static PyObject *
gp_iatt_get_type(gp_iatt_obj *self, void *c)
{
    return PyLong_FromLong(self->v.ia_type);
}

static int
gp_iatt_set_type(gp_iatt_obj *self, PyObject *v, void *c)
{
    int32_t t;
    if (!v || gp_c_int32(v, &t, "type"))
        return -1;
    self->v.ia_type = t;
    return 0;
}

static PyObject *
gp_iatt_get_mode(gp_iatt_obj *self, void *c)
{
    return PyLong_FromUnsignedLong(st_mode_from_ia(self->v.ia_prot, self->v.ia_type));
}

static int
gp_iatt_set_mode(gp_iatt_obj *self, PyObject *v, void *c)
{
    uint32_t mode;
    if (!v || gp_c_uint32(v, &mode, "mode"))
        return -1;
    self->v.ia_prot = ia_prot_from_st_mode(mode);
    if (mode & S_IFMT)
        self->v.ia_type = ia_type_from_st_mode(mode);
    return 0;
}

static PyObject *
gp_iatt_repr(gp_iatt_obj *self)
{
    return PyUnicode_FromFormat("<Iatt type=%d mode=%o size=%llu ino=%llu gfid=%s>", self->v.ia_type,
                                st_mode_from_ia(self->v.ia_prot, self->v.ia_type),
                                (unsigned long long)self->v.ia_size, (unsigned long long)self->v.ia_ino,
                                uuid_utoa(self->v.ia_gfid));
}

static PyGetSetDef gp_iatt_getset[] = {
    {"gfid", (getter)gp_iatt_get_gfid, (setter)gp_iatt_set_gfid, "the GlusterFS file id", NULL},
    {"type", (getter)gp_iatt_get_type, (setter)gp_iatt_set_type, "file type (glupy.FileType)", NULL},
    {"mode", (getter)gp_iatt_get_mode, (setter)gp_iatt_set_mode, "st_mode: type and permission bits", NULL},
    {NULL},
};

PyTypeObject gp_iatt_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Iatt",
    .tp_basicsize = sizeof(gp_iatt_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Iatt(**fields)\n\nFile attributes (GlusterFS's struct iatt). Mutable: a translator may "
              "change fields of a reply's Iatt (e.g. size) before returning it.",
    .tp_new = gp_struct_new,
    .tp_members = gp_iatt_members,
    .tp_getset = gp_iatt_getset,
    .tp_methods = gp_struct_methods,
    .tp_richcompare = gp_struct_richcompare,
    .tp_repr = (reprfunc)gp_iatt_repr,
};

/* Statvfs */

PyObject *
gp_py_statvfs(struct statvfs *st)
{
    if (!st)
        Py_RETURN_NONE;
    gp_statvfs_obj *o = PyObject_New(gp_statvfs_obj, &gp_statvfs_type);
    if (o)
        o->v = *st;
    return (PyObject *)o;
}

int
gp_c_statvfs(PyObject *o, struct statvfs **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_statvfs_type, what))
        return -1;
    *out = &((gp_statvfs_obj *)o)->v;
    return 0;
}

static PyMemberDef gp_statvfs_members[] = {
    MEMBER(statvfs, "f_bsize", T_ULONG, f_bsize, NULL),     MEMBER(statvfs, "f_frsize", T_ULONG, f_frsize, NULL),
    MEMBER(statvfs, "f_blocks", T_ULONG, f_blocks, NULL),   MEMBER(statvfs, "f_bfree", T_ULONG, f_bfree, NULL),
    MEMBER(statvfs, "f_bavail", T_ULONG, f_bavail, NULL),   MEMBER(statvfs, "f_files", T_ULONG, f_files, NULL),
    MEMBER(statvfs, "f_ffree", T_ULONG, f_ffree, NULL),     MEMBER(statvfs, "f_favail", T_ULONG, f_favail, NULL),
    MEMBER(statvfs, "f_fsid", T_ULONG, f_fsid, NULL),       MEMBER(statvfs, "f_flag", T_ULONG, f_flag, NULL),
    MEMBER(statvfs, "f_namemax", T_ULONG, f_namemax, NULL), {NULL},
};

PyTypeObject gp_statvfs_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Statvfs",
    .tp_basicsize = sizeof(gp_statvfs_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Statvfs(**fields)\n\nFile system statistics, as os.statvfs_result.",
    .tp_new = gp_struct_new,
    .tp_members = gp_statvfs_members,
    .tp_methods = gp_struct_methods,
    .tp_richcompare = gp_struct_richcompare,
};

/* Flock */

PyObject *
gp_py_flock(struct gf_flock *fl)
{
    if (!fl)
        Py_RETURN_NONE;
    gp_flock_obj *o = PyObject_New(gp_flock_obj, &gp_flock_type);
    if (o)
        o->v = *fl;
    return (PyObject *)o;
}

int
gp_c_flock(PyObject *o, struct gf_flock **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_flock_type, what))
        return -1;
    *out = &((gp_flock_obj *)o)->v;
    return 0;
}

static PyMemberDef gp_flock_members[] = {
    MEMBER(flock, "type", T_SHORT, l_type, "GF_LK_F_RDLCK (0), GF_LK_F_WRLCK (1), GF_LK_F_UNLCK (2)"),
    MEMBER(flock, "whence", T_SHORT, l_whence, NULL),
    MEMBER(flock, "start", T_LONGLONG, l_start, NULL),
    MEMBER(flock, "len", T_LONGLONG, l_len, "0 means to the end of the file"),
    MEMBER(flock, "pid", T_INT, l_pid, NULL),
    {NULL},
};

static PyObject *
gp_flock_get_owner(gp_flock_obj *self, void *c)
{
    return PyBytes_FromStringAndSize(self->v.l_owner.data, self->v.l_owner.len);
}

static int
gp_flock_set_owner(gp_flock_obj *self, PyObject *v, void *c)
{
    if (!v || !PyBytes_Check(v) || PyBytes_GET_SIZE(v) > GF_MAX_LOCK_OWNER_LEN) {
        PyErr_SetString(PyExc_TypeError, "owner is bytes of at most 1024");
        return -1;
    }
    self->v.l_owner.len = PyBytes_GET_SIZE(v);
    memcpy(self->v.l_owner.data, PyBytes_AS_STRING(v), self->v.l_owner.len);
    return 0;
}

static PyGetSetDef gp_flock_getset[] = {
    {"owner", (getter)gp_flock_get_owner, (setter)gp_flock_set_owner, "the lock owner", NULL},
    {NULL},
};

PyTypeObject gp_flock_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Flock",
    .tp_basicsize = sizeof(gp_flock_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Flock(**fields)\n\nA byte-range lock: type, whence, start, len, pid, owner.",
    .tp_new = gp_struct_new,
    .tp_members = gp_flock_members,
    .tp_getset = gp_flock_getset,
    .tp_methods = gp_struct_methods,
    .tp_richcompare = gp_struct_richcompare,
};

/* Lease */

PyObject *
gp_py_lease(struct gf_lease *lease)
{
    if (!lease)
        Py_RETURN_NONE;
    gp_lease_obj *o = PyObject_New(gp_lease_obj, &gp_lease_type);
    if (o)
        o->v = *lease;
    return (PyObject *)o;
}

int
gp_c_lease(PyObject *o, struct gf_lease **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (gp_type_check(o, &gp_lease_type, what))
        return -1;
    *out = &((gp_lease_obj *)o)->v;
    return 0;
}

static PyMemberDef gp_lease_members[] = {
    MEMBER(lease, "cmd", T_INT, cmd, NULL),
    MEMBER(lease, "lease_type", T_INT, lease_type, NULL),
    MEMBER(lease, "lease_flags", T_UINT, lease_flags, NULL),
    {NULL},
};

static PyObject *
gp_lease_get_id(gp_lease_obj *self, void *c)
{
    return PyBytes_FromStringAndSize(self->v.lease_id, LEASE_ID_SIZE);
}

static int
gp_lease_set_id(gp_lease_obj *self, PyObject *v, void *c)
{
    if (!v || !PyBytes_Check(v) || PyBytes_GET_SIZE(v) != LEASE_ID_SIZE) {
        PyErr_Format(PyExc_TypeError, "lease_id is %d bytes", LEASE_ID_SIZE);
        return -1;
    }
    memcpy(self->v.lease_id, PyBytes_AS_STRING(v), LEASE_ID_SIZE);
    return 0;
}

static PyGetSetDef gp_lease_getset[] = {
    {"lease_id", (getter)gp_lease_get_id, (setter)gp_lease_set_id, NULL, NULL},
    {NULL},
};

PyTypeObject gp_lease_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Lease",
    .tp_basicsize = sizeof(gp_lease_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lease(**fields)\n\nA lease request or grant.",
    .tp_new = gp_struct_new,
    .tp_members = gp_lease_members,
    .tp_getset = gp_lease_getset,
    .tp_methods = gp_struct_methods,
    .tp_richcompare = gp_struct_richcompare,
};

/* ------------------------------------------------------------ Buffer */

typedef struct {
    PyObject_HEAD gp_track track;
    struct iovec *vector;
    int32_t count;
    struct iobref *iobref; /* keeps the vector's memory alive */
    size_t size;
    PyObject *flat; /* bytes, when the data had to be copied or joined */
} gp_buffer_obj;

PyObject *
gp_py_data(struct iovec *vector, int32_t count, struct iobref *iobref)
{
    gp_buffer_obj *o = PyObject_New(gp_buffer_obj, &gp_buffer_type);
    if (!o)
        return NULL;
    GP_TRACK(o);
    o->vector = NULL;
    o->count = 0;
    o->iobref = NULL;
    o->flat = NULL;
    o->size = vector ? iov_length(vector, count) : 0;
    if (!iobref || count <= 0) {
        /* memory without an iobref is only valid during this call: copy it */
        o->flat = PyBytes_FromStringAndSize(NULL, o->size);
        if (!o->flat) {
            Py_DECREF(o);
            return NULL;
        }
        if (o->size)
            iov_unload(PyBytes_AS_STRING(o->flat), vector, count);
        return (PyObject *)o;
    }
    o->vector = PyMem_Malloc(sizeof(struct iovec) * count);
    if (!o->vector) {
        Py_DECREF(o);
        return PyErr_NoMemory();
    }
    memcpy(o->vector, vector, sizeof(struct iovec) * count);
    o->count = count;
    o->iobref = iobref_ref(iobref);
    return (PyObject *)o;
}

static void
gp_buffer_dealloc(gp_buffer_obj *self)
{
    GP_UNTRACK(self);
    if (self->iobref)
        iobref_unref(self->iobref);
    PyMem_Free(self->vector);
    Py_XDECREF(self->flat);
    PyObject_Free(self);
}

/* One piece is exported in place, inside GlusterFS's own process. In a gfapi program
 * the data is copied first: glfs_fini frees the iobufs whatever references remain, and a
 * memoryview kept past Client.umount() read freed memory (SIGSEGV; a sixth red-team
 * session). The Buffer is cut loose then (gp_orphan); its copy stays valid. */
static int
gp_buffer_getbuffer(gp_buffer_obj *self, Py_buffer *view, int flags)
{
    if (self->count == 1 && gp_embedded)
        return PyBuffer_FillInfo(view, (PyObject *)self, self->vector[0].iov_base, self->vector[0].iov_len, 1,
                                 flags);
    if (!self->flat) {
        self->flat = PyBytes_FromStringAndSize(NULL, self->size);
        if (!self->flat)
            return -1;
        iov_unload(PyBytes_AS_STRING(self->flat), self->vector, self->count);
    }
    return PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->flat), self->size, 1, flags);
}

static Py_ssize_t
gp_buffer_len(gp_buffer_obj *self)
{
    return self->size;
}

static PyObject *
gp_buffer_bytes(gp_buffer_obj *self, PyObject *unused)
{
    if (self->flat)
        return Py_NewRef(self->flat);
    Py_buffer view;
    if (gp_buffer_getbuffer(self, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *b = PyBytes_FromStringAndSize(view.buf, view.len);
    PyBuffer_Release(&view);
    return b;
}

static PyObject *
gp_buffer_repr(gp_buffer_obj *self)
{
    return PyUnicode_FromFormat("<Buffer %zu bytes in %d pieces>", self->size, self->count ? self->count : 1);
}

/* buf[i] and buf[a:b], through a memoryview of the data */
static PyObject *
gp_buffer_subscript(gp_buffer_obj *self, PyObject *key)
{
    PyObject *view = PyMemoryView_FromObject((PyObject *)self);
    if (!view)
        return NULL;
    PyObject *r = PyObject_GetItem(view, key);
    Py_DECREF(view);
    if (r && PyMemoryView_Check(r)) {
        /* a slice: return bytes, which outlive this Buffer */
        PyObject *b = PyBytes_FromObject(r);
        Py_DECREF(r);
        return b;
    }
    return r;
}

static PyMappingMethods gp_buffer_mapping = {
    .mp_length = (lenfunc)gp_buffer_len,
    .mp_subscript = (binaryfunc)gp_buffer_subscript,
};

static PyBufferProcs gp_buffer_procs = {
    .bf_getbuffer = (getbufferproc)gp_buffer_getbuffer,
};

static PySequenceMethods gp_buffer_sequence = {
    .sq_length = (lenfunc)gp_buffer_len,
};

static PyMethodDef gp_buffer_methods[] = {
    {"__bytes__", (PyCFunction)gp_buffer_bytes, METH_NOARGS, NULL},
    {"tobytes", (PyCFunction)gp_buffer_bytes, METH_NOARGS, "The data as bytes."},
    {NULL},
};

PyTypeObject gp_buffer_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.Buffer",
    .tp_basicsize = sizeof(gp_buffer_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Data of a read or write, without a copy: supports the buffer protocol "
              "(bytes(buf), memoryview(buf)) and len(). Passed on unchanged it is never copied.",
    .tp_dealloc = (destructor)gp_buffer_dealloc,
    .tp_as_buffer = &gp_buffer_procs,
    .tp_as_sequence = &gp_buffer_sequence,
    .tp_as_mapping = &gp_buffer_mapping,
    .tp_methods = gp_buffer_methods,
    .tp_repr = (reprfunc)gp_buffer_repr,
};

int
gp_c_data(PyObject *o, gp_data *out, gp_tmp *tmp, const char *what)
{
    if (PyObject_TypeCheck(o, &gp_buffer_type) && ((gp_buffer_obj *)o)->iobref) {
        gp_buffer_obj *b = (gp_buffer_obj *)o;
        out->vector = b->vector;
        out->count = b->count;
        out->iobref = b->iobref;
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a bytes-like object, not %s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    struct iobuf *iob = iobuf_get2(gp_ctx->iobuf_pool, view.len ? view.len : 1);
    struct iobref *iobref = iob ? iobref_new() : NULL;
    if (!iobref) {
        if (iob)
            iobuf_unref(iob);
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(iobuf_ptr(iob), view.buf, view.len);
    iobref_add(iobref, iob);
    iobuf_unref(iob); /* the iobref holds it now */
    out->one.iov_base = iobuf_ptr(iob);
    out->one.iov_len = view.len;
    out->vector = &out->one;
    out->count = 1;
    out->iobref = iobref;
    PyBuffer_Release(&view);
    return gp_tmp_add(tmp, GP_TMP_IOBREF, iobref);
}

/* ------------------------------------------------------------ checksum */

PyObject *
gp_py_checksum(uint8_t *sum)
{
    if (!sum)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((char *)sum, SHA256_DIGEST_LENGTH);
}

int
gp_c_checksum(PyObject *o, uint8_t **out, const char *what)
{
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) != SHA256_DIGEST_LENGTH) {
        PyErr_Format(PyExc_TypeError, "%s must be %d bytes", what, SHA256_DIGEST_LENGTH);
        return -1;
    }
    *out = (uint8_t *)PyBytes_AS_STRING(o);
    return 0;
}

/* ------------------------------------------------------------ dirents */

PyObject *
gp_py_dirents(gf_dirent_t *entries)
{
    PyObject *list = PyList_New(0);
    gf_dirent_t *e;
    if (!list || !entries)
        return list;
    list_for_each_entry(e, &entries->list, list)
    {
        PyObject *f[7];
        f[0] = PyUnicode_DecodeFSDefault(e->d_name);
        f[1] = PyLong_FromUnsignedLongLong(e->d_ino);
        f[2] = PyLong_FromUnsignedLongLong(e->d_off);
        f[3] = PyLong_FromUnsignedLong(e->d_type);
        f[4] = gp_py_iatt(&e->d_stat);
        f[5] = gp_py_inode(e->inode);
        f[6] = gp_py_xdata(e->dict);
        PyObject *d = NULL;
        if (f[0] && f[1] && f[2] && f[3] && f[4] && f[5] && f[6])
            d = PyObject_Vectorcall(gp_reg.dirent_cls, f, 7, NULL);
        for (int i = 0; i < 7; i++)
            Py_XDECREF(f[i]);
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(d);
    }
    return list;
}

static PyObject *
gp_getattr_s(PyObject *o, const char *name)
{
    return PyObject_GetAttrString(o, name);
}

int
gp_c_dirents(PyObject *o, gf_dirent_t **out, gp_tmp *tmp, const char *what)
{
    PyObject *seq = PySequence_Fast(o, "entries must be a list of Dirent");
    if (!seq)
        return -1;
    gf_dirent_t *head = GF_CALLOC(1, sizeof(*head), gf_common_mt_gf_dirent_t);
    if (!head) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    INIT_LIST_HEAD(&head->list);
    if (gp_tmp_add(tmp, GP_TMP_DIRENTS, head) < 0) {
        GF_FREE(head);
        Py_DECREF(seq);
        return -1;
    }
    *out = head;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *d = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i)); /* its attributes run Python code that may empty the list */
        PyObject *name = gp_getattr_s(d, "name"), *ino = NULL, *off = NULL, *type = NULL, *stat = NULL,
                 *inode = NULL, *xdata = NULL;
        int ok = 0;
        if (name && (ino = gp_getattr_s(d, "ino")) && (off = gp_getattr_s(d, "off")) &&
            (type = gp_getattr_s(d, "type")) && (stat = gp_getattr_s(d, "stat")) &&
            (inode = gp_getattr_s(d, "inode")) && (xdata = gp_getattr_s(d, "xdata"))) {
            PyObject *bname = PyUnicode_EncodeFSDefault(name);
            uint64_t vino, voff;
            uint32_t vtype;
            struct iatt *ia;
            inode_t *in;
            dict_t *dx;
            if (bname && (PyBytes_GET_SIZE(bname) < 1 || PyBytes_GET_SIZE(bname) > 255 ||
                          strlen(PyBytes_AS_STRING(bname)) != (size_t)PyBytes_GET_SIZE(bname) ||
                          strchr(PyBytes_AS_STRING(bname), '/'))) {
                /* a kernel refuses such a name, and fuse-bridge's readdir would write it anyway */
                PyErr_Format(PyExc_TypeError, "%s: %R is not a file name (1 to 255 bytes, no '/' or NUL)", what,
                             name);
            } else if (bname && !gp_c_uint64(ino, &vino, "Dirent.ino") && !gp_c_uint64(off, &voff, "Dirent.off") &&
                !gp_c_uint32(type, &vtype, "Dirent.type") && !gp_c_iatt(stat, &ia, "Dirent.stat") &&
                !gp_c_inode(inode, &in, "Dirent.inode") && !gp_c_xdata(xdata, &dx, "Dirent.xdata")) {
                gf_dirent_t *e = gf_dirent_for_name(PyBytes_AS_STRING(bname));
                if (e) {
                    e->d_ino = vino;
                    e->d_off = voff;
                    e->d_type = vtype;
                    if (ia)
                        e->d_stat = *ia;
                    e->inode = in ? inode_ref(in) : NULL;
                    e->dict = dx ? dict_ref(dx) : NULL;
                    list_add_tail(&e->list, &head->list);
                    ok = 1;
                } else {
                    PyErr_NoMemory();
                }
            }
            Py_XDECREF(bname);
        }
        Py_XDECREF(name);
        Py_XDECREF(ino);
        Py_XDECREF(off);
        Py_XDECREF(type);
        Py_XDECREF(stat);
        Py_XDECREF(inode);
        Py_XDECREF(xdata);
        Py_DECREF(d);
        if (!ok) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

/* ------------------------------------------------------------ lock lists */

PyObject *
gp_py_locklist(lock_migration_info_t *locks)
{
    PyObject *list = PyList_New(0);
    lock_migration_info_t *e;
    if (!list || !locks)
        return list;
    list_for_each_entry(e, &locks->list, list)
    {
        PyObject *f[3] = {gp_py_flock(&e->flock), gp_py_str(e->client_uid), PyLong_FromUnsignedLong(e->lk_flags)};
        PyObject *li = NULL;
        if (f[0] && f[1] && f[2])
            li = PyObject_Vectorcall(gp_reg.lockinfo_cls, f, 3, NULL);
        for (int i = 0; i < 3; i++)
            Py_XDECREF(f[i]);
        if (!li || PyList_Append(list, li) < 0) {
            Py_XDECREF(li);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(li);
    }
    return list;
}

int
gp_c_locklist(PyObject *o, lock_migration_info_t **out, gp_tmp *tmp, const char *what)
{
    PyObject *seq = PySequence_Fast(o, "locklist must be a list of LockInfo");
    if (!seq)
        return -1;
    lock_migration_info_t *head = GF_CALLOC(1, sizeof(*head), gf_common_mt_char);
    if (!head) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    INIT_LIST_HEAD(&head->list);
    if (gp_tmp_add(tmp, GP_TMP_LOCKS, head) < 0) {
        GF_FREE(head);
        Py_DECREF(seq);
        return -1;
    }
    *out = head;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *li = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i)); /* its attributes run Python code that may empty the list */
        PyObject *fl = gp_getattr_s(li, "flock"), *cu = NULL, *lf = NULL;
        struct gf_flock *flock;
        const char *client_uid;
        uint32_t flags;
        int ok = fl && (cu = gp_getattr_s(li, "client_uid")) && (lf = gp_getattr_s(li, "lk_flags")) &&
                 !gp_c_flock(fl, &flock, "LockInfo.flock") && !gp_c_str(cu, &client_uid, "LockInfo.client_uid") &&
                 !gp_c_uint32(lf, &flags, "LockInfo.lk_flags");
        if (ok) {
            lock_migration_info_t *e = GF_CALLOC(1, sizeof(*e), gf_common_mt_char);
            if (e) {
                INIT_LIST_HEAD(&e->list);
                e->flock = *flock;
                e->lk_flags = flags;
                e->client_uid = client_uid ? gf_strdup(client_uid) : NULL;
                list_add_tail(&e->list, &head->list);
            } else {
                PyErr_NoMemory();
                ok = 0;
            }
        }
        Py_XDECREF(fl);
        Py_XDECREF(cu);
        Py_XDECREF(lf);
        Py_DECREF(li);
        if (!ok) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

/* ------------------------------------------------------------ orphaning */

static int
gp_inode_in_graph(inode_t *inode, glusterfs_graph_t *graph)
{
    return inode && inode->table && inode->table->xl && inode->table->xl->graph == graph;
}

int
gp_orphan(glusterfs_ctx_t *ctx, glusterfs_graph_t *graph, int whole_ctx)
{
    int n = 0;
    gp_track *t = gp_tracked.next;
    while (t != &gp_tracked) {
        gp_track *next = t->next;
        PyObject *o = (PyObject *)((char *)t - offsetof(gp_inode_obj, track));
        PyTypeObject *type = Py_TYPE(o);
        int cut = 0;
        /* drop the pointers without releasing them: their memory goes with the graph */
        if (type == &gp_inode_type) {
            gp_inode_obj *x = (gp_inode_obj *)o;
            if ((cut = (whole_ctx && t->ctx == ctx) || gp_inode_in_graph(x->inode, graph)))
                x->inode = NULL;
        } else if (type == &gp_fd_type) {
            gp_fd_obj *x = (gp_fd_obj *)o;
            if ((cut = (whole_ctx && t->ctx == ctx) || (x->fd && gp_inode_in_graph(x->fd->inode, graph))))
                x->fd = NULL;
        } else if (type == &gp_loc_type) {
            gp_loc_obj *x = (gp_loc_obj *)o;
            if ((cut = (whole_ctx && t->ctx == ctx) || gp_inode_in_graph(x->loc.inode, graph) ||
                       gp_inode_in_graph(x->loc.parent, graph))) {
                /* the path is plain memory: free it now, while the translators whose
                 * accounting it is charged to still exist (fini runs before the graph
                 * is destroyed); the inode references go with their tables */
                if (x->loc.path != x->text)
                    GF_FREE((char *)x->loc.path);
                memset(&x->loc, 0, sizeof(loc_t));
            }
        } else if (whole_ctx && t->ctx == ctx) {
            cut = 1;
            if (type == &gp_xlator_type) {
                ((gp_xlator_obj *)o)->xl = NULL; /* the xlators go with the ctx (glfs_fini) */
            } else if (PyObject_TypeCheck(o, &gp_xdata_type)) {
                ((gp_xdata_obj *)o)->dict = NULL;
            } else if (type == &gp_buffer_type) {
                gp_buffer_obj *b = (gp_buffer_obj *)o;
                b->iobref = NULL;
                b->count = 0;
                if (!b->flat)
                    b->size = 0;
            }
        }
        if (cut) {
            gp_track_del(t);
            n++;
        }
        t = next;
    }
    return n;
}

/* ------------------------------------------------------------ registration */

int
gp_types_ready(PyObject *module)
{
    struct {
        PyTypeObject *type;
        const char *name;
    } types[] = {
        {&gp_frame_type, "Caller"}, {&gp_xlator_type, "Xlator"}, {&gp_inode_type, "Inode"},
        {&gp_fd_type, "Fd"},        {&gp_loc_type, "Loc"},       {&gp_xdata_type, "Xdata"},
        {&gp_iatt_type, "Iatt"},    {&gp_statvfs_type, "Statvfs"}, {&gp_flock_type, "Flock"},
        {&gp_lease_type, "Lease"},  {&gp_buffer_type, "Buffer"},  {&gp_missing_type, "MissingNames"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (PyType_Ready(types[i].type) < 0)
            return -1;
        if (PyModule_AddObjectRef(module, types[i].name, (PyObject *)types[i].type) < 0)
            return -1;
    }
    return 0;
}
