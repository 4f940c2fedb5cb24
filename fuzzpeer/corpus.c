/*
 * fuzz-peer: seed directories, the dictionary, the working corpus and the
 * reply patterns it is steered by.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int fp_corpus_init(fp_corpus *c, size_t max_bytes)
{
    memset(c, 0, sizeof *c);
    c->max_bytes = max_bytes ? max_bytes : TL_FP_DEFAULT_CORPUS_MAX;
    c->patterns = calloc(FP_PATTERN_SLOTS, sizeof *c->patterns);
    return c->patterns == NULL ? -1 : 0;
}

void fp_corpus_free(fp_corpus *c)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        fp_buf_free(&c->e[i].bytes);
    }
    free(c->e);
    free(c->patterns);
    fp_list_free(&c->dict);
    fp_list_free(&c->texts);
    fp_list_free(&c->addrs);
    memset(c, 0, sizeof *c);
}

int fp_corpus_add(fp_corpus *c, const uint8_t *data, size_t len, int seed)
{
    fp_entry *e;

    /* Bounded: the entries found during the run (the seeds are what the user
     * gave) stay within max_bytes; one that does not fit replaces the oldest
     * found ones, so the corpus keeps moving. */
    if (!seed && len > c->max_bytes) {
        return 0;
    }
    if (!seed && c->found_bytes + len > c->max_bytes) {
        size_t i;

        for (i = 0; i < c->n && c->found_bytes + len > c->max_bytes; i++) {
            if (!c->e[i].seed) {
                c->bytes -= c->e[i].bytes.len;
                c->found_bytes -= c->e[i].bytes.len;
                fp_buf_free(&c->e[i].bytes);
                memmove(c->e + i, c->e + i + 1, (c->n - i - 1) * sizeof *c->e);
                c->n--;
                i--;
            }
        }
    }
    e = fp_grow(c->e, &c->cap, c->n, sizeof *e, 64);
    if (e == NULL) {
        return -1;
    }
    c->e = e;
    e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    if (fp_buf_set(&e->bytes, data, len) != 0) {
        return -1;
    }
    e->seed = seed;
    c->n++;
    c->bytes += len;
    if (seed) {
        c->seeds++;
    } else {
        c->added++;
        c->found_bytes += len;
    }
    return 0;
}

int fp_corpus_new_pattern(fp_corpus *c, uint64_t pattern)
{
    size_t mask = FP_PATTERN_SLOTS - 1u;
    uint64_t h = pattern;
    size_t i, probes;

    if (pattern == 0) {
        pattern = 1; /* 0 marks an empty slot */
    }
    /* Patterns are bitmaps: mix every bit into the slot number. */
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    i = (size_t)(h ^ (h >> 31)) & mask;
    for (probes = 0; probes < 64; probes++) {
        if (c->patterns[i] == pattern) {
            return 0;
        }
        if (c->patterns[i] == 0) {
            /* Bounded memory: past 3/4 full nothing new is remembered (and
             * nothing more is called new). */
            if (c->pattern_count >= FP_PATTERN_SLOTS / 4u * 3u) {
                return 0;
            }
            c->patterns[i] = pattern;
            c->pattern_count++;
            return 1;
        }
        i = (i + 1) & mask;
    }
    return 0;
}

/* ---- files ---- */

static int read_file(const char *path, fp_buf *out, char *err, size_t err_cap)
{
    int fd = open(path, O_RDONLY);
    struct stat st;

    out->len = 0;
    if (fd < 0) {
        snprintf(err, err_cap, "cannot read corpus file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "corpus file %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > TL_FP_MAX_INPUT) {
        snprintf(err, err_cap, "corpus file %s: %lld bytes, more than the %u a case may hold", path,
                 (long long)st.st_size, TL_FP_MAX_INPUT);
        close(fd);
        return -1;
    }
    if (fp_buf_reserve(out, (size_t)st.st_size + 1) != 0) {
        snprintf(err, err_cap, "out of memory reading %s", path);
        close(fd);
        return -1;
    }
    while (out->len < (size_t)st.st_size) {
        ssize_t n = read(fd, out->p + out->len, (size_t)st.st_size - out->len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, err_cap, "cannot read corpus file %s at byte %zu: %s", path, out->len,
                     n == 0 ? "file shrank while read" : strerror(errno));
            close(fd);
            return -1;
        }
        out->len += (size_t)n;
    }
    close(fd);
    return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted regular-file names of dir (skipping dot files and *.plan), so that
 * a run is reproducible from its seed. */
static int list_dir(const char *dir, char ***names, size_t *count, char *err, size_t err_cap)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t n = 0, cap = 0;

    *names = NULL;
    *count = 0;
    if (d == NULL) {
        snprintf(err, err_cap, "cannot open corpus directory %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (de->d_name[0] == '.' || (l > 5 && strcmp(de->d_name + l - 5, ".plan") == 0)) {
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nv = realloc(v, ncap * sizeof *nv);

            if (nv == NULL) {
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n] = malloc(l + 1);
        if (v[n] == NULL) {
            break;
        }
        memcpy(v[n], de->d_name, l + 1);
        n++;
    }
    closedir(d);
    if (n > 0) {
        qsort(v, n, sizeof *v, name_cmp);
    }
    *names = v;
    *count = n;
    return 0;
}

static void free_names(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Kinds of file in tofulab's fuzz/corpus layout (fuzz/export-raw.sh). */
#define K_RAW    0 /* a raw stream */
#define K_READER 1 /* [cfg] [k] k&15 split bytes, stream */
#define K_ENGINE 2 /* [cfg0] [cfg1] [n] 2*(n&15) step bytes, stream */
#define K_TEXT   3 /* a text headers block */
#define K_ADDR   4 /* [mode] address value */

static int load_one(fp_corpus *c, const char *path, int kind, char *err, size_t err_cap)
{
    fp_buf b = {0};
    size_t skip = 0;
    int rc = 0;

    if (read_file(path, &b, err, err_cap) != 0) {
        fp_buf_free(&b);
        return -1;
    }
    switch (kind) {
    /* Inputs shorter than their harness prefix carry no stream: skipped, as
     * fuzz/export-raw.sh does. */
    case K_READER: skip = b.len < 2 ? b.len : 2u + (b.p[1] & 15u); break;
    case K_ENGINE: skip = b.len < 3 ? b.len : 3u + 2u * (b.p[2] & 15u); break;
    case K_ADDR: skip = 1; break;
    default: {
        /* A file --save-corpus wrote is named by its content (fp-<FNV-1a 64>):
         * a mismatch means it was cut short or edited. */
        const char *base = strrchr(path, '/');
        char want[24];

        base = base != NULL ? base + 1 : path;
        fp_fmt(want, sizeof want, "fp-%016llx", (unsigned long long)fp_hash(FP_HASH_INIT, b.p, b.len));
        if (strncmp(base, "fp-", 3) == 0 && strlen(base) == 19 && strcmp(base, want) != 0) {
            fp_fmt(err, err_cap,
                   "corpus file %s is corrupt: its %zu bytes hash to %s (cut short or edited since "
                   "--save-corpus "
                   "wrote it)",
                   path, b.len, want);
            rc = -1;
        }
        break;
    }
    }
    if (rc == 0 && b.len > skip) {
        if (kind == K_TEXT) {
            rc = fp_list_add(&c->texts, b.p, b.len);
        } else if (kind == K_ADDR) {
            rc = fp_list_add(&c->addrs, b.p + skip, b.len - skip);
        } else {
            rc = fp_corpus_add(c, b.p + skip, b.len - skip, 1);
        }
        if (rc != 0) {
            snprintf(err, err_cap, "out of memory loading %s", path);
        }
    }
    fp_buf_free(&b);
    return rc;
}

static int load_flat(fp_corpus *c, const char *dir, int kind, char *err, size_t err_cap)
{
    char **names;
    size_t n, i;
    int rc = 0;

    if (list_dir(dir, &names, &n, err, err_cap) != 0) {
        return -1;
    }
    for (i = 0; i < n && rc == 0; i++) {
        size_t need = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(need);

        if (path == NULL) {
            snprintf(err, err_cap, "out of memory");
            rc = -1;
            break;
        }
        snprintf(path, need, "%s/%s", dir, names[i]);
        if (is_dir(path)) {
            free(path);
            continue;
        }
        rc = load_one(c, path, kind, err, err_cap);
        free(path);
    }
    free_names(names, n);
    return rc;
}

int fp_corpus_load_dir(fp_corpus *c, const char *dir, char *err, size_t err_cap)
{
    static const struct {
        const char *sub;
        int kind;
    } layout[] = {{"reader", K_READER},
                  {"engine_server", K_ENGINE},
                  {"engine_client", K_ENGINE},
                  {"text", K_TEXT},
                  {"address", K_ADDR}};
    size_t i, found = 0;
    char path[4096];

    if (!is_dir(dir)) {
        snprintf(err, err_cap, "cannot open corpus directory %s: %s", dir,
                 access(dir, F_OK) == 0 ? "not a directory" : strerror(errno));
        return -1;
    }
    for (i = 0; i < sizeof layout / sizeof layout[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, layout[i].sub);
        if (is_dir(path)) {
            found++;
        }
    }
    if (found == 0) {
        return load_flat(c, dir, K_RAW, err, err_cap);
    }
    for (i = 0; i < sizeof layout / sizeof layout[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, layout[i].sub);
        if (is_dir(path) && load_flat(c, path, layout[i].kind, err, err_cap) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- dictionary: name="value" or "value" lines, # comments; escapes \\ \" \xNN ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

int fp_dict_load(fp_corpus *c, const char *file, char *err, size_t err_cap)
{
    fp_buf b = {0}, tok = {0};
    size_t pos = 0;
    unsigned line = 1;
    int rc = 0;

    if (read_file(file, &b, err, err_cap) != 0) {
        /* read_file names it a corpus file; say dictionary. */
        char tmp[600];

        snprintf(tmp, sizeof tmp, "dictionary %s", err);
        snprintf(err, err_cap, "%s", tmp);
        fp_buf_free(&b);
        return -1;
    }
#define DFAIL(col, msg)                                                                                      \
    do {                                                                                                     \
        snprintf(err, err_cap, "%s:%u:%zu: %s", file, line, (size_t)(col) + 1, msg);                         \
        rc = -1;                                                                                             \
        goto done;                                                                                           \
    } while (0)
    while (pos < b.len) {
        size_t bol = pos, eol = pos, p;

        while (eol < b.len && b.p[eol] != '\n') {
            eol++;
        }
        p = pos;
        while (p < eol && (b.p[p] == ' ' || b.p[p] == '\t' || b.p[p] == '\r')) {
            p++;
        }
        if (p < eol && b.p[p] != '#') {
            /* optional name */
            while (p < eol && b.p[p] != '"' && b.p[p] != '=') {
                uint8_t ch = b.p[p];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '_' || ch == '@' || ch == '-' || ch == '.')) {
                    DFAIL(p - bol, "expected a name, '=' or '\"'");
                }
                p++;
            }
            if (p < eol && b.p[p] == '=') {
                p++;
            }
            if (p >= eol || b.p[p] != '"') {
                DFAIL(p - bol, "expected '\"' to start the value");
            }
            p++;
            tok.len = 0;
            for (;;) {
                uint8_t ch;

                if (p >= eol) {
                    DFAIL(p - bol, "the value has no closing '\"'");
                }
                ch = b.p[p];
                if (ch == '"') {
                    p++;
                    break;
                }
                if (ch == '\\') {
                    if (p + 1 >= eol) {
                        DFAIL(p - bol, "a backslash ends the line");
                    }
                    if (b.p[p + 1] == '\\' || b.p[p + 1] == '"') {
                        ch = b.p[p + 1];
                        p += 2;
                    } else if (b.p[p + 1] == 'x') {
                        int hi = p + 2 < eol ? hexval((char)b.p[p + 2]) : -1;
                        int lo = p + 3 < eol ? hexval((char)b.p[p + 3]) : -1;

                        if (hi < 0 || lo < 0) {
                            DFAIL(p - bol, "\\x needs two hex digits");
                        }
                        ch = (uint8_t)(hi * 16 + lo);
                        p += 4;
                    } else {
                        DFAIL(p - bol, "unknown escape (\\\\, \\\" or \\xNN)");
                    }
                } else {
                    p++;
                }
                if (fp_buf_append(&tok, &ch, 1) != 0) {
                    DFAIL(p - bol, "out of memory");
                }
            }
            while (p < eol && (b.p[p] == ' ' || b.p[p] == '\t' || b.p[p] == '\r')) {
                p++;
            }
            if (p < eol && b.p[p] != '#') {
                DFAIL(p - bol, "unexpected text after the value");
            }
            if (tok.len > 0 && fp_list_add(&c->dict, tok.p, tok.len) != 0) {
                DFAIL(0, "out of memory");
            }
        }
        pos = eol + 1;
        line++;
    }
#undef DFAIL
done:
    fp_buf_free(&b);
    fp_buf_free(&tok);
    return rc;
}

int fp_corpus_save(const fp_corpus *c, const char *dir, char *err, size_t err_cap)
{
    size_t i;

    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, err_cap, "cannot create corpus directory %s: %s", dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < c->n; i++) {
        const fp_entry *e = &c->e[i];
        char path[4096];
        FILE *f;

        if (e->seed) {
            continue;
        }
        snprintf(path, sizeof path, "%s/fp-%016llx", dir,
                 (unsigned long long)fp_hash(FP_HASH_INIT, e->bytes.p, e->bytes.len));
        f = fopen(path, "wb");
        if (f != NULL) {
            int bad = e->bytes.len > 0 && fwrite(e->bytes.p, 1, e->bytes.len, f) != e->bytes.len;

            if (fclose(f) != 0 || bad) {
                f = NULL;
            }
        }
        if (f == NULL) {
            snprintf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}
