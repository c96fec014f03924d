"""The alert outbox's store side on both databases: state and alerts in one commit, routing,
per-destination order, attempts, pruning — the semantics alerting relies on."""

from __future__ import annotations

from datetime import timedelta

from monitor.alert_records import AlertState, NewAlert
from monitor.models import Status
from monitor.outcome import Streak
from monitor.store import Store
from tests.support.results import T0


def alert(title: str) -> NewAlert:
    return NewAlert(
        target="us",
        probe="transcription",
        kind="down",
        level="down",
        title=title,
        body=f"{title}: body",
        body_format="text",
        notify_type="failure",
        tags=("down", "us"),
    )


async def test_outbox_routes_delivers_in_order_and_prunes(store: Store) -> None:
    state = AlertState(
        target="us",
        probe="transcription",
        streak=Streak(status=Status.DOWN, length=2, since=T0),
        updated_at=T0,
    )
    ids = await store.save_alert_state(state, [alert("first"), alert("second")])
    assert len(set(ids)) == 2 and ids == sorted(ids)
    # The state is an upsert: saving it again replaces it, and adds no alert.
    assert await store.save_alert_state(state, []) == []
    [saved] = await store.alert_states()
    assert saved.streak == state.streak and saved.updated_at == T0
    assert [a.title for a in await store.unrouted_alerts()] == ["first", "second"]

    destinations = [("k-mail", "mailto://****@example.com"), ("k-hook", "json://hook")]
    for alert_id in ids:
        await store.route_alert(alert_id, destinations, T0)
        await store.route_alert(alert_id, destinations, T0)  # idempotent
    assert await store.unrouted_alerts() == []
    due = await store.due_deliveries(T0)
    # One head per destination, the oldest alert first.
    assert sorted((d.destination, d.alert.title) for d in due) == [
        ("k-hook", "first"),
        ("k-mail", "first"),
    ]
    mail = next(d for d in due if d.destination == "k-mail")
    hook = next(d for d in due if d.destination == "k-hook")
    later = T0 + timedelta(seconds=30)
    await store.record_delivery_attempt(
        mail.id, at=T0, ok=False, error="timeout", elapsed_s=5.0, next_attempt_at=later,
        gave_up=False,
    )  # fmt: skip
    await store.record_delivery_attempt(
        hook.id, at=T0, ok=True, error=None, elapsed_s=0.1, next_attempt_at=None, gave_up=False
    )
    # The hook moves on to the second alert; the mail waits for its retry.
    assert [(d.destination, d.alert.title) for d in await store.due_deliveries(T0)] == [
        ("k-hook", "second")
    ]
    assert await store.next_delivery_at(exclude=["k-hook"]) == later
    rows = await store.alert_deliveries()
    assert {(r["destination"], r["attempts"]) for r in rows} >= {
        ("mailto://****@example.com", 1),
        ("json://hook", 1),
    }
    # Nothing is pruned while a delivery of the alert is open.
    assert await store.prune_alerts(T0 + timedelta(days=1)) == 0
    for d in await store.due_deliveries(later):
        await store.record_delivery_attempt(
            d.id, at=later, ok=True, error=None, elapsed_s=0.1, next_attempt_at=None, gave_up=False
        )
    for d in await store.due_deliveries(later):
        await store.record_delivery_attempt(
            d.id, at=later, ok=False, error="gone", elapsed_s=0.1, next_attempt_at=None,
            gave_up=True,
        )  # fmt: skip
    assert await store.due_deliveries(later + timedelta(days=1)) == []
    assert await store.prune_alerts(T0 + timedelta(days=1)) == 2
    assert await store.alert_deliveries() == []
