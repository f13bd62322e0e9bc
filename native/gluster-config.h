/*
 * gluster-config.h - the configure results of the GlusterFS build whose
 * headers glupy compiles against.
 *
 * GlusterFS installs its headers (/usr/include/glusterfs) but not the
 * config.h they were compiled with.  Several structure layouts depend on
 * config.h macros (gf_atomic_t grows a mutex without HAVE_ATOMIC_BUILTINS /
 * HAVE_SYNC_BUILTINS, which moves most fields of xlator_t, dict_t, inode_t,
 * fd_t, iobuf ...; DEBUG changes struct mem_header / mem_pool / mem_acct_rec;
 * HAVE_TSAN_API / HAVE_VALGRIND_API / HAVE_ASAN_API change struct synctask /
 * syncproc / syncenv; GF_DISABLE_MEMPOOL changes struct mem_pool).  An
 * object compiled with different values still links and loads, then
 * corrupts memory.
 *
 * Include this file FIRST in every glupy C file that includes a GlusterFS
 * header (before any system header; Python.h may come before it, since
 * pyconfig.h defines _GNU_SOURCE and _FILE_OFFSET_BITS the same way).
 *
 * The values below are those of Debian 12's glusterfs 10.3-5 build
 * (configure.ac defaults on x86_64/arm64 Linux with gcc), checked against
 * the installed library: exported symbols (nm -D) and, at run time, by
 * glupy_layout_check() (layout_check.c), which compares the layouts this
 * compilation sees with objects that libglusterfs itself created.  The same
 * values are right for GlusterFS 11.x and the devel branch built with their
 * default configure options (see VERSIONS.md).
 *
 * Every macro is only defined when not already defined, so a build for a
 * differently configured GlusterFS can override a value with -D/-U... on
 * the command line; the run-time layout check catches a wrong choice.
 */
#ifndef GLUPY_GLUSTER_CONFIG_H
#define GLUPY_GLUSTER_CONFIG_H

/* ---- feature-test macros: must be seen before the first system header -- */

/* GlusterFS compiles everything with -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE
 * (GF_CPPDEFINES in configure.ac); its headers use off64_t, pthread_setname_np,
 * O_DIRECT ...  Values match pyconfig.h so Python.h can be included too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

/* If a system header was already included without _GNU_SOURCE, glibc has
 * fixed its feature set and defining _GNU_SOURCE now has no effect. */
#if defined(_FEATURES_H) && !defined(__USE_GNU)
#error "gluster-config.h must be included before any system header (or after Python.h, which defines _GNU_SOURCE)"
#endif
#if defined(_FEATURES_H) && (!defined(__USE_FILE_OFFSET64) && __SIZEOF_LONG__ < 8)
#error "gluster-config.h must be included before any system header: _FILE_OFFSET_BITS=64 came too late"
#endif

/* ---- host OS ------------------------------------------------------------ */

#if !defined(__linux__)
#error "glupy only supports GlusterFS on Linux"
#endif
/* The headers use typeof, statement expressions and named variadic macros. */
#if defined(__STRICT_ANSI__)
#error "GlusterFS headers need GNU C: compile with -std=gnu11 (or gcc's default), not -std=c11/c99"
#endif
#ifndef GF_LINUX_HOST_OS
#define GF_LINUX_HOST_OS 1 /* configure: GF_HOST_OS for linux*; selects compat.h branch */
#endif

/* ---- sizes (AC_CHECK_SIZEOF in configure.ac) ---------------------------- */

/* Plain integer literals, written exactly as pyconfig.h writes them, so that
 * Python.h may be included before or after this file without redefinition
 * warnings. */
#ifndef SIZEOF_SHORT
#if __SIZEOF_SHORT__ == 2
#define SIZEOF_SHORT 2
#else
#error "unexpected sizeof(short)"
#endif
#endif
#ifndef SIZEOF_INT
#if __SIZEOF_INT__ == 4
#define SIZEOF_INT 4
#else
#error "unexpected sizeof(int)"
#endif
#endif
/* atomic.h: "#if SIZEOF_LONG >= 8" and GF_ATOMIC_TYPE(SIZEOF_LONG, intptr):
 * must be defined (undefined => compile error in atomic.h; 4 on a 64-bit
 * target => mutex-based 64-bit atomics, i.e. the wrong layout). */
#ifndef SIZEOF_LONG
#if __SIZEOF_LONG__ == 8
#define SIZEOF_LONG 8
#elif __SIZEOF_LONG__ == 4
#define SIZEOF_LONG 4
#else
#error "unexpected sizeof(long)"
#endif
#endif
#ifndef SIZEOF_LONG_LONG
#if __SIZEOF_LONG_LONG__ == 8
#define SIZEOF_LONG_LONG 8
#else
#error "unexpected sizeof(long long)"
#endif
#endif
/* Used by dict.h on the devel branch (after 11.1) instead of __WORDSIZE.
 * Debian 12's 32-bit ports still have a 32-bit time_t.  layout_check.c
 * asserts sizeof(time_t) == SIZEOF_TIME_T. */
#ifndef SIZEOF_TIME_T
#if __SIZEOF_LONG__ == 8 || (defined(_TIME_BITS) && _TIME_BITS == 64)
#define SIZEOF_TIME_T 8
#else
#define SIZEOF_TIME_T 4
#endif
#endif

/* ---- layout-relevant: must match libglusterfs --------------------------- */

/* configure: AC_TRY_LINK __atomic_load_n / __sync_synchronize.  Both are
 * defined by every gcc/clang build of GlusterFS; with either one the
 * gf_atomic_*_t types are a bare value, without both they are
 * { gf_lock_t lk; value } (48 bytes instead of 8 on x86_64). */
#ifndef HAVE_ATOMIC_BUILTINS
#define HAVE_ATOMIC_BUILTINS 1
#endif
#ifndef HAVE_SYNC_BUILTINS
#define HAVE_SYNC_BUILTINS 1
#endif

/* DEBUG (configure --enable-debug, or clang on old macOS) changes
 * struct mem_header, mem_acct_rec, mem_pool, gf_io_request and GF_ASSERT.
 * Debian builds without it (libglusterfs.so.0 does not export gf_io_cbk,
 * which only exists in DEBUG builds).  Do not use -DDEBUG for glupy's own
 * debugging: use GLUPY_DEBUG.  For a GlusterFS that really was configured
 * with --enable-debug, build with -DGLUPY_GLUSTERFS_DEBUG_BUILD. */
#if defined(DEBUG) && !defined(GLUPY_GLUSTERFS_DEBUG_BUILD)
#error "DEBUG is defined: it changes GlusterFS structure layouts (mem_header, mem_pool). Use GLUPY_DEBUG for glupy; define GLUPY_GLUSTERFS_DEBUG_BUILD only for a GlusterFS configured with --enable-debug"
#endif
#if defined(GLUPY_GLUSTERFS_DEBUG_BUILD) && !defined(DEBUG)
#define DEBUG 1
#endif

/* Sanitizer / valgrind / cmocka builds of GlusterFS only (configure
 * --enable-asan/--enable-tsan/--enable-valgrind/--enable-cmocka); they change
 * struct mem_pool (GF_DISABLE_MEMPOOL) and synctask/syncproc/syncenv.
 * Debian's build has none of them (libglusterfs.so.0 exports mem_pools_init,
 * which does not exist with GF_DISABLE_MEMPOOL, and contains no valgrind
 * client requests and no tsan/asan symbols). */
#if defined(GF_DISABLE_MEMPOOL) || defined(HAVE_TSAN_API) ||                 \
    defined(HAVE_ASAN_API) || defined(HAVE_VALGRIND_API) ||                  \
    defined(UNIT_TESTING)
#ifndef GLUPY_GLUSTERFS_SANITIZER_BUILD
#error "GF_DISABLE_MEMPOOL/HAVE_TSAN_API/HAVE_ASAN_API/HAVE_VALGRIND_API/UNIT_TESTING change GlusterFS layouts; define GLUPY_GLUSTERFS_SANITIZER_BUILD if GlusterFS was really configured that way"
#endif
#endif

/* ---- not layout-relevant, but part of Debian's config.h ----------------- */
/* They select declarations/inline code in compat.h, syscall.h, common-utils.h,
 * events.h, glusterfs-acl.h; the wrong value gives conflicting prototypes or
 * silently different behaviour, not a different layout. */

#ifndef HAVE_ARGP
#define HAVE_ARGP 1 /* compat.h: <argp.h> instead of the bundled "argp.h" */
#endif
#ifndef HAVE_STRNLEN
#define HAVE_STRNLEN 1 /* compat.h: otherwise redeclares strnlen() */
#endif
#ifndef HAVE_LLISTXATTR
#define HAVE_LLISTXATTR 1 /* compat.h: otherwise #defines lgetxattr -> getxattr */
#endif
#ifndef HAVE_LINUX_FALLOC_H
#define HAVE_LINUX_FALLOC_H 1 /* compat.h: <linux/falloc.h> */
#endif
#ifndef HAVE_SYS_XATTR_H
#define HAVE_SYS_XATTR_H 1 /* only tested on BSD */
#endif
#ifndef HAVE_STRUCT_STAT_ST_ATIM_TV_NSEC
#define HAVE_STRUCT_STAT_ST_ATIM_TV_NSEC 1 /* compat.h: ST_ATIM_NSEC() etc. */
#endif
#ifndef HAVE_UTIMENSAT
#define HAVE_UTIMENSAT 1 /* syscall.h: sys_utimensat() (exported) */
#endif
#ifndef HAVE_FUTIMENS
#define HAVE_FUTIMENS 1 /* syscall.h: sys_futimens() (exported) */
#endif
/* HAVE_FUTIMES: configure only checks futimes() when futimens() is missing;
 * sys_futimes is not exported by Debian's libglusterfs: leave undefined. */
#ifndef HAVE_PTHREAD_SETNAME_NP_TWO_ARGS
#define HAVE_PTHREAD_SETNAME_NP_TWO_ARGS 1 /* glibc; __gf_thread_set_name() */
#endif
#ifndef HAVE_STATIC_ASSERT
#define HAVE_STATIC_ASSERT 1 /* GF_STATIC_ASSERT() becomes _Static_assert */
#endif
/* configure requires <sys/acl.h> on Linux; glusterfs-acl.h and api/glfs.h
 * then include it (package libacl1-dev).  Only claim it when present. */
#if !defined(HAVE_SYS_ACL_H) && defined(__has_include)
#if __has_include(<sys/acl.h>)
#define HAVE_SYS_ACL_H 1
#endif
#endif
/* events enabled (default): libglusterfs exports _gf_event(); without this
 * events.h replaces gf_event() by a no-op. */
#ifndef USE_EVENTS
#define USE_EVENTS 1
#endif
/* Left undefined on purpose (as in Debian's config.h):
 *   URCU_OLD          only for liburcu 0.6/0.7 (Debian 12 has 0.13)
 *   IPV6_DEFAULT      --with-ipv6-default (no rpcbind6 symbols in libgfrpc)
 *   HAVE_RPC_RPC_H    only checked when libtirpc is missing (GF_PRI_RPC_*)
 *   HAVE_ENDIAN_H     never set by configure; compat.h includes <endian.h>
 *   HAVE_PTHREAD_SET_NAME_NP / _THREE_ARGS, THREAD_UNSAFE_BASENAME/DIRNAME,
 *   HAVE_STRUCT_STAT_ST_ATIMESPEC_TV_NSEC: BSD/Darwin/Solaris only
 *   RELAX_POISONING   if undefined, compat.h poisons system()/popen()/
 *                     mkostemp() for all code after it (GlusterFS wants its
 *                     run.h API); define it before this file if glupy code
 *                     must call them.
 * REFCOUNT_NEEDS_LOCK (10.x refcount.h) is computed from the compiler/arch
 * inside the header itself, not by configure. */

#endif /* GLUPY_GLUSTER_CONFIG_H */
