/*
 * layout_check.h - verify at run time that the GlusterFS structure layouts
 * this object was compiled with agree with the running libglusterfs.
 *
 * See LAYOUT.md.  Call glupy_layout_check() first thing in the xlator's
 * init() and refuse to start when it returns -1; layout_probe runs the
 * same check at build time.
 */
#ifndef GLUPY_LAYOUT_CHECK_H
#define GLUPY_LAYOUT_CHECK_H

/* GLUPY_EXTERNAL_GLUSTER_CONFIG: the compiler command line supplies the
 * GlusterFS configuration macros itself.  Only for the mismatch tests
 * (LAYOUT.md); normal builds always use gluster-config.h. */
#ifndef GLUPY_EXTERNAL_GLUSTER_CONFIG
#include "gluster-config.h"
#endif

#include <stddef.h>
#include <glusterfs/xlator.h>

/*
 * GlusterFS version of the headers being compiled against.  There is no
 * version macro; globals.h (included by xlator.h) has op-version macros:
 *   10.x:   #define GD_OP_VERSION_10_0, no GD_OP_VERSION_11_0
 *   11.x:   #define GD_OP_VERSION_11_0 as well
 *   devel after 11.1: op-versions are an enum built by the function-like
 *           macro GD_OP_VERSION3() (and dict.h #includes "config.h").
 */
#if defined(GD_OP_VERSION3)
#define GLUPY_GF_MAJOR 11
#define GLUPY_GF_DEVEL 1
#elif defined(GD_OP_VERSION_11_0)
#define GLUPY_GF_MAJOR 11
#elif defined(GD_OP_VERSION_10_0)
#define GLUPY_GF_MAJOR 10
#else
#error "GlusterFS headers older than 10.0 are not supported"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Returns 0 when the layouts agree.  Returns -1 and writes a one-line
 * message to errbuf (naming the structure/field that disagrees and the
 * likely cause) otherwise.  @this must be an xlator created by libglusterfs
 * (the xlator being initialised); the check temporarily sets THIS = this.
 * It only reads memory through a fault-safe path, creates objects only with
 * libglusterfs functions and frees everything it created; it never takes a
 * GlusterFS lock through this object's view of a structure before that
 * structure's layout has been verified.
 */
int
glupy_layout_check(xlator_t *this, char *errbuf, size_t errlen);

/* Keep checking after a failure (read-only checks continue; anything that
 * would use an unverified layout is skipped).  For diagnostics. */
#define GLUPY_LC_KEEP_GOING 0x1u

/* Called once per check: ok is 1 (passed), 0 (failed) or -1 (skipped/note). */
typedef void (*glupy_lc_report_fn)(int ok, const char *line, void *arg);

int
glupy_layout_check_ex(xlator_t *this, char *errbuf, size_t errlen,
                      unsigned flags, glupy_lc_report_fn report, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* GLUPY_LAYOUT_CHECK_H */
