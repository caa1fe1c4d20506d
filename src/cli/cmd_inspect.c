/* cmd_inspect.c - `clvtier inspect FILE.h5 [--json]`. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char HELP[] = "usage: clvtier inspect FILE.h5 [--json]\n"
                           "\n"
                           "List the groups (tables), datasets (columns: type, rows) and\n"
                           "attributes of an HDF5 file, clvtier's or another tool's.\n"
                           "\n"
                           "options:\n"
                           "      --json    machine-readable output on stdout\n"
                           "  -h, --help    this help\n";

typedef struct walk {
    int json, first, opened;
} walk;

static void show_file(void *ctx, const char *path, int is_clvtier)
{
    walk *w = ctx;
    w->opened = 1;
    if (w->json) {
        printf("{\n  \"file\": ");
        cli_json_str(stdout, path);
        printf(",\n  \"clvtier\": %s,\n  \"nodes\": [\n    {\"path\": \"/\", \"kind\": \"group\", ",
               is_clvtier ? "true" : "false");
    } else {
        printf("%s%s\n", path, is_clvtier ? "" : "  (not written by clvtier)");
    }
}

static int show_attr(void *ctx, const ct_attr_info *a)
{
    walk *w = ctx;
    if (w->json) {
        printf("%s", w->first ? "" : ", ");
        cli_json_str(stdout, a->name);
        printf(": ");
        cli_json_str(stdout, a->value);
        w->first = 0;
    } else {
        printf("    @%s = %s\n", a->name, a->value);
    }
    return 0;
}

static void show_node(void *ctx, const ct_node_info *n, int root)
{
    walk *w = ctx;
    w->first = 1;
    if (w->json) {
        if (!root) {
            printf(",\n    {\"path\": ");
            cli_json_str(stdout, n->path);
            if (n->kind == CT_NODE_GROUP) {
                printf(", \"kind\": \"group\", ");
            } else {
                printf(", \"kind\": \"dataset\", \"dtype\": \"%s\", \"shape\": [", n->dtype);
                for (int i = 0; i < n->rank && i < 4; i++) {
                    printf("%s%llu", i ? ", " : "", (unsigned long long)n->dims[i]);
                }
                printf("], \"compressed\": %s, ", n->compressed ? "true" : "false");
            }
        }
        printf("\"attrs\": {");
    } else if (!root) {
        if (n->kind == CT_NODE_GROUP) {
            printf("%s/\n", n->path);
        } else {
            printf("  %-28s %-12s", n->path, n->dtype);
            for (int i = 0; i < n->rank && i < 4; i++) {
                printf("%s%llu", i ? " x " : "", (unsigned long long)n->dims[i]);
            }
            printf("%s\n", n->compressed ? "  (deflate)" : "");
        }
    }
}

static void show_node_end(void *ctx, const ct_node_info *n, int root)
{
    const walk *w = ctx;
    (void)n;
    (void)root;
    if (w->json) {
        printf("}}");
    }
}

int cmd_inspect(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"json", no_argument, NULL, CLI_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    static const ct_inspect_fns FNS = {show_file, show_node, show_attr, show_node_end};
    ct_error err;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "hq", LONG, NULL)) != -1) {
        int ec = cli_option(c, opt, HELP, argc, argv);
        if (ec >= 0) {
            return ec;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing FILE.h5" : "too many arguments");
    }
    walk w = {c->json, 1, 0};
    ct_status s = ct_stage_inspect(argv[optind], &FNS, &w, &err);
    if (w.opened && c->json) { /* as far as the walk went */
        printf("\n  ]\n}\n");
    }
    return s != CT_OK ? cli_fail(c, &err) : 0;
}
