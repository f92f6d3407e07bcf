/* wasmtaps.c: the implementation behind wasmtaps.h (guest ABI v1, docs/abi.md). */
#include "wasmtaps.h"

#include <string.h>

/* ---- Imports and exports -------------------------------------------------------- */

__attribute__((import_module("wasmtaps"), import_name("panic"))) extern void
wt__host_panic(const char *ptr, uint32_t len);

/* ---- Bump allocator ------------------------------------------------------------- */

/* The current chunk [next, limit), taken from memory.grow. Nothing is ever freed. */
static uintptr_t next;
static uintptr_t limit;

void *wt_alloc(size_t len) {
    uintptr_t start = (next + 7) & ~(uintptr_t)7;
    if (next == 0 || len > limit - start) {
        /* A new chunk: at least 64 KiB, large requests get exactly what they need. */
        size_t pages = (len + 7 + 65535) / 65536;
        size_t old = __builtin_wasm_memory_grow(0, pages);
        if (old == (size_t)-1) return NULL;
        start = old * 65536;
        limit = start + pages * 65536;
    }
    next = start + len;
    return (void *)start;
}

__attribute__((export_name("wasmtaps_alloc"))) int32_t wasmtaps_alloc(int32_t len) {
    if (len < 0) return 0;
    return (int32_t)(uintptr_t)wt_alloc((size_t)len);
}

void wt_panic(const char *message) {
    wt__host_panic(message, (uint32_t)strlen(message));
    __builtin_trap();
}

/* ---- Reader ------------------------------------------------------------------- */

static bool need(const wt_reader *r, size_t n) { return (size_t)(r->end - r->pos) >= n; }

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

bool wt_read_nil(wt_reader *r) {
    if (!need(r, 1) || *r->pos != 0xc0) return false;
    r->pos++;
    return true;
}

bool wt_read_bool(wt_reader *r, bool *out) {
    if (!need(r, 1) || (*r->pos != 0xc2 && *r->pos != 0xc3)) return false;
    *out = *r->pos++ == 0xc3;
    return true;
}

bool wt_read_i64(wt_reader *r, int64_t *out) {
    if (!need(r, 1)) return false;
    uint8_t t = *r->pos;
    if (t <= 0x7f || t >= 0xe0) {
        *out = (int8_t)t;
        r->pos++;
        return true;
    }
    int n;
    bool sign;
    switch (t) {
    case 0xcc: n = 1; sign = false; break;
    case 0xcd: n = 2; sign = false; break;
    case 0xce: n = 4; sign = false; break;
    case 0xcf: n = 8; sign = false; break;
    case 0xd0: n = 1; sign = true; break;
    case 0xd1: n = 2; sign = true; break;
    case 0xd2: n = 4; sign = true; break;
    case 0xd3: n = 8; sign = true; break;
    default: return false;
    }
    if (!need(r, 1 + n)) return false;
    uint64_t v = be(r->pos + 1, n);
    if (sign) {
        int shift = 64 - 8 * n;
        *out = (int64_t)(v << shift) >> shift;
    } else {
        if (v > INT64_MAX) return false;
        *out = (int64_t)v;
    }
    r->pos += 1 + n;
    return true;
}

bool wt_read_f64(wt_reader *r, double *out) {
    if (!need(r, 1)) return false;
    uint8_t t = *r->pos;
    if (t == 0xcb && need(r, 9)) {
        uint64_t bits = be(r->pos + 1, 8);
        memcpy(out, &bits, 8);
        r->pos += 9;
        return true;
    }
    if (t == 0xca && need(r, 5)) {
        uint32_t bits = (uint32_t)be(r->pos + 1, 4);
        float f;
        memcpy(&f, &bits, 4);
        *out = f;
        r->pos += 5;
        return true;
    }
    int64_t i;
    if (wt_read_i64(r, &i)) {
        *out = (double)i;
        return true;
    }
    return false;
}

/* Reads a length-prefixed header: fixed form (mask/base) or 8/16/32-bit forms. */
static bool read_len(wt_reader *r, uint8_t fixbase, uint8_t fixmask, int t8, int t16,
                     int t32, uint32_t *len) {
    if (!need(r, 1)) return false;
    uint8_t t = *r->pos;
    int n;
    if ((t & ~fixmask) == fixbase) {
        *len = t & fixmask;
        r->pos++;
        return true;
    }
    if (t == t8) n = 1;
    else if (t == t16) n = 2;
    else if (t == t32) n = 4;
    else return false;
    if (!need(r, 1 + n)) return false;
    *len = (uint32_t)be(r->pos + 1, n);
    r->pos += 1 + n;
    return true;
}

static bool read_bytes(wt_reader *r, const wt_reader saved, uint32_t len,
                       const uint8_t **out) {
    if (!need(r, len)) {
        *r = saved;
        return false;
    }
    *out = r->pos;
    r->pos += len;
    return true;
}

bool wt_read_str(wt_reader *r, const char **out, uint32_t *len) {
    wt_reader saved = *r;
    /* fixstr is 101xxxxx; 0xd9/da/db are str8/16/32. -1 disables a form. */
    if (!read_len(r, 0xa0, 0x1f, 0xd9, 0xda, 0xdb, len)) return false;
    return read_bytes(r, saved, *len, (const uint8_t **)out);
}

bool wt_read_bin(wt_reader *r, const uint8_t **out, uint32_t *len) {
    wt_reader saved = *r;
    /* bin has no fixed form: base 0xff/mask 0 never matches a type byte but 0xff. */
    if (need(r, 1) && *r->pos == 0xff) return false;
    if (!read_len(r, 0xff, 0x00, 0xc4, 0xc5, 0xc6, len)) return false;
    return read_bytes(r, saved, *len, out);
}

bool wt_read_array(wt_reader *r, uint32_t *count) {
    return read_len(r, 0x90, 0x0f, -1, 0xdc, 0xdd, count);
}

bool wt_read_map(wt_reader *r, uint32_t *count) {
    return read_len(r, 0x80, 0x0f, -1, 0xde, 0xdf, count);
}

static bool skip_n(wt_reader *r, uint64_t n) {
    if (!need(r, n)) return false;
    r->pos += n;
    return true;
}

bool wt_skip(wt_reader *r) {
    wt_reader saved = *r;
    if (!need(r, 1)) return false;
    uint8_t t = *r->pos;
    uint32_t len, count;
    const char *s;
    const uint8_t *b;
    int64_t i;
    double d;
    bool ok = true;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) {
        ok = wt_read_i64(r, &i) || (t == 0xcf && skip_n(r, 9));
    } else if (t == 0xc0 || t == 0xc2 || t == 0xc3) {
        r->pos++;
    } else if (t == 0xca || t == 0xcb) {
        ok = wt_read_f64(r, &d);
    } else if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) {
        ok = wt_read_str(r, &s, &len);
    } else if (t >= 0xc4 && t <= 0xc6) {
        ok = wt_read_bin(r, &b, &len);
    } else if (wt_read_array(r, &count)) {
        for (uint32_t k = 0; ok && k < count; k++) ok = wt_skip(r);
    } else if (wt_read_map(r, &count)) {
        for (uint32_t k = 0; ok && k < 2 * (uint64_t)count; k++) ok = wt_skip(r);
    } else if (t >= 0xd4 && t <= 0xd8) { /* fixext 1, 2, 4, 8, 16 */
        ok = skip_n(r, 2 + (1u << (t - 0xd4)));
    } else if (t >= 0xc7 && t <= 0xc9) { /* ext 8, 16, 32 */
        int n = 1 << (t - 0xc7);
        ok = need(r, 1 + n) && skip_n(r, 2 + n + be(r->pos + 1, n));
    } else {
        ok = false;
    }
    if (!ok) *r = saved;
    return ok;
}

const char *wt_type_name(const wt_reader *r) {
    if (r->pos >= r->end) return "nothing";
    uint8_t t = *r->pos;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3)) return "integer";
    if (t == 0xc0) return "nil";
    if (t == 0xc2 || t == 0xc3) return "boolean";
    if (t == 0xca || t == 0xcb) return "float";
    if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) return "string";
    if (t >= 0xc4 && t <= 0xc6) return "bytes";
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) return "array";
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) return "map";
    return "ext";
}

/* ---- Writer ------------------------------------------------------------------- */

uint8_t *wt_write_raw(wt_writer *w, uint32_t len) {
    if (w->cap - w->len < len) {
        uint32_t cap = w->cap ? w->cap : 64;
        while (cap - w->len < len) cap *= 2;
        uint8_t *buf = (uint8_t *)wt_alloc(cap);
        if (!buf) wt_panic("wasmtaps: out of memory writing the result");
        if (w->len) memcpy(buf, w->buf, w->len);
        w->buf = buf;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += len;
    return p;
}

static void put(wt_writer *w, uint8_t b) { *wt_write_raw(w, 1) = b; }

static void put_be(wt_writer *w, uint8_t type, uint64_t v, int n) {
    uint8_t *p = wt_write_raw(w, 1 + n);
    p[0] = type;
    for (int i = n; i > 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

void wt_write_nil(wt_writer *w) { put(w, 0xc0); }
void wt_write_bool(wt_writer *w, bool v) { put(w, v ? 0xc3 : 0xc2); }

void wt_write_u64(wt_writer *w, uint64_t v) {
    if (v <= 0x7f) put(w, (uint8_t)v);
    else if (v <= 0xff) put_be(w, 0xcc, v, 1);
    else if (v <= 0xffff) put_be(w, 0xcd, v, 2);
    else if (v <= 0xffffffff) put_be(w, 0xce, v, 4);
    else put_be(w, 0xcf, v, 8);
}

void wt_write_i64(wt_writer *w, int64_t v) {
    if (v >= 0) wt_write_u64(w, (uint64_t)v);
    else if (v >= -32) put(w, (uint8_t)v);
    else if (v >= INT8_MIN) put_be(w, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN) put_be(w, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN) put_be(w, 0xd2, (uint64_t)v, 4);
    else put_be(w, 0xd3, (uint64_t)v, 8);
}

void wt_write_f64(wt_writer *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_be(w, 0xcb, bits, 8);
}

static void header(wt_writer *w, uint32_t len, uint8_t fixbase, uint32_t fixmax, int t8,
                   uint8_t t16, uint8_t t32) {
    if (len <= fixmax) put(w, (uint8_t)(fixbase | len));
    else if (t8 >= 0 && len <= 0xff) put_be(w, (uint8_t)t8, len, 1);
    else if (len <= 0xffff) put_be(w, t16, len, 2);
    else put_be(w, t32, len, 4);
}

void wt_write_str(wt_writer *w, const char *s, uint32_t len) {
    header(w, len, 0xa0, 31, 0xd9, 0xda, 0xdb);
    if (len) memcpy(wt_write_raw(w, len), s, len);
}

void wt_write_cstr(wt_writer *w, const char *s) { wt_write_str(w, s, (uint32_t)strlen(s)); }

uint8_t *wt_write_bin_space(wt_writer *w, uint32_t len) {
    if (len <= 0xff) put_be(w, 0xc4, len, 1);
    else if (len <= 0xffff) put_be(w, 0xc5, len, 2);
    else put_be(w, 0xc6, len, 4);
    return wt_write_raw(w, len);
}

void wt_write_bin(wt_writer *w, const uint8_t *data, uint32_t len) {
    uint8_t *p = wt_write_bin_space(w, len);
    if (len) memcpy(p, data, len);
}

void wt_write_array(wt_writer *w, uint32_t count) {
    header(w, count, 0x90, 15, -1, 0xdc, 0xdd);
}

void wt_write_map(wt_writer *w, uint32_t count) { header(w, count, 0x80, 15, -1, 0xde, 0xdf); }

/* ---- Envelopes ------------------------------------------------------------------ */

static int64_t pack(const wt_writer *w) {
    return (int64_t)(((uint64_t)(uintptr_t)w->buf << 32) | w->len);
}

wt_writer *wt_ok(wt_call *call) {
    call->out.len = 0;
    static const uint8_t ok[] = {0x81, 0xa2, 'o', 'k'};
    memcpy(wt_write_raw(&call->out, sizeof ok), ok, sizeof ok);
    return &call->out;
}

int64_t wt_done(wt_call *call) { return pack(&call->out); }

int64_t wt_return_nil(wt_call *call) {
    wt_write_nil(wt_ok(call));
    return wt_done(call);
}

int64_t wt_return_i64(wt_call *call, int64_t v) {
    wt_write_i64(wt_ok(call), v);
    return wt_done(call);
}

int64_t wt_return_f64(wt_call *call, double v) {
    wt_write_f64(wt_ok(call), v);
    return wt_done(call);
}

int64_t wt_return_str(wt_call *call, const char *s, uint32_t len) {
    wt_write_str(wt_ok(call), s, len);
    return wt_done(call);
}

int64_t wt_return_bin(wt_call *call, const uint8_t *data, uint32_t len) {
    wt_write_bin(wt_ok(call), data, len);
    return wt_done(call);
}

int64_t wt_err(wt_call *call, const char *type, const char *message) {
    wt_writer *w = &call->out;
    w->len = 0;
    wt_write_map(w, 1);
    wt_write_cstr(w, "err");
    wt_write_map(w, 3);
    wt_write_cstr(w, "type");
    wt_write_cstr(w, type);
    wt_write_cstr(w, "message");
    wt_write_cstr(w, message);
    wt_write_cstr(w, "traceback");
    wt_write_nil(w);
    return pack(w);
}

/* ---- Arguments ------------------------------------------------------------------ */

/* A small string builder for error messages. */
typedef struct {
    char *buf;
    uint32_t len, cap;
} text;

static void cat(text *t, const char *s, uint32_t n) {
    if (t->len + n + 1 > t->cap) {
        uint32_t cap = (t->len + n + 1) * 2;
        char *buf = (char *)wt_alloc(cap);
        if (!buf) wt_panic("wasmtaps: out of memory");
        if (t->len) memcpy(buf, t->buf, t->len);
        t->buf = buf;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void cats(text *t, const char *s) { cat(t, s, (uint32_t)strlen(s)); }

static void catu(text *t, uint32_t v) {
    char digits[10];
    int n = 0;
    do digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n) cat(t, &digits[--n], 1);
}

static bool argument_error(wt_call *call, text *t) {
    call->failed = wt_err(call, "ArgumentError", t->buf);
    return false;
}

static text begin(const wt_call *call) {
    text t = {0, 0, 0};
    cats(&t, call->task);
    cats(&t, "() ");
    return t;
}

int64_t wt_arg_error(wt_call *call, uint32_t index, const char *expected) {
    text t = begin(call);
    cats(&t, "argument '");
    cats(&t, call->params[index]);
    cats(&t, "' (parameter ");
    catu(&t, index + 1);
    cats(&t, "): invalid type: ");
    cats(&t, wt_type_name(&call->args[index]));
    cats(&t, ", expected ");
    cats(&t, expected);
    argument_error(call, &t);
    return call->failed;
}

int64_t wt_fail(wt_call *call) { return call->failed; }

wt_reader wt_arg(const wt_call *call, uint32_t index) { return call->args[index]; }

#define GETTER(fn, reader, expected, ...)                                                  \
    bool fn(wt_call *call, uint32_t index, __VA_ARGS__) {                               \
        wt_reader r = call->args[index];                                                   \
        if (reader) return true;                                                           \
        wt_arg_error(call, index, expected);                                               \
        return false;                                                                      \
    }

GETTER(wt_arg_i64, wt_read_i64(&r, out), "integer", int64_t *out)
GETTER(wt_arg_f64, wt_read_f64(&r, out), "float", double *out)
GETTER(wt_arg_bool, wt_read_bool(&r, out), "boolean", bool *out)
GETTER(wt_arg_str, wt_read_str(&r, out, len), "string", const char **out, uint32_t *len)
GETTER(wt_arg_bin, wt_read_bin(&r, out, len), "bytes", const uint8_t **out, uint32_t *len)

/* A reader over exactly the next value of `r`, which it skips. */
static bool take(wt_reader *r, wt_reader *value) {
    value->pos = r->pos;
    if (!wt_skip(r)) return false;
    value->end = r->pos;
    return true;
}

bool wt__bind(wt_call *call, const char *task, const char *const *params, uint32_t nparams,
              int32_t ptr, int32_t len) {
    memset(call, 0, sizeof *call);
    call->task = task;
    call->params = params;
    call->nparams = nparams;
    wt_reader r = {(const uint8_t *)(uintptr_t)ptr, (const uint8_t *)(uintptr_t)ptr + len};
    bool given[WT_MAX_PARAMS] = {false};
    uint32_t outer, npos, nkw;
    text t = begin(call);
    if (!wt_read_array(&r, &outer) || outer != 2 || !wt_read_array(&r, &npos)) {
        cats(&t, "arguments are not [args, kwargs]");
        return argument_error(call, &t);
    }
    if (npos > nparams) {
        cats(&t, "takes ");
        catu(&t, nparams);
        cats(&t, " positional arguments but ");
        catu(&t, npos);
        cats(&t, " were given");
        return argument_error(call, &t);
    }
    for (uint32_t i = 0; i < npos; i++) {
        if (!take(&r, &call->args[i])) {
            cats(&t, "arguments are not valid MessagePack");
            return argument_error(call, &t);
        }
        given[i] = true;
    }
    if (!wt_read_map(&r, &nkw)) {
        cats(&t, "arguments are not [args, kwargs]");
        return argument_error(call, &t);
    }
    for (uint32_t k = 0; k < nkw; k++) {
        const char *name;
        uint32_t nlen;
        if (!wt_read_str(&r, &name, &nlen)) {
            cats(&t, "keyword argument names must be strings");
            return argument_error(call, &t);
        }
        uint32_t i = 0;
        while (i < nparams && !(strlen(params[i]) == nlen && !memcmp(params[i], name, nlen)))
            i++;
        if (i == nparams) {
            cats(&t, "got an unexpected keyword argument '");
            cat(&t, name, nlen);
            cats(&t, "'");
            return argument_error(call, &t);
        }
        if (given[i]) {
            cats(&t, "got multiple values for argument '");
            cats(&t, params[i]);
            cats(&t, "'");
            return argument_error(call, &t);
        }
        if (!take(&r, &call->args[i])) {
            cats(&t, "arguments are not valid MessagePack");
            return argument_error(call, &t);
        }
        given[i] = true;
    }
    for (uint32_t i = 0; i < nparams; i++) {
        if (!given[i]) {
            cats(&t, "missing required argument: '");
            cats(&t, params[i]);
            cats(&t, "'");
            return argument_error(call, &t);
        }
    }
    return true;
}
