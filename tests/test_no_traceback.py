"""No traceback reaches a user (issue 13, item 2): a bug in a page is said in Chinese, the details go to the log."""
from __future__ import annotations

import tomllib

from streamlit.testing.v1 import AppTest

from geo import settings


def test_streamlit_is_told_to_show_no_error_details():
    """client.showErrorDetails = "none": Streamlit 1.67 then withholds the message, the type and the trace
    of anything uncaught (its own check, so a renamed value would fail here)."""
    from streamlit import config
    from streamlit.elements.exception import _error_detail_visibility

    shown = tomllib.loads((settings.ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    value = shown["client"]["showErrorDetails"]
    assert value == "none"
    config.set_option("client.showErrorDetails", value)
    try:
        assert _error_detail_visibility(True) == (False, False, False)
    finally:
        config.set_option("client.showErrorDetails", "full")


def _page_with_a_bug():
    from pages import common

    with common.unexpected_errors():
        [][0]  # the desk's IndexError, or any other bug


def _callback_with_a_bug():
    import streamlit as st
    from pages import common

    @common.safe_callback
    def boom():
        raise KeyError("tickets_move_1_1")

    common.tell_unexpected()
    st.button("执行", on_click=boom)


def test_a_bug_in_a_page_is_a_chinese_message_not_a_traceback():
    at = AppTest.from_function(_page_with_a_bug).run()
    assert not at.exception
    assert [e.value for e in at.error] and "请刷新页面后再试" in at.error[0].value
    assert "IndexError" not in at.error[0].value


def test_a_bug_in_a_callback_is_told_once_on_the_next_draw():
    at = AppTest.from_function(_callback_with_a_bug).run()
    at.button[0].click().run()
    assert not at.exception
    assert len(at.error) == 1 and "页面出错了" in at.error[0].value and "tickets_move" not in at.error[0].value
    at.run()
    assert not at.error
