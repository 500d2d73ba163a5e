"""The small vocabulary of value generators a field table's `generate:` steps may name.

A step is `{field: FKey, gen: NAME, ...parameters}`, optionally with `blank_share` (that share of
values is blank instead) or `keep_share` (only that share is generated, the rest blank). Steps
draw from one random stream in the order they are listed, so a seed gives the same rows on every
run. The word lists are generic Chinese business vocabulary, not any form's data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence, TypeVar

from kd_assets.simulator.clock import stamp_text

T = TypeVar("T")
# (region code, province, city): a master's region, drawn first; names, addresses, credit codes
# and province references of that master agree with it.
REGIONS = (("310000", "上海市", "上海"), ("110000", "北京市", "北京"), ("440000", "广东省", "广州"),
           ("330000", "浙江省", "杭州"), ("320000", "江苏省", "南京"), ("510000", "四川省", "成都"),
           ("420000", "湖北省", "武汉"), ("370000", "山东省", "济南"), ("350000", "福建省", "厦门"),
           ("440300", "广东省", "深圳"))
BRANDS = "华信 鼎盛 恒通 金桥 瑞丰 宏达 中联 星辰 天宇 博远 汇智 兴业 启明 嘉禾 远景 海纳 正泰 长城 东方 新锐 卓越 万象 凯旋 和泰 永隆".split()
TRADES = "科技 贸易 电子 机械 物流 医药 食品 建材 化工 纺织 软件 新能源 环保 家具 包装".split()
SUFFIXES = ("有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高")
GIVEN = "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 涛 明 超 秀英 华 平 刚".split()
ROADS = "人民路 中山路 解放路 建设路 和平路 长江路 南京路 科技大道 工业园路 滨江大道".split()
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUES = {c: i for i, c in enumerate(_CREDIT_CHARS)}
_CREDIT_BODY_CHARS = "0123456789ABCDEFGH"


class Draw:
    """Fast draws from one random stream (random.choice/randrange cost ~1 µs each)."""

    def __init__(self, rng: random.Random, millis_share: float = 0.0) -> None:
        self.rng = rng
        self.random = rng.random
        self.millis_share = millis_share

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]

    def one_of(self, options: Sequence[T]) -> T:
        """Like pick, but a single option is taken without a draw (a constant)."""
        return options[0] if len(options) == 1 else self.pick(options)

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def empty_text(self) -> str:
        # Kingdee's text columns default to ' ', but cleared values come back as ''.
        return self.pick(("", " "))

    def stamp(self, when: Any) -> str:
        """Datetime text as stored; a share of values carries milliseconds."""
        if self.random() < self.millis_share:
            return stamp_text(when.replace(microsecond=(1 + self.below(999)) * 1000), True)
        return stamp_text(when, False)

    def landline(self) -> str:
        return f"0{10 + self.below(989)}-{10**7 + self.below(9 * 10**7)}"


def credit_code(rng: random.Random, region: str) -> str:
    """An 18-char unified social credit code with a valid GB 32100 check character."""
    body = "91" + region + "".join(rng.choices(_CREDIT_BODY_CHARS, k=9))
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(body, _CREDIT_WEIGHTS))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]


@dataclass
class Context:
    """What a step may read: the draw, the master's region and sequence number, reference ids."""

    draw: Draw
    region: tuple[str, str, str]
    seq: int
    ref_ids: Callable[[str, Sequence[str] | None], list[int]]  # (table, numbers or all) → ids
    ref_of: Callable[[str], str | None]  # field key → its reference table


def _spread(step: dict, draw: Draw) -> float:
    low, high = step.get("spread", (1.0, 1.0))
    return low + (high - low) * draw.random()


def _as_text(ctx: Context, step: dict, values: dict) -> Any:
    value = values[step["field"]]
    if ctx.draw.random() >= step.get("share", 1.0):
        return value
    if step.get("style") == "wan":  # 万元, as people type registered capital
        return f"{round(float(value) / 10000)}万元"
    return step.get("format", "{:.2f}").format(float(value))


def _text(ctx: Context, step: dict, values: dict) -> str:
    template = str(step["text"])
    n = ctx.draw.below(10**6) if "{n" in template else 0
    return template.format(seq=ctx.seq, n=n)


def _pattern(ctx: Context, step: dict, values: dict) -> str:
    """Every '#' of the (picked) pattern becomes a digit."""
    draw = ctx.draw
    return "".join(str(draw.below(10)) if c == "#" else c for c in draw.one_of(step["patterns"]))


def _ref(ctx: Context, step: dict, values: dict) -> int:
    return ctx.draw.one_of(ctx.ref_ids(ctx.ref_of(step["field"]) or "", step.get("numbers")))


def _region_ref(ctx: Context, step: dict, values: dict) -> int:
    return ctx.ref_ids(ctx.ref_of(step["field"]) or "", [ctx.region[0]])[0]


def _days_after(ctx: Context, step: dict, values: dict) -> str:
    """A date (midnight) some whole days after the date field `of`, e.g. a delivery date."""
    low, high = step["spread"]
    day = datetime.fromisoformat(str(values[step["of"]])[:10])
    return stamp_text(day + timedelta(days=int(low + (high - low + 1) * ctx.draw.random())), False)


# gen name → (required parameters, function(context, step, values so far) → value)
GENERATORS: dict[str, tuple[tuple[str, ...], Callable[[Context, dict, dict], Any]]] = {
    "company_name": ((), lambda c, s, v: c.region[2] + c.draw.pick(BRANDS) + c.draw.pick(TRADES)
                     + c.draw.pick(SUFFIXES)),
    "person_name": ((), lambda c, s, v: c.draw.pick(SURNAMES) + c.draw.pick(GIVEN)),
    "words": (("parts",), lambda c, s, v: "".join(c.draw.pick(part) for part in s["parts"])),
    "phone": ((), lambda c, s, v: (f"1{c.draw.pick('3589')}{c.draw.below(10**9):09d}"
                                   if c.draw.random() < s.get("mobile_share", 0.5)
                                   else c.draw.landline())),
    "landline": ((), lambda c, s, v: c.draw.landline()),
    "address": ((), lambda c, s, v: f"{c.region[1]}{c.region[2]}市{c.draw.pick(ROADS)}"
                                    f"{1 + c.draw.below(998)}号"),
    "zip": ((), lambda c, s, v: c.region[0][:2] + f"{c.draw.below(10000):04d}"),
    "credit_code": ((), lambda c, s, v: credit_code(c.draw.rng, c.region[0])),
    "money": (("choices", "scale"), lambda c, s, v: round(
        c.draw.pick(s["choices"]) * s["scale"] * _spread(s, c.draw), 2)),
    "decimal": (("spread",), lambda c, s, v: round(_spread(s, c.draw), s.get("digits", 2))),
    "scale_of": (("of", "spread"), lambda c, s, v: round(float(v[s["of"]]) * _spread(s, c.draw),
                                                         s.get("digits", 2))),
    "as_text": ((), _as_text),
    "choice": (("values",), lambda c, s, v: c.draw.one_of(s["values"])),
    "flag": (("share",), lambda c, s, v: c.draw.random() < s["share"]),
    "text": (("text",), _text),
    "pattern": (("patterns",), _pattern),
    "blank": ((), lambda c, s, v: c.draw.empty_text()),
    "slice": (("of",), lambda c, s, v: str(v[s["of"]])[s.get("start", 0):s.get("end")]),
    "copy": (("of",), lambda c, s, v: v[s["of"]]),
    "date_of": (("of",), lambda c, s, v: str(v[s["of"]])[:10] + " 00:00:00"),
    "days_after": (("of", "spread"), _days_after),
    "product": (("of", "times"), lambda c, s, v: round(float(v[s["of"]]) * float(v[s["times"]]),
                                                       s.get("digits", 2))),
    "ref": ((), _ref),
    "region_ref": ((), _region_ref),
}
STEP_KEYS = {"field", "gen", "blank_share", "keep_share", "spread", "digits", "mobile_share",
             "start", "end", "numbers", "style", "format", "share"}


def run_steps(steps: Sequence[dict], ctx: Context, values: dict) -> dict:
    """Apply generation steps in order, writing into `values`."""
    draw = ctx.draw
    for step in steps:
        if "blank_share" in step and draw.random() < step["blank_share"]:
            values[step["field"]] = draw.empty_text()
        elif "keep_share" in step and not draw.random() < step["keep_share"]:
            values[step["field"]] = draw.empty_text()
        else:
            values[step["field"]] = GENERATORS[step["gen"]][1](ctx, step, values)
    return values
