#include "CBuildInfo.h"

#ifndef STREAMREC_REVISION
#define STREAMREC_REVISION "unknown"
#endif

const char *streamrec_build_revision(void) { return STREAMREC_REVISION; }
