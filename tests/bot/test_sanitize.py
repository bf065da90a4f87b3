"""The text fence: what people and machines type cannot ping everyone or forge markup."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from hubao.bot.sanitize import clean_line, clean_name, clean_word, neutralise, strip_controls

PIECES = ["@all", "@所有人", "＠everyone", '<at user_id="all"></at>', "<@U1>", "](http://x)", "\x00", "\u202e",
          "\u200b", "\n", "<", "[", "@", " "]  # fmt: skip
HOSTILE = st.lists(st.one_of(st.text(max_size=5), st.sampled_from(PIECES)), max_size=20).map("".join)


def test_control_and_invisible_characters_are_removed() -> None:
    assert strip_controls("库存\x00低\u202e\u200b于\ufeff阈值") == "库存低于阈值"
    assert strip_controls("a\nb\tc") == "a b c"
    assert strip_controls("a\nb", keep_newlines=True) == "a\nb"
    assert strip_controls("bad \udcff surrogate") == "bad  surrogate"


def test_mention_all_loses_its_power() -> None:
    assert neutralise("@all 快看") == "@ all 快看"
    assert neutralise("@所有人 服务器挂了") == "@ 所有人 服务器挂了"
    assert neutralise("hey ＠Everyone") == "hey @ Everyone"
    assert neutralise("mail me at bob@allianz.example") == "mail me at bob@ allianz.example"


def test_markup_is_defanged_but_comparisons_stay() -> None:
    assert neutralise('<at user_id="all"></at>') == '＜at user_id="all">＜/at>'
    assert neutralise("<@U123> 看一下") == "＜@U123> 看一下"
    assert neutralise("[点我](https://evil.example)") == "[点我] (https://evil.example)"
    assert neutralise("库存 < 10 且 > 3") == "库存 < 10 且 > 3"


def test_clean_line_is_one_line_and_bounded() -> None:
    assert clean_line("  第一行\n#2【高】伪造的卡片行  ") == "第一行 #2【高】伪造的卡片行"
    assert clean_line("x" * 50, 10) == "x" * 10
    assert clean_name("<at id=1>Mallory\x07</at>") == "＜at id=1>Mallory＜/at>"


@given(HOSTILE)
def test_cleaned_text_is_safe_and_cleaning_is_idempotent(text: str) -> None:
    line = clean_line(text)
    assert clean_line(line) == line
    assert clean_word(clean_word(text)) == clean_word(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in line)
    assert not re.search(r"[@＠](all|everyone|所有人)", line, re.IGNORECASE)
    assert not re.search(r"<[A-Za-z/@!?#]", line)
    assert "](" not in line
