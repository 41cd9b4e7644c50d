#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Which part of writeback a kernel function belongs to, for the bench's
profile table (bench.py, RNETFS_BENCH_PROFILE=1).

group(symbol, module) -> group name. The symbol is demangled first (Rust
v0 `_R...` names, with demangle()); its generic arguments are dropped
(simplify()), so that `<kernel::sync::lock::Guard<rnetfs::request::Inner,
..> as Drop>::drop` reads `<kernel::sync::lock::Guard as
core::ops::drop::Drop>::drop`. The first group in GROUPS with a pattern that
matches (re.search) the simplified name wins; a Rust name no pattern takes
is tried once more with its generic arguments (the rnetfs type an iterator
adapter was instantiated for says whose it is); what nothing takes is
"other". The samples perf attributes to an interrupted instruction are
charged to the function that was running; under QEMU's TCG there is no PMU
NMI, so a sample taken while interrupts were off lands where they are
turned back on (spin_unlock_irqrestore and the like: "locks").
"""
import re
import shutil
import subprocess

GROUPS = [
    # Not CPU spent on writeback: the idle loop, the profiler itself (its
    # process and the sample handling), user space, a server in the guest.
    # Shown, never counted.
    ("idle", [
        r"^(default_idle|default_idle_call|arch_cpu_idle|do_idle|cpu_idle_poll|poll_idle|"
        r"cpuidle_\w+|acpi_idle\w*|intel_idle\w*|mwait_idle\w*|native_safe_halt|"
        r"pv_native_safe_halt|halt|cpu_startup_entry|amd_e400_idle|__cpuidle\w*)$"]),
    ("profiler", [r"^\[perf\]$", r"^(__)?perf_\w+$"]),
    ("user", [r"^\[user\]$"]),
    # The server afs or cifs writes to, when it runs in the guest (OpenAFS,
    # Samba; guest/profile.py tells them by their command name).
    ("in-guest server", [r"^\[server\]$"]),
    # Waking and switching to another thread: queueing work (the uploads
    # handed to rnetfs's workers, the collector's work item), wake-ups,
    # the scheduler, and the IPIs a wake-up on the other vCPU sends; also
    # waiting for a completion or a condition variable.
    ("worker hand-off", [
        r"kernel::workqueue", r"rnetfs::submit::(queue|wait_for_later)$",
        r"<rnetfs::submit::UploadSlot as ", r"kernel::sync::condvar", r"wake_collector",
        r"^(queue_work_on|__queue_work|insert_work|kick_pool|wq_\w+|process_one_work|"
        r"worker_thread|worker_enter_idle|worker_leave_idle|wake_up_worker|"
        r"wake_up_process|try_to_wake_up|ttwu_\w+|select_task_rq\w*|select_idle_\w+|"
        r"enqueue_task\w*|dequeue_task\w*|enqueue_entity|dequeue_entity|dequeue_entities|"
        r"activate_task|deactivate_task|wakeup_preempt\w*|check_preempt\w*|resched_curr\w*|"
        r"__schedule|schedule|schedule_idle|schedule_timeout|io_schedule\w*|"
        r"pick_next_task\w*|pick_task\w*|put_prev_task\w*|set_next_task\w*|"
        r"set_next_entity|put_prev_entity|update_curr\w*|update_load_avg|"
        r"__update_load_avg\w*|update_cfs_group|reweight_entity|update_rq_clock\w*|"
        r"finish_task_switch\w*|__switch_to\w*|switch_mm\w*|switch_fpu\w*|"
        r"native_send_call_func_single_ipi|native_smp_send_reschedule|"
        r"\w*send_IPI\w*|send_call_function_single_ipi|smp_call_function\w*|"
        r"__?flush_smp_call_function_queue|sched_ttwu_pending|"
        r"__?sysvec_call_function_single|__?sysvec_reschedule_ipi|"
        r"complete|complete_all|wait_for_completion\w*|__wait_for_common|"
        r"__wake_up\w*|wake_up|wake_up_bit|wake_up_var|__wake_up_bit|autoremove_wake_function|"
        r"default_wake_function|woken_wake_function|wake_bit_function|var_wake_function|"
        r"prepare_to_wait\w*|finish_wait|wait_woken|wake_q_\w+|wake_up_q|"
        r"psi_\w+|sched_\w+|__enqueue_entity|__dequeue_entity|avg_vruntime\w*|"
        r"place_entity|update_min_vruntime|pick_eevdf|__pick_eevdf|task_tick_fair|"
        r"raw_spin_rq_lock_nested|_raw_spin_rq_lock\w*)$"]),
    # Spinlocks, mutexes, rwsems: taking, releasing, spinning.
    ("locks", [
        r"kernel::sync::lock", r"kernel::sync::(SpinLock|Mutex)",
        r"^(_raw_spin_\w+|native_queued_spin_lock_slowpath|queued_spin_lock_slowpath|"
        r"__pv_queued_spin_\w+|pv_queued_spin_\w+|mutex_\w+|__mutex_\w+|osq_\w+|"
        r"down_\w+|up_read|up_write|rwsem_\w+|__rwsem_\w+|_raw_read_\w+|_raw_write_\w+|"
        r"queued_read_lock\w*|queued_write_lock\w*|lock_acquire|lock_release|"
        r"spin_\w+|raw_spin_\w+)$"]),
    # Allocation and freeing: slab, pages, Rust Box/Vec growth.
    ("alloc", [
        r"kernel::alloc::allocator", r"kernel::alloc::kvec::Vec::(with_capacity|reserve|push|drop)$",
        r"kernel::alloc::kbox::Box::(new\w*|try_new\w*|drop)$",
        r"^(kmem_cache_alloc\w*|kmem_cache_free|__kmem_cache_\w+|kmalloc\w*|__kmalloc\w*|"
        r"kfree|kvfree|krealloc\w*|kvmalloc\w*|___slab_alloc|__slab_free|slab_\w+|"
        r"new_slab|allocate_slab|mempool_\w+|__alloc_pages\w*|alloc_pages\w*|"
        r"get_page_from_freelist|free_unref\w*|free_pages\w*|__free_pages\w*|"
        r"rmqueue\w*|__rmqueue\w*|alloc_frozen_pages\w*|folio_alloc\w*|"
        r"__put_partials|put_cpu_partial|get_partial_node\w*|refill_obj_stock|"
        r"obj_cgroup_\w+|__?memcg_slab_\w+|mod_objcg_state|consume_obj_stock|"
        r"__refill_stock|drain_obj_stock|__folio_put|free_pcppages_bulk|alloc_from_pcs\w*|"
        r"__pcs_\w+|free_to_pcs\w*)$"]),
    # A folio leaving writeback: clearing the flag, waking its waiters,
    # the writeback accounting (per-wb proportions, memcg and node stats).
    ("folio end", [
        r"end_folio", r"kernel::folio::WritebackFolio.*(end|Drop)", r"end_unwritten",
        r"^(folio_end_writeback\w*|__folio_end_writeback|folio_wake_bit|"
        r"folio_waitqueue|wake_page_function|__wb_writeout_add|wb_writeout_inc|"
        r"__?fprop_\w+|sb_clear_inode_writeback|folio_end_dropbehind\w*|"
        r"__lruvec_stat_mod_folio|lruvec_stat_mod_folio|__mod_lruvec_state|"
        r"__mod_memcg_lruvec_state|__mod_node_page_state|mod_node_page_state|"
        r"__mod_zone_page_state|mod_zone_page_state|__inc_node_page_state|"
        r"__dec_node_page_state|percpu_counter_add_batch|folio_memcg_unlock|"
        r"__folio_memcg_unlock)$"]),
    # Collection: subrequests' termination, the collector's walk of the
    # streams, folio release decisions, retry, freeing the subrequests and
    # the request.
    ("collection", [
        r"rnetfs::(collect|complete|retry)::", r"rnetfs::engine::(state|collect)::",
        r"subreq_terminated", r"TerminatedSubrequest", r"rnetfs::request::RequestState::run$",
        r"^(netfs_write_collection_worker|netfs_write_collection|"
        r"netfs_collect_write_results|netfs_writeback_unlock_folios|"
        r"netfs_write_subrequest_terminated|netfs_subreq_clear_in_progress|"
        r"netfs_wake_collector|netfs_wake_rreq_flag|netfs_put_subrequest|"
        r"netfs_free_subrequest|netfs_put_request|netfs_free_request|"
        r"netfs_clear_subrequests|netfs_retry_writes|netfs_retry_write_stream|"
        r"netfs_reissue_write|netfs_collect_\w+|netfs_free_folioq_buffer|"
        r"netfs_folioq_free|netfs_write_subrequest_terminated_\w+|"
        r"netfs_wait_for_\w+|netfs_wake_write_collector)$"]),
    # Tiling: cutting the dirty data into subrequests (where one ends and
    # the next starts, the iterators over the folio queue).
    ("tiling", [
        r"rnetfs::engine::(tile|feed|spans?|ring)::",
        r"^(netfs_advance_write|netfs_limit_\w+|iov_iter_folio_queue|"
        r"iov_iter_advance|iov_iter_truncate|netfs_write_subrequest_ready)$"]),
    # Issue: the walk over the dirty folios (writeback_iter, the page
    # cache's xarray), starting writeback on each, allocating, preparing
    # and sending subrequests, the fsync path down to writepages.
    ("issue", [
        r"rnetfs::(issue|submit)::", r"writepages", r"kernel::writeback::",
        r"kernel::folio::", r"kernel::netfs::",
        r"^(netfs_writepages|netfs_write_folio|netfs_prepare_write|netfs_issue_write|"
        r"netfs_do_issue_write|netfs_create_write_req|netfs_alloc_request|"
        r"netfs_alloc_subrequest|netfs_end_issue_write|netfs_buffer_append_folio|"
        r"rolling_buffer_\w+|netfs_folio_\w+|netfs_get_request|netfs_get_subrequest|"
        r"netfs_issue_stream|netfs_write_begin|netfs_start_io_\w+|netfs_end_io_\w+|"
        r"writeback_iter|writeback_get_folio|writeback_finish|do_writepages|"
        r"filemap_get_folios\w*|find_get_entr\w+|__filemap_get_folio|filemap_get_entry|"
        r"xas_\w+|xa_\w+|__xa_\w+|folio_clear_dirty_for_io|__folio_start_writeback|"
        r"folio_prepare_writeback|folio_mkclean|folio_account_cleaned|folio_lock|"
        r"__folio_lock|folio_unlock|folio_wait_writeback|folio_wait_bit\w*|"
        r"__filemap_fdatawrite_range|filemap_fdatawrite\w*|file_write_and_wait_range|"
        r"filemap_write_and_wait_range|__filemap_fdatawait_range|filemap_fdatawait\w*|"
        r"vfs_fsync_range|do_fsync|__x64_sys_fsync|__do_sys_fsync|wbc_\w+|"
        r"folio_redirty_for_writepage|tag_pages_for_writeback|inode_to_bdi|"
        r"sb_mark_inode_writeback|__folio_mark_dirty|filemap_dirty_folio)$"]),
    # The filesystem and its transport: 9p's client and virtio, afs and
    # rxrpc, cifs, the network stack under them.
    ("9p/transport", [
        r"^(p9_\w+|v9fs_\w+|virtio\w*|vring_\w+|virtqueue_\w+|vp_\w+|vm_notify|"
        r"pack_sg_list\w*|sg_\w+|__sg_\w+|iov_iter_get_pages\w*|iov_iter_extract\w*|"
        r"iov_iter_npages|iter_folioq_get_pages|iter_xarray_get_pages|afs_\w+|rxrpc_\w+|udp\w*|__udp\w*|ip_\w+|__ip_\w+|ip6_\w+|"
        r"net_\w+|__netif_\w+|netif_\w+|napi_\w+|__napi_\w+|__dev_queue_xmit|"
        r"dev_hard_start_xmit|loopback_xmit|process_backlog|enqueue_to_backlog|netif_rx\w*|skb_\w+|__skb_\w+|"
        r"kfree_skb\w*|__kfree_skb|sock_\w+|sk_\w+|cifs_\w+|smb\w*|SMB2_\w+|"
        r"tcp_\w+|__tcp_\w+|inet_\w+|__inet_\w+|ipv6_\w+|crypto_\w+)$"]),
    # The local cache: cachefiles and fscache, and the ext4 and block
    # layer under the cache files.
    ("cache", [
        r"^(cachefiles_\w+|__?fscache_\w+|netfs_cache_\w+|ext4_\w+|__ext4_\w+|jbd2_\w+|"
        r"__jbd2_\w+|iomap_\w+|__iomap_\w+|blk_\w+|__blk_\w+|bio_\w+|__bio_\w+|"
        r"submit_bio\w*|__submit_bio\w*|virtblk_\w+|dio_\w+)$"]),
    # Copying and touching data: memcpy and friends, user copies, page
    # clearing, checksums.
    ("copy", [
        r"^(memcpy\w*|__memcpy\w*|memmove|__memmove|memcpy_orig|copy_page|copy_mc_\w+|"
        r"rep_movs_alternative|copy_user_\w+|_copy_from_iter\w*|_copy_to_iter|"
        r"copy_page_from_iter\w*|copy_page_to_iter\w*|copy_folio_from_iter\w*|"
        r"__copy_from_user\w*|raw_copy_\w+|memset\w*|__memset|clear_page\w*|"
        r"csum_\w+|crc32\w*|__crc32\w*|sha256\w*|__pi_mem\w+)$"]),
]
# Groups that are no CPU spent by writeback (shown, not counted).
EXCLUDED = ("idle", "profiler", "user", "in-guest server")
# The order of the profile table (GROUPS is the order the rules are tried).
ORDER = ["issue", "tiling", "collection", "folio end", "worker hand-off", "locks", "alloc",
         "9p/transport", "cache", "copy", "other"]
assert sorted(ORDER) == sorted([g for g, _ in GROUPS if g not in EXCLUDED] + ["other"])
_COMPILED = [(g, [re.compile(p) for p in ps]) for g, ps in GROUPS]


def simplify(name):
    """NAME without generic arguments (`Foo<T>` -> `Foo`, `f::<T>` -> `f`),
    keeping qualified paths (`<T as Trait>::f`), C suffixes
    (`.isra.0`, `.cold`) and Rust legacy hashes dropped."""
    name = re.sub(r"\.(isra|constprop|part|cold|llvm)\b[.\d]*", "", name)
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    name = re.sub(r"\[[0-9a-f]+\]", "", name)  # c++filt's crate disambiguators
    out, i, n = [], 0, len(name)
    while i < n:
        c = name[i]
        if c == "<" and i > 0 and (name[i - 1].isalnum() or name[i - 1] in "_]" or name[i - 2:i] == "::"):
            if name[i - 2:i] == "::":
                del out[-2:]
            depth = 0
            while i < n:
                if name[i] == "<":
                    depth += 1
                elif name[i] == ">" and name[i - 1] != "-":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _fallback(sym):
    """A v0 symbol reduced to its identifiers, when no demangler is
    installed: `_RNvNtCs1_6rnetfs5issue11write_folio` -> rnetfs::issue::write_folio."""
    ids, i = [], 2
    while i < len(sym):
        m = re.compile(r"(\d+)_?").match(sym, i)
        if m and (i == 0 or not sym[i - 1].isdigit()):
            ln = int(m.group(1))
            word = sym[m.end():m.end() + ln]
            if ln and len(word) == ln and re.match(r"[A-Za-z_]\w*$", word):
                ids.append(word)
                i = m.end() + ln
                continue
        i += 1
    return "::".join(ids) or sym


def demangle(symbols):
    """{mangled: demangled} for SYMBOLS, through llvm-cxxfilt or c++filt
    (both know Rust's v0 scheme) in one call; the identifiers only, if
    neither is installed."""
    rust = sorted({s for s in symbols if s.startswith("_R")})
    out = {s: s for s in symbols}
    tool = shutil.which("llvm-cxxfilt") or shutil.which("llvm-cxxfilt-19") or shutil.which("c++filt")
    done = []
    if tool and rust:
        try:
            r = subprocess.run([tool], input="\n".join(rust) + "\n", capture_output=True,
                               text=True, timeout=60)
            done = r.stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            done = []
    if len(done) != len(rust):
        done = [_fallback(s) for s in rust]
    for s, d in zip(rust, done):
        out[s] = d if d != s else _fallback(s)
    return out


def owner(simple):
    """A simplified Rust name with its qualified path resolved to the
    implementing type: `<X as Trait>::f` and `<X>::f` -> `X::f` (what the
    function is a method of says more than the trait it implements)."""
    m = re.match(r"^<+([^<>]*?)(?: as [^<>]*)?>(::.*)?$", simple)
    if m:
        return m.group(1).lstrip("&").replace("mut ", "") + (m.group(2) or "")
    return simple


def group(name, module="vmlinux"):
    """The group of a demangled NAME (see GROUPS): tried on its owner,
    then on the simplified name (with the trait), then on the full name."""
    # The kernel crate's C helpers are the C functions they wrap.
    if name.startswith("rust_helper_"):
        name = name[len("rust_helper_"):]
    simple = simplify(name)
    own = owner(simple)
    cands = [own, simple]
    # Generic code of core (iterator adapters, drop glue) is whose its type
    # arguments say; the allocator parameter of every Box and Vec says
    # nothing.
    if not own.startswith(("kernel::", "rnetfs::")):
        cands.append(re.sub(r"kernel::alloc::allocator::\w+", "", name))
    for cand in dict.fromkeys(cands):
        for g, pats in _COMPILED:
            if any(p.search(cand) for p in pats):
                return g
    return "other"
