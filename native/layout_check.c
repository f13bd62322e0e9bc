/*
 * layout_check.c - run-time check that the GlusterFS structure layouts seen
 * by this compilation agree with the running libglusterfs.
 *
 * Principle: let libglusterfs create objects (or use objects it created:
 * the xlator being initialised, its ctx, the ctx's memory pools) and read,
 * at the offsets THIS compilation computes, fields whose values the
 * library itself wrote and that can be predicted: back-pointers,
 * self-linked list heads, pool names, reference counts, sizes recorded by
 * the library's allocator and memory pools, sizes of exported data symbols.
 *
 * Safety rules, so that a mismatched build reports instead of crashing:
 *  - every read of library memory goes through lc_read(), which copies via
 *    a pipe: a bad pointer yields EFAULT instead of SIGSEGV;
 *  - no GF_ATOMIC_*, LOCK() or other header inline code is applied to our
 *    view of a structure (without HAVE_ATOMIC_BUILTINS, GF_ATOMIC_GET would
 *    itself lock a "mutex" that is really some other field: that is how a
 *    mismatched brick aborts in pthread_mutex_lock);
 *  - pointers handed to libglusterfs are ones it returned, or ones read
 *    from a structure whose layout was verified first;
 *  - everything created is released with library functions; the only
 *    header inline used (STACK_DESTROY) runs only after call_pool_t,
 *    call_stack_t and call_frame_t were verified.
 */
#ifndef GLUPY_EXTERNAL_GLUSTER_CONFIG
#include "gluster-config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glusterfs/xlator.h>
#include <glusterfs/defaults.h>
#include <glusterfs/stack.h>
#include <glusterfs/inode.h>
#include <glusterfs/fd.h>
#include <glusterfs/dict.h>
#include <glusterfs/iobuf.h>
#include <glusterfs/mem-pool.h>
#include <glusterfs/syncop.h>
#include <glusterfs/async.h>
#include <glusterfs/globals.h>
#include <glusterfs/call-stub.h>

#include "layout_check.h"

/* ------------------------------------------------------------------------
 * Compile-time checks: only what follows from the header text itself.
 * ---------------------------------------------------------------------- */

#ifndef GF_LINUX_HOST_OS
#error "GF_LINUX_HOST_OS is not defined: include gluster-config.h first"
#endif
#ifdef GF_DISABLE_MEMPOOL
#error "layout_check.c does not support GF_DISABLE_MEMPOOL builds of GlusterFS"
#endif
#ifdef SIZEOF_LONG
_Static_assert(SIZEOF_LONG == sizeof(long), "SIZEOF_LONG does not match the compiler");
#endif
#ifdef SIZEOF_TIME_T
_Static_assert(SIZEOF_TIME_T == sizeof(time_t), "SIZEOF_TIME_T does not match the compiler");
#endif

/* struct iatt (iatt.h) is made of fixed-width integers, uuid_t
 * (unsigned char[16]), an enum (int-sized in the Linux ABIs) and ia_prot_t
 * (four uint8_t bit-field units); no configuration macro touches it, and it
 * is the same in 10.x, 11.x and devel. */
_Static_assert(sizeof(uuid_t) == 16, "uuid_t");
_Static_assert(sizeof(ia_type_t) == 4, "ia_type_t is not int-sized");
_Static_assert(sizeof(ia_prot_t) == 4, "ia_prot_t");
_Static_assert(offsetof(struct iatt, ia_nlink) == 40, "iatt.ia_nlink");
_Static_assert(offsetof(struct iatt, ia_blocks) == 56, "iatt.ia_blocks");
_Static_assert(offsetof(struct iatt, ia_atime) == 64, "iatt.ia_atime");
_Static_assert(offsetof(struct iatt, ia_atime_nsec) == 96, "iatt.ia_atime_nsec");
_Static_assert(offsetof(struct iatt, ia_attributes) == 112, "iatt.ia_attributes");
_Static_assert(offsetof(struct iatt, ia_gfid) == 128, "iatt.ia_gfid");
_Static_assert(offsetof(struct iatt, ia_type) == 144, "iatt.ia_type");
_Static_assert(offsetof(struct iatt, ia_prot) == 148, "iatt.ia_prot");
_Static_assert(sizeof(struct iatt) == 152, "sizeof(struct iatt)");
/* loc_t: four pointers then two uuid_t. */
_Static_assert(offsetof(loc_t, gfid) == 4 * sizeof(void *), "loc_t.gfid");
_Static_assert(sizeof(loc_t) == 4 * sizeof(void *) + 32, "sizeof(loc_t)");
/* The pooled-object header (mem-pool.h) is not affected by any macro. */
_Static_assert(offsetof(pooled_obj_hdr_t, pool) == 4 * sizeof(void *), "pooled_obj_hdr_t.pool");

/* ------------------------------------------------------------------------
 * Check state and reporting
 * ---------------------------------------------------------------------- */

struct lc {
    xlator_t *this;
    char *errbuf;
    size_t errlen;
    unsigned flags;
    glupy_lc_report_fn report;
    void *arg;
    int pfd[2];
    int nfail;
    glusterfs_ctx_t *ctx; /* this->ctx */
    int mem_acct;         /* ctx->mem_acct_enable, -1 if unknown */
    int graph_ok;         /* this->graph verified and non-NULL */
    int pool_ok;          /* ctx->pool (call_pool_t) verified */
    int iobuf_ok;         /* ctx->iobuf_pool verified */
};

#define LC_GENERIC_CAUSE                                                       \
    "built without the configuration macros GlusterFS was built with"
#define LC_VERSION_CAUSE                                                       \
    "the GlusterFS headers are from another version than the running "        \
    "libglusterfs"
#define LC_SYNC_CAUSE                                                          \
    "HAVE_TSAN_API/HAVE_ASAN_API/HAVE_VALGRIND_API differ from the "          \
    "GlusterFS build"

#ifdef DEBUG
static const char lc_debug_state[] = "defined";
#else
static const char lc_debug_state[] = "not defined";
#endif

/* What this compilation looks like, to name the likely culprit. */
static const char *
lc_config_note(void)
{
    if (sizeof(gf_atomic_t) != sizeof(int64_t))
        return " (here HAVE_ATOMIC_BUILTINS and HAVE_SYNC_BUILTINS are not "
               "defined, so gf_atomic_t contains a mutex)";
#ifdef DEBUG
    return " (here DEBUG is defined; it changes struct mem_header and "
           "struct mem_pool)";
#elif defined(HAVE_TSAN_API) || defined(HAVE_VALGRIND_API) ||                 \
    defined(HAVE_ASAN_API)
    return " (here HAVE_TSAN_API/HAVE_VALGRIND_API/HAVE_ASAN_API is defined)";
#else
    return " (this object used native/gluster-config.h: libglusterfs itself "
           "may have been configured differently, e.g. --enable-debug or a "
           "sanitizer build)";
#endif
}

static int
lc_stop(struct lc *lc)
{
    return lc->nfail && !(lc->flags & GLUPY_LC_KEEP_GOING);
}

/* ok: 1 passed, 0 failed, -1 note/skipped. */
static void __attribute__((format(printf, 4, 5)))
lc_result(struct lc *lc, int ok, const char *cause, const char *fmt, ...)
{
    char msg[640];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ok == 0) {
        if (lc->nfail == 0 && lc->errbuf && lc->errlen) {
            if (cause)
                snprintf(lc->errbuf, lc->errlen,
                         "GlusterFS layout mismatch: %s; likely cause: %s; "
                         "rebuild with `make`",
                         msg, cause);
            else
                snprintf(lc->errbuf, lc->errlen,
                         "GlusterFS layout mismatch: %s; likely cause: "
                         "%s%s; rebuild with `make`",
                         msg, LC_GENERIC_CAUSE, lc_config_note());
        }
        lc->nfail++;
    }
    if (lc->report)
        lc->report(ok, msg, lc->arg);
}

#define lc_note(lc, ...) lc_result((lc), -1, NULL, __VA_ARGS__)

/* Record the outcome of one check; the message describes what was found
 * and what was expected.  On failure return -1 from the calling function
 * unless GLUPY_LC_KEEP_GOING. */
#define LC_EXPECT(lc, cond, cause, ...)                                        \
    do {                                                                       \
        if (cond) {                                                            \
            lc_result((lc), 1, NULL, __VA_ARGS__);                             \
        } else {                                                               \
            lc_result((lc), 0, (cause), __VA_ARGS__);                          \
            if (lc_stop(lc))                                                   \
                return -1;                                                     \
        }                                                                      \
    } while (0)

/* ------------------------------------------------------------------------
 * Fault-safe reads: the kernel copies the bytes into a pipe and reports
 * EFAULT for unmapped addresses.
 * ---------------------------------------------------------------------- */

static int
lc_read(struct lc *lc, const void *src, void *dst, size_t n)
{
    uintptr_t a = (uintptr_t)src;
    ssize_t w;
    size_t got = 0;

    if (n == 0)
        return 0;
    if (a < 4096 || a + n < a || n > 4096)
        return -1;
    w = write(lc->pfd[1], src, n);
    if (w <= 0)
        return -1;
    while (got < (size_t)w) {
        ssize_t r = read(lc->pfd[0], (char *)dst + got, (size_t)w - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return ((size_t)w == n) ? 0 : -1;
}

/* Read a NUL-terminated string of at most len-1 bytes, one byte at a time
 * so that nothing past its terminating NUL is touched. */
static int
lc_read_str(struct lc *lc, const char *src, char *buf, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (lc_read(lc, src + i, buf + i, 1)) {
            buf[0] = '\0';
            return -1;
        }
        if (buf[i] == '\0')
            return 0;
    }
    buf[0] = '\0';
    return -1; /* longer than expected: not the string we look for */
}

#define LC_OFF(type, field) ((size_t)offsetof(type, field))
#define LC_FIELD_ADDR(obj, type, field)                                        \
    ((const void *)((const char *)(obj) + offsetof(type, field)))
#define LC_PEEK(lc, obj, type, field, out)                                     \
    ({                                                                         \
        _Static_assert(sizeof(out) == sizeof(((type *)0)->field),              \
                       "LC_PEEK size");                                        \
        lc_read((lc), LC_FIELD_ADDR(obj, type, field), &(out), sizeof(out));   \
    })
/* Value of a gf_atomic_* member, read without the GF_ATOMIC_* macros. */
#define LC_PEEK_ATOMIC(lc, obj, type, field, out64)                            \
    ({                                                                         \
        __typeof__(((type *)0)->field) _lc_a;                                  \
        int _lc_r = LC_PEEK(lc, obj, type, field, _lc_a);                      \
        (out64) = _lc_r ? -1 : (int64_t)_lc_a.value;                           \
        _lc_r;                                                                 \
    })

/* A list_head that the library initialised/linked satisfies
 * head->next->prev == head and head->prev->next == head.  Lists shared with
 * other threads can be caught in the middle of an update: retry a little. */
static int
lc_list_ok(struct lc *lc, const void *head_addr)
{
    int i;

    for (i = 0; i < 20; i++) {
        struct list_head h, n, p;

        if (lc_read(lc, head_addr, &h, sizeof(h)) ||
            lc_read(lc, h.next, &n, sizeof(n)) ||
            lc_read(lc, h.prev, &p, sizeof(p)))
            return 0;
        if (n.prev == head_addr && p.next == head_addr)
            return 1;
        usleep(1000);
    }
    return 0;
}

static int
lc_list_empty_ok(struct lc *lc, const void *head_addr)
{
    struct list_head h;

    if (lc_read(lc, head_addr, &h, sizeof(h)))
        return 0;
    return h.next == head_addr && h.prev == head_addr;
}

/* libglusterfs writes the allocation trailer byte by byte, most
 * significant byte first (mem-pool.c: __gf_mem_trailer_write). */
static int
lc_trailer_ok(struct lc *lc, const void *addr)
{
    unsigned char b[GF_MEM_TRAILER_SIZE];
    gf_mem_magic_t m = 0;
    size_t i;

    if (lc_read(lc, addr, b, sizeof(b)))
        return 0;
    for (i = 0; i < sizeof(b); i++)
        m = (m << 8) | b[i];
    return m == GF_MEM_TRAILER_MAGIC;
}

/* Size that libglusterfs's allocator recorded for a GF_MALLOC/GF_CALLOC'ed
 * object, or -1 when there is no memory-accounting header where this
 * compilation expects one (accounting off, or not such an object). */
static long
lc_hdr_size(struct lc *lc, const void *obj)
{
    struct mem_header h;

    if (lc->mem_acct != 1 || !obj)
        return -1;
    if (lc_read(lc, (const char *)obj - GF_MEM_HEADER_SIZE, &h, sizeof(h)))
        return -1;
    if (h.magic != GF_MEM_HEADER_MAGIC || h.size > (64UL << 20))
        return -1;
    if (!lc_trailer_ok(lc, (const char *)obj + h.size))
        return -1;
    return (long)h.size;
}

/* Size of a data symbol exported by libglusterfs (st_size in .dynsym). */
static long
lc_symbol_size(const char *name)
{
    void *h = dlopen("libglusterfs.so.0", RTLD_NOW | RTLD_NOLOAD);
    void *p;
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    long ret = -1;

    p = dlsym(h ? h : RTLD_DEFAULT, name);
    if (p && dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
        info.dli_saddr == p)
        ret = (long)sym->st_size;
    if (h)
        dlclose(h);
    return ret;
}

/* ------------------------------------------------------------------------
 * 1. Exported data symbols: sizes fixed by libglusterfs's own compilation.
 *    Pure arithmetic, nothing is dereferenced.
 * ---------------------------------------------------------------------- */

static int
lc_check_symbols(struct lc *lc)
{
    long sz;

    sz = lc_symbol_size("global_xlator");
    if (sz < 0)
        lc_note(lc, "skipped: symbol global_xlator not found");
    else
        LC_EXPECT(lc, (size_t)sz == sizeof(xlator_t), NULL,
                  "sizeof(xlator_t): %zu here, %ld in libglusterfs (size of "
                  "its symbol global_xlator)",
                  sizeof(xlator_t), sz);

    sz = lc_symbol_size("gf_fop_list");
    if (sz < 0)
        lc_note(lc, "skipped: symbol gf_fop_list not found");
    else
        LC_EXPECT(lc, (size_t)sz == GF_FOP_MAXVALUE * sizeof(char *),
                  LC_VERSION_CAUSE,
                  "GF_FOP_MAXVALUE: %d here, %ld in libglusterfs "
                  "(gf_fop_list[]; sizes xlator_t.stats[])",
                  (int)GF_FOP_MAXVALUE, sz / (long)sizeof(char *));

    sz = lc_symbol_size("gf_upcall_list");
    if (sz < 0)
        lc_note(lc, "skipped: symbol gf_upcall_list not found");
    else
        LC_EXPECT(lc,
                  (size_t)sz == GF_UPCALL_FLAGS_MAXVALUE * sizeof(char *),
                  LC_VERSION_CAUSE,
                  "GF_UPCALL_FLAGS_MAXVALUE: %d here, %ld in libglusterfs "
                  "(gf_upcall_list[])",
                  (int)GF_UPCALL_FLAGS_MAXVALUE, sz / (long)sizeof(char *));

    sz = lc_symbol_size("gf_async_ctrl");
    if (sz < 0)
        lc_note(lc, "skipped: symbol gf_async_ctrl not found");
    else
        LC_EXPECT(lc, (size_t)sz == sizeof(gf_async_control_t),
                  "liburcu headers or URCU_OLD differ from the GlusterFS "
                  "build",
                  "sizeof(gf_async_control_t): %zu here, %ld in libglusterfs "
                  "(symbol gf_async_ctrl)",
                  sizeof(gf_async_control_t), sz);
    return 0;
}

/* ------------------------------------------------------------------------
 * 2. The xlator and its glusterfs_ctx_t (objects glusterfsd/gfapi made).
 * ---------------------------------------------------------------------- */

/* Verify a struct mem_pool created by mem_pool_new(<tname>, ...) and read
 * from field `where` of some structure. */
static int
lc_check_pool(struct lc *lc, const char *where, size_t where_off,
              struct mem_pool *pool, const char *tname, size_t tsize)
{
    unsigned long sizeof_type = 0;
    char *namep = NULL;
    char name[64] = "";
    glusterfs_ctx_t *pctx = NULL;
    long hs;

    LC_EXPECT(lc,
              pool &&
                  LC_PEEK(lc, pool, struct mem_pool, sizeof_type,
                          sizeof_type) == 0 &&
                  LC_PEEK(lc, pool, struct mem_pool, name, namep) == 0 &&
                  lc_read_str(lc, namep, name, sizeof(name)) == 0 &&
                  strcmp(name, tname) == 0,
              NULL,
              "%s (offset %zu): %p, a mem pool named \"%s\", expected the "
              "pool of %s",
              where, where_off, (void *)pool, name, tname);
    LC_EXPECT(lc, sizeof_type == tsize, NULL,
              "sizeof(%s): %zu here, %lu in libglusterfs (recorded in its "
              "mem pool)",
              tname, tsize, sizeof_type);
    /* mem_pool_new() stores THIS->ctx (for gfapi's per-volume ctx: its
     * global ctx). */
    LC_EXPECT(lc,
              LC_PEEK(lc, pool, struct mem_pool, ctx, pctx) == 0 &&
                  pctx != NULL && (pctx == lc->ctx || pctx == global_ctx),
              NULL,
              "struct mem_pool.ctx (offset %zu) of pool %s: %p, expected "
              "the glusterfs_ctx_t %p",
              LC_OFF(struct mem_pool, ctx), tname, (void *)pctx,
              (void *)lc->ctx);
    LC_EXPECT(lc, lc_list_ok(lc, LC_FIELD_ADDR(pool, struct mem_pool, owner)),
              NULL,
              "struct mem_pool.owner (offset %zu) of pool %s: expected a "
              "linked list_head",
              LC_OFF(struct mem_pool, owner), tname);
    hs = lc_hdr_size(lc, pool);
    if (hs >= 0)
        LC_EXPECT(lc, (size_t)hs == sizeof(struct mem_pool), NULL,
                  "sizeof(struct mem_pool): %zu here, %ld in libglusterfs "
                  "(its allocation header)",
                  sizeof(struct mem_pool), hs);
    return 0;
}

static int
lc_check_ctx(struct lc *lc)
{
    xlator_t *this = lc->this;
    glusterfs_ctx_t *ctx = NULL;
    char name[256] = "";
    char *p = NULL;
    char host[256] = "", myhost[256];
    int mae = -1;

    LC_EXPECT(lc,
              LC_PEEK(lc, this, xlator_t, name, p) == 0 &&
                  lc_read_str(lc, p, name, sizeof(name)) == 0 && name[0],
              NULL, "xlator_t.name (offset 0) of %p: \"%s\", expected a name",
              (void *)this, name);

    LC_EXPECT(lc,
              LC_PEEK(lc, this, xlator_t, ctx, ctx) == 0 && ctx != NULL &&
                  lc_read(lc, ctx, host, 1) == 0,
              NULL,
              "xlator_t.ctx (offset %zu) of %s: %p%s, expected a readable "
              "glusterfs_ctx_t",
              LC_OFF(xlator_t, ctx), name, (void *)ctx,
              ctx == global_ctx ? " (== global_ctx)" : "");
    lc->ctx = ctx;

    /* Early field: the list libglusterfs links every mem pool into. */
    LC_EXPECT(lc,
              lc_list_ok(lc,
                         LC_FIELD_ADDR(ctx, glusterfs_ctx_t, mempool_list)),
              NULL,
              "glusterfs_ctx_t.mempool_list (offset %zu): expected a linked "
              "list_head",
              LC_OFF(glusterfs_ctx_t, mempool_list));

    /* Late field: glusterfs_ctx_new() fills it with gethostname(). */
    LC_EXPECT(lc,
              LC_PEEK(lc, ctx, glusterfs_ctx_t, hostname, p) == 0 &&
                  lc_read_str(lc, p, host, sizeof(host)) == 0,
              NULL,
              "glusterfs_ctx_t.hostname (offset %zu): \"%s\", expected a "
              "host name",
              LC_OFF(glusterfs_ctx_t, hostname), host);
    if (gethostname(myhost, sizeof(myhost)) == 0 &&
        strncmp(host, myhost, sizeof(host)) != 0)
        lc_note(lc, "note: ctx->hostname \"%s\" != gethostname() \"%s\"",
                host, myhost);

    LC_EXPECT(lc,
              LC_PEEK(lc, ctx, glusterfs_ctx_t, mem_acct_enable, mae) == 0 &&
                  (mae == 0 || mae == 1),
              NULL,
              "glusterfs_ctx_t.mem_acct_enable (offset %zu): %d, expected 0 "
              "or 1",
              LC_OFF(glusterfs_ctx_t, mem_acct_enable), mae);
    lc->mem_acct = (mae == 0 || mae == 1) ? mae : -1;

    /* Memory pools glusterfsd/gfapi created with mem_pool_new(): names and
     * sizeof_type values come from libglusterfs's side of the build. */
    {
        struct mem_pool *mp = NULL;

        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, dict_pool, mp) == 0 && mp &&
            lc_check_pool(lc, "glusterfs_ctx_t.dict_pool",
                          LC_OFF(glusterfs_ctx_t, dict_pool), mp, "dict_t",
                          sizeof(dict_t)))
            return -1;
        mp = NULL;
        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, dict_data_pool, mp) == 0 &&
            mp &&
            lc_check_pool(lc, "glusterfs_ctx_t.dict_data_pool",
                          LC_OFF(glusterfs_ctx_t, dict_data_pool), mp,
                          "data_t", sizeof(data_t)))
            return -1;
#if GLUPY_GF_MAJOR == 10
        mp = NULL;
        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, dict_pair_pool, mp) == 0 &&
            mp &&
            lc_check_pool(lc, "glusterfs_ctx_t.dict_pair_pool",
                          LC_OFF(glusterfs_ctx_t, dict_pair_pool), mp,
                          "data_pair_t", sizeof(data_pair_t)))
            return -1;
        mp = NULL;
        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, stub_mem_pool, mp) == 0 && mp &&
            lc_check_pool(lc, "glusterfs_ctx_t.stub_mem_pool",
                          LC_OFF(glusterfs_ctx_t, stub_mem_pool), mp,
                          "call_stub_t", sizeof(call_stub_t)))
            return -1;
#endif
    }

    /* call_pool_t: frame_mem_pool/stack_mem_pool lie behind a gf_atomic_t
     * and a gf_lock_t, so finding them also verifies those two sizes. */
    {
        call_pool_t *cp = NULL;
        struct mem_pool *mp = NULL;
        int bad = lc->nfail;

        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, pool, cp) || !cp) {
            lc_note(lc, "skipped: ctx->pool (call_pool_t) not set");
        } else {
            LC_PEEK(lc, cp, call_pool_t, frame_mem_pool, mp);
            if (lc_check_pool(lc, "call_pool_t.frame_mem_pool",
                              LC_OFF(call_pool_t, frame_mem_pool), mp,
                              "call_frame_t", sizeof(call_frame_t)))
                return -1;
            mp = NULL;
            LC_PEEK(lc, cp, call_pool_t, stack_mem_pool, mp);
            if (lc_check_pool(lc, "call_pool_t.stack_mem_pool",
                              LC_OFF(call_pool_t, stack_mem_pool), mp,
                              "call_stack_t", sizeof(call_stack_t)))
                return -1;
            LC_EXPECT(lc,
                      lc_list_ok(lc,
                                 LC_FIELD_ADDR(cp, call_pool_t, all_frames)),
                      NULL,
                      "call_pool_t.all_frames (offset 0): expected a linked "
                      "list_head");
            lc->pool_ok = (lc->nfail == bad);
        }
    }

    /* iobuf pool: iobuf_pool_new() sets default_page_size = 128 KiB. */
    {
        struct iobuf_pool *ip = NULL;
        size_t dps = 0;
        long hs;
        int bad = lc->nfail;

        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, iobuf_pool, ip) || !ip) {
            lc_note(lc, "skipped: ctx->iobuf_pool not set");
        } else {
            LC_EXPECT(lc,
                      LC_PEEK(lc, ip, struct iobuf_pool, default_page_size,
                              dps) == 0 &&
                          dps == 128 * GF_UNIT_KB,
                      NULL,
                      "struct iobuf_pool.default_page_size (offset %zu) of "
                      "glusterfs_ctx_t.iobuf_pool (offset %zu): %zu, "
                      "expected %d",
                      LC_OFF(struct iobuf_pool, default_page_size),
                      LC_OFF(glusterfs_ctx_t, iobuf_pool), dps,
                      (int)(128 * GF_UNIT_KB));
            LC_EXPECT(lc,
                      lc_list_ok(lc, LC_FIELD_ADDR(ip, struct iobuf_pool,
                                                   arenas[0])),
                      NULL,
                      "struct iobuf_pool.arenas[0] (offset %zu): expected a "
                      "linked list_head",
                      LC_OFF(struct iobuf_pool, arenas[0]));
            hs = lc_hdr_size(lc, ip);
            if (hs >= 0)
                LC_EXPECT(lc, (size_t)hs == sizeof(struct iobuf_pool), NULL,
                          "sizeof(struct iobuf_pool): %zu here, %ld in "
                          "libglusterfs (its allocation header)",
                          sizeof(struct iobuf_pool), hs);
            lc->iobuf_ok = (lc->nfail == bad);
        }
    }

    /* syncenv (syncenv_new()): proc[i].env back-pointers lie behind the
     * tsan/asan/valgrind-dependent members of struct syncproc. */
    {
        struct syncenv *env = NULL;
        struct syncenv *penv = NULL;
        int pmin = -1, pmax = -1;
        size_t ss = 0;
        long hs;

        if (LC_PEEK(lc, ctx, glusterfs_ctx_t, env, env) || !env) {
            lc_note(lc, "skipped: ctx->env (syncenv) not set");
        } else {
            LC_EXPECT(lc,
                      lc_read(lc, &env->proc[0].env, &penv, sizeof(penv)) ==
                              0 &&
                          penv == env,
                      LC_SYNC_CAUSE,
                      "struct syncenv.proc[0].env (offset %zu): %p, expected "
                      "the syncenv %p",
                      (size_t)((char *)&env->proc[0].env - (char *)env),
                      (void *)penv, (void *)env);
            LC_EXPECT(lc,
                      LC_PEEK(lc, env, struct syncenv, procmin, pmin) == 0 &&
                          LC_PEEK(lc, env, struct syncenv, procmax, pmax) ==
                              0 &&
                          LC_PEEK(lc, env, struct syncenv, stacksize, ss) ==
                              0 &&
                          pmin >= 1 && pmin <= pmax &&
                          pmax <= SYNCENV_PROC_MAX && ss >= 16384 &&
                          ss <= (1UL << 30),
                      LC_SYNC_CAUSE,
                      "struct syncenv.procmin/procmax/stacksize (offsets "
                      "%zu/%zu/%zu): %d/%d/%zu, expected 1..%d/..%d/a stack "
                      "size",
                      LC_OFF(struct syncenv, procmin),
                      LC_OFF(struct syncenv, procmax),
                      LC_OFF(struct syncenv, stacksize), pmin, pmax, ss,
                      SYNCENV_PROC_MAX, SYNCENV_PROC_MAX);
            hs = lc_hdr_size(lc, env);
            if (hs >= 0)
                LC_EXPECT(lc, (size_t)hs == sizeof(struct syncenv),
                          LC_SYNC_CAUSE,
                          "sizeof(struct syncenv): %zu here, %ld in "
                          "libglusterfs (its allocation header)",
                          sizeof(struct syncenv), hs);
        }
    }
    return 0;
}

/* libglusterfs's allocation header in front of GF_MALLOC()ed memory
 * (struct mem_header grows by a list_head with DEBUG). */
static int
lc_check_mem_header(struct lc *lc)
{
    struct mem_header h;
    char *p;
    int ok;
    size_t libsize = 0;

    if (lc->mem_acct != 1) {
        lc_note(lc, "skipped: memory accounting is off (struct mem_header "
                    "not checked)");
        return 0;
    }
    p = GF_MALLOC(37, gf_common_mt_char);
    if (!p) {
        lc_note(lc, "skipped: GF_MALLOC failed");
        return 0;
    }
    memset(&h, 0, sizeof(h));
    ok = lc_read(lc, p - GF_MEM_HEADER_SIZE, &h, sizeof(h)) == 0 &&
         h.magic == GF_MEM_HEADER_MAGIC && h.size == 37 &&
         h.type == gf_common_mt_char && lc_trailer_ok(lc, p + 37);
    if (!ok) {
        /* Where did the library put it?  In both variants `size` is at
         * offset 8 and `magic` at offset 20 of the header. */
        size_t hs;

        for (hs = 16; hs <= 128; hs += 8) {
            gf_mem_magic_t m = 0;
            size_t sz = 0;

            if (lc_read(lc, p - hs + 20, &m, sizeof(m)) == 0 &&
                m == GF_MEM_HEADER_MAGIC &&
                lc_read(lc, p - hs + 8, &sz, sizeof(sz)) == 0 && sz == 37) {
                libsize = hs;
                break;
            }
        }
    }
    GF_FREE(p);
    if (ok || libsize)
        LC_EXPECT(lc, ok, NULL,
                  "struct mem_header (GF_MEM_HEADER_SIZE): %zu bytes here, "
                  "%zu in libglusterfs's allocator (DEBUG is %s here)",
                  (size_t)GF_MEM_HEADER_SIZE,
                  ok ? (size_t)GF_MEM_HEADER_SIZE : libsize, lc_debug_state);
    else
        LC_EXPECT(lc, ok, NULL,
                  "struct mem_header (GF_MEM_HEADER_SIZE %zu): not found in "
                  "front of GF_MALLOC()ed memory although "
                  "glusterfs_ctx_t.mem_acct_enable is 1",
                  (size_t)GF_MEM_HEADER_SIZE);
    return 0;
}

/* Fields of xlator_t, in particular those behind its stats[] array of
 * gf_atomic_t. */
static int
lc_check_xlator(struct lc *lc)
{
    xlator_t *this = lc->this;
    glusterfs_graph_t *graph = NULL;
    void *dlh = NULL;
    long hs;

    hs = lc_hdr_size(lc, this);
    if (hs >= 0)
        LC_EXPECT(lc, (size_t)hs == sizeof(xlator_t), NULL,
                  "sizeof(xlator_t): %zu here, %ld in libglusterfs (the "
                  "allocation header of this xlator)",
                  sizeof(xlator_t), hs);

    /* graph: set by the volfile parser (graph.y) for every xlator. */
    LC_EXPECT(lc, LC_PEEK(lc, this, xlator_t, graph, graph) == 0, NULL,
              "xlator_t.graph (offset %zu): expected a readable field",
              LC_OFF(xlator_t, graph));
    if (!graph) {
        lc_note(lc, "skipped: xlator_t.graph is NULL (not created from a "
                    "volfile); inode/fd checks need it");
    } else {
        xlator_t *trav = NULL;
        int xl_count = -1, n = 0, found = 0;
        uint32_t xl_id = 0;

        if (lc_read(lc, LC_FIELD_ADDR(graph, glusterfs_graph_t, first),
                    &trav, sizeof(trav)) == 0) {
            while (trav && n++ < 100000) {
                if (trav == this) {
                    found = 1;
                    break;
                }
                if (LC_PEEK(lc, trav, xlator_t, next, trav))
                    break;
            }
        }
        LC_EXPECT(lc, found, NULL,
                  "xlator_t.graph (offset %zu): %p, expected the graph whose "
                  "xlator list contains this xlator",
                  LC_OFF(xlator_t, graph), (void *)graph);
        LC_PEEK(lc, graph, glusterfs_graph_t, xl_count, xl_count);
        LC_EXPECT(lc,
                  LC_PEEK(lc, this, xlator_t, xl_id, xl_id) == 0 &&
                      xl_count >= 0 && xl_id <= (uint32_t)xl_count,
                  NULL,
                  "xlator_t.xl_id (offset %zu): %u, expected at most the "
                  "graph's xl_count %d",
                  LC_OFF(xlator_t, xl_id), xl_id, xl_count);
        lc->graph_ok = found;
    }

    /* children/parents (early fields: sanity of `this` itself). */
    {
        xlator_list_t *l = NULL;
        int n = 0;

        LC_PEEK(lc, this, xlator_t, children, l);
        while (l && n++ < 1024) {
            xlator_t *child = NULL;
            xlator_list_t *pl = NULL;
            int found = 0, m = 0;

            if (LC_PEEK(lc, l, xlator_list_t, xlator, child))
                break;
            LC_PEEK(lc, child, xlator_t, parents, pl);
            while (pl && m++ < 1024) {
                xlator_t *par = NULL;

                if (LC_PEEK(lc, pl, xlator_list_t, xlator, par))
                    break;
                if (par == this) {
                    found = 1;
                    break;
                }
                if (LC_PEEK(lc, pl, xlator_list_t, next, pl))
                    break;
            }
            LC_EXPECT(lc, found, NULL,
                      "xlator_t.children/parents (offsets %zu/%zu): child "
                      "%p, expected to list this xlator as a parent",
                      LC_OFF(xlator_t, children), LC_OFF(xlator_t, parents),
                      (void *)child);
            if (LC_PEEK(lc, l, xlator_list_t, next, l))
                break;
        }
    }

    /* Fields that xlator_dynload_apis() copies from the xlator's own
     * xlator_api; most of them are at the very end of xlator_t. */
    LC_PEEK(lc, this, xlator_t, dlhandle, dlh);
    {
        struct xlator_fops *ptf = NULL;

        LC_EXPECT(lc,
                  LC_PEEK(lc, this, xlator_t, pass_through_fops, ptf) == 0,
                  NULL,
                  "xlator_t.pass_through_fops (offset %zu): expected a "
                  "readable field",
                  LC_OFF(xlator_t, pass_through_fops));
        if (dlh) {
            xlator_api_t *api = dlsym(dlh, "xlator_api");
            struct xlator_fops *fops = NULL;
            char *ident = NULL;
            gf_category_t cat = 0;
            uint32_t opv[GF_MAX_RELEASES];
            struct xlator_fops *eptf;

            if (!api) {
                lc_note(lc, "skipped: no xlator_api in this xlator's .so");
                goto flags;
            }
            eptf = api->pass_through_fops ? api->pass_through_fops
                                          : default_fops;
            LC_EXPECT(lc,
                      LC_PEEK(lc, this, xlator_t, fops, fops) == 0 &&
                          fops == api->fops,
                      NULL,
                      "xlator_t.fops (offset %zu): %p, expected "
                      "xlator_api.fops %p",
                      LC_OFF(xlator_t, fops), (void *)fops,
                      (void *)api->fops);
            LC_EXPECT(lc, ptf == eptf, NULL,
                      "xlator_t.pass_through_fops (offset %zu): %p, expected "
                      "%p",
                      LC_OFF(xlator_t, pass_through_fops), (void *)ptf,
                      (void *)eptf);
            LC_EXPECT(lc,
                      LC_PEEK(lc, this, xlator_t, identifier, ident) == 0 &&
                          ident == api->identifier,
                      NULL,
                      "xlator_t.identifier (offset %zu): %p, expected "
                      "xlator_api.identifier %p",
                      LC_OFF(xlator_t, identifier), (void *)ident,
                      (void *)api->identifier);
            LC_EXPECT(lc,
                      LC_PEEK(lc, this, xlator_t, category, cat) == 0 &&
                          cat == api->category,
                      NULL,
                      "xlator_t.category (offset %zu): %d, expected "
                      "xlator_api.category %d",
                      LC_OFF(xlator_t, category), (int)cat,
                      (int)api->category);
            memset(opv, 0xff, sizeof(opv));
            LC_EXPECT(lc,
                      LC_PEEK(lc, this, xlator_t, op_version, opv) == 0 &&
                          memcmp(opv, api->op_version, sizeof(opv)) == 0,
                      NULL,
                      "xlator_t.op_version (offset %zu): {%u,...}, expected "
                      "xlator_api.op_version {%u,...}",
                      LC_OFF(xlator_t, op_version), opv[0],
                      api->op_version[0]);
#if GLUPY_GF_MAJOR == 10
            {
                uint32_t fl = 0, id = 0;

                LC_EXPECT(lc,
                          LC_PEEK(lc, this, xlator_t, flags, fl) == 0 &&
                              LC_PEEK(lc, this, xlator_t, id, id) == 0 &&
                              fl == api->flags && id == api->xlator_id,
                          NULL,
                          "xlator_t.flags/id (offsets %zu/%zu): %u/%u, "
                          "expected xlator_api's %u/%u",
                          LC_OFF(xlator_t, flags), LC_OFF(xlator_t, id), fl,
                          id, api->flags, api->xlator_id);
            }
#endif
        } else {
            /* "global" xlators: fill_defaults() sets default_fops; the
             * static global_xlator leaves it NULL. */
            LC_EXPECT(lc, ptf == NULL || ptf == default_fops, NULL,
                      "xlator_t.pass_through_fops (offset %zu): %p, expected "
                      "NULL or default_fops %p",
                      LC_OFF(xlator_t, pass_through_fops), (void *)ptf,
                      (void *)default_fops);
        }
    }

flags:
    /* 0/1 flags at the end of xlator_t. */
    {
        uint32_t cs = 9, cc = 9, nd = 9, pd = 9;

        LC_EXPECT(lc,
                  LC_PEEK(lc, this, xlator_t, cleanup_starting, cs) == 0 &&
                      LC_PEEK(lc, this, xlator_t, call_cleanup, cc) == 0 &&
                      LC_PEEK(lc, this, xlator_t, notify_down, nd) == 0 &&
                      LC_PEEK(lc, this, xlator_t, parent_down, pd) == 0 &&
                      cs <= 1 && cc <= 1 && nd <= 1 && pd <= 1,
                  NULL,
                  "xlator_t.cleanup_starting/call_cleanup/notify_down/"
                  "parent_down (offsets %zu/%zu/%zu/%zu): %u/%u/%u/%u, "
                  "expected 0/1 flags",
                  LC_OFF(xlator_t, cleanup_starting),
                  LC_OFF(xlator_t, call_cleanup),
                  LC_OFF(xlator_t, notify_down),
                  LC_OFF(xlator_t, parent_down), cs, cc, nd, pd);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * 3. Objects created here by libglusterfs functions.
 * ---------------------------------------------------------------------- */

#define LC_KEY1 "glupy-layout-check"
#define LC_KEY2 "glupy-layout-static"

static uint32_t
lc_dict_count(struct lc *lc, dict_t *d)
{
    __typeof__(d->count) c = (__typeof__(d->count))-1;

    if (LC_PEEK(lc, d, dict_t, count, c))
        return (uint32_t)-1;
    return (uint32_t)c;
}

/* Checks on a dict_t from dict_new(); the caller releases it. */
static int
lc_check_dict_fields(struct lc *lc, dict_t *d, int *marker, int *refd)
{
    int64_t rc = -1;
    int64_t drc = -1;
    uint32_t count, totkvlen = 0;
    data_pair_t *pair = NULL, *pair2 = NULL;
    data_t *val = NULL, *val2 = NULL;
    char key[64] = "", str[16] = "";
    char *dp = NULL;
    gf_dict_data_type_t dt = 0;
    uint32_t len = 0;

    LC_EXPECT(lc, LC_PEEK_ATOMIC(lc, d, dict_t, refcount, rc) == 0 && rc == 1,
              NULL,
              "dict_t.refcount (offset %zu) after dict_new(): %lld, "
              "expected 1",
              LC_OFF(dict_t, refcount), (long long)rc);
    dict_ref(d);
    *refd = 1;
    LC_EXPECT(lc, LC_PEEK_ATOMIC(lc, d, dict_t, refcount, rc) == 0 && rc == 2,
              NULL,
              "dict_t.refcount (offset %zu) after dict_ref(): %lld, "
              "expected 2",
              LC_OFF(dict_t, refcount), (long long)rc);
    count = lc_dict_count(lc, d);
    LC_EXPECT(lc, count == 0, NULL,
              "dict_t.count (offset %zu) of a new dict: %u, expected 0",
              LC_OFF(dict_t, count), count);
#if GLUPY_GF_MAJOR == 10
    {
        int32_t hsz = -1;
        data_pair_t **members = NULL;

        LC_EXPECT(lc,
                  LC_PEEK(lc, d, dict_t, hash_size, hsz) == 0 && hsz == 1 &&
                      LC_PEEK(lc, d, dict_t, members, members) == 0 &&
                      (const void *)members ==
                          LC_FIELD_ADDR(d, dict_t, members_internal),
                  NULL,
                  "dict_t.hash_size/members (offsets %zu/%zu): %d/%p, "
                  "expected 1/&dict->members_internal (offset %zu) = %p",
                  LC_OFF(dict_t, hash_size), LC_OFF(dict_t, members), hsz,
                  (void *)members, LC_OFF(dict_t, members_internal),
                  LC_FIELD_ADDR(d, dict_t, members_internal));
    }
#endif

    LC_EXPECT(lc, dict_set_int32(d, LC_KEY1, 4242) == 0, NULL,
              "dict_set_int32(): expected success");
    LC_EXPECT(lc,
              LC_PEEK(lc, d, dict_t, totkvlen, totkvlen) == 0 &&
                  totkvlen == sizeof(LC_KEY1) + 5,
              NULL,
              "dict_t.totkvlen (offset %zu) after one dict_set: %u, "
              "expected %zu",
              LC_OFF(dict_t, totkvlen), totkvlen, sizeof(LC_KEY1) + 5);
    count = lc_dict_count(lc, d);
    LC_EXPECT(lc, count == 1, NULL,
              "dict_t.count (offset %zu) after one dict_set: %u, expected 1",
              LC_OFF(dict_t, count), count);
    LC_PEEK(lc, d, dict_t, members_list, pair);
#if GLUPY_GF_MAJOR == 10
    /* The first pair of a dict is the embedded free_pair. */
    LC_EXPECT(lc, (const void *)pair == LC_FIELD_ADDR(d, dict_t, free_pair),
              NULL,
              "dict_t.members_list (offset %zu): %p, expected "
              "&dict->free_pair (offset %zu) = %p",
              LC_OFF(dict_t, members_list), (void *)pair,
              LC_OFF(dict_t, free_pair), LC_FIELD_ADDR(d, dict_t, free_pair));
    {
        char *kp = NULL;

        LC_EXPECT(lc,
                  LC_PEEK(lc, pair, data_pair_t, key, kp) == 0 &&
                      lc_read_str(lc, kp, key, sizeof(key)) == 0 &&
                      strcmp(key, LC_KEY1) == 0,
                  NULL,
                  "data_pair_t.key (offset %zu): \"%s\", expected \"%s\"",
                  LC_OFF(data_pair_t, key), key, LC_KEY1);
    }
#else
    LC_EXPECT(lc,
              pair &&
                  lc_read_str(lc,
                              (const char *)LC_FIELD_ADDR(pair, data_pair_t,
                                                          key),
                              key, sizeof(key)) == 0 &&
                  strcmp(key, LC_KEY1) == 0,
              NULL, "data_pair_t.key (offset %zu): \"%s\", expected \"%s\"",
              LC_OFF(data_pair_t, key), key, LC_KEY1);
#endif
    LC_EXPECT(lc,
              LC_PEEK(lc, pair, data_pair_t, value, val) == 0 &&
                  val == dict_get(d, LC_KEY1),
              NULL,
              "data_pair_t.value (offset %zu): %p, expected %p (dict_get())",
              LC_OFF(data_pair_t, value), (void *)val,
              (void *)dict_get(d, LC_KEY1));

    /* data_t written by data_from_int32(): "4242", len 5, type INT. */
    LC_EXPECT(lc,
              LC_PEEK(lc, val, data_t, data, dp) == 0 &&
                  lc_read_str(lc, dp, str, sizeof(str)) == 0 &&
                  strcmp(str, "4242") == 0,
              NULL, "data_t.data (offset %zu): \"%s\", expected \"4242\"",
              LC_OFF(data_t, data), str);
    LC_EXPECT(lc,
              LC_PEEK(lc, val, data_t, len, len) == 0 && len == 5 &&
                  LC_PEEK(lc, val, data_t, data_type, dt) == 0 &&
                  dt == GF_DATA_TYPE_INT,
              NULL,
              "data_t.len/data_type (offsets %zu/%zu): %u/%d, expected "
              "5/%d",
              LC_OFF(data_t, len), LC_OFF(data_t, data_type), len, (int)dt,
              (int)GF_DATA_TYPE_INT);
    LC_EXPECT(lc,
              LC_PEEK_ATOMIC(lc, val, data_t, refcount, drc) == 0 && drc == 1,
              NULL,
              "data_t.refcount (offset %zu): %lld, expected 1 (held by the "
              "dict)",
              LC_OFF(data_t, refcount), (long long)drc);

    /* A second pair (10.x: from dict_pair_pool, 11.x: GF_MALLOC) with a
     * static pointer value (data_t.is_static, the last field). */
    LC_EXPECT(lc, dict_set_static_ptr(d, LC_KEY2, marker) == 0, NULL,
              "dict_set_static_ptr(): expected success");
    LC_PEEK(lc, d, dict_t, members_list, pair2);
    LC_EXPECT(lc,
              LC_PEEK(lc, pair2, data_pair_t, value, val2) == 0 &&
                  val2 == dict_get(d, LC_KEY2) && val2 != NULL,
              NULL,
              "dict_t.members_list (offset %zu): %p, expected the pair set "
              "last",
              LC_OFF(dict_t, members_list), (void *)pair2);
    {
        __typeof__(val2->is_static) st = 0;
        void *sp = NULL;

        LC_EXPECT(lc,
                  LC_PEEK(lc, val2, data_t, is_static, st) == 0 && st == 1 &&
                      LC_PEEK(lc, val2, data_t, data, sp) == 0 &&
                      sp == marker,
                  NULL,
                  "data_t.is_static/data (offsets %zu/%zu): %d/%p, expected "
                  "1/%p",
                  LC_OFF(data_t, is_static), LC_OFF(data_t, data), (int)st,
                  sp, (void *)marker);
    }
    {
        data_pair_t *nx = NULL;

        LC_EXPECT(lc,
                  LC_PEEK(lc, pair2, data_pair_t, next, nx) == 0 && nx == pair,
                  NULL, "data_pair_t.next (offset %zu): %p, expected %p",
                  LC_OFF(data_pair_t, next), (void *)nx, (void *)pair);
    }
#if GLUPY_GF_MAJOR == 10
    {
        data_pair_t *pv = NULL;

        LC_EXPECT(lc,
                  LC_PEEK(lc, pair, data_pair_t, prev, pv) == 0 && pv == pair2,
                  NULL, "data_pair_t.prev (offset %zu): %p, expected %p",
                  LC_OFF(data_pair_t, prev), (void *)pv, (void *)pair2);
    }
#else
    {
        long hs = lc_hdr_size(lc, pair2);

        if (hs >= 0)
            LC_EXPECT(lc, (size_t)hs == sizeof(data_pair_t) + sizeof(LC_KEY2),
                      NULL,
                      "sizeof(data_pair_t): %zu here, %ld in libglusterfs "
                      "minus the %zu-byte key",
                      sizeof(data_pair_t), hs - (long)sizeof(LC_KEY2),
                      sizeof(LC_KEY2));
    }
#endif
    return 0;
}

static int
lc_check_dict(struct lc *lc)
{
    static int marker;
    dict_t *d = dict_new();
    int ret, refd = 0;

    if (!d) {
        lc_note(lc, "skipped: dict_new() failed");
        return 0;
    }
    ret = lc_check_dict_fields(lc, d, &marker, &refd);
    /* dict_unref() is a library function: safe whatever our view is. */
    if (refd)
        dict_unref(d);
    dict_unref(d);
    return ret;
}

/* fd_create()/fd_bind()/fd_anonymous() on the root inode. */
static int
lc_check_fd(struct lc *lc, inode_t *root)
{
    fd_t *fd;
    uint64_t pid = 0;
    inode_t *fi = NULL;
    int64_t rc = -1;
    int xl_count = -1, gcount = -1;
    __typeof__(((fd_t *)0)->anonymous) anon = 1;
    glusterfs_graph_t *graph = NULL;
    int ok;

    fd = fd_create(root, (pid_t)getpid());
    if (!fd) {
        lc_note(lc, "skipped: fd_create() failed");
        return 0;
    }
    LC_PEEK(lc, lc->this, xlator_t, graph, graph);
    LC_PEEK(lc, graph, glusterfs_graph_t, xl_count, gcount);
    ok = LC_PEEK(lc, fd, fd_t, pid, pid) == 0 &&
         pid == (uint64_t)getpid() && LC_PEEK(lc, fd, fd_t, inode, fi) == 0 &&
         fi == root && LC_PEEK_ATOMIC(lc, fd, fd_t, refcount, rc) == 0 &&
         rc == 1 && LC_PEEK(lc, fd, fd_t, xl_count, xl_count) == 0 &&
         xl_count == gcount + 1 &&
         LC_PEEK(lc, fd, fd_t, anonymous, anon) == 0 && anon == 0 &&
         lc_list_empty_ok(lc, LC_FIELD_ADDR(fd, fd_t, inode_list));
    lc_result(lc, ok, NULL,
              "fd_t.pid/inode/refcount/xl_count/anonymous (offsets "
              "%zu/%zu/%zu/%zu/%zu) after fd_create(): %llu/%p/%lld/%d/%d, "
              "expected %d/%p/1/%d/0",
              LC_OFF(fd_t, pid), LC_OFF(fd_t, inode), LC_OFF(fd_t, refcount),
              LC_OFF(fd_t, xl_count), LC_OFF(fd_t, anonymous),
              (unsigned long long)pid, (void *)fi, (long long)rc, xl_count,
              (int)anon, (int)getpid(), (void *)root, gcount + 1);
    if (!ok) {
        fd_unref(fd);
        return lc_stop(lc) ? -1 : 0;
    }

    fd_bind(fd);
    {
        struct list_head fl = {0};
        uint32_t fdc = 0;

        ok = lc_read(lc, LC_FIELD_ADDR(root, inode_t, fd_list), &fl,
                     sizeof(fl)) == 0 &&
             (const void *)fl.next == LC_FIELD_ADDR(fd, fd_t, inode_list) &&
             LC_PEEK(lc, root, inode_t, fd_count, fdc) == 0 && fdc == 1;
        fd_unref(fd);
        LC_EXPECT(lc, ok, NULL,
                  "inode_t.fd_list/fd_count (offsets %zu/%zu) after "
                  "fd_bind(): %p/%u, expected &fd->inode_list (offset %zu) "
                  "= %p/1",
                  LC_OFF(inode_t, fd_list), LC_OFF(inode_t, fd_count),
                  (void *)fl.next, fdc, LC_OFF(fd_t, inode_list),
                  LC_FIELD_ADDR(fd, fd_t, inode_list));
    }

    fd = fd_anonymous(root);
    if (fd) {
        int32_t fl = 0;

        anon = 0;
        ok = LC_PEEK(lc, fd, fd_t, anonymous, anon) == 0 && anon == 1 &&
             LC_PEEK(lc, fd, fd_t, flags, fl) == 0 && fl == GF_ANON_FD_FLAGS;
        fd_unref(fd);
        LC_EXPECT(lc, ok, NULL,
                  "fd_t.anonymous/flags (offsets %zu/%zu) after "
                  "fd_anonymous(): %d/%#x, expected 1/%#x",
                  LC_OFF(fd_t, anonymous), LC_OFF(fd_t, flags), (int)anon, fl,
                  GF_ANON_FD_FLAGS);
    }
    return 0;
}

/* inode_table_new() and its root inode. */
static int
lc_check_inode_fields(struct lc *lc, inode_table_t *itable)
{
    inode_t *root = NULL;
    inode_table_t *rt = NULL;
    xlator_t *txl = NULL;
    unsigned char gfid[16] = {0};
    static const unsigned char root_gfid[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 1};
    ia_type_t iat = IA_INVAL;
    uint32_t ref = 99;
    char name[300] = "", expect[300] = "";
    char *np = NULL;
    int ok, ret = 0;

    LC_EXPECT(lc,
              LC_PEEK(lc, itable, inode_table_t, xl, txl) == 0 &&
                  txl == lc->this,
              NULL,
              "inode_table_t.xl (offset %zu): %p, expected the xlator %p",
              LC_OFF(inode_table_t, xl), (void *)txl, (void *)lc->this);
    {
        char *xn = NULL;
        char xname[256];

        if (LC_PEEK(lc, lc->this, xlator_t, name, xn) == 0 &&
            lc_read_str(lc, xn, xname, sizeof(xname)) == 0)
            snprintf(expect, sizeof(expect), "%s/inode", xname);
    }
    LC_EXPECT(lc,
              LC_PEEK(lc, itable, inode_table_t, name, np) == 0 &&
                  lc_read_str(lc, np, name, sizeof(name)) == 0 &&
                  strcmp(name, expect) == 0,
              NULL,
              "inode_table_t.name (offset %zu): \"%s\", expected \"%s\"",
              LC_OFF(inode_table_t, name), name, expect);
#if GLUPY_GF_MAJOR == 10
    {
        struct mem_pool *mp = NULL;

        LC_PEEK(lc, itable, inode_table_t, inode_pool, mp);
        if (lc_check_pool(lc, "inode_table_t.inode_pool",
                          LC_OFF(inode_table_t, inode_pool), mp, "inode_t",
                          sizeof(inode_t)))
            return -1;
        mp = NULL;
        LC_PEEK(lc, itable, inode_table_t, dentry_pool, mp);
        if (lc_check_pool(lc, "inode_table_t.dentry_pool",
                          LC_OFF(inode_table_t, dentry_pool), mp, "dentry_t",
                          sizeof(dentry_t)))
            return -1;
    }
#endif
    {
        struct mem_pool *mp = NULL;
        long hs;

        LC_PEEK(lc, itable, inode_table_t, fd_mem_pool, mp);
        if (lc_check_pool(lc, "inode_table_t.fd_mem_pool",
                          LC_OFF(inode_table_t, fd_mem_pool), mp, "fd_t",
                          sizeof(fd_t)))
            return -1;
        hs = lc_hdr_size(lc, itable);
        if (hs >= 0)
            LC_EXPECT(lc, (size_t)hs == sizeof(inode_table_t), NULL,
                      "sizeof(inode_table_t): %zu here, %ld in libglusterfs "
                      "(its allocation header)",
                      sizeof(inode_table_t), hs);
    }

    /* Root inode made by __inode_table_init_root(). */
    LC_EXPECT(lc,
              LC_PEEK(lc, itable, inode_table_t, root, root) == 0 && root &&
                  LC_PEEK(lc, root, inode_t, table, rt) == 0 && rt == itable,
              NULL,
              "inode_table_t.root (offset %zu) %p: inode_t.table %p, "
              "expected the table %p",
              LC_OFF(inode_table_t, root), (void *)root, (void *)rt,
              (void *)itable);
    LC_EXPECT(lc,
              lc_read(lc, LC_FIELD_ADDR(root, inode_t, gfid), gfid,
                      sizeof(gfid)) == 0 &&
                  memcmp(gfid, root_gfid, 16) == 0 &&
                  LC_PEEK(lc, root, inode_t, ia_type, iat) == 0 &&
                  iat == IA_IFDIR,
              NULL,
              "root inode_t.gfid/ia_type (offsets %zu/%zu): ..%02x%02x/%d, "
              "expected the root gfid ..0001/IA_IFDIR (%d)",
              LC_OFF(inode_t, gfid), LC_OFF(inode_t, ia_type), gfid[14],
              gfid[15], (int)iat, (int)IA_IFDIR);
    LC_EXPECT(lc,
              LC_PEEK(lc, root, inode_t, ref, ref) == 0 && ref == 0 &&
                  lc_list_ok(lc, LC_FIELD_ADDR(root, inode_t, list)),
              NULL,
              "root inode_t.ref/list (offsets %zu/%zu): %u, expected 0 and "
              "linked (on the lru list)",
              LC_OFF(inode_t, ref), LC_OFF(inode_t, list), ref);
    {
        struct list_head lru = {0};

        LC_EXPECT(lc,
                  LC_PEEK(lc, itable, inode_table_t, lru, lru) == 0 &&
                      (const void *)lru.next ==
                          LC_FIELD_ADDR(root, inode_t, list),
                  NULL,
                  "inode_table_t.lru (offset %zu): %p, expected the root "
                  "inode's inode_t.list (offset %zu)",
                  LC_OFF(inode_table_t, lru), (void *)lru.next,
                  LC_OFF(inode_t, list));
    }

    inode_ref(root);
    {
        struct list_head act = {0};
        __typeof__(root->in_lru_list) inlru = 1;

        ok = LC_PEEK(lc, root, inode_t, ref, ref) == 0 && ref == 1 &&
             LC_PEEK(lc, root, inode_t, in_lru_list, inlru) == 0 &&
             inlru == 0 &&
             LC_PEEK(lc, itable, inode_table_t, active, act) == 0 &&
             (const void *)act.next == LC_FIELD_ADDR(root, inode_t, list);
        lc_result(lc, ok, NULL,
                  "inode_t.ref/in_lru_list (offsets %zu/%zu) after "
                  "inode_ref(root): %u/%d, expected 1/0 and on "
                  "inode_table_t.active (offset %zu)",
                  LC_OFF(inode_t, ref), LC_OFF(inode_t, in_lru_list), ref,
                  (int)inlru, LC_OFF(inode_table_t, active));
        if (ok)
            ret = lc_check_fd(lc, root);
        else if (lc_stop(lc))
            ret = -1;
        inode_unref(root);
    }
    return ret;
}

static int
lc_check_inode(struct lc *lc)
{
    inode_table_t *itable;
    int ret;

    if (!lc->graph_ok) {
        /* inode_table_new() and fd_create() dereference xl->graph. */
        lc_note(lc, "skipped: inode/fd checks (xlator_t.graph not verified)");
        return 0;
    }
    itable = inode_table_new(0, lc->this, 31, 64);
    if (!itable) {
        lc_note(lc, "skipped: inode_table_new() failed");
        return 0;
    }
    ret = lc_check_inode_fields(lc, itable);
    inode_table_destroy(itable);
    return ret;
}

/* create_frame() on the ctx's call pool; STACK_DESTROY only if verified. */
static int
lc_check_frame(struct lc *lc)
{
    call_pool_t *cp = NULL;
    call_frame_t *frame;
    call_stack_t *st = NULL;
    xlator_t *fthis = NULL;
    call_pool_t *spool = NULL;
    glusterfs_ctx_t *sctx = NULL;
    struct list_head mf = {0};
    int64_t before = -1, after = -1;
    int bad = lc->nfail;

    if (!lc->pool_ok) {
        lc_note(lc, "skipped: call frame checks (call_pool_t not verified)");
        return 0;
    }
    LC_PEEK(lc, lc->ctx, glusterfs_ctx_t, pool, cp);
    LC_PEEK_ATOMIC(lc, cp, call_pool_t, total_count, before);
    frame = create_frame(lc->this, cp);
    if (!frame) {
        lc_note(lc, "skipped: create_frame() failed");
        return 0;
    }
    LC_PEEK_ATOMIC(lc, cp, call_pool_t, total_count, after);
    if (LC_PEEK(lc, frame, call_frame_t, this, fthis) || fthis != lc->this ||
        LC_PEEK(lc, frame, call_frame_t, root, st) || !st)
        lc_result(lc, 0, NULL,
                  "call_frame_t.this/root (offsets %zu/%zu) after "
                  "create_frame(this): %p/%p, expected %p/a call_stack_t",
                  LC_OFF(call_frame_t, this), LC_OFF(call_frame_t, root),
                  (void *)fthis, (void *)st, (void *)lc->this);
    else if (LC_PEEK(lc, st, call_stack_t, pool, spool) || spool != cp ||
             LC_PEEK(lc, st, call_stack_t, ctx, sctx) || sctx != lc->ctx)
        lc_result(lc, 0, NULL,
                  "call_stack_t.pool/ctx (offsets %zu/%zu): %p/%p, expected "
                  "%p/%p",
                  LC_OFF(call_stack_t, pool), LC_OFF(call_stack_t, ctx),
                  (void *)spool, (void *)sctx, (void *)cp, (void *)lc->ctx);
    else if (LC_PEEK(lc, st, call_stack_t, myframes, mf) ||
             (const void *)mf.next !=
                 LC_FIELD_ADDR(frame, call_frame_t, frames) ||
             !lc_list_ok(lc, LC_FIELD_ADDR(frame, call_frame_t, frames)))
        lc_result(lc, 0, NULL,
                  "call_stack_t.myframes (offset %zu): %p, expected "
                  "&frame->frames (offset %zu)",
                  LC_OFF(call_stack_t, myframes), (void *)mf.next,
                  LC_OFF(call_frame_t, frames));
    else if (after < before + 1)
        lc_result(lc, 0, NULL,
                  "call_pool_t.total_count (offset %zu) over create_frame(): "
                  "%lld -> %lld, expected an increase",
                  LC_OFF(call_pool_t, total_count), (long long)before,
                  (long long)after);
    else {
        /* mem_get() puts a pooled_obj_hdr_t in front of each object. */
        const pooled_obj_hdr_t *fh = (const pooled_obj_hdr_t *)frame - 1;
        const pooled_obj_hdr_t *sh = (const pooled_obj_hdr_t *)st - 1;
        unsigned long fmagic = 0, smagic = 0;
        struct mem_pool *fmp = NULL, *smp = NULL, *fhp = NULL, *shp = NULL;
        int ok;

        LC_PEEK(lc, cp, call_pool_t, frame_mem_pool, fmp);
        LC_PEEK(lc, cp, call_pool_t, stack_mem_pool, smp);
        ok = LC_PEEK(lc, fh, pooled_obj_hdr_t, magic, fmagic) == 0 &&
             LC_PEEK(lc, fh, pooled_obj_hdr_t, pool, fhp) == 0 &&
             LC_PEEK(lc, sh, pooled_obj_hdr_t, magic, smagic) == 0 &&
             LC_PEEK(lc, sh, pooled_obj_hdr_t, pool, shp) == 0 &&
             fmagic == GF_MEM_HEADER_MAGIC && fhp == fmp &&
             smagic == GF_MEM_HEADER_MAGIC && shp == smp;
        lc_result(lc, ok, NULL,
                  "create_frame(): call_frame_t.this/root, call_stack_t."
                  "pool/ctx/myframes (offsets %zu/%zu/%zu/%zu/%zu), "
                  "call_pool_t.total_count, objects from call_pool_t."
                  "frame_mem_pool/stack_mem_pool: %s",
                  LC_OFF(call_frame_t, this), LC_OFF(call_frame_t, root),
                  LC_OFF(call_stack_t, pool), LC_OFF(call_stack_t, ctx),
                  LC_OFF(call_stack_t, myframes),
                  ok ? "as written by libglusterfs" : "pool headers differ");
    }
    if (lc->nfail == bad) {
        STACK_DESTROY(st);
    } else {
        /* Our view of the frame is wrong: the inline STACK_DESTROY could
         * corrupt memory.  Leak one frame instead (the xlator is not going
         * to start anyway). */
        lc_note(lc, "note: one call frame left allocated rather than "
                    "destroyed through a mismatched layout");
        if (lc_stop(lc))
            return -1;
    }
    return 0;
}

/* iobref_new()/iobuf_get2()/iobref_add(). */
static int
lc_check_iobuf(struct lc *lc)
{
    struct iobuf_pool *ip = NULL;
    struct iobref *iobref;
    struct iobuf *iob, *big;
    int64_t rc = -1;
    int alloc = -1, used = -1;
    size_t ps = 0;
    void *ptr = NULL;
    struct iobuf **slots = NULL;
    struct iobuf *slot0 = NULL;
    long hs = -1;
    int ok, ret = 0;

    if (!lc->iobuf_ok) {
        lc_note(lc, "skipped: iobuf checks (iobuf_pool not verified)");
        return 0;
    }
    LC_PEEK(lc, lc->ctx, glusterfs_ctx_t, iobuf_pool, ip);

    iobref = iobref_new();
    if (!iobref) {
        lc_note(lc, "skipped: iobref_new() failed");
        return 0;
    }
    iob = iobuf_get2(ip, 4096);        /* small: GF_MALLOC'ed */
    big = iobuf_get2(ip, 256 * 1024); /* from an arena */

    ok = LC_PEEK_ATOMIC(lc, iobref, struct iobref, ref, rc) == 0 && rc == 1 &&
         LC_PEEK(lc, iobref, struct iobref, allocated, alloc) == 0 &&
         alloc == 16 && LC_PEEK(lc, iobref, struct iobref, used, used) == 0 &&
         used == 0;
    if (ok) {
        hs = lc_hdr_size(lc, iobref);
        ok = hs < 0 || (size_t)hs == sizeof(struct iobref);
    }
    lc_result(lc, ok, NULL,
              "struct iobref.ref/allocated/used (offsets %zu/%zu/%zu) after "
              "iobref_new(): %lld/%d/%d, expected 1/16/0; sizeof %zu here, "
              "%ld in its allocation header",
              LC_OFF(struct iobref, ref), LC_OFF(struct iobref, allocated),
              LC_OFF(struct iobref, used), (long long)rc, alloc, used,
              sizeof(struct iobref), hs);
    if (!ok) {
        ret = -1;
        goto out;
    }

    if (iob) {
        rc = -1;
        ok = LC_PEEK(lc, iob, struct iobuf, page_size, ps) == 0 &&
             ps == (size_t)iobuf_size(iob) && ps == 4096 &&
             LC_PEEK_ATOMIC(lc, iob, struct iobuf, ref, rc) == 0 && rc == 1 &&
             LC_PEEK(lc, iob, struct iobuf, ptr, ptr) == 0 && ptr != NULL;
        lc_result(lc, ok, NULL,
                  "struct iobuf.page_size/ref/ptr (offsets %zu/%zu/%zu) of "
                  "iobuf_get2(4096): %zu/%lld/%p, expected 4096 (iobuf_size() "
                  "= %zu)/1/a buffer",
                  LC_OFF(struct iobuf, page_size), LC_OFF(struct iobuf, ref),
                  LC_OFF(struct iobuf, ptr), ps, (long long)rc, ptr,
                  (size_t)iobuf_size(iob));
        if (!ok) {
            ret = -1;
            goto out;
        }
        if (iobref_add(iobref, iob) == 0) {
            used = -1;
            rc = -1;
            ok = LC_PEEK(lc, iobref, struct iobref, used, used) == 0 &&
                 used == 1 &&
                 LC_PEEK(lc, iobref, struct iobref, iobrefs, slots) == 0 &&
                 lc_read(lc, slots, &slot0, sizeof(slot0)) == 0 &&
                 slot0 == iob &&
                 LC_PEEK_ATOMIC(lc, iob, struct iobuf, ref, rc) == 0 &&
                 rc == 2 && (size_t)iobref_size(iobref) == 4096;
            lc_result(lc, ok, NULL,
                      "struct iobref.used/iobrefs[0] (offsets %zu/%zu) and "
                      "iobuf.ref after iobref_add(): %d/%p/%lld, expected "
                      "1/%p/2 (and iobref_size() 4096)",
                      LC_OFF(struct iobref, used),
                      LC_OFF(struct iobref, iobrefs), used, (void *)slot0,
                      (long long)rc, (void *)iob);
            if (!ok) {
                ret = -1;
                goto out;
            }
        }
    }
    if (big) {
        struct iobuf_arena *arena = NULL;
        size_t aps = 0, asz = 0;
        char *base = NULL;
        struct iobuf_pool *aip = NULL;

        ps = 0;
        ptr = NULL;
        ok = LC_PEEK(lc, big, struct iobuf, page_size, ps) == 0 &&
             ps == (size_t)iobuf_size(big) &&
             LC_PEEK(lc, big, struct iobuf, iobuf_arena, arena) == 0 &&
             arena &&
             LC_PEEK(lc, arena, struct iobuf_arena, page_size, aps) == 0 &&
             aps == ps &&
             LC_PEEK(lc, arena, struct iobuf_arena, iobuf_pool, aip) == 0 &&
             aip == ip &&
             LC_PEEK(lc, arena, struct iobuf_arena, mem_base, base) == 0 &&
             LC_PEEK(lc, arena, struct iobuf_arena, arena_size, asz) == 0 &&
             LC_PEEK(lc, big, struct iobuf, ptr, ptr) == 0 &&
             (char *)ptr >= base && (char *)ptr + ps <= base + asz;
        lc_result(lc, ok, NULL,
                  "struct iobuf.page_size/iobuf_arena/ptr (offsets "
                  "%zu/%zu/%zu) of iobuf_get2(256 KiB): %zu/%p/%p, expected "
                  "iobuf_size() %zu / an arena of that page size / a buffer "
                  "in the arena",
                  LC_OFF(struct iobuf, page_size),
                  LC_OFF(struct iobuf, iobuf_arena), LC_OFF(struct iobuf, ptr),
                  ps, (void *)arena, ptr, (size_t)iobuf_size(big));
        if (!ok)
            ret = -1;
    }
out:
    /* All library functions: safe whatever our view of the structs is. */
    if (big)
        iobuf_unref(big);
    if (iob)
        iobuf_unref(iob);
    iobref_unref(iobref);
    if (ret && lc_stop(lc))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */

int
glupy_layout_check_ex(xlator_t *this, char *errbuf, size_t errlen,
                      unsigned flags, glupy_lc_report_fn report, void *arg)
{
    struct lc lc;
    xlator_t *old_this;

    memset(&lc, 0, sizeof(lc));
    lc.this = this;
    lc.errbuf = errbuf;
    lc.errlen = errlen;
    lc.flags = flags;
    lc.report = report;
    lc.arg = arg;
    lc.mem_acct = -1;
    lc.pfd[0] = lc.pfd[1] = -1;
    if (errbuf && errlen)
        errbuf[0] = '\0';

    if (!this) {
        lc_result(&lc, 0, "a bug in the caller", "xlator: NULL");
        return -1;
    }
    if (pipe2(lc.pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
        lc_result(&lc, 0, "no file descriptors left",
                  "the layout check could not run (pipe2: %s)",
                  strerror(errno));
        return -1;
    }

    /* Library allocations during the check are made on behalf of `this`
     * (libglusterfs reads THIS->ctx with its own layout). */
    old_this = THIS;
    THIS = this;

    lc_check_symbols(&lc);
    if (!lc_stop(&lc))
        lc_check_ctx(&lc);
    if (!lc_stop(&lc))
        lc_check_mem_header(&lc);
    if (!lc_stop(&lc))
        lc_check_xlator(&lc);
    if (!lc_stop(&lc))
        lc_check_dict(&lc);
    if (!lc_stop(&lc))
        lc_check_inode(&lc);
    if (!lc_stop(&lc))
        lc_check_frame(&lc);
    if (!lc_stop(&lc))
        lc_check_iobuf(&lc);

    THIS = old_this;
    close(lc.pfd[0]);
    close(lc.pfd[1]);
    return lc.nfail ? -1 : 0;
}

int
glupy_layout_check(xlator_t *this, char *errbuf, size_t errlen)
{
    return glupy_layout_check_ex(this, errbuf, errlen, 0, NULL, NULL);
}
