/* glupy: the native bridge between GlusterFS translators and Python.
 *
 * Python.h first (it must precede system headers), then GlusterFS's configuration
 * macros (gluster-config.h), then GlusterFS's headers. */
#ifndef GLUPY_H
#define GLUPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "gluster-config.h"

#include <glusterfs/xlator.h>
#include <glusterfs/defaults.h>
#include <glusterfs/stack.h>
#include <glusterfs/inode.h>
#include <glusterfs/fd.h>
#include <glusterfs/dict.h>
#include <glusterfs/iobuf.h>
#include <glusterfs/gf-dirent.h>
#include <glusterfs/upcall-utils.h>
#include <glusterfs/statedump.h>
#include <glusterfs/client_t.h>
#include <glusterfs/logging.h>

#include "layout_check.h" /* GLUPY_GF_MAJOR */

/* GlusterFS's THIS is (*__glusterfs_this_location()): a call into libglusterfs and a
 * lookup of its thread-local variable through __tls_get_addr each time, which the
 * compiler cannot merge. STACK_WIND and STACK_UNWIND_STRICT read it five times each,
 * and a FOP through glupy winds and unwinds twice: some 17 calls, 600 instructions per
 * FOP (callgrind). The location is fixed per thread, so each thread asks for it once.
 * A NULL value asks again: __glusterfs_this_location sets it to the global xlator. */
static inline xlator_t **
gp_this_location(void)
{
    static __thread xlator_t **at __attribute__((tls_model("initial-exec")));
    if (__builtin_expect(!at || !*at, 0))
        at = __glusterfs_this_location();
    return at;
}
#undef THIS
#define THIS (*gp_this_location())

/* The macros' trace lines ("stack-address: ..., winding from ... to ...") called
 * _gf_msg on every wind and unwind only for it to find the log level below TRACE
 * (150 instructions a FOP). The same test as its skip_logging, made here first. */
#undef gf_msg_trace
#define gf_msg_trace(dom, errnum, fmt...)                                                                    \
    do {                                                                                                     \
        xlator_t *gp_trace_this_ = THIS;                                                                     \
        if (gp_trace_this_ && gp_trace_this_->ctx &&                                                         \
            (gp_trace_this_->loglevel ? gp_trace_this_->loglevel : gp_trace_this_->ctx->log.loglevel) >=     \
                GF_LOG_TRACE)                                                                                \
            _gf_msg(dom, __FILE__, __FUNCTION__, __LINE__, GF_LOG_TRACE, errnum, 0, 0, ##fmt);               \
    } while (0)

/* GlusterFS 11 returns fd contexts instead of filling an out-parameter. */
#if GLUPY_GF_MAJOR >= 11
#define gp_fd_ctx_get(fd, xl, out) ((*(out) = fd_ctx_get((fd), (xl))) ? 0 : -1)
#define gp_fd_ctx_del(fd, xl, out) ((*(out) = fd_ctx_del((fd), (xl))) ? 0 : -1)
#else
#define gp_fd_ctx_get(fd, xl, out) fd_ctx_get((fd), (xl), (out))
#define gp_fd_ctx_del(fd, xl, out) fd_ctx_del((fd), (xl), (out))
#endif

/* ---- temporaries that live for one wind or unwind call ---- */

enum gp_tmp_kind { GP_TMP_PYOBJ, GP_TMP_IOBREF, GP_TMP_DIRENTS, GP_TMP_LOCKS, GP_TMP_DICT };

#define GP_TMP_MAX 32
typedef struct {
    int n;
    struct {
        enum gp_tmp_kind kind;
        void *ptr;
    } item[GP_TMP_MAX];
} gp_tmp;

#define GP_TMP_INIT {0}
int gp_tmp_add(gp_tmp *tmp, enum gp_tmp_kind kind, void *ptr);
void gp_tmp_release(gp_tmp *tmp);

/* A data payload as GlusterFS passes it: vector + count, with its iobref. */
typedef struct {
    struct iovec *vector;
    int32_t count;
    struct iobref *iobref;
    struct iovec one; /* storage when the payload is a single new iobuf */
} gp_data;

/* ---- Python object types (types.c) ---- */

/* Wrappers that hold GlusterFS references are linked in one list, so that when a
 * graph hosted by a Python process (gfapi) is torn down, those Python still holds
 * can be cut loose ("orphaned") instead of touching freed memory later. */
typedef struct gp_track {
    struct gp_track *prev, *next;
    glusterfs_ctx_t *ctx;
} gp_track;

/* Orphan the tracked wrappers of inodes and fds of `graph` (and, with whole_ctx,
 * every wrapper created in ctx: a gfapi host whose ctx goes away); returns how many. */
int gp_orphan(glusterfs_ctx_t *ctx, glusterfs_graph_t *graph, int whole_ctx);

/* What a FOP's reply must agree with, recorded from its request when it enters
 * Python (fop_table: same_inode, same_fd, subject, op_ret_at_most). The inode and
 * fd are compared as pointers only, never dereferenced: the caller holds them until
 * the FOP is answered, and after that the unwinder does not look at them. */
typedef struct {
    inode_t *inode;  /* a successful reply's inode must be this one (NULL: not checked) */
    fd_t *fd;        /* a successful reply's fd must be this one (NULL: not checked) */
    uuid_t gfid;     /* the FOP's own file; its iatts must carry it (null: not checked) */
    int64_t max_ret; /* op_ret on success at most this (< 0: not checked) */
} gp_expect;

#define GP_EXPECT_INIT {NULL, NULL, {0}, -1}

/* Record the FOP's own file: its inode's gfid, else the location's. */
static inline void
gp_expect_file(gp_expect *ex, inode_t *inode, unsigned char *gfid)
{
    if (inode && !gf_uuid_is_null(inode->gfid))
        gf_uuid_copy(ex->gfid, inode->gfid);
    else if (gfid)
        gf_uuid_copy(ex->gfid, gfid);
}

/* True if both gfids are known and differ: a reply describing another file.
 * (A null gfid is no evidence: write-behind answers writes with zeroed iatts.) */
static inline int
gp_other_file(unsigned char *want, unsigned char *got)
{
    return !gf_uuid_is_null(want) && !gf_uuid_is_null(got) && gf_uuid_compare(want, got) != 0;
}

/* One FOP handed to Python (workers.c): its frame until answered, its deadline. Shared by the Caller object (under the GIL) and the
 * timer thread (without it), so its state changes under gp_req_lock. */
typedef struct gp_req {
    struct gp_req *prev, *next; /* on the deadline list while not answered */
    call_frame_t *frame;        /* NULL once answered */
    xlator_t *this;
    int fop;
    int expired;                /* the deadline passed */
    int lock_waits;             /* blocking lock winds out (under gp_req_lock): no deadline meanwhile */
    int passed;                 /* a tail await's wind holds the FOP on its own frame (gp_req_pass) */
    int unsent;                 /* (atomic) 1: that wind waits for its run to let the GIL go (gp_later),
                                 * the deadline running until it goes; 2: the deadline answered first */
    int refs;
    double timeout, deadline;   /* seconds; deadline on CLOCK_MONOTONIC (no deadline: 0) */
    unsigned long thread;       /* Python ident of the thread running the handler now, or 0 */
    unsigned long thread_tick;  /* gp_ticks when it started running there */
    int interrupted;            /* HandlerTimedOut was raised in that thread for it (under the GIL) */
    PyObject *fo;               /* the Caller object, while fo_alive (read under the GIL) */
    int fo_alive;
    gp_expect expect;           /* what its reply must agree with */
} gp_req;

typedef struct {
    PyObject_HEAD gp_req *req;
    xlator_t *this;
    PyObject *coro; /* the handler's coroutine, for reports of a stuck handler */
} gp_frame_obj;

/* ---- the bridge's threads and deadlines (workers.c) ---- */

typedef struct gp_work {
    struct gp_work *next;
    void (*run)(struct gp_work *w); /* on a worker thread, no GIL held */
    /* A FOP waiting for a worker: answered ETIMEDOUT by the timer (expire, on the
     * timer's thread, instead of run) if no worker took it by `deadline`
     * (CLOCK_MONOTONIC seconds; 0: none), as when every worker is held by a
     * handler that blocks. Other work items leave both zero. */
    void (*expire)(struct gp_work *w); /* (an observer thread's item: how to drop it unrun, at fini) */
    double deadline;
    size_t held; /* an observation: bytes of data it holds (gp_observe_submit) */
} gp_work;

/* calloc for the per-FOP allocations: glibc 2.36's calloc never uses its per-thread
 * cache (tcache) and always takes the arena's slow path (about 240 instructions more
 * per call, callgrind); malloc and a memset of a small struct do not. */
static inline void *
gp_zalloc(size_t size)
{
    void *p = malloc(size);
    if (p)
        memset(p, 0, size);
    return p;
}

/* Zeroed blocks for what one thread allocates and another frees, once per FOP (the
 * copies of a FOP's arguments made on the thread that brings it and freed on a
 * worker; of a reply, made where it arrives): glibc's per-thread caches cannot serve
 * such pairs, and each malloc took the arena's slow path (about 440 instructions,
 * callgrind). Freed blocks are kept for the next allocation of their size class
 * (workers.c). NULL: no memory. gp_block_free takes the size given to gp_block_alloc. */
void *gp_block_alloc(size_t size);
void *gp_block_alloc_dirty(size_t size); /* the same, not zeroed */
void gp_block_free(void *block, size_t size);

/* Thread-local variables read on every FOP: initial-exec, where the default model
 * for a shared object costs a __tls_get_addr call per read. */
#define GP_TLS __thread __attribute__((tls_model("initial-exec")))

int gp_workers_start(PyObject *runtime);
/* The timer's ticks (100 ms) since it started. */
extern unsigned long gp_ticks;
void gp_work_submit(gp_work *w);
/* The option memory-limit (MiB; 0 leaves the limit as it is: workers.c, "memory"). */
void gp_memory_limit_set(double mib);
void gp_memory_hook_install(void); /* refuses one allocation past the limit */
/* The option fop-timeout of `this` (0: none). */
double gp_fop_timeout(xlator_t *this);
/* When a FOP of `this` handed to a worker now must have been taken (gp_work.deadline). */
double gp_queue_deadline(xlator_t *this);
/* The stack of every thread of glupy's that runs Python (glupy._process.THREAD_STACK):
 * recursion through C takes up to about 2 KiB a level, and the process's recursion limit
 * is kept at a quarter of this in 4 KiB levels (_process.RECURSION_CAP); unused pages
 * cost address space only. */
#define GP_STACK_BYTES ((size_t)32 << 20)
double gp_now(void); /* CLOCK_MONOTONIC, seconds */
/* True at most once in GP_LOG_EVERY s for one *last (the caller's static): for lines a stuck
 * state would repeat every tick. */
int gp_log_due(double *last, double now);
#define GP_LOG_EVERY 10.0
/* Call fn(arg) on a worker (GIL held by the caller); `what` (static) names it in the log. */
int gp_call_on_worker(PyObject *fn, PyObject *arg, const char *what);
extern GP_TLS int gp_is_worker;
static inline int
gp_on_worker(void)
{
    return gp_is_worker;
}
/* A thread of glupy's own (a worker or the observer thread): it may take the GIL and run Python. */
int gp_on_own_thread(void);
/* Deep copies of a reply's (or request's) lists, for the generated holds: 0 or -1. */
int gp_dirents_copy(gf_dirent_t *dst, gf_dirent_t *src);
int gp_locklist_copy(lock_migration_info_t *dst, lock_migration_info_t *src);
PyObject *gp_mod_submit(PyObject *m, PyObject *const *argv, Py_ssize_t argc);
/* _glupy.call_begin()/call_end() around a glupy.to_thread call, _glupy.loop_beat() at each
 * heartbeat of glupy's event loop: the memory watch's suspects (workers.c) */
PyObject *gp_mod_call_begin(PyObject *m, PyObject *unused);
PyObject *gp_mod_call_end(PyObject *m, PyObject *unused);
PyObject *gp_mod_loop_beat(PyObject *m, PyObject *unused);
PyObject *gp_mod_thread_begin(PyObject *m, PyObject *unused);

gp_req *gp_req_new(call_frame_t *frame, xlator_t *this, int fop, double timeout, const gp_expect *expect);
void gp_req_unref(gp_req *r);
/* The frame with gp_req_lock held (NULL if answered); then gp_req_unlock(). */
call_frame_t *gp_req_lock_frame(gp_req *r);
void gp_req_unlock(void);
/* Answer: the frame to unwind, or NULL if the FOP was answered already (deadline). */
call_frame_t *gp_req_take(gp_req *r);
int gp_req_drop(gp_req *r);
/* A wind starts: a frame on a stack of its own (copy_frame) to wind on, or NULL
 * with an exception set; gp_req_wind_destroy(frame) once its reply is in. */
call_frame_t *gp_req_wind_begin(gp_req *r);
void gp_req_wind_destroy(call_frame_t *own);
int gp_req_expired(gp_req *r);
void gp_req_ref(gp_req *r);
/* A handler's `return await` of its own FOP's wind passes the FOP to the child, as a tail
 * call does: the FOP's own frame to wind on, its deadline stopped (lock_waits) and the
 * FOP marked `passed` until the reply (gp_req_lock_wait(r, 0)); or NULL with an exception
 * set, the FOP being answered already. */
call_frame_t *gp_req_pass(gp_req *r);
/* gp_req_take, unless the FOP is passed to the child (then NULL: the child answers it). */
call_frame_t *gp_req_take_unpassed(gp_req *r);
/* A wind that waits for a lock (lk F_SETLKW, [f]inodelk F_SETLKW, [f]entrylk LOCK) goes
 * out, or its reply came: no deadline meanwhile; once the last is in, a fresh one. */
void gp_req_lock_wait(gp_req *r, int begins);


typedef struct {
    PyObject_HEAD gp_track track;
    xlator_t *xl; /* NULL once its process's graphs are gone (gp_orphan): a gfapi host after glfs_fini */
} gp_xlator_obj;

/* A new Xlator object for xl (NULL with an exception set). */
PyObject *gp_xlator_new(xlator_t *xl);

extern PyTypeObject gp_wind_type;
extern PyTypeObject gp_frame_type, gp_xlator_type, gp_inode_type, gp_fd_type, gp_loc_type,
    gp_xdata_type, gp_iatt_type, gp_statvfs_type, gp_flock_type, gp_lease_type, gp_buffer_type,
    gp_missing_type;

int gp_types_ready(PyObject *module);

#define GP_DOMAIN "glupy"

#define GP_REPLY_MAX 12 /* most reply fields of any FOP, plus op_ret and op_errno */

/* Python classes registered by glupy._runtime at start-up. */
typedef struct {
    PyObject *uuid_cls;     /* uuid.UUID */
    PyObject *dirent_cls;   /* glupy.types.Dirent */
    PyObject *lockinfo_cls; /* glupy.types.LockInfo */
    PyObject *pending;      /* sentinel: a wind has not completed yet */
    PyObject *reply_cls[GF_FOP_MAXVALUE];
    /* offsets of each reply class's __slots__: its fields in table order, then
     * op_ret and op_errno; read and written directly on the hot path */
    Py_ssize_t reply_off[GF_FOP_MAXVALUE][GP_REPLY_MAX];
    int reply_nfields[GF_FOP_MAXVALUE];
    PyObject *str_bytes, *str_op_ret, *str_op_errno; /* interned names */
    PyObject *kw_uuid;                               /* ("bytes",) */
    PyObject *kw_reply;                              /* ("op_ret", "op_errno") */
} gp_registry_t;
extern gp_registry_t gp_reg;

/* Slot i of a reply object that is exactly reply_cls[fop] (fields, then op_ret, op_errno). */
#define GP_REPLY_SLOT(reply, fop, i) (*(PyObject **)((char *)(reply) + gp_reg.reply_off[fop][i]))

extern glusterfs_ctx_t *gp_ctx;

/* C -> Python conversions: new reference, or NULL with an exception set. */
PyObject *gp_py_loc(loc_t *loc, int fop);
PyObject *gp_py_loc_take(loc_t *loc, int fop);
/* The bridge's own copy of a FOP's location while it waits for a worker: loc_copy's,
 * with the path in buf (GP_LOC_HELD_PATH bytes) when it fits. 0, or -1 (no memory,
 * nothing held); gp_loc_unhold releases it (the references gp_py_loc_take left). */
#define GP_LOC_HELD_PATH 256
int gp_loc_hold(loc_t *dst, loc_t *src, char *buf);
void gp_loc_unhold(loc_t *loc, char *buf);
PyObject *gp_py_fd(fd_t *fd);
PyObject *gp_py_xdata(dict_t *dict);
int gp_xlator_is_glupy(xlator_t *xl); /* its context slots hold Python objects */
PyObject *gp_py_inode(inode_t *inode);
PyObject *gp_py_iatt(struct iatt *ia);
PyObject *gp_py_str(const char *s);
PyObject *gp_py_int(long long v);
PyObject *gp_py_uint(unsigned long long v);
PyObject *gp_py_flock(struct gf_flock *fl);
PyObject *gp_py_statvfs(struct statvfs *st);
PyObject *gp_py_dirents(gf_dirent_t *entries);
PyObject *gp_py_data(struct iovec *vector, int32_t count, struct iobref *iobref);
PyObject *gp_py_checksum(uint8_t *sum);
PyObject *gp_py_lease(struct gf_lease *lease);
PyObject *gp_py_locklist(lock_migration_info_t *locks);
PyObject *gp_py_gfid(const unsigned char *gfid);

/* Python -> C conversions: 0, or -1 with an exception set. `what` names the
 * argument in error messages. Borrowed pointers stay valid while `o` lives. */
int gp_c_loc(PyObject *o, loc_t **out, const char *what);
/* Whether the Loc object `obj` may be wound as an argument of FOP `fop` that must hold `entry`
 * (fop_table.ENTRY_LOCS, 0 to 5; a new entry's Loc without an inode is given one); a Loc GlusterFS
 * gave with `fop` always may. -1 with ValueError if it may not. */
int gp_loc_check(PyObject *obj, int fop, int entry, const char *what);
int gp_c_fd(PyObject *o, fd_t **out, const char *what);
int gp_c_xdata(PyObject *o, dict_t **out, const char *what);
int gp_c_xdata_held(PyObject *o, dict_t **out, gp_tmp *tmp, const char *what);
int gp_check_gfid_req(dict_t *xdata, const char *what);
int gp_c_inode(PyObject *o, inode_t **out, const char *what);
int gp_c_iatt(PyObject *o, struct iatt **out, const char *what);
int gp_c_str(PyObject *o, const char **out, const char *what);
int gp_c_outstr(PyObject *o, char **out, const char *what);
int gp_c_int32(PyObject *o, int32_t *out, const char *what);
int gp_c_uint32(PyObject *o, uint32_t *out, const char *what);
int gp_c_int64(PyObject *o, int64_t *out, const char *what);
int gp_c_uint64(PyObject *o, uint64_t *out, const char *what);
int gp_c_flock(PyObject *o, struct gf_flock **out, const char *what);
int gp_c_statvfs(PyObject *o, struct statvfs **out, const char *what);
int gp_c_dirents(PyObject *o, gf_dirent_t **out, gp_tmp *tmp, const char *what);
int gp_c_data(PyObject *o, gp_data *out, gp_tmp *tmp, const char *what);
int gp_c_checksum(PyObject *o, uint8_t **out, const char *what);
int gp_c_lease(PyObject *o, struct gf_lease **out, const char *what);
int gp_c_locklist(PyObject *o, lock_migration_info_t **out, gp_tmp *tmp, const char *what);

/* ---- the bridge (bridge.c) ---- */

/* Take and give back the GIL on a GlusterFS thread. The first call on a thread
 * keeps a Python thread state for it until the thread exits, so later calls do
 * not create and destroy one each time; they restore and save that state
 * directly (PyGILState_Ensure and _Release around the same calls cost about 125
 * instructions a FOP more, callgrind). Pairs: what gp_gil_acquire returned goes
 * to gp_gil_release, never to PyGILState_Release. */
PyGILState_STATE gp_gil_acquire(void);
void gp_gil_release(PyGILState_STATE state);

/* What the bridge does with a lookup before the translator's handler sees it:
 * answer it ENOENT from the translator's missing_names, or wind it to the first
 * child in C if the translator declared it does not want it (named_lookups_only,
 * fresh_lookups_only). 1 if it did either, 0 if the handler is to run. The
 * specification is glupy.testing.harness.before_lookup. */
int gp_lookup_before_python(call_frame_t *frame, xlator_t *this, loc_t *loc, dict_t *xdata);

/* glupy.MissingNames (missing.c), used without the GIL: answer a fresh lookup
 * (0: not known missing; 1: missing; 2: missing, *postparent filled), and forget
 * a name (a revalidation found the client holds an inode for it; 1 if it was
 * there). Also what the Python methods answer/discard call. */
int gp_missing_answer(PyObject *table, const unsigned char *pargfid, const char *name, dict_t *xdata,
                      struct iatt *postparent);
int gp_missing_forget(PyObject *table, const unsigned char *pargfid, const char *name);
int gp_c_gfid(PyObject *o, unsigned char *out, const char *what);

/* Start the Python task for one FOP; args are borrowed. Returns 0 once Python owns
 * the frame (it will unwind it), -1 if the FOP must be unwound with EIO by C. */
/* GlusterFS's default FOPs (default_stat...): glupy.so's own table as GlusterFS filled it. */
extern struct xlator_fops gp_default_fops;
int32_t gp_server_safe_errno(call_frame_t *frame, int fop, int32_t op_ret, int32_t op_errno);
/* Run the handler of a FOP (GIL held). req: the FOP's deadline, if made before the GIL
 * was taken (else made here); args NULL: their conversion failed. 0: the FOP is or will
 * be answered; -1: the caller answers it EIO. later: where a tail await's wind may be
 * left for the caller to send once it has let the GIL go (gp_later_send), or NULL. */
struct gp_later;
int gp_dispatch(xlator_t *this, call_frame_t *frame, gp_req *req, int fop, PyObject **args, int nargs,
                const gp_expect *expect, struct gp_later **later);

/* The Caller object of `req`, which takes the caller's reference to it; NULL with an
 * exception set (the reference stays the caller's). GIL held. */
gp_frame_obj *gp_frame_new(xlator_t *this, gp_req *req);

/* 1 when glupy started the interpreter (inside a GlusterFS daemon), 0 in a gfapi program's. */
extern int gp_embedded;

/* The translator's handler of `fop` (a new reference), or NULL: none, or finished. GIL held. */
PyObject *gp_handler(xlator_t *this, int fop);

/* A wind in progress: the cookie of STACK_WIND_COOKIE. */
typedef struct gp_slot gp_slot;
/* Called by a generated callback with the reply (or NULL with an exception set). */
void gp_slot_complete(gp_slot *slot, PyObject *reply);
/* Resume the waiter of a slot with its reply (stolen), on a worker. */
void gp_slot_resume(gp_slot *slot, PyObject *reply);
int gp_defer_reply(gp_slot *slot, PyObject *reply);
/* Every callback calls this first. A tail await (task.c): the FOP's request whose reply may
 * go to its caller in C from the callback (borrowed), or NULL; then gp_slot_answered once it
 * went. */
gp_req *gp_slot_fast(gp_slot *slot);
void gp_slot_answered(gp_slot *slot);

/* A tail await's wind sent only once the run that prepared it (gp_run_NAME, on a worker)
 * has let the GIL go: one GIL hand-over a FOP fewer (task.c, "tail awaits"). The record
 * keeps the wind's arguments (and their conversion's temporaries) until a worker next
 * holds the GIL (gp_later_flush). */
typedef struct gp_later {
    struct gp_later *next;
    gp_slot *slot;                    /* the wind's */
    void (*send)(struct gp_later *l); /* the wind (generated), without the GIL */
    PyObject *keep;                   /* the arguments' tuple, which the wind's C arguments borrow from */
    size_t size;
    gp_tmp tmp;
} gp_later;
/* In a winder, GIL held: a zeroed record of `size` bytes for the wind of `slot`, taking
 * over tmp and a reference to args, when the wind may wait for its run to let the GIL go
 * (a tail await of the run's own FOP, gp_dispatch's `later`); else NULL: wind now. */
gp_later *gp_later_take(gp_slot *slot, size_t size, PyObject *args, gp_tmp *tmp);
/* The run let the GIL go: wind, and queue the record for gp_later_flush. */
void gp_later_send(gp_later *l);
/* Drop the records of winds sent (GIL held, on a worker); whether some wait. */
void gp_later_flush(void);
extern gp_later *gp_later_head; /* (task.c) */
static inline int
gp_later_waiting(void)
{
    return __atomic_load_n(&gp_later_head, __ATOMIC_RELAXED) != NULL;
}

/* What the C driver hands the Python driver (glupy._runtime.takeover's `kind`).
 * Numbered in src/glupy/fop_table.py (TAKEOVERS), which glupy._driver reads; the
 * generated glue asserts at compile time that these agree. */
enum gp_kind {
    GP_KIND_CALLED = 0,  /* obj: a handler's return value that is not a coroutine */
    GP_KIND_ERROR = 1,   /* obj: the exception a handler raised */
    GP_KIND_RESULT = 2,  /* obj: a coroutine's result C could not answer with */
    GP_KIND_REPLY = 3,   /* obj: a failed reply (or an exception) to resume coro with */
    GP_KIND_REQUEST = 4, /* obj: something coro awaited that is not a Wind */
};

/* A handler's coroutine driven in C (task.c, which also owns the wind protocol:
 * slots, the wind on its own stack, _glupy.wind for the Python driver). */
typedef struct gp_task gp_task;
PyObject *gp_mod_wind(PyObject *m, PyObject *const *argv, Py_ssize_t argc);
PyObject *gp_mod_child_method(PyObject *m, PyObject *const *argv, Py_ssize_t argc);
/* Run a handler for the FOP that fo carries; answers it one way or another. */
/* later: where a tail await's wind may be left for the run to send (gp_dispatch), or NULL */
void gp_task_start(gp_frame_obj *fo, int fop, PyObject *handler, PyObject *const *args, int nargs, int tail_awaits,
                   gp_later **later);
void gp_task_resume(gp_task *t, int fop, PyObject *reply);
/* Drop a task whose FOP was answered by its deadline (its coroutine is closed). */
void gp_task_drop(gp_task *t);
int gp_task_ready(PyObject *module);
int gp_task_bind(PyObject *runtime);
/* The FOP whose handler runs on this thread; returns the previous one. */
gp_frame_obj *gp_current_frame_set(gp_frame_obj *fo);
PyObject *gp_mod_current_frame(PyObject *m, PyObject *unused);
/* The raised exception, normalised, with its traceback; NULL if none. */
PyObject *gp_fetch_exception(void);
/* Build the reply object of a FOP; steals the references in fields. */
PyObject *gp_make_reply(int fop, int32_t op_ret, int32_t op_errno, PyObject **fields, int n);
/* Field i of a reply of FOP fop (borrowed while reply lives; by name, kept in
 * tmp, when the reply is not exactly the FOP's reply class). */
PyObject *gp_reply_get(PyObject *reply, int fop, int i, const char *name, gp_tmp *tmp);
/* Log the current Python exception (with traceback) to the GlusterFS log. */
void gp_log_exception(const char *domain, const char *context);

/* ---- generated glue (build/glue.c) ---- */

typedef PyObject *(*gp_winder_t)(call_frame_t *frame, xlator_t *child, PyObject *args, gp_slot *slot);
/* 0: unwound; 1: the FOP was answered already (its deadline): nothing done; -1: exception set */
typedef int (*gp_unwinder_t)(gp_frame_obj *fo, int32_t op_ret, int32_t op_errno, PyObject *reply);
/* Unwind an error without Python (no GIL needed). */
typedef void (*gp_failer_t)(call_frame_t *frame, int32_t op_errno);

extern const char *const gp_fop_names[GF_FOP_MAXVALUE];
extern const gp_winder_t gp_winders[GF_FOP_MAXVALUE];
extern const gp_unwinder_t gp_unwinders[GF_FOP_MAXVALUE];
extern const gp_failer_t gp_failers[GF_FOP_MAXVALUE];
/* A tail call (a handler returned its FOP's wind): 0 wound, 1 answered already, -1 exception set. */
typedef int (*gp_tailer_t)(gp_frame_obj *fo, xlator_t *child, PyObject *args);
extern const gp_tailer_t gp_tailers[GF_FOP_MAXVALUE];
/* Fill `fops`: glupy's entry point where `overridden[fop]`, else base's entry (the
 * table GlusterFS filled with its defaults when it loaded the xlator). */
void gp_fill_fops(struct xlator_fops *fops, const char *overridden, const char *observed,
                  const struct xlator_fops *base);

/* ---- observers (glupy.observer): FOPs that stay in C, shown to Python afterwards ---- */

/* Whether the translator observes `fop` now (read without the GIL: a hint; the
 * observer thread looks again under the GIL). */
int gp_observing(xlator_t *this, int fop);
/* A copy of the caller's stack (who asked: uid, gid, groups, pid, lk_owner, client),
 * kept until the observer has run; NULL: no memory. gp_req_wind_destroy frees it. */
call_frame_t *gp_observe_caller(call_frame_t *frame);
/* With the GIL, on the observer thread: call the translator's observer of `fop` with
 * args (the FOP's arguments, then its reply; borrowed), `caller` as its current frame. */
void gp_observe(xlator_t *this, int fop, call_frame_t *caller, PyObject **args, int nargs);
/* Whether an observation may be queued now (1), or the backlog is full and it is
 * dropped (0, counted and logged by the timer): a first test, before copying. */
int gp_observe_room(void);
/* Queue an observation (may_drop, holding `bytes` of data) or a context release of the
 * translator `owner` for the observer thread (any thread, no GIL). -1: an observation
 * dropped, the translator's backlog or data held being full (counted); the caller frees it. */
int gp_observe_submit(gp_work *w, const void *owner, size_t bytes, int may_drop);

/* A hook running (statedump, notify, reconfigure, init, fini, observer, a context's
 * release): once it has used `limit` seconds of CPU, glupy.errors.HandlerTimedOut is
 * raised in it. Begin and end under the GIL, on the thread that runs it; the record
 * lives on its stack. */
typedef struct gp_hook_run {
    struct gp_hook_run *prev, *next;
    unsigned long token, thread;
    unsigned long tick; /* gp_ticks when it began */
    clockid_t cpu_clock; /* the thread's CPU time: what the limit counts */
    double cpu_started, limit;
    int interrupting, interrupted;
    const char *what; /* a string constant */
    char xlator[64];
} gp_hook_run;
#define GP_HOOK_LIMIT 10.0 /* seconds of CPU, for notify, reconfigure and fini hooks */
/* for what nothing waits for at all once a second has passed: statedump hooks (the dump
 * goes on without them), observers and context releases (another thread takes over the
 * queue): a release hook looping and allocating grew a client by 150 MB a second */
#define GP_HOOK_LIMIT_SHORT 2.0
void gp_hook_begin(gp_hook_run *h, const char *what, const char *xlator, double limit);
void gp_hook_end(gp_hook_run *h);
/* Wait (GIL not held) until every observation queued so far has run, or `seconds`. */
void gp_observe_drain(double seconds);
/* fini (GIL not held): drop the observations and context releases of translator `owner`
 * still waiting, unrun (their gp_work.expire), and wait at most `seconds` for the one
 * running; how many were dropped. */
int gp_observe_drop_waiting(const void *owner, double seconds);

#endif
