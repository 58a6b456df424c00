"""The case registry: tier sizes and nesting, unique ids, coverage of the default tier, duplicate ids."""
from __future__ import annotations

from collections import defaultdict
from itertools import product

import pytest

from parity import adapters
from parity.running import registry
from parity.running.registry import TIERS, Case, collect, generator
from parity.core.spec import ConvSpec

DTYPES = ("float16", "bfloat16", "float32", "float64")
LAYOUTS = ("channels_first", "channels_last")
DISTRIBUTIONS = ("normal", "int", "wide")
GROUPINGS = ("plain", "grouped", "depthwise")


def padding_family(spec: ConvSpec) -> str:
    return spec.padding if isinstance(spec.padding, str) else "explicit"


def grouping(spec: ConvSpec) -> str:
    return "plain" if spec.groups == 1 else "depthwise" if spec.is_depthwise else "grouped"


def stride_class(values: tuple[int, ...]) -> str:
    return "1" if all(v == 1 for v in values) else ">1"


def paddings(rank: int) -> tuple[str, ...]:
    modes = ("VALID", "SAME", "SAME_LOWER", "FULL", "explicit")
    return modes + ("CAUSAL",) if rank == 1 else modes


@pytest.fixture(scope="module")
def tiers() -> dict[str, list[Case]]:
    return {tier: collect(tier) for tier in TIERS}


@pytest.fixture(scope="module")
def default(tiers) -> list[ConvSpec]:
    return [case.spec for case in tiers["default"]]


def test_default_tier_has_at_least_300_cases(tiers):
    assert len(tiers["default"]) >= 300


@pytest.mark.parametrize("tier", TIERS)
def test_ids_are_unique(tiers, tier):
    ids = [case.id for case in tiers[tier]]
    assert ids and len(ids) == len(set(ids))


@pytest.mark.parametrize("tier", TIERS)
def test_every_case_is_a_spec_with_its_slug_as_id(tiers, tier):
    """The id is the spec's slug, or for a named case (the realistic layers) the name before the slug."""
    for case in tiers[tier]:
        assert isinstance(case, Case) and isinstance(case.spec, ConvSpec)
        named = case.id.startswith("realistic-") and case.id.endswith("-" + case.spec.slug())
        assert case.id == case.spec.slug() or named, case.id


def test_tiers_nest_strictly(tiers):
    smoke, default, full = ({case.id for case in tiers[t]} for t in TIERS)
    assert smoke < default < full


def test_collect_is_deterministic(tiers):
    assert [c.id for c in collect("default")] == [c.id for c in tiers["default"]]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_default_covers_padding_stride_dilation_grouping_product_per_rank(default, rank):
    seen = {(padding_family(s), stride_class(s.strides), stride_class(s.dilations), grouping(s))
            for s in default if s.rank == rank}
    wanted = set(product(paddings(rank), ("1", ">1"), ("1", ">1"), GROUPINGS))
    assert wanted - seen == set()


@pytest.mark.parametrize("rank", (1, 2, 3))
def test_default_covers_padding_stride_dilation_layout_product_per_rank(default, rank):
    seen = {(padding_family(s), stride_class(s.strides), stride_class(s.dilations), s.layout)
            for s in default if s.rank == rank}
    assert set(product(paddings(rank), ("1", ">1"), ("1", ">1"), LAYOUTS)) - seen == set()


def test_causal_only_for_rank_1(default):
    assert any(s.padding == "CAUSAL" for s in default)
    assert all(s.rank == 1 for s in default if s.padding == "CAUSAL")


@pytest.mark.parametrize("field, values", [
    ("rank", (1, 2, 3)), ("layout", LAYOUTS), ("dtype", DTYPES), ("distribution", DISTRIBUTIONS),
])
def test_default_covers_every_value_of_each_dimension(default, field, values):
    assert {getattr(s, field) for s in default} >= set(values)


def test_default_covers_every_padding_stride_dilation_and_grouping_value(default):
    assert {padding_family(s) for s in default} == {"VALID", "SAME", "SAME_LOWER", "FULL", "explicit", "CAUSAL"}
    assert {stride_class(s.strides) for s in default} == {"1", ">1"}
    assert {stride_class(s.dilations) for s in default} == {"1", ">1"}
    assert {grouping(s) for s in default} == set(GROUPINGS)


@pytest.mark.parametrize("rank", (1, 2, 3))
def test_default_covers_all_24_arithmetic_combinations_per_rank(default, rank):
    seen = {(s.dtype, s.layout, s.distribution) for s in default if s.rank == rank}
    wanted = set(product(DTYPES, LAYOUTS, DISTRIBUTIONS))
    assert len(wanted) == 24
    assert wanted - seen == set()


def test_geometry_combinations_each_see_more_than_one_dtype_per_rank(default):
    """Geometry cases rotate their arithmetic: per rank, the dtypes spread over many padding modes."""
    dtypes_by_padding: dict[tuple[int, str], set[str]] = defaultdict(set)
    for spec in default:
        dtypes_by_padding[spec.rank, padding_family(spec)].add(spec.dtype)
    for rank in (1, 2, 3):
        for padding in paddings(rank):
            assert len(dtypes_by_padding[rank, padding]) >= 2, (rank, padding)


def test_unknown_tier_is_a_value_error():
    with pytest.raises(ValueError, match="'huge'"):
        collect("huge")
    with pytest.raises(ValueError, match="'huge'"):
        generator("huge")


# --- duplicate ids ------------------------------------------------------------------------------------------
@pytest.fixture
def register():
    """Register temporary generators; they are removed from the registry afterwards."""
    added = []

    def add(tier, fn):
        before = list(registry._GENERATORS)
        generator(tier)(fn)
        added.extend(entry for entry in registry._GENERATORS if entry not in before)
        return fn

    yield add
    for entry in added:
        registry._GENERATORS.remove(entry)
    assert all(fn not in [f for _, f in registry._GENERATORS] for _, fn in added)


def test_duplicate_id_within_one_generator_raises_naming_it(register):
    spec = ConvSpec(spatial=(5,), kernel=2)

    def twice():
        yield Case("my-duplicate-id", spec)
        yield Case("my-duplicate-id", ConvSpec(spatial=(6,), kernel=2))

    register("smoke", twice)
    for tier in TIERS:
        with pytest.raises(ValueError, match="'my-duplicate-id'"):
            collect(tier)


def test_duplicate_of_an_existing_case_raises_only_in_its_tier(register, tiers):
    existing = tiers["default"][-1]

    def copycat():
        yield existing.spec  # same spec, so same slug

    register("full", copycat)
    assert [c.id for c in collect("default")] == [c.id for c in tiers["default"]]
    with pytest.raises(ValueError, match=f"{existing.id!r}.*copycat"):
        collect("full")


def test_registered_generator_cases_are_collected_then_removed(register, tiers):
    def extra():
        yield Case("extra-named-case", ConvSpec(spatial=(4, 4), kernel=3))
        yield ConvSpec(spatial=(7,), kernel=3, seed=99)

    register("default", extra)
    ids = [c.id for c in collect("default")]
    assert "extra-named-case" in ids and ConvSpec(spatial=(7,), kernel=3, seed=99).slug() in ids
    assert "extra-named-case" not in {c.id for c in collect("smoke")}
    assert "extra-named-case" in {c.id for c in collect("full")}


@pytest.mark.parametrize("rank", (1, 2))
def test_kernel_size_does_not_follow_layout(default, rank):
    """Both kernel sizes of the geometry generator appear in both layouts."""
    seen = {(s.kernel[0], s.layout) for s in default if s.rank == rank}
    assert {(3, "channels_first"), (4, "channels_first"), (3, "channels_last"), (4, "channels_last")} <= seen


def test_an_opt_in_backend_runs_only_where_named(install_backends):
    class Slow:
        name, opt_in = "slow", "compiles each geometry for about 2 s"

        def available(self):
            return None

        def supports(self, spec):
            return None

        def run(self, spec, x, w):
            return adapters.get("numpy").run(spec, x, w)

    install_backends({"numpy": adapters.get("numpy"), "slow": Slow()})
    assert adapters.installed() == ["numpy"]
    assert adapters.parse("numpy,slow") == ["numpy", "slow"]
    assert adapters.status("slow") == ("opt-in", "runs where named (--backends): compiles each geometry for about 2 s")
    assert adapters.status("numpy") == ("installed", "")
