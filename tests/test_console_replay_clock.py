"""The demo's replay clock: simulated time runs at `speed` × wall time but never ahead of what
the sensors have heard, and never goes back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ouie.app.demo import ReplayClock
from ouie.core.timebase import NS_PER_S

START_NS = 1_782_077_400 * NS_PER_S


class Wall:
    """A hand-driven wall clock, s."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0),  # wall time passing, s
        st.floats(min_value=0.0, max_value=5.0),  # audio processed meanwhile, simulated s
    ),
    max_size=40,
)


@given(speed=st.floats(min_value=0.1, max_value=50.0), steps=steps)
def test_the_clock_never_goes_back_nor_ahead_of_what_was_heard(
    speed: float, steps: list[tuple[float, float]]
) -> None:
    wall = Wall()
    clock = ReplayClock(START_NS, speed, wall_s=wall)
    assert clock() == START_NS  # frozen until started
    clock.start()
    heard_ns, previous = START_NS, clock()
    for wall_step_s, heard_step_s in steps:
        wall.now_s += wall_step_s
        heard_ns += round(heard_step_s * NS_PER_S)
        clock.heard_until(heard_ns, 0)
        now = clock()
        assert now >= previous
        assert now <= max(heard_ns, START_NS)
        assert now == min(clock.paced_ns(), clock.frontier_ns)
        previous = now


def test_while_the_sensors_keep_up_the_clock_is_the_paced_time() -> None:
    wall = Wall()
    clock = ReplayClock(START_NS, 4.0, wall_s=wall)
    clock.start()
    clock.heard_until(START_NS + 60 * NS_PER_S, NS_PER_S // 2)
    wall.now_s += 2.5
    assert clock() == START_NS + 10 * NS_PER_S  # 2.5 s of wall at ×4
    wall.now_s += 20.0  # the sensors fell behind: time waits for them
    assert clock() == START_NS + 60 * NS_PER_S + NS_PER_S // 2
