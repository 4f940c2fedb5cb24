-- tofu.lua: a Wireshark dissector for the tofu protocol (g41797/tofu), as
-- docs/PROTOCOL.md describes it (sections 1-4): a 16-byte binary header, thl
-- bytes of text headers, bl bytes of body, frames concatenated on a TCP stream.
--
-- tofu has no port of its own, so this is a heuristic dissector: it claims a
-- TCP conversation whose segment starts with a plausible HelloRequest or
-- HelloResponse (the first frame of every tofu connection) and from then on
-- dissects the whole conversation, frames split across segments and several
-- frames per segment alike (Wireshark's TCP PDU reassembly, dissect_tcp_pdus).
-- For a capture that starts in the middle of a connection use Decode As...
-- (TCP port -> TOFU) or tshark's `-d tcp.port==7099,tofu`.
--
-- Load it with `tshark -X lua_script:wireshark/tofu.lua`, or install it with
-- `make install` (docs/wireshark.md). It never raises a Lua error, whatever the
-- bytes: every read is bounds-checked first and anything impossible is expert
-- information.
--
-- The op code and status names are the engine's (engine/core/opcode.c and
-- status.c); a test (tests/integration/test_wireshark.c) compares the tables.
-- Plain Lua 5.1-5.4: no bit library, no integer division operator.

local tofu = Proto("tofu", "tofu message-passing protocol")

local HEADER_LEN = 16

-- PROTOCOL.md section 2.
local OPCODE_NAMES = {
    [0] = "Request",
    [1] = "Response",
    [2] = "Signal",
    [3] = "HelloRequest",
    [4] = "HelloResponse",
    [5] = "ByeRequest",
    [6] = "ByeResponse",
    [7] = "ByeSignal",
    [8] = "WelcomeRequest",
    [9] = "WelcomeResponse",
}
-- Response-role op codes: their message_id must not be 0 (PROTOCOL.md A5).
local RESPONSE_ROLE = { [1] = true, [4] = true, [6] = true, [9] = true }
-- Regular op codes, the only ones that may carry `more` (PROTOCOL.md 5).
local REGULAR = { [0] = true, [1] = true, [2] = true }

-- PROTOCOL.md section 3 (tofu's spelling, typo included). Every byte >= 31
-- means unknown_error.
local STATUS_NAMES = {
    [0] = "success",
    [1] = "not_implemented_yet",
    [2] = "wrong_address",
    [3] = "not_allowed",
    [4] = "null_message",
    [5] = "invalid_message",
    [6] = "invalid_op_code",
    [7] = "invalid_headers_len",
    [8] = "invalid_body_len",
    [9] = "invalid_more_usage",
    [10] = "invalid_channel_number",
    [11] = "invelid_mchn_group",
    [12] = "invalid_message_id",
    [13] = "invalid_address",
    [14] = "uds_path_not_found",
    [15] = "notification_disabled",
    [16] = "notification_failed",
    [17] = "peer_disconnected",
    [18] = "communication_failed",
    [19] = "pool_empty",
    [20] = "allocation_failed",
    [21] = "receiver_update",
    [22] = "channel_closed",
    [23] = "shutdown_started",
    [24] = "connect_failed",
    [25] = "listen_failed",
    [26] = "accept_failed",
    [27] = "send_failed",
    [28] = "recv_failed",
    [29] = "setsockopt_failed",
    [30] = "processing_failed",
    [31] = "unknown_error",
}
local STATUS_COUNT = 32
for v = STATUS_COUNT, 255 do
    STATUS_NAMES[v] = STATUS_NAMES[31]
end

local ORIGIN_NAMES = { [0] = "application", [1] = "engine" }

local f = tofu.fields
f.channel = ProtoField.uint16("tofu.channel", "Channel", base.DEC, nil, nil,
    "the sender's own channel number (the receiver replaces it with its own)")
f.proto = ProtoField.uint8("tofu.proto", "Proto", base.HEX, nil, nil,
    "op code | origin << 4 | more << 5 | A << 6 | B << 7")
f.opcode = ProtoField.uint8("tofu.opcode", "Op code", base.DEC, OPCODE_NAMES, 0x0F)
f.origin = ProtoField.uint8("tofu.origin", "Origin", base.DEC, ORIGIN_NAMES, 0x10)
f.more = ProtoField.bool("tofu.more", "More", 8, { "more messages follow", "last" }, 0x20)
f.bit_a = ProtoField.bool("tofu.bit_a", "Internal bit A", 8, nil, 0x40,
    "engine-internal (priority; local abort with ByeSignal); never meant for the wire")
f.bit_b = ProtoField.bool("tofu.bit_b", "Internal bit B", 8, nil, 0x80,
    "engine-internal, unused; never meant for the wire")
f.status = ProtoField.uint8("tofu.status", "Status", base.DEC, STATUS_NAMES)
f.message_id = ProtoField.uint64("tofu.message_id", "Message ID", base.DEC)
f.thl = ProtoField.uint16("tofu.thl", "Text headers length", base.DEC)
f.bl = ProtoField.uint16("tofu.bl", "Body length", base.DEC)
f.headers = ProtoField.uint16("tofu.headers", "Text headers", base.DEC, nil, nil,
    "the number of headers tofu's iterator yields")
f.header = ProtoField.string("tofu.header", "Text header")
f.header_name = ProtoField.string("tofu.header.name", "Name")
f.header_value = ProtoField.string("tofu.header.value", "Value")
f.body = ProtoField.bytes("tofu.body", "Body")

local e = {
    undefined_opcode = ProtoExpert.new("tofu.opcode.undefined",
        "Undefined op code 10-15: a Debug build of tofu aborts, others hand it to the app (PROTOCOL.md 6.7, A7)",
        expert.group.PROTOCOL, expert.severity.WARN),
    local_opcode = ProtoExpert.new("tofu.opcode.local",
        "WelcomeRequest / WelcomeResponse never leave the process (PROTOCOL.md 2)",
        expert.group.PROTOCOL, expert.severity.WARN),
    internal_bits = ProtoExpert.new("tofu.internal_bits",
        "Internal bit A or B set on the wire: the sender leaked engine-internal flags (PROTOCOL.md 1.4, A8)",
        expert.group.PROTOCOL, expert.severity.WARN),
    origin_engine = ProtoExpert.new("tofu.origin.engine",
        "Origin bit set on the wire: the frame claims to come from the receiver's engine (PROTOCOL.md 6.7, A7)",
        expert.group.PROTOCOL, expert.severity.WARN),
    response_id_zero = ProtoExpert.new("tofu.message_id.zero",
        "message_id 0 on a response: tofu refuses to post it (invalid_message_id, PROTOCOL.md A5)",
        expert.group.PROTOCOL, expert.severity.WARN),
    more_usage = ProtoExpert.new("tofu.more.usage",
        "more bit on a hello, bye or welcome op code (invalid_more_usage, PROTOCOL.md 5)",
        expert.group.PROTOCOL, expert.severity.WARN),
    status_nonzero = ProtoExpert.new("tofu.status.nonzero",
        "Non-zero status on the wire: tofu's post forces it to 0 (PROTOCOL.md 3)",
        expert.group.PROTOCOL, expert.severity.NOTE),
    bye_signal = ProtoExpert.new("tofu.bye_signal",
        "ByeSignal on the wire: the documented-but-broken form; tofu aborts locally only with bit A (PROTOCOL.md A2)",
        expert.group.PROTOCOL, expert.severity.NOTE),
    header_empty_name = ProtoExpert.new("tofu.header.empty_name",
        "Text header line with an empty name: tofu's iterator stops here, later lines are not seen (PROTOCOL.md 4.2)",
        expert.group.PROTOCOL, expert.severity.WARN),
    truncated = ProtoExpert.new("tofu.truncated",
        "Frame incomplete here: it goes on past these bytes (TCP reassembly off, or the capture is cut)",
        expert.group.REASSEMBLE, expert.severity.WARN),
}
tofu.experts = {
    e.undefined_opcode, e.local_opcode, e.internal_bits, e.origin_engine, e.response_id_zero,
    e.more_usage, e.status_nonzero, e.bye_signal, e.header_empty_name, e.truncated,
}

tofu.prefs.desegment = Pref.bool("Reassemble frames spanning TCP segments", true,
    "Needs TCP's 'Allow subdissector to reassemble TCP streams' as well")

-- ---- small helpers (no bit operators: Lua 5.1-5.4 alike) ----

local function bit_set(byte, mask)
    return math.floor(byte / mask) % 2 == 1
end

-- Bytes as a one-line label: printable ASCII as is, the rest as \xNN.
local function printable(s)
    return (string.gsub(s, "[^\32-\126]", function(c)
        return string.format("\\x%02x", string.byte(c))
    end))
end

local function opcode_name(op)
    return OPCODE_NAMES[op] or ("op" .. op)
end

-- The fields of the header at offset (16 bytes must be captured there).
local function read_header(tvb, offset)
    local proto = tvb(offset + 2, 1):uint()
    return {
        channel = tvb(offset, 2):uint(),
        proto = proto,
        op = proto % 16,
        origin = bit_set(proto, 0x10),
        more = bit_set(proto, 0x20),
        bit_a = bit_set(proto, 0x40),
        bit_b = bit_set(proto, 0x80),
        status = tvb(offset + 3, 1):uint(),
        id_zero = tvb(offset + 4, 4):uint() == 0 and tvb(offset + 8, 4):uint() == 0,
        id_text = tostring(tvb(offset + 4, 8):uint64()),
        thl = tvb(offset + 12, 2):uint(),
        bl = tvb(offset + 14, 2):uint(),
    }
end

-- ---- text headers: tofu's iterator, PROTOCOL.md 4.2 ----

local CR, LF, COLON, SPACE, TAB = 13, 10, 58, 32, 9

-- The lines of a text block as tofu's TextHeaderIterator yields them: a list
-- of {line, line_len, name, name_len, value, value_len} offsets into the
-- block, and, when a line with an empty name ends the iteration early, that
-- line's {line, line_len} as the second result.
local function split_text_headers(bytes, len)
    local headers = {}
    local pos = 0
    while pos < len do
        local crlf = nil
        for i = pos, len - 2 do
            if bytes:get_index(i) == CR and bytes:get_index(i + 1) == LF then
                crlf = i
                break
            end
        end
        local line_end = crlf or len
        local next_pos = crlf and (crlf + 2) or len
        if crlf ~= pos then -- an empty line is skipped
            local colon = nil
            for k = pos, line_end - 1 do
                if bytes:get_index(k) == COLON then
                    colon = k
                    break
                end
            end
            local name_len = (colon or line_end) - pos
            if name_len == 0 then
                return headers, { line = pos, line_len = next_pos - pos }
            end
            -- the name is kept as is; the value loses spaces and tabs at both ends
            local v_start = colon and (colon + 1) or line_end
            local v_end = line_end
            while v_start < v_end and (bytes:get_index(v_start) == SPACE or bytes:get_index(v_start) == TAB) do
                v_start = v_start + 1
            end
            while v_end > v_start and (bytes:get_index(v_end - 1) == SPACE or bytes:get_index(v_end - 1) == TAB) do
                v_end = v_end - 1
            end
            headers[#headers + 1] = {
                line = pos, line_len = next_pos - pos,
                name = pos, name_len = name_len,
                value = v_start, value_len = v_end - v_start,
            }
        end
        pos = next_pos
    end
    return headers, nil
end

local function dissect_text_headers(tvb, start, len, tree)
    local headers, stop = split_text_headers(tvb(start, len):bytes(), len)
    local ht = tree:add(f.headers, tvb(start, len), #headers)
    for _, hd in ipairs(headers) do
        local name_range = tvb(start + hd.name, hd.name_len)
        local value_range = tvb(start + hd.value, hd.value_len)
        local sub = ht:add(f.header, tvb(start + hd.line, hd.line_len))
        sub:set_text(printable(name_range:raw()) .. ": " .. printable(value_range:raw()))
        sub:add(f.header_name, name_range)
        sub:add(f.header_value, value_range)
    end
    if stop then
        local item = ht:add(tvb(start + stop.line, stop.line_len), "Line with an empty name")
        item:add_proto_expert_info(e.header_empty_name)
    end
end

-- ---- one frame ----

local function summary(h)
    local s = opcode_name(h.op) .. " ch=" .. h.channel .. " id=" .. h.id_text
    if h.more then
        s = s .. " more"
    end
    if h.origin then
        s = s .. " origin=engine"
    end
    if h.bit_a then
        s = s .. " A"
    end
    if h.bit_b then
        s = s .. " B"
    end
    if h.status ~= 0 then
        s = s .. " status=" .. STATUS_NAMES[h.status]
    end
    return s .. " thl=" .. h.thl .. " bl=" .. h.bl
end

-- Dissects one frame; tvb starts at its first header byte. Returns the bytes
-- it covers. Called by dissect_tcp_pdus with one whole frame, or with a part
-- of one when reassembly is off or the capture is cut short.
local function dissect_frame(tvb, pinfo, tree)
    local avail = tvb:len()
    if avail < HEADER_LEN then
        local item = tree:add(tofu, tvb(), "tofu frame (truncated header)")
        item:add_proto_expert_info(e.truncated)
        return avail
    end
    local h = read_header(tvb, 0)
    local frame_len = HEADER_LEN + h.thl + h.bl

    pinfo.cols.protocol = "TOFU"
    -- Several frames in one packet: one Info entry each. The TCP layer may call
    -- the dissector more than once per packet (reassembled data, then the
    -- rest), so the count lives in the packet's own private table.
    local n = (tonumber(pinfo.private.tofu_frames) or 0) + 1
    pinfo.private.tofu_frames = tostring(n)
    if n == 1 then
        pinfo.cols.info = summary(h)
    else
        pinfo.cols.info:append(", " .. summary(h))
    end

    local covered = math.min(frame_len, avail)
    local root = tree:add(tofu, tvb(0, covered), "tofu " .. summary(h))
    root:add(f.channel, tvb(0, 2))
    local pt = root:add(f.proto, tvb(2, 1))
    local op_item = pt:add(f.opcode, tvb(2, 1))
    local origin_item = pt:add(f.origin, tvb(2, 1))
    local more_item = pt:add(f.more, tvb(2, 1))
    local a_item = pt:add(f.bit_a, tvb(2, 1))
    local b_item = pt:add(f.bit_b, tvb(2, 1))
    local status_item = root:add(f.status, tvb(3, 1))
    local id_item = root:add(f.message_id, tvb(4, 8))
    root:add(f.thl, tvb(12, 2))
    root:add(f.bl, tvb(14, 2))

    -- What PROTOCOL.md calls suspicious on the wire.
    if h.op >= 10 then
        op_item:add_proto_expert_info(e.undefined_opcode)
    elseif h.op == 8 or h.op == 9 then
        op_item:add_proto_expert_info(e.local_opcode)
    elseif h.op == 7 then
        op_item:add_proto_expert_info(e.bye_signal)
    end
    if h.origin then
        origin_item:add_proto_expert_info(e.origin_engine)
    end
    if h.bit_a then
        a_item:add_proto_expert_info(e.internal_bits)
    end
    if h.bit_b then
        b_item:add_proto_expert_info(e.internal_bits)
    end
    if h.more and not REGULAR[h.op] and h.op < 10 then
        more_item:add_proto_expert_info(e.more_usage)
    end
    if RESPONSE_ROLE[h.op] and h.id_zero then
        id_item:add_proto_expert_info(e.response_id_zero)
    end
    if h.status ~= 0 then
        status_item:add_proto_expert_info(e.status_nonzero)
    end

    -- Text headers and body: only what was captured.
    local text_avail = math.max(0, math.min(h.thl, avail - HEADER_LEN))
    dissect_text_headers(tvb, HEADER_LEN, text_avail, root)
    local body_off = HEADER_LEN + h.thl
    local body_avail = math.max(0, math.min(h.bl, avail - body_off))
    if h.bl > 0 and body_avail > 0 then
        root:add(f.body, tvb(body_off, body_avail))
    end
    if avail < frame_len then
        root:add_proto_expert_info(e.truncated)
    end
    return covered
end

-- ---- TCP framing ----

local function frame_length(tvb, pinfo, offset)
    -- Without reassembly (turned off, or not possible for this segment) the
    -- header itself may be cut: then the frame is what there is of it, and
    -- dissect_frame marks it truncated.
    if tvb:len() - offset < HEADER_LEN then
        return HEADER_LEN
    end
    return HEADER_LEN + tvb(offset + 12, 2):uint() + tvb(offset + 14, 2):uint()
end

function tofu.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, HEADER_LEN, frame_length, dissect_frame, tofu.prefs.desegment)
    return tvb:len()
end

-- ---- heuristic: does this segment start a tofu connection? ----

local function printable_text(tvb, start, len)
    local bytes = tvb(start, len):bytes()
    for i = 0, len - 1 do
        local c = bytes:get_index(i)
        if (c < 32 and c ~= CR and c ~= LF and c ~= TAB) or c > 126 then
            return false
        end
    end
    return true
end

-- A HelloRequest (op 3) or HelloResponse (op 4) as tofu sends it: origin,
-- more, A and B clear, a status tofu knows, a response's message_id non-zero;
-- a HelloRequest carries its ~connect_to header (PROTOCOL.md 4.3), and the
-- captured part of the text headers is printable.
local function plausible_start(tvb)
    if tvb:len() < HEADER_LEN then
        return false
    end
    local h = read_header(tvb, 0)
    if (h.op ~= 3 and h.op ~= 4) or h.proto >= 16 or h.status >= STATUS_COUNT then
        return false
    end
    if h.op == 4 and h.id_zero then
        return false
    end
    local text_avail = math.min(h.thl, tvb:len() - HEADER_LEN)
    if text_avail > 0 and not printable_text(tvb, HEADER_LEN, text_avail) then
        return false
    end
    if h.op == 3 then
        if h.thl < 13 then -- "~connect_to:" and at least one byte
            return false
        end
        if text_avail >= h.thl and not string.find(tvb(HEADER_LEN, h.thl):string(), "~connect_to:", 1, true) then
            return false
        end
    end
    return true
end

local function heuristic(tvb, pinfo, tree)
    if not plausible_start(tvb) then
        return false
    end
    pinfo.conversation = tofu
    tofu.dissector(tvb, pinfo, tree)
    return true
end

tofu:register_heuristic("tcp", heuristic)
-- "Decode As..." (and tshark -d tcp.port==N,tofu) for captures that begin
-- in the middle of a connection.
DissectorTable.get("tcp.port"):add_for_decode_as(tofu)
