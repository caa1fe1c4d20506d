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
    const ct_file *f;
    int json, first;
} walk;

static int print_attr(void *ctx, const ct_attr_info *a)
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

static void attrs(walk *w, const char *obj)
{
    ct_error err;
    w->first = 1;
    if (w->json) {
        printf("\"attrs\": {");
    }
    (void)ct_file_attrs(w->f, obj, print_attr, w, &err);
    if (w->json) {
        printf("}");
    }
}

static int print_node(void *ctx, const ct_node_info *n)
{
    walk *w = ctx;
    if (w->json) {
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
        attrs(w, n->path);
        printf("}");
    } else {
        if (n->kind == CT_NODE_GROUP) {
            printf("%s/\n", n->path);
        } else {
            printf("  %-28s %-12s", n->path, n->dtype);
            for (int i = 0; i < n->rank && i < 4; i++) {
                printf("%s%llu", i ? " x " : "", (unsigned long long)n->dims[i]);
            }
            printf("%s\n", n->compressed ? "  (deflate)" : "");
        }
        attrs(w, n->path);
    }
    return 0;
}

int cmd_inspect(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"json", no_argument, NULL, CLI_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    ct_file *f;
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
    if (ct_file_open(&f, argv[optind], &err) != CT_OK) {
        return cli_fail(c, &err);
    }
    walk w = {f, c->json, 1};
    if (c->json) {
        printf("{\n  \"file\": ");
        cli_json_str(stdout, argv[optind]);
        printf(",\n  \"clvtier\": %s,\n  \"nodes\": [\n    {\"path\": \"/\", \"kind\": \"group\", ",
               ct_file_is_clvtier(f) ? "true" : "false");
        attrs(&w, "/");
        printf("}");
    } else {
        printf("%s%s\n", argv[optind], ct_file_is_clvtier(f) ? "" : "  (not written by clvtier)");
        attrs(&w, "/");
    }
    ct_status s = ct_file_walk(f, print_node, &w, &err);
    if (c->json) {
        printf("\n  ]\n}\n");
    }
    ct_file_close(f);
    if (s != CT_OK) {
        return cli_fail(c, &err);
    }
    return 0;
}
