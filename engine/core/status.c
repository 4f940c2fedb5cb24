/* Status table (PROTOCOL.md section 3), names spelled exactly as tofu does. */
#include <string.h>

#include "internal.h"
#include "tofulab/wire.h"

static const char *const status_names[TL_STATUS_COUNT] = {
    "success",
    "not_implemented_yet",
    "wrong_address",
    "not_allowed",
    "null_message",
    "invalid_message",
    "invalid_op_code",
    "invalid_headers_len",
    "invalid_body_len",
    "invalid_more_usage",
    "invalid_channel_number",
    "invelid_mchn_group", /* sic: tofu's spelling */
    "invalid_message_id",
    "invalid_address",
    "uds_path_not_found",
    "notification_disabled",
    "notification_failed",
    "peer_disconnected",
    "communication_failed",
    "pool_empty",
    "allocation_failed",
    "receiver_update",
    "channel_closed",
    "shutdown_started",
    "connect_failed",
    "listen_failed",
    "accept_failed",
    "send_failed",
    "recv_failed",
    "setsockopt_failed",
    "processing_failed",
    "unknown_error",
};

static const char *const error_names[TL_STATUS_COUNT] = {
    NULL,
    "NotImplementedYet",
    "WrongAddress",
    "NotAllowed",
    "NullMessage",
    "InvalidMessage",
    "InvalidOpCode",
    "InvalidHeadersLen",
    "InvalidBodyLen",
    "InvalidMoreUsage",
    "InvalidChannelNumber",
    "InvalidMessageChannelGroup",
    "InvalidMessageId",
    "InvalidAddress",
    "UDSPathNotFound",
    "NotificationDisabled",
    "NotificationFailed",
    "PeerDisconnected",
    "CommunicationFailed",
    "PoolEmpty",
    "AllocationFailed",
    "ReceiverUpdate",
    "ChannelClosed",
    "ShutdownStarted",
    "ConnectFailed",
    "ListenFailed",
    "AcceptFailed",
    "SendFailed",
    "RecvFailed",
    "SetsockoptFailed",
    "ProcessingFailed",
    "UnknownError",
};

tl_status tl_status_from_byte(uint8_t byte)
{
    return byte >= TL_STATUS_UNKNOWN_ERROR ? TL_STATUS_UNKNOWN_ERROR : (tl_status)byte;
}

const char *tl_status_name(uint8_t byte) { return status_names[tl_status_from_byte(byte)]; }

const char *tl_status_error_name(uint8_t byte) { return error_names[tl_status_from_byte(byte)]; }

int tl_status_parse(const char *text)
{
    if (text == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < TL_STATUS_COUNT; i++) {
        if (strcmp(text, status_names[i]) == 0) {
            return (int)i;
        }
    }
    return tl_small_decimal_parse(text, 255);
}
