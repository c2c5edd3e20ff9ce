"""The cyclic collector paused for a stretch that makes many acyclic objects, and back after."""

import gc

from mailer.core.collector import collector_paused


def test_the_collector_is_off_inside_and_on_again_after():
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_on_when_the_stretch_fails():
    try:
        with collector_paused():
            raise ValueError("a bad row")
    except ValueError:
        pass
    assert gc.isenabled()


def test_a_pause_inside_another_leaves_it_to_the_outer_one():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # the inner one did not turn it back on
    assert gc.isenabled()


def test_a_cycle_made_while_paused_is_collected_once_it_is_back_on():
    class Node:
        pass

    with collector_paused():
        node = Node()
        node.itself = node  # type: ignore[attr-defined]
        del node
        assert any(type(o) is Node for o in gc.get_objects())
    gc.collect()
    assert not any(type(o) is Node for o in gc.get_objects())
