/*
 * Packaging and set-up: `make install` into a private prefix (the command,
 * the library and headers, tofulab.pc, the man page, the Wireshark
 * dissector), a small program built against the installed library with
 * `pkg-config --cflags --libs tofulab`, `make uninstall`; and
 * ci/install-deps.sh, run against fake dpkg-query / apt-cache / apt-get /
 * clang commands that play Debian 12 and 13 and Ubuntu 22.04 and 24.04.
 *
 * Runs from the repository root; needs make, pkg-config, a C compiler ($CC,
 * default cc), help2man and tshark (ci/install-deps.sh installs them).
 * TOFULAB_KEEP_TMP=1 keeps the temporary directories (the paths are printed).
 */
#define _XOPEN_SOURCE 700 /* nftw, symlink */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../helpers/spawn.h"

#define MAKE_TIMEOUT 300000 /* a cold build of everything, on a busy machine */
#define TOOL_TIMEOUT 60000

/* make must not inherit the jobserver of a make that runs this test */
static const char *const no_make_env[] = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", NULL};

static char *group_tmp;
static char *prefix;
static char *plugin_dir;
static char *home;

static void keep_or_remove(char *dir)
{
    if (dir == NULL) {
        return;
    }
    if (getenv("TOFULAB_KEEP_TMP") != NULL) {
        fprintf(stderr, "test_packaging: kept %s\n", dir);
    } else {
        spawn_rmtree(dir);
    }
    free(dir);
}

/* Runs argv; fails the test unless it exits 0. */
static void run_ok(spawn_result *r, const char *const *argv, const char *const *set, int timeout_ms)
{
    if (spawn_run(r, argv, set, no_make_env, NULL, 0, timeout_ms) != 0) {
        fail_msg("cannot run %s: %s", argv[0], strerror(r->spawn_errno));
    }
    if (r->exit_code != 0) {
        fail_msg("%s %s: exit %d\n%s%s", argv[0], argv[1] ? argv[1] : "", r->exit_code, r->out, r->err);
    }
}

static void assert_file(const char *dir, const char *rel)
{
    char *path = spawn_fmt("%s/%s", dir, rel);
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        fail_msg("make install did not write %s", path);
    }
    free(path);
}

static size_t files_found;
static int count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)ftw;
    files_found += flag == FTW_F || flag == FTW_SL;
    return 0;
}

static size_t count_files(const char *dir)
{
    files_found = 0;
    nftw(dir, count_file, 16, FTW_PHYS);
    return files_found;
}

/* The version `tofulab --version` prints (of the binary at bin). */
static char *version_of(const char *bin)
{
    const char *argv[] = {bin, "--version", NULL};
    spawn_result r;
    char *v;

    run_ok(&r, argv, NULL, TOOL_TIMEOUT);
    if (strncmp(r.out, "tofulab ", 8) != 0 || r.out_len < 10 || r.out[r.out_len - 1] != '\n') {
        fail_msg("--version printed '%s'", r.out);
    }
    r.out[r.out_len - 1] = '\0';
    v = spawn_fmt("%s", r.out + 8);
    spawn_free(&r);
    return v;
}

/* One `make install` into a private prefix for the tests below; the
 * dissector into a private HOME's personal Wireshark plugin folder. */
static int group_setup(void **state)
{
    char *prefix_arg, *plugin_arg;
    const char *argv[6];
    spawn_result r;

    (void)state;
    group_tmp = spawn_tmpdir("packaging");
    if (group_tmp == NULL) {
        fprintf(stderr, "test_packaging: cannot create a temporary directory\n");
        return -1;
    }
    prefix = spawn_fmt("%s/prefix", group_tmp);
    home = spawn_fmt("%s/home", group_tmp);
    plugin_dir = spawn_fmt("%s/.local/lib/wireshark/plugins", home);
    prefix_arg = spawn_fmt("PREFIX=%s", prefix);
    plugin_arg = spawn_fmt("WIRESHARK_PLUGIN_DIR=%s", plugin_dir);
    argv[0] = "make";
    argv[1] = "--no-print-directory";
    argv[2] = "install";
    argv[3] = prefix_arg;
    argv[4] = plugin_arg;
    argv[5] = NULL;
    if (spawn_run(&r, argv, NULL, no_make_env, NULL, 0, MAKE_TIMEOUT) != 0 || r.exit_code != 0) {
        fprintf(stderr, "test_packaging: make install %s failed (exit %d): %s%s\n", prefix_arg, r.exit_code,
                r.out, r.err);
        spawn_free(&r);
        free(prefix_arg);
        free(plugin_arg);
        return -1;
    }
    spawn_free(&r);
    free(prefix_arg);
    free(plugin_arg);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    keep_or_remove(group_tmp);
    free(prefix);
    free(plugin_dir);
    free(home);
    return 0;
}

/* ---- make install ---- */

static void test_packaging_install_writes_every_file(void **state)
{
    static const char *const files[] = {
        "bin/tofulab",
        "lib/libtofulab.a",
        "include/tofulab/wire.h",
        "include/tofulab/engine.h",
        "include/tofulab/posix.h",
        "include/tofulab/version.h",
        "lib/pkgconfig/tofulab.pc",
        "share/man/man1/tofulab.1",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        assert_file(prefix, files[i]);
    }
    assert_file(plugin_dir, "tofu.lua");
}

/* A program that uses the codec and the POSIX host (so -lpthread too),
 * compiled and linked with nothing but what pkg-config says. */
static const char hello_c[] =
    "#include <stdio.h>\n"
    "#include <tofulab/posix.h>\n"
    "#include <tofulab/version.h>\n"
    "#include <tofulab/wire.h>\n"
    "\n"
    "int main(void)\n"
    "{\n"
    "    tl_header h = {0};\n"
    "    uint8_t b[TL_HEADER_SIZE];\n"
    "    tl_posix *p = NULL;\n"
    "    size_t i;\n"
    "\n"
    "    h.channel = 6699;\n"
    "    h.proto = tl_proto_make(TL_OP_REQUEST, 0, 0, 0, 0);\n"
    "    h.message_id = 42;\n"
    "    h.bl = 5;\n"
    "    tl_header_encode(&h, b);\n"
    "    if (tl_posix_create(NULL, &p) != 0) {\n"
    "        return 1;\n"
    "    }\n"
    "    tl_posix_destroy(p);\n"
    "    printf(\"tofulab %s %s \", TOFULAB_VERSION, tl_opcode_name(TL_OP_HELLO_REQUEST));\n"
    "    for (i = 0; i < TL_HEADER_SIZE; i++) {\n"
    "        printf(\"%02x\", b[i]);\n"
    "    }\n"
    "    printf(\"\\n\");\n"
    "    return 0;\n"
    "}\n";

static void test_packaging_pkg_config_builds_a_program(void **state)
{
    char *src = spawn_fmt("%s/hello.c", group_tmp);
    char *exe = spawn_fmt("%s/hello", group_tmp);
    char *pc_path = spawn_fmt("PKG_CONFIG_PATH=%s/lib/pkgconfig", prefix);
    const char *cc = getenv("CC") != NULL && getenv("CC")[0] != '\0' ? getenv("CC") : "cc";
    char *build = spawn_fmt(
        "%s -std=c11 -Wall -Wextra -Werror '%s' -o '%s' $(pkg-config --cflags --libs tofulab)", cc, src, exe);
    char *bin = spawn_fmt("%s/bin/tofulab", prefix);
    char *version = version_of(bin);
    char *expected = spawn_fmt("tofulab %s HelloRequest 1a2b0000000000000000002a00000005\n", version);
    const char *set[] = {pc_path, NULL};
    const char *modversion[] = {"pkg-config", "--modversion", "tofulab", NULL};
    const char *sh_build[] = {"sh", "-c", build, NULL};
    const char *run_exe[] = {exe, NULL};
    spawn_result r;

    (void)state;
    assert_int_equal(spawn_write_file(src, hello_c, strlen(hello_c)), 0);
    run_ok(&r, modversion, set, TOOL_TIMEOUT);
    if (strncmp(r.out, version, strlen(version)) != 0 || strcmp(r.out + strlen(version), "\n") != 0) {
        fail_msg("pkg-config --modversion says '%s', tofulab --version '%s'", r.out, version);
    }
    spawn_free(&r);
    run_ok(&r, sh_build, set, TOOL_TIMEOUT);
    spawn_free(&r);
    run_ok(&r, run_exe, NULL, TOOL_TIMEOUT);
    assert_string_equal(r.out, expected);
    spawn_free(&r);
    free(src);
    free(exe);
    free(pc_path);
    free(build);
    free(bin);
    free(version);
    free(expected);
}

/* The man page: help2man's page of the installed version, with a section for
 * every command `tofulab --help` lists. */
static void test_packaging_man_page_covers_every_command(void **state)
{
    char *bin = spawn_fmt("%s/bin/tofulab", prefix);
    char *man_path = spawn_fmt("%s/share/man/man1/tofulab.1", prefix);
    char *man = spawn_read_file(man_path, NULL);
    char *version = version_of(bin);
    char *th = spawn_fmt(".TH TOFULAB \"1\"");
    char *ver = spawn_fmt("\"tofulab %s\"", version);
    const char *help[] = {bin, "--help", NULL};
    spawn_result r;
    char *line, *save = NULL;
    int in_commands = 0, commands = 0;

    (void)state;
    assert_non_null(man);
    assert_non_null(strstr(man, th));
    assert_non_null(strstr(man, ver));
    assert_non_null(strstr(man, ".SH SYNOPSIS"));
    run_ok(&r, help, NULL, TOOL_TIMEOUT);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[32];
        char *want;

        if (strcmp(line, "commands:") == 0) {
            in_commands = 1;
            continue;
        }
        if (!in_commands || sscanf(line, "  %31s", name) != 1 || line[0] != ' ') {
            in_commands = in_commands && line[0] == ' ';
            continue;
        }
        want = spawn_fmt(".SS \"tofulab %s\"", name);
        if (strstr(man, want) == NULL) {
            fail_msg("the man page has no section %s", want);
        }
        free(want);
        commands++;
    }
    assert_true(commands >= 5);
    /* subcommands documented on their own */
    assert_non_null(strstr(man, ".SS \"tofulab frame decode\""));
    assert_non_null(strstr(man, ".SS \"tofulab frame encode\""));
    spawn_free(&r);
    free(bin);
    free(man_path);
    free(man);
    free(version);
    free(th);
    free(ver);
}

/* Wireshark finds the installed dissector in the personal plugin folder of
 * the HOME it was installed for. */
static void test_packaging_dissector_loads_from_plugin_folder(void **state)
{
    char *home_env = spawn_fmt("HOME=%s", home);
    const char *set[] = {home_env, NULL};
    const char *argv[] = {"tshark", "-G", "protocols", NULL};
    spawn_result r;

    (void)state;
    run_ok(&r, argv, set, TOOL_TIMEOUT);
    if (strstr(r.out, "\tTOFU\ttofu\n") == NULL) {
        fail_msg("tshark -G protocols with HOME=%s does not list tofu", home);
    }
    spawn_free(&r);
    free(home_env);
}

/* With DESTDIR and a system prefix, the dissector goes to Wireshark's global
 * Lua plugin folder (under DESTDIR); `make uninstall` with the same variables
 * removes every file install wrote. */
static void test_packaging_uninstall_removes_every_file(void **state)
{
    char *root = spawn_fmt("%s/root", group_tmp);
    char *destdir = spawn_fmt("DESTDIR=%s", root);
    const char *install[] = {"make", "--no-print-directory", "install", destdir, "PREFIX=/usr/local", NULL};
    const char *uninstall[] = {"make",  "--no-print-directory", "uninstall",
                               destdir, "PREFIX=/usr/local",    NULL};
    const char *folders[] = {"tshark", "-G", "folders", NULL};
    spawn_result r;
    char *global = NULL, *line, *save = NULL;
    char *plugin_rel;
    size_t before;

    (void)state;
    run_ok(&r, folders, NULL, TOOL_TIMEOUT);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "Global Lua Plugins:", 19) == 0) {
            line += 19;
            line += strspn(line, " \t");
            global = spawn_fmt("%s", line);
        }
    }
    spawn_free(&r);
    assert_non_null(global);
    run_ok(&r, install, NULL, MAKE_TIMEOUT);
    spawn_free(&r);
    assert_file(root, "usr/local/bin/tofulab");
    assert_file(root, "usr/local/lib/pkgconfig/tofulab.pc");
    plugin_rel = spawn_fmt("%s/tofu.lua", global + 1);
    assert_file(root, plugin_rel);
    before = count_files(root);
    assert_true(before >= 9);
    run_ok(&r, uninstall, NULL, MAKE_TIMEOUT);
    spawn_free(&r);
    if (count_files(root) != 0) {
        fail_msg("make uninstall left %zu of %zu files under %s", count_files(root), before, root);
    }
    free(root);
    free(destdir);
    free(global);
    free(plugin_rel);
}

/* ---- ci/install-deps.sh against fake package tools ---- */

typedef struct {
    const char *name;
    const char *clang_line; /* `clang --version`; NULL: clang not installed */
    unsigned apt_default;   /* the clang-N the clang package depends on */
    int rt_package_known;   /* apt knows libclang-rt-N-dev */
} distro;

static const distro distros[] = {
    {"Debian 12", "Debian clang version 14.0.6", 14, 1},
    {"Debian 13", "Debian clang version 19.1.7 (3+b1)", 19, 1},
    {"Ubuntu 22.04", "Ubuntu clang version 14.0.0-1ubuntu1.1", 14, 0},
    {"Ubuntu 24.04", "Ubuntu clang version 18.1.3 (1ubuntu1)", 18, 1},
};

static const char base_packages[] =
    "make gcc clang llvm libcmocka-dev pkg-config libfaketime faketime valgrind "
    "afl++ clang-format tshark help2man libmicrohttpd-dev libjansson-dev";

static void write_script(const char *dir, const char *name, const char *body)
{
    char *path = spawn_fmt("%s/%s", dir, name);
    char *text = spawn_fmt("#!/bin/sh\n%s", body);

    assert_int_equal(spawn_write_file(path, text, strlen(text)), 0);
    assert_int_equal(chmod(path, 0755), 0);
    free(path);
    free(text);
}

/* A fake machine in dir: bin/ holds dpkg-query (packages in `installed` are
 * installed), apt-cache (knows the base packages and, if rt_package_known,
 * libclang-rt-N-dev; the clang package depends on clang-N), apt-get (logs
 * its arguments to apt-get.log), id (root), clang (if installed; finds its
 * runtimes when runtime_present) and the real grep, sed, head and find. */
static char *fake_machine(const char *dir, const distro *d, const char *installed, int runtime_present)
{
    static const char *const real_tools[] = {"grep", "sed", "head", "find"};
    char *bin = spawn_fmt("%s/bin", dir);
    char *res = spawn_fmt("%s/resource", dir);
    char *body;
    char *path;
    size_t i;

    assert_int_equal(mkdir(bin, 0755), 0);
    for (i = 0; i < sizeof real_tools / sizeof real_tools[0]; i++) {
        char real[512];
        char *link_path = spawn_fmt("%s/%s", bin, real_tools[i]);

        assert_int_equal(spawn_which(real_tools[i], real, sizeof real), 0);
        assert_int_equal(symlink(real, link_path), 0);
        free(link_path);
    }
    path = spawn_fmt("%s/installed", dir);
    body = spawn_fmt("%s\n", installed);
    for (i = 0; body[i] != '\0'; i++) {
        body[i] = body[i] == ' ' ? '\n' : body[i];
    }
    assert_int_equal(spawn_write_file(path, body, strlen(body)), 0);
    free(path);
    free(body);
    path = spawn_fmt("%s/known", dir);
    body = d->rt_package_known ? spawn_fmt("%s\nclang-%u\nlibclang-rt-%u-dev\n", base_packages,
                                           d->apt_default, d->apt_default)
                               : spawn_fmt("%s\nclang-%u\n", base_packages, d->apt_default);
    for (i = 0; body[i] != '\0'; i++) {
        body[i] = body[i] == ' ' ? '\n' : body[i];
    }
    assert_int_equal(spawn_write_file(path, body, strlen(body)), 0);
    free(path);
    free(body);

    body =
        spawn_fmt("for last; do :; done\n"
                  "if grep -qx -- \"$last\" '%s/installed'; then printf 'install ok installed'; exit 0; fi\n"
                  "echo \"dpkg-query: no packages found matching $last\" >&2\n"
                  "exit 1\n",
                  dir);
    write_script(bin, "dpkg-query", body);
    free(body);
    body = spawn_fmt(
        "case \"$1\" in\n"
        "show) if grep -qx -- \"$2\" '%s/known'; then echo \"Package: $2\"; exit 0; fi\n"
        "      echo 'E: No packages found' >&2; exit 100 ;;\n"
        "depends) if [ \"$2\" = clang ]; then echo clang; echo '  Depends: clang-%u'; exit 0; fi ;;\n"
        "esac\n"
        "exit 100\n",
        dir, d->apt_default);
    write_script(bin, "apt-cache", body);
    free(body);
    body = spawn_fmt("echo \"$*\" >>'%s/apt-get.log'\n", dir);
    write_script(bin, "apt-get", body);
    free(body);
    write_script(bin, "id", "echo 0\n");
    if (d->clang_line != NULL) {
        body = spawn_fmt("case \"$1\" in\n"
                         "--version) echo '%s'; echo 'Target: x86_64-pc-linux-gnu' ;;\n"
                         "-print-resource-dir) echo '%s' ;;\n"
                         "*) exit 1 ;;\n"
                         "esac\n",
                         d->clang_line, res);
        write_script(bin, "clang", body);
        free(body);
    }
    path = spawn_fmt("%s/lib", res);
    assert_int_equal(mkdir(res, 0755), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    free(path);
    if (runtime_present) {
        path = spawn_fmt("%s/lib/libclang_rt.asan-x86_64.a", res);
        assert_int_equal(spawn_write_file(path, "!<arch>\n", 8), 0);
        free(path);
        path = spawn_fmt("%s/lib/libclang_rt.fuzzer-x86_64.a", res);
        assert_int_equal(spawn_write_file(path, "!<arch>\n", 8), 0);
        free(path);
    }
    free(res);
    return bin;
}

static void run_install_deps(spawn_result *r, const char *fake_bin, const char *arg)
{
    char *path_env = spawn_fmt("PATH=%s", fake_bin);
    const char *set[] = {path_env, NULL};
    const char *argv[] = {"sh", "ci/install-deps.sh", arg, NULL};

    if (spawn_run(r, argv, set, NULL, NULL, 0, TOOL_TIMEOUT) != 0) {
        fail_msg("cannot run sh: %s", strerror(r->spawn_errno));
    }
    free(path_env);
}

/* On each distribution the compiler runtime resolves to the package of the
 * installed clang's major version. */
static void test_packaging_install_deps_resolves_compiler_rt_per_distro(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof distros / sizeof distros[0]; i++) {
        char *dir = spawn_tmpdir("deps");
        char *bin;
        char *want_rt = distros[i].rt_package_known
                            ? spawn_fmt("libclang-rt-%u-dev", distros[i].apt_default)
                            : spawn_fmt("libclang-common-%u-dev", distros[i].apt_default);
        char *want = spawn_fmt("install-deps: packages: %s %s\ninstall-deps: missing: %s\n", base_packages,
                               want_rt, want_rt);
        spawn_result r;

        assert_non_null(dir);
        bin = fake_machine(dir, &distros[i], base_packages, 0);
        run_install_deps(&r, bin, "--dry-run");
        if (r.exit_code != 0 || strcmp(r.out, want) != 0) {
            fail_msg("%s: exit %d, printed:\n%s%s\nexpected:\n%s", distros[i].name, r.exit_code, r.out, r.err,
                     want);
        }
        spawn_free(&r);
        keep_or_remove(dir);
        free(bin);
        free(want_rt);
        free(want);
    }
}

/* Before clang is installed, the runtime follows the clang the clang
 * package would bring. */
static void test_packaging_install_deps_without_clang_follows_apt(void **state)
{
    const distro no_clang = {"Debian 13, no clang yet", NULL, 19, 1};
    char *dir = spawn_tmpdir("deps");
    char *bin, *want;
    spawn_result r;

    (void)state;
    assert_non_null(dir);
    bin = fake_machine(dir, &no_clang, "make gcc llvm", 0);
    run_install_deps(&r, bin, "--dry-run");
    assert_int_equal(r.exit_code, 0);
    want =
        spawn_fmt("install-deps: packages: %s libclang-rt-19-dev\n"
                  "install-deps: missing: clang libcmocka-dev pkg-config libfaketime faketime valgrind afl++ "
                  "clang-format tshark help2man libmicrohttpd-dev libjansson-dev libclang-rt-19-dev\n",
                  base_packages);
    if (strcmp(r.out, want) != 0) {
        fail_msg("printed:\n%s%s\nexpected:\n%s", r.out, r.err, want);
    }
    free(want);
    spawn_free(&r);
    keep_or_remove(dir);
    free(bin);
}

/* Installing says what in one line on stderr, and installs exactly the
 * missing packages after refreshing the package lists. */
static void test_packaging_install_deps_says_what_it_installs(void **state)
{
    char *dir = spawn_tmpdir("deps");
    char *bin, *log_path, *log;
    spawn_result r;

    (void)state;
    assert_non_null(dir);
    bin = fake_machine(dir, &distros[1],
                       "make gcc clang llvm libcmocka-dev pkg-config libfaketime faketime "
                       "valgrind afl++ clang-format",
                       0);
    run_install_deps(&r, bin, NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    assert_string_equal(
        r.err,
        "install-deps: installing tshark help2man libmicrohttpd-dev libjansson-dev libclang-rt-19-dev\n");
    spawn_free(&r);
    log_path = spawn_fmt("%s/apt-get.log", dir);
    log = spawn_read_file(log_path, NULL);
    assert_non_null(log);
    assert_string_equal(
        log,
        "update -qq\ninstall -y -qq --no-install-recommends tshark help2man libmicrohttpd-dev libjansson-dev "
        "libclang-rt-19-dev\n");
    free(log);
    free(log_path);
    keep_or_remove(dir);
    free(bin);
}

/* Nothing missing: no output, no apt-get. */
static void test_packaging_install_deps_silent_when_nothing_missing(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof distros / sizeof distros[0]; i++) {
        char *dir = spawn_tmpdir("deps");
        char *bin, *log_path;
        spawn_result r;

        assert_non_null(dir);
        bin = fake_machine(dir, &distros[i], base_packages, 1);
        run_install_deps(&r, bin, NULL);
        if (r.exit_code != 0 || r.out_len != 0 || r.err_len != 0) {
            fail_msg("%s: exit %d, printed [%s][%s]", distros[i].name, r.exit_code, r.out, r.err);
        }
        spawn_free(&r);
        log_path = spawn_fmt("%s/apt-get.log", dir);
        if (access(log_path, F_OK) == 0) {
            fail_msg("%s: apt-get was called with nothing missing", distros[i].name);
        }
        free(log_path);
        keep_or_remove(dir);
        free(bin);
    }
}

/* On this machine: the dry run names the runtime of the clang installed here. */
static void test_packaging_install_deps_dry_run_here_names_this_clang(void **state)
{
    const char *clang_version[] = {"clang", "--version", NULL};
    const char *dry_run[] = {"sh", "ci/install-deps.sh", "--dry-run", NULL};
    char *rt, *common;
    const char *p;
    unsigned major = 0;
    spawn_result r;

    (void)state;
    run_ok(&r, clang_version, NULL, TOOL_TIMEOUT);
    p = strstr(r.out, "clang version ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "clang version %u", &major), 1);
    spawn_free(&r);
    rt = spawn_fmt(" libclang-rt-%u-dev\n", major);
    common = spawn_fmt(" libclang-common-%u-dev\n", major);
    run_ok(&r, dry_run, NULL, TOOL_TIMEOUT);
    if (strncmp(r.out, "install-deps: packages: ", 24) != 0 ||
        (strstr(r.out, rt) == NULL && strstr(r.out, common) == NULL)) {
        fail_msg("clang %u here; the dry run printed:\n%s", major, r.out);
    }
    spawn_free(&r);
    free(rt);
    free(common);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packaging_install_writes_every_file),
        cmocka_unit_test(test_packaging_pkg_config_builds_a_program),
        cmocka_unit_test(test_packaging_man_page_covers_every_command),
        cmocka_unit_test(test_packaging_dissector_loads_from_plugin_folder),
        cmocka_unit_test(test_packaging_uninstall_removes_every_file),
        cmocka_unit_test(test_packaging_install_deps_resolves_compiler_rt_per_distro),
        cmocka_unit_test(test_packaging_install_deps_without_clang_follows_apt),
        cmocka_unit_test(test_packaging_install_deps_says_what_it_installs),
        cmocka_unit_test(test_packaging_install_deps_silent_when_nothing_missing),
        cmocka_unit_test(test_packaging_install_deps_dry_run_here_names_this_clang),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
