#ifndef STREAMREC_CHIREDIS_SHIM_H
#define STREAMREC_CHIREDIS_SHIM_H
// hiredis, as shipped by Debian's libhiredis-dev. Only the argv-based entry points are used from Swift:
// redisCommand() is variadic and is not imported (and it builds commands from format strings, which we
// never want).
#include <hiredis/hiredis.h>
#endif
