"""The dispatch classifier trained on the shipped catalogue: table-driven per first-level group,
emergencies and out-of-scope requests in everyday wording with their near misses, places in text
order, thresholds, determinism and equality with scikit-learn's own computation.

Every sentence here is written for these tests (none comes from the catalogue or from ../shared).
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from dataclasses import is_dataclass, replace

import numpy as np
import pytest

from bench.dispatch_cases import ACCEPTED_NEAR_MISSES, EMERGENCIES, NOT_EMERGENCIES, OUT_OF_SCOPE
from dispatcher.classifier import DispatchModel
from dispatcher.routing import AreaInput, RequestFacts, route
from hotline.dispatch import training
from hotline.dispatch.training import (
    DEFAULT_BLEND,
    MIN_REAL_HELD_OUT,
    Example,
    Selection,
    _prepare,
    catalogue_examples,
    choose_blend,
    fit,
    prune,
    train,
    with_blend,
)
from routing_rules.loader import Rulebook
from routing_rules.schema import CallerType, Disposition, Kind


def facts(content: str, kind: Kind = Kind.COMPLAINT, **kw: object) -> RequestFacts:
    return RequestFacts(content=content, kind=kind, **kw)  # type: ignore[arg-type]


def group_of(rb: Rulebook, leaf: str | None) -> str | None:
    assert rb.catalogue is not None
    return rb.catalogue.nodes[leaf].path[0] if leaf else None


@pytest.mark.parametrize(
    ("content", "group"),
    [
        ("我们楼的物业公司收了钱不干活，楼道灯坏了半个月也没人换", "城乡建设"),
        ("家里自来水这两天发黄，烧开了还有沉淀，想让供水公司来看看", "城乡建设"),
        ("单位一直没给我缴住房公积金，想问问怎么补缴", "城乡建设"),
        ("村东头那家塑料颗粒厂天天晚上偷排黑烟，呛得人睁不开眼", "环境保护"),
        ("河里漂着一层油花，上游好像有厂子往河里排污水", "环境保护"),
        (
            "12路公交车司机开车特别猛，还不按站停车，乘客下不了车",
            "城乡建设",
        ),  # 分类体系：城乡建设/城市建设和市政管理/公共汽车
        ("打的出租车司机故意绕远路，平时二十块的路收了四十", "交通运输"),
        ("孩子今年上小学，我们户口在这边却被划到很远的学校", "教育文体"),
        ("学校老师暑假在家里偷偷办补习班，一节课收一百多", "教育文体"),
        ("工地老板拖欠我们十几个人三个月工钱，一直说下个月给", "劳动和社会保障"),
        ("我办了退休手续两个月了，养老金一直没到账", "劳动和社会保障"),
        ("网上买的羽绒服质量很差，商家拒绝退货退款", "商贸旅游"),
        ("景区门票说好的优惠到了门口不给用，导游还强制购物", "商贸旅游"),
        ("社区医院打疫苗排队太乱，护士态度也很差", "卫生计生"),
        ("想给二胎孩子办出生医学证明，不知道需要带什么材料", "卫生计生"),
        ("想把孩子户口从老家迁过来，派出所说材料不全", "政法"),
        ("楼下有人开赌场，每天晚上很多人进出很吵", "政法"),
        ("家里老人生活困难，想申请低保不知道去哪里办", "民政"),
        ("我是退伍军人，安置工作的事情一直没人落实", "民政"),
        ("村里发的耕地地力补贴我家今年没拿到", "农村农业"),
        ("买的玉米种子种下去一半没出苗，怀疑是假种子", "农村农业"),
        (
            "办不动产权证跑了好几趟，说是缺一个测绘报告",
            "城乡建设",
        ),  # 分类体系：城乡建设/住房保障与房地产/房产证登记、办理
        ("有人在村里耕地上偷偷盖厂房，占了好几亩良田", "国土资源"),
        ("我们公司申报的稳岗补贴审核很久了还没发下来", "经济管理"),
        ("开发票的时候系统一直提示税号错误，想咨询税务", "经济管理"),
        ("手机信号特别差，在家里打电话老是断", "科技与信息产业"),
        ("宽带装了一个月网速一直达不到套餐写的速度", "科技与信息产业"),
        ("党员组织关系想从原单位转到现在的社区", "党务政务"),
        ("想在网上办营业执照变更，政务服务网上的办事指南和大厅窗口说的材料不一样", "党务政务"),
        ("举报我们村支书收了承包商的好处费，把工程给了亲戚", "纪检监察"),
    ],
)
def test_each_first_level_group_is_recognised_in_everyday_words(
    rulebook: Rulebook, dispatch_model: DispatchModel, content: str, group: str
) -> None:
    prediction = dispatch_model.predict(content)
    best = prediction.best
    assert best is not None
    assert group_of(rulebook, best.leaf) == group
    top3 = [group_of(rulebook, c.leaf) for c in prediction.candidates]
    assert group in top3


@pytest.mark.parametrize(("content", "line"), EMERGENCIES)
def test_clear_emergencies_in_everyday_words_are_transferred(
    rulebook: Rulebook, dispatch_model: DispatchModel, content: str, line: str
) -> None:
    d = route(facts(content, Kind.HELP), rulebook, dispatch_model)
    assert d.disposition is Disposition.EMERGENCY_TRANSFER
    assert d.transfer_to == line
    assert d.units == ()
    assert d.script and line in d.script
    assert d.category_path  # the emergency leaf of the catalogue
    assert d.model_version == dispatch_model.version


@pytest.mark.parametrize("content", NOT_EMERGENCIES)
def test_narratives_of_past_events_and_passing_mentions_are_not_emergencies(
    rulebook: Rulebook, dispatch_model: DispatchModel, content: str
) -> None:
    d = route(facts(content), rulebook, dispatch_model)
    assert d.disposition is not Disposition.EMERGENCY_TRANSFER


@pytest.mark.parametrize(("content", "reason"), OUT_OF_SCOPE)
def test_clear_out_of_scope_requests_are_not_accepted(
    rulebook: Rulebook, dispatch_model: DispatchModel, content: str, reason: str
) -> None:
    d = route(facts(content), rulebook, dispatch_model)
    assert d.disposition is Disposition.NOT_ACCEPTED
    assert d.reason_code == reason
    assert d.script == rulebook.not_accepted[reason].script


@pytest.mark.parametrize("content", ACCEPTED_NEAR_MISSES)
def test_passing_mentions_of_courts_or_discipline_are_accepted(
    rulebook: Rulebook, dispatch_model: DispatchModel, content: str
) -> None:
    d = route(facts(content), rulebook, dispatch_model)
    assert d.disposition is not Disposition.NOT_ACCEPTED


def test_low_confidence_goes_to_manual_dispatch_with_suggestions(
    rulebook: Rulebook, dispatch_model: DispatchModel
) -> None:
    d = route(facts("你好我想反映个情况"), rulebook, dispatch_model)
    assert d.rule_id == "classifier.unsure"
    assert d.units[0].code == "centre.dispatch"
    assert d.category is None
    assert 1 <= len(d.suggestions) <= 3
    confidences = [s.confidence for s in d.suggestions]
    assert confidences == sorted(confidences, reverse=True)  # best first
    assert all(s.confidence < rulebook.policy.dispatch.confidence_threshold for s in d.suggestions[:1])


def test_confident_decision_records_path_suggestions_terms_and_versions(
    rulebook: Rulebook, dispatch_model: DispatchModel
) -> None:
    d = route(facts("小区物业费涨价了，业主都没同意，物业就直接按新标准收"), rulebook, dispatch_model)
    assert d.category_source == "model"
    assert d.category is not None
    assert d.category_path[0] == "城乡建设"
    assert len(d.category_path) == 3
    assert d.suggestions[0].category == d.category
    assert d.terms  # the words that weighed most
    out = d.as_dict()
    assert out["model_version"] == dispatch_model.version
    assert out["rulebook_version"] == rulebook.version
    assert set(out["suggestions"][0]) >= {"category", "category_path", "unit", "confidence"}


def test_agent_choice_overrides_the_model_and_model_still_suggests(
    rulebook: Rulebook, dispatch_model: DispatchModel
) -> None:
    d = route(facts("小区物业费乱涨价", category="education.school"), rulebook, dispatch_model)
    assert d.category == "education.school"
    assert d.category_source == "agent"
    assert d.units[0].code == "city.education"
    assert d.suggestions


def test_merger_list_lines_keep_precedence_over_the_model(rulebook: Rulebook, dispatch_model: DispatchModel) -> None:
    d = route(facts("学校乱收费的问题", line="12333"), rulebook, dispatch_model)
    assert d.rule_id == "merger.responsible_unit"
    assert d.units[0].code == "city.human_resources"
    sub = route(facts("发票开错了怎么办", line="12366"), rulebook, dispatch_model)
    assert sub.disposition is Disposition.SUBCENTRE


def test_enterprise_and_direct_answer_rules_still_apply(rulebook: Rulebook, dispatch_model: DispatchModel) -> None:
    d = route(facts("社保卡在哪里补办", Kind.CONSULTATION, has_answer=True), rulebook, dispatch_model)
    assert d.disposition is Disposition.DIRECT_ANSWER
    e = route(facts("我们公司的稳岗补贴一直没发", caller_type=CallerType.ENTERPRISE), rulebook, dispatch_model)
    assert e.disposition is Disposition.DISPATCH


def test_territorial_leaf_goes_to_the_place_named_in_text(rulebook: Rulebook, dispatch_model: DispatchModel) -> None:
    d = route(
        facts("薛城区临城街道有个小区物业不给维修漏水的屋顶", category="housing.property"), rulebook, dispatch_model
    )
    assert d.area.source == "text"
    assert d.area.town == "town.xuecheng.lincheng"
    assert d.units[0].code == "town.xuecheng.lincheng"  # 物业管理 is territorial


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("薛城这边的路灯坏了好久", "district.xuecheng"),
        ("山亭西集镇有个垃圾点没人清", "district.shanting"),
        ("我在滕州上班，家在峄城区，峄城区的路坏了", None),  # two districts: flagged, none picked
    ],
)
def test_places_are_read_in_text_order_with_aliases(rulebook: Rulebook, text: str, district: str | None) -> None:
    d = route(facts(text), rulebook)
    assert d.area.district == district
    if district is None:
        assert set(d.area.conflict) == {"district.tengzhou", "district.yicheng"}
        assert any(w.code == "area.multiple_districts" for w in d.warnings)


def test_town_and_its_district_in_one_text_are_not_a_conflict(rulebook: Rulebook) -> None:
    d = route(facts("山亭区西集镇的自来水停了"), rulebook)
    assert d.area.town == "town.shanting.xiji"
    assert d.area.conflict == ()


def _differences(a: object, b: object, where: str = "model") -> list[str]:
    """Every field (arrays, dicts, lists, scalars; derived fields too) where two models differ."""
    if is_dataclass(a) and is_dataclass(b):
        return [
            d
            for f in dataclass_fields(a)
            if f.name != "version"
            for d in _differences(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        ]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}[{k}]")]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return [] if np.array_equal(np.asarray(a), np.asarray(b)) else [where]
    return [] if a == b else [where]


def test_training_is_deterministic(rulebook: Rulebook) -> None:
    assert rulebook.catalogue is not None
    some = {"urban_rural", "health", "discipline"}
    data = [
        e
        for e in _prepare(rulebook.catalogue, catalogue_examples(rulebook.catalogue))
        if rulebook.catalogue.nodes[e.label].path_codes[0] in some
    ]
    # train() as the service runs it: the probe and the final fit in two worker processes, with
    # both classifiers on chi²-chosen features; twice, and against one fit in this process
    choice = Selection(group=20_000, second=20_000)
    a = train(rulebook.catalogue, data, "a", choice).model
    b = train(rulebook.catalogue, data, "b", choice).model
    assert a.seconds is not None and a.leaves and a.groups.cols is not None
    assert _differences(a, b) == []
    alone, _ = fit(rulebook.catalogue, _prepare(rulebook.catalogue, data), "c", choice)
    assert _differences(a, with_blend(alone, a.blend)) == []


def test_prune_keeps_the_largest_weights_and_their_ties() -> None:
    class Estimator:
        def __init__(self, coef: list[list[float]]) -> None:
            self.coef_ = np.array(coef)

    est = Estimator([[0.1, -3.0, 0.5], [2.0, -0.2, 0.0]])
    prune(est, 2)
    assert est.coef_.tolist() == [[0.0, -3.0, 0.0], [2.0, 0.0, 0.0]]
    est = Estimator([[1.0, -1.0], [1.0, 0.5]])
    prune(est, 1)  # three weights tie for the largest: all stay
    assert est.coef_.tolist() == [[1.0, -1.0], [1.0, 0.0]]
    est = Estimator([[1.0, 2.0]])
    prune(est, 5)
    assert est.coef_.tolist() == [[1.0, 2.0]]
    prune(est, 0)
    assert est.coef_.tolist() == [[0.0, 0.0]]


def test_a_lone_surrogate_is_read_not_refused(rulebook: Rulebook, dispatch_model: DispatchModel) -> None:
    # JSON allows "\ud800"; it cannot be encoded, so it is read as U+FFFD
    cols, vals = dispatch_model.features("楼道灯坏了\ud800半个月")
    assert len(cols) == len(vals) > 0
    decision = route(facts("家里燃气泄漏\udfff了，闻到很大的煤气味，阀门关不上"), rulebook, dispatch_model)
    assert decision.disposition is Disposition.EMERGENCY_TRANSFER


def test_compiled_inference_equals_scikit_learn(rulebook: Rulebook, monkeypatch: pytest.MonkeyPatch) -> None:
    assert rulebook.catalogue is not None
    # both classifiers on a chosen subset of the features, so the column mapping is exercised, and
    # the second level pruned to a hundredth of the full space's weights
    monkeypatch.setattr(training, "SECOND_KEEP", 0.01)
    some = {"labour_social", "education_culture", "science_it"}
    data = [
        e
        for e in _prepare(rulebook.catalogue, catalogue_examples(rulebook.catalogue))
        if rulebook.catalogue.nodes[e.label].path_codes[0] in some
    ]
    model, fitted = fit(rulebook.catalogue, data, "x", Selection(group=3_000, second=5_000))
    texts = [
        "楼上装修噪音太大了，周末早上七点就开始砸墙",
        "ＡＢＣ公司拖欠工资１２３元",
        "",
        "！！！",
        "学校 食堂 饭菜 不卫生",
        "a",
        "学校",
        "\x00学\x00校😀",
        "\U0010ffff食堂",
    ]
    x = fitted.features.transform(texts).tocsr()
    assert fitted.group_cols is not None and len(fitted.group_cols) == 3_000
    proba = fitted.group_clf.predict_proba(x[:, fitted.group_cols])
    for i, text in enumerate(texts):
        cols, vals = model.features(text)
        row = x[i]
        order = np.argsort(row.indices)
        assert list(cols) == list(row.indices[order])
        assert np.allclose(vals, row.data[order], atol=1e-6)
        assert np.allclose(model.groups.proba(cols, vals), proba[i], atol=1e-6)
    for g, (clf, cols) in fitted.leaf_clfs.items():
        sub = x[:, cols]
        expected = clf.predict_proba(sub)
        for i, text in enumerate(texts):
            c, v = model.features(text)
            assert np.allclose(model.leaves[g].proba(c, v), expected[i], atol=1e-6)
    # the second-level classifier, pruned as trained, and its sum per group blended in
    assert model.seconds is not None and model.second_group is not None and fitted.second_clf is not None
    # it sees only the most telling features (chi²), and keeps a tenth of the full space's weights
    assert fitted.second_cols is not None and len(fitted.second_cols) == 5_000
    seconds = fitted.second_clf.predict_proba(x if fitted.second_cols is None else x[:, fitted.second_cols])
    kept = fitted.second_clf.calibrated_classifiers_[0].estimator.coef_
    target = round(0.01 * x.shape[1] * kept.shape[0])
    assert target < kept.size and target <= np.count_nonzero(kept) <= 1.01 * target
    for i, text in enumerate(texts):
        c, v = model.features(text)
        assert np.allclose(model.seconds.proba(c, v), seconds[i], atol=1e-6)
        summed = np.zeros(len(model.groups.classes))
        for k, code in enumerate(fitted.second_clf.classes_):
            summed[model.groups.classes.index(rulebook.catalogue.nodes[code].path_codes[0])] += seconds[i][k]
        want = model.blend * proba[i] + (1 - model.blend) * summed
        assert np.allclose(model.group_proba(c, v), want, atol=1e-6)
        assert abs(model.group_proba(c, v).sum() - 1) < 1e-9
    # the words that weighed most are among the features the group classifier saw
    terms = model.predict("学校食堂的饭菜不卫生，孩子吃了拉肚子", explain=True).terms
    assert terms and all(model.word_vocab[t] in set(fitted.group_cols.tolist()) for t in terms)


def test_the_blend_is_chosen_on_held_out_real_requests_only_when_there_are_enough(rulebook: Rulebook) -> None:
    assert rulebook.catalogue is not None
    cat = rulebook.catalogue
    some = {"labour_social", "education_culture", "science_it"}
    data = [e for e in _prepare(cat, catalogue_examples(cat)) if cat.nodes[e.label].path_codes[0] in some]
    model, _ = fit(cat, data, "x")
    held = data[:200]
    assert choose_blend(cat, model, held) == DEFAULT_BLEND  # written examples only
    # "real" requests labelled as the group classifier sees them: the blend moves towards it
    classes = model.groups.classes
    assert model.seconds is not None and model.second_group is not None
    agree: list[Example] = []
    disagree: list[Example] = []
    # texts of matters the model was not trained on: it must guess, and its two views differ
    others = [e.text for e in _prepare(cat, catalogue_examples(cat)) if cat.nodes[e.label].path_codes[0] not in some]
    for text in others[::5]:
        own, summed = model.group_views(*model.features(text))
        assert summed is not None
        by_group = int(np.argmax(own))
        (agree if by_group == int(np.argmax(summed)) else disagree).append(Example(text, classes[by_group], "import"))
    assert disagree
    real = disagree + agree[: max(0, MIN_REAL_HELD_OUT - len(disagree))]

    def hits(blend: float, items: list[Example]) -> int:
        m = with_blend(model, blend)
        return sum(classes[int(np.argmax(m.group_proba(*m.features(e.text))))] == e.label for e in items)

    assert len(real) >= MIN_REAL_HELD_OUT and hits(DEFAULT_BLEND, real) < len(real)
    assert choose_blend(cat, model, real[: MIN_REAL_HELD_OUT - 1]) == DEFAULT_BLEND  # too few to choose
    chosen = choose_blend(cat, model, real)
    assert chosen > DEFAULT_BLEND and hits(chosen, real) == len(real) == hits(1.0, real)
    assert with_blend(model, 0.5).blend == 0.5 and with_blend(replace(model, seconds=None), 0.5).blend == 1.0


def test_an_agent_category_never_silences_an_emergency(rulebook: Rulebook, dispatch_model: DispatchModel) -> None:
    d = route(
        facts("家里燃气泄漏了，闻到很大煤气味，阀门关不上", category="housing.property"), rulebook, dispatch_model
    )
    assert d.disposition is Disposition.EMERGENCY_TRANSFER
    assert d.transfer_to == "119"
    assert d.script is not None and "燃气" in d.script  # the leaf's own script, not the fire script


def test_a_place_bound_matter_naming_two_districts_goes_to_the_centre(
    rulebook: Rulebook, dispatch_model: DispatchModel
) -> None:
    d = route(facts("滕州市和峄城区交界那条路上的垃圾堆了一个月没人清运"), rulebook, dispatch_model)
    assert d.area.conflict
    if d.suggestions and rulebook.categories.get(d.suggestions[0].category) is not None:
        assert d.units[0].code == "centre.dispatch"
        assert d.rule_id == "classifier.unsure"


def test_a_leaf_limit_applies_only_when_the_leaf_chose_the_unit(
    rulebook: Rulebook, dispatch_model: DispatchModel
) -> None:
    own = route(facts("井盖丢了", category="urban_rural.municipal.manhole"), rulebook, dispatch_model)
    assert own.time_limit_working_days == 1
    merged = route(facts("井盖丢了", category="urban_rural.municipal.manhole", line="12333"), rulebook, dispatch_model)
    assert merged.units[0].code == "city.human_resources"
    assert merged.time_limit_working_days is None


def test_a_town_in_the_text_is_kept_when_the_agent_typed_only_its_district(rulebook: Rulebook) -> None:
    d = route(facts("薛城区常庄街道光明路的路灯坏了好几天了", area=AreaInput(district="薛城区")), rulebook)
    assert (d.area.district, d.area.town) == ("district.xuecheng", "town.xuecheng.changzhuang")
    other = route(facts("山亭区西集镇的路灯坏了", area=AreaInput(district="薛城区")), rulebook)
    assert other.area.town is None  # a town of another district is not taken


def test_two_districts_send_even_the_agents_place_bound_category_to_the_centre(
    rulebook: Rulebook, dispatch_model: DispatchModel
) -> None:
    d = route(facts("我住滕州，在峄城区上班，峄城区的路坏了", category="housing.property"), rulebook, dispatch_model)
    assert d.units[0].code == "centre.dispatch"
    assert "多个区（市）" in d.explanation
