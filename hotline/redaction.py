"""Personal data in free text, found and masked (issue 10, item 3): what public pages, exports and
unit handlers are shown of a text that may hold it.

Built on Microsoft Presidio (``presidio-analyzer`` finds, ``presidio-anonymizer`` replaces) with
our own Chinese recognisers, and ``phonenumbers`` for telephone numbers. Presidio's spaCy models
are not used (there is no maintained Chinese one to install offline): a no-op NLP engine runs the
pattern recognisers alone, and personal names come from ``jieba``'s segmentation with cues.
Full-width characters (＠, Ｄ, １) and Chinese numerals (一三八, 壹叁捌, 幺) are read as ASCII.

Found, in any notation a caller or a clerk writes them:

* telephone numbers — separators (``138-0000-2222``, ``138.0000.2222``, ``138 0000 2222``),
  full-width digits, Chinese numerals (``一三八〇〇〇〇二二二二``, ``幺`` for one), landlines with
  an area code (``0632-3312345``), ``+86``;
* e-mail addresses;
* resident ID numbers: 18 digits with a valid check digit (GB 11643) or a plausible birth date
  (a mistyped check digit still identifies someone), and the old 15 digits;
* bank card numbers (16–19 digits passing the Luhn check);
* licence plates (``鲁D12345``, ``鲁D·D12345`` new-energy plates);
* house numbers below the street (``3号楼2单元502室``, ``5栋1002``, ``502室``);
* personal names where the text says it is one: after a cue (联系人、业主、我叫、社保科 …) or
  before a form of address (先生、女士、同志 …); a bare name with no cue can pass, and the
  reviewer removes it from the proposed public text (jieba's name tag alone also takes 严格、
  杜绝、薛城区 for names);
* WeChat and QQ accounts; and any value given (the caller's own name, phone, address; a phone
  also without its separators or its area code).

Each is replaced by a Chinese label in brackets (``〔电话〕``), never partially shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, cast

import phonenumbers
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.recognizer_registry import RecognizerRegistry
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

LANGUAGE = "zh"

LABELS = {
    "PHONE": "电话",
    "EMAIL": "邮箱",
    "ID_CARD": "身份证号",
    "BANK_CARD": "银行卡号",
    "PLATE": "车牌号",
    "HOUSE": "门牌",
    "PERSON": "姓名",
    "IM": "社交账号",
    "KNOWN": "个人信息",
}
"""Entity -> the Chinese word shown in its place."""

PUBLIC_ENTITIES = tuple(e for e in LABELS if e != "KNOWN")
"""What a public page or export never shows."""

UNIT_ENTITIES = ("PHONE", "EMAIL", "ID_CARD", "BANK_CARD")
"""What a handling unit is not shown of identifiers typed into a request's content (it needs the
place and the people involved to do its work, not numbers that identify someone)."""

_NUMERALS = str.maketrans(
    {
        **{0xFF01 + i: chr(0x21 + i) for i in range(94)},  # full-width ASCII (＠, Ｄ, １ …)
        **dict(zip(map(ord, "〇零一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖"), "0012345678912123456789", strict=True)),
    }
)
"""Chinese and full-width digits to ASCII, one character for one, so offsets stay the same."""


class _NoNlp(NlpEngine):
    """An NLP engine that finds nothing: only the pattern recognisers run."""

    def load(self) -> None:
        return None

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[], tokens=cast(Any, []), tokens_indices=[], lemmas=[], nlp_engine=self, language=language
        )

    def process_batch(
        self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs: Any
    ) -> Any:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return False

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return [LANGUAGE]


class PhoneRecognizer(EntityRecognizer):
    """Telephone numbers by ``phonenumbers`` (China), on the text with its numerals made ASCII."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PHONE"], supported_language=LANGUAGE, name="phonenumbers")

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        plain = text.translate(_NUMERALS)
        found = []
        for m in phonenumbers.PhoneNumberMatcher(plain, "CN", leniency=phonenumbers.Leniency.VALID):
            start = m.start
            if plain[start] == "(" and ")" not in plain[start : m.end]:
                start += 1  # a bracket around the number, not part of it
            found.append(RecognizerResult("PHONE", start, m.end, 0.9))
        # dotted or spaced mobile numbers phonenumbers leaves alone (138.0000.2222)
        found += [RecognizerResult("PHONE", m.start(), m.end(), 0.85) for m in _MOBILE.finditer(plain)]
        return found


_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s.\-_]?)?1[3-9]\d(?:[\s.\-·_]?\d){8}(?!\d)")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_is_valid(number: str) -> bool:
    """An 18-digit resident ID number whose check digit is right (GB 11643-1999)."""
    n = number.upper()
    if len(n) != 18 or not n[:17].isdigit():
        return False
    return _ID_CHECK[sum(int(d) * w for d, w in zip(n[:17], _ID_WEIGHTS, strict=True)) % 11] == n[17]


def luhn_is_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return len(digits) >= 16 and total % 10 == 0


class _Numbered(PatternRecognizer):
    """A pattern recogniser that sees the text with Chinese and full-width numerals made ASCII."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags: int | None = None
    ) -> list[RecognizerResult]:
        return super().analyze(text.translate(_NUMERALS), entities, nlp_artifacts, regex_flags)


class IdCardRecognizer(_Numbered):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="ID_CARD",
            supported_language=LANGUAGE,
            name="resident id",
            patterns=[
                # digits may be grouped by spaces or dashes (370402 19900101 1234)
                Pattern("id18", r"(?<![0-9A-Za-z])\d(?:[\s\-]?\d){16}[\s\-]?[0-9Xx](?![0-9A-Za-z])", 0.5),
                Pattern("id15", r"(?<![0-9A-Za-z])\d(?:[\s\-]?\d){14}(?![0-9A-Za-z])", 0.4),
            ],
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        pattern_text = re.sub(r"[\s\-]", "", pattern_text)
        if len(pattern_text) == 18:
            # a mistyped check digit still identifies someone: a plausible birth date is enough
            year, month, day = int(pattern_text[6:10]), int(pattern_text[10:12]), int(pattern_text[12:14])
            plausible = 1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31
            return id_number_is_valid(pattern_text) or plausible
        # the old 15 digits: a region code, then the birth date as YYMMDD, then a sequence
        month, day = int(pattern_text[8:10]), int(pattern_text[10:12])
        return 1 <= month <= 12 and 1 <= day <= 31


class BankCardRecognizer(_Numbered):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="BANK_CARD",
            supported_language=LANGUAGE,
            name="bank card",
            patterns=[Pattern("card", r"(?<![\d.])\d(?:[\s\-.]?\d){15,18}(?![\d])", 0.4)],
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        digits = re.sub(r"\D", "", pattern_text)
        return 16 <= len(digits) <= 19 and luhn_is_valid(digits)


_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


def _patterns(entity: str, name: str, regexes: Sequence[str], score: float = 0.6) -> PatternRecognizer:
    return _Numbered(
        supported_entity=entity,
        supported_language=LANGUAGE,
        name=name,
        patterns=[Pattern(f"{name}{i}", r, score) for i, r in enumerate(regexes)],
    )


class PersonRecognizer(EntityRecognizer):
    """Personal names where the text says it is one: a word beginning with a surname right after a
    cue (联系人、经办人、业主、我叫 …) or right before a form of address (先生、女士、同志 …).

    jieba's name tag alone (``nr``) is not enough: it tags 严格、杜绝、薛城区 too, and replacing
    those makes a reply unreadable. A bare name with no cue can therefore pass; the reviewer sees
    the proposed public text and removes it (答复审核)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], supported_language=LANGUAGE, name="named person")

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        import jieba

        tokens: list[tuple[str, int]] = []
        at = 0
        for word in jieba.cut(text, HMM=True):
            start = text.find(word, at)
            if start < 0:
                continue
            tokens.append((word, start))
            at = start + len(word)
        out: list[RecognizerResult] = [
            RecognizerResult("PERSON", m.start(1), m.end(1), 0.6) for m in _CUED_NAME.finditer(text)
        ]
        for i, (word, start) in enumerate(tokens):
            # a form of address glued to the name by the segmenter: 赵先生, 张伟同志
            for title in _TITLES:
                if word.endswith(title) and 1 <= len(word) - len(title) <= 3 and _has_surname(word):
                    out.append(RecognizerResult("PERSON", start, start + len(word) - len(title), 0.6))
            if word in _TITLES and i > 0:
                prev, prev_at = tokens[i - 1]
                if 1 <= len(prev) <= 3 and _has_surname(prev) and _is_han(prev):
                    out.append(RecognizerResult("PERSON", prev_at, prev_at + len(prev), 0.6))
            if word in _CUES:
                j = i + 1
                while j < len(tokens) and tokens[j][0] in {"：", ":", " ", "是", "为"}:
                    j += 1
                if j < len(tokens):
                    name, name_at = tokens[j]
                    if 2 <= len(name) <= 4 and _has_surname(name) and _is_han(name) and name not in _NOT_NAMES:
                        out.append(RecognizerResult("PERSON", name_at, name_at + len(name), 0.6))
        return out


_CUES = frozenset(
    {
        "联系人",
        "经办人",
        "负责人",
        "业主",
        "我叫",
        "叫",
        "姓名",
        "户主",
        "收件人",
        "当事人",
        "房东",
        "租户",
        "承租人",
        "申请人",
        "被投诉人",
        "举报人",
        "家属",
        "儿子",
        "女儿",
        "丈夫",
        "妻子",
        "邻居",
    }
)
_UNIT_CUES = frozenset({"科", "股", "所", "站", "办", "队", "中心", "社区", "村委", "居委会", "网格员", "工作人员"})
"""An office right before a name (社保科李建国已联系…): the name of who acted, not of the office."""
_TITLES = (
    "先生",
    "女士",
    "同志",
    "师傅",
    "老师",
    "经理",
    "主任",
    "书记",
    "科长",
    "局长",
    "大爷",
    "大妈",
    "阿姨",
    "小姐",
)


_CUED_NAME = re.compile(
    "(?:" + "|".join(sorted(_CUES | _UNIT_CUES, key=len, reverse=True)) + ")[:：\\s]*"
    "((?:" + "|".join(sorted({"欧阳", "司马", "诸葛", "上官", "皇甫", "司徒", "令狐", "慕容", "东方", "夏侯"})) + ")"
    "[\u4e00-\u9fff]{1,2}?|["
    + "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    + "][\u4e00-\u9fff]{1,2}?)"
    "(?=已|在|的|于|说|称|表示|反映|要求|同意|签字|先生|女士|[，。、,；;\\s（(：:]|$)"
)
"""A name right after a cue, when the segmenter glued it to what follows (业主张伟已签字)."""


def _is_han(word: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in word)


_NOT_NAMES = frozenset({"市民", "诉求人", "来电人", "工作人员", "经办人", "领导", "师傅", "同志"})

_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
"""Common single-character surnames: jieba also tags unknown words as names (银行卡 …), so a name
must begin with one (or with a compound surname)."""
_COMPOUND_SURNAMES = frozenset(
    {"欧阳", "司马", "诸葛", "上官", "皇甫", "司徒", "令狐", "慕容", "东方", "夏侯", "尉迟", "长孙"}
)


def _has_surname(word: str) -> bool:
    return word[:2] in _COMPOUND_SURNAMES or word[0] in _SURNAMES


@lru_cache(maxsize=1)
def _engines() -> tuple[AnalyzerEngine, AnonymizerEngine]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    registry.add_recognizer(PhoneRecognizer())
    registry.add_recognizer(IdCardRecognizer())
    registry.add_recognizer(BankCardRecognizer())
    registry.add_recognizer(_patterns("EMAIL", "email", [r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"], 0.9))
    registry.add_recognizer(
        _patterns(
            "PLATE",
            "plate",
            [rf"[{_PROVINCES}]\s?[A-Z][·•\.\s\-]?[A-Z0-9]{{4,5}}[A-Z0-9挂学警港澳领使](?![A-Z0-9])"],
            0.8,
        )
    )
    registry.add_recognizer(
        _patterns(
            "HOUSE",
            "house",
            [
                # a building with a unit, floor or room (号楼/栋 alone is how many buildings there are)
                r"\d+\s*(?:号楼|栋|幢|座)\s*(?:\d+\s*单元)?\s*(?:\d+\s*(?:层|楼))?\s*\d{3,4}\s*(?:室|号|户)?(?![\d年])",
                r"\d+\s*(?:号楼|栋|幢|座)\s*\d+\s*单元(?:\s*\d+\s*(?:室|号|户))?",
                r"(?<![\d年])\d+\s*单元\s*\d{3,4}\s*(?:室|号|户)?(?![\d年])",
                r"(?<!\d)\d{3,4}\s*室",
                r"(?<![\d\-])\d{1,3}-\d{1,2}-\d{3,4}(?![\d\-])",  # 3-2-502: building-unit-room
            ],
            0.7,
        )
    )
    registry.add_recognizer(PersonRecognizer())
    registry.add_recognizer(
        _patterns(
            "IM",
            "im",
            [
                r"wxid_[A-Za-z0-9_\-]{4,30}",
                r"(?<=微信)号?[:：\s]*[A-Za-z][A-Za-z0-9_\-]{5,19}",
                r"(?i)(?<=QQ)号?[:：\s]*\d{5,11}",
            ],
            0.8,
        )
    )
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=_NoNlp(), supported_languages=[LANGUAGE])
    return analyzer, AnonymizerEngine()  # type: ignore[no-untyped-call]


def find(text: str, entities: Sequence[str] = PUBLIC_ENTITIES) -> list[RecognizerResult]:
    """The personal data in ``text`` (character offsets), of the given kinds."""
    if not text:
        return []
    analyzer, _ = _engines()
    return analyzer.analyze(text=text, language=LANGUAGE, entities=list(entities), score_threshold=0.3)


def redact(text: str, *known: str | None, entities: Sequence[str] = PUBLIC_ENTITIES) -> str:
    """``text`` with every piece of personal data of ``entities`` replaced by its label in
    brackets (``〔电话〕``), and each of ``known`` (the caller's own name, phone …) too."""
    if not text:
        return text
    _, anonymizer = _engines()
    results = find(text, entities)
    variants: list[str] = []
    for value in known:
        if value:
            variants.append(value)
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 7 and digits != value:
                variants.append(digits)  # 0632-3312345 written as 06323312345
            local = value.rsplit("-", 1)[-1]
            if local != value and len(local) >= 7 and local.isdigit():
                variants.append(local)  # …and as 3312345, without its area code
    for value in variants:
        if value and len(value.strip()) >= 2:
            for m in re.finditer(re.escape(value.strip()), text):
                results.append(RecognizerResult("KNOWN", m.start(), m.end(), 1.0))
    if not results:
        return text
    operators = {e: OperatorConfig("replace", {"new_value": f"〔{LABELS[e]}〕"}) for e in LABELS}
    return anonymizer.anonymize(text=text, analyzer_results=cast(Any, results), operators=operators).text


def personal_values(caller: Any, ticket: Any = None) -> tuple[str | None, ...]:
    """The values of a caller (and the ticket's address) that a text about them must not repeat."""
    return (
        getattr(caller, "name", None),
        getattr(caller, "phone", None),
        getattr(caller, "enterprise_name", None),
        getattr(caller, "credit_code", None),
        getattr(ticket, "address", None) if ticket is not None else None,
    )
