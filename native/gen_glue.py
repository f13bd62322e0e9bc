#!/usr/bin/env python3
"""Generate the bridge's per-FOP C glue from glupy's FOP table.

For every FOP in src/glupy/fop_table.py this writes:

* ``gp_fop_NAME``: the entry point GlusterFS calls; copies the arguments
  (``gp_hold_NAME``) and queues the FOP for one of the bridge's workers;
* ``gp_run_NAME``: on the worker, converts the arguments and hands the FOP to
  Python (gp_dispatch);
* ``gp_wind_NAME``: converts Python arguments and winds to a child;
* ``gp_cbk_NAME``: copies a child's reply (``gp_hold_cbk_NAME``) and queues it
  for a worker, where ``gp_run_cbk_NAME`` converts it into a Python reply object;
* ``gp_unwind_NAME``: converts a Python reply and unwinds to the caller;
* ``gp_tail_NAME``: a handler returned its FOP's wind unawaited: winds it on the
  caller's frame, the child's reply going back to the caller in C;
* ``gp_obs_fop_NAME``, ``gp_obs_cbk_NAME``: an observed FOP (glupy.observer) wound
  and unwound in C, with copies of its arguments and reply queued for the observer
  thread, where ``gp_observe_NAME`` converts them and calls the observer;

plus the tables the hand-written bridge uses, and compile-time assertions that the
FOP and event numbers in the table match the GlusterFS headers being compiled against.

Usage: gen_glue.py OUTPUT.c
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys
from string import Template

HERE = pathlib.Path(__file__).resolve().parent


def load_table():
    path = HERE.parent / "src" / "glupy" / "fop_table.py"
    spec = importlib.util.spec_from_file_location("fop_table", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fop_table"] = mod
    spec.loader.exec_module(mod)
    return mod


T = load_table()

# Everything the generator knows of a kind is in its fop_table.Kind (to_py, to_c,
# hold, on_error, py_default): adding a kind touches the table and its converters
# in native/types.c, nothing here. What stays here is the shape of GlusterFS's
# calls: a "data" argument is two C parameters (vector, count) with its "iobref"
# elsewhere in the list.
K = dict(T.KINDS)


def c_params(args, prefix):
    """(declarations, names) of the C parameters for an argument list."""
    decls, names = [], []
    for a in args:
        v = f"{prefix}{a.name}"
        if a.kind == "data":
            decls += [f"struct iovec *{v}_vector", f"int32_t {v}_count"]
            names += [f"{v}_vector", f"{v}_count"]
        else:
            decls.append(f"{K[a.kind].ctype} {v}")
            names.append(v)
    return decls, names


def iobref_of(args, prefix):
    for a in args:
        if a.kind == "iobref":
            return f"{prefix}{a.name}"
    return "NULL"


def py_from_c(a, args, prefix, held=None, fop="-1"):
    """The C expression making argument a's Python object. With `held` (the name of a
    C flag), a value the worker holds its own copy of is taken over when the kind
    can (a location: a loc_copy and a loc_wipe per FOP saved). `fop`: the FOP whose
    argument it is (a location remembers it, see gp_loc_check)."""
    v = f"{prefix}{a.name}"
    k = K[a.kind]
    make = (k.to_py or f"gp_py_{a.kind}({{v}})").format(v=v, iobref=iobref_of(args, prefix), fop=fop)
    if held and k.to_py_taken:
        return f"({held} ? {k.to_py_taken.format(v=v, fop=fop)} : {make})"
    return make


def error_value(a):
    ctype = K[a.kind].ctype
    return "NULL" if "*" in ctype else "0"


def error_args(args):
    out = []
    for a in args:
        if a.kind == "data":
            out += ["NULL", "0"]
        else:
            out.append(error_value(a))
    return out


def c_from_py(a, src, what, prefix, out):
    """Lines converting Python object `src` into C variable(s) for argument a."""
    decl, fn, style = K[a.kind].to_c
    fn = fn or f"gp_c_{a.kind}"
    v = f"{prefix}{a.name}"
    ctype = K[a.kind].ctype
    if style == "ptr":
        out.append(f"    if ({fn}({src}, &{v}, \"{what}\") < 0) goto fail;")
    elif style == "tmp":
        target = f"&{v}_d" if a.kind == "data" else f"&{v}"
        out.append(f"    if ({fn}({src}, {target}, &tmp, \"{what}\") < 0) goto fail;")
    else:
        out.append(f"    {{ {decl} t_; if ({fn}({src}, &t_, \"{what}\") < 0) goto fail; {v} = ({ctype})t_; }}")


def declare(args, prefix, initial):
    lines = []
    for a in args:
        v = f"{prefix}{a.name}"
        if a.kind == "data":
            lines.append(f"    gp_data {v}_d = {{NULL, 0, NULL}};")
        elif a.kind == "iobref":
            continue
        else:
            lines.append(f"    {K[a.kind].ctype} {v} = {initial(a)};")
    return lines


def later_names(args):
    """The variables a winder converts its arguments into (declare's, prefix a_)."""
    return [f"a_{a.name}_d" if a.kind == "data" else f"a_{a.name}" for a in args if a.kind != "iobref"]


def later_stores(args):
    """Lines moving a winder's converted arguments into its deferred wind (gp_later_NAME).
    A data argument's vector may point into its own gp_data (`one`, gp_c_data): then into
    the record's copy, not the winder's stack."""
    out = []
    for a, v in zip([a for a in args if a.kind != "iobref"], later_names(args)):
        out.append(f"        w->{v} = {v};\n")
        if a.kind == "data":
            out.append(f"        if ({v}.vector == &{v}.one)\n            w->{v}.vector = &w->{v}.one;\n")
    return out


def later_fields(args):
    """Their declarations as fields of a deferred wind (gp_later_NAME)."""
    return [f"gp_data a_{a.name}_d" if a.kind == "data" else f"{K[a.kind].ctype} a_{a.name}"
            for a in args if a.kind != "iobref"]


def call_args(args, prefix):
    """C argument expressions after conversion from Python."""
    data = next((a for a in args if a.kind == "data"), None)
    out = []
    for a in args:
        v = f"{prefix}{a.name}"
        if a.kind == "data":
            out += [f"{v}_d.vector", f"{v}_d.count"]
        elif a.kind == "iobref":
            out.append(f"{prefix}{data.name}_d.iobref")
        else:
            out.append(v)
    return out


# How an argument is held while its FOP (or a child's reply) waits for a worker:
# the copy a call stub would make, in a struct of the FOP's own arguments. A call
# stub holds every FOP's arguments at once (kilobytes, zeroed, and freed on another
# thread: 7,000 instructions, a third of a FOP's cost through the bridge).
#   fop_table.Kind.hold: field declarations, store, the argument passed on, release
# The fixed leading parameters of an entry point and of a callback: (C declaration, name)
FOP_HEAD = (("call_frame_t *frame", "frame"), ("xlator_t *this", "this"))
CBK_HEAD = (("call_frame_t *frame", "frame"), ("void *cookie", "cookie"), ("xlator_t *this", "this"),
            ("int32_t op_ret", "op_ret"), ("int32_t op_errno", "op_errno"))


# Placeholders filled with lines ($fields, $releases, $stores...) carry their own
# line ends, so that an empty one leaves no blank line.
HOLD_TEMPLATE = Template("""\
typedef struct {
    gp_work w;
$fields} gp_held_$name;

static void
gp_release_$name(gp_held_$name *h)
{
$releases    gp_block_free(h, sizeof(*h));
}

static void
gp_resume_$name(gp_work *w)
{
    gp_held_$name *h = (gp_held_$name *)w;
    xlator_t **this_at = &THIS; /* GlusterFS's thread-local THIS, looked up once */
    xlator_t *old_this = *this_at;
    *this_at = h->this;
    gp_run_$name($passed);
    *this_at = old_this;
    gp_release_$name(h);
}

$expire/* A copy of the arguments (NULL: no memory), made on the thread that brought them */
static gp_held_$name *
gp_copy_$name($params)
{
    gp_held_$name *h = gp_block_alloc(sizeof(*h));
    if (!h)
        return NULL;
$stores    return h;
$fail}

/* 0: queued for a worker; -1: not (no memory), run it here */
static int
gp_hold_$name($params)
{
    gp_held_$name *h = gp_copy_$name($names);
    if (!h)
        return -1;
    h->w.run = gp_resume_$name;
$deadline    gp_work_submit(&h->w);
    return 0;
}
""")

# A FOP (not a reply) still queued at its deadline is answered on the timer's thread.
EXPIRE_TEMPLATE = Template("""\
static void
gp_expire_$name(gp_work *w)
{
    gp_held_$name *h = (gp_held_$name *)w;
    gp_failers[$gf](h->frame, ETIMEDOUT);
    gp_release_$name(h);
}

""")


def _lines(lines) -> str:
    return "".join(line + "\n" for line in lines)


def gen_hold(name, head, args, prefix, on_error_only=None, tell_held=False, gf_fop=None) -> str:
    """gp_hold_NAME(head..., args...): copy the arguments and queue a work item; a
    worker runs gp_run_NAME with the copies, then releases them (gp_resume_NAME);
    with tell_held, gp_run_NAME's last argument says so (1), so that it may take
    the copies over, and a FOP still queued at its deadline is answered ETIMEDOUT
    (gp_expire_NAME, on the timer's thread).
    For a reply (on_error_only given), fields not of those kinds are copied only
    when op_ret >= 0: an error reply may carry garbage there."""
    decls, names = c_params(args, prefix)
    stores = [f"    h->{n} = {n};" for _, n in head]
    for a in args:
        store = "    " + K[a.kind].hold.store.format(v=a.name, a=f"{prefix}{a.name}")
        if on_error_only is not None and a.kind not in on_error_only:
            store = "    if (op_ret >= 0) {\n    " + store.replace("\n", "\n    ") + "\n    }"
        stores.append(store)
    passed = ", ".join([f"h->{n}" for _, n in head] + [K[a.kind].hold.passed.format(v=a.name) for a in args])
    return HOLD_TEMPLATE.substitute(
        name=name,
        fields=_lines([f"    {d};" for d, _ in head] + ["    " + K[a.kind].hold.decl.format(v=a.name) for a in args]),
        releases=_lines("    " + K[a.kind].hold.release.format(v=a.name) for a in args if K[a.kind].hold.release),
        passed=passed + (", 1" if tell_held else ""),
        expire=EXPIRE_TEMPLATE.substitute(name=name, gf=gf_fop) if tell_held else "",
        params=", ".join([d for d, _ in head] + decls), names=", ".join([n for _, n in head] + names),
        stores=_lines(stores),
        deadline=("    h->w.expire = gp_expire_%s;\n    h->w.deadline = gp_queue_deadline(this);\n" % name
                  if tell_held else ""),
        fail=(f"fail:\n    gp_release_{name}(h);\n    return NULL;\n"
              if any("goto fail" in K[a.kind].hold.store for a in args) else ""))


# The C of one FOP, as GlusterFS's own generator fills C-shaped templates: $names
# are filled by gen_fop; the per-argument pieces (conversions, holds, checks) are
# made by the functions above and below.
FOP_TEMPLATE = Template("""\
/* The errno an answer of $name goes up with (fop_table.SERVER_SAFE_ERRNO) */
#define GP_ERRNO_$name(frame, op_ret, op_errno) $answer_errno

static int32_t
gp_run_$name(call_frame_t *frame, xlator_t *this, $decls, int held);

$hold
static int32_t
gp_fop_$name(call_frame_t *frame, xlator_t *this, $decls)
{
$before_python\
    if (!gp_on_worker() && gp_hold_$name(frame, this, $names) == 0)
        return 0;
    return gp_run_$name(frame, this, $names, 0);
}

/* The arguments' Python objects into args[] (0), or -1 with an exception set; held:
 * the copies are the worker's own, to be taken over where a kind can. GIL held. */
static int
gp_py_args_$name(PyObject **args, $decls, int held)
{
    return ($convert_args) ? 0 : -1;
}

static int32_t
gp_run_$name(call_frame_t *frame, xlator_t *this, $decls, int held)
{
$expect
    PyObject *args[$n] = {0};
    /* Held arguments (copies of the worker's own): the deadline starts before the GIL
     * is awaited, which another thread may hold for long (a handler in a long C call),
     * and the timer answers the FOP meanwhile. Not with the caller's own arguments: an
     * answer would let the caller free them while they are converted. */
    gp_req *req = held ? gp_req_new(frame, this, $gf, gp_fop_timeout(this), &expect) : NULL;
    PyGILState_STATE gil = gp_gil_acquire();
    int converted = gp_py_args_$name(args, $names, held) == 0;
    if (!converted)
        gp_log_exception(this->name, "$name: converting the arguments");
    gp_later *later = NULL; /* a tail await's wind, sent once the GIL is let go */
    int ok = gp_dispatch(this, frame, req, $gf, converted ? args : NULL, $n, &expect,
                         gil == PyGILState_UNLOCKED ? &later : NULL) == 0;
    for (int i = 0; i < $n; i++)
        Py_XDECREF(args[i]);
    gp_gil_release(gil);
    if (later)
        gp_later_send(later);
    if (!ok)
        STACK_UNWIND_STRICT($name, frame, -1, GP_ERRNO_$name(frame, -1, EIO), $error_reply);
    return 0;
}

static int32_t
gp_run_cbk_$name($cbk_head, $cdecls);

$hold_cbk
/* The reply of a tail await (task.c), unwound to the caller here, in C, if it passes the
 * checks gp_unwind_$name makes of an answer from Python: 0 unwound (or the FOP was
 * answered already, by its deadline); -1 it did not pass (Python gets it, and answers
 * EIO). No GIL. */
static int
gp_fast_$name(gp_req *req, $cbk_head, $cdecls)
{
$fast_checks
    call_frame_t *caller = gp_req_take(req);
    if (caller)
        STACK_UNWIND_STRICT($name, caller, op_ret, GP_ERRNO_$name(caller, op_ret, op_errno), $cnames);
    return 0;
fail:
    return -1;
}

static int32_t
gp_cbk_$name($cbk_head, $cdecls)
{
    gp_req *fast = gp_slot_fast(cookie);
    if (fast && gp_fast_$name(fast, $cbk_passed) == 0) {
        gp_slot_answered(cookie);
        return 0;
    }
    if (!gp_on_worker() && gp_hold_cbk_$name($cbk_passed) == 0)
        return 0;
    return gp_run_cbk_$name($cbk_passed);
}

/* The reply's Python object, or NULL with an exception set. GIL held. */
static PyObject *
gp_py_reply_$name(int32_t op_ret, int32_t op_errno, $cdecls)
{
    PyObject *f[$rn];
$convert_reply
    return gp_make_reply($gf, op_ret, op_errno, f, $rn);
}

static int32_t
gp_run_cbk_$name($cbk_head, $cdecls)
{
    PyGILState_STATE gil = gp_gil_acquire();
    gp_slot_complete(cookie, gp_py_reply_$name(op_ret, op_errno, $cnames));
    gp_gil_release(gil);
    return 0;
}

/* Observed (glupy.observer): the FOP goes to the first child and its reply to the
 * caller in C, at once; copies of both, and of the caller's stack (who asked), go to
 * the observer thread (gp_observe_submit), which shows them to the observer. */
typedef struct {
    gp_work w;
    xlator_t *this;
    call_frame_t *caller;
    gp_held_$name *args;
    gp_held_cbk_$name *reply;
} gp_obs_$name;

static void
gp_obs_free_$name(gp_obs_$name *o)
{
    if (o->args)
        gp_release_$name(o->args);
    if (o->reply)
        gp_release_cbk_$name(o->reply);
    if (o->caller)
        gp_req_wind_destroy(o->caller);
    gp_block_free(o, sizeof(*o));
}

/* A graph torn down (fini) while it waits: dropped unseen, while its objects still exist. */
static void
gp_obs_discard_$name(gp_work *w)
{
    gp_obs_free_$name((gp_obs_$name *)w);
}

/* On the observer thread. */
static void
gp_observe_$name(gp_work *w)
{
    gp_obs_$name *o = (gp_obs_$name *)w;
    gp_held_$name *h = o->args;
    gp_held_cbk_$name *r = o->reply;
    PyObject *args[$n + 1] = {0};
    xlator_t *old_this = THIS;
    THIS = o->this;
    PyGILState_STATE gil = gp_gil_acquire();
    if ((args[$n] = gp_py_reply_$name(r->op_ret, r->op_errno, $reply_held)) &&
        gp_py_args_$name(args, $args_held, 1) == 0)
        gp_observe(o->this, $gf, o->caller, args, $n + 1);
    else
        gp_log_exception(o->this->name, "$name: converting for the observer");
    for (int i = 0; i <= $n; i++)
        Py_XDECREF(args[i]);
    gp_gil_release(gil);
    THIS = old_this;
    gp_obs_free_$name(o);
}

static int32_t
gp_obs_cbk_$name($cbk_head, $cdecls)
{
    gp_obs_$name *o = cookie;
    if (o && !(o->reply = gp_copy_cbk_$name($cbk_passed))) {
        gp_obs_free_$name(o); /* no memory: this one goes unobserved */
        o = NULL;
    }
    STACK_UNWIND_STRICT($name, frame, op_ret, GP_ERRNO_$name(frame, op_ret, op_errno), $cnames);
    if (o && gp_observe_submit(&o->w, o->this, $obs_bytes, 1) < 0)
        gp_obs_free_$name(o); /* the translator's observations waiting are too many: dropped (counted) */
    return 0;
}

static int32_t
gp_obs_fop_$name(call_frame_t *frame, xlator_t *this, $decls)
{
    if (!this->children) { /* an observer on a leaf: there is nobody to pass the FOP to */
        gp_failers[$gf](frame, ENOSYS);
        return 0;
    }
    gp_obs_$name *o = gp_observing(this, $gf) ? gp_block_alloc(sizeof(*o)) : NULL;
    if (o) {
        o->w.run = gp_observe_$name;
        o->w.expire = gp_obs_discard_$name;
        o->this = this;
        if (!(o->args = gp_copy_$name(frame, this, $names)) || !(o->caller = gp_observe_caller(frame))) {
            gp_obs_free_$name(o);
            o = NULL;
        }
    }
    STACK_WIND_COOKIE(frame, gp_obs_cbk_$name, o, FIRST_CHILD(this), FIRST_CHILD(this)->fops->$name, $names);
    return 0;
}

/* Whether a wind of $name to xl would never reach a translator that implements it.
 * GlusterFS's default $name passes it to the first child, and a leaf has none: storage/posix
 * has no namelink, icreate, getspec, getactivelk or setactivelk, and such a wind, through
 * C translators that pass it on (io-threads queues it, then passes it on), crashed the
 * process on a NULL child. So the first-child chain is followed down to the translator
 * that takes the FOP: a glupy one handling it in Python, one of fop_table.ANSWERED_BELOW,
 * or the leaf, if it has the FOP (protocol/client, on a client). The FOPs of
 * fop_table.GLUPY_ONLY only a glupy translator may take (protocol/client would send them
 * to bricks, where they crash). */
static int
gp_unreachable_$name(xlator_t *xl)
{
    for (; xl; xl = xl->children ? xl->children->xlator : NULL) {
        if (xl->fops->$name == gp_fop_$name$answered_below)
            return 0;
        if (!xl->children)
            return $leaf_lacks;
    }
    return 1;
}

/* A tail await's wind, sent once its run has let the GIL go (gp_later_take) */
typedef struct {
    gp_later l;
    call_frame_t *frame;
    xlator_t *child;
    gp_slot *slot;
$later_fields} gp_wound_later_$name;

static void
gp_wind_later_$name(gp_later *l)
{
    gp_wound_later_$name *w = (gp_wound_later_$name *)l;
    STACK_WIND_COOKIE(w->frame, gp_cbk_$name, w->slot, w->child, w->child->fops->$name, $later_call);
}

static PyObject *
gp_wind_$name(call_frame_t *frame, xlator_t *child, PyObject *args, gp_slot *slot)
{
$wind_declare
    gp_tmp tmp = GP_TMP_INIT;
    if (PyTuple_GET_SIZE(args) != $n) {
        PyErr_Format(PyExc_TypeError, "$name($pnames) takes $n arguments, got %zd", PyTuple_GET_SIZE(args));
        return NULL;
    }
$wind_convert
    if (gp_unreachable_$name(child)) {
        /* nothing below implements $name (gp_unreachable_$name): answer as a child would */
        gp_cbk_$name(frame, slot, child, -1, ENOSYS, $error_reply);
        gp_tmp_release(&tmp);
        Py_RETURN_NONE;
    }
    gp_wound_later_$name *w = (gp_wound_later_$name *)gp_later_take(slot, sizeof(*w), args, &tmp);
    if (w) {
        w->l.send = gp_wind_later_$name;
        w->frame = frame;
        w->child = child;
        w->slot = slot;
$later_stores        Py_RETURN_NONE;
    }
    Py_BEGIN_ALLOW_THREADS
    STACK_WIND_COOKIE(frame, gp_cbk_$name, slot, child, child->fops->$name, $wind_call);
    Py_END_ALLOW_THREADS
    gp_tmp_release(&tmp);
    Py_RETURN_NONE;
fail:
    gp_tmp_release(&tmp);
    return NULL;
}

static int
gp_unwind_$name(gp_frame_obj *fo, int32_t op_ret, int32_t op_errno, PyObject *reply)
{
$unwind_declare
    gp_tmp tmp = GP_TMP_INIT;
    PyObject *v;
    if (reply) {
$unwind_convert
    }
$validate
    call_frame_t *frame = gp_req_take(fo->req);
    if (!frame) {  /* answered already, by its deadline: the late answer is dropped */
        gp_tmp_release(&tmp);
        return 1;
    }
    Py_BEGIN_ALLOW_THREADS
    STACK_UNWIND_STRICT($name, frame, op_ret, GP_ERRNO_$name(frame, op_ret, op_errno), $unwind_call);
    Py_END_ALLOW_THREADS
    gp_tmp_release(&tmp);
    return 0;
fail:
    gp_tmp_release(&tmp);
    return -1;
}

/* A handler returned this FOP's wind unawaited (a tail call): the FOP goes on to `child`
 * on the caller's own frame and the child's reply goes to the caller as it is, never
 * back to Python (gp_tail_cbk_$name). 0: wound; 1: the FOP was answered already (its
 * deadline): nothing done; -1: an argument did not convert (exception set, the FOP is
 * still to be answered). GIL held. */
static int32_t
gp_tail_cbk_$name($cbk_head, $cdecls)
{
    STACK_UNWIND_STRICT($name, frame, op_ret, GP_ERRNO_$name(frame, op_ret, op_errno), $cnames);
    return 0;
}

static int
gp_tail_$name(gp_frame_obj *fo, xlator_t *child, PyObject *args)
{
$wind_declare
    gp_tmp tmp = GP_TMP_INIT;
    if (PyTuple_GET_SIZE(args) != $n) {
        PyErr_Format(PyExc_TypeError, "$name($pnames) takes $n arguments, got %zd", PyTuple_GET_SIZE(args));
        return -1;
    }
$wind_convert
    call_frame_t *frame = gp_req_take(fo->req); /* from here the FOP is the child's, not Python's */
    if (!frame) {
        gp_tmp_release(&tmp);
        return 1;
    }
    Py_BEGIN_ALLOW_THREADS
    if (gp_unreachable_$name(child))
        gp_failers[$gf](frame, ENOSYS); /* nothing below implements $name: answered as a child would */
    else
        STACK_WIND(frame, gp_tail_cbk_$name, child, child->fops->$name, $wind_call);
    Py_END_ALLOW_THREADS
    gp_tmp_release(&tmp);
    return 0;
fail:
    gp_tmp_release(&tmp);
    return -1;
}

static void
gp_fail_$name(call_frame_t *frame, int32_t op_errno)
{
    STACK_UNWIND_STRICT($name, frame, -1, GP_ERRNO_$name(frame, -1, op_errno), $error_reply);
}
""")


def gen_fop(f) -> str:
    """The C of FOP f: entry point, run on a worker, callback, wind, unwind, fail."""
    name = f.name
    decls, names = c_params(f.args, "a_")
    cdecls, cnames = c_params(f.reply, "r_")
    py_args = f.py_args
    # answered from the translator's missing_names, or not wanted by it: all in C
    before = ("    if (gp_lookup_before_python(frame, this, a_loc, a_xdata))\n        return 0;\n"
              if name == "lookup" else "")
    convert_reply = []
    for i, a in enumerate(f.py_reply):
        conv = py_from_c(a, f.reply, "r_")
        # after a failed conversion (exception set) convert nothing more: gp_make_reply
        # hands the exception to the handler
        stop = "PyErr_Occurred() ? NULL : " if i else ""
        if K[a.kind].on_error:
            convert_reply.append(f"    f[{i}] = {stop}{conv};")
        else:
            convert_reply.append(f"    f[{i}] = {stop}(op_ret >= 0 ? {conv} : {K[a.kind].py_default});")
    wind_convert = []
    for i, a in enumerate(py_args):
        c_from_py(a, f"PyTuple_GET_ITEM(args, {i})", f"{name}() argument {a.name}", "a_", wind_convert)
    for arg in f.not_none:
        wind_convert += [f"    if (!a_{arg}) {{",
                         f"        PyErr_SetString(PyExc_TypeError, \"{name}() argument {arg} must not be None\");",
                         "        goto fail;", "    }"]
    if name in T.GFID_REQ_CHECKED:
        wind_convert += [f"    if (gp_check_gfid_req(a_xdata, \"{name}() argument xdata\") < 0)", "        goto fail;"]
    for arg in f.not_empty:
        wind_convert += [f"    if (a_{arg} && !*a_{arg}) {{",
                         f"        PyErr_SetString(PyExc_ValueError, \"{name}() argument {arg} must not be empty\");",
                         "        goto fail;", "    }"]
    for arg, bound in f.at_most.items():
        wind_convert += [f"    if (a_{arg} > {bound}) {{",
                         f"        PyErr_Format(PyExc_ValueError, \"{name}() argument {arg} must be at most {bound}, "
                         f"not %llu\", (unsigned long long)a_{arg});",
                         "        goto fail;", "    }"]
    for arg, entry in f.loc_checks.items():
        index = next(i for i, a in enumerate(py_args) if a.name == arg)
        wind_convert += [f"    if (gp_loc_check(PyTuple_GET_ITEM(args, {index}), {f.gf_fop}, {entry}, "
                         f"\"{name}() argument {arg}\") < 0)", "        goto fail;"]
    unwind_convert = []
    for i, a in enumerate(f.py_reply):
        get = f"gp_reply_get(reply, {f.gf_fop}, {i}, \"{a.name}\", &tmp)"
        unwind_convert.append(f"        if (!(v = {get})) goto fail;")
        body = []
        c_from_py(a, "v", f"{f.reply_class}.{a.name}", "r_", body)
        unwind_convert += ["    " + line for line in body]
    cbk_head = "call_frame_t *frame, void *cookie, xlator_t *this, int32_t op_ret, int32_t op_errno"
    return FOP_TEMPLATE.substitute(
        name=name, gf=f.gf_fop,
        answer_errno=(f"gp_server_safe_errno(frame, {f.gf_fop}, op_ret, op_errno)" if name in T.SERVER_SAFE_ERRNO
                      else "(op_errno)"),
        leaf_lacks="1" if name in T.GLUPY_ONLY else f"xl->fops->{name} == gp_default_fops.{name}",
        answered_below="".join(f" ||\n            (xl->type && strcmp(xl->type, \"{t}\") == 0)"
                               for t in T.ANSWERED_BELOW.get(name, ())), decls=", ".join(decls), names=", ".join(names), n=len(py_args),
        rn=len(f.py_reply), cdecls=", ".join(cdecls), cbk_head=cbk_head,
        cbk_passed=f"frame, cookie, this, op_ret, op_errno, {', '.join(cnames)}", cnames=", ".join(cnames),
        obs_bytes=" + ".join([f"iov_length(o->args->{a.name}_vector, o->args->{a.name}_count)"
                              for a in f.args if a.kind == "data"] +
                             [f"(o->reply->op_ret > 0 ? iov_length(o->reply->{a.name}_vector, "
                              f"o->reply->{a.name}_count) : 0)" for a in f.reply if a.kind == "data"]) or "0",
        args_held=", ".join(K[a.kind].hold.passed.format(v=a.name) for a in f.args),
        reply_held=", ".join(K[a.kind].hold.passed.format(v=a.name).replace("h->", "r->") for a in f.reply),
        hold=gen_hold(name, FOP_HEAD, f.args, "a_", tell_held=True, gf_fop=f.gf_fop),
        hold_cbk=gen_hold(f"cbk_{name}", CBK_HEAD, f.reply, "r_", on_error_only={k for k in K if K[k].on_error}),
        before_python=before, expect="\n".join(expect(f)),
        convert_args=" && ".join(f"(args[{i}] = {py_from_c(a, f.args, 'a_', held='held', fop=f.gf_fop)})"
                                 for i, a in enumerate(py_args)),
        error_reply=", ".join(error_args(f.reply)), convert_reply="\n".join(convert_reply),
        wind_declare="\n".join(declare(f.args, "a_", error_value)), pnames=", ".join(a.name for a in py_args),
        wind_convert="\n".join(wind_convert), wind_call=", ".join(call_args(f.args, "a_")),
        later_fields="".join(f"    {d};\n" for d in later_fields(f.args)),
        later_stores="".join(later_stores(f.args)),
        later_call=", ".join(call_args(f.args, "w->a_")),
        unwind_declare="\n".join(declare(f.reply, "r_", error_value)), unwind_convert="\n".join(unwind_convert),
        validate="\n".join(validate(f)), unwind_call=", ".join(call_args(f.reply, "r_")),
        fast_checks=fast_checks(f))


def expect(f) -> list[str]:
    """C lines recording, in `expect`, what the FOP's reply must agree with (gp_expect)."""
    L = ["    gp_expect expect = GP_EXPECT_INIT;"]
    if f.same_inode:
        L.append(f"    expect.inode = a_{f.same_inode} ? a_{f.same_inode}->inode : NULL;")
    if f.same_fd:
        L.append(f"    expect.fd = a_{f.same_fd};")
    subject = f.subject
    if subject is not None:
        gfid = f"a_{subject.name}->gfid" if subject.kind == "loc" else "NULL"
        L.append(f"    if (a_{subject.name})")
        L.append(f"        gp_expect_file(&expect, a_{subject.name}->inode, {gfid});")
    bound = f.op_ret_at_most
    if bound:
        arg = next(a for a in f.args if a.name == bound)
        if arg.kind == "data":
            L.append(f"    expect.max_ret = (int64_t)iov_length(a_{bound}_vector, a_{bound}_count);")
        else:
            L.append(f"    expect.max_ret = a_{bound} > INT64_MAX ? -1 : (int64_t)a_{bound};")
    return L


# The checks of a reply before it is unwound (validate), one C-shaped piece per rule.
# $cls: the reply class; each piece ends the way the one before it expects.
CHECK_REQUIRED = Template("""\
        if (!r_$field) {
            PyErr_SetString(PyExc_TypeError, "$cls.$field is required in a successful $fop reply");
            goto fail;
        }""")
# how many units a counted field carries, by its kind
COUNT_OF = {
    "data": Template("        int64_t n_ = r_${field}_d.vector ? (int64_t)iov_length(r_${field}_d.vector, r_${field}_d.count) : 0;"),
    "dirents": Template("""\
        int64_t n_ = 0, packed_ = 0; /* entries, and what they count against a size (fop_table.DIRENT_BYTES) */
        gf_dirent_t *e_;
        if (r_$field)
            list_for_each_entry(e_, &r_$field->list, list) {
                n_++;
                packed_ += $dirent_bytes + (int64_t)strlen(e_->d_name) + 1;
            }
        if (packed_ > $readdir_max) {
            PyErr_Format(PyExc_TypeError, "$cls.$field: %lld entries take about %lld bytes, more than any caller asks \
for ($readdir_max): answer what fits the request's size, the rest at the next offset", (long long)n_, (long long)packed_);
            goto fail;
        }"""),
    "str": Template("        int64_t n_ = r_$field ? (int64_t)strlen(r_$field) : 0;"),
}
CHECK_COUNTED = Template("""\
$count
        if (n_ != op_ret) {
            PyErr_Format(PyExc_TypeError, "$cls.op_ret is %d but $field has %lld $unit", op_ret, (long long)n_);
            goto fail;
        }""")
CHECK_ZERO = Template("""\
        if (op_ret != 0) {
            PyErr_Format(PyExc_TypeError, "$cls.op_ret must be 0 on success, not %d", op_ret);
            goto fail;
        }""")
CHECK_SAME_INODE = Template("""\
        if (ex_->inode && r_inode != ex_->inode) {
            PyErr_SetString(PyExc_TypeError, "$cls.inode is not the inode of the request's $arg (a reply to another FOP?)");
            goto fail;
        }""")
CHECK_SAME_FD = Template("""\
        if (ex_->fd && r_fd != ex_->fd) {
            PyErr_SetString(PyExc_TypeError, "$cls.fd is not the fd of the request (a reply to another FOP?)");
            goto fail;
        }""")
CHECK_SAME_FILE = Template("""\
        if (r_$field && gp_other_file(ex_->gfid, r_$field->ia_gfid)) {
            PyErr_Format(PyExc_TypeError, "$cls.$field describes %s, not the request's file %s (a reply to another FOP?)", \
uuid_utoa(r_$field->ia_gfid), uuid_utoa_r(ex_->gfid, gfid_));
            goto fail;
        }""")
CHECK_AT_MOST = Template("""\
        if (ex_->max_ret >= 0 && op_ret > ex_->max_ret) {
            PyErr_Format(PyExc_TypeError, "$cls.op_ret is %d, more than the request's $arg (%lld)", op_ret, \
(long long)ex_->max_ret);
            goto fail;
        }""")
VALIDATE_TEMPLATE = Template("""\
    if (op_ret >= 0) {
$success_checks    } else if (op_errno <= 0 || op_errno > $max_errno) {
        PyErr_Format(PyExc_TypeError, "$cls.op_errno must be an errno (1..$max_errno) when op_ret < 0, not %d", op_errno);
        goto fail;
    } else {
        op_ret = -1;
    }""")


def validate(f, req: str = "fo->req") -> list[str]:
    """C checks of a reply before it is unwound: glupy._validate's rules (required
    fields on success, op_ret counting what it carries, a valid errno on failure); `req`
    is the C expression of the FOP's request (what the reply must agree with)."""
    cls = f.reply_class
    checks = [CHECK_REQUIRED.substitute(field=name, cls=cls, fop=f.name) for name in f.required]
    if f.counted:
        field = next(a for a in f.py_reply if a.name == f.counted)
        kind = field.kind if field.kind in ("data", "dirents") else "str"
        count = COUNT_OF[kind].substitute(field=field.name, cls=cls, dirent_bytes=T.DIRENT_BYTES,
                                          readdir_max=T.READDIR_REPLY_MAX)
        checks.append(CHECK_COUNTED.substitute(count=count, cls=cls,
                                               field=field.name, unit="entries" if kind == "dirents" else "bytes"))
    if f.zero_on_success:
        checks.append(CHECK_ZERO.substitute(cls=cls))
    if f.same_inode or f.same_fd or f.subject is not None or f.op_ret_at_most:
        checks.append(f"        gp_expect *ex_ = &{req}->expect;")
    if f.same_inode:
        checks.append(CHECK_SAME_INODE.substitute(cls=cls, arg=f.same_inode))
    if f.same_fd:
        checks.append(CHECK_SAME_FD.substitute(cls=cls))
    if f.subject is not None:
        checks.append("        char gfid_[GF_UUID_BUF_SIZE];")
        checks += [CHECK_SAME_FILE.substitute(cls=cls, field=name) for name in f.self_iatts]
    if f.op_ret_at_most:
        checks.append(CHECK_AT_MOST.substitute(cls=cls, arg=f.op_ret_at_most))
    return VALIDATE_TEMPLATE.substitute(success_checks=_lines(checks), cls=cls,
                                        max_errno=T.MAX_ERRNO).split("\n")


def fast_checks(f) -> str:
    """validate(f) for gp_fast_NAME: the same checks of the child's reply as it came (a
    failed one leaves the fast path: no Python exception without the GIL). An error reply
    goes on in C only when every field of the reply is one an error reply carries
    (Kind.on_error), so that it reaches the caller as it would through Python."""
    lines = []
    for a in f.py_reply:
        if a.kind == "data":  # the counted checks read the payload as gp_data
            lines.append(f"    gp_data r_{a.name}_d = {{r_{a.name}_vector, r_{a.name}_count, NULL}};")
    if not all(K[a.kind].on_error for a in f.py_reply):
        lines.append("    if (op_ret < 0)\n        goto fail;")
    text = "\n".join(validate(f, req="req"))  # gp_fast_NAME has the request only
    text = re.sub(r"\n *PyErr_(SetString|Format)\([^\n]*\);(?=\n)", "", text)
    text = re.sub(r"\n *char gfid_\[GF_UUID_BUF_SIZE\];(?=\n)", "", text)
    assert "PyErr" not in text and "gfid_" not in text, text
    return "\n".join(lines + [text])


def generate() -> str:
    out = [
        "/* Generated by native/gen_glue.py from src/glupy/fop_table.py. Do not edit. */",
        '#include "glupy.h"',
        "",
        "/* The table's numbering must be GlusterFS's. */",
    ]
    for f in T.FOPS:
        out.append(f'_Static_assert({f.gf_fop} == {T.FOP_ID[f.name]}, "{f.gf_fop} moved: regenerate for this GlusterFS");')
    out.append(f'_Static_assert(GF_FOP_MAXVALUE == {T.FOP_MAXVALUE}, "GlusterFS has a FOP glupy does not know");')
    for number, kind in enumerate(T.TAKEOVERS):
        out.append(f'_Static_assert(GP_KIND_{kind.upper()} == {number}, "enum gp_kind disagrees with fop_table.TAKEOVERS");')
    for ev, num in T.EVENTS.items():
        out.append(f'_Static_assert(GF_EVENT_{ev} == {num}, "GF_EVENT_{ev} moved");')
    out.append("")
    for f in T.FOPS:
        out.append(gen_fop(f))
    out.append("const char *const gp_fop_names[GF_FOP_MAXVALUE] = {")
    out += [f'    [{f.gf_fop}] = "{f.name}",' for f in T.FOPS]
    out.append("};\n")
    out.append("const gp_winder_t gp_winders[GF_FOP_MAXVALUE] = {")
    out += [f"    [{f.gf_fop}] = gp_wind_{f.name}," for f in T.FOPS]
    out.append("};\n")
    out.append("const gp_failer_t gp_failers[GF_FOP_MAXVALUE] = {")
    out += [f"    [{f.gf_fop}] = gp_fail_{f.name}," for f in T.FOPS]
    out.append("};\n")
    out.append("const gp_unwinder_t gp_unwinders[GF_FOP_MAXVALUE] = {")
    out += [f"    [{f.gf_fop}] = gp_unwind_{f.name}," for f in T.FOPS]
    out.append("};\n")
    out.append("const gp_tailer_t gp_tailers[GF_FOP_MAXVALUE] = {")
    out += [f"    [{f.gf_fop}] = gp_tail_{f.name}," for f in T.FOPS]
    out.append("};\n")
    out.append("void\ngp_fill_fops(struct xlator_fops *fops, const char *overridden, const char *observed,\n"
               "             const struct xlator_fops *base)\n{")
    out.append("    /* one atomic store per entry: other threads may be reading the table (reconfigure) */")
    out += [f"    __atomic_store_n(&fops->{f.name}, overridden[{f.gf_fop}] ? gp_fop_{f.name} : observed[{f.gf_fop}] ? "
            f"gp_obs_fop_{f.name} : base->{f.name}, __ATOMIC_RELEASE);" for f in T.FOPS]
    out.append("}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    pathlib.Path(sys.argv[1]).write_text(generate())
