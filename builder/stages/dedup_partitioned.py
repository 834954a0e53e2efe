"""Dedup of a whole corpus in hash partitions: the decisions of ``Deduplicator``, bounded memory per worker.

The local stage holds every kept image of the run in one process. Here the work is split so that
a worker holds one partition (about ``8 / partitions`` of the hashes and ``1 / partitions`` of
the sha256 digests), and the driver holds only the records that have a duplicate partner:

1. :func:`route` (per unit, in parallel): each record's :class:`~.dedup.Signature` gets an
   order key ``unit index << 32 | position`` (the local stage's input order) and goes to the
   partition of its sha256 (exact) and to the partitions of its eight 8-bit band values (near;
   degenerate images are exact only). Two hashes within 7 bits share one band exactly, so
   every candidate pair meets in some partition.
2. :func:`partition_pairs` (per partition, in parallel): exact groups (same sha256, in order)
   and near pairs ``(later, its key, earlier, distance, earlier key)`` that pass the near rule, each pair
   emitted by the first band the two hashes share only; at most ``max_pairs`` earliest partners
   per record (``stats``: ``pairs_capped``).
3. :func:`resolve` (driver, global order): a record is an exact duplicate when an earlier record
   with its bytes was kept, else a near duplicate of its kept partner at the smallest distance
   (then the earliest), else kept: the local stage's "first in input order wins", step by step.

The decisions equal the local stage's when no record has more than ``max_pairs`` earlier near
partners and the local stage forgets nothing (``max_entries`` above the corpus); there is no
window here. :func:`dedup_in_partitions` runs the three steps in one process (tests, small
corpora); the Ray runner maps them as tasks (``builder/pipeline/runners/ray_dedup.py``).
"""

from __future__ import annotations

import collections
from typing import Callable, Iterable, Optional

from s1mmalign.builder.records.rejects import Rejects
from s1mmalign.builder.stages.dedup import STAGE, Deduplicator, NearIndex, NearRule, Signature

ROUTE_BANDS, ROUTE_BITS = 8, 8  # 63 bits in 8 bands: hashes within 7 bits agree on one band
Decision = tuple[str, str, str]  # (reason, detail, key of the rejected record)


def route_keys(h: int) -> list[int]:
    """(band index << 8 | band value) for the eight 8-bit bands of a 63-bit hash."""
    return [(j << ROUTE_BITS) | ((h >> (ROUTE_BITS * j)) & 0xFF) for j in range(ROUTE_BANDS)]


def _first_shared_band(a: int, b: int) -> int:
    x = a ^ b
    return next(j for j in range(ROUTE_BANDS) if not (x >> (ROUTE_BITS * j)) & 0xFF)


def order_key(unit_index: int, position: int) -> int:
    return (unit_index << 32) | position


def route(unit_index: int, sigs: list[Optional[Signature]], partitions: int) -> tuple[list[list], list[list]]:
    """Per partition: exact rows ``(order, sha, key)`` and near rows ``(route key, order, signature)``."""
    exact: list[list] = [[] for _ in range(partitions)]
    near: list[list] = [[] for _ in range(partitions)]
    for pos, sig in enumerate(sigs):
        if sig is None:
            continue
        order = order_key(unit_index, pos)
        exact[int.from_bytes(sig.sha[:8], "big") % partitions].append((order, sig.sha, sig.key))
        if sig.fine is not None:
            for rk in route_keys(sig.h):
                near[rk % partitions].append((rk, order, sig))
    return exact, near


def partition_pairs(exact_rows: Iterable, near_rows: Iterable, rule: NearRule,
                    max_pairs: int = 64) -> tuple[list[list], list[tuple], collections.Counter]:
    """One partition's exact groups ``[(order, key), ...]`` and near pairs (see the module docstring)."""
    stats = collections.Counter()
    groups: dict[bytes, list] = collections.defaultdict(list)
    for order, sha, key in exact_rows:
        groups[sha].append((order, key))
    exact = [sorted(g) for g in groups.values() if len(g) > 1]
    by_route: dict[int, list] = collections.defaultdict(list)
    for rk, order, sig in near_rows:
        by_route[rk].append((order, sig))
    pairs = []
    for rk in sorted(by_route):
        band, index, orders = rk >> ROUTE_BITS, NearIndex(), []
        for order, sig in sorted(by_route.pop(rk), key=lambda r: r[0]):
            found = sorted((orders[eid], d, s.key) for d, eid, s in index.within(sig.h, rule.max_distance)
                           if _first_shared_band(sig.h, s.h) == band and rule.matches(sig, s))
            if len(found) > max_pairs:
                stats["pairs_capped"] += 1
            pairs.extend((order, sig.key, o, d, k) for o, d, k in found[:max_pairs])
            index.add(sig)
            orders.append(order)
        stats["near_rows"] += len(orders)
    stats["pairs"] += len(pairs)
    return exact, pairs, stats


def resolve(groups: Iterable[list], pairs: Iterable[tuple], max_pairs: int = 64) -> dict[int, Decision]:
    """order -> (reason, detail, key) for every duplicate, deciding in global order."""
    group_of: dict[int, int] = {}
    key_of: dict[int, str] = {}
    for gi, group in enumerate(groups):
        for order, key in group:
            group_of[order], key_of[order] = gi, key
    partners: dict[int, list] = collections.defaultdict(list)
    for later, later_key, earlier, d, earlier_key in pairs:
        partners[later].append((earlier, d, earlier_key))
        key_of[later] = later_key
    kept_in_group: dict[int, str] = {}
    out: dict[int, Decision] = {}
    for order in sorted(group_of.keys() | partners.keys()):
        gi = group_of.get(order)
        if gi is not None and gi in kept_in_group:
            out[order] = ("exact_duplicate", f"same bytes as {kept_in_group[gi]}", key_of[order])
            continue
        near = sorted(set(partners.get(order, ())))[:max_pairs]
        best = min(((d, e, k) for e, d, k in near if e not in out), default=None)
        if best is not None:
            out[order] = ("near_duplicate", f"looks like {best[2]}", key_of[order])
            continue
        if gi is not None:
            kept_in_group[gi] = key_of[order]
    return out


class DecidedDedup:
    """One unit's decisions as a stage: records come in the order they were signed."""

    def __init__(self, decisions: dict[int, Decision]):
        self.decisions, self.position = decisions, 0

    def __call__(self, batch: list[dict], rejects: Rejects) -> list[dict]:
        out = []
        for rec in batch:
            why = self.decisions.get(self.position)
            self.position += 1
            if why is None:
                out.append(rec)
                continue
            if why[2] and why[2] != rec.get("key"):
                raise RuntimeError(f"dedup input changed since it was hashed: {rec.get('key')!r} where "
                                   f"{why[2]!r} was; rerun the build")
            rejects.add(rec.get("key"), "image", why[0], why[1], stage=STAGE, source=rec.get("source", ""))
        return out


def sign_unit(dedup: Deduplicator, records: list[dict]) -> tuple[list[Optional[Signature]], dict[int, Decision]]:
    """Signatures of a unit's records in order, and the records rejected for their image."""
    sigs, bad = [], {}
    for pos, rec in enumerate(records):
        sig, why = dedup.signature(rec)
        sigs.append(sig)
        if why is not None:
            bad[pos] = (why[0], why[1], rec.get("key") or "")
    return sigs, bad


def decide(unit_sigs: list[list[Optional[Signature]]], dedup: Deduplicator, partitions: Optional[int] = None,
           max_pairs: int = 64, map_fn: Callable = map) -> list[dict[int, Decision]]:
    """Per unit, position -> decision for the duplicates among all units' signatures, in order."""
    parts = partitions or dedup.partitions
    routed = [route(i, sigs, parts) for i, sigs in enumerate(unit_sigs)]
    results = map_fn(lambda p: partition_pairs((r for ex, _ in routed for r in ex[p]),
                                               (r for _, nr in routed for r in nr[p]), dedup.rule, max_pairs),
                     range(parts))
    groups, pairs = [], []
    for g, p, stats in results:
        groups.extend(g)
        pairs.extend(p)
        dedup.stats.update(stats)
    per_unit: list[dict[int, Decision]] = [{} for _ in unit_sigs]
    for order, why in resolve(groups, pairs, max_pairs).items():
        per_unit[order >> 32][order & 0xFFFFFFFF] = why
    return per_unit


def dedup_in_partitions(units: list[list[dict]], dedup: Deduplicator, rejects: Rejects,
                        partitions: Optional[int] = None) -> list[list[dict]]:
    """The whole partitioned dedup in this process: each unit's kept records, rejects added."""
    signed = [sign_unit(dedup, recs) for recs in units]
    decisions = decide([s for s, _ in signed], dedup, partitions)
    return [DecidedDedup({**bad, **dec})(recs, rejects) for recs, (_, bad), dec in zip(units, signed, decisions)]
