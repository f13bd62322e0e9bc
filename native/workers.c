/* The bridge's own threads, and the deadline of every FOP in Python.
 *
 * GlusterFS's threads (the FUSE reader, protocol/client's epoll threads,
 * io-threads) belong to GlusterFS: if a handler ran on them, one handler that
 * blocks (a sleep, a network call, a lock) would stall every other FOP of the
 * process. So a FOP that enters Python is copied (gp_hold_NAME, generated) on the
 * thread that brought it and run on one of the bridge's worker threads; a child's
 * reply is copied where it arrives (gp_hold_cbk_NAME) and converted on a worker,
 * which resumes the handler. GlusterFS's threads never take the GIL for it: a
 * handler holding the GIL cannot delay them. Handler code only ever runs on
 * workers (or on the thread of a gfapi host that calls it).
 *
 * The pool has GP_WORKERS_MIN workers, and grows each timer tick in which the FOP
 * at the head of the queue has waited since the last tick (every worker held by
 * something slower than a tick): by one worker per queued FOP, up to GP_WORKERS_MAX:
 * blocked handlers hold workers, not the process. It does not grow merely because
 * every worker is busy: handlers run under one GIL, and more runnable workers than
 * cores only add GIL hand-overs. A worker whose current item has run for
 * GP_WORKER_STUCK seconds (a handler that blocks for long or never returns: Python
 * cannot stop a thread) no longer counts towards GP_WORKERS_MAX, so handlers that
 * never return cannot take every worker and stall the FOPs of other handlers; the
 * threads of the process stay bounded by GP_THREADS_MAX. Idle workers above the
 * minimum exit. (Growing by doubling, with workers counted as stuck after a second,
 * a burst of N handlers blocking in C delayed the FOPs queued behind them by about
 * N/64 s: 4.7 s for 300; now about N/250 s.)
 *
 * Deadlines: every FOP handed to Python is a gp_req on one list. A timer thread
 * answers a FOP whose deadline (option fop-timeout) has passed with ETIMEDOUT,
 * at once: its winds are on call stacks of their own (gp_req_wind_begin), not on
 * the stack its caller destroys once answered (a FOP passed on to the child by a tail
 * await, gp_req_pass, has no deadline until its reply). Whatever the handler
 * does later is discarded. The timer takes no GIL: a handler that holds the GIL
 * cannot stop it; the stack of the stuck handler is logged by a reporter thread.
 *
 * Lock order: the GIL, then gp_req_lock, then the call pool's lock (copy_frame in
 * gp_req_wind_begin). Nothing here takes the GIL while holding gp_req_lock.
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "glupy.h"

#define GP_WORKERS_MIN 2
#define GP_WORKERS_MAX 64  /* workers not stuck */
#define GP_THREADS_MAX 512 /* workers, stuck ones included */
#define GP_WORKER_STUCK 0.25
#define GP_WORKER_IDLE_SECONDS 30
#define GP_TIMER_TICK_NS (100 * 1000 * 1000)
#define GP_LATER_WAIT_NS (5 * 1000 * 1000) /* see gp_queue_pop */

/* ------------------------------------------------------------ work queue */

/* One per worker of gp_pool: when its current item started, for the timer's count of stuck workers. */
typedef struct gp_worker_slot {
    struct gp_worker_slot *next;
    long started_ms; /* gp_now() in ms when the item it runs started; 0: none (atomic) */
} gp_worker_slot;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    gp_work *head, *tail;
    gp_work *head_at_tick; /* the head at the timer's last look */
    int threads, idle;
    long queued;            /* items waiting */
    gp_worker_slot *slots; /* gp_pool's workers */
} gp_queue;

static gp_queue gp_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
static gp_queue gp_reporter = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

GP_TLS int gp_is_worker;          /* this thread is one of the pool's (gp_on_worker) */
static GP_TLS int gp_is_observer; /* this thread is the observer thread */

int
gp_on_own_thread(void)
{
    return gp_is_worker || gp_is_observer;
}

/* Append w to the list head..tail (the caller holds the list's lock). */
static void
gp_work_append(gp_work **head, gp_work **tail, gp_work *w)
{
    w->next = NULL;
    if (*tail)
        (*tail)->next = w;
    else
        *head = w;
    *tail = w;
}

/* Take the first item of the list head..tail, or NULL (the caller holds the list's lock). */
static gp_work *
gp_work_take_first(gp_work **head, gp_work **tail)
{
    gp_work *w = *head;
    if (w) {
        *head = w->next;
        if (!*head)
            *tail = NULL;
    }
    return w;
}

static gp_work *
gp_queue_pop(gp_queue *q, int may_exit)
{
    pthread_mutex_lock(&q->lock);
    while (!q->head) {
        /* Winds sent after their run (task.c, gp_later_send) keep their arguments until a
         * worker holds the GIL: the next FOP's run drops them; with no FOP coming for
         * GP_LATER_WAIT_NS, this worker does. */
        int later = q == &gp_pool && gp_later_waiting();
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        if (later) {
            until.tv_nsec += GP_LATER_WAIT_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
        } else {
            until.tv_sec += GP_WORKER_IDLE_SECONDS;
        }
        q->idle++;
        int rc = pthread_cond_timedwait(&q->cond, &q->lock, &until);
        q->idle--;
        if (later) {
            if (!q->head && gp_later_waiting()) {
                pthread_mutex_unlock(&q->lock);
                PyGILState_STATE g = gp_gil_acquire();
                gp_later_flush();
                gp_gil_release(g);
                pthread_mutex_lock(&q->lock);
            }
            continue;
        }
        if (rc == ETIMEDOUT && !q->head && may_exit && q->threads > GP_WORKERS_MIN) {
            q->threads--;
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
    }
    gp_work *w = gp_work_take_first(&q->head, &q->tail);
    q->queued--;
    pthread_mutex_unlock(&q->lock);
    return w;
}

static void *
gp_worker_main(void *arg)
{
    gp_queue *q = arg;
    gp_is_worker = (q == &gp_pool);
    gp_worker_slot slot = {0};
    if (gp_is_worker) {
        pthread_mutex_lock(&q->lock);
        slot.next = q->slots;
        q->slots = &slot;
        pthread_mutex_unlock(&q->lock);
    }
    for (;;) {
        gp_work *w = gp_queue_pop(q, q == &gp_pool);
        if (!w)
            break;
        __atomic_store_n(&slot.started_ms, (long)(gp_now() * 1000) + 1, __ATOMIC_RELAXED);
        w->run(w);
        __atomic_store_n(&slot.started_ms, 0L, __ATOMIC_RELAXED);
    }
    if (gp_is_worker) { /* q->threads was counted down by gp_queue_pop */
        pthread_mutex_lock(&q->lock);
        for (gp_worker_slot **s = &q->slots; *s; s = &(*s)->next)
            if (*s == &slot) {
                *s = slot.next;
                break;
            }
        pthread_mutex_unlock(&q->lock);
    }
    return NULL;
}

/* Start one more thread for q; called with q->lock held. */
static int
gp_queue_grow(gp_queue *q)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, GP_STACK_BYTES);
    int rc = pthread_create(&t, &attr, gp_worker_main, q);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        q->threads++;
        pthread_setname_np(t, q == &gp_pool ? "glupy-worker" : "glupy-report");
    } else {
        /* (what waits then waits for a worker to come free: say why) */
        static double logged;
        if (gp_log_due(&logged, gp_now())) {
            gf_log(GP_DOMAIN, GF_LOG_ERROR, "glupy: cannot start another worker thread (%d running): %s",
                   q->threads, strerror(rc));
        }
    }
    return rc;
}

static void
gp_queue_push(gp_queue *q, gp_work *w, int max_threads)
{
    pthread_mutex_lock(&q->lock);
    gp_work_append(&q->head, &q->tail, w);
    q->queued++;
    int wake = q->idle > 0;
    if (!wake && q->threads < max_threads && q->threads < GP_WORKERS_MIN)
        gp_queue_grow(q);
    pthread_mutex_unlock(&q->lock);
    /* woken after the unlock: a worker woken under it ran on the other CPU at once, found
     * the lock taken and slept again until the unlock (two switches a FOP instead of one) */
    if (wake)
        pthread_cond_signal(&q->cond);
}

/* Every timer tick: more workers if the queue's head has not moved since the last
 * tick (every worker is held by something slower than a tick): one per queued item,
 * up to GP_WORKERS_MAX not stuck and GP_THREADS_MAX in all. */
static void
gp_queue_unstall(gp_queue *q, double now)
{
    static double last_logged;
    pthread_mutex_lock(&q->lock);
    if (q->head && q->head == q->head_at_tick && q->idle == 0) {
        int stuck = 0;
        for (gp_worker_slot *s = q->slots; s; s = s->next) {
            long started_ms = __atomic_load_n(&s->started_ms, __ATOMIC_RELAXED);
            stuck += started_ms > 0 && now * 1000 - started_ms >= GP_WORKER_STUCK * 1000;
        }
        long more = q->queued;
        if (more > GP_WORKERS_MAX - (q->threads - stuck))
            more = GP_WORKERS_MAX - (q->threads - stuck);
        if (more > GP_THREADS_MAX - q->threads)
            more = GP_THREADS_MAX - q->threads;
        for (long i = 0; i < more; i++)
            if (gp_queue_grow(q) != 0)
                break;
        if (q->threads >= GP_THREADS_MAX && gp_log_due(&last_logged, now)) {
            gf_log(GP_DOMAIN, GF_LOG_ERROR,
                   "glupy: %d workers, %d of them held over %.2g s by handlers that do not return: no more "
                   "workers; FOPs wait for one (or their fop-timeout)",
                   q->threads, stuck, GP_WORKER_STUCK);
        }
    }
    q->head_at_tick = q->head;
    pthread_mutex_unlock(&q->lock);
}

void
gp_work_submit(gp_work *w)
{
    gp_queue_push(&gp_pool, w, GP_WORKERS_MAX);
}

/* Deep copies for the generated holds (gen_glue.py HELD): directory entries and
 * lock lists, as libglusterfs's call stubs copy them. dst is a list head, made
 * empty first, so that it can be freed whatever happens. */
int
gp_dirents_copy(gf_dirent_t *dst, gf_dirent_t *src)
{
    INIT_LIST_HEAD(&dst->list);
    gf_dirent_t *e;
    list_for_each_entry(e, &src->list, list)
    {
        gf_dirent_t *copy = entry_copy(e);
        if (!copy)
            return -1;
        list_add_tail(&copy->list, &dst->list);
    }
    return 0;
}

int
gp_locklist_copy(lock_migration_info_t *dst, lock_migration_info_t *src)
{
    INIT_LIST_HEAD(&dst->list);
    lock_migration_info_t *e;
    list_for_each_entry(e, &src->list, list)
    {
        lock_migration_info_t *copy = GF_CALLOC(1, sizeof(*copy), gf_common_mt_char);
        if (!copy)
            return -1;
        INIT_LIST_HEAD(&copy->list);
        copy->flock = e->flock;
        copy->lk_flags = e->lk_flags;
        if (e->client_uid && !(copy->client_uid = gf_strdup(e->client_uid))) {
            GF_FREE(copy);
            return -1;
        }
        list_add_tail(&copy->list, &dst->list);
    }
    return 0;
}

/* ------------------------------------------------------------ recycled blocks
 *
 * Without a lock: a freed block is pushed on its class's shared list (compare-and-swap:
 * pushing alone cannot be fooled by a head that changed and came back), and a thread
 * that allocates takes the whole shared list at once (exchange) into a list of its own,
 * from which it allocates with no atomic operation at all. Under a mutex, each
 * allocation and each free cost about 100 instructions, four a FOP (callgrind). A
 * thread's own blocks are freed when it ends. */

#define GP_BLOCK_CLASS 64    /* bytes: sizes are rounded up to a multiple */
#define GP_BLOCK_CLASSES 16  /* so blocks of up to 1 KiB are kept */
#define GP_BLOCK_KEEP 32     /* per class on the shared lists: about 512 KiB in all */

static struct {
    void *head[GP_BLOCK_CLASSES]; /* each free block's first word links to the next */
    int kept[GP_BLOCK_CLASSES];   /* about how many (a bound, not an account) */
} gp_blocks;

static GP_TLS void *gp_blocks_mine[GP_BLOCK_CLASSES]; /* this thread's, taken from gp_blocks */
static GP_TLS int gp_blocks_adopted;                 /* the key below frees them at its end */
static pthread_key_t gp_blocks_key;
static pthread_once_t gp_blocks_once = PTHREAD_ONCE_INIT;

static void
gp_blocks_thread_end(void *unused)
{
    for (int c = 0; c < GP_BLOCK_CLASSES; c++) {
        while (gp_blocks_mine[c]) {
            void *block = gp_blocks_mine[c];
            gp_blocks_mine[c] = *(void **)block;
            free(block);
        }
    }
}

static void
gp_blocks_key_create(void)
{
    pthread_key_create(&gp_blocks_key, gp_blocks_thread_end);
}

/* The size class of a block of `size` bytes (GP_BLOCK_CLASSES and above: not kept). */
static size_t
gp_block_class(size_t size)
{
    return size ? (size - 1) / GP_BLOCK_CLASS : 0;
}

void *
gp_block_alloc(size_t size)
{
    void *block = gp_block_alloc_dirty(size);
    if (block)
        memset(block, 0, size);
    return block;
}

void *
gp_block_alloc_dirty(size_t size)
{
    size_t c = gp_block_class(size);
    if (c >= GP_BLOCK_CLASSES)
        return malloc(size);
    void *block = gp_blocks_mine[c];
    if (!block) {
        if (__atomic_load_n(&gp_blocks.head[c], __ATOMIC_RELAXED))
            block = __atomic_exchange_n(&gp_blocks.head[c], NULL, __ATOMIC_ACQUIRE);
        if (!block)
            return malloc((c + 1) * GP_BLOCK_CLASS);
        __atomic_store_n(&gp_blocks.kept[c], 0, __ATOMIC_RELAXED);
        if (!gp_blocks_adopted) {
            pthread_once(&gp_blocks_once, gp_blocks_key_create);
            pthread_setspecific(gp_blocks_key, &gp_blocks_adopted); /* any non-NULL value */
            gp_blocks_adopted = 1;
        }
    }
    gp_blocks_mine[c] = *(void **)block;
    return block;
}

void
gp_block_free(void *block, size_t size)
{
    if (!block)
        return;
    size_t c = gp_block_class(size);
    if (c < GP_BLOCK_CLASSES && __atomic_load_n(&gp_blocks.kept[c], __ATOMIC_RELAXED) < GP_BLOCK_KEEP) {
        __atomic_add_fetch(&gp_blocks.kept[c], 1, __ATOMIC_RELAXED);
        void *head = __atomic_load_n(&gp_blocks.head[c], __ATOMIC_RELAXED);
        do
            *(void **)block = head;
        while (!__atomic_compare_exchange_n(&gp_blocks.head[c], &head, block, 1, __ATOMIC_RELEASE,
                                            __ATOMIC_RELAXED));
        return;
    }
    free(block);
}

/* ------------------------------------------------------------ requests and deadlines */

static pthread_mutex_t gp_req_lock = PTHREAD_MUTEX_INITIALIZER;
static gp_req gp_reqs = {.prev = &gp_reqs, .next = &gp_reqs}; /* not answered, with a deadline */
static PyObject *gp_report_fn;                                  /* glupy._runtime.report_stuck */
static PyObject *gp_timed_out_exc;                              /* glupy.errors.HandlerTimedOut */

double
gp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
gp_log_due(double *last, double now)
{
    /* (callers on two threads at once may both log: never neither) */
    if (now - *last < GP_LOG_EVERY)
        return 0;
    *last = now;
    return 1;
}

gp_req *
gp_req_new(call_frame_t *frame, xlator_t *this, int fop, double timeout, const gp_expect *expect)
{
    gp_req *r = gp_zalloc(sizeof(*r)); /* (the block allocator, even without a lock, saves nothing here: callgrind) */
    if (!r)
        return NULL;
    r->expect = *expect;
    r->frame = frame;
    r->this = this;
    r->fop = fop;
    r->refs = 1; /* the Caller object */
    r->timeout = timeout;
    r->prev = r->next = r;
    if (timeout > 0) {
        r->deadline = gp_now() + timeout;
        pthread_mutex_lock(&gp_req_lock);
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED); /* the list */
        r->prev = gp_reqs.prev;
        r->next = &gp_reqs;
        gp_reqs.prev->next = r;
        gp_reqs.prev = r;
        pthread_mutex_unlock(&gp_req_lock);
    }
    return r;
}

/* With gp_req_lock held: the FOP is answered; take it off the list. */
static call_frame_t *
gp_req_answer_locked(gp_req *r)
{
    call_frame_t *frame = r->frame;
    r->frame = NULL;
    if (r->next != r) {
        r->prev->next = r->next;
        r->next->prev = r->prev;
        r->prev = r->next = r;
        __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL); /* the list's; the Caller object still holds one */
    }
    return frame;
}

/* refs change atomically (the list's and the report's under gp_req_lock too), so
 * that dropping a reference takes no lock. */
void
gp_req_unref(gp_req *r)
{
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(r);
}

call_frame_t *
gp_req_lock_frame(gp_req *r)
{
    pthread_mutex_lock(&gp_req_lock);
    return r->frame;
}

void
gp_req_unlock(void)
{
    pthread_mutex_unlock(&gp_req_lock);
}

call_frame_t *
gp_req_take(gp_req *r)
{
    pthread_mutex_lock(&gp_req_lock);
    call_frame_t *frame = gp_req_answer_locked(r);
    pthread_mutex_unlock(&gp_req_lock);
    return frame;
}

/* A FOP whose handler will not run (its arguments could not be converted, no
 * memory): -1 if the caller is to answer it (it was not answered yet), 0 if its
 * deadline answered it already. Drops the caller's reference. */
int
gp_req_drop(gp_req *r)
{
    call_frame_t *frame = gp_req_take(r);
    gp_req_unref(r);
    return frame ? -1 : 0;
}

/* A wind goes out on a call stack of its own (copy_frame: same credentials,
 * lock owner and client), never on the caller's: then the FOP can be answered at
 * its deadline while a reply is still out (a child that never answers), and the
 * caller may destroy its stack meanwhile; the late reply lands on ours, which
 * the wind's slot destroys once it is in. Copied under gp_req_lock, so that the
 * deadline cannot answer (and the caller free) the frame while it is read. (A tail
 * await passes the FOP on instead, on its own frame: gp_req_pass.) */
call_frame_t *
gp_req_wind_begin(gp_req *r)
{
    call_frame_t *own = NULL;
    pthread_mutex_lock(&gp_req_lock);
    if (r->frame && !r->expired) {
        own = copy_frame(r->frame);
        if (own) {
            if (r->frame->root->client) /* features/locks, upcall... identify the client by it */
                own->root->client = gf_client_ref(r->frame->root->client);
        }
    }
    pthread_mutex_unlock(&gp_req_lock);
    if (!own && r->frame && !r->expired)
        PyErr_NoMemory();
    else if (!own)
        PyErr_Format(PyExc_RuntimeError, "cannot wind: this %s has already been answered%s", gp_fop_names[r->fop],
                     r->expired ? " (its deadline passed)" : "");
    return own;
}

/* A stack of gp_req_wind_begin, once its reply is in (or the wind failed to start). */
void
gp_req_wind_destroy(call_frame_t *own)
{
    call_stack_t *stack = own->root;
    if (stack->client)
        gf_client_unref(stack->client);
    STACK_DESTROY(stack);
}

void
gp_req_ref(gp_req *r)
{
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

call_frame_t *
gp_req_take_unpassed(gp_req *r)
{
    pthread_mutex_lock(&gp_req_lock);
    call_frame_t *frame = r->passed ? NULL : gp_req_answer_locked(r);
    pthread_mutex_unlock(&gp_req_lock);
    return frame;
}

call_frame_t *
gp_req_pass(gp_req *r)
{
    pthread_mutex_lock(&gp_req_lock);
    call_frame_t *frame = r->expired ? NULL : r->frame;
    if (frame) {
        r->lock_waits++;
        r->passed = 1;
    }
    pthread_mutex_unlock(&gp_req_lock);
    if (!frame)
        PyErr_Format(PyExc_RuntimeError, "cannot wind: this %s has already been answered%s", gp_fop_names[r->fop],
                     r->expired ? " (its deadline passed)" : "");
    return frame;
}

/* A FOP's deadline is for what Python does with it. A wind waiting for a lock waits as
 * long as another client holds it, as it would without glupy (an application's fcntl
 * F_SETLKW, AFR's and DHT's own locks): answered ETIMEDOUT meanwhile, the caller saw an
 * error while the wind stayed out with its lock owner, was granted the lock later and
 * held it for good, refusing everyone else (a sixth red-team session). */
void
gp_req_lock_wait(gp_req *r, int begins)
{
    pthread_mutex_lock(&gp_req_lock);
    if (begins) {
        r->lock_waits++;
    } else {
        r->passed = 0; /* (a passed FOP's wind is its last) */
        if (--r->lock_waits == 0 && r->timeout > 0)
            r->deadline = gp_now() + r->timeout;
    }
    pthread_mutex_unlock(&gp_req_lock);
}

int
gp_req_expired(gp_req *r)
{
    return __atomic_load_n(&r->expired, __ATOMIC_ACQUIRE); /* set once, under gp_req_lock */
}

/* Timer ticks since the start (a clock the hot path reads for free). */
unsigned long gp_ticks;

/* Whether thread `ident`'s innermost Python frame is in the logging, threading or queue
 * module: there an asynchronous exception can fire between a lock taken and the `try`
 * that releases it, and the lock stays taken for good (logging's module lock: every
 * later FOP that logged, of every translator, waited for ever; a seventh and an eighth
 * red-team session). Its delivery waits until the thread is out. GIL held. */
static int
gp_in_locking_code(unsigned long ident)
{
    static const char *const modules[] = {"/logging/__init__.py", "/logging/handlers.py", "/threading.py",
                                          "/queue.py", "/concurrent/futures/_base.py"};
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(PyInterpreterState_Get()); ts;
         ts = PyThreadState_Next(ts)) {
        if (ts->thread_id != ident)
            continue;
        /* The frame object may be made here: no collection meanwhile, which would run the
         * finalizers of a translator's garbage on this thread (automatic collection is off
         * in glupy, unless a translator turns it on: a ninth red-team session) */
        int collecting = PyGC_Disable();
        PyFrameObject *f = PyThreadState_GetFrame(ts);
        if (collecting)
            PyGC_Enable();
        PyCodeObject *code = f ? PyFrame_GetCode(f) : NULL;
        const char *file = code ? PyUnicode_AsUTF8(code->co_filename) : NULL;
        size_t len = file ? strlen(file) : 0;
        int found = 0;
        for (size_t i = 0; file && i < sizeof(modules) / sizeof(modules[0]); i++) {
            size_t m = strlen(modules[i]);
            if (len >= m && strcmp(file + len - m, modules[i]) == 0)
                found = 1;
        }
        if (!file)
            PyErr_Clear();
        Py_XDECREF(code);
        Py_XDECREF(f);
        return found;
    }
    return 0;
}

/* Raise `exc` in thread `ident` (GIL held), unless it is in such code: 0 then. */
static int
gp_raise_in(unsigned long ident, PyObject *exc)
{
    if (gp_in_locking_code(ident))
        return 0;
    PyThreadState_SetAsyncExc(ident, exc);
    return 1;
}

/* How long, at most, an interruption waits for its thread to leave such code: 2 s in
 * 10 ms steps. The FOP was answered already; a handler blocked there for longer (a lock
 * another handler keeps) is left as one blocked in C is. */
#define GP_INTERRUPT_TRIES 200
#define GP_INTERRUPT_RETRY_NS (10 * 1000 * 1000)

static void
gp_interrupt_later(gp_queue *q, gp_work *w)
{
    struct timespec pause = {0, GP_INTERRUPT_RETRY_NS};
    nanosleep(&pause, NULL); /* (the reporter's other work goes first: queued behind it) */
    gp_queue_push(q, w, 1);
}

/* A timed-out FOP whose handler's stack is to be logged. */
typedef struct {
    gp_work w;
    gp_req *req;
    unsigned long thread; /* the thread its handler ran on when it was interrupted, or 0 */
    int tries;
} gp_report_work;

/* On a worker: log where the handler is stuck, and close it if it waits (glupy._runtime.
 * report_stuck). That is translator code -- a `finally` the close runs, an awaited
 * object's __repr__ -- which may block for ever: never on the reporter thread, which
 * must stay free to interrupt every other handler and hook (a seventh red-team session:
 * one `finally` that blocked there switched off every later HandlerTimedOut). */
static void
gp_report_log_run(gp_work *w)
{
    gp_report_work *rw = (gp_report_work *)w;
    gp_req *r = rw->req;
    PyGILState_STATE g = gp_gil_acquire();
    PyObject *fo = r->fo_alive ? Py_NewRef(r->fo) : Py_NewRef(Py_None);
    PyObject *res = gp_report_fn ? PyObject_CallFunction(gp_report_fn, "sOsdk", r->this->name, fo,
                                                         gp_fop_names[r->fop], r->timeout, rw->thread)
                                 : NULL;
    if (!res) {
        PyErr_Clear();
        gf_log(r->this->name, GF_LOG_ERROR, "glupy: a %s handler did not answer within %.1f s: answered ETIMEDOUT",
               gp_fop_names[r->fop], r->timeout);
    }
    Py_XDECREF(res);
    Py_DECREF(fo);
    gp_gil_release(g);
    gp_req_unref(r);
    free(rw);
}

/* On the reporter thread. */
static void
gp_report_run(gp_work *w)
{
    gp_report_work *rw = (gp_report_work *)w;
    gp_req *r = rw->req;
    PyGILState_STATE g = gp_gil_acquire();
    /* Still running on a thread (looping, or blocked in a call): raise
     * glupy.errors.HandlerTimedOut in it, so that a handler looping in Python lets its
     * thread go (one blocked in C sees it when the call returns). A BaseException:
     * `except Exception` does not swallow it. Under the GIL, r->thread is the thread
     * running this handler now (task.c clears it, and a pending exception, when the
     * handler leaves the thread). */
    if (r->thread && gp_timed_out_exc) {
        if (gp_raise_in(r->thread, gp_timed_out_exc)) {
            r->interrupted = 1;
        } else if (++rw->tries < GP_INTERRUPT_TRIES) {
            gp_gil_release(g);
            gp_interrupt_later(&gp_reporter, w);
            return;
        }
    }
    rw->thread = r->thread;
    gp_gil_release(g);
    rw->w.run = gp_report_log_run;
    gp_work_submit(&rw->w);
}

/* FOPs still waiting for a worker at their deadline (every worker held by
 * handlers that block): taken off the queue and answered ETIMEDOUT here, so that
 * a caller never waits forever for a worker. One log line per 10 s at most. */
static void
gp_queue_expire(gp_queue *q, double now)
{
    gp_work *due = NULL, **tail = &due;
    pthread_mutex_lock(&q->lock);
    gp_work *prev = NULL;
    for (gp_work *x = q->head; x;) {
        gp_work *next = x->next;
        if (x->expire && x->deadline > 0 && now >= x->deadline) {
            if (prev)
                prev->next = next;
            else
                q->head = next;
            if (q->tail == x)
                q->tail = prev;
            if (q->head_at_tick == x)
                q->head_at_tick = NULL;
            q->queued--;
            x->next = NULL;
            *tail = x;
            tail = &x->next;
        } else {
            prev = x;
        }
        x = next;
    }
    pthread_mutex_unlock(&q->lock);
    static double last_logged;
    static unsigned long unlogged;
    for (gp_work *x = due; x;) {
        gp_work *next = x->next;
        x->expire(x);
        unlogged++;
        x = next;
    }
    if (unlogged && gp_log_due(&last_logged, now)) {
        gf_log(GP_DOMAIN, GF_LOG_ERROR,
               "glupy: %lu FOP(s) waited for a worker past their fop-timeout (every worker held by a handler "
               "that does not return): answered ETIMEDOUT",
               unlogged);
        unlogged = 0;
    }
}

static void gp_observe_unstick(double now);

/* ------------------------------------------------------------ hooks past their limit
 *
 * A handler past its deadline gets glupy.errors.HandlerTimedOut raised in it; so does a
 * hook (statedump, notify, reconfigure, init, fini, an observer, a context's release)
 * once it has used its limit of CPU time. Its caller went on without it long before
 * (each waits a bounded time), but a hook looping in Python ran on its thread for ever,
 * and one allocating as it went (a statedump mapping whose items() never ended) grew
 * the process until the OOM killer came. CPU time, not time: a hook that waits (an
 * observer writing to a slow store) is left to finish, as before. Running hooks are
 * listed (gp_hook_begin/end, under the GIL); the timer finds those past their limit and
 * the reporter, under the GIL, raises the exception in the thread still running one. */
static pthread_mutex_t gp_hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static gp_hook_run gp_hooks = {&gp_hooks, &gp_hooks};
static unsigned long gp_hook_tokens;

static double
gp_cpu_seconds(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return 0;
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
gp_hook_begin(gp_hook_run *h, const char *what, const char *xlator, double limit)
{
    h->thread = PyThread_get_thread_ident();
    h->tick = __atomic_load_n(&gp_ticks, __ATOMIC_RELAXED);
    if (pthread_getcpuclockid(pthread_self(), &h->cpu_clock) != 0)
        limit = 0; /* (no CPU clock: never interrupted) */
    h->cpu_started = limit > 0 ? gp_cpu_seconds(h->cpu_clock) : 0;
    h->limit = limit;
    h->interrupting = h->interrupted = 0;
    h->what = what;
    snprintf(h->xlator, sizeof(h->xlator), "%s", xlator ? xlator : "glupy");
    pthread_mutex_lock(&gp_hooks_lock);
    h->token = ++gp_hook_tokens;
    h->next = gp_hooks.next;
    h->prev = &gp_hooks;
    gp_hooks.next->prev = h;
    gp_hooks.next = h;
    pthread_mutex_unlock(&gp_hooks_lock);
}

void
gp_hook_end(gp_hook_run *h)
{
    pthread_mutex_lock(&gp_hooks_lock);
    h->prev->next = h->next;
    h->next->prev = h->prev;
    int interrupted = h->interrupted;
    pthread_mutex_unlock(&gp_hooks_lock);
    if (interrupted) /* it must not fire in whatever this thread runs next */
        PyThreadState_SetAsyncExc(h->thread, NULL);
}

typedef struct {
    gp_work w;
    unsigned long token;
    int tries;
} gp_hook_interrupt_work;

static void
gp_hook_interrupt_run(gp_work *w)
{
    gp_hook_interrupt_work *iw = (gp_hook_interrupt_work *)w;
    unsigned long token = iw->token;
    PyGILState_STATE g = gp_gil_acquire();
    char what[64] = "", xlator[64] = "";
    double ran = 0;
    int later = 0;
    pthread_mutex_lock(&gp_hooks_lock); /* (under the GIL: the hook cannot end meanwhile) */
    for (gp_hook_run *h = gp_hooks.next; h != &gp_hooks; h = h->next) {
        if (h->token != token || !gp_timed_out_exc)
            continue;
        if (!gp_raise_in(h->thread, gp_timed_out_exc)) {
            later = ++iw->tries < GP_INTERRUPT_TRIES;
            break;
        }
        h->interrupted = 1;
        snprintf(what, sizeof(what), "%s", h->what);
        snprintf(xlator, sizeof(xlator), "%s", h->xlator);
        ran = gp_cpu_seconds(h->cpu_clock) - h->cpu_started;
        break;
    }
    pthread_mutex_unlock(&gp_hooks_lock);
    gp_gil_release(g);
    if (later) {
        gp_interrupt_later(&gp_reporter, w);
        return;
    }
    free(w);
    if (what[0])
        gf_log(xlator, GF_LOG_WARNING,
               "glupy: the %s hook has used %.0f s of CPU: glupy.errors.HandlerTimedOut raised in it", what, ran);
}

/* On the timer: hooks past their limit get the reporter to interrupt them. (A listed
 * hook's thread is alive: it unlinks its record before it leaves the hook.) */
static void
gp_hooks_overdue(void)
{
    unsigned long due[16];
    int n = 0;
    pthread_mutex_lock(&gp_hooks_lock);
    for (gp_hook_run *h = gp_hooks.next; h != &gp_hooks && n < 16; h = h->next) {
        if (!h->interrupting && h->limit > 0 && gp_cpu_seconds(h->cpu_clock) - h->cpu_started > h->limit) {
            h->interrupting = 1;
            due[n++] = h->token;
        }
    }
    pthread_mutex_unlock(&gp_hooks_lock);
    for (int i = 0; i < n; i++) {
        gp_hook_interrupt_work *iw = calloc(1, sizeof(*iw));
        if (!iw)
            continue;
        iw->w.run = gp_hook_interrupt_run;
        iw->token = due[i];
        gp_queue_push(&gp_reporter, &iw->w, 1);
    }
}

/* ---- long calls: the memory watch's suspects besides handlers and hooks
 *
 * glupy.to_thread calls and the event loop's steps (glupy.on_loop), registered by the
 * Python side (_glupy.call_begin/call_end around a pool thread's call, _glupy.loop_beat at
 * each heartbeat of the loop) and read here in C: the thread that raises MemoryError in
 * them runs no Python a translator can reach (a ninth red-team session: a translator's
 * dict whose items() blocked held that thread, and every later deadline and memory
 * interrupt of the process, for good).
 *
 * Threads a translator starts (threading.Thread, registered by _glupy.thread_begin and
 * thread_end around their life): a thread's life is not a call, and most of it may be
 * spent waiting, so what counts is its CPU: a thread that used a tenth of a tick or more
 * in each of the last two ticks is computing now, and suspect as a long call is. Their
 * CPU clocks are read every tick by the timer (gp_threads_sample), by thread id: the
 * clock of a thread that has ended reads as an error, never as another's. */
#define GP_CALLS_MAX 512 /* glupy.to_thread's most threads */
static pthread_mutex_t gp_calls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned long ident, tick;
} gp_calls[GP_CALLS_MAX];
static int gp_ncalls;
static unsigned long gp_loop_ident, gp_loop_tick; /* the loop's thread and its last heartbeat */
#define GP_TRACKED_MAX 512
#define GP_THREAD_HOT_NS (GP_TIMER_TICK_NS / 10)
static struct {
    unsigned long ident;
    pid_t tid;
    long cpu_ns; /* at the last tick */
    int hot;     /* ticks in a row with GP_THREAD_HOT_NS of CPU or more */
} gp_tracked[GP_TRACKED_MAX];
static int gp_ntracked;

PyObject *
gp_mod_call_begin(PyObject *m, PyObject *unused)
{
    unsigned long ident = PyThread_get_thread_ident();
    pthread_mutex_lock(&gp_calls_lock);
    if (gp_ncalls < GP_CALLS_MAX) {
        gp_calls[gp_ncalls].ident = ident;
        gp_calls[gp_ncalls].tick = __atomic_load_n(&gp_ticks, __ATOMIC_RELAXED);
        gp_ncalls++;
    }
    pthread_mutex_unlock(&gp_calls_lock);
    Py_RETURN_NONE;
}

/* _glupy.call_end and _glupy.thread_end: the calling thread's call ends, or its life (a
 * thread is in one table at most: glupy's pool threads make calls, translators' threads
 * are tracked). */
PyObject *
gp_mod_call_end(PyObject *m, PyObject *unused)
{
    unsigned long ident = PyThread_get_thread_ident();
    pthread_mutex_lock(&gp_calls_lock);
    for (int i = 0; i < gp_ncalls; i++)
        if (gp_calls[i].ident == ident) {
            gp_calls[i] = gp_calls[--gp_ncalls];
            break;
        }
    for (int i = 0; i < gp_ntracked; i++)
        if (gp_tracked[i].ident == ident) {
            gp_tracked[i] = gp_tracked[--gp_ntracked];
            break;
        }
    pthread_mutex_unlock(&gp_calls_lock);
    Py_RETURN_NONE;
}

PyObject *
gp_mod_loop_beat(PyObject *m, PyObject *unused)
{
    unsigned long ident = PyThread_get_thread_ident();
    pthread_mutex_lock(&gp_calls_lock);
    gp_loop_ident = ident;
    gp_loop_tick = __atomic_load_n(&gp_ticks, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&gp_calls_lock);
    Py_RETURN_NONE;
}

PyObject *
gp_mod_thread_begin(PyObject *m, PyObject *unused)
{
    unsigned long ident = PyThread_get_thread_ident();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&gp_calls_lock);
    if (gp_ntracked < GP_TRACKED_MAX) /* (more go unwatched) */
        gp_tracked[gp_ntracked++] = (typeof(gp_tracked[0])){.ident = ident, .tid = tid, .cpu_ns = -1};
    pthread_mutex_unlock(&gp_calls_lock);
    Py_RETURN_NONE;
}

/* Every tick, on the timer thread: each tracked thread's CPU since the last tick. */
static void
gp_threads_sample(void)
{
    pthread_mutex_lock(&gp_calls_lock);
    for (int i = 0; i < gp_ntracked; i++) {
        /* the kernel's per-thread CPU clock of a thread id (what pthread_getcpuclockid makes) */
        clockid_t clock = (clockid_t)((~(unsigned)gp_tracked[i].tid << 3) | 6);
        struct timespec ts;
        if (clock_gettime(clock, &ts) != 0) { /* ended without thread_end: its ident may come again */
            gp_tracked[i--] = gp_tracked[--gp_ntracked];
            continue;
        }
        long ns = ts.tv_sec * 1000000000L + ts.tv_nsec;
        if (gp_tracked[i].cpu_ns >= 0 && ns - gp_tracked[i].cpu_ns >= GP_THREAD_HOT_NS)
            gp_tracked[i].hot++;
        else
            gp_tracked[i].hot = 0;
        gp_tracked[i].cpu_ns = ns;
    }
    pthread_mutex_unlock(&gp_calls_lock);
}

/* Into threads[0..max): the to_thread calls running for two ticks or more, the loop's
 * thread if it has not beaten (every tick) for three, and the tracked threads hot for
 * two; how many. */
static int
gp_long_calls(unsigned long *threads, int max, unsigned long now)
{
    int n = 0;
    pthread_mutex_lock(&gp_calls_lock);
    for (int i = 0; i < gp_ncalls && n < max; i++)
        if (now - gp_calls[i].tick >= 2)
            threads[n++] = gp_calls[i].ident;
    if (gp_loop_ident && now - gp_loop_tick >= 3 && n < max)
        threads[n++] = gp_loop_ident;
    for (int i = 0; i < gp_ntracked && n < max; i++)
        if (gp_tracked[i].hot >= 2)
            threads[n++] = gp_tracked[i].ident;
    pthread_mutex_unlock(&gp_calls_lock);
    return n;
}

/* On the reporter thread: MemoryError in every thread running a handler (a FOP not
 * answered yet), a hook or a long call (gp_long_calls) now, and for two ticks at least
 * (a loop step three): a FOP that only happens to
 * run while memory grows is left alone (an eighth red-team session: another
 * translator's stats got EIO while one loaded a large index). */
static void
gp_memory_interrupt_run(gp_work *w)
{
    enum { MAX = 256 };
    unsigned long threads[MAX];
    int n = 0;
    PyGILState_STATE g = gp_gil_acquire(); /* (thread fields are read under the GIL) */
    pthread_mutex_lock(&gp_req_lock);
    unsigned long now = __atomic_load_n(&gp_ticks, __ATOMIC_RELAXED);
    for (gp_req *r = gp_reqs.next; r != &gp_reqs && n < MAX; r = r->next)
        if (r->thread && now - r->thread_tick >= 2)
            threads[n++] = r->thread;
    pthread_mutex_unlock(&gp_req_lock);
    pthread_mutex_lock(&gp_hooks_lock);
    for (gp_hook_run *h = gp_hooks.next; h != &gp_hooks && n < MAX; h = h->next)
        if (h->thread && now - h->tick >= 2)
            threads[n++] = h->thread;
    pthread_mutex_unlock(&gp_hooks_lock);
    n += gp_long_calls(threads + n, MAX - n, now);
    for (int i = 0; i < n; i++)
        gp_raise_in(threads[i], PyExc_MemoryError);
    gp_gil_release(g);
    free(w);
}

/* ------------------------------------------------------------ memory
 *
 * Nothing else bounds what a handler or hook allocates: one that hoards in a loop (a
 * cache never trimmed, `while True: buf.append(...)`) had the OOM killer end the
 * process within a second or two (a seventh red-team session). Every tick the timer
 * reads the process's resident memory; while it is over the limit and still growing
 * fast, MemoryError is raised in every thread running a handler or a hook then, as
 * HandlerTimedOut is at a deadline: what the culprit holds in its frame is freed as it
 * unwinds, and its FOP is answered EIO. The limit: the option memory-limit (MiB) of a
 * glupy translator of the process, else half of what the process may use (the memory
 * of the machine, or of its cgroup if that is less). Memory that only stays high
 * interrupts nothing. */
#define GP_MEMORY_GROWTH ((long)8 << 20) /* bytes a tick: 80 MB/s */

static long gp_memory_limit_option; /* bytes; 0: automatic */

void
gp_memory_limit_set(double mib)
{
    if (mib > 0)
        __atomic_store_n(&gp_memory_limit_option, (long)(mib * (1 << 20)), __ATOMIC_RELAXED);
}

/* A number read from a file (its first field), or -1. */
static long
gp_read_long(const char *path, int field)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long x = -1;
    for (int i = 0; i <= field; i++)
        if (fscanf(f, "%ld", &x) != 1) {
            x = -1;
            break;
        }
    fclose(f);
    return x;
}

/* The option, else half of the machine's memory, or of the process's cgroup (v2 or v1)
 * if less: read each time (only while memory grows fast), as a process may be moved. */
static long
gp_memory_limit_now(void)
{
    long option = __atomic_load_n(&gp_memory_limit_option, __ATOMIC_RELAXED);
    if (option > 0)
        return option;
    long total = sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    char line[512], path[600];
    FILE *f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        path[0] = 0;
        if (strncmp(line, "0::", 3) == 0) /* cgroup v2 */
            snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", line + 3);
        else if (strstr(line, ":memory:")) /* v1 */
            snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", strstr(line, ":memory:") + 8);
        long max = path[0] ? gp_read_long(path, 0) : -1; /* v2's "max": no number, -1 */
        if (max > 0 && max < total)
            total = max;
    }
    if (f)
        fclose(f);
    return total / 2;
}

static long gp_memory_last; /* resident bytes at the last tick (atomic) */

/* The process's resident memory in bytes, or -1. */
static long
gp_rss_now(void)
{
    long pages = gp_read_long("/proc/self/statm", 1);
    return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* ---- one allocation past the limit
 *
 * What the watch interrupts is Python code: one C call allocating gigabytes at once
 * (`b"x" * (3 << 30)`, a bytearray grown by realloc) runs to its end. Python's large
 * blocks all come from the raw domain (pymalloc passes requests over 512 bytes on), so a
 * hook there refuses a block of GP_BIG_BLOCK or more that would take the process past
 * its limit: NULL, which Python raises as MemoryError where it was asked for. Smaller
 * blocks cost one comparison. */
#define GP_BIG_BLOCK ((size_t)64 << 20)
static PyMemAllocatorEx gp_raw_next;

static int
gp_block_refused(size_t size)
{
    if (size < GP_BIG_BLOCK)
        return 0;
    long rss = __atomic_load_n(&gp_memory_last, __ATOMIC_RELAXED);
    if (rss <= 0 && (rss = gp_rss_now()) < 0) /* (before the first tick) */
        rss = 0;
    return (long)(size >> 1) + (rss >> 1) > (gp_memory_limit_now() >> 1); /* (halves: no overflow) */
}

static void *
gp_raw_malloc(void *ctx, size_t size)
{
    return gp_block_refused(size) ? NULL : gp_raw_next.malloc(gp_raw_next.ctx, size);
}

static void *
gp_raw_calloc(void *ctx, size_t nelem, size_t elsize)
{
    if (elsize && nelem > SIZE_MAX / elsize)
        return NULL;
    return gp_block_refused(nelem * elsize) ? NULL : gp_raw_next.calloc(gp_raw_next.ctx, nelem, elsize);
}

static void *
gp_raw_realloc(void *ctx, void *ptr, size_t size)
{
    return gp_block_refused(size) ? NULL : gp_raw_next.realloc(gp_raw_next.ctx, ptr, size);
}

static void
gp_raw_free(void *ctx, void *ptr)
{
    gp_raw_next.free(gp_raw_next.ctx, ptr);
}

/* Once, right after Python starts in a GlusterFS daemon (before any other thread runs
 * Python); a gfapi program's Python is its own. */
void
gp_memory_hook_install(void)
{
    PyMemAllocatorEx hook = {NULL, gp_raw_malloc, gp_raw_calloc, gp_raw_realloc, gp_raw_free};
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &gp_raw_next);
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &hook);
}

/* Every timer tick. */
static void
gp_memory_watch(double now)
{
    long rss = gp_rss_now(), last = gp_memory_last;
    if (rss < 0)
        return;
    __atomic_store_n(&gp_memory_last, rss, __ATOMIC_RELAXED);
    long limit;
    if (!last || rss - last < GP_MEMORY_GROWTH || rss < (limit = gp_memory_limit_now()))
        return;
    gp_work *w = calloc(1, sizeof(*w));
    if (!w)
        return;
    w->run = gp_memory_interrupt_run;
    gp_queue_push(&gp_reporter, w, 1);
    static double last_logged;
    if (gp_log_due(&last_logged, now)) {
        gf_log(GP_DOMAIN, GF_LOG_ERROR,
               "glupy: the process uses %ld MiB, over its limit of %ld MiB (option memory-limit), and grew %ld MiB "
               "in a tick: MemoryError raised in every handler, hook and call running for the last tick or more "
               "and in every thread of a translator's computing for as long",
               rss >> 20, limit >> 20, (rss - last) >> 20);
    }
}

static void *
gp_timer_main(void *unused)
{
    for (;;) {
        struct timespec tick = {0, GP_TIMER_TICK_NS};
        nanosleep(&tick, NULL);
        __atomic_add_fetch(&gp_ticks, 1, __ATOMIC_RELAXED);
        double now = gp_now();
        gp_queue_unstall(&gp_pool, now);
        gp_queue_expire(&gp_pool, now);
        gp_observe_unstick(now);
        gp_hooks_overdue();
        gp_threads_sample();
        gp_memory_watch(now);
        /* collect under the lock, answer and report outside it */
        enum { BATCH = 64 };
        struct {
            gp_req *req;
            call_frame_t *frame;
        } due[BATCH];
        int n = 0;
        pthread_mutex_lock(&gp_req_lock);
        for (gp_req *r = gp_reqs.next; r != &gp_reqs && n < BATCH;) {
            gp_req *next = r->next;
            /* a passed FOP whose wind waits for its run (gp_later) is answered, unless the
             * wind goes first */
            int unsent = __atomic_load_n(&r->unsent, __ATOMIC_ACQUIRE), claimed = 1;
            if (!r->expired && (!r->lock_waits || unsent == 1) && now >= r->deadline &&
                (unsent != 1 || __atomic_compare_exchange_n(&r->unsent, &claimed, 2, 0, __ATOMIC_ACQ_REL,
                                                             __ATOMIC_ACQUIRE))) {
                __atomic_store_n(&r->expired, 1, __ATOMIC_RELEASE);
                __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED); /* the report's */
                due[n].req = r;
                due[n].frame = gp_req_answer_locked(r); /* winds in flight are on stacks of their own */
                n++;
            }
            r = next;
        }
        pthread_mutex_unlock(&gp_req_lock);
        for (int i = 0; i < n; i++) {
            if (due[i].frame)
                gp_failers[due[i].req->fop](due[i].frame, ETIMEDOUT);
            gp_report_work *rw = calloc(1, sizeof(*rw));
            if (!rw) {
                gp_req_unref(due[i].req);
                continue;
            }
            rw->w.run = gp_report_run;
            rw->req = due[i].req;
            gp_queue_push(&gp_reporter, &rw->w, 1);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ the observer thread
 *
 * Observations (glupy.observer) and context releases run on one thread, each
 * translator's in the order they came: what an observer sees of one file is in order,
 * and an fd's context ends after the observation of its last write. The FOP never
 * waits for it. A thread switch per FOP would cost the volume more than the observer
 * itself (a FOP handed over costs about 10 us of CPU in switches on this kind of
 * machine), so the thread is woken once per burst: while it finds work it looks again
 * every GP_OBSERVE_TICK_NS; only when a look finds nothing does it sleep until the next
 * submit wakes it.
 *
 * Each translator has a line of its own, and the thread serves the lines in turn. An
 * item that runs longer than GP_OBSERVE_STUCK seconds (an observer or a context's
 * __del__ that blocks) keeps its thread, not the lines: the timer starts another
 * observer thread for the items after it, and the stuck one ends when its item does.
 * A translator whose items are stuck on GP_OBSERVE_LINE_STUCK threads at once keeps
 * only its own line waiting until one of them ends: it cannot take every thread and
 * stop the observers and context releases of the other translators of the process
 * (a sixth red-team session: 16 context objects whose __del__ never returned did).
 * Lines that have no stuck item are served first, and while other lines wait an item
 * counts as stuck after GP_OBSERVE_STUCK_BUSY: each translator whose items block delays
 * the others by that much (and the timer's tick) the first time, not by a second (an
 * eighth red-team session: 4 translators with blocking context releases delayed another's
 * observers by 7 s). The threads are bounded by the lines' shares (GP_OBSERVE_THREADS_MAX),
 * so no number of translators holding theirs stops the others (the same session: a cap
 * of 64 did, with 16 of them). */
#define GP_OBSERVE_TICK_NS (5 * 1000 * 1000)
#define GP_OBSERVE_STUCK 1.0      /* an item runs this long: stuck */
#define GP_OBSERVE_STUCK_BUSY 0.1 /* the same while items of other lines wait */
#define GP_OBSERVE_LINE_STUCK 4   /* threads one translator's stuck items may hold */
#define GP_OBSERVE_LINES 64       /* translators with items at once; beyond, lines are shared */
#define GP_OBSERVE_THREADS_MAX (GP_OBSERVE_LINE_STUCK * GP_OBSERVE_LINES + 1) /* stuck ones included */
/* Observations waiting at most, per translator; beyond, new ones are dropped (counted
 * and logged), so that observers that cannot keep up cost memory within bounds, never
 * a FOP. Data (a write's, a read's) that waiting observations hold is counted too: by
 * count alone, 100,000 writes of 128 KiB are 12.5 GiB (1 GB written past an observer
 * taking 20 ms a write grew the client by 960 MB). Context releases are never dropped:
 * only their hook can end a context. */
#define GP_OBSERVE_BACKLOG 100000
#define GP_OBSERVE_BYTES ((size_t)64 << 20)
#define GP_OBSERVE_ALL 4 /* all translators together: 4 times one's bounds */

typedef struct {
    const void *owner; /* the translator (xlator_t *, never dereferenced) */
    gp_work *head, *tail;
    unsigned long queued; /* items waiting */
    size_t bytes;         /* data its waiting and running observations hold */
    int running;          /* an item of it runs on the current thread, or it waits for its stuck ones */
    int stuck;            /* its items that have run over GP_OBSERVE_STUCK, each on a thread left to it */
} gp_obs_line;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, drained;
    gp_obs_line lines[GP_OBSERVE_LINES];
    int nlines;                    /* lines[0..nlines) have been used */
    int next;                      /* where the next look for a line with work starts */
    unsigned long queued;          /* items waiting, all lines */
    size_t bytes;                  /* data held, all lines */
    int sleeping;                  /* waiting for a submit to wake it (not between looks) */
    unsigned long submitted, done; /* for gp_observe_drain */
    unsigned generation;           /* the thread whose generation this is serves the lines */
    double item_started;           /* when its current item started (0: none) */
    gp_obs_line *item_line;        /* and whose it is */
    int threads;                   /* observer threads alive, stuck ones included */
} gp_obs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};

static unsigned long gp_obs_dropped, gp_obs_dropped_logged;

int
gp_observe_room(void)
{
    if (__atomic_load_n(&gp_obs.queued, __ATOMIC_RELAXED) < GP_OBSERVE_ALL * GP_OBSERVE_BACKLOG)
        return 1;
    __atomic_add_fetch(&gp_obs_dropped, 1, __ATOMIC_RELAXED);
    return 0;
}

/* With gp_obs.lock held: the line of `owner`, or NULL. */
static gp_obs_line *
gp_obs_line_find(const void *owner)
{
    for (int i = 0; i < gp_obs.nlines; i++)
        if (gp_obs.lines[i].owner == owner)
            return &gp_obs.lines[i];
    return NULL;
}

/* With gp_obs.lock held: the line of `owner`, taken or made. With every line in use,
 * owners share one (their order then mixes). */
static gp_obs_line *
gp_obs_line_of(const void *owner)
{
    gp_obs_line *found = gp_obs_line_find(owner), *free_line = NULL;
    if (found)
        return found;
    for (int i = 0; i < gp_obs.nlines && !free_line; i++) {
        gp_obs_line *l = &gp_obs.lines[i];
        if (!l->head && !l->running && !l->stuck && !l->bytes)
            free_line = l;
    }
    if (!free_line && gp_obs.nlines < GP_OBSERVE_LINES)
        free_line = &gp_obs.lines[gp_obs.nlines++];
    if (!free_line)
        return &gp_obs.lines[(uintptr_t)owner / 64 % GP_OBSERVE_LINES];
    free_line->owner = owner;
    return free_line;
}

int
gp_observe_submit(gp_work *w, const void *owner, size_t bytes, int may_drop)
{
    pthread_mutex_lock(&gp_obs.lock);
    gp_obs_line *l = gp_obs_line_of(owner);
    /* (one observation bigger than the bound alone goes) */
    if (may_drop && (l->queued >= GP_OBSERVE_BACKLOG || gp_obs.queued >= GP_OBSERVE_ALL * GP_OBSERVE_BACKLOG ||
                     (bytes && l->bytes && l->bytes + bytes > GP_OBSERVE_BYTES) ||
                     (bytes && gp_obs.bytes && gp_obs.bytes + bytes > GP_OBSERVE_ALL * GP_OBSERVE_BYTES))) {
        pthread_mutex_unlock(&gp_obs.lock);
        __atomic_add_fetch(&gp_obs_dropped, 1, __ATOMIC_RELAXED);
        return -1;
    }
    w->held = bytes;
    gp_work_append(&l->head, &l->tail, w);
    l->queued++;
    l->bytes += bytes;
    __atomic_add_fetch(&gp_obs.queued, 1, __ATOMIC_RELAXED);
    gp_obs.bytes += bytes;
    gp_obs.submitted++;
    if (gp_obs.sleeping && !l->running)
        pthread_cond_signal(&gp_obs.wake);
    pthread_mutex_unlock(&gp_obs.lock);
    return 0;
}

/* With gp_obs.lock held: the next line with an item to run, in turn, those without a
 * stuck item first; or NULL. */
static gp_obs_line *
gp_obs_ready_line(void)
{
    gp_obs_line *stuck = NULL;
    for (int k = 0; k < gp_obs.nlines; k++) {
        int i = (gp_obs.next + k) % gp_obs.nlines;
        gp_obs_line *l = &gp_obs.lines[i];
        if (l->head && !l->running) {
            if (l->stuck) {
                if (!stuck)
                    stuck = l;
                continue;
            }
            gp_obs.next = i + 1;
            return l;
        }
    }
    if (stuck)
        gp_obs.next = (int)(stuck - gp_obs.lines) + 1;
    return stuck;
}

/* With gp_obs.lock held: whether a line other than `l` has an item waiting to run. */
static int
gp_obs_others_wait(const gp_obs_line *l)
{
    for (int i = 0; i < gp_obs.nlines; i++)
        if (&gp_obs.lines[i] != l && gp_obs.lines[i].head && !gp_obs.lines[i].running)
            return 1;
    return 0;
}

static void *
gp_observer_main(void *arg)
{
    unsigned generation = (unsigned)(uintptr_t)arg;
    gp_is_observer = 1;
    pthread_mutex_lock(&gp_obs.lock);
    for (;;) {
        gp_obs_line *l;
        while (!(l = gp_obs_ready_line()) && gp_obs.generation == generation) {
            gp_obs.sleeping = 1;
            pthread_cond_wait(&gp_obs.wake, &gp_obs.lock);
            gp_obs.sleeping = 0;
        }
        if (gp_obs.generation != generation)
            break;
        /* one at a time: a stuck item leaves the rest queued */
        gp_work *w = gp_work_take_first(&l->head, &l->tail);
        l->queued--;
        __atomic_sub_fetch(&gp_obs.queued, 1, __ATOMIC_RELAXED);
        size_t held = w->held;
        l->running = 1;
        gp_obs.item_started = gp_now();
        gp_obs.item_line = l;
        pthread_mutex_unlock(&gp_obs.lock);
        w->run(w);
        pthread_mutex_lock(&gp_obs.lock);
        l->bytes -= held;
        gp_obs.bytes -= held;
        gp_obs.done++;
        pthread_cond_broadcast(&gp_obs.drained);
        if (gp_obs.generation != generation) {
            /* replaced while stuck: the new thread serves the lines. A line that waited
             * for its stuck items may go on now. */
            l->stuck--;
            if (l->running && gp_obs.item_line != l) {
                l->running = 0;
                if (l->head && gp_obs.sleeping)
                    pthread_cond_signal(&gp_obs.wake);
            }
            break;
        }
        l->running = 0;
        gp_obs.item_started = 0;
        gp_obs.item_line = NULL;
        if (!gp_obs_ready_line()) {
            pthread_mutex_unlock(&gp_obs.lock);
            struct timespec tick = {0, GP_OBSERVE_TICK_NS};
            nanosleep(&tick, NULL); /* what arrives meanwhile comes with one wake */
            pthread_mutex_lock(&gp_obs.lock);
        }
    }
    gp_obs.threads--;
    pthread_mutex_unlock(&gp_obs.lock);
    return NULL;
}

/* With gp_obs.lock held: a new observer thread of a new generation. */
static int
gp_observer_start_locked(void)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, GP_STACK_BYTES);
    unsigned generation = ++gp_obs.generation;
    int rc = pthread_create(&t, &attr, gp_observer_main, (void *)(uintptr_t)generation);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        gp_obs.generation--;
        return -1;
    }
    pthread_setname_np(t, "glupy-observe");
    gp_obs.threads++;
    gp_obs.item_started = 0;
    gp_obs.item_line = NULL;
    pthread_cond_broadcast(&gp_obs.wake);
    return 0;
}

/* Every timer tick: an item stuck for GP_OBSERVE_STUCK seconds (GP_OBSERVE_STUCK_BUSY while
 * other lines wait) gets its thread left to it. */
static void
gp_observe_unstick(double now)
{
    int replaced = 0, held = 0;
    double ran = 0;
    pthread_mutex_lock(&gp_obs.lock);
    gp_obs_line *l = gp_obs.item_line;
    if (l && gp_obs.item_started > 0)
        ran = now - gp_obs.item_started;
    if (l && (ran > GP_OBSERVE_STUCK || (ran > GP_OBSERVE_STUCK_BUSY && gp_obs_others_wait(l))) &&
        gp_obs.threads < GP_OBSERVE_THREADS_MAX && gp_observer_start_locked() == 0) {
        replaced = 1;
        l->stuck++;
        /* its next items go on (on the new thread), unless it holds its share of threads */
        held = l->stuck >= GP_OBSERVE_LINE_STUCK;
        l->running = held;
    }
    int threads = gp_obs.threads;
    pthread_mutex_unlock(&gp_obs.lock);
    unsigned long dropped = __atomic_load_n(&gp_obs_dropped, __ATOMIC_RELAXED);
    if (dropped != gp_obs_dropped_logged) {
        gf_log(GP_DOMAIN, GF_LOG_WARNING,
               "glupy: %lu observations dropped so far: more than %d, or more than %zu MiB of data, waited for "
               "the observer thread", dropped, GP_OBSERVE_BACKLOG, GP_OBSERVE_BYTES >> 20);
        gp_obs_dropped_logged = dropped; /* once a tick at most */
    }
    /* (an observer slower than GP_OBSERVE_STUCK_BUSY but ending is replaced whenever others
     * wait: logged once in GP_LOG_EVERY seconds) */
    static double logged;
    if (replaced && (held || ran > GP_OBSERVE_STUCK || now - logged >= GP_LOG_EVERY)) {
        logged = now;
        gf_log(GP_DOMAIN, GF_LOG_WARNING,
               "glupy: an observer or a context release has run for %.1f s: %s (%d observer threads, "
               "stuck ones included)", ran,
               held ? "that translator's next ones wait until one of its stuck ones ends; the other translators' "
                      "go on on another thread"
                    : "observations go on on another thread",
               threads);
    }
}

int
gp_observe_drop_waiting(const void *owner, double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)seconds;
    gp_work *items = NULL;
    int n = 0;
    pthread_mutex_lock(&gp_obs.lock);
    gp_obs_line *l = gp_obs_line_find(owner);
    if (l) {
        items = l->head;
        l->head = l->tail = NULL;
        for (gp_work *w = items; w; w = w->next) {
            l->bytes -= w->held;
            gp_obs.bytes -= w->held;
            n++;
        }
        l->queued -= n;
        __atomic_sub_fetch(&gp_obs.queued, n, __ATOMIC_RELAXED);
        gp_obs.done += n;
        pthread_cond_broadcast(&gp_obs.drained);
        /* and the one that runs: it holds them too */
        while ((l->running || l->stuck) && l->owner == owner)
            if (pthread_cond_timedwait(&gp_obs.drained, &gp_obs.lock, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&gp_obs.lock);
    while (items) {
        gp_work *w = items;
        items = w->next;
        w->expire(w);
    }
    return n;
}

void
gp_observe_drain(double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)seconds;
    pthread_mutex_lock(&gp_obs.lock);
    unsigned long target = gp_obs.submitted;
    while ((long)(gp_obs.done - target) < 0)
        if (pthread_cond_timedwait(&gp_obs.drained, &gp_obs.lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&gp_obs.lock);
}

static int gp_timer_started;

static void
gp_threads_start(void)
{
    pthread_mutex_lock(&gp_pool.lock);
    for (int i = 0; i < GP_WORKERS_MIN; i++)
        gp_queue_grow(&gp_pool);
    pthread_mutex_unlock(&gp_pool.lock);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    gp_timer_started = pthread_create(&t, &attr, gp_timer_main, NULL) == 0;
    if (gp_timer_started)
        pthread_setname_np(t, "glupy-timer");
    pthread_mutex_lock(&gp_obs.lock);
    if (gp_timer_started && gp_observer_start_locked() != 0)
        gp_timer_started = 0; /* the observer thread is as necessary: start fails */
    pthread_mutex_unlock(&gp_obs.lock);
    pthread_attr_destroy(&attr);
}

/* Once per process, with the GIL: the first workers and the timer. */
int
gp_workers_start(PyObject *runtime)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    Py_XSETREF(gp_report_fn, PyObject_GetAttrString(runtime, "report_stuck"));
    Py_XSETREF(gp_timed_out_exc, PyObject_GetAttrString(runtime, "HandlerTimedOut"));
    if (!gp_report_fn || !gp_timed_out_exc)
        return -1;
    pthread_once(&once, gp_threads_start);
    if (!gp_timer_started) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start the glupy timer and observer threads");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ Python calls on a worker */

typedef struct {
    gp_work w;
    PyObject *fn, *arg;
    const char *what; /* a static string naming the call, for the log */
} gp_call_work;

static void
gp_call_run(gp_work *w)
{
    gp_call_work *cw = (gp_call_work *)w;
    PyGILState_STATE g = gp_gil_acquire();
    PyObject *r = PyObject_CallOneArg(cw->fn, cw->arg);
    if (!r)
        gp_log_exception(GP_DOMAIN, cw->what);
    Py_XDECREF(r);
    Py_DECREF(cw->fn);
    Py_DECREF(cw->arg);
    gp_gil_release(g);
    free(cw);
}

/* _glupy.submit(fn, arg): call fn(arg) on a worker thread (from any thread, e.g.
 * an asyncio loop's or a thread pool's, to resume a handler). */
PyObject *
gp_mod_submit(PyObject *m, PyObject *const *argv, Py_ssize_t argc)
{
    if (argc != 2 || !PyCallable_Check(argv[0])) {
        PyErr_SetString(PyExc_TypeError, "submit(fn, arg)");
        return NULL;
    }
    if (gp_call_on_worker(argv[0], argv[1], "a call handed to a glupy worker") < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

int
gp_call_on_worker(PyObject *fn, PyObject *arg, const char *what)
{
    gp_call_work *cw = calloc(1, sizeof(*cw));
    if (!cw)
        return -1;
    cw->w.run = gp_call_run;
    cw->fn = Py_NewRef(fn);
    cw->arg = Py_NewRef(arg);
    cw->what = what;
    gp_work_submit(&cw->w);
    return 0;
}

/* A reply that arrived on a GlusterFS thread, resumed on a worker. */
typedef struct {
    gp_work w;
    gp_slot *slot;
    PyObject *reply;
} gp_reply_work;

static void
gp_reply_run(gp_work *w)
{
    gp_reply_work *rw = (gp_reply_work *)w;
    PyGILState_STATE g = gp_gil_acquire();
    gp_slot_resume(rw->slot, rw->reply);
    gp_gil_release(g);
    gp_block_free(rw, sizeof(*rw));
}

int
gp_defer_reply(gp_slot *slot, PyObject *reply)
{
    gp_reply_work *rw = gp_block_alloc(sizeof(*rw));
    if (!rw)
        return -1;
    rw->w.run = gp_reply_run;
    rw->slot = slot;
    rw->reply = reply;
    gp_work_submit(&rw->w);
    return 0;
}
