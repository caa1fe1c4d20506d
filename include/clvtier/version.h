/* version.h - library version. */
#ifndef CLVTIER_VERSION_H
#define CLVTIER_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define CT_VERSION "0.1.0"
#define CT_VERSION_MAJOR 0
#define CT_VERSION_MINOR 1
#define CT_VERSION_PATCH 0

/* The version the library was built as (may differ from CT_VERSION of the headers). */
const char *ct_version(void);

#ifdef __cplusplus
}
#endif

#endif
