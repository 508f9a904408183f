/*
 * herd plugin ABI — the only contract between the herd host and a plugin.
 *
 * Pure C. Nothing here may carry a C++ type, an exception or memory that the other side frees.
 * Any change to this file must bump HERD_ABI_MINOR (append-only change) or HERD_ABI_MAJOR
 * (anything else); tests/abi records a hash of this file and fails until the version moves.
 *
 * Rules that make it stable
 *  - A plugin exports exactly one symbol, herd_plugin_entry. Everything else is hidden.
 *  - Every extensible struct starts with herd_struct_header. Fields are only ever appended; a reader
 *    checks header.struct_size (HERD_HAS_FIELD) before it touches a field newer than its own minor.
 *    Sub-tables are referenced by pointer, never embedded by value, so each can grow on its own.
 *  - Frozen value types (herd_str, herd_header) never change: they carry no header.
 *  - Compatibility: the plugin's major must equal the host's; the plugin's minor must be <= the host's.
 *  - Ownership: whoever allocates frees. Results travel through host sinks (callbacks) that copy
 *    what they keep; pointers handed into a call are valid only for the duration of that call.
 *  - Errors: every fallible call returns herd_status and reports a message through herd_error_out.
 *  - Threading is documented next to each function. "Hot path" means: called from the proxy's I/O
 *    threads, concurrently, must not block, should not allocate.
 */
#ifndef HERD_PLUGIN_API_H
#define HERD_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Version history (append-only within a major):
 *   1.0  initial ABI: kv, discovery, selector, affinity; host services; plugin descriptor.
 *   1.1  herd_create_args.config_dir (host -> plugin; every 1.1 host provides it).
 */
#define HERD_ABI_MAJOR 1
#define HERD_ABI_MINOR 1

#if defined(_WIN32)
#define HERD_PLUGIN_EXPORT __declspec(dllexport)
#else
#define HERD_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* The one symbol every plugin exports. */
#define HERD_PLUGIN_ENTRY_SYMBOL "herd_plugin_entry"

/* ------------------------------------------------------------------------------------------------
 * Frozen value types
 * ---------------------------------------------------------------------------------------------- */

/* A byte string: not NUL-terminated, may contain any byte. Borrowed for the duration of a call. */
typedef struct herd_str {
    const char* data;
    size_t size;
} herd_str;

/* One HTTP header (name, value). */
typedef struct herd_header {
    herd_str name;
    herd_str value;
} herd_header;

/* Leads every extensible struct. struct_size = sizeof the struct as the writer compiled it. */
typedef struct herd_struct_header {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
} herd_struct_header;

/* True when a struct written by the other side is large enough to contain FIELD. */
#define HERD_HAS_FIELD(ptr, type, field) \
    ((ptr)->header.struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* ------------------------------------------------------------------------------------------------
 * Status and errors
 * ---------------------------------------------------------------------------------------------- */

typedef int32_t herd_status;
#define HERD_OK 0
#define HERD_ERR_INVALID_ARGUMENT 1 /* bad configuration or input; retrying will not help */
#define HERD_ERR_NOT_FOUND 2        /* key, object or backend does not exist */
#define HERD_ERR_CONFLICT 3         /* compare-and-swap lost: the expected revision did not match */
#define HERD_ERR_UNAVAILABLE 4      /* server unreachable or refusing; may succeed later */
#define HERD_ERR_TIMEOUT 5          /* the configured timeout elapsed */
#define HERD_ERR_UNSUPPORTED 6      /* this instance does not implement the operation */
#define HERD_ERR_PERMISSION 7       /* authentication or authorisation failed */
#define HERD_ERR_TOO_LARGE 8        /* a key or value over the backend's limit */
#define HERD_ERR_COMPACTED 9        /* the requested revision is no longer retained */
#define HERD_ERR_INTERNAL 10        /* a bug or an exception inside the plugin */

/*
 * Where a plugin reports why a call failed. Owned by the host; the host copies the message.
 * set_at names the configuration key the error is about ("files[1]", "targets"), so the host can
 * point at file:line:col of the TOML the key came from. Either may be called at most once per call.
 */
typedef struct herd_error_out {
    herd_struct_header header;
    void* ctx;
    void (*set)(void* ctx, herd_str message);
    void (*set_at)(void* ctx, herd_str config_key, herd_str message);
} herd_error_out;

/* ------------------------------------------------------------------------------------------------
 * Host services, handed to herd_plugin_entry and to every create().
 * All functions are thread-safe, non-blocking and may be called from any thread at any time while
 * the instance (or, for the table given to the entry, the library) lives.
 * ---------------------------------------------------------------------------------------------- */

typedef int32_t herd_log_level;
#define HERD_LOG_TRACE 0
#define HERD_LOG_DEBUG 1
#define HERD_LOG_INFO 2
#define HERD_LOG_WARN 3
#define HERD_LOG_ERROR 4

typedef int32_t herd_metric_type;
#define HERD_METRIC_COUNTER 0
#define HERD_METRIC_GAUGE 1

/* A metric family a plugin registers: name must start with "herd_" and be a valid metric name. */
typedef struct herd_metric_desc {
    herd_struct_header header;
    herd_str name;
    herd_str help;
    herd_metric_type type;
    const herd_str* label_names; /* may be NULL when label_count is 0 */
    size_t label_count;
} herd_metric_desc;

/* Opaque host-owned handles. A series is one label-value combination of a family. */
typedef struct herd_metric_family herd_metric_family;
typedef struct herd_metric_series herd_metric_series;

typedef struct herd_host_api {
    herd_struct_header header;
    void* ctx; /* pass back as the first argument of every function below */

    /* Logs into the host's log under the plugin's (or instance's) name. */
    void (*log)(void* ctx, herd_log_level level, herd_str message);
    /* Lowest level that would be written; lets a plugin skip building messages nobody reads. */
    herd_log_level (*log_level)(void* ctx);

    /* Wall clock, nanoseconds since the Unix epoch. */
    int64_t (*now_unix_ns)(void* ctx);
    /* Monotonic clock, nanoseconds from an arbitrary origin. */
    int64_t (*monotonic_ns)(void* ctx);

    /* Registers (or finds, when name, type and labels match) a family; NULL and err set otherwise.
     * The handle lives as long as the host process. */
    herd_metric_family* (*metric_family)(void* ctx, const herd_metric_desc* desc, herd_error_out* err);
    /* Finds or makes the series for these label values (count must equal the family's labels).
     * Keep the handle: updating through it is lock-free and does not allocate (hot-path safe). */
    herd_metric_series* (*metric_series)(void* ctx, herd_metric_family* family,
                                         const herd_str* label_values, size_t count);
    void (*metric_add)(void* ctx, herd_metric_series* series, double delta); /* counters and gauges */
    void (*metric_set)(void* ctx, herd_metric_series* series, double value); /* gauges only */
} herd_host_api;

/* ------------------------------------------------------------------------------------------------
 * Kinds and factories
 * ---------------------------------------------------------------------------------------------- */

typedef int32_t herd_kind;
#define HERD_KIND_KV 1
#define HERD_KIND_DISCOVERY 2
#define HERD_KIND_SELECTOR 3
#define HERD_KIND_AFFINITY 4

/* Everything create() needs. Valid only during create(); copy what you keep. */
typedef struct herd_create_args {
    herd_struct_header header;
    const herd_host_api* host;    /* lives as long as the instance; logs as "plugin/instance" */
    herd_str instance_name;       /* unique among the host's instances of this kind */
    herd_str config_json;         /* the instance's TOML table as a JSON object */
    herd_str data_dir;            /* a directory the instance may write into (exists) */
    herd_str config_dir;          /* directory of the configuration file: base of relative paths */
} herd_create_args;

/* --- kv ---------------------------------------------------------------------------------------- */

/* Expected-revision values for put/del: CAS semantics in one integer. */
#define HERD_KV_EXPECT_ANY ((int64_t)-1)   /* unconditional */
#define HERD_KV_EXPECT_ABSENT ((int64_t)0) /* only if the key does not exist */
/* any value > 0: only if the key's mod_revision equals it */

typedef struct herd_kv_entry {
    herd_struct_header header;
    herd_str key;
    herd_str value;
    int64_t create_revision;
    int64_t mod_revision; /* etcd mod_revision, Consul ModifyIndex: strictly increasing per store */
    int64_t lease;        /* 0 when the key is not ephemeral */
} herd_kv_entry;

/* Receives entries from get/list. Called on the caller's thread, before get/list returns. */
typedef struct herd_kv_entry_sink {
    herd_struct_header header;
    void* ctx;
    void (*entry)(void* ctx, const herd_kv_entry* entry);
} herd_kv_entry_sink;

typedef int32_t herd_kv_event_type;
#define HERD_KV_EVENT_PUT 0
#define HERD_KV_EVENT_DELETE 1

typedef struct herd_kv_event {
    herd_struct_header header;
    herd_kv_event_type type;
    const herd_kv_entry* entry; /* for deletes: key and mod_revision (the deleting revision) */
} herd_kv_event;

/*
 * Receives a watch's events, from a plugin thread, one call at a time, in revision order.
 * events:   changes since the last call, no gap, no duplicate.
 * reset:    the watch could not resume (compaction, a store that lost history): the subscriber must
 *           relist; events continue after `revision`.
 * error:    the watch is degraded (server down); it keeps retrying. Called again on each failure.
 */
typedef struct herd_kv_watch_sink {
    herd_struct_header header;
    void* ctx;
    void (*events)(void* ctx, const herd_kv_event* const* events, size_t count);
    void (*reset)(void* ctx, int64_t revision);
    void (*error)(void* ctx, herd_status status, herd_str message);
} herd_kv_watch_sink;

typedef struct herd_kv_watch herd_kv_watch; /* opaque, plugin-owned */

/* KV calls may block (network, disk) up to the instance's timeout; the host never makes them from
 * I/O threads. All are thread-safe on one instance. */
typedef struct herd_kv_ops {
    herd_struct_header header;
    herd_status (*get)(void* instance, herd_str key, const herd_kv_entry_sink* sink,
                       herd_error_out* err); /* HERD_ERR_NOT_FOUND when absent */
    /* Every key with this prefix in key order; *out_revision is the store revision of the listing,
     * the point a watch should start after. */
    herd_status (*list)(void* instance, herd_str prefix, const herd_kv_entry_sink* sink,
                        int64_t* out_revision, herd_error_out* err);
    /* expected: HERD_KV_EXPECT_ANY, _ABSENT or a mod_revision; lease 0 or from lease_grant.
     * HERD_ERR_CONFLICT when the expectation failed; *out_revision = the write's revision. */
    herd_status (*put)(void* instance, herd_str key, herd_str value, int64_t expected,
                       int64_t lease, int64_t* out_revision, herd_error_out* err);
    herd_status (*del)(void* instance, herd_str key, int64_t expected, int64_t* out_revision,
                       herd_error_out* err);
    /* Delivers every change to keys under prefix with revision > from_revision. */
    herd_status (*watch)(void* instance, herd_str prefix, int64_t from_revision,
                         const herd_kv_watch_sink* sink, herd_kv_watch** out_watch,
                         herd_error_out* err);
    /* Blocks until the sink will not be called again. Never call it from inside the sink. */
    void (*unwatch)(void* instance, herd_kv_watch* watch);
    /* Ephemeral keys. NULL when the backend has none. A lease expires ttl_ms after its last
     * keepalive; its keys vanish with it. */
    herd_status (*lease_grant)(void* instance, int64_t ttl_ms, int64_t* out_lease, herd_error_out* err);
    herd_status (*lease_keepalive)(void* instance, int64_t lease, herd_error_out* err);
    herd_status (*lease_revoke)(void* instance, int64_t lease, herd_error_out* err);
} herd_kv_ops;

/* --- discovery --------------------------------------------------------------------------------- */

/*
 * Receives target groups, from any plugin thread, one call at a time.
 * update: a JSON array of Prometheus target groups,
 *         [{"source": "...", "targets": [{"__address__": "h:p", ...}], "labels": {...}}, ...].
 *         Each group replaces the previous group of its source; a group with no targets means the
 *         source vanished. Groups of other sources are unchanged.
 * error:  the provider cannot refresh (the last good groups stay in effect); cleared by the next
 *         update or by `healthy`.
 * healthy: the provider refreshed successfully and nothing changed.
 */
typedef struct herd_discovery_sink {
    herd_struct_header header;
    void* ctx;
    void (*update)(void* ctx, herd_str groups_json);
    void (*error)(void* ctx, herd_str message);
    void (*healthy)(void* ctx);
} herd_discovery_sink;

typedef struct herd_discovery_ops {
    herd_struct_header header;
    /* Starts producing groups; returns quickly (work happens on the plugin's own threads).
     * The sink lives until stop() returns. Called once, from a host worker thread. */
    herd_status (*start)(void* instance, const herd_discovery_sink* sink, herd_error_out* err);
    /* Blocks until the plugin's threads have stopped calling the sink. */
    void (*stop)(void* instance);
} herd_discovery_ops;

/* --- selector and affinity: the proxy's hot path ----------------------------------------------- */

/* A backend as the proxy knows it. id is stable for the backend's life ("http://10.0.0.1:9090"). */
typedef struct herd_backend {
    herd_struct_header header;
    herd_str id;
    herd_str address; /* host:port */
    herd_str labels_json; /* its discovery labels as a JSON object */
} herd_backend;

/* Backend statistics a strategy may ask for (bit flags). */
#define HERD_STAT_READY (1u << 0)             /* GET /-/ready returned 200 */
#define HERD_STAT_START_TIME (1u << 1)        /* process_start_time_seconds */
#define HERD_STAT_HEAD_SAMPLES (1u << 2)      /* prometheus_tsdb_head_samples_appended_total */
#define HERD_STAT_STORAGE_BYTES (1u << 3)     /* prometheus_tsdb_storage_blocks_bytes */
#define HERD_STAT_LOWEST_TIMESTAMP (1u << 4)  /* prometheus_tsdb_lowest_timestamp_seconds */

typedef struct herd_backend_stats {
    herd_struct_header header;
    const herd_backend* backend;
    uint32_t present;         /* HERD_STAT_* bits that were gathered successfully */
    int32_t ready;
    double start_time_s;
    double head_samples;
    double storage_bytes;
    double lowest_timestamp_s;
    int64_t recent_failures;  /* request failures since the last selection */
} herd_backend_stats;

/* What the hot path knows of a request. */
typedef struct herd_request {
    herd_struct_header header;
    herd_str method;
    herd_str target;       /* path and query as received */
    herd_str peer_address; /* the TCP peer's IP, no port */
    const herd_header* headers;
    size_t header_count;
} herd_request;

typedef struct herd_selector_ops {
    herd_struct_header header;
    /* HERD_STAT_* bits this strategy reads; the host gathers only those. Any thread. */
    uint32_t (*needs)(void* instance);
    /* Decides which backends are eligible. Writes eligible[i] (0/1) and score[i] (the comparison
     * value shown on /status; NaN when meaningless). Called from a host worker thread on the
     * selection interval and after a failure, never concurrently with itself. */
    herd_status (*select)(void* instance, const herd_backend_stats* const* backends, size_t count,
                          uint8_t* eligible, double* score, herd_error_out* err);
    /* Hot path: chooses one of the eligible backends for a request; returns its index (< count).
     * count is >= 1. */
    size_t (*pick)(void* instance, const herd_request* request, const herd_backend* const* eligible,
                   size_t count);
} herd_selector_ops;

/* Lets an affinity module add response headers (e.g. Set-Cookie). */
typedef struct herd_header_sink {
    herd_struct_header header;
    void* ctx;
    void (*add)(void* ctx, herd_str name, herd_str value);
} herd_header_sink;

#define HERD_AFFINITY_NONE ((int64_t)-1)

typedef struct herd_affinity_ops {
    herd_struct_header header;
    /* Hot path: the eligible backend this request is bound to, as an index, or HERD_AFFINITY_NONE. */
    int64_t (*lookup)(void* instance, const herd_request* request,
                      const herd_backend* const* eligible, size_t count);
    /* Hot path: records that the request was served by `chosen`; may add response headers. */
    void (*remember)(void* instance, const herd_request* request, const herd_backend* chosen,
                     const herd_header_sink* response_headers);
} herd_affinity_ops;

/* --- factories and the plugin descriptor ------------------------------------------------------- */

/*
 * One creatable type. Exactly one of the ops pointers matches `kind`; the others are NULL.
 * create: parses config_json, validates it, and makes an instance. It must not start work
 *         (threads, connections that outlive it): start/first use does that. `herd check` and
 *         reload pre-flights call it and destroy the result. Called from a host worker thread.
 * destroy: frees an instance; for discovery, stop() has returned before.
 */
typedef struct herd_factory {
    herd_struct_header header;
    herd_kind kind;
    const char* name;        /* "cookie", "single-most-data", "sd_file" */
    const char* description; /* one line, for `herd plugins` */
    herd_status (*create)(const herd_create_args* args, void** out_instance, herd_error_out* err);
    void (*destroy)(void* instance);
    const herd_kv_ops* kv;
    const herd_discovery_ops* discovery;
    const herd_selector_ops* selector;
    const herd_affinity_ops* affinity;
} herd_factory;

typedef struct herd_plugin_descriptor {
    herd_struct_header header; /* abi_major/abi_minor: the ABI the plugin was built against */
    const char* name;          /* the plugin's name; unique among loaded plugins */
    const char* version;       /* the plugin's own version, e.g. "1.2.0" */
    const char* description;
    const herd_factory* const* factories;
    size_t factory_count;
} herd_plugin_descriptor;

/*
 * The entry point. The host calls it once per library, right after loading, from the main thread.
 * `host` lives as long as the library is loaded (it logs under the plugin's name).
 * Returns a descriptor with static storage duration, or NULL when the plugin cannot run with this
 * host (it should log why first). Must not throw, block or start threads.
 * Its signature and the position of the header at the start of both structs never change across
 * majors: that is what lets a host refuse a plugin of another major with a clear message.
 */
typedef const herd_plugin_descriptor* (*herd_plugin_entry_fn)(const herd_host_api* host);

#ifdef __cplusplus
}
#endif

#endif /* HERD_PLUGIN_API_H */
