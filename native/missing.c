/* glupy.MissingNames: names known to be missing, which the bridge answers ENOENT
 * on lookup without entering Python.
 *
 * Why in C: a negative-lookup cache's hits are most of its lookups, and entering
 * Python for each costs more than the cache saves on a fast network (GlusterFS's
 * own nl-cache answers in C). The policy stays in Python: what to store, for how
 * long, and when to forget it. This file only keeps the names and answers from
 * them. Its specification is glupy._pytypes.MissingNames (the harness's stand-in);
 * both behave alike.
 *
 * Layout: every name is in a hash table keyed by (parent gfid, name), in a
 * least-recently-used list, and in the list of its directory; directories are in
 * a second hash table keyed by gfid, so that forgetting a directory's names does
 * not scan the others. One mutex guards it all; the lookup path takes it without
 * the GIL and never takes the GIL while holding it. */
#include "glupy.h"

#include <time.h>

typedef struct gp_hnode {
    struct gp_hnode *next;
    uint64_t hash;
} gp_hnode;

typedef struct {
    gp_hnode **buckets;
    size_t size, count; /* size: a power of two */
} gp_htab;

typedef struct gp_mdir gp_mdir;

typedef struct gp_mname {
    gp_hnode node;                     /* first: in the names table */
    struct gp_mname *older, *newer;    /* least-recently-used list */
    struct gp_mname *dir_prev, *dir_next;
    gp_mdir *dir;
    double expires;                    /* CLOCK_MONOTONIC seconds, as time.monotonic() */
    int has_postparent;
    struct iatt postparent;
    size_t len;
    char name[];
} gp_mname;

struct gp_mdir {
    gp_hnode node;                     /* first: in the directories table */
    unsigned char gfid[16];
    gp_mname *names;
};

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;
    gp_htab names, dirs;
    gp_mname *oldest, *newest;
    size_t max_entries;
    unsigned long long hits, expired, evictions;
    char **keys;                       /* xdata keys a lookup may carry and be answered */
    char **prefixes;
    size_t nkeys, nprefixes;
    PyObject *py_keys, *py_prefixes;   /* the same, for Python: frozenset, tuple */
} gp_missing_obj;

/* ------------------------------------------------------------ hash tables */

static uint64_t
gp_hash(const unsigned char *gfid, const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ gfid[i]) * 1099511628211ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    return h;
}

static int
gp_htab_insert(gp_htab *t, gp_hnode *n)
{
    if (t->count >= t->size) {
        size_t size = t->size ? t->size * 2 : 64;
        gp_hnode **b = calloc(size, sizeof(*b));
        if (!b)
            return -1;
        for (size_t i = 0; i < t->size; i++) {
            for (gp_hnode *m = t->buckets[i], *next; m; m = next) {
                next = m->next;
                m->next = b[m->hash & (size - 1)];
                b[m->hash & (size - 1)] = m;
            }
        }
        free(t->buckets);
        t->buckets = b;
        t->size = size;
    }
    gp_hnode **head = &t->buckets[n->hash & (t->size - 1)];
    n->next = *head;
    *head = n;
    t->count++;
    return 0;
}

static void
gp_htab_remove(gp_htab *t, gp_hnode *n)
{
    for (gp_hnode **p = &t->buckets[n->hash & (t->size - 1)]; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            t->count--;
            return;
        }
    }
}

static gp_mdir *
gp_dir_find(gp_missing_obj *m, const unsigned char *gfid)
{
    if (!m->dirs.size)
        return NULL;
    uint64_t h = gp_hash(gfid, NULL, 0);
    for (gp_hnode *n = m->dirs.buckets[h & (m->dirs.size - 1)]; n; n = n->next) {
        gp_mdir *d = (gp_mdir *)n;
        if (n->hash == h && memcmp(d->gfid, gfid, 16) == 0)
            return d;
    }
    return NULL;
}

static gp_mname *
gp_name_find(gp_missing_obj *m, const unsigned char *gfid, const char *name, size_t len)
{
    if (!m->names.size)
        return NULL;
    uint64_t h = gp_hash(gfid, name, len);
    for (gp_hnode *n = m->names.buckets[h & (m->names.size - 1)]; n; n = n->next) {
        gp_mname *e = (gp_mname *)n;
        if (n->hash == h && e->len == len && memcmp(e->name, name, len) == 0 &&
            memcmp(e->dir->gfid, gfid, 16) == 0)
            return e;
    }
    return NULL;
}

/* ------------------------------------------------------------ entries (lock held) */

static void
gp_lru_unlink(gp_missing_obj *m, gp_mname *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    e->older = e->newer = NULL;
}

static void
gp_lru_append(gp_missing_obj *m, gp_mname *e)
{
    e->older = m->newest;
    e->newer = NULL;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
}

static void
gp_name_drop(gp_missing_obj *m, gp_mname *e)
{
    gp_htab_remove(&m->names, &e->node);
    gp_lru_unlink(m, e);
    gp_mdir *d = e->dir;
    if (e->dir_prev)
        e->dir_prev->dir_next = e->dir_next;
    else
        d->names = e->dir_next;
    if (e->dir_next)
        e->dir_next->dir_prev = e->dir_prev;
    if (!d->names) {
        gp_htab_remove(&m->dirs, &d->node);
        free(d);
    }
    free(e);
}

static void
gp_evict(gp_missing_obj *m)
{
    while (m->names.count > m->max_entries && m->oldest) {
        gp_name_drop(m, m->oldest);
        m->evictions++;
    }
}

static size_t
gp_clear_locked(gp_missing_obj *m)
{
    size_t count = m->names.count;
    while (m->oldest)
        gp_name_drop(m, m->oldest);
    return count;
}

static double
gp_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The entry of a name, if it is fresh; an expired one is dropped (lock held). */
static gp_mname *
gp_fresh_locked(gp_missing_obj *m, const unsigned char *gfid, const char *name, size_t len)
{
    gp_mname *e = gp_name_find(m, gfid, name, len);
    if (!e)
        return NULL;
    if (gp_monotonic() >= e->expires) {
        gp_name_drop(m, e);
        m->expired++;
        return NULL;
    }
    gp_lru_unlink(m, e);
    gp_lru_append(m, e);
    m->hits++;
    return e;
}

static int
gp_key_allowed(gp_missing_obj *m, const char *key)
{
    for (size_t i = 0; i < m->nkeys; i++)
        if (strcmp(key, m->keys[i]) == 0)
            return 1;
    for (size_t i = 0; i < m->nprefixes; i++)
        if (strncmp(key, m->prefixes[i], strlen(m->prefixes[i])) == 0)
            return 1;
    return 0;
}

static int
gp_xdata_key_allowed(dict_t *d, char *key, data_t *value, void *m)
{
    return gp_key_allowed(m, key) ? 0 : -1;
}

/* ------------------------------------------------------------ the bridge's side (no GIL) */

int
gp_missing_answer(PyObject *table, const unsigned char *pargfid, const char *name, dict_t *xdata,
                  struct iatt *postparent)
{
    gp_missing_obj *m = (gp_missing_obj *)table;
    if (xdata && dict_foreach(xdata, gp_xdata_key_allowed, m) < 0)
        return 0;
    int answered = 0;
    pthread_mutex_lock(&m->lock);
    gp_mname *e = gp_fresh_locked(m, pargfid, name, strlen(name));
    if (e) {
        answered = e->has_postparent ? 2 : 1;
        if (e->has_postparent)
            *postparent = e->postparent;
    }
    pthread_mutex_unlock(&m->lock);
    return answered;
}

int
gp_missing_forget(PyObject *table, const unsigned char *pargfid, const char *name)
{
    gp_missing_obj *m = (gp_missing_obj *)table;
    pthread_mutex_lock(&m->lock);
    gp_mname *e = gp_name_find(m, pargfid, name, strlen(name));
    if (e)
        gp_name_drop(m, e);
    pthread_mutex_unlock(&m->lock);
    return e != NULL;
}

/* ------------------------------------------------------------ the Python side */

/* A name from Python: str (encoded as the bridge decodes names) or bytes. */
static PyObject *
gp_name_bytes(PyObject *o)
{
    PyObject *b = NULL;
    if (PyUnicode_Check(o))
        b = PyUnicode_EncodeFSDefault(o);
    else if (PyBytes_Check(o))
        b = Py_NewRef(o);
    else
        PyErr_Format(PyExc_TypeError, "a name is a str, not %s", Py_TYPE(o)->tp_name);
    if (b && (PyBytes_GET_SIZE(b) == 0 || memchr(PyBytes_AS_STRING(b), 0, PyBytes_GET_SIZE(b)))) {
        PyErr_SetString(PyExc_TypeError, "a name is a non-empty str without NUL characters");
        Py_CLEAR(b);
    }
    return b;
}

static void
gp_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A C copy of an iterable of str, and the Python object kept for the attribute. */
static int
gp_strings(PyObject *iterable, char ***out, size_t *n, PyObject **keep, int as_set)
{
    PyObject *seq = as_set ? PyFrozenSet_New(iterable) : PySequence_Tuple(iterable);
    if (!seq)
        return -1;
    Py_ssize_t size = PyObject_Size(seq);
    char **v = calloc(size ? size : 1, sizeof(char *));
    PyObject *it = PyObject_GetIter(seq);
    PyObject *item;
    size_t i = 0;
    while (v && it && (item = PyIter_Next(it))) {
        const char *s = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
        if (!s && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "xdata keys and prefixes are str");
        if (s && !(v[i++] = strdup(s)))
            PyErr_NoMemory();
        Py_DECREF(item);
        if (PyErr_Occurred())
            break;
    }
    Py_XDECREF(it);
    if (!v)
        PyErr_NoMemory();
    if (PyErr_Occurred()) {
        gp_free_strings(v, i);
        Py_DECREF(seq);
        return -1;
    }
    *out = v;
    *n = i;
    *keep = seq;
    return 0;
}

static int
gp_missing_init(gp_missing_obj *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"max_entries", "xdata_keys", "xdata_prefixes", NULL};
    long long max_entries = 100000;
    PyObject *keys = NULL, *prefixes = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|LOO:MissingNames", names, &max_entries, &keys, &prefixes))
        return -1;
    if (self->py_keys) {
        PyErr_SetString(PyExc_TypeError, "MissingNames is already initialised");
        return -1;
    }
    if (max_entries < 1) {
        PyErr_SetString(PyExc_ValueError, "max_entries must be at least 1");
        return -1;
    }
    PyObject *empty = PyTuple_New(0);
    int ok = empty && gp_strings(keys ? keys : empty, &self->keys, &self->nkeys, &self->py_keys, 1) == 0 &&
             gp_strings(prefixes ? prefixes : empty, &self->prefixes, &self->nprefixes, &self->py_prefixes, 0) == 0;
    Py_XDECREF(empty);
    self->max_entries = max_entries;
    return ok ? 0 : -1;
}

static PyObject *
gp_missing_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    gp_missing_obj *self = (gp_missing_obj *)type->tp_alloc(type, 0);
    if (self)
        pthread_mutex_init(&self->lock, NULL);
    return (PyObject *)self;
}

static void
gp_missing_dealloc(gp_missing_obj *self)
{
    gp_clear_locked(self);
    free(self->names.buckets);
    free(self->dirs.buckets);
    gp_free_strings(self->keys, self->nkeys);
    gp_free_strings(self->prefixes, self->nprefixes);
    Py_XDECREF(self->py_keys);
    Py_XDECREF(self->py_prefixes);
    pthread_mutex_destroy(&self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A parent gfid from Python: uuid.UUID or 16 bytes (None, all zeroes elsewhere, is refused). */
static int
gp_pargfid(PyObject *o, unsigned char *gfid)
{
    if (o == Py_None) {
        PyErr_SetString(PyExc_TypeError, "a parent gfid is a uuid.UUID or 16 bytes, not None");
        return -1;
    }
    return gp_c_gfid(o, gfid, "pargfid");
}

/* Parse (pargfid, name) into a gfid and the name's bytes (a new reference; no NUL
 * inside, so PyBytes_AS_STRING is also the name as a C string). */
static PyObject *
gp_key(PyObject *pargfid, PyObject *name, unsigned char *gfid)
{
    return gp_pargfid(pargfid, gfid) < 0 ? NULL : gp_name_bytes(name);
}

/* The same from a (pargfid, name) tuple; fmt names the method for errors. */
static PyObject *
gp_key_of(PyObject *args, const char *fmt, unsigned char *gfid)
{
    PyObject *pargfid, *name;
    if (!PyArg_ParseTuple(args, fmt, &pargfid, &name))
        return NULL;
    return gp_key(pargfid, name, gfid);
}

static PyObject *
gp_missing_add(gp_missing_obj *self, PyObject *args)
{
    PyObject *pargfid, *name, *postparent;
    double expires;
    unsigned char gfid[16];
    struct iatt *pp = NULL;
    if (!PyArg_ParseTuple(args, "OOOd:add", &pargfid, &name, &postparent, &expires))
        return NULL;
    PyObject *b = gp_key(pargfid, name, gfid);
    if (!b)
        return NULL;
    if (gp_c_iatt(postparent, &pp, "postparent") < 0) {
        Py_DECREF(b);
        return NULL;
    }
    size_t len = PyBytes_GET_SIZE(b);
    gp_mname *e = calloc(1, sizeof(*e) + len + 1);
    gp_mdir *fresh_dir = NULL;
    if (!e) {
        Py_DECREF(b);
        return PyErr_NoMemory();
    }
    memcpy(e->name, PyBytes_AS_STRING(b), len);
    e->len = len;
    e->expires = expires;
    e->node.hash = gp_hash(gfid, e->name, len);
    if (pp) {
        e->postparent = *pp;
        e->has_postparent = 1;
    }
    Py_DECREF(b);

    pthread_mutex_lock(&self->lock);
    gp_mname *old = gp_name_find(self, gfid, e->name, len);
    if (old)
        gp_name_drop(self, old);
    gp_mdir *d = gp_dir_find(self, gfid);
    if (!d && (d = fresh_dir = calloc(1, sizeof(*d)))) {
        memcpy(d->gfid, gfid, 16);
        d->node.hash = gp_hash(gfid, NULL, 0);
        if (gp_htab_insert(&self->dirs, &d->node) < 0) {
            free(d);
            d = NULL;
        }
    }
    int ok = d && gp_htab_insert(&self->names, &e->node) == 0;
    if (ok) {
        e->dir = d;
        e->dir_next = d->names;
        if (d->names)
            d->names->dir_prev = e;
        d->names = e;
        gp_lru_append(self, e);
        gp_evict(self);
    } else if (d && fresh_dir) {
        gp_htab_remove(&self->dirs, &d->node);
        free(d);
    }
    pthread_mutex_unlock(&self->lock);
    if (!ok) {
        free(e);
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *
gp_missing_get(gp_missing_obj *self, PyObject *args)
{
    unsigned char gfid[16];
    PyObject *b = gp_key_of(args, "OO:get", gfid);
    if (!b)
        return NULL;
    int found = 0, has_pp = 0;
    double expires = 0;
    struct iatt pp;
    pthread_mutex_lock(&self->lock);
    gp_mname *e = gp_name_find(self, gfid, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    if (e) {
        found = 1;
        expires = e->expires;
        if ((has_pp = e->has_postparent))
            pp = e->postparent;
    }
    pthread_mutex_unlock(&self->lock);
    Py_DECREF(b);
    if (!found)
        Py_RETURN_NONE;
    PyObject *ia = has_pp ? gp_py_iatt(&pp) : Py_NewRef(Py_None);
    return ia ? Py_BuildValue("(dN)", expires, ia) : NULL;
}

static PyObject *
gp_missing_discard(gp_missing_obj *self, PyObject *args)
{
    unsigned char gfid[16];
    PyObject *b = gp_key_of(args, "OO:discard", gfid);
    if (!b)
        return NULL;
    int found = gp_missing_forget((PyObject *)self, gfid, PyBytes_AS_STRING(b));
    Py_DECREF(b);
    return PyBool_FromLong(found);
}

static PyObject *
gp_missing_discard_dir(gp_missing_obj *self, PyObject *pargfid)
{
    unsigned char gfid[16];
    if (gp_pargfid(pargfid, gfid) < 0)
        return NULL;
    size_t count = 0;
    pthread_mutex_lock(&self->lock);
    gp_mdir *d = gp_dir_find(self, gfid);
    while (d && d->names) {
        gp_mname *e = d->names;
        int last = e->dir_next == NULL; /* dropping the last name frees d */
        gp_name_drop(self, e);
        count++;
        if (last)
            break;
    }
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromSize_t(count);
}

static PyObject *
gp_missing_clear(gp_missing_obj *self, PyObject *unused)
{
    pthread_mutex_lock(&self->lock);
    size_t count = gp_clear_locked(self);
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromSize_t(count);
}

static PyObject *
gp_missing_answer_py(gp_missing_obj *self, PyObject *args)
{
    PyObject *pargfid, *name, *keys;
    unsigned char gfid[16];
    if (!PyArg_ParseTuple(args, "OOO:answer", &pargfid, &name, &keys))
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    if (!it)
        return NULL;
    PyObject *key;
    int allowed = 1;
    while (allowed && (key = PyIter_Next(it))) {
        const char *s = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        allowed = s && gp_key_allowed(self, s);
        Py_DECREF(key);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    if (!allowed)
        return Py_BuildValue("(OO)", Py_False, Py_None);
    PyObject *b = gp_key(pargfid, name, gfid);
    if (!b)
        return NULL;
    struct iatt pp;
    int answer = gp_missing_answer((PyObject *)self, gfid, PyBytes_AS_STRING(b), NULL, &pp);
    Py_DECREF(b);
    if (!answer)
        return Py_BuildValue("(OO)", Py_False, Py_None);
    PyObject *ia = answer == 2 ? gp_py_iatt(&pp) : Py_NewRef(Py_None);
    return ia ? Py_BuildValue("(ON)", Py_True, ia) : NULL;
}

static Py_ssize_t
gp_missing_len(gp_missing_obj *self)
{
    pthread_mutex_lock(&self->lock);
    size_t count = self->names.count;
    pthread_mutex_unlock(&self->lock);
    return count;
}

static int
gp_missing_contains(gp_missing_obj *self, PyObject *key)
{
    unsigned char gfid[16];
    PyObject *b = PyTuple_Check(key) ? gp_key_of(key, "OO:__contains__", gfid) : NULL;
    if (!b && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "a MissingNames key is a (pargfid, name) tuple");
    if (!b)
        return -1;
    pthread_mutex_lock(&self->lock);
    int found = gp_name_find(self, gfid, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)) != NULL;
    pthread_mutex_unlock(&self->lock);
    Py_DECREF(b);
    return found;
}

static PyObject *
gp_missing_counter(gp_missing_obj *self, void *which)
{
    pthread_mutex_lock(&self->lock);
    unsigned long long v = which == (void *)0 ? self->hits : which == (void *)1 ? self->expired : self->evictions;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromUnsignedLongLong(v);
}

static PyObject *
gp_missing_get_max(gp_missing_obj *self, void *c)
{
    return PyLong_FromSize_t(self->max_entries);
}

static int
gp_missing_set_max(gp_missing_obj *self, PyObject *v, void *c)
{
    long long n = v ? PyLong_AsLongLong(v) : -1;
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "max_entries must be at least 1");
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    self->max_entries = n;
    gp_evict(self);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

static PyObject *
gp_missing_get_keys(gp_missing_obj *self, void *c)
{
    return Py_NewRef(self->py_keys ? self->py_keys : Py_None);
}

static PyObject *
gp_missing_get_prefixes(gp_missing_obj *self, void *c)
{
    return Py_NewRef(self->py_prefixes ? self->py_prefixes : Py_None);
}

static PyMethodDef gp_missing_methods[] = {
    {"add", (PyCFunction)gp_missing_add, METH_VARARGS,
     "add(pargfid, name, postparent, expires): name is missing in directory pargfid until expires "
     "(time.monotonic() seconds); lookups of it are answered ENOENT with postparent (an Iatt or None)"},
    {"get", (PyCFunction)gp_missing_get, METH_VARARGS,
     "get(pargfid, name) -> (expires, postparent) of a stored name, expired or not, or None"},
    {"discard", (PyCFunction)gp_missing_discard, METH_VARARGS, "discard(pargfid, name) -> True if it was there"},
    {"discard_dir", (PyCFunction)gp_missing_discard_dir, METH_O,
     "discard_dir(pargfid) -> how many names of that directory were forgotten"},
    {"clear", (PyCFunction)gp_missing_clear, METH_NOARGS, "clear() -> how many names were forgotten"},
    {"answer", (PyCFunction)gp_missing_answer_py, METH_VARARGS,
     "answer(pargfid, name, xdata_keys) -> (True, postparent) if the bridge would answer a fresh lookup "
     "ENOENT, else (False, None); counts and drops as the bridge does"},
    {NULL},
};

static PyGetSetDef gp_missing_getset[] = {
    {"hits", (getter)gp_missing_counter, NULL, "lookups answered ENOENT", (void *)0},
    {"expired", (getter)gp_missing_counter, NULL, "names found expired (and dropped)", (void *)1},
    {"evictions", (getter)gp_missing_counter, NULL, "names evicted by max_entries", (void *)2},
    {"max_entries", (getter)gp_missing_get_max, (setter)gp_missing_set_max, "most names kept; lowering it evicts",
     NULL},
    {"xdata_keys", (getter)gp_missing_get_keys, NULL, "xdata keys an answered lookup may carry", NULL},
    {"xdata_prefixes", (getter)gp_missing_get_prefixes, NULL, "prefixes of such keys", NULL},
    {NULL},
};

static PySequenceMethods gp_missing_seq = {
    .sq_length = (lenfunc)gp_missing_len,
    .sq_contains = (objobjproc)gp_missing_contains,
};

PyTypeObject gp_missing_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy.MissingNames",
    .tp_basicsize = sizeof(gp_missing_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MissingNames(max_entries=100000, xdata_keys=(), xdata_prefixes=()): names known to be "
              "missing, answered ENOENT by the bridge without entering Python (see glupy._pytypes)",
    .tp_new = gp_missing_new,
    .tp_init = (initproc)gp_missing_init,
    .tp_dealloc = (destructor)gp_missing_dealloc,
    .tp_methods = gp_missing_methods,
    .tp_getset = gp_missing_getset,
    .tp_as_sequence = &gp_missing_seq,
};
