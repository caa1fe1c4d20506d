/* clvtier.h - the whole public API of libclvtier. */
#ifndef CLVTIER_CLVTIER_H
#define CLVTIER_CLVTIER_H

#include "clvtier/audit.h"
#include "clvtier/clv.h"
#include "clvtier/comm.h"
#include "clvtier/customers.h"
#include "clvtier/dates.h"
#include "clvtier/digest.h"
#include "clvtier/ingest.h"
#include "clvtier/kmeans.h"
#include "clvtier/modelfile.h"
#include "clvtier/outfile.h"
#include "clvtier/par.h"
#include "clvtier/pipeline.h"
#include "clvtier/publish.h"
#include "clvtier/schema.h"
#include "clvtier/report.h"
#include "clvtier/rfm.h"
#include "clvtier/rng.h"
#include "clvtier/status.h"
#include "clvtier/store.h"
#include "clvtier/summary.h"
#include "clvtier/synth.h"
#include "clvtier/tier.h"
#include "clvtier/types.h"
#include "clvtier/version.h"

#endif
