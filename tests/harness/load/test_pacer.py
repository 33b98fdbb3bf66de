from harness.contract.columns import LATE_TOLERANCE_S
from harness.load.pacer import Pacer, WeightedChoice
from harness.load.schedule import schedule_from


class FakeClock:
    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def make(clock, offsets, *, free=lambda: True, wait_free=lambda t: False, queue_timeout=0.0, send_cost=0.0):
    sent, dropped = [], []

    def send(op, intended):
        sent.append((op, intended, clock.now))
        clock.now += send_cost

    pacer = Pacer(
        offsets,
        clock.now,
        clock=clock.time,
        sleep=clock.sleep,
        can_send=free,
        send=send,
        drop=lambda op, t: dropped.append((op, t)),
        choose=lambda: "op",
        wait_free=wait_free,
        queue_timeout_s=queue_timeout,
    )
    return pacer, sent, dropped


def test_sends_exactly_at_intended_times():
    clock = FakeClock()
    offsets = list(schedule_from([(0, 2, 50, 50)]).offsets())
    pacer, sent, _dropped = make(clock, offsets)
    stats = pacer.run()
    assert stats.sent == 100 and stats.dropped == 0 and stats.late == 0
    assert all(abs(actual - intended) < 1e-9 for _, intended, actual in sent)


def test_slow_sender_makes_late_sends_but_keeps_intended_times():
    clock = FakeClock()
    offsets = list(schedule_from([(0, 1, 100, 100)]).offsets())
    pacer, sent, _ = make(clock, offsets, send_cost=0.05)  # generator can only do 20/s
    stats = pacer.run()
    assert stats.sent == 100
    assert stats.late > 90
    # the intended times are still the schedule: latency will be measured from them
    assert [i for _, i, _ in sent] == [1000.0 + o for o in offsets]


def test_late_means_later_than_the_shared_tolerance():
    clock = FakeClock()
    lags = iter([LATE_TOLERANCE_S * 0.9, LATE_TOLERANCE_S * 1.1])

    def wait_free(timeout):
        clock.now += next(lags)  # the slot frees up after this lag
        return True

    pacer, _, _ = make(clock, [0.0, 1.0], free=lambda: False, wait_free=wait_free, queue_timeout=1.0)
    stats = pacer.run()
    assert stats.sent == 2 and stats.late == 1
    assert abs(stats.max_lag_s - LATE_TOLERANCE_S * 1.1) < 1e-9


def test_full_in_flight_drops_after_queue_timeout():
    clock = FakeClock()
    offsets = list(schedule_from([(0, 1, 10, 10)]).offsets())

    def wait_free(timeout):
        clock.now += timeout  # nothing frees up
        return False

    pacer, _sent, dropped = make(clock, offsets, free=lambda: False, wait_free=wait_free, queue_timeout=0.25)
    stats = pacer.run()
    assert stats.sent == 0 and stats.dropped == 10 == len(dropped)


def test_waiting_for_a_slot_counts_as_late_not_dropped():
    clock = FakeClock()
    offsets = list(schedule_from([(0, 1, 10, 10)]).offsets())
    state = {"free": False}

    def wait_free(timeout):
        clock.now += 0.03
        state["free"] = True
        return True

    pacer, _sent, _dropped = make(
        clock, offsets, free=lambda: state["free"], wait_free=wait_free, queue_timeout=1.0
    )
    stats = pacer.run()
    assert stats.dropped == 0 and stats.sent == 10 and stats.late == 1


def test_stop_flag_ends_early():
    clock = FakeClock()
    offsets = schedule_from([(0, 100, 10, 10)]).offsets()
    calls = {"n": 0}

    def stopped():
        calls["n"] += 1
        return calls["n"] > 20

    pacer, sent, _ = make(clock, offsets)
    pacer.stopped = stopped
    pacer.run()
    assert len(sent) < 20


def test_weighted_choice_follows_weights_and_is_seeded():
    choice = WeightedChoice(["a", "b"], [3, 1], seed=5)
    picks = [choice.pick() for _ in range(4000)]
    assert 0.70 < picks.count("a") / len(picks) < 0.80
    again = WeightedChoice(["a", "b"], [3, 1], seed=5)
    assert [again.pick() for _ in range(4000)] == picks
