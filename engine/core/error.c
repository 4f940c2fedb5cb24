/* tl_err descriptions. */
#include "tofulab/wire.h"

const char *tl_strerror(int err)
{
    switch (err) {
    case TL_OK: return "ok";
    case TL_E_NOMEM: return "out of memory";
    case TL_E_INVAL: return "invalid argument";
    case TL_E_NOSPACE: return "buffer too small";
    case TL_E_BAD_NAME: return "bad text header name";
    case TL_E_BAD_VALUE: return "bad text header value";
    case TL_E_TOO_LONG: return "longer than 65535 bytes";
    case TL_E_BAD_OPCODE: return "undefined op code (10-15)";
    case TL_E_LIMIT: return "configured limit exceeded";
    case TL_E_BAD_ADDRESS: return "bad address";
    case TL_E_STATE: return "not valid in this state";
    case TL_E_NOT_FOUND: return "not found";
    case TL_E_CLOSED: return "closed";
    case TL_E_AGAIN: return "nothing available";
    case TL_E_IO: return "I/O error";
    case TL_E_TIMEOUT: return "timed out";
    case TL_E_REJECTED: return "post rejected (see the status)";
    default: return "unknown error";
    }
}
