"""PIMSYN's step-by-step IR-DAG scheduler (MODEL.md §8.1-§8.7), compiled with numba.

Nodes are (layer, block, op, bit) tuples numbered arithmetically::

    node = base[l] + c * stride[l] + op_off[l, k] + b

with ``stride[l]`` the nodes of one block (bit-level ops count B each). Child lists are
implicit (inter-op, inter-block, inter-bit) except the inter-layer edges, which come as
CSR over provider blocks (:mod:`fitness.depcb`). A bubble is encoded as ``-(x + 1)``
where x is the node it delays.

What must match PIMSYN exactly, and how it is kept:

* The order of A (nodes starting at a step): waiting nodes first, in the order they
  entered the waiting list (a FIFO bucket per start step gives that order), then the
  children of the previous step's nodes in that step's order and child order, then the
  bubbles. This order drives the running-list order of the arbitrations and the order of
  buffer events.
* The running list is only read by the two arbitrations. ADC ops last one cycle, so the
  ADC candidates are exactly A's ADC nodes; for the NoC an ordered list of running
  TRAN/MRG entries is kept with their start steps.
"""

from __future__ import annotations

import numba
import numpy as np

from fitness.oplist import ADC, BIT_LEVEL, LD, MRG, ST, TRAN

SCHED_OK = 0
SCHED_ADC_ARBITRATION = 1  # Q23: an already-removed ADC node is picked again
SCHED_NOC_ARBITRATION = 2  # a running (not starting) NoC node would have to yield
SCHED_REASONS = {
    SCHED_ADC_ARBITRATION: "adc_arbitration_conflict (Q23)",
    SCHED_NOC_ARBITRATION: "noc_arbitration_conflict",
}

_BIT_LEVEL = BIT_LEVEL.copy()


@numba.njit(cache=True)
def _layer_of(base, v):
    lo, hi = 0, base.shape[0] - 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if base[mid] <= v:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(cache=True, inline="always")
def _release(w, t, step, pending, te, act, n_act, nxt, head, tail, n_buckets, n_waiting):
    """One dependency of node w met at step t. When it was w's last, w is ready: now (act)
    or in the bucket of its step (a linked list per step modulo n_buckets).
    Returns the updated (n_act, n_waiting)."""
    pending[w] -= 1
    if t > te[w]:
        te[w] = t
    if pending[w] == 0:
        if te[w] == step:
            act[n_act] = w
            n_act += 1
        else:
            bw = te[w] % n_buckets
            nxt[w] = -1
            if head[bw] == -1:
                head[bw] = w
            else:
                nxt[tail[bw]] = w
            tail[bw] = w
            n_waiting += 1
    return n_act, n_waiting


@numba.njit(cache=True)
def op_tables(op_code, n_ops, k_tran, k_ld, k_st, k_mrg, bits, bit_level):
    """Per (layer, op): cycles kappa, repetitions rep, inter-op delay dop and inter-block delay dcb (§8.2)."""
    n_layer, kmax = op_code.shape
    kappa = np.ones((n_layer, kmax), dtype=np.int64)
    rep = np.ones((n_layer, kmax), dtype=np.int64)
    for l in range(n_layer):
        for k in range(n_ops[l]):
            op = op_code[l, k]
            if op == TRAN:
                kappa[l, k] = k_tran[l]
            elif op == LD:
                kappa[l, k] = k_ld[l]
            elif op == ST:
                kappa[l, k] = k_st[l]
            elif op == MRG:
                kappa[l, k] = k_mrg[l]
            if bit_level[op]:
                rep[l, k] = bits
    dop = np.zeros((n_layer, kmax), dtype=np.int64)
    dcb = np.zeros((n_layer, kmax), dtype=np.int64)
    for l in range(n_layer):
        last = n_ops[l] - 1
        for k in range(n_ops[l]):
            if k < last:
                nxt = op_code[l, k + 1]
                if bit_level[op_code[l, k]] and not bit_level[nxt]:
                    dop[l, k] = kappa[l, k] * rep[l, k]
                else:
                    dop[l, k] = kappa[l, k]
                dcb[l, k] = max(kappa[l, k] * rep[l, k], dop[l, k] + kappa[l, k + 1] * rep[l, k + 1] - 1)
            else:
                dop[l, k] = kappa[l, k]
                dcb[l, k] = kappa[l, k] * rep[l, k]
    return kappa, rep, dop, dcb


@numba.njit(cache=True)
def _edges_of_providers(prov_ptr, prov_idx):
    """CSR from each provider layer to its edges (positions q in the provider lists)."""
    n_layer = prov_ptr.shape[0] - 1
    ptr = np.zeros(n_layer + 1, dtype=np.int64)
    for q in range(prov_ptr[n_layer]):
        ptr[prov_idx[q] + 1] += 1
    for l in range(n_layer):
        ptr[l + 1] += ptr[l]
    fill = ptr[:n_layer].copy()
    idx = np.zeros(prov_ptr[n_layer], dtype=np.int64)
    for q in range(prov_ptr[n_layer]):
        idx[fill[prov_idx[q]]] = q
        fill[prov_idx[q]] += 1
    return ptr, idx


@numba.njit(cache=True)
def schedule(op_code, n_ops, n_blocks, bits, k_tran, k_ld, k_st, k_mrg,
             prov_ptr, prov_idx, c_out, dup,
             blk_off, ps_off, window_start, input_need, child_ptr, child_blk,
             adc_conflict, noc_conflict, bit_level, final_op=False, live_window=False):
    """Run the scheduler once.

    Model fixes (:mod:`fitness.fixes`): with ``final_op`` the steps run until the last op
    of every chain has done all its cycles (PIMSYN stops one step after the last start,
    Q22); with ``live_window`` a provider's live window starts at the least of the starts
    its consumers' latest LD/ST set (PIMSYN: whichever consumer came last, Q24).

    Returns (status, steps, buffer_elements, bubbles, start_step[node], base[L+1],
    op_off[L, Kmax+1], width[L, Kmax]); start_step holds each node's final start step.
    Bit chains (b > 0) are explicit nodes only for the ADC ops of layers in an ADC pair:
    elsewhere they can neither lose an arbitration nor touch a buffer, so a chain is
    just bit 0's start plus b (``width`` 1; the export rebuilds the bits).
    """
    n_layer, kmax = op_code.shape
    kappa, rep, dop, dcb = op_tables(op_code, n_ops, k_tran, k_ld, k_st, k_mrg, bits, bit_level)

    in_pair = np.zeros(n_layer, dtype=np.bool_)
    for a in range(n_layer):
        for b in range(n_layer):
            if adc_conflict[a, b]:
                in_pair[a] = True
    has_noc_pairs = False
    for a in range(noc_conflict.shape[0]):
        for b in range(noc_conflict.shape[1]):
            if noc_conflict[a, b]:
                has_noc_pairs = True

    # ---- node numbering -------------------------------------------------------------
    width = np.ones((n_layer, kmax), dtype=np.int64)
    op_off = np.zeros((n_layer, kmax + 1), dtype=np.int64)
    stride = np.zeros(n_layer, dtype=np.int64)
    base = np.zeros(n_layer + 1, dtype=np.int64)
    slot_off = np.zeros(n_layer + 1, dtype=np.int64)
    for l in range(n_layer):
        for k in range(n_ops[l]):
            if op_code[l, k] == ADC and in_pair[l]:
                width[l, k] = rep[l, k]
            op_off[l, k + 1] = op_off[l, k] + width[l, k]
        stride[l] = op_off[l, n_ops[l]]
        base[l + 1] = base[l] + n_blocks[l] * stride[l]
        slot_off[l + 1] = slot_off[l] + stride[l]
    slot_k = np.zeros(slot_off[n_layer], dtype=np.int64)
    slot_b = np.zeros(slot_off[n_layer], dtype=np.int64)
    for l in range(n_layer):
        for k in range(n_ops[l]):
            for b in range(width[l, k]):
                slot_k[slot_off[l] + op_off[l, k] + b] = k
                slot_b[slot_off[l] + op_off[l, k] + b] = b
    n_nodes = base[n_layer]
    # layer and block of every node: every node is decoded twice (released, then started),
    # and a table read is cheaper than a bisection over the layers plus an integer division
    node_l = np.empty(n_nodes, dtype=np.int32)
    node_c = np.empty(n_nodes, dtype=np.int32)
    for l in range(n_layer):
        v = base[l]
        for c in range(n_blocks[l]):
            for _ in range(stride[l]):
                node_l[v] = l
                node_c[v] = c
                v += 1

    # ---- parent counts ----------------------------------------------------------------
    pending = np.empty(n_nodes, dtype=np.int64)
    te = np.zeros(n_nodes, dtype=np.int64)
    nxt = np.empty(n_nodes, dtype=np.int64)
    n_noc_nodes = 0
    for l in range(n_layer):
        n_prov = prov_ptr[l + 1] - prov_ptr[l]
        for c in range(n_blocks[l]):
            v0 = base[l] + c * stride[l]
            for k in range(n_ops[l]):
                v = v0 + op_off[l, k]
                cnt = 0
                if k > 0:
                    cnt += 1
                else:
                    cnt += n_prov
                if c > 0:
                    cnt += 1
                pending[v] = cnt
                for b in range(1, width[l, k]):
                    pending[v + b] = 1
                if op_code[l, k] == TRAN or op_code[l, k] == MRG:
                    n_noc_nodes += 1

    max_delay = 1
    for l in range(n_layer):
        for k in range(n_ops[l]):
            max_delay = max(max_delay, dop[l, k], dcb[l, k], kappa[l, k])
    n_buckets = max_delay + 2
    head = np.full(n_buckets, -1, dtype=np.int64)
    tail = np.full(n_buckets, -1, dtype=np.int64)

    cap = 2 * n_nodes + 2
    fresh = np.empty(cap, dtype=np.int64)
    act = np.empty(cap, dtype=np.int64)
    n_fresh = 0
    for l in range(n_layer):
        if prov_ptr[l + 1] == prov_ptr[l] and n_blocks[l] > 0:
            fresh[n_fresh] = base[l]
            n_fresh += 1

    # Running TRAN/MRG entries, in running order.
    noc_cap = n_noc_nodes + 1
    noc_node = np.empty(noc_cap, dtype=np.int64)
    noc_start = np.empty(noc_cap, dtype=np.int64)
    noc_kappa = np.empty(noc_cap, dtype=np.int64)
    noc_key = np.empty(noc_cap, dtype=np.int64)
    noc_alive = np.empty(noc_cap, dtype=np.bool_)
    noc_gone = np.empty(noc_cap, dtype=np.bool_)
    n_noc = 0

    in_buf = np.zeros(n_layer, dtype=np.float64)
    out_buf = np.zeros(n_layer, dtype=np.int64)
    win_lo = np.zeros(n_layer, dtype=np.int64)
    win_hi = np.zeros(n_layer, dtype=np.int64)
    # live-window: the start each edge's consumer set last (0 before its first LD/ST), and
    # each provider's edges
    edge_lo = np.zeros(prov_ptr[n_layer], dtype=np.int64)
    pe_ptr, pe_idx = _edges_of_providers(prov_ptr, prov_idx)

    adc_pos = np.empty(n_layer * 4 + 8, dtype=np.int64)
    adc_layer = np.empty(n_layer * 4 + 8, dtype=np.int64)
    adc_bit = np.empty(n_layer * 4 + 8, dtype=np.int64)
    removed = np.zeros(cap, dtype=np.bool_)
    losers = np.empty(cap, dtype=np.int64)
    children = np.empty(3, dtype=np.int64)
    delays = np.empty(3, dtype=np.int64)

    step = 0
    n_waiting = 0
    bubbles = 0
    chain_last = -1  # last start step of the implicit bit chains
    busy_last = 0  # final-op: the last step at which any op still runs
    while n_fresh > 0 or n_waiting > 0:
        step += 1
        n_act = 0
        # 1. waiting nodes whose start step has come, in waiting-list order
        bkt = step % n_buckets
        v = head[bkt]
        while v != -1:
            act[n_act] = v
            n_act += 1
            n_waiting -= 1
            v = nxt[v]
        head[bkt] = -1
        tail[bkt] = -1
        # 2. release the children of the nodes that started at the previous step
        for i in range(n_fresh):
            u = fresh[i]
            if u < 0:
                x = -u - 1
                pending[x] -= 1
                if te[x] < step:
                    te[x] = step
                if pending[x] == 0:
                    act[n_act] = x
                    n_act += 1
                continue
            l = node_l[u]
            c = node_c[u]
            pos = u - base[l] - c * stride[l]
            k = slot_k[slot_off[l] + pos]
            b = slot_b[slot_off[l] + pos]
            t_u = te[u]
            if final_op:
                # an implicit chain (bit 0 standing for all its bits) runs rep x kappa steps
                span = rep[l, k] * kappa[l, k] if width[l, k] == 1 else kappa[l, k]
                if t_u + span - 1 > busy_last:
                    busy_last = t_u + span - 1
            n_child = 0
            if b == 0:
                if k < n_ops[l] - 1:
                    children[n_child] = u + width[l, k]
                    delays[n_child] = dop[l, k]
                    n_child += 1
                if c < n_blocks[l] - 1:
                    children[n_child] = u + stride[l]
                    delays[n_child] = dcb[l, k]
                    n_child += 1
                if width[l, k] == 1 and rep[l, k] > 1:
                    last = t_u + (rep[l, k] - 1) * kappa[l, k]
                    if last > chain_last:
                        chain_last = last
            if b < width[l, k] - 1:
                children[n_child] = u + 1
                delays[n_child] = kappa[l, k]
                n_child += 1
            for q in range(n_child):
                n_act, n_waiting = _release(children[q], t_u + delays[q], step, pending, te, act, n_act,
                                            nxt, head, tail, n_buckets, n_waiting)
            if b == 0 and k == n_ops[l] - 1:
                g = blk_off[l] + c
                t = t_u + kappa[l, k]
                for e in range(child_ptr[g], child_ptr[g + 1]):
                    gc = child_blk[e]
                    lc = _layer_of(blk_off, gc)
                    w = base[lc] + (gc - blk_off[lc]) * stride[lc]
                    n_act, n_waiting = _release(w, t, step, pending, te, act, n_act, nxt, head, tail, n_buckets,
                                                n_waiting)
        # 3. age the running NoC entries, then add this step's TRAN/MRG nodes
        if n_noc > 0:
            m = 0
            for i in range(n_noc):
                if noc_alive[i] and step - noc_start[i] < noc_kappa[i]:
                    noc_node[m] = noc_node[i]
                    noc_start[m] = noc_start[i]
                    noc_kappa[m] = noc_kappa[i]
                    noc_key[m] = noc_key[i]
                    noc_alive[m] = True
                    m += 1
            n_noc = m
        first_new_noc = n_noc
        # 4. buffer bookkeeping, in A's order; also collect ADC and NoC candidates
        n_adc = 0
        for i in range(n_act):
            w = act[i]
            removed[i] = False
            l = node_l[w]
            c = node_c[w]
            pos = w - base[l] - c * stride[l]
            k = slot_k[slot_off[l] + pos]
            op = op_code[l, k]
            if op == TRAN or op == MRG:
                if has_noc_pairs:
                    noc_node[n_noc] = w
                    noc_start[n_noc] = step
                    noc_kappa[n_noc] = kappa[l, k]
                    noc_key[n_noc] = 2 * l + (1 if op == MRG else 0)
                    noc_alive[n_noc] = True
                    n_noc += 1
            elif op == ADC:
                if in_pair[l]:
                    if n_adc == adc_pos.shape[0]:
                        grow = adc_pos.shape[0] * 2
                        tmp = np.empty(grow, dtype=np.int64)
                        tmp[:n_adc] = adc_pos[:n_adc]
                        adc_pos = tmp
                        tmp = np.empty(grow, dtype=np.int64)
                        tmp[:n_adc] = adc_layer[:n_adc]
                        adc_layer = tmp
                        tmp = np.empty(grow, dtype=np.int64)
                        tmp[:n_adc] = adc_bit[:n_adc]
                        adc_bit = tmp
                    adc_pos[n_adc] = i
                    adc_layer[n_adc] = l
                    adc_bit[n_adc] = slot_b[slot_off[l] + pos]
                    n_adc += 1
            elif op == LD or op == ST:
                n_prov = prov_ptr[l + 1] - prov_ptr[l]
                for j in range(n_prov):
                    p = prov_idx[prov_ptr[l] + j]
                    start = window_start[ps_off[l] + c * n_prov + j]
                    if live_window:
                        edge_lo[prov_ptr[l] + j] = start
                        start = edge_lo[pe_idx[pe_ptr[p]]]
                        for e in range(pe_ptr[p] + 1, pe_ptr[p + 1]):
                            start = min(start, edge_lo[pe_idx[e]])
                    win_lo[p] = start
                    ob = (win_hi[p] - win_lo[p]) * c_out[p]
                    if ob > out_buf[p]:
                        out_buf[p] = ob
                need = input_need[blk_off[l] + c]
                if need > in_buf[l]:
                    in_buf[l] = need
                if op == ST:
                    win_hi[l] = dup[l] * (c + 1)
                    ob = (win_hi[l] - win_lo[l]) * c_out[l]
                    if ob > out_buf[l]:
                        out_buf[l] = ob
        n_lose = 0
        # 5. ADC arbitration: the node further in its bit loop wins, then the earlier layer
        if n_adc > 1:
            for i in range(n_adc):
                for j in range(i + 1, n_adc):
                    if adc_conflict[adc_layer[i], adc_layer[j]]:
                        if adc_bit[i] < adc_bit[j] or (adc_bit[i] == adc_bit[j] and adc_layer[i] > adc_layer[j]):
                            tgt = adc_pos[i]
                        else:
                            tgt = adc_pos[j]
                        if removed[tgt]:
                            return SCHED_ADC_ARBITRATION, step, 0.0, bubbles, te, base, op_off, width
                        removed[tgt] = True
                        losers[n_lose] = act[tgt]
                        n_lose += 1
                        break
        # 6. NoC arbitration: the transfer that started earlier keeps its links. Two
        # entries that both started before this step never conflict (one of them lost
        # when the later one started), so only pairs with a new entry are checked.
        if n_noc > first_new_noc and n_noc > 1:
            for i in range(n_noc):
                noc_gone[i] = False
            for i in range(n_noc):
                if noc_gone[i]:
                    continue
                e_i = step - noc_start[i]
                rem_i = noc_kappa[i] - e_i
                for j in range(max(i + 1, first_new_noc), n_noc):
                    if noc_gone[j]:
                        continue
                    if not noc_conflict[noc_key[i], noc_key[j]]:
                        continue
                    e_j = step - noc_start[j]
                    rem_j = noc_kappa[j] - e_j
                    loser_i = e_i < e_j or (e_i == e_j and rem_i > rem_j)
                    tgt = i if loser_i else j
                    if step - noc_start[tgt] != 0:
                        return SCHED_NOC_ARBITRATION, step, 0.0, bubbles, te, base, op_off, width
                    noc_alive[tgt] = False
                    x = noc_node[tgt]
                    for a in range(n_act):
                        if act[a] == x and not removed[a]:
                            removed[a] = True
                            break
                    losers[n_lose] = x
                    n_lose += 1
                    if loser_i:
                        break
                    noc_gone[j] = True
        # 7. bubbles: each loser restarts one step later, behind a one-cycle bubble
        if n_lose > 0:
            n_fresh = 0
            for i in range(n_act):
                if not removed[i]:
                    fresh[n_fresh] = act[i]
                    n_fresh += 1
            for i in range(n_lose):
                x = losers[i]
                pending[x] = 1
                fresh[n_fresh] = -x - 1
                n_fresh += 1
            bubbles += n_lose
            m = 0
            for i in range(n_noc):
                if noc_alive[i]:
                    noc_node[m] = noc_node[i]
                    noc_start[m] = noc_start[i]
                    noc_kappa[m] = noc_kappa[i]
                    noc_key[m] = noc_key[i]
                    noc_alive[m] = True
                    m += 1
            n_noc = m
        else:
            tmp = fresh
            fresh = act
            act = tmp
            n_fresh = n_act
    if chain_last + 1 > step:
        step = chain_last + 1
    if final_op and busy_last + 1 > step:
        step = busy_last + 1
    elements = 0.0
    for l in range(n_layer):
        e = in_buf[l] + out_buf[l]
        if e > elements:
            elements = e
    return SCHED_OK, step, elements, bubbles, te, base, op_off, width


def bit_level_table() -> np.ndarray:
    return _BIT_LEVEL
