"""Sources: printed names, hashing, reading from a frame scope, and validation."""

from __future__ import annotations

import builtins

import pytest

from dynajit.guards import (
    AttrSource,
    ClosureSource,
    GlobalSource,
    GuardError,
    ItemSource,
    LocalSource,
    SourceUnreadable,
)
from dynajit.guards.source import FrameScope

L, G = LocalSource, GlobalSource


def test_sources_print_as_messages_name_them():
    assert str(L("x")) == "L['x']"
    assert str(G("scale")) == "G['scale']"
    assert str(ClosureSource("k", 0)) == "C['k']"
    assert str(AttrSource(L("self"), "w")) == "L['self'].w"
    assert str(ItemSource(L("params"), "w0")) == "L['params']['w0']"
    assert str(ItemSource(L("xs"), 2)) == "L['xs'][2]"
    assert AttrSource(ItemSource(L("xs"), 2), "T").name == "L['xs'][2].T"


def test_sources_are_hashable_values():
    a = AttrSource(L("self"), "w")
    b = AttrSource(L("self"), "w")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, ItemSource(L("self"), "w"), L("self")}) == 3
    assert ItemSource(L("d"), 1) != ItemSource(L("d"), "1")


def test_depth_and_root():
    s = ItemSource(AttrSource(L("self"), "params"), "w")
    assert (s.depth, s.base.depth, s.root) == (2, 1, L("self"))
    assert G("np").depth == 0 and G("np").base is None


def test_bad_attribute_names_and_unhashable_keys_are_rejected():
    with pytest.raises(GuardError, match="identifier"):
        AttrSource(L("x"), "not an attr")
    with pytest.raises(GuardError, match="hashable"):
        ItemSource(L("x"), [1, 2])


def scope(**args):
    cell = (lambda: args).__closure__[0]
    return FrameScope(args, {"scale": 2.0}, builtins.__dict__, (cell,))


def test_reads_follow_load_global_and_closure_rules():
    sc = scope(x=1)
    assert G("scale").read(sc) == 2.0
    assert G("len").read(sc) is len
    assert ClosureSource("args", 0).read(sc) == {"x": 1}
    with pytest.raises(SourceUnreadable, match=r"G\['nope'\]: missing"):
        G("nope").read(sc)


def test_missing_attribute_or_key_names_the_source_that_failed():
    class Obj:
        pass

    sc = scope(self=Obj(), params={"w0": 1}, xs=[1])
    with pytest.raises(SourceUnreadable) as info:
        AttrSource(AttrSource(L("self"), "w"), "T").read(sc)
    assert info.value.source == AttrSource(L("self"), "w")
    assert "AttributeError" in info.value.reason
    with pytest.raises(SourceUnreadable, match=r"L\['params'\]\['b0'\]: missing \(KeyError"):
        ItemSource(L("params"), "b0").read(sc)
    with pytest.raises(SourceUnreadable, match=r"L\['xs'\]\[3\]: missing \(IndexError"):
        ItemSource(L("xs"), 3).read(sc)
