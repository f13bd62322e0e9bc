/* glupy._aead: crypt's block format sealed and opened a run of blocks per call.
 *
 * glupy.translators.crypt stores each 4 KiB block of plaintext as
 *     nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)
 * with the associated data  gfid (16) || block index (8, big-endian) [|| last (1), format 2].
 * Through `cryptography` that is one Python call per block (about 1 us of call and 1 us of
 * Python around it per 4 KiB, and a release of the GIL each time); here a readv's or a
 * writev's 32 blocks are one call, one OpenSSL context and, for big runs, one release of
 * the GIL. The format is the same byte for byte (tests/unit/test_crypt.py checks both ways
 * against `cryptography`), and crypt falls back to `cryptography` without this module.
 *
 * Nothing here keeps a pointer into a Python object past the call: the buffers are
 * held (PyObject_GetBuffer) for the call's duration, also while the GIL is released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#define BLOCK 4096
#define NONCE 12
#define TAG 16
#define OVERHEAD (NONCE + TAG)
#define CBLOCK (BLOCK + OVERHEAD)
#define FILE_ID 16
#define KEY_BYTES 32
/* runs of at least this many bytes are sealed or opened with the GIL released (about
 * 10 us of work and more: a smaller one costs less than the hand-over of the GIL) */
#define RELEASE_GIL_BYTES (64 * 1024)
/* one RAND_bytes call draws the nonces of this many blocks (one call per block: 0.65 us more a block) */
#define NONCES_AT_ONCE 64

typedef struct {
    PyObject_HEAD
    unsigned char key[KEY_BYTES]; /* zeroed (OPENSSL_cleanse) when the object is freed */
    int ready;                    /* set once by __init__: never sealed with a key not given */
} KeyObject;

/* The associated data of block `index`: gfid || index (big-endian) [|| index == last]. */
static size_t
make_ad(unsigned char *ad, const unsigned char *file_id, unsigned long long index, int flags, long long last)
{
    memcpy(ad, file_id, FILE_ID);
    for (int i = 0; i < 8; i++)
        ad[FILE_ID + i] = (unsigned char)(index >> (56 - 8 * i));
    if (!flags)
        return FILE_ID + 8;
    ad[FILE_ID + 8] = (long long)index == last;
    return FILE_ID + 9;
}

static int
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Seal n_bytes of plaintext as blocks first, first+1, ... into out (room checked by the caller).
 * Returns 0, or -1 when OpenSSL failed (or had no randomness for the nonces). */
static int
seal_run(const unsigned char *key, const unsigned char *file_id, int flags, unsigned long long first,
         long long last, const unsigned char *in, size_t n_bytes, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL) == 1;
    unsigned char ad[FILE_ID + 9];
    unsigned char nonces[NONCE * NONCES_AT_ONCE]; /* fresh random nonces, drawn a batch at a time */
    for (size_t at = 0; ok && at < n_bytes; at += BLOCK, first++) {
        size_t len = n_bytes - at < BLOCK ? n_bytes - at : BLOCK;
        unsigned char *nonce = out, *ct = out + NONCE;
        int outl = 0, finl = 0;
        size_t ad_len = make_ad(ad, file_id, first, flags, last);
        size_t i = (at / BLOCK) % NONCES_AT_ONCE;
        if (i == 0) {
            size_t left = (n_bytes - at + BLOCK - 1) / BLOCK;
            ok = RAND_bytes(nonces, (int)(NONCE * (left < NONCES_AT_ONCE ? left : NONCES_AT_ONCE))) == 1;
        }
        memcpy(nonce, nonces + i * NONCE, NONCE);
        ok = ok && EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) == 1 &&
             EVP_EncryptUpdate(ctx, NULL, &outl, ad, (int)ad_len) == 1 &&
             EVP_EncryptUpdate(ctx, ct, &outl, in + at, (int)len) == 1 &&
             EVP_EncryptFinal_ex(ctx, ct + outl, &finl) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, ct + len) == 1;
        out += len + OVERHEAD;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Open `size` stored bytes (blocks first, first+1, ...) into out. Returns the number of holes
 * (whole stored blocks of zeros, read as zeros, never at the last block in format 2), or
 * -2 - index of the first block that fails (a partial block of zeros included), or -1 when
 * OpenSSL failed. A block that fails leaves zeros where its plaintext would be. */
static long long
open_run(const unsigned char *key, const unsigned char *file_id, int flags, unsigned long long first,
         long long last, const unsigned char *in, size_t size, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return -1;
    }
    long long holes = 0, result = 0;
    unsigned char ad[FILE_ID + 9];
    for (size_t pos = 0; pos < size; pos += CBLOCK, first++, out += BLOCK) {
        size_t stored = size - pos < CBLOCK ? size - pos : CBLOCK;
        if (stored <= OVERHEAD) { /* too short to be a block: damage, never a hole */
            result = -2 - (long long)first;
            break;
        }
        size_t len = stored - OVERHEAD;
        const unsigned char *nonce = in + pos, *ct = in + pos + NONCE;
        int outl = 0, finl = 0;
        size_t ad_len = make_ad(ad, file_id, first, flags, last);
        if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
            EVP_DecryptUpdate(ctx, NULL, &outl, ad, (int)ad_len) != 1 ||
            EVP_DecryptUpdate(ctx, out, &outl, ct, (int)len) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, (void *)(ct + len)) != 1) {
            result = -1;
            break;
        }
        if (EVP_DecryptFinal_ex(ctx, out + outl, &finl) == 1)
            continue;
        memset(out, 0, len); /* nothing unauthenticated is left */
        /* only a whole stored block of zeros is a hole (a sparse region); in format 2 the
         * last block is always stored: a hole there is damage */
        if (stored == CBLOCK && !(flags && (long long)first == last) && all_zero(in + pos, CBLOCK)) {
            holes++;
            continue;
        }
        result = -2 - (long long)first;
        break;
    }
    EVP_CIPHER_CTX_free(ctx);
    return result < 0 ? result : holes;
}

static int
Key_init(KeyObject *self, PyObject *args, PyObject *kwds)
{
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "y*:Key", &key))
        return -1;
    if (self->ready) { /* (another thread may be sealing with it, the GIL released) */
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_TypeError, "a Key's key cannot be changed");
        return -1;
    }
    if (key.len != KEY_BYTES) {
        PyBuffer_Release(&key);
        PyErr_Format(PyExc_ValueError, "an AES-256 key has %d bytes, not %zd", KEY_BYTES, key.len);
        return -1;
    }
    memcpy(self->key, key.buf, KEY_BYTES);
    self->ready = 1;
    PyBuffer_Release(&key);
    return 0;
}

static void
Key_dealloc(KeyObject *self)
{
    OPENSSL_cleanse(self->key, KEY_BYTES);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
check_call(KeyObject *self, Py_buffer *file_id)
{
    if (!self->ready) {
        PyErr_SetString(PyExc_ValueError, "a Key made without a key");
        return -1;
    }
    if (file_id->len == FILE_ID)
        return 0;
    PyErr_Format(PyExc_ValueError, "a file id has %d bytes, not %zd", FILE_ID, file_id->len);
    return -1;
}

PyDoc_STRVAR(Key_seal_into_doc,
             "seal_into(out, pos, file_id, flags, first, last, plaintext) -> int\n\n"
             "Write the stored form of `plaintext` (blocks `first`, `first` + 1, ...; its last block may\n"
             "be partial) into the writable buffer `out` at `pos`; returns the position after it.\n"
             "`flags` (format 2) adds whether each block is block `last` to its associated data.");

static PyObject *
Key_seal_into(KeyObject *self, PyObject *args)
{
    Py_buffer out, file_id, plain;
    Py_ssize_t pos;
    int flags;
    unsigned long long first;
    long long last;
    if (!PyArg_ParseTuple(args, "w*ny*pKLy*:seal_into", &out, &pos, &file_id, &flags, &first, &last, &plain))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = (plain.len + BLOCK - 1) / BLOCK;
    Py_ssize_t need = plain.len + n * OVERHEAD;
    if (check_call(self, &file_id) < 0)
        goto done;
    if (pos < 0 || pos > out.len || out.len - pos < need) {
        PyErr_Format(PyExc_ValueError, "%zd bytes sealed need %zd bytes at %zd of a buffer of %zd", plain.len,
                     need, pos, out.len);
        goto done;
    }
    int rc;
    if (plain.len >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = seal_run(self->key, file_id.buf, flags, first, last, plain.buf, (size_t)plain.len,
                      (unsigned char *)out.buf + pos);
        Py_END_ALLOW_THREADS
    } else {
        rc = seal_run(self->key, file_id.buf, flags, first, last, plain.buf, (size_t)plain.len,
                      (unsigned char *)out.buf + pos);
    }
    if (rc < 0)
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to seal a block");
    else
        result = PyLong_FromSsize_t(pos + need);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&file_id);
    PyBuffer_Release(&plain);
    return result;
}

PyDoc_STRVAR(Key_open_into_doc,
             "open_into(out, file_id, flags, first, last, stored) -> int\n\n"
             "Open the stored blocks `stored` (blocks `first`, `first` + 1, ...) into the writable buffer\n"
             "`out` (room for their plaintext). Returns the number of holes (whole stored blocks of\n"
             "zeros, read as zeros; in format 2 never block `last`), or -1 - the index of the first block\n"
             "that fails authentication (a short or zero partial block included), zeros in its place.");

static PyObject *
Key_open_into(KeyObject *self, PyObject *args)
{
    Py_buffer out, file_id, stored;
    int flags;
    unsigned long long first;
    long long last;
    if (!PyArg_ParseTuple(args, "w*y*pKLy*:open_into", &out, &file_id, &flags, &first, &last, &stored))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t full = stored.len / CBLOCK, rest = stored.len % CBLOCK;
    Py_ssize_t need = full * BLOCK + (rest > OVERHEAD ? rest - OVERHEAD : 0);
    if (check_call(self, &file_id) < 0)
        goto done;
    if (out.len < need) {
        PyErr_Format(PyExc_ValueError, "%zd stored bytes open to %zd bytes, not %zd", stored.len, need, out.len);
        goto done;
    }
    long long rc;
    if (stored.len >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = open_run(self->key, file_id.buf, flags, first, last, stored.buf, (size_t)stored.len, out.buf);
        Py_END_ALLOW_THREADS
    } else {
        rc = open_run(self->key, file_id.buf, flags, first, last, stored.buf, (size_t)stored.len, out.buf);
    }
    if (rc == -1)
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to open a block");
    else
        result = PyLong_FromLongLong(rc >= 0 ? rc : rc + 1); /* -2 - index -> -1 - index */
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&file_id);
    PyBuffer_Release(&stored);
    return result;
}

static PyMethodDef Key_methods[] = {
    {"seal_into", (PyCFunction)Key_seal_into, METH_VARARGS, Key_seal_into_doc},
    {"open_into", (PyCFunction)Key_open_into, METH_VARARGS, Key_open_into_doc},
    {NULL},
};

static PyTypeObject KeyType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "glupy._aead.Key",
    .tp_doc = PyDoc_STR("Key(key: bytes-like of 32 bytes): an AES-256-GCM key for crypt's block format "
                        "(copied; zeroed when the object is freed)."),
    .tp_basicsize = sizeof(KeyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Key_init,
    .tp_dealloc = (destructor)Key_dealloc,
    .tp_methods = Key_methods,
};

static struct PyModuleDef aead_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "glupy._aead",
    .m_doc = PyDoc_STR("crypt's block format, sealed and opened a run of blocks per call (OpenSSL)."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__aead(void)
{
    if (PyType_Ready(&KeyType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&aead_module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "BLOCK", BLOCK) < 0 || PyModule_AddIntConstant(m, "NONCE", NONCE) < 0 ||
        PyModule_AddIntConstant(m, "TAG", TAG) < 0 || PyModule_AddIntConstant(m, "RELEASE_GIL_BYTES", RELEASE_GIL_BYTES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&KeyType);
    if (PyModule_AddObject(m, "Key", (PyObject *)&KeyType) < 0) {
        Py_DECREF(&KeyType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
