"""The store contract (resources): create, get, list, update and delete, on every backend."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from kontinue.api import Execution, Function, ObjectMeta, Suspension
from kontinue.store import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    Selector,
    Store,
)
from tests.store._objects import changes, claim, execution, names, running, suspension

# -- create and get -----------------------------------------------------------------------


def test_create_with_a_name_stores_it_with_uid_timestamp_version_and_generation(
    store: Store,
) -> None:
    created = store.create(execution("deploy-1", labels={"app": "web"}))

    meta = created.metadata
    assert meta.name == "deploy-1" and meta.namespace == "default"
    assert meta.uid and meta.resource_version and meta.generation == 1
    assert meta.creation_timestamp is not None and meta.creation_timestamp.tzinfo is not None
    assert meta.labels == {"app": "web"}
    assert store.get(Execution, "default", "deploy-1") == created
    assert created.status.phase == "Pending"


def test_create_with_generate_name_appends_a_unique_random_suffix(store: Store) -> None:
    created = [store.create(execution(generate_name="nightly-")) for _ in range(25)]

    generated = [c.name for c in created]
    assert len(set(generated)) == 25
    for name in generated:
        assert re.fullmatch(r"nightly-[a-z0-9]+", name), name
        assert store.get(Execution, "default", name).metadata.generate_name == "nightly-"
    assert len({c.metadata.uid for c in created}) == 25


def test_create_of_an_existing_name_raises_already_exists_and_keeps_the_first(
    store: Store,
) -> None:
    first = store.create(execution("only-one", function="first"))

    with pytest.raises(AlreadyExistsError) as caught:
        store.create(execution("only-one", function="second"))

    assert (caught.value.resource_kind, caught.value.namespace, caught.value.name) == (
        "Execution",
        "default",
        "only-one",
    )
    assert store.get(Execution, "default", "only-one") == first


def test_a_name_is_unique_per_kind_and_namespace_only(store: Store) -> None:
    a = store.create(execution("same", namespace="team-a"))
    b = store.create(execution("same", namespace="team-b"))
    f = store.create(Function(metadata=ObjectMeta(name="same", namespace="team-a")))

    assert len({a.metadata.uid, b.metadata.uid, f.metadata.uid}) == 3
    assert store.get(Execution, "team-b", "same").metadata.uid == b.metadata.uid
    assert store.get(Function, "team-a", "same").metadata.uid == f.metadata.uid


def test_get_of_a_missing_resource_raises_not_found(store: Store) -> None:
    store.create(execution("present", namespace="elsewhere"))

    with pytest.raises(NotFoundError) as caught:
        store.get(Execution, "default", "present")

    assert (caught.value.resource_kind, caught.value.namespace, caught.value.name) == (
        "Execution",
        "default",
        "present",
    )
    with pytest.raises(NotFoundError):
        store.get(Function, "elsewhere", "present")


# -- list and label selectors -------------------------------------------------------------


def test_list_by_namespace_and_across_namespaces(store: Store) -> None:
    for ns, name in [("a", "one"), ("a", "two"), ("b", "three")]:
        store.create(execution(name, namespace=ns))
    store.create(Function(metadata=ObjectMeta(name="not-an-execution", namespace="a")))

    assert names(store.list(Execution, "a")) == {"one", "two"}
    assert names(store.list(Execution, "b")) == {"three"}
    assert store.list(Execution, "nobody-here") == []
    assert names(store.list(Execution)) == {"one", "two", "three"}
    assert [f.name for f in store.list(Function)] == ["not-an-execution"]


@pytest.fixture
def labelled(store: Store) -> Store:
    store.create(execution("web-front", labels={"app": "web", "tier": "front"}))
    store.create(execution("web-db", labels={"app": "web", "tier": "db"}))
    store.create(execution("api", labels={"app": "api", "env": ""}))
    store.create(execution("bare"))
    store.create(execution("other-ns", namespace="other", labels={"app": "web", "tier": "db"}))
    return store


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"web-front", "web-db"}),
        ("app==web", {"web-front", "web-db"}),
        ("app!=web", {"api", "bare"}),
        ("tier in (front, db)", {"web-front", "web-db"}),
        ("tier in (db)", {"web-db"}),
        ("tier notin (db)", {"web-front", "api", "bare"}),
        ("tier", {"web-front", "web-db"}),
        ("!tier", {"api", "bare"}),
        ("env=", {"api"}),
        ("app=web,tier!=db", {"web-front"}),
        ("app in (web,api), !tier", {"api"}),
        ("app=web,app=api", set()),
        ("", {"web-front", "web-db", "api", "bare"}),
        ({"app": "web", "tier": "db"}, {"web-db"}),
        ({}, {"web-front", "web-db", "api", "bare"}),
        (Selector(), {"web-front", "web-db", "api", "bare"}),
        (None, {"web-front", "web-db", "api", "bare"}),
    ],
)
def test_list_by_label_selector(
    labelled: Store, selector: str | dict[str, str] | Selector | None, expected: set[str]
) -> None:
    assert names(labelled.list(Execution, "default", selector)) == expected


def test_list_by_label_selector_across_namespaces(labelled: Store) -> None:
    found = labelled.list(Execution, None, "tier=db")

    assert {(e.namespace, e.name) for e in found} == {("default", "web-db"), ("other", "other-ns")}


@pytest.mark.parametrize(
    ("namespace", "selector", "phases"),
    [
        ("default", None, None),
        (None, None, None),
        ("default", "app=web", None),
        (None, "tier=db", None),
        ("default", "app in (web,api), !tier", None),
        ("default", None, {"Executing"}),
        ("default", "app=web", {"Pending"}),
        (None, None, {"Completed"}),
    ],
)
def test_iterate_wire_reads_the_same_objects_as_iterate_without_the_models(
    labelled: Store,
    namespace: str | None,
    selector: str | None,
    phases: set[str] | None,
) -> None:
    running(labelled, "busy")
    models = list(labelled.iterate(Execution, namespace, selector, phases=phases, page=2))
    docs = list(labelled.iterate_wire("Execution", namespace, selector, phases=phases, page=2))

    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs] == [
        (e.namespace, e.name) for e in models
    ]
    assert all(isinstance(d, dict) and d["kind"] == "Execution" for d in docs)
    # each document is the stored object: as a model it equals what iterate gave
    assert [Execution.model_validate(d) for d in docs] == models


def test_iterate_wire_of_another_kind(store: Store) -> None:
    store.create(execution("run"))
    store.create(Function(metadata=ObjectMeta(name="fn", namespace="default")))

    assert [d["metadata"]["name"] for d in store.iterate_wire("Function")] == ["fn"]
    assert [d["metadata"]["name"] for d in store.iterate_wire("Execution", "other")] == []


@pytest.mark.parametrize("selector", ["=web", "app in web", "app=web,,tier", "app@web"])
def test_list_with_a_malformed_selector_raises_value_error(store: Store, selector: str) -> None:
    with pytest.raises(ValueError, match="label selector"):
        store.list(Execution, "default", selector)


# -- update and update_status -------------------------------------------------------------


def test_update_with_a_stale_resource_version_conflicts_and_writes_nothing(store: Store) -> None:
    stale = store.create(execution("cas", labels={"v": "1"}))
    fresh = stale.model_copy(deep=True)
    fresh.metadata.labels["v"] = "2"
    current = store.update(fresh)

    stale.metadata.labels["v"] = "3"
    stale.spec.function = "other"
    with pytest.raises(ConflictError):
        store.update(stale)
    stale.status.message = "lost"
    with pytest.raises(ConflictError):
        store.update_status(stale)

    assert store.get(Execution, "default", "cas") == current
    assert current.metadata.labels == {"v": "2"}


def test_update_without_a_resource_version_conflicts(store: Store) -> None:
    created = store.create(execution("no-version"))
    created.metadata.resource_version = None
    created.spec.function = "other"

    with pytest.raises(ConflictError):
        store.update(created)

    assert store.get(Execution, "default", "no-version").spec.function == "greet"


def test_update_of_a_missing_resource_raises_not_found(store: Store) -> None:
    ghost = store.create(execution("ghost"))
    store.delete(Execution, "default", "ghost")

    with pytest.raises(NotFoundError):
        store.update(ghost)
    with pytest.raises(NotFoundError):
        store.update_status(ghost)


def test_every_write_gets_a_new_resource_version(store: Store) -> None:
    created = store.create(execution("versions"))
    created.metadata.labels["x"] = "y"
    updated = store.update(created)
    updated.status.message = "hi"
    status = store.update_status(updated)

    versions = [m.metadata.resource_version for m in (created, updated, status)]
    assert len(set(versions)) == 3
    assert store.get(Execution, "default", "versions").metadata.resource_version == versions[-1]


def test_update_writes_metadata_and_spec_and_keeps_the_stored_status(store: Store) -> None:
    ex = store.create(execution("keep-status"))
    ex.status.message = "halfway"
    ex.status.attempts = 2
    ex = store.update_status(ex)

    ex.spec.function = "renamed"
    ex.metadata.labels["team"] = "blue"
    ex.metadata.annotations["note"] = "moved"
    ex.status.message = "ignored by update"
    ex.status.phase = "Completed"
    updated = store.update(ex)

    for got in (updated, store.get(Execution, "default", "keep-status")):
        assert got.spec.function == "renamed"
        assert got.metadata.labels == {"team": "blue"}
        assert got.metadata.annotations == {"note": "moved"}
        assert got.status.message == "halfway" and got.status.attempts == 2
        assert got.status.phase == "Pending"


def test_update_status_writes_the_status_and_keeps_spec_and_metadata(store: Store) -> None:
    created = store.create(execution("keep-spec", labels={"app": "web"}))
    ex = created.model_copy(deep=True)

    ex.status.phase = "Completed"
    ex.status.result = {"ok": True}
    ex.spec.function = "ignored"
    ex.metadata.labels = {"ignored": "yes"}
    ex.metadata.annotations = {"ignored": "yes"}
    updated = store.update_status(ex)

    for got in (updated, store.get(Execution, "default", "keep-spec")):
        assert got.status.phase == "Completed" and got.status.result == {"ok": True}
        assert got.spec == created.spec
        assert got.metadata.labels == {"app": "web"} and got.metadata.annotations == {}
        assert got.metadata.uid == created.metadata.uid
        assert got.metadata.creation_timestamp == created.metadata.creation_timestamp
        assert got.metadata.generation == 1


def test_generation_counts_spec_changes_only(store: Store) -> None:
    ex = store.create(execution("generations"))
    assert ex.metadata.generation == 1

    ex.metadata.labels["touched"] = "yes"
    ex = store.update(ex)
    assert ex.metadata.generation == 1

    ex.status.message = "status only"
    ex = store.update_status(ex)
    assert ex.metadata.generation == 1

    ex.spec.arguments = {"n": 2}
    ex = store.update(ex)
    assert ex.metadata.generation == 2

    ex = store.update(ex)  # the same spec again
    assert ex.metadata.generation == 2

    ex.metadata.generation = 41  # the server owns this field
    ex = store.update(ex)
    assert ex.metadata.generation == 2

    ex.spec.function = "other"
    ex.metadata.generation = 41
    ex = store.update(ex)
    assert ex.metadata.generation == 3
    assert store.get(Execution, "default", "generations").metadata.generation == 3


def test_update_cannot_rewrite_identity(store: Store) -> None:
    created = store.create(execution("identity"))
    ex = created.model_copy(deep=True)
    ex.metadata.uid = "forged"
    ex.metadata.creation_timestamp = datetime(2000, 1, 1, tzinfo=UTC)

    updated = store.update(ex)

    assert updated.metadata.uid == created.metadata.uid
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp


# -- delete and owner references ----------------------------------------------------------


def test_delete_cascades_to_owned_resources_and_their_journals(store: Store) -> None:
    root = running(store, "root")
    child = store.create(execution("child", owners=(root,)))
    grandchild = store.create(execution("grandchild", owners=(child,)))
    gate = store.create(suspension("gate", child))
    store.create(execution("unrelated"))
    store.append_journal("default", "root", 0, {"seq": 0, "name": "a"}, "worker-1")
    claim(store, child)
    store.append_journal("default", "child", 0, {"seq": 0, "name": "b"}, "worker-1")

    store.delete(Execution, "default", "root")

    for cls, name in [(Execution, "root"), (Execution, "child"), (Suspension, gate.name)]:
        with pytest.raises(NotFoundError):
            store.get(cls, "default", name)
    with pytest.raises(NotFoundError):
        store.get(Execution, "default", grandchild.name)
    assert names(store.list(Execution)) == {"unrelated"}
    assert store.list(Suspension) == []
    # A new Execution of the same name starts with an empty journal.
    running(store, "root")
    running(store, "child")
    assert store.read_journal("default", "root") == []
    assert store.read_journal("default", "child") == []


def test_delete_emits_deleted_events_for_the_whole_tree(store: Store) -> None:
    root = store.create(execution("root"))
    child = store.create(execution("child", owners=(root,)))
    store.create(suspension("gate", child))
    since = store.current_version()

    store.delete(Execution, "default", "root")

    deleted = changes(store, since, 3)
    assert sorted(deleted) == [
        ("DELETED", "Execution", "child"),
        ("DELETED", "Execution", "root"),
        ("DELETED", "Suspension", "gate"),
    ]


def test_delete_of_a_leaf_leaves_its_owner(store: Store) -> None:
    root = store.create(execution("root"))
    store.create(execution("child", owners=(root,)))

    store.delete(Execution, "default", "child")

    assert store.get(Execution, "default", "root") == root


def test_delete_keeps_a_dependent_that_still_has_another_owner(store: Store) -> None:
    first = store.create(execution("first"))
    second = store.create(execution("second"))
    store.create(execution("shared", owners=(first, second)))

    store.delete(Execution, "default", "first")
    assert store.get(Execution, "default", "shared").name == "shared"

    store.delete(Execution, "default", "second")
    with pytest.raises(NotFoundError):
        store.get(Execution, "default", "shared")


def test_delete_follows_owner_references_set_by_update(store: Store) -> None:
    owner = store.create(execution("owner"))
    adopted = store.create(execution("adopted"))
    adopted.metadata.owner_references = [owner.owner_reference()]
    store.update(adopted)
    orphaned = store.create(execution("orphaned", owners=(owner,)))
    orphaned.metadata.owner_references = []
    store.update(orphaned)

    store.delete(Execution, "default", "owner")

    assert names(store.list(Execution)) == {"orphaned"}


def test_delete_terminates_on_an_ownership_cycle(store: Store) -> None:
    a = store.create(execution("a"))
    b = store.create(execution("b", owners=(a,)))
    a.metadata.owner_references = [b.owner_reference()]
    store.update(a)

    store.delete(Execution, "default", "a")

    assert store.list(Execution) == []


def test_delete_of_a_missing_resource_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.delete(Execution, "default", "never-was")
