/* stage_inspect.c - `clvtier inspect`: every group, dataset and attribute
 * of an HDF5 file, handed to the caller's callbacks in walk order. */
#include "clvtier/pipeline.h"

typedef struct inspect_walk {
    const ct_file *f;
    const ct_inspect_fns *fns;
    void *ctx;
} inspect_walk;

static void visit(const inspect_walk *w, const ct_node_info *n, int root)
{
    ct_error err;
    w->fns->node(w->ctx, n, root);
    (void)ct_file_attrs(w->f, n->path, w->fns->attr, w->ctx, &err); /* unreadable: none shown */
    w->fns->node_end(w->ctx, n, root);
}

static int visit_node(void *ctx, const ct_node_info *n)
{
    visit(ctx, n, 0);
    return 0;
}

ct_status ct_stage_inspect(const char *path, const ct_inspect_fns *fns, void *ctx, ct_error *err)
{
    ct_file *f = NULL;
    ct_status s = ct_file_open(&f, path, err);
    if (s != CT_OK) {
        return s;
    }
    inspect_walk w = {f, fns, ctx};
    ct_node_info root = {"/", CT_NODE_GROUP, 0, {0, 0, 0, 0}, "", 0};
    fns->file(ctx, path, ct_file_is_clvtier(f));
    visit(&w, &root, 1);
    s = ct_file_walk(f, visit_node, &w, err);
    ct_file_close(f);
    return s;
}
