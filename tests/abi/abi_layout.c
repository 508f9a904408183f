/* Compiled as C: the ABI header must be valid C, and its layout (LP64: x86-64, aarch64) is fixed
 * within a major. A failure here means a change broke plugins already built: append fields at
 * the end of a struct (and bump HERD_ABI_MINOR) instead. */
#include <herd/plugin_api.h>

#include <assert.h>
#include <stddef.h>
#include <stdio.h>

#define SIZE(t, n) _Static_assert(sizeof(t) == (n), "sizeof(" #t ") changed")
#define AT(t, f, n) _Static_assert(offsetof(t, f) == (n), "offsetof(" #t ", " #f ") changed")

_Static_assert(sizeof(void*) == 8, "these checks are written for LP64 targets");

SIZE(herd_str, 16);
SIZE(herd_header, 32);
SIZE(herd_struct_header, 8);
AT(herd_struct_header, abi_major, 4);
AT(herd_struct_header, abi_minor, 6);

SIZE(herd_error_out, 32);
AT(herd_error_out, set, 16);
AT(herd_error_out, set_at, 24);

SIZE(herd_metric_desc, 64);
AT(herd_metric_desc, type, 40);
AT(herd_metric_desc, label_count, 56);

SIZE(herd_host_api, 80);
AT(herd_host_api, log, 16);
AT(herd_host_api, now_unix_ns, 32);
AT(herd_host_api, metric_family, 48);
AT(herd_host_api, metric_set, 72);

SIZE(herd_create_args, 80);
AT(herd_create_args, host, 8);
AT(herd_create_args, instance_name, 16);
AT(herd_create_args, config_json, 32);
AT(herd_create_args, data_dir, 48);
AT(herd_create_args, config_dir, 64); /* ABI 1.1 */

SIZE(herd_kv_entry, 64);
AT(herd_kv_entry, mod_revision, 48);
SIZE(herd_kv_entry_sink, 24);
SIZE(herd_kv_event, 24);
SIZE(herd_kv_watch_sink, 40);
SIZE(herd_kv_ops, 80);
AT(herd_kv_ops, watch, 40);
AT(herd_kv_ops, lease_revoke, 72);

SIZE(herd_discovery_sink, 40);
SIZE(herd_discovery_ops, 24);

SIZE(herd_backend, 56);
SIZE(herd_backend_stats, 64);
AT(herd_backend_stats, present, 16);
AT(herd_backend_stats, head_samples, 32);
AT(herd_backend_stats, recent_failures, 56);
SIZE(herd_request, 72);
AT(herd_request, headers, 56);
SIZE(herd_selector_ops, 32);
SIZE(herd_header_sink, 24);
SIZE(herd_affinity_ops, 24);

/* ABI 1.2: the sink kind. */
SIZE(herd_sink_item, 56);
AT(herd_sink_item, name, 8);
AT(herd_sink_item, media_type, 24);
AT(herd_sink_item, body, 40);
SIZE(herd_sink_report, 24);
SIZE(herd_string_sink, 24);
SIZE(herd_sink_item_sink, 24);
SIZE(herd_sink_ops, 32);
AT(herd_sink_ops, apply, 8);
AT(herd_sink_ops, load, 16);
AT(herd_sink_ops, held, 24);

SIZE(herd_factory, 88);
AT(herd_factory, kind, 8);
AT(herd_factory, create, 32);
AT(herd_factory, kv, 48);
AT(herd_factory, affinity, 72);
AT(herd_factory, sink, 80); /* ABI 1.2: appended; 1.0/1.1 factories are 80 bytes and end before it */
SIZE(herd_plugin_descriptor, 48);
AT(herd_plugin_descriptor, factories, 32);

int main(void) {
    /* HERD_HAS_FIELD: a 1.0 plugin's create args would end before config_dir. */
    herd_create_args a;
    a.header.struct_size = (uint32_t)offsetof(herd_create_args, config_dir);
    if (HERD_HAS_FIELD(&a, herd_create_args, config_dir)) return 1;
    a.header.struct_size = sizeof(herd_create_args);
    if (!HERD_HAS_FIELD(&a, herd_create_args, config_dir)) return 1;
    /* HERD_HAS_FIELD: a 1.1 plugin's factory ends before sink. */
    herd_factory f;
    f.header.struct_size = 80;
    if (HERD_HAS_FIELD(&f, herd_factory, sink)) return 1;
    f.header.struct_size = sizeof(herd_factory);
    if (!HERD_HAS_FIELD(&f, herd_factory, sink)) return 1;
    puts("ABI layout as recorded");
    return 0;
}
