/* The engine core: tofu's engine semantics (PROTOCOL.md section 6) with the
 * reference decisions of section 9, as a sans-I/O state machine. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tofulab/engine.h"

#include "timer_heap.h"

#define POOL_DEFAULT_INITIAL 16u /* 6.10 */
#define POOL_DEFAULT_MAX     64u
#define RECENT_FIFO          1024u /* 6.2 */
#define MSG_INITIAL_CAP      256u  /* 6.10: new messages have 256 bytes each */
#define PAGE_BITS            8u
#define PAGE_SIZE            (1u << PAGE_BITS)
#define RX_RESERVE_DEFAULT   4096u /* rx_reserve when 0 */
#define RX_KEEP_BUFFER       4096u /* a reader buffer above this is freed between frames */

typedef struct {
    tl_message *head;
    tl_message *tail;
    size_t count;
} msg_queue;

typedef enum { KIND_LISTENER, KIND_CLIENT, KIND_SERVER } channel_kind;
typedef enum { ST_LISTEN_PENDING, ST_LISTENING, ST_CONNECTING, ST_OPEN } channel_state;
typedef enum { TIMER_NONE, TIMER_CONNECT, TIMER_BYE_GRACE } timer_kind;
/* What a channel's earliest deadline is for (channel_due). */
typedef enum { DUE_NONE, DUE_CONNECT, DUE_BYE_GRACE, DUE_HANDSHAKE, DUE_FRAME, DUE_IDLE } due_kind;

typedef struct channel {
    uint16_t number;
    channel_kind kind;
    channel_state state;
    uint32_t group;
    uint64_t first_id; /* id of the first frame received (6.9), or the request's */
    int got_first;
    msg_queue sendq;        /* FIFO (6.6) */
    size_t head_written;    /* bytes of the head message already written */
    size_t queued_bytes;    /* unwritten bytes of every queued message */
    size_t queued_memory;   /* memory of the queued messages (max_send_queue) */
    unsigned bye_sent_op;   /* op code of the bye frame sent, 0 if none */
    int read_stopped;       /* after ByeResponse (6.7) */
    int starving;           /* waiting for a pool message (A20) */
    int pool_signalled;     /* pool_empty sent for the current episode */
    int got_hello_response; /* client: for the A14 diagnostic */
    int io_queued;          /* a TL_CMD_IO is waiting in the command queue */
    tl_reader reader;
    tl_message *rx;      /* pool message reserved for the frame being read */
    tl_message *welcome; /* listener: the WelcomeRequest until the listen result */
    tl_address addr;
    uint64_t deadline; /* of the explicit timer below */
    timer_kind timer;
    /* Protection (tl_engine_options): every deadline of the channel is
     * derived from these times by channel_due(); the heap node holds a key no
     * later than the earliest of them (updated lazily: activity only moves
     * deadlines later, so a node found early is simply re-keyed). */
    tl_theap_node tnode;
    uint64_t opened_at;   /* server: the accept (handshake timeout) */
    uint64_t last_io;     /* last byte received or sent (idle timeout) */
    uint64_t frame_since; /* first byte of the incomplete frame (frame timeout) */
    int frame_partial;    /* the reader holds part of a frame */
    int got_hello;        /* server: a HelloRequest arrived */
    int rx_paused;        /* stopped reading for rx_budget; in the paused FIFO */
    size_t rx_pending;    /* bytes of the incomplete frame (tl_reader_pending) as accounted */
    size_t rx_charged;    /* of which counted against rx_budget */
    struct channel *prev_paused, *next_paused;
    struct channel *prev_starving, *next_starving; /* protection mode: the starving FIFO */
    struct channel *prev_all, *next_all;           /* creation order, for deterministic scans */
} channel;

typedef struct {
    int alive;
    msg_queue rxq;
} group;

struct tl_engine {
    tl_engine_options opt;
    const tl_allocator *a;
    uint64_t now;
    uint64_t rng;
    uint64_t next_id;
    /* Channel table: 256 lazily allocated pages of 256 pointers. */
    channel **pages[PAGE_SIZE];
    channel *all_head, *all_tail;
    uint32_t nchannels;
    /* Recently closed numbers (A6): a FIFO and a membership bitmap. */
    uint16_t recent[RECENT_FIFO];
    uint32_t recent_head, recent_count;
    uint8_t recent_bits[65536 / 8];
    /* Pool (6.10): LIFO. */
    tl_message *pool;
    uint32_t pool_count;
    uint32_t starving_count;
    tl_theap timers;                        /* channels with a deadline (channel_due), earliest first */
    uint64_t timer_seq;                     /* tie-break for equal deadlines: creation order */
    channel *paused_head, *paused_tail;     /* waiting for rx_budget, oldest first */
    channel *starving_head, *starving_tail; /* protection mode: waiting for a pool message */
    channel *rx_overdraft;                  /* the one channel allowed to finish its frame beyond rx_budget */
    size_t rx_reserve;                      /* effective option */
    uint64_t rx_pending;                    /* bytes of incomplete frames over every channel */
    uint64_t rx_charged;                    /* of which counted against rx_budget */
    group *groups;
    uint32_t ngroups, groups_cap;
    tl_command *cmds;
    size_t cmd_head, cmd_count, cmd_cap;
    /* One large reader buffer kept between frames for the next channel that
     * gathers a large frame (a stream of 64 KiB bodies allocates nothing per
     * frame); idle channels keep none (RX_KEEP_BUFFER). */
    uint8_t *rx_spare;
    size_t rx_spare_cap;
    tl_engine_stats stats;
};

/* ---------------------------------------------------------------- memory */

static tl_message *msg_alloc(tl_engine *e)
{
    const tl_allocator *a = e->a;
    tl_message *m = a->alloc(a->ctx, sizeof *m);
    if (m == NULL) {
        e->stats.alloc_failures++;
        return NULL;
    }
    memset(m, 0, sizeof *m);
    m->alloc = a;
    m->text.data = a->alloc(a->ctx, MSG_INITIAL_CAP);
    m->body.data = a->alloc(a->ctx, MSG_INITIAL_CAP);
    if (m->text.data == NULL || m->body.data == NULL) {
        a->free(a->ctx, m->text.data);
        a->free(a->ctx, m->body.data);
        a->free(a->ctx, m);
        e->stats.alloc_failures++;
        return NULL;
    }
    m->text.cap = MSG_INITIAL_CAP;
    m->body.cap = MSG_INITIAL_CAP;
    e->stats.messages_live++;
    return m;
}

static void msg_destroy(tl_engine *e, tl_message *m)
{
    tl_msg_free(m);
    e->stats.messages_live--;
}

static void queue_push(msg_queue *q, tl_message *m)
{
    m->next = NULL;
    if (q->tail) {
        q->tail->next = m;
    } else {
        q->head = m;
    }
    q->tail = m;
    q->count++;
}

static tl_message *queue_pop(msg_queue *q)
{
    tl_message *m = q->head;
    if (m == NULL) {
        return NULL;
    }
    q->head = m->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->count--;
    m->next = NULL;
    return m;
}

static void wake_starving(tl_engine *e);

/* put: reset and keep up to pool_max, free beyond (6.10). */
static void pool_put(tl_engine *e, tl_message *m)
{
    if (e->pool_count >= e->opt.pool_max) {
        msg_destroy(e, m);
        return;
    }
    tl_msg_reset(m);
    m->next = e->pool;
    e->pool = m;
    e->pool_count++;
    if (e->starving_count > 0) {
        wake_starving(e);
    }
}

static tl_message *pool_take(tl_engine *e)
{
    tl_message *m = e->pool;
    if (m == NULL) {
        return NULL;
    }
    e->pool = m->next;
    e->pool_count--;
    m->next = NULL;
    return m;
}

/* ------------------------------------------------------------- commands */

/* Without the host popping any, a channel queues at most: LISTEN or CONNECT
 * (once, when it is created by post), IO (while none is queued) and CLOSE
 * (once). Once created it can add at most 2 more. */
#define CMDS_NEW_CHANNEL  3u
#define CMDS_LIVE_CHANNEL 2u

/* Room for `need` queued commands. */
static int cmd_reserve(tl_engine *e, size_t need)
{
    if (need <= e->cmd_cap) {
        return TL_OK;
    }
    size_t cap = e->cmd_cap ? e->cmd_cap * 2 : 16;
    while (cap < need) {
        cap *= 2;
    }
    tl_command *n = e->a->alloc(e->a->ctx, cap * sizeof *n);
    if (n == NULL) {
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < e->cmd_count; i++) {
        n[i] = e->cmds[(e->cmd_head + i) % e->cmd_cap];
    }
    e->a->free(e->a->ctx, e->cmds);
    e->cmds = n;
    e->cmd_cap = cap;
    e->cmd_head = 0;
    return TL_OK;
}

static void push_command(tl_engine *e, const tl_command *c)
{
    /* ch_create reserved room for every command a channel can queue, so this
     * does not allocate; if it ever had to and failed, count it. */
    if (cmd_reserve(e, e->cmd_count + 1) != TL_OK) {
        e->stats.alloc_failures++;
        return;
    }
    e->cmds[(e->cmd_head + e->cmd_count) % e->cmd_cap] = *c;
    e->cmd_count++;
    if (e->opt.on_host_work) {
        e->opt.on_host_work(e->opt.cb_ctx);
    }
}

static void mark_io(tl_engine *e, channel *ch)
{
    if (ch->io_queued) {
        return;
    }
    /* The most frequent command: its fields written in place (a tl_command
     * carries an address of several hundred bytes that IO does not use). */
    if (cmd_reserve(e, e->cmd_count + 1) != TL_OK) {
        e->stats.alloc_failures++;
        return;
    }
    tl_command *c = &e->cmds[(e->cmd_head + e->cmd_count) % e->cmd_cap];
    c->kind = TL_CMD_IO;
    c->channel = ch->number;
    c->reset = 0;
    c->listener = 0;
    e->cmd_count++;
    ch->io_queued = 1;
    if (e->opt.on_host_work) {
        e->opt.on_host_work(e->opt.cb_ctx);
    }
}

/* -------------------------------------------------------------- channels */

static channel *ch_find(const tl_engine *e, uint16_t n)
{
    channel **page = e->pages[n >> PAGE_BITS];
    return page ? page[n & (PAGE_SIZE - 1)] : NULL;
}

static int ch_slot_set(tl_engine *e, uint16_t n, channel *ch)
{
    channel ***page = &e->pages[n >> PAGE_BITS];
    if (*page == NULL) {
        if (ch == NULL) {
            return TL_OK;
        }
        *page = e->a->alloc(e->a->ctx, PAGE_SIZE * sizeof(channel *));
        if (*page == NULL) {
            return TL_E_NOMEM;
        }
        memset(*page, 0, PAGE_SIZE * sizeof(channel *));
    }
    (*page)[n & (PAGE_SIZE - 1)] = ch;
    return TL_OK;
}

static int recent_has(const tl_engine *e, uint16_t n) { return (e->recent_bits[n >> 3] >> (n & 7)) & 1; }

static void recent_push(tl_engine *e, uint16_t n)
{
    if (e->recent_count == RECENT_FIFO) {
        uint16_t old = e->recent[e->recent_head];
        e->recent_bits[old >> 3] &= (uint8_t) ~(1u << (old & 7));
        e->recent_head = (e->recent_head + 1) % RECENT_FIFO;
        e->recent_count--;
    }
    e->recent[(e->recent_head + e->recent_count) % RECENT_FIFO] = n;
    e->recent_count++;
    e->recent_bits[n >> 3] |= (uint8_t)(1u << (n & 7));
}

/* splitmix64: the seeded source of channel numbers (A6). */
static uint64_t rng_next(tl_engine *e)
{
    uint64_t z = (e->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random number in 1..65534, not active, not recently closed (6.2, A6). */
static int ch_allocate_number(tl_engine *e, uint16_t *out)
{
    if (e->nchannels >= e->opt.max_channels || e->nchannels + e->recent_count >= 65534u) {
        return TL_E_LIMIT;
    }
    for (;;) {
        uint16_t n = (uint16_t)(rng_next(e) >> 48);
        if (n == TL_CHANNEL_NONE || n == TL_CHANNEL_INTERNAL || ch_find(e, n) != NULL || recent_has(e, n)) {
            continue;
        }
        *out = n;
        return TL_OK;
    }
}

/* A new channel, or NULL with *err = TL_E_LIMIT (no number free) or TL_E_NOMEM. */
static channel *ch_create(tl_engine *e, channel_kind kind, uint32_t grp, int *err)
{
    uint16_t n;
    *err = TL_E_NOMEM;
    if (ch_allocate_number(e, &n) != TL_OK) {
        *err = TL_E_LIMIT;
        return NULL;
    }
    /* Reserve room for every command the live channels and this one can still
     * queue, so that no LISTEN/CONNECT/IO/CLOSE is lost to a failed allocation
     * later (the host would never hear of it); likewise a timer heap slot. */
    if (cmd_reserve(e, e->cmd_count + CMDS_LIVE_CHANNEL * (size_t)e->nchannels + CMDS_NEW_CHANNEL) != TL_OK ||
        tl_theap_reserve(&e->timers, (size_t)e->nchannels + 1, e->a) != TL_OK) {
        e->stats.alloc_failures++;
        return NULL;
    }
    channel *ch = e->a->alloc(e->a->ctx, sizeof *ch);
    if (ch == NULL) {
        e->stats.alloc_failures++;
        return NULL;
    }
    memset(ch, 0, sizeof *ch);
    if (ch_slot_set(e, n, ch) != TL_OK) {
        e->a->free(e->a->ctx, ch);
        e->stats.alloc_failures++;
        return NULL;
    }
    ch->number = n;
    ch->kind = kind;
    ch->group = grp;
    ch->tnode.seq = ++e->timer_seq;
    ch->opened_at = e->now;
    ch->last_io = e->now;
    tl_reader_options ro = {e->opt.max_text, e->opt.max_body, 1};
    tl_reader_init(&ch->reader, &ro);
    ch->reader.realloc_fn = e->a->realloc;
    ch->reader.free_fn = e->a->free;
    ch->reader.alloc_ctx = e->a->ctx;
    ch->prev_all = e->all_tail;
    if (e->all_tail) {
        e->all_tail->next_all = ch;
    } else {
        e->all_head = ch;
    }
    e->all_tail = ch;
    e->nchannels++;
    e->stats.channels_opened++;
    return ch;
}

static void rx_account(tl_engine *e, channel *ch, size_t pending);
static void paused_unlink(tl_engine *e, channel *ch);
static void starving_unlink(tl_engine *e, channel *ch);

/* Unlink and free; the number goes to the recently-closed FIFO (A6). */
static void ch_free(tl_engine *e, channel *ch)
{
    tl_theap_remove(&e->timers, &ch->tnode);
    if (ch->rx_paused) {
        paused_unlink(e, ch);
    }
    ch_slot_set(e, ch->number, NULL);
    recent_push(e, ch->number);
    if (ch->prev_all) {
        ch->prev_all->next_all = ch->next_all;
    } else {
        e->all_head = ch->next_all;
    }
    if (ch->next_all) {
        ch->next_all->prev_all = ch->prev_all;
    } else {
        e->all_tail = ch->prev_all;
    }
    if (ch->starving) {
        e->starving_count--;
        starving_unlink(e, ch);
    }
    tl_reader_free(&ch->reader);
    rx_account(e, ch, 0); /* its budget is free again: may wake paused channels */
    e->nchannels--;
    e->stats.channels_closed++;
    e->a->free(e->a->ctx, ch);
}

/* ----------------------------------------------------------------- timers */

static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* The channel's earliest deadline and what it is for. Timers of the
 * protection options pause while the channel cannot read for reasons that are
 * not its peer's: waiting for a pool message (the application is behind) and,
 * for the idle timer, waiting for rx budget (other peers hold it). */
static uint64_t channel_due(const tl_engine *e, const channel *ch, due_kind *kind)
{
    uint64_t best = UINT64_MAX;
    *kind = DUE_NONE;
    if (ch->timer != TIMER_NONE) {
        best = ch->deadline;
        *kind = ch->timer == TIMER_CONNECT ? DUE_CONNECT : DUE_BYE_GRACE;
    }
    if (ch->state != ST_OPEN || ch->kind == KIND_LISTENER || ch->starving || ch->read_stopped) {
        return best;
    }
    if (e->opt.handshake_timeout_ns && ch->kind == KIND_SERVER && !ch->got_hello) {
        uint64_t d = add_sat(ch->opened_at, e->opt.handshake_timeout_ns);
        if (d < best) {
            best = d;
            *kind = DUE_HANDSHAKE;
        }
    }
    if (e->opt.frame_timeout_ns && ch->frame_partial) {
        uint64_t d = add_sat(ch->frame_since, e->opt.frame_timeout_ns);
        if (d < best) {
            best = d;
            *kind = DUE_FRAME;
        }
    }
    if (e->opt.idle_timeout_ns && !ch->rx_paused) {
        uint64_t d = add_sat(ch->last_io, e->opt.idle_timeout_ns);
        if (d < best) {
            best = d;
            *kind = DUE_IDLE;
        }
    }
    return best;
}

/* Keep the heap key no later than the channel's earliest deadline. A later
 * deadline leaves the key as it is: tl_engine_tick re-keys it when it comes
 * (so the bookkeeping of every byte costs no heap operation). */
static void ch_schedule(tl_engine *e, channel *ch)
{
    due_kind k;
    uint64_t d = channel_due(e, ch, &k);
    if (d == UINT64_MAX) {
        tl_theap_remove(&e->timers, &ch->tnode);
    } else if (ch->tnode.pos == 0 || d < ch->tnode.key) {
        tl_theap_set(&e->timers, &ch->tnode, d);
    }
}

static void timer_arm(tl_engine *e, channel *ch, timer_kind kind, uint64_t deadline)
{
    ch->timer = kind;
    ch->deadline = deadline;
    ch_schedule(e, ch);
}

static void timer_disarm(tl_engine *e, channel *ch)
{
    due_kind k;
    ch->timer = TIMER_NONE;
    uint64_t d = channel_due(e, ch, &k); /* exact again: next_deadline drops it */
    if (d == UINT64_MAX) {
        tl_theap_remove(&e->timers, &ch->tnode);
    } else {
        tl_theap_set(&e->timers, &ch->tnode, d);
    }
}

static int rx_budget_on(const tl_engine *e) { return e->opt.rx_budget != 0; }

/* The starving FIFO (protection mode): channels waiting for a pool message,
 * longest first. */
static void starving_unlink(tl_engine *e, channel *ch)
{
    if (ch->prev_starving) {
        ch->prev_starving->next_starving = ch->next_starving;
    } else if (e->starving_head == ch) {
        e->starving_head = ch->next_starving;
    }
    if (ch->next_starving) {
        ch->next_starving->prev_starving = ch->prev_starving;
    } else if (e->starving_tail == ch) {
        e->starving_tail = ch->prev_starving;
    }
    ch->prev_starving = ch->next_starving = NULL;
}

static void wake_one(tl_engine *e, channel *ch)
{
    ch->starving = 0;
    e->starving_count--;
    /* The timers paused while the application was behind restart. */
    ch->last_io = e->now;
    ch->frame_since = e->now;
    ch_schedule(e, ch);
    mark_io(e, ch);
}

/* A message came back to the pool while channels starve (6.10, A20). tofu
 * wakes every starving channel (they all poll again, one wins); with
 * rx_budget (protection mode) only the longest-starving one is woken per
 * message, so that a returned message costs O(1), not a scan and a wake-up
 * of every starving channel. */
static void wake_starving(tl_engine *e)
{
    if (rx_budget_on(e)) {
        channel *ch = e->starving_head;
        if (ch != NULL) {
            starving_unlink(e, ch);
            wake_one(e, ch);
        }
        return;
    }
    for (channel *ch = e->all_head; ch != NULL; ch = ch->next_all) {
        if (ch->starving) {
            wake_one(e, ch);
        }
    }
}

/* ------------------------------------------------------------- rx budget */

static void paused_unlink(tl_engine *e, channel *ch)
{
    if (ch->prev_paused) {
        ch->prev_paused->next_paused = ch->next_paused;
    } else {
        e->paused_head = ch->next_paused;
    }
    if (ch->next_paused) {
        ch->next_paused->prev_paused = ch->prev_paused;
    } else {
        e->paused_tail = ch->prev_paused;
    }
    ch->prev_paused = ch->next_paused = NULL;
    ch->rx_paused = 0;
}

/* Budget not yet counted against (SIZE_MAX: no budget). */
static size_t rx_budget_left(const tl_engine *e)
{
    if (e->opt.rx_budget == SIZE_MAX) {
        return SIZE_MAX;
    }
    return e->opt.rx_budget > e->rx_charged ? (size_t)(e->opt.rx_budget - e->rx_charged) : 0;
}

/* Bytes of an incomplete frame the channel may still take: what is left of
 * its reserve plus the free budget. */
static size_t rx_room(const tl_engine *e, const channel *ch)
{
    if (ch == e->rx_overdraft) {
        return SIZE_MAX;
    }
    size_t reserve_left = ch->rx_pending < e->rx_reserve ? e->rx_reserve - ch->rx_pending : 0;
    size_t budget_left = rx_budget_left(e);
    return reserve_left > SIZE_MAX - budget_left ? SIZE_MAX : reserve_left + budget_left;
}

/* Stop reading until budget frees (the channel's bytes wait in the socket). */
static void rx_pause(tl_engine *e, channel *ch)
{
    if (ch->rx_paused) {
        return;
    }
    ch->rx_paused = 1;
    ch->prev_paused = e->paused_tail;
    ch->next_paused = NULL;
    if (e->paused_tail) {
        e->paused_tail->next_paused = ch;
    } else {
        e->paused_head = ch;
    }
    e->paused_tail = ch;
    e->stats.rx_budget_pauses++;
    mark_io(e, ch);
}

/* Budget freed: resume the longest-waiting channels, about as many as the
 * free budget can serve a reserve's worth (each one that still finds no room
 * pauses again, at the back). */
static void rx_wake_paused(tl_engine *e)
{
    size_t left = rx_budget_left(e);
    size_t n = left == SIZE_MAX ? SIZE_MAX : left / e->rx_reserve + 1;
    while (e->paused_head != NULL && n-- > 0) {
        channel *ch = e->paused_head;
        paused_unlink(e, ch);
        ch->last_io = e->now;
        ch_schedule(e, ch);
        mark_io(e, ch);
    }
}

/* A channel out of room either becomes the overdraft holder, when nobody
 * is, and may finish its frame beyond the budget (so that channels each
 * holding part of the budget can never all wait for each other: the budget
 * never deadlocks; memory stays within rx_budget plus one frame), or stops
 * reading until budget frees. Returns its room afterwards (0: paused). */
static size_t rx_out_of_room(tl_engine *e, channel *ch)
{
    if (e->rx_overdraft == NULL) {
        e->rx_overdraft = ch;
        e->stats.rx_overdrafts++;
        return SIZE_MAX;
    }
    rx_pause(e, ch);
    return 0;
}

/* The channel's reader now holds `pending` bytes of an incomplete frame:
 * update the totals and the budget; freed budget wakes paused channels. */
static void rx_account(tl_engine *e, channel *ch, size_t pending)
{
    size_t charged = pending > e->rx_reserve ? pending - e->rx_reserve : 0;
    int freed = charged < ch->rx_charged;
    if (pending == 0 && ch == e->rx_overdraft) {
        e->rx_overdraft = NULL; /* its frame is done (or it closed): the next waiter may take it */
        freed = 1;
    }
    e->rx_pending = e->rx_pending - ch->rx_pending + pending;
    e->rx_charged = e->rx_charged - ch->rx_charged + charged;
    ch->rx_pending = pending;
    ch->rx_charged = charged;
    if (e->rx_pending > e->stats.rx_buffered_peak) {
        e->stats.rx_buffered_peak = e->rx_pending;
    }
    if (freed && e->paused_head != NULL) {
        rx_wake_paused(e);
    }
}

/* ---------------------------------------------------------------- groups */

static group *group_find(const tl_engine *e, uint32_t id)
{
    if (id == 0 || id > e->ngroups || !e->groups[id - 1].alive) {
        return NULL;
    }
    return &e->groups[id - 1];
}

static void deliver(tl_engine *e, uint32_t gid, tl_message *m)
{
    group *g = group_find(e, gid);
    if (g == NULL) {
        pool_put(e, m);
        return;
    }
    queue_push(&g->rxq, m);
    if (e->opt.on_deliver) {
        e->opt.on_deliver(e->opt.cb_ctx, gid);
    }
}

/* An engine-made message (not from the pool, 6.12). */
static void notify(tl_engine *e, uint32_t gid, unsigned opcode, tl_status status, uint16_t chn, uint64_t id)
{
    tl_message *m = msg_alloc(e);
    if (m == NULL) {
        /* Out of memory: a pooled message rather than a lost notification
         * (a lost channel_closed would leave the app waiting forever). */
        m = pool_take(e);
        if (m == NULL) {
            return;
        }
    }
    m->hdr.proto = tl_proto_make(opcode, 1, 0, 0, 0);
    m->hdr.status = (uint8_t)status;
    m->hdr.channel = chn;
    m->hdr.message_id = id;
    e->stats.notifications++;
    deliver(e, gid, m);
}

/* ------------------------------------------------------------- teardown */

static int is_bye_frame(unsigned op) { return op == TL_OP_BYE_REQUEST || op == TL_OP_BYE_RESPONSE; }

static size_t msg_wire_len(const tl_message *m) { return TL_HEADER_SIZE + m->text.len + m->body.len; }

/* Memory a queued message holds (max_send_queue). */
static size_t msg_memory(const tl_message *m) { return sizeof *m + m->text.cap + m->body.cap; }

/* Whether a channel stops reading because its peer does not read its replies. */
static int send_queue_full(const tl_engine *e, const channel *ch)
{
    return e->opt.max_send_queue != 0 && ch->queued_memory > e->opt.max_send_queue;
}

static int send_blocked(const tl_engine *e, const channel *ch);
static void violate(tl_engine *e, channel *ch, tl_rule rule, tl_status reason, uint64_t offset,
                    uint64_t value, uint64_t limit);

/* A channel whose bye frame has been sent never sends again (6.6), so
 * messages queued behind it cannot leave whatever its peer does; with
 * max_send_queue they would also stop reading for good (the channel would
 * neither read nor write, and its peer's close would go unseen). Past the
 * limit that is a rule broken (the peer sent what it asked to be answered
 * after its ByeRequest, or past ours): the channel is closed. Returns 1 when
 * it was (ch is gone). */
static int close_if_send_stuck(tl_engine *e, channel *ch)
{
    if (ch->state != ST_OPEN || !send_queue_full(e, ch) || !send_blocked(e, ch)) {
        return 0;
    }
    violate(e, ch, TL_RULE_SEND_AFTER_BYE, TL_STATUS_CHANNEL_CLOSED, 0, ch->queued_memory,
            e->opt.max_send_queue);
    return 1;
}

/* Channel teardown (6.9): unsent messages back with the reason, then the
 * final Signal channel_closed with the first received message_id; the host is
 * told to close the socket with RST. With notify_app = 0 (group destroy,
 * 6.13) nothing is delivered and messages go back to the pool. */
static void teardown(tl_engine *e, channel *ch, tl_status reason, int hello_as_response, int notify_app)
{
    tl_message *m;
    int first = 1;
    while ((m = queue_pop(&ch->sendq)) != NULL) {
        if (!notify_app) {
            pool_put(e, m);
            continue;
        }
        m->hdr.proto |= TL_PROTO_ORIGIN;
        m->hdr.status = (uint8_t)reason;
        m->hdr.channel = ch->number;
        if (first && hello_as_response && tl_proto_opcode(m->hdr.proto) == TL_OP_HELLO_REQUEST) {
            tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE); /* A10 immediate shape */
        }
        first = 0;
        deliver(e, ch->group, m);
    }
    ch->queued_bytes = 0;
    ch->queued_memory = 0;
    ch->head_written = 0;
    if (ch->welcome) {
        pool_put(e, ch->welcome);
        ch->welcome = NULL;
    }
    if (ch->rx) {
        pool_put(e, ch->rx);
        ch->rx = NULL;
    }
    if (notify_app) {
        notify(e, ch->group, TL_OP_SIGNAL, TL_STATUS_CHANNEL_CLOSED, ch->number, ch->first_id);
        if ((unsigned)reason < TL_STATUS_COUNT) {
            e->stats.closed_by[reason]++;
        }
    }
    tl_command c;
    memset(&c, 0, sizeof c);
    c.kind = TL_CMD_CLOSE;
    c.channel = ch->number;
    c.reset = 1; /* SO_LINGER 0 on every tofu socket */
    c.listener = ch->kind == KIND_LISTENER;
    c.addr = ch->addr;
    ch_free(e, ch);
    push_command(e, &c);
}

/* A peer broke a rule: count it, tell the host, close the channel (the
 * teardown of a local abort, with reason on the returned messages). */
static void violate(tl_engine *e, channel *ch, tl_rule rule, tl_status reason, uint64_t offset,
                    uint64_t value, uint64_t limit)
{
    e->stats.violations[rule]++;
    if (e->opt.on_violation) {
        tl_violation v;
        memset(&v, 0, sizeof v);
        v.rule = rule;
        v.channel = ch->number;
        v.reason = reason;
        v.offset = offset;
        v.value = value;
        v.limit = limit;
        v.received = ch->reader.stream_offset;
        e->opt.on_violation(e->opt.cb_ctx, &v);
    }
    teardown(e, ch, reason, 0, 1);
}

/* ------------------------------------------------------------ rule texts */

const char *tl_rule_name(tl_rule rule)
{
    switch (rule) {
    case TL_RULE_OPCODE: return "undefined op code";
    case TL_RULE_TEXT_LEN: return "text headers over the limit";
    case TL_RULE_BODY_LEN: return "body over the limit";
    case TL_RULE_HANDSHAKE_TIMEOUT: return "handshake timeout";
    case TL_RULE_IDLE_TIMEOUT: return "idle timeout";
    case TL_RULE_FRAME_TIMEOUT: return "partial-frame timeout";
    case TL_RULE_SEND_AFTER_BYE: return "send queue after bye";
    }
    return NULL;
}

/* ns as "250 ms", "10 s", "1.5 s". */
static int format_ns(char *out, size_t cap, uint64_t ns)
{
    if (ns % 1000000000ull == 0) {
        return snprintf(out, cap, "%llu s", (unsigned long long)(ns / 1000000000ull));
    }
    if (ns >= 1000000000ull) {
        return snprintf(out, cap, "%.3g s", (double)ns / 1e9);
    }
    if (ns % 1000000ull == 0) {
        return snprintf(out, cap, "%llu ms", (unsigned long long)(ns / 1000000ull));
    }
    return snprintf(out, cap, "%llu ns", (unsigned long long)ns);
}

int tl_violation_format(const tl_violation *v, char *out, size_t cap)
{
    char t[32];
    if (out == NULL || cap == 0) {
        return 0;
    }
    out[0] = '\0';
    if (v == NULL) {
        return 0;
    }
    const char *name = tl_rule_name(v->rule);
    switch (v->rule) {
    case TL_RULE_OPCODE:
        return snprintf(out, cap, "op code %llu at byte %llu is undefined, 0-9 are (%s)",
                        (unsigned long long)v->value, (unsigned long long)v->offset, name);
    case TL_RULE_TEXT_LEN:
    case TL_RULE_BODY_LEN:
        return snprintf(out, cap, "%s %llu at byte %llu is over the limit %llu (%s)",
                        v->rule == TL_RULE_TEXT_LEN ? "thl" : "bl", (unsigned long long)v->value,
                        (unsigned long long)v->offset, (unsigned long long)v->limit, name);
    case TL_RULE_HANDSHAKE_TIMEOUT:
        format_ns(t, sizeof t, v->limit);
        return snprintf(out, cap, "no HelloRequest within %s of the accept (%s)", t, name);
    case TL_RULE_IDLE_TIMEOUT:
        format_ns(t, sizeof t, v->limit);
        return snprintf(out, cap, "no byte received or sent for %s (%s)", t, name);
    case TL_RULE_FRAME_TIMEOUT:
        format_ns(t, sizeof t, v->limit);
        return snprintf(out, cap,
                        "a frame still incomplete %s after its first byte, %llu bytes received (%s)", t,
                        (unsigned long long)v->received, name);
    case TL_RULE_SEND_AFTER_BYE:
        return snprintf(out, cap,
                        "messages holding %llu bytes queued behind its bye frame, over the limit %llu: they "
                        "can never be sent (%s)",
                        (unsigned long long)v->value, (unsigned long long)v->limit, name);
    }
    return snprintf(out, cap, "rule %d", (int)v->rule);
}

/* ----------------------------------------------------------- public: life */

int tl_engine_create(const tl_engine_options *opt, tl_engine **out)
{
    tl_engine_options o;
    if (out == NULL) {
        return TL_E_INVAL;
    }
    if (opt) {
        o = *opt;
    } else {
        memset(&o, 0, sizeof o);
    }
    if (o.pool_initial == 0) {
        o.pool_initial = POOL_DEFAULT_INITIAL;
    }
    if (o.pool_max == 0) {
        o.pool_max = POOL_DEFAULT_MAX;
    }
    if (o.pool_max < o.pool_initial) {
        o.pool_max = o.pool_initial;
    }
    if (o.max_channels == 0 || o.max_channels > 65534u - RECENT_FIFO) {
        o.max_channels = 65534u - RECENT_FIFO;
    }
    const tl_allocator *a = o.allocator ? o.allocator : tl_allocator_default();
    tl_engine *e = a->alloc(a->ctx, sizeof *e);
    if (e == NULL) {
        return TL_E_NOMEM;
    }
    memset(e, 0, sizeof *e);
    e->opt = o;
    e->a = a;
    e->rng = o.seed;
    e->next_id = 1; /* A23: per engine, from 1 */
    e->rx_reserve = o.rx_reserve ? o.rx_reserve : RX_RESERVE_DEFAULT;
    for (unsigned i = 0; i < o.pool_initial; i++) {
        tl_message *m = msg_alloc(e);
        if (m == NULL) {
            tl_engine_destroy(e);
            return TL_E_NOMEM;
        }
        m->next = e->pool;
        e->pool = m;
        e->pool_count++;
    }
    *out = e;
    return TL_OK;
}

static void queue_free(tl_engine *e, msg_queue *q)
{
    tl_message *m;
    while ((m = queue_pop(q)) != NULL) {
        msg_destroy(e, m);
    }
}

void tl_engine_destroy(tl_engine *e)
{
    if (e == NULL) {
        return;
    }
    /* No wake-ups (and so no host callbacks) while everything goes. */
    while (e->paused_head) {
        paused_unlink(e, e->paused_head);
    }
    while (e->all_head) {
        channel *ch = e->all_head;
        queue_free(e, &ch->sendq);
        if (ch->rx) {
            msg_destroy(e, ch->rx);
        }
        if (ch->welcome) {
            msg_destroy(e, ch->welcome);
        }
        ch->rx = ch->welcome = NULL;
        ch_free(e, ch);
    }
    for (uint32_t i = 0; i < e->ngroups; i++) {
        queue_free(e, &e->groups[i].rxq);
    }
    while (e->pool) {
        tl_message *m = pool_take(e);
        msg_destroy(e, m);
    }
    for (unsigned i = 0; i < PAGE_SIZE; i++) {
        e->a->free(e->a->ctx, e->pages[i]);
    }
    e->a->free(e->a->ctx, e->rx_spare);
    tl_theap_free(&e->timers, e->a);
    e->a->free(e->a->ctx, e->groups);
    e->a->free(e->a->ctx, e->cmds);
    e->a->free(e->a->ctx, e);
}

/* ------------------------------------------------------ public: messages */

int tl_engine_get(tl_engine *e, tl_get_strategy how, tl_message **out)
{
    if (e == NULL || out == NULL) {
        return TL_E_INVAL;
    }
    tl_message *m = pool_take(e);
    if (m == NULL) {
        if (how == TL_GET_POOL_ONLY) {
            return TL_E_AGAIN;
        }
        m = msg_alloc(e);
        if (m == NULL) {
            return TL_E_NOMEM;
        }
    }
    tl_msg_reset(m);
    *out = m;
    return TL_OK;
}

void tl_engine_put(tl_engine *e, tl_message **msg)
{
    if (msg == NULL || *msg == NULL) {
        return;
    }
    pool_put(e, *msg);
    *msg = NULL;
}

int tl_engine_group_create(tl_engine *e, uint32_t *gid)
{
    if (e->ngroups == e->groups_cap) {
        uint32_t cap = e->groups_cap ? e->groups_cap * 2 : 4;
        group *g = e->a->realloc(e->a->ctx, e->groups, cap * sizeof *g);
        if (g == NULL) {
            return TL_E_NOMEM;
        }
        e->groups = g;
        e->groups_cap = cap;
    }
    group *g = &e->groups[e->ngroups++];
    memset(g, 0, sizeof *g);
    g->alive = 1;
    *gid = e->ngroups;
    return TL_OK;
}

int tl_engine_group_destroy(tl_engine *e, uint32_t gid)
{
    group *g = group_find(e, gid);
    if (g == NULL) {
        return TL_E_NOT_FOUND;
    }
    channel *ch = e->all_head;
    while (ch) {
        channel *next = ch->next_all;
        if (ch->group == gid) {
            teardown(e, ch, TL_STATUS_CHANNEL_CLOSED, 0, 0);
        }
        ch = next;
    }
    tl_message *m;
    while ((m = queue_pop(&g->rxq)) != NULL) {
        pool_put(e, m);
    }
    g->alive = 0;
    return TL_OK;
}

int tl_engine_receive(tl_engine *e, uint32_t gid, tl_message **out)
{
    group *g = group_find(e, gid);
    if (g == NULL) {
        return TL_E_NOT_FOUND;
    }
    tl_message *m = queue_pop(&g->rxq);
    if (m == NULL) {
        return TL_E_AGAIN;
    }
    *out = m;
    return TL_OK;
}

size_t tl_engine_pending(const tl_engine *e, uint32_t gid)
{
    group *g = group_find(e, gid);
    return g ? g->rxq.count : 0;
}

int tl_engine_update_receiver(tl_engine *e, uint32_t gid, tl_message **msg)
{
    if (group_find(e, gid) == NULL) {
        return TL_E_NOT_FOUND;
    }
    if (msg == NULL || *msg == NULL) {
        tl_message *m = msg_alloc(e);
        if (m == NULL) {
            return TL_E_NOMEM;
        }
        m->hdr.proto = tl_proto_make(TL_OP_SIGNAL, 1, 0, 0, 0);
        m->hdr.status = TL_STATUS_RECEIVER_UPDATE;
        deliver(e, gid, m);
        return TL_OK;
    }
    tl_message *m = *msg;
    m->hdr.proto = (uint8_t)(m->hdr.proto & ~TL_PROTO_ORIGIN);
    m->hdr.status = TL_STATUS_RECEIVER_UPDATE;
    *msg = NULL;
    deliver(e, gid, m);
    return TL_OK;
}

/* ------------------------------------------------------------- post */

static tl_status reject(tl_post_out *out, tl_message *m, tl_status st)
{
    m->hdr.status = (uint8_t)st;
    if (out) {
        out->hdr = m->hdr;
        out->status = st;
    }
    return st;
}

/* A12 (6.15): the first address header must be of the kind the op code uses. */
static int address_kind_mismatch(const tl_message *m, unsigned op)
{
    tl_text_iter it;
    tl_text_field f;
    tl_text_iter_init(&it, m->text.data, m->text.len);
    while (tl_text_iter_next(&it, &f)) {
        int connect = f.name_len == 11 && memcmp(f.name, TL_HEADER_CONNECT_TO, 11) == 0;
        int listen = f.name_len == 10 && memcmp(f.name, TL_HEADER_LISTEN_ON, 10) == 0;
        if (connect || listen) {
            return (connect && op != TL_OP_HELLO_REQUEST) || (listen && op != TL_OP_WELCOME_REQUEST);
        }
    }
    return 0;
}

static void enqueue_send(tl_engine *e, channel *ch, tl_message *m)
{
    tl_writer w;
    m->hdr.channel = ch->number; /* the sender's own number goes on the wire (6.6) */
    tl_writer_init(&w, &m->hdr, m->text.data, m->text.len, m->body.data, m->body.len);
    memcpy(m->wire_hdr, w.hdr, TL_HEADER_SIZE);
    queue_push(&ch->sendq, m);
    ch->queued_bytes += msg_wire_len(m);
    int was_full = send_queue_full(e, ch);
    ch->queued_memory += msg_memory(m);
    if (!was_full && send_queue_full(e, ch)) {
        e->stats.send_queue_pauses++;
    }
    if (ch->state == ST_OPEN) {
        mark_io(e, ch);
    }
}

static void start_listen(tl_engine *e, channel *ch, tl_message *m)
{
    ch->welcome = m;
    ch->first_id = m->hdr.message_id;
    ch->state = ST_LISTEN_PENDING;
    if (tl_address_from_headers(m->text.data, m->text.len, TL_OP_WELCOME_REQUEST, &ch->addr) !=
        TL_STATUS_SUCCESS) {
        tl_engine_listen_result(e, ch->number, TL_STATUS_INVALID_ADDRESS);
        return;
    }
    tl_command c;
    memset(&c, 0, sizeof c);
    c.kind = TL_CMD_LISTEN;
    c.channel = ch->number;
    c.addr = ch->addr;
    push_command(e, &c);
}

static void start_connect(tl_engine *e, channel *ch, tl_message *m)
{
    ch->first_id = m->hdr.message_id;
    ch->state = ST_CONNECTING;
    enqueue_send(e, ch, m); /* the HelloRequest is the first frame (6.4) */
    if (tl_address_from_headers(m->text.data, m->text.len, TL_OP_HELLO_REQUEST, &ch->addr) !=
            TL_STATUS_SUCCESS ||
        (ch->addr.kind == TL_ADDR_TCP && ch->addr.port == 0)) {
        teardown(e, ch, TL_STATUS_INVALID_ADDRESS, 1, 1); /* A10: immediate shape */
        return;
    }
    if (e->opt.connect_timeout_ns) {
        timer_arm(e, ch, TIMER_CONNECT, e->now + e->opt.connect_timeout_ns);
    }
    tl_command c;
    memset(&c, 0, sizeof c);
    c.kind = TL_CMD_CONNECT;
    c.channel = ch->number;
    c.addr = ch->addr;
    push_command(e, &c);
}

int tl_engine_post(tl_engine *e, uint32_t gid, tl_message **msg, tl_post_out *out)
{
    if (msg == NULL || *msg == NULL) {
        if (out) {
            memset(&out->hdr, 0, sizeof out->hdr);
            out->status = TL_STATUS_NULL_MESSAGE;
        }
        return TL_E_INVAL;
    }
    tl_message *m = *msg;
    if (group_find(e, gid) == NULL) {
        if (out) {
            out->hdr = m->hdr;
            out->status = TL_STATUS_INVALID_MCHN_GROUP;
        }
        return TL_E_NOT_FOUND;
    }
    tl_post_result r =
        tl_post_validate(&m->hdr, m->text.data, m->text.len, m->body.len,
                         TL_POST_CLEAR_INTERNAL | TL_POST_NO_CHANNEL_HELLO | TL_POST_NO_WELCOME_RESP);
    if (r.err == TL_E_BAD_OPCODE) {
        if (out) {
            out->hdr = m->hdr;
            out->status = TL_STATUS_INVALID_OP_CODE;
        }
        return TL_E_BAD_OPCODE;
    }
    if (r.status != TL_STATUS_SUCCESS) {
        reject(out, m, r.status);
        return TL_E_REJECTED;
    }
    unsigned op = tl_proto_opcode(m->hdr.proto);
    channel *ch = NULL;
    if (op == TL_OP_HELLO_REQUEST || op == TL_OP_WELCOME_REQUEST) {
        if (address_kind_mismatch(m, op)) {
            reject(out, m, TL_STATUS_INVALID_ADDRESS);
            return TL_E_REJECTED;
        }
    } else {
        ch = ch_find(e, m->hdr.channel);
        if (ch == NULL) {
            reject(out, m, TL_STATUS_INVALID_CHANNEL_NUMBER); /* A6: closed numbers too */
            return TL_E_REJECTED;
        }
        if (ch->group != gid) {
            reject(out, m, TL_STATUS_INVALID_MCHN_GROUP);
            return TL_E_REJECTED;
        }
        if (ch->kind == KIND_LISTENER && op != TL_OP_BYE_SIGNAL) {
            reject(out, m, TL_STATUS_NOT_ALLOWED); /* A15 */
            return TL_E_REJECTED;
        }
    }
    if (op == TL_OP_HELLO_REQUEST || op == TL_OP_WELCOME_REQUEST) {
        int err;
        ch = ch_create(e, op == TL_OP_HELLO_REQUEST ? KIND_CLIENT : KIND_LISTENER, gid, &err);
        if (ch == NULL) {
            reject(out, m,
                   err == TL_E_NOMEM ? TL_STATUS_ALLOCATION_FAILED : TL_STATUS_INVALID_CHANNEL_NUMBER);
            return TL_E_REJECTED;
        }
        m->hdr.channel = ch->number;
    }
    if (m->hdr.message_id == 0) {
        m->hdr.message_id = e->next_id++; /* A23 */
    }
    if (out) {
        out->hdr = m->hdr;
        out->status = TL_STATUS_SUCCESS;
    }
    *msg = NULL;

    switch (op) {
    case TL_OP_WELCOME_REQUEST: start_listen(e, ch, m); break;
    case TL_OP_HELLO_REQUEST: start_connect(e, ch, m); break;
    case TL_OP_BYE_SIGNAL:
        /* A2: always a local abort, never transmitted. The ByeSignal comes back
         * first (origin engine, status 22: proto 0x57), then the teardown. */
        m->hdr.proto |= TL_PROTO_ORIGIN | TL_PROTO_BIT_A;
        m->hdr.status = TL_STATUS_CHANNEL_CLOSED;
        deliver(e, gid, m);
        teardown(e, ch, TL_STATUS_CHANNEL_CLOSED, 0, 1);
        break;
    default:
        enqueue_send(e, ch, m);
        close_if_send_stuck(e, ch); /* after its bye frame: the app posted past max_send_queue */
        break;
    }
    return TL_OK;
}

/* ----------------------------------------------------------- host side */

int tl_engine_next_command(tl_engine *e, tl_command *out)
{
    while (e->cmd_count > 0) {
        const tl_command *c = &e->cmds[e->cmd_head];
        e->cmd_head = (e->cmd_head + 1) % e->cmd_cap;
        e->cmd_count--;
        if (c->kind == TL_CMD_IO) {
            channel *ch = ch_find(e, c->channel);
            if (ch == NULL) {
                continue; /* closed since: its CLOSE follows */
            }
            ch->io_queued = 0;
            /* IO has no address: only its fields are copied out. */
            out->kind = TL_CMD_IO;
            out->channel = c->channel;
            out->reset = 0;
            out->listener = 0;
            out->addr.kind = (tl_addr_kind)0;
            return 1;
        }
        *out = *c;
        return 1;
    }
    return 0;
}

/* Sending stops after a bye frame (6.6), except a ByeResponse after our own
 * ByeRequest in strict mode (A4). */
static int send_blocked(const tl_engine *e, const channel *ch)
{
    if (ch->bye_sent_op == 0) {
        return 0;
    }
    if (e->opt.strict_bye && ch->bye_sent_op == TL_OP_BYE_REQUEST && ch->sendq.head &&
        tl_proto_opcode(ch->sendq.head->hdr.proto) == TL_OP_BYE_RESPONSE) {
        return 0;
    }
    return 1;
}

int tl_engine_io_state(const tl_engine *e, uint16_t chn, tl_io_state *out)
{
    const channel *ch = ch_find(e, chn);
    if (ch == NULL) {
        return TL_E_NOT_FOUND;
    }
    memset(out, 0, sizeof *out);
    out->is_listener = ch->kind == KIND_LISTENER;
    out->connecting = ch->state == ST_CONNECTING;
    out->want_read = ch->kind != KIND_LISTENER && ch->state == ST_OPEN && !ch->starving &&
                     !ch->read_stopped && !ch->rx_paused && !send_queue_full(e, ch);
    out->read_max = SIZE_MAX;
    if (rx_budget_on(e)) {
        /* Partial-frame bytes it may take; while the pool is empty at most a
         * reserve, so that bytes the core cannot take yet (a complete frame
         * finds no message) wait in the socket, not in the host. Never 0: a
         * channel whose room went to others pauses when it is offered a byte. */
        size_t room = rx_room(e, ch);
        if (e->pool_count == 0 && room > e->rx_reserve) {
            room = e->rx_reserve;
        }
        out->read_max = room ? room : 1;
    }
    if (ch->state == ST_OPEN && !send_blocked(e, ch)) {
        out->out_pending = ch->queued_bytes;
    }
    return TL_OK;
}

int tl_engine_listen_result(tl_engine *e, uint16_t chn, tl_status status)
{
    channel *ch = ch_find(e, chn);
    if (ch == NULL || ch->kind != KIND_LISTENER || ch->state != ST_LISTEN_PENDING || ch->welcome == NULL) {
        return TL_E_STATE;
    }
    tl_message *m = ch->welcome;
    ch->welcome = NULL;
    tl_msg_set_opcode(m, TL_OP_WELCOME_RESPONSE);
    m->hdr.status = (uint8_t)status;
    if (status == TL_STATUS_SUCCESS) {
        /* A11: success comes back with origin application. */
        m->hdr.proto = (uint8_t)(m->hdr.proto & ~TL_PROTO_ORIGIN);
        ch->state = ST_LISTENING;
        deliver(e, ch->group, m);
        return TL_OK;
    }
    m->hdr.proto |= TL_PROTO_ORIGIN;
    deliver(e, ch->group, m);
    teardown(e, ch, status, 0, 1);
    return TL_OK;
}

int tl_engine_connect_result(tl_engine *e, uint16_t chn, tl_status status, int immediate)
{
    channel *ch = ch_find(e, chn);
    if (ch == NULL || ch->kind != KIND_CLIENT || ch->state != ST_CONNECTING) {
        return TL_E_STATE;
    }
    timer_disarm(e, ch);
    if (status == TL_STATUS_SUCCESS) {
        ch->state = ST_OPEN;
        ch->last_io = e->now;
        ch_schedule(e, ch);
        mark_io(e, ch);
        return TL_OK;
    }
    teardown(e, ch, status, immediate, 1);
    return TL_OK;
}

int tl_engine_accepted(tl_engine *e, uint16_t listener, uint16_t *out)
{
    channel *l = ch_find(e, listener);
    if (l == NULL || l->kind != KIND_LISTENER || l->state != ST_LISTENING) {
        return TL_E_STATE;
    }
    int err;
    channel *ch = ch_create(e, KIND_SERVER, l->group, &err);
    if (ch == NULL) {
        return err;
    }
    ch->state = ST_OPEN; /* no notification: the app learns of it from the first frame (6.3) */
    *out = ch->number;
    ch_schedule(e, ch); /* handshake and idle timers, when configured */
    mark_io(e, ch);
    return TL_OK;
}

/* The reader failed (A7 op code, text or body limit, out of memory): the
 * channel is closed with the rule's reason. */
static void reader_failure(tl_engine *e, channel *ch)
{
    const tl_reader *r = &ch->reader;
    const tl_reader_error_info *err = tl_reader_error(r);
    switch (err->code) {
    case TL_E_BAD_OPCODE:
        e->stats.invalid_opcodes++;
        violate(e, ch, TL_RULE_OPCODE, TL_STATUS_INVALID_OP_CODE, err->offset, err->value,
                err->limit); /* A7 */
        return;
    case TL_E_LIMIT:
        if (r->hdr.thl > r->opt.max_text) {
            violate(e, ch, TL_RULE_TEXT_LEN, TL_STATUS_INVALID_HEADERS_LEN, err->offset, err->value,
                    err->limit);
        } else {
            violate(e, ch, TL_RULE_BODY_LEN, TL_STATUS_INVALID_BODY_LEN, err->offset, err->value, err->limit);
        }
        return;
    default: teardown(e, ch, TL_STATUS_ALLOCATION_FAILED, 0, 1); return;
    }
}

/* Starve: no pool message for the next frame (6.7, A20). */
static void starve(tl_engine *e, channel *ch)
{
    if (ch->starving) {
        return;
    }
    ch->starving = 1;
    e->starving_count++;
    if (rx_budget_on(e)) {
        ch->prev_starving = e->starving_tail;
        if (e->starving_tail) {
            e->starving_tail->next_starving = ch;
        } else {
            e->starving_head = ch;
        }
        e->starving_tail = ch;
    }
    /* A20: one pool_empty per starvation episode; an episode lasts until the
     * channel gets a message, so a wake-up that loses the message to another
     * channel is not a new one. */
    if (!ch->pool_signalled) {
        ch->pool_signalled = 1;
        e->stats.pool_empty_episodes++;
        notify(e, ch->group, TL_OP_SIGNAL, TL_STATUS_POOL_EMPTY, ch->number, 0);
    }
    mark_io(e, ch);
}

/* A received frame into the reserved message, then to the group (6.7). */
static int accept_frame(tl_engine *e, channel *ch, const tl_frame *f)
{
    tl_message *m = ch->rx;
    ch->rx = NULL;
    m->hdr = f->hdr;
    m->hdr.channel = ch->number; /* rewritten to the local number (6.7) */
    if (m->hdr.proto & TL_PROTO_ORIGIN) {
        e->stats.origin_bits_cleared++; /* A7: no forged notifications */
    }
    if (m->hdr.proto & (TL_PROTO_BIT_A | TL_PROTO_BIT_B)) {
        e->stats.internal_bits_cleared++;
    }
    m->hdr.proto &= (uint8_t)(TL_PROTO_OPCODE_MASK | TL_PROTO_MORE);
    if (f->hdr.thl == 0 && f->hdr.bl > RX_KEEP_BUFFER && f->body == ch->reader.buf && m->alloc == e->a &&
        m->body.len == 0) {
        /* A large body that came in pieces was gathered in the reader's
         * buffer: the message takes that buffer (same allocator) and the
         * reader the message's old body buffer - no second copy. */
        uint8_t *old = m->body.data;
        size_t old_cap = m->body.cap;
        m->body.data = ch->reader.buf;
        m->body.cap = ch->reader.buf_cap;
        m->body.len = f->hdr.bl;
        ch->reader.buf = old;
        ch->reader.buf_cap = old != NULL ? old_cap : 0;
    } else if (tl_msg_text_append_raw(m, f->text, f->hdr.thl) != TL_OK ||
               tl_msg_body_append(m, f->body, f->hdr.bl) != TL_OK) {
        pool_put(e, m);
        e->stats.alloc_failures++;
        return TL_E_NOMEM;
    }
    e->stats.frames_in++;
    e->stats.bytes_in += TL_HEADER_SIZE + (uint64_t)f->hdr.thl + f->hdr.bl;
    if (!ch->got_first) {
        ch->got_first = 1;
        ch->first_id = f->hdr.message_id;
    }
    unsigned op = tl_proto_opcode(m->hdr.proto);
    if (op == TL_OP_BYE_SIGNAL) {
        e->stats.peer_bye_signals++; /* A2: the documented-but-broken form */
    }
    if (ch->kind == KIND_SERVER && op == TL_OP_HELLO_REQUEST) {
        ch->got_hello = 1; /* the handshake timer stops */
    }
    if (ch->kind == KIND_CLIENT) {
        if (op == TL_OP_HELLO_RESPONSE) {
            ch->got_hello_response = 1;
        } else if (!ch->got_hello_response) {
            e->stats.data_before_hello_response++; /* A14 diagnostic */
        }
    }
    deliver(e, ch->group, m);
    return TL_OK;
}

int tl_engine_input(tl_engine *e, uint16_t chn, const uint8_t *data, size_t len, size_t *consumed)
{
    size_t pos = 0;
    int completed = 0;
    *consumed = 0;
    channel *ch = ch_find(e, chn);
    if (ch == NULL) {
        return TL_E_NOT_FOUND;
    }
    if (ch->kind == KIND_LISTENER || ch->state != ST_OPEN) {
        return TL_E_STATE;
    }
    if (ch->read_stopped) {
        *consumed = len;
        return TL_OK;
    }
    /* With rx_budget the pool message of a frame is taken with its last byte
     * (a partial frame holds none), and partial bytes stay within the reserve
     * and the budget. Without it, as tofu: taken with the first byte. */
    int lazy = rx_budget_on(e);
    if (ch->rx_paused || ch->starving || send_queue_full(e, ch)) {
        return TL_OK; /* not reading: the host offers the bytes again later */
    }
    if (ch->reader.buf == NULL && e->rx_spare != NULL) {
        ch->reader.buf = e->rx_spare; /* returned below when the input ends between frames */
        ch->reader.buf_cap = e->rx_spare_cap;
        e->rx_spare = NULL;
        e->rx_spare_cap = 0;
    }
    while (pos < len) {
        size_t avail = len - pos;
        if (ch->rx == NULL && (!lazy || tl_reader_would_complete(&ch->reader, data + pos, avail))) {
            ch->rx = pool_take(e); /* receive buffers come from the pool only (6.7) */
            if (ch->rx == NULL) {
                starve(e, ch);
                break;
            }
            ch->pool_signalled = 0;
        }
        if (lazy && ch->rx == NULL) {
            size_t room = rx_room(e, ch);
            if (room == 0 && rx_out_of_room(e, ch) == 0) {
                break;
            }
            room = rx_room(e, ch);
            if (avail > room) {
                avail = room;
            }
        }
        size_t used = 0;
        tl_frame f;
        tl_read_result r = tl_reader_next(&ch->reader, data + pos, avail, &used, &f);
        pos += used;
        if (r == TL_READ_MORE) {
            rx_account(e, ch, tl_reader_pending(&ch->reader));
            continue; /* all of avail taken: the next round pauses if it was cut */
        }
        if (r == TL_READ_ERROR) {
            *consumed = len;
            reader_failure(e, ch);
            return TL_OK;
        }
        completed = 1;
        if (accept_frame(e, ch, &f) != TL_OK) {
            *consumed = len;
            teardown(e, ch, TL_STATUS_ALLOCATION_FAILED, 0, 1);
            return TL_OK;
        }
        rx_account(e, ch, 0);
        if (tl_proto_opcode(f.hdr.proto) == TL_OP_BYE_RESPONSE) {
            /* The side that receives ByeResponse stops reading and closes (6.8). */
            ch->read_stopped = 1;
            *consumed = len;
            teardown(e, ch, TL_STATUS_CHANNEL_CLOSED, 0, 1);
            return TL_OK;
        }
        if (send_queue_full(e, ch)) {
            break; /* its peer does not read our replies: stop reading too */
        }
    }
    if (ch->reader.buf_cap > RX_KEEP_BUFFER && tl_reader_pending(&ch->reader) == 0) {
        /* Between frames an idle channel keeps no big buffer (input that
         * ends inside a frame keeps it for the rest of that frame): the
         * engine keeps one for whichever channel gathers a large frame next. */
        if (e->rx_spare == NULL) {
            e->rx_spare = ch->reader.buf;
            e->rx_spare_cap = ch->reader.buf_cap;
            ch->reader.buf = NULL;
            ch->reader.buf_cap = 0;
        }
        tl_reader_free(&ch->reader);
    }
    *consumed = pos;
    if (pos > 0) {
        ch->last_io = e->now;
    }
    /* The frame timer runs from a frame's first byte to its last. */
    int partial = ch->rx_pending != 0;
    if (partial && (!ch->frame_partial || completed)) {
        ch->frame_since = e->now;
    }
    ch->frame_partial = partial;
    /* Nothing left to take: wait for budget rather than be asked again. */
    if (lazy && !ch->rx_paused && !ch->starving && ch->rx == NULL && ch->rx_pending > 0 &&
        rx_room(e, ch) == 0) {
        (void)rx_out_of_room(e, ch);
    }
    ch_schedule(e, ch);
    return TL_OK;
}

int tl_engine_transport_closed(tl_engine *e, uint16_t chn, tl_status reason)
{
    channel *ch = ch_find(e, chn);
    if (ch == NULL) {
        return TL_E_NOT_FOUND;
    }
    teardown(e, ch, reason, 0, 1);
    return TL_OK;
}

int tl_engine_output(tl_engine *e, uint16_t chn, tl_iov *iov, int max)
{
    return tl_engine_output_bytes(e, chn, iov, max, SIZE_MAX);
}

int tl_engine_output_bytes(tl_engine *e, uint16_t chn, tl_iov *iov, int max, size_t max_bytes)
{
    channel *ch = ch_find(e, chn);
    if (ch == NULL || ch->state != ST_OPEN || send_blocked(e, ch)) {
        return 0;
    }
    int n = 0;
    size_t skip = ch->head_written;
    size_t bytes = 0;
    for (tl_message *m = ch->sendq.head; m != NULL && n < max && bytes < max_bytes; m = m->next) {
        const uint8_t *base[3] = {m->wire_hdr, m->text.data, m->body.data};
        size_t len[3] = {TL_HEADER_SIZE, m->text.len, m->body.len};
        for (int i = 0; i < 3 && n < max; i++) {
            if (skip >= len[i]) {
                skip -= len[i];
                continue;
            }
            iov[n].base = base[i] + skip;
            iov[n].len = len[i] - skip;
            bytes += iov[n].len;
            skip = 0;
            n++;
        }
        if (is_bye_frame(tl_proto_opcode(m->hdr.proto))) {
            break; /* nothing goes out after a bye frame (6.6) */
        }
    }
    return n;
}

int tl_engine_output_done(tl_engine *e, uint16_t chn, size_t n)
{
    channel *ch = ch_find(e, chn);
    if (ch == NULL) {
        return TL_E_NOT_FOUND;
    }
    /* No more than tl_engine_output offered (nothing past a bye frame, nothing
     * while connecting or stopped), checked before any state changes. */
    if (n > 0) {
        size_t room = 0;
        if (ch->state == ST_OPEN && !send_blocked(e, ch)) {
            for (const tl_message *m = ch->sendq.head; m != NULL && room < ch->head_written + n;
                 m = m->next) {
                room += msg_wire_len(m);
                if (is_bye_frame(tl_proto_opcode(m->hdr.proto))) {
                    break;
                }
            }
        }
        if (room < ch->head_written + n) {
            return TL_E_INVAL;
        }
    }
    ch->queued_bytes -= n;
    e->stats.bytes_out += n;
    if (n > 0) {
        ch->last_io = e->now; /* progress: the idle timer starts again */
    }
    while (n > 0) {
        tl_message *m = ch->sendq.head;
        size_t rest = msg_wire_len(m) - ch->head_written;
        if (n < rest) {
            ch->head_written += n;
            break;
        }
        n -= rest;
        ch->head_written = 0;
        queue_pop(&ch->sendq);
        ch->queued_memory -= msg_memory(m);
        e->stats.frames_out++;
        unsigned op = tl_proto_opcode(m->hdr.proto);
        if (is_bye_frame(op)) {
            /* A ByeResponse ends sending even in strict mode (A4 only lets
             * one through after our own ByeRequest). */
            if (ch->bye_sent_op == 0 || op == TL_OP_BYE_RESPONSE) {
                ch->bye_sent_op = op;
            }
            if (op == TL_OP_BYE_RESPONSE && e->opt.bye_grace_ns) {
                timer_arm(e, ch, TIMER_BYE_GRACE, e->now + e->opt.bye_grace_ns); /* A3 */
            }
        }
        pool_put(e, m); /* after a full send the message goes back to the pool (6.6) */
        if (send_blocked(e, ch) && n > 0) {
            return TL_E_INVAL;
        }
    }
    if (close_if_send_stuck(e, ch)) {
        return TL_OK; /* the bye frame left with more than max_send_queue behind it */
    }
    mark_io(e, ch);
    return TL_OK;
}

/* The "channel" a timer heap node belongs to. */
static channel *node_channel(tl_theap_node *n)
{
    return (channel *)(void *)((char *)n - offsetof(channel, tnode));
}

void tl_engine_tick(tl_engine *e, uint64_t now_ns)
{
    tl_theap_node *top;
    if (now_ns > e->now) {
        e->now = now_ns;
    }
    /* Earliest first, equal deadlines in channel creation order. A key found
     * early (activity since) is moved to the channel's real deadline. */
    while ((top = tl_theap_top(&e->timers)) != NULL && top->key <= e->now) {
        channel *ch = node_channel(top);
        due_kind k;
        uint64_t d = channel_due(e, ch, &k);
        if (d > e->now) {
            if (d == UINT64_MAX) {
                tl_theap_remove(&e->timers, top);
            } else {
                tl_theap_set(&e->timers, top, d);
            }
            continue;
        }
        switch (k) {
        case DUE_CONNECT:
            timer_disarm(e, ch);
            teardown(e, ch, TL_STATUS_CONNECT_FAILED, 0, 1); /* A21 */
            break;
        case DUE_BYE_GRACE:
            timer_disarm(e, ch);
            teardown(e, ch, TL_STATUS_CHANNEL_CLOSED, 0, 1); /* A3 */
            break;
        case DUE_HANDSHAKE:
            violate(e, ch, TL_RULE_HANDSHAKE_TIMEOUT, TL_STATUS_CHANNEL_CLOSED, 0, e->now - ch->opened_at,
                    e->opt.handshake_timeout_ns);
            break;
        case DUE_FRAME:
            violate(e, ch, TL_RULE_FRAME_TIMEOUT, TL_STATUS_CHANNEL_CLOSED, 0, e->now - ch->frame_since,
                    e->opt.frame_timeout_ns);
            break;
        case DUE_IDLE:
            violate(e, ch, TL_RULE_IDLE_TIMEOUT, TL_STATUS_CHANNEL_CLOSED, 0, e->now - ch->last_io,
                    e->opt.idle_timeout_ns);
            break;
        case DUE_NONE: tl_theap_remove(&e->timers, top); break;
        }
    }
}

uint64_t tl_engine_next_deadline(const tl_engine *e)
{
    const tl_theap_node *top = tl_theap_top(&e->timers);
    return top != NULL ? top->key : UINT64_MAX;
}

void tl_engine_get_stats(const tl_engine *e, tl_engine_stats *out)
{
    *out = e->stats;
    out->channels_now = e->nchannels;
    out->pool_now = e->pool_count;
    uint32_t held = 0;
    for (uint32_t i = 0; i < e->ngroups; i++) {
        held += (uint32_t)e->groups[i].rxq.count;
    }
    for (const channel *ch = e->all_head; ch; ch = ch->next_all) {
        held += (uint32_t)ch->sendq.count + (ch->rx != NULL) + (ch->welcome != NULL);
    }
    out->engine_now = held;
    out->next_message_id = e->next_id;
    out->rx_buffered_now = e->rx_pending;
    out->rx_charged_now = e->rx_charged;
}

const char *tl_engine_check(const tl_engine *e)
{
    uint32_t count = 0, starving = 0;
    uint32_t paused = 0;
    uint64_t rx_pending = 0, rx_charged = 0;
    for (const channel *ch = e->all_head; ch; ch = ch->next_all) {
        count++;
        if (ch_find(e, ch->number) != ch) {
            return "channel table does not map a channel's number to it";
        }
        if (ch->number == TL_CHANNEL_NONE || ch->number == TL_CHANNEL_INTERNAL) {
            return "channel number 0 or 65535 in use";
        }
        if (group_find(e, ch->group) == NULL) {
            return "channel belongs to no live group";
        }
        size_t bytes = 0, n = 0;
        for (const tl_message *m = ch->sendq.head; m; m = m->next) {
            bytes += msg_wire_len(m);
            n++;
        }
        if (n != ch->sendq.count || bytes - ch->head_written != ch->queued_bytes) {
            return "send queue accounting is inconsistent";
        }
        if (ch->starving) {
            starving++;
            if (ch->rx != NULL) {
                return "a starving channel holds a receive message";
            }
        }
        if (ch->kind == KIND_LISTENER && ch->sendq.count != 0) {
            return "a listener has queued frames";
        }
        size_t memory = 0;
        for (const tl_message *m = ch->sendq.head; m; m = m->next) {
            memory += msg_memory(m);
        }
        if (memory != ch->queued_memory) {
            return "send queue memory accounting is inconsistent";
        }
        due_kind k;
        uint64_t due = channel_due(e, ch, &k);
        if (due != UINT64_MAX && (ch->tnode.pos == 0 || ch->tnode.key > due)) {
            return "a channel's deadline is not in the timer heap, or later there";
        }
        if (ch->rx_pending != tl_reader_pending(&ch->reader)) {
            return "a channel's incomplete-frame bytes are not accounted";
        }
        if (ch->frame_partial != (ch->rx_pending != 0)) {
            return "a channel's partial-frame state is wrong";
        }
        rx_pending += ch->rx_pending;
        rx_charged += ch->rx_charged;
        if (ch->rx_paused) {
            paused++;
        }
    }
    if (rx_pending != e->rx_pending || rx_charged != e->rx_charged) {
        return "incomplete-frame totals are inconsistent";
    }
    for (const channel *ch = e->paused_head; ch; ch = ch->next_paused) {
        if (!ch->rx_paused || paused == 0) {
            return "the paused list is inconsistent";
        }
        paused--;
    }
    if (paused != 0) {
        return "a paused channel is not in the paused list";
    }
    if (rx_budget_on(e)) {
        uint32_t listed = 0;
        for (const channel *ch = e->starving_head; ch; ch = ch->next_starving) {
            if (!ch->starving || ++listed > e->starving_count) {
                return "the starving list is inconsistent";
            }
        }
        if (listed != e->starving_count) {
            return "a starving channel is not in the starving list";
        }
    }
    if (e->rx_overdraft != NULL && (e->rx_overdraft->rx_pending == 0 || e->rx_overdraft->rx_paused ||
                                    ch_find(e, e->rx_overdraft->number) != e->rx_overdraft)) {
        return "the rx overdraft is held by a channel with no incomplete frame";
    }
    const char *heap = tl_theap_check(&e->timers);
    if (heap != NULL) {
        return heap;
    }
    if (e->timers.n > e->nchannels) {
        return "more timers than channels";
    }
    if (count != e->nchannels || starving != e->starving_count) {
        return "channel counters are inconsistent";
    }
    uint32_t pooled = 0;
    for (const tl_message *m = e->pool; m; m = m->next) {
        pooled++;
    }
    if (pooled != e->pool_count || e->pool_count > e->opt.pool_max) {
        return "pool accounting is inconsistent";
    }
    if (e->pool_count > e->stats.messages_live) {
        return "more pooled messages than live ones";
    }
    return NULL;
}

size_t tl_engine_channels(const tl_engine *e, uint16_t *out, size_t max)
{
    size_t n = 0;
    for (uint32_t p = 0; p < PAGE_SIZE; p++) {
        channel **page = e->pages[p];
        if (page == NULL) {
            continue;
        }
        for (uint32_t i = 0; i < PAGE_SIZE; i++) {
            if (page[i]) {
                if (n < max) {
                    out[n] = page[i]->number;
                }
                n++;
            }
        }
    }
    return n;
}

uint32_t tl_engine_channel_group(const tl_engine *e, uint16_t chn)
{
    const channel *ch = ch_find(e, chn);
    return ch ? ch->group : 0;
}
