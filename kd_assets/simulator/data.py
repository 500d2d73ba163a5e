"""Deterministic BD_Customer data: realistic Chinese customers, allocated to several use-orgs.

Same seed and same clock day give identical rows. Rows of one master share FMasterId/FNumber and
differ in FCUSTID and FUseOrgId. A configurable share of rows is dirty on purpose, so the
quality checks downstream have something to find.
"""

from __future__ import annotations

import random
from operator import itemgetter
from datetime import datetime, timedelta
from typing import Iterator, Sequence, TypeVar

from kd_assets.simulator.clock import stamp_text
from kd_assets.simulator.store import COLUMNS

T = TypeVar("T")
FIRST_CUSTID = 100001
LOGIN_USER_ID = 100100  # the configured integration user
COUNTRY_CHINA = 46
ORGS = ((1, "100", "金蝶演示集团"), (100329, "101", "华东销售有限公司"),
        (100330, "102", "华南销售有限公司"), (100331, "103", "华北销售有限公司"),
        (100332, "T00", "测试组织"))
_PROVINCES = (("310000", "上海市", "上海"), ("110000", "北京市", "北京"), ("440000", "广东省", "广州"),
              ("330000", "浙江省", "杭州"), ("320000", "江苏省", "南京"), ("510000", "四川省", "成都"),
              ("420000", "湖北省", "武汉"), ("370000", "山东省", "济南"), ("350000", "福建省", "厦门"),
              ("440300", "广东省", "深圳"))
_BRANDS = "华信 鼎盛 恒通 金桥 瑞丰 宏达 中联 星辰 天宇 博远 汇智 兴业 启明 嘉禾 远景 海纳 正泰 长城 东方 新锐 卓越 万象 凯旋 和泰 永隆".split()
_TRADES = "科技 贸易 电子 机械 物流 医药 食品 建材 化工 纺织 软件 新能源 环保 家具 包装".split()
_SUFFIXES = ("有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司")
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高")
_GIVEN = "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 涛 明 超 秀英 华 平 刚".split()
_ROADS = "人民路 中山路 解放路 建设路 和平路 长江路 南京路 科技大道 工业园路 滨江大道".split()
_PROVINCE_CODES = sorted({(p[0], p[1]) for p in _PROVINCES})
_PROVINCE_IDS = {code: 600000 + i for i, (code, _) in enumerate(_PROVINCE_CODES)}
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUES = {c: i for i, c in enumerate(_CREDIT_CHARS)}
_CREDIT_BODY_CHARS = "0123456789ABCDEFGH"
_DIRTY_KINDS = ("empty_name", "negative_fund", "bad_credit_code", "modify_before_create")
# Weighted choices as repeated entries: 80% audited, a few created/submitted/re-audit/draft.
_STATUSES = "C" * 80 + "A" * 8 + "B" * 4 + "D" * 5 + "Z" * 3
# Use-org sets: every master is used by its create org; 40% are allocated to more orgs.
_ORG_SETS = (((ORGS[0],),) * 60 + ((ORGS[0], ORGS[1]),) * 12
             + ((ORGS[0], ORGS[2]),) * 8 + ((ORGS[0], ORGS[3]),) * 5
             + ((ORGS[0], ORGS[1], ORGS[2]),) * 8 + ((ORGS[0], ORGS[2], ORGS[3]),) * 4
             + ((ORGS[0], ORGS[1], ORGS[2], ORGS[3]),) * 3)


def reference_rows(login_user: str) -> dict[str, list[tuple]]:
    """Reference tables: (internal id, FNumber, FName). The login user is one of the users."""
    return {
        "org": list(ORGS),
        "user": [(LOGIN_USER_ID, login_user, login_user), (100101, "U001", "张会计"),
                 (100102, "U002", "李主管"), (100103, "U003", "王销售"), (16394, "administrator",
                                                                        "administrator")],
        "staff": [(200100 + i, f"SAL{i:03d}", _SURNAMES[i] + _GIVEN[i]) for i in range(12)],
        "dept": [(300100 + i, f"BM{i:03d}", n) for i, n in
                 enumerate(("销售一部", "销售二部", "大客户部", "渠道部", "电商部"))],
        "currency": [(1, "PRE001", "人民币"), (2, "PRE002", "香港元"), (7, "PRE007", "美元")],
        "cust_group": [(400100 + i, f"KH{i:02d}", n) for i, n in
                       enumerate(("重点客户", "普通客户", "经销商", "海外客户"))],
        "cust_type": [(500100 + i, f"KHLB{i + 1:03d}", n) for i, n in
                      enumerate(("普通销售客户", "寄售客户", "内部结算客户"))],
        "country": [(COUNTRY_CHINA, "China", "中国")],
        "province": [(_PROVINCE_IDS[code], code, name) for code, name in _PROVINCE_CODES],
    }


def credit_code(rng: random.Random, region: str) -> str:
    """An 18-char unified social credit code with a valid GB 32100 check character."""
    body = "91" + region + "".join(rng.choices(_CREDIT_BODY_CHARS, k=9))
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(body, _CREDIT_WEIGHTS))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]


DEFAULT_HISTORY_DAYS = 6 * 365


class CustomerGenerator:
    """Builds customer rows in COLUMNS order; one instance per generation run."""

    def __init__(self, seed: int, end: datetime, dirty_share: float, millis_share: float,
                 history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self.rng = random.Random(seed)
        self.random = self.rng.random
        self.end = end
        self.start = end - timedelta(days=history_days)
        self.dirty_share = dirty_share
        self.millis_share = millis_share

    # random.choice/randrange cost ~1 µs each; indexing by random() keeps 1M rows affordable.
    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def stamp(self, when: datetime) -> str:
        """Datetime text as stored; a share of values carries milliseconds."""
        if self.random() < self.millis_share:
            return stamp_text(when.replace(microsecond=(1 + self.below(999)) * 1000), True)
        return stamp_text(when, False)

    def empty_text(self) -> str:
        # Kingdee's text columns default to ' ', but cleared values come back as ''.
        return self.pick(("", " "))

    def master(self, seq: int) -> dict:
        rng = self.rng
        code, province, city = self.pick(_PROVINCES)
        name = city + self.pick(_BRANDS) + self.pick(_TRADES) + self.pick(_SUFFIXES)
        fund = round(self.pick((50, 100, 200, 500, 1000, 3000, 5000)) * 10000 * (0.5 + 1.5 * self.random()), 2)
        social = credit_code(rng, code)
        return {
            "FNumber": f"CUST{seq:06d}", "FName": name,
            "FShortName": name[2:6] if self.random() > 0.1 else self.empty_text(),
            "FRegisterFund": f"{fund:.2f}" if self.random() < 0.03 else fund,
            "FLegalPerson": self.pick(_SURNAMES) + self.pick(_GIVEN),
            "FSOCIALCRECODE": social,
            "FTAXREGISTERCODE": social if self.random() > 0.05 else self.empty_text(),
            "FTEL": (f"1{self.pick('3589')}{self.below(10**9):09d}" if self.random() < 0.5
                     else f"0{10 + self.below(989)}-{10**7 + self.below(9 * 10**7)}"),
            "FADDRESS": f"{province}{city}市{self.pick(_ROADS)}{1 + self.below(998)}号",
            "FZIP": code[:2] + f"{self.below(10000):04d}",
            "FWEBSITE": f"www.cust{seq:06d}.com.cn" if self.random() < 0.4 else self.empty_text(),
            "FFAX": self.empty_text() if self.random() < 0.8 else f"0{10 + self.below(989)}-{10**7 + self.below(9 * 10**7)}",
            "FGroup": 400100 + self.below(4), "FCustTypeId": 500100 + self.below(3),
            "FTRADINGCURRID": self.pick((1, 1, 1, 1, 2, 7)), "FCOUNTRY": COUNTRY_CHINA,
            "FPROVINCIAL": _PROVINCE_IDS[code],
            "FIsGroup": self.random() < 0.1, "FIsDefPayer": self.random() < 0.3,
            "FPriority": self.pick((1, 1, 2, 3)),
            "FDescription": self.empty_text() if self.random() < 0.7 else "长期合作客户",
        }

    def lifecycle(self, row: dict, created: datetime) -> None:
        """Statuses, dates and the users who stamped them, consistent with each other."""
        rng = self.rng
        span = max(1, int((self.end - created).total_seconds()))
        modified = created + timedelta(seconds=self.below(span)) if self.random() < 0.7 else created
        status = self.pick(_STATUSES)
        approved = created + (modified - created) * self.random() if status == "C" else None
        forbidden = self.random() < 0.07
        forbid_at = created + timedelta(seconds=self.below(span)) if forbidden else None
        row.update({
            "FDocumentStatus": status, "FForbidStatus": "B" if forbidden else "A",
            "FCreatorId": self.pick((100100, 100101, 100102)),
            "FModifierId": self.pick((100100, 100101, 100102)),
            "FApproverId": 100102 if approved else 0, "FForbidderId": 100102 if forbidden else 0,
            "FCreateDate": self.stamp(created), "FModifyDate": self.stamp(modified),
            "FApproveDate": self.stamp(approved) if approved else None,
            "FForbidDate": self.stamp(forbid_at) if forbid_at else None,
        })

    def make_dirty(self, row: dict) -> None:
        kind = self.pick(_DIRTY_KINDS)
        if kind == "empty_name":
            row["FName"] = self.empty_text()
        elif kind == "negative_fund":
            row["FRegisterFund"] = -abs(float(row["FRegisterFund"])) or -1.0
        elif kind == "bad_credit_code":
            row["FSOCIALCRECODE"] = row["FSOCIALCRECODE"][:15] + "IO"  # 17 chars, forbidden letters
        else:
            row["FModifyDate"] = "2001-01-01 00:00:00"

    def rows(self, count: int) -> Iterator[tuple]:
        rng = self.rng
        span = (self.end - self.start).total_seconds()
        offsets = sorted(self.random() for _ in range(count))
        custid, seq, made = FIRST_CUSTID, 0, 0
        to_tuple = itemgetter(*COLUMNS)
        while made < count:
            seq += 1
            shared = self.master(seq)
            orgs = self.pick(_ORG_SETS)
            master_id = custid
            for org in orgs[: count - made]:
                row = dict(shared, FCUSTID=custid, FMasterId=master_id, FCreateOrgId=1,
                           FUseOrgId=org[0], FSELLER=200100 + self.below(12),
                           FSALDEPTID=300100 + self.below(5))
                self.lifecycle(row, self.start + timedelta(seconds=offsets[made] * span))
                if self.random() < self.dirty_share:
                    self.make_dirty(row)
                yield to_tuple(row)
                made += 1
                # Ids are not dense: deleted customers leave gaps.
                custid += 1 if self.random() < 0.9 else 2 + self.below(4)


def generate(count: int, seed: int, end: datetime, dirty_share: float,
             millis_share: float, history_days: int = DEFAULT_HISTORY_DAYS) -> list[tuple]:
    """`count` customer rows with dates in the `history_days` before `end`, in FCUSTID order."""
    return list(CustomerGenerator(seed, end, dirty_share, millis_share, history_days).rows(count))
