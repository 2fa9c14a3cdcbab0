#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/// The source revision this binary was built from (git's commit, "-dirty" with uncommitted changes, or
/// "unknown"), stamped at build time by Package.swift as the C define STREAMREC_REVISION: Swift has no
/// valued compile-time defines, C does.
const char *streamrec_build_revision(void);

#endif
