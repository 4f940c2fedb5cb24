/* Op code table (PROTOCOL.md section 2). */
#include <string.h>

#include "internal.h"
#include "tofulab/wire.h"

static const tl_opcode_info opcodes[TL_OPCODE_COUNT] = {
    {"Request", TL_TYPE_REGULAR, TL_ROLE_REQUEST, TL_OP_RESPONSE, 1},
    {"Response", TL_TYPE_REGULAR, TL_ROLE_RESPONSE, -1, 1},
    {"Signal", TL_TYPE_REGULAR, TL_ROLE_SIGNAL, TL_OP_SIGNAL, 1},
    {"HelloRequest", TL_TYPE_HELLO, TL_ROLE_REQUEST, TL_OP_HELLO_RESPONSE, 1},
    {"HelloResponse", TL_TYPE_HELLO, TL_ROLE_RESPONSE, -1, 1},
    {"ByeRequest", TL_TYPE_BYE, TL_ROLE_REQUEST, TL_OP_BYE_RESPONSE, 1},
    {"ByeResponse", TL_TYPE_BYE, TL_ROLE_RESPONSE, -1, 1},
    /* Transmitted by tofu only without bit A (A2); never by the reference engine. */
    {"ByeSignal", TL_TYPE_BYE, TL_ROLE_SIGNAL, -1, 1},
    {"WelcomeRequest", TL_TYPE_WELCOME, TL_ROLE_REQUEST, TL_OP_WELCOME_RESPONSE, 0},
    {"WelcomeResponse", TL_TYPE_WELCOME, TL_ROLE_RESPONSE, -1, 0},
};

const tl_opcode_info *tl_opcode_info_get(unsigned opcode)
{
    if (opcode >= TL_OPCODE_COUNT) {
        return NULL;
    }
    return &opcodes[opcode];
}

const char *tl_opcode_name(unsigned opcode)
{
    const tl_opcode_info *info = tl_opcode_info_get(opcode);
    return info ? info->name : NULL;
}

int tl_small_decimal_parse(const char *text, int max)
{
    int v = 0;
    size_t n = strlen(text);
    if (n == 0 || n > 3) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        v = v * 10 + (text[i] - '0');
    }
    return v <= max ? v : -1;
}

int tl_opcode_parse(const char *text)
{
    if (text == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < TL_OPCODE_COUNT; i++) {
        if (strcmp(text, opcodes[i].name) == 0) {
            return (int)i;
        }
    }
    return tl_small_decimal_parse(text, 15);
}
