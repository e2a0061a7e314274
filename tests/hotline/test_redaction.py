"""Personal data in free text (hotline.redaction): each kind in several notations, and the
neighbours that must stay (dates, amounts, ticket numbers, service lines, ordinary words)."""

from __future__ import annotations

import pytest

from hotline.redaction import UNIT_ENTITIES, id_number_is_valid, luhn_is_valid, redact


@pytest.mark.parametrize(
    ("text", "secret", "label"),
    [
        ("回电13800002222", "13800002222", "电话"),
        ("回电138-0000-2222", "138-0000-2222", "电话"),
        ("回电138.0000.2222", "138.0000.2222", "电话"),
        ("回电138 0000 2222", "138 0000 2222", "电话"),
        ("回电+86 138 0000 2222", "138 0000 2222", "电话"),
        ("回电１３８００００２２２２", "１３８００００２２２２", "电话"),
        ("回电一三八零零零零二二二二", "一三八零零零零二二二二", "电话"),
        ("回电幺三八〇〇〇〇二二二二", "幺三八〇〇〇〇二二二二", "电话"),
        ("座机0632-3312345", "3312345", "电话"),
        ("邮箱li.jianguo@example.com", "li.jianguo@example.com", "邮箱"),
        ("邮箱ABC_1@mail.sd.gov.cn", "ABC_1@mail.sd.gov.cn", "邮箱"),
        ("身份证11010519491231002X", "11010519491231002X", "身份证号"),
        ("身份证370402199001011234", "370402199001011234", "身份证号"),
        ("身份证一一零一零五一九四九一二三一零零二X", "一一零一零五一九四九一二三一零零二", "身份证号"),
        ("老身份证110105491231002", "110105491231002", "身份证号"),
        ("卡号6222021234567890128", "6222021234567890128", "银行卡号"),
        ("卡号4111 1111 1111 1111", "4111 1111 1111 1111", "银行卡号"),
        ("车牌鲁D12345", "鲁D12345", "车牌号"),
        ("车牌鲁D·D12345", "鲁D·D12345", "车牌号"),
        ("车牌京A8B9C7", "京A8B9C7", "车牌号"),
        ("住3号楼2单元502室", "502", "门牌"),
        ("住5栋1002", "1002", "门牌"),
        ("住12号楼1203", "1203", "门牌"),
        ("住3-2-502", "3-2-502", "门牌"),
        ("邮箱wangjg＠zz.gov.cn", "wangjg＠zz.gov.cn", "邮箱"),
        ("身份证370402 19900101 1234", "19900101", "身份证号"),
        ("卡号6222 0212 3456 7890 128", "3456 7890", "银行卡号"),
        ("车牌鲁D-12345", "鲁D-12345", "车牌号"),
        ("车牌鲁Ｄ１２３４５", "鲁Ｄ１２３４５", "车牌号"),
        ("电话壹叁捌零零零零贰贰贰贰", "壹叁捌零零零零贰贰贰贰", "电话"),
        ("电话138_0000_2222", "138_0000_2222", "电话"),
        ("业主欧阳娜娜已签字确认", "娜娜", "姓名"),
        ("业主张伟已签字确认", "张伟", "姓名"),
        ("已联系赵先生", "赵", "姓名"),
        ("微信wxid_zhang123", "zhang123", "社交账号"),
        ("QQ 123456789", "123456789", "社交账号"),
        ("住1002室", "1002", "门牌"),
        ("经办人李建国已回电", "李建国", "姓名"),
        ("联系人：刘洋表示同意", "刘洋", "姓名"),
        ("请张伟同志处理", "张伟", "姓名"),
    ],
)
def test_each_kind_is_replaced_by_its_label(text: str, secret: str, label: str) -> None:
    out = redact(text)
    assert secret not in out and f"〔{label}〕" in out, out


@pytest.mark.parametrize(
    "text",
    [
        "已于2026年3月5日办结，补发3000元。",
        "工单202609280000001已答复。",
        "请拨打12345热线或110报警，12315也可以。",
        "路灯已修复，感谢市民反映。",
        "银行卡挂失请到柜台办理。",
        "小区共有12栋楼，约3000户。",
        "关于您反映的薛城区常庄镇某服装厂拖欠工资问题，我局严格执行条例，严肃处理，杜绝此类问题。",
        "该楼1单元2019年翻修，5栋12户居民已搬回。",
        "向阳路、宋庄村、高新区、陶庄镇、周营镇的施工许可证号已公示。",
        "业主委员会已开会，负责人员已到场。",
    ],
)
def test_what_is_not_personal_stays(text: str) -> None:
    assert redact(text) == text


def test_the_callers_own_values_go_and_units_keep_places_and_names() -> None:
    assert redact("已联系王秀英，地址光明路88号", "王秀英", "光明路88号") == "已联系〔个人信息〕，地址〔个人信息〕"
    # the caller's landline without its area code, and its bracket kept
    assert redact("回电3312345", "0632-3312345") == "回电〔个人信息〕"
    assert redact("已联系本人（0632-3312345）") == "已联系本人（〔电话〕）"
    unit_view = redact("我叫李建国，住3号楼502室，电话13800002222，身份证370402199001011234", entities=UNIT_ENTITIES)
    assert "李建国" in unit_view and "3号楼502室" in unit_view
    assert "13800002222" not in unit_view and "370402199001011234" not in unit_view


def test_check_digits() -> None:
    assert id_number_is_valid("11010519491231002X") and not id_number_is_valid("110105194912310021")
    assert luhn_is_valid("4111111111111111") and not luhn_is_valid("4111111111111112")
