#ifndef STREAMREC_CLIBPQ_SHIM_H
#define STREAMREC_CLIBPQ_SHIM_H
// libpq, as shipped by Debian's libpq-dev (pkg-config adds -I/usr/include/postgresql).
#include <libpq-fe.h>
#endif
