/*
 * layout_probe.c - build-time check that glupy's compilation flags give the
 * same GlusterFS structure layouts as the installed libglusterfs.
 *
 *   layout_probe [-v] [-k]
 *     -v  print every individual check
 *     -k  keep going after the first mismatch (diagnostics)
 *   GLUPY_PROBE_LOG=FILE  write libglusterfs's own log (debug level) to FILE
 *
 * Prints "layout ok" and exits 0, or prints the mismatch and exits 1
 * (2: the probe could not set up a GlusterFS context at all).
 *
 * Set-up is done entirely by library code, so that a mismatched build
 * cannot corrupt anything before the check runs: glfs_new() (libgfapi)
 * creates a complete glusterfs_ctx_t exactly like a client process does
 * (memory pools, call pool, iobuf pool, syncenv; it becomes global_ctx and
 * THIS->ctx), glusterfs_graph_construct() parses a three-xlator volfile
 * and glusterfs_graph_prepare() attaches the graph to that ctx.  The
 * middle xlator (type debug/trace, loaded from GlusterFS's xlator
 * directory through its xlator_api like any real xlator, or the built-in
 * type "global" if trace.so is not installed) is handed to glupy_layout_check() as `this`.  Nothing
 * is initialised (no init(), no network, no threads beyond those glfs_new
 * starts).
 */
#ifndef GLUPY_EXTERNAL_GLUSTER_CONFIG
#include "gluster-config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glusterfs/xlator.h>
#include <glusterfs/globals.h>

#include "layout_check.h"

/* From libgfapi (api/glfs.h); declared here to keep that header's own
 * requirements out of this file. */
struct glfs;
extern struct glfs *
glfs_new(const char *volname);

#define PROBE_XL "glupy-layout-probe"

static void
report(int ok, const char *line, void *arg)
{
    (void)arg;
    printf("%s %s\n", ok == 1 ? "ok  " : (ok == 0 ? "FAIL" : "--  "), line);
}

static xlator_t *
probe_graph(glusterfs_ctx_t *ctx, const char *type)
{
    char vol[1024];
    FILE *fp;
    glusterfs_graph_t *graph;

    snprintf(vol, sizeof(vol),
             "volume " PROBE_XL "-child\n"
             "    type global\n"
             "    option glupy-probe on\n"
             "end-volume\n"
             "\n"
             "volume " PROBE_XL "\n"
             "    type %s\n"
             "    subvolumes " PROBE_XL "-child\n"
             "end-volume\n"
             "\n"
             "volume " PROBE_XL "-parent\n"
             "    type global\n"
             "    option glupy-probe on\n"
             "    subvolumes " PROBE_XL "\n"
             "end-volume\n",
             type);
    fp = fmemopen(vol, strlen(vol), "r");
    if (!fp)
        return NULL;
    graph = glusterfs_graph_construct(fp);
    fclose(fp);
    if (!graph)
        return NULL;
    /* sets xl->ctx for every xlator, graph->top, graph->id */
    if (glusterfs_graph_prepare(graph, ctx, NULL) != 0)
        return NULL;
    /* glusterfs_graph_t has no configuration-dependent member before
     * `first`; the name lookup itself is done by libglusterfs. */
    return xlator_search_by_name(graph->first, PROBE_XL);
}

int
main(int argc, char **argv)
{
    unsigned flags = 0;
    int verbose = 0;
    int opt;
    char err[1024];
    glusterfs_ctx_t *ctx;
    xlator_t *xl;
    int rc;

    while ((opt = getopt(argc, argv, "vk")) != -1) {
        switch (opt) {
            case 'v':
                verbose = 1;
                break;
            case 'k':
                flags |= GLUPY_LC_KEEP_GOING;
                break;
            default:
                fprintf(stderr, "usage: %s [-v] [-k]\n", argv[0]);
                return 2;
        }
    }

    if (!glfs_new(PROBE_XL)) {
        fprintf(stderr, "layout_probe: glfs_new() failed: cannot set up a "
                        "GlusterFS context\n");
        return 2;
    }
    ctx = global_ctx; /* set by libglusterfs (glfs_init_global_ctx) */
    if (!ctx) {
        fprintf(stderr, "layout_probe: libglusterfs has no global_ctx\n");
        return 2;
    }

    /* GLUPY_PROBE_LOG=FILE: send libglusterfs's log there (debugging). */
    if (getenv("GLUPY_PROBE_LOG")) {
        gf_log_init(ctx, getenv("GLUPY_PROBE_LOG"), "layout_probe");
        gf_log_set_loglevel(ctx, GF_LOG_DEBUG);
    }

    /* A failed parse leaves the volfile parser unusable (its static
     * `curr` stays set), so find out first whether debug/trace loads, on a
     * scratch xlator far larger than any xlator_t (xlator_set_type() writes
     * into it with the library's layout, whatever ours is). */
    {
        void *scratch = calloc(1, 1 << 16);
        const char *type = "global";

        if (scratch && xlator_set_type(scratch, "debug/trace") == 0)
            type = "debug/trace";
        /* scratch is deliberately not freed: it owns a dlopen() handle */
        xl = probe_graph(ctx, type);
        if (verbose)
            printf("--   probe xlator \"%s\" of type %s\n", PROBE_XL, type);
    }
    if (!xl) {
        fprintf(stderr, "layout_probe: cannot build a probe graph\n");
        return 2;
    }

    rc = glupy_layout_check_ex(xl, err, sizeof(err), flags,
                               verbose ? report : NULL, NULL);
    if (rc == 0) {
        printf("layout ok\n");
    } else {
        fflush(stdout);
        fprintf(stderr, "layout_probe: %s\n", err);
    }
    fflush(stdout);
    fflush(stderr);
    /* Leave without tearing down the gfapi context (glfs_fini() expects a
     * fully started volume). */
    _exit(rc == 0 ? 0 : 1);
}
