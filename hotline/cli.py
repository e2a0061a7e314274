"""``python -m hotline``: serve, migrate, users, calendar import, demo data, KPI rollup refresh."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import database_url, make_engine, make_sessionmaker, unit_of_work
from hotline.errors import DomainError, InvalidInput
from hotline.runtime import Runtime
from hotline.settings import Settings, get_settings
from routing_rules.loader import Rulebook, RulebookError, load_rulebook

T = TypeVar("T")

DEMO_USERS = [
    ("agent1", "agent", None, "Agent#12345", "话务座席（演示）"),
    ("supervisor1", "supervisor", None, "Super#12345", "热线中心督办（演示）"),
    ("admin1", "admin", None, "Admin#12345", "系统管理员（演示）"),
    ("bianban1", "arbitrator", None, "Arbit#12345", "市委编办裁定人员（演示）"),
    ("hrss1", "unit_handler", "city.human_resources", "Unit#12345", "市人力资源社会保障局经办人（演示）"),
    ("urban1", "unit_handler", "city.urban_management", "Unit#12345", "市城市管理局经办人（演示）"),
    ("xuecheng1", "unit_handler", "district.xuecheng", "Unit#12345", "薛城区经办人（演示）"),
    ("changzhuang1", "unit_handler", "town.xuecheng.changzhuang", "Unit#12345", "常庄街道分中心经办人（演示）"),
]


def _rulebook(settings: Settings) -> Rulebook:
    try:
        return load_rulebook(settings.rulebook_dir)
    except RulebookError as exc:
        print(f"无法启动：{exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(database_url(settings), settings)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.migrate import load_reference_data, upgrade

    rulebook = _rulebook(settings)
    upgrade(database_url(settings))
    result = _in_transaction(settings, lambda s: load_reference_data(s, rulebook))
    years = result.calendar_years_added
    print(f"数据库已迁移到最新版本；承办单位 {result.units} 个（规则库 {rulebook.version}）；", end="")
    print(f"新载入法定节假日 {len(years)} 年" + (f"（{years[0]}–{years[-1]}）" if years else ""))
    from hotline.dispatch.service import ensure_model

    outcome = _with_runtime(settings, rulebook, lambda s, rt: ensure_model(s, rt))
    if outcome is not None:
        m = outcome.metrics
        print(
            f"已用派单目录示例训练并启用派单模型 {outcome.version}：{outcome.n_examples} 条样本，"
            f"留出集一级准确率 {m.get('accuracy', 0):.1%}，用时 {outcome.seconds:.1f} 秒"
        )


def _with_runtime(settings: Settings, rulebook: Rulebook, work: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    runtime = Runtime(settings=settings, rulebook=rulebook)
    return _in_transaction(settings, lambda s: work(s, runtime))


def _columns(value: str) -> list[str]:
    cols = [c.strip() for c in value.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError("至少给出一个列名")
    return cols


def _who() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cmd_dispatch_import(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.dispatch.service import import_labels

    rulebook = _rulebook(settings)
    outcome = _with_runtime(
        settings,
        rulebook,
        lambda s, rt: import_labels(s, rt, Path(args.file), args.text_columns, args.label_column, _who()),
    )
    read = outcome.read
    notes = []
    if outcome.relabelled:
        notes.append(f"{outcome.relabelled} 条此前已导入、本次标签不同，已改为本次的标签")
    if outcome.duplicates:
        notes.append(f"{outcome.duplicates} 条此前已导入，未重复导入")
    again = f"（{'；'.join(notes)}）" if notes else ""
    print(f"读取 {read.total} 行，导入 {outcome.imported} 条带标签的工单{again}")
    for line in read.problems():
        print(f"  {line}", file=sys.stderr)
    if outcome.imported == 0 and not outcome.duplicates and not outcome.relabelled:
        print("没有导入任何一行：请检查标签列和文本列", file=sys.stderr)
        raise SystemExit(1)


def _print_metrics(m: dict[str, object]) -> None:
    def pct(key: str) -> str:
        v = m.get(key)
        return f"{v:.1%}" if isinstance(v, float) else "—"

    print(
        f"留出集 {m.get('n', 0)} 条：一级准确率 {pct('accuracy')}，前3准确率 {pct('top3_accuracy')}，"
        f"宏平均F1 {m.get('macro_f1', 0):.3f}，三级事项准确率 {pct('leaf_accuracy')}（{m.get('leaf_n', 0)} 条）"
    )


def cmd_dispatch_train(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.dispatch.service import SOURCE_LABELS, train_model

    rulebook = _rulebook(settings)
    outcome = _with_runtime(
        settings, rulebook, lambda s, rt: train_model(s, rt, _who(), promote=args.promote, force=args.force)
    )
    sources = "，".join(f"{SOURCE_LABELS.get(k, k)} {v}" for k, v in outcome.counts.items())
    print(f"已训练模型 {outcome.version}：{outcome.n_examples} 条样本（{sources}），用时 {outcome.seconds:.1f} 秒")
    _print_metrics(outcome.metrics)
    if args.promote:
        before = "无" if outcome.current_accuracy is None else f"{outcome.current_accuracy:.1%}"
        if outcome.promoted:
            print(f"已启用为当前模型（原当前模型留出集准确率 {before}）")
        else:
            print(f"未启用：留出集准确率低于当前模型（{before}）；可加 --force 强制启用", file=sys.stderr)
            raise SystemExit(1)
    else:
        print("未启用（加 --promote 在不低于当前模型时启用）")


def cmd_dispatch_rollback(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.dispatch.service import rollback_model

    version = _with_runtime(settings, _rulebook(settings), rollback_model)
    print(f"已回退：当前模型为 {version}")


def cmd_dispatch_promote(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.dispatch.service import promote_model

    _with_runtime(settings, _rulebook(settings), lambda s, rt: promote_model(s, rt, args.version, force=args.force))
    print(f"已启用模型 {args.version}")


def cmd_dispatch_evaluate(settings: Settings, args: argparse.Namespace) -> None:
    import json

    from hotline.dispatch.evaluation import format_report
    from hotline.dispatch.service import catalogue_of, evaluate_file

    rulebook = _rulebook(settings)
    report, read = _with_runtime(
        settings,
        rulebook,
        lambda s, rt: evaluate_file(
            s, rt, Path(args.file), args.text_columns, args.label_column, use_model=not args.keywords_only
        ),
    )
    for line in read.problems():
        print(f"  {line}", file=sys.stderr)
    for line in format_report(report, catalogue_of(rulebook)):
        print(line)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=str))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from hotline.app import create_app

    rulebook = _rulebook(settings)
    print(f"规则库 {rulebook.version}；服务地址 http://{args.host}:{args.port}  接口文档 /docs")
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning" if args.quiet else "info",
        # X-Forwarded-For only from the configured proxies (uvicorn trusts 127.0.0.1 by default)
        "proxy_headers": bool(settings.trusted_proxies.strip()),
        "forwarded_allow_ips": settings.trusted_proxies.strip() or "",
        "server_header": False,
    }
    if args.quiet:
        options["access_log"] = False
    if args.workers > 1:
        # Several processes need an import string; each builds its app from the same environment.
        uvicorn.run("hotline.app:create_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_app(settings, rulebook=rulebook), **options)


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.users import create_user

    async def work(session: AsyncSession) -> None:
        user = await create_user(session, args.username, args.role, args.password, args.unit, args.display_name or "")
        print(f"已创建用户 {user.username}（{user.role}{'，' + user.unit_code if user.unit_code else ''}）")

    _in_transaction(settings, work)


def cmd_users_unlock(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.users import unlock, unlock_address

    async def work(session: AsyncSession) -> None:
        if args.address:
            slots = await unlock_address(session, settings.secret_key, args.username)
            print(
                f"已解除地址 {args.username} 的登录限制"
                if slots
                else f"地址 {args.username} 没有登录失败记录，无需解除"
            )
            return
        slots = await unlock(session, settings.secret_key, args.username)
        print(f"已解锁用户 {args.username}" if slots else f"用户 {args.username} 没有登录失败记录，无需解锁")

    _in_transaction(settings, work)


def cmd_users_demo(settings: Settings, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from hotline.models import User
    from hotline.users import create_user, set_password

    if not settings.embedded and not args.force:
        print("拒绝：演示用户只在内置数据库中创建（连接外部数据库时请加 --force）", file=sys.stderr)
        raise SystemExit(2)

    async def work(session: AsyncSession) -> None:
        for username, role, unit, password, display in DEMO_USERS:
            user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
            if user is None:
                await create_user(session, username, role, password, unit, display)
            else:
                await set_password(session, user, password)

    _in_transaction(settings, work)
    print("演示用户（用户名 / 密码 / 角色 / 承办单位）：")
    for username, role, unit, password, _ in DEMO_USERS:
        print(f"  {username:<14} {password:<13} {role:<13} {unit or ''}")


def cmd_calendar_import(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.calendar.service import CalendarCache, import_schedule
    from hotline.clock import utc_now

    text = Path(args.file).read_text(encoding="utf-8")
    result = _in_transaction(settings, lambda s: import_schedule(s, CalendarCache(), text, None, utc_now()))
    print(
        f"已导入 {result.year} 年：法定节假日 {result.holidays} 天，调休上班 {result.makeup_workdays} 天；"
        f"重算办理时限 {result.recomputed} 件"
    )


def cmd_demo_generate(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.demo import DemoDataError, generate_tickets, has_tickets

    if args.if_empty and asyncio.run(has_tickets(database_url(settings))):
        print("已有工单，不再生成演示数据")
        return
    try:
        n = asyncio.run(generate_tickets(database_url(settings), args.tickets, seed=args.seed, progress=not args.quiet))
    except DemoDataError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"已生成 {n} 张演示工单")
    # The tickets were written with past intake dates, which no refresh marks: rebuild the rollup.
    _kpi_refresh(settings, rebuild=True)


def _kpi_refresh(settings: Settings, *, rebuild: bool) -> None:
    from hotline.clock import utc_now
    from hotline.kpi_rollup import refresh

    report = _in_transaction(settings, lambda s: refresh(s, utc_now(), rebuild=rebuild))
    if not report.refreshed:
        print("统计汇总正由其他进程刷新，本次未执行", file=sys.stderr)
        raise SystemExit(1)
    what = "重建" if report.rebuilt else "刷新"
    print(f"统计汇总已{what}：{report.days} 天，{report.rows} 行，用时 {report.seconds:.1f} 秒")


def cmd_kpi_refresh(settings: Settings, args: argparse.Namespace) -> None:
    _kpi_refresh(settings, rebuild=args.rebuild)


def cmd_rulebook_check(settings: Settings, args: argparse.Namespace) -> None:
    rulebook = _rulebook(settings)
    print(
        f"规则库有效：{rulebook.version}；承办单位 {len(rulebook.units)}，归并清单 {len(rulebook.merger_list)} 条，"
        f"分类 {len(rulebook.categories)}，规则 {len(rulebook.rules)}"
    )


def cmd_access_table(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.api.access import access_table
    from hotline.app import create_app

    print(access_table(create_app(settings).openapi()), end="")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hotline", description="枣庄市12345热线工单派单服务")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="启动 API 服务")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="服务进程数")
    serve.add_argument("--quiet", action="store_true", help="不输出访问日志")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="迁移数据库，载入规则库承办单位和法定节假日").set_defaults(func=cmd_migrate)

    users = sub.add_parser("users", help="用户管理").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", help="创建用户")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=["agent", "unit_handler", "supervisor", "arbitrator", "admin"])
    create.add_argument("--unit", default=None, help="承办单位编码（unit_handler 必填）")
    create.add_argument("--password", required=True)
    create.add_argument("--display-name", default=None)
    create.set_defaults(func=cmd_users_create)
    unlock_user = users.add_parser("unlock", help="解除因多次密码错误造成的登录锁定")
    unlock_user.add_argument("username", help="用户名；加 --address 时为客户端地址")
    unlock_user.add_argument("--address", action="store_true", help="解除一个客户端地址的登录限制")
    unlock_user.set_defaults(func=cmd_users_unlock)
    demo_users = users.add_parser("demo", help="创建或重置演示用户并打印账号密码")
    demo_users.add_argument("--force", action="store_true")
    demo_users.set_defaults(func=cmd_users_demo)

    cal = sub.add_parser("calendar", help="工作日历").add_subparsers(dest="calendar_command", required=True)
    imp = cal.add_parser("import", help="导入一年的法定节假日安排（JSON）")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_calendar_import)

    demo = sub.add_parser("demo", help="演示数据").add_subparsers(dest="demo_command", required=True)
    gen = demo.add_parser("generate", help="批量生成演示工单（COPY）")
    gen.add_argument("--tickets", type=int, required=True)
    gen.add_argument("--seed", type=int, default=12345)
    gen.add_argument("--quiet", action="store_true")
    gen.add_argument("--if-empty", action="store_true", help="只在还没有任何工单时生成（make run 使用）")
    gen.set_defaults(func=cmd_demo_generate)

    kpi = sub.add_parser("kpi", help="统计指标").add_subparsers(dest="kpi_command", required=True)
    refresh = kpi.add_parser("refresh", help="刷新统计汇总（调度器每次巡检后自动执行）")
    refresh.add_argument("--rebuild", action="store_true", help="全部重算（批量导入数据之后）")
    refresh.set_defaults(func=cmd_kpi_refresh)

    dispatch = sub.add_parser("dispatch", help="智能派单模型").add_subparsers(dest="dispatch_command", required=True)
    imp = dispatch.add_parser("import", help="导入带标签的历史工单（CSV 或 XLSX）")
    imp.add_argument("file")
    imp.add_argument("--text-columns", type=_columns, required=True, help="文本列，逗号分隔，按顺序拼接")
    imp.add_argument("--label-column", required=True, help="标签列：派单目录任一级的编码或名称")
    imp.set_defaults(func=cmd_dispatch_import)
    tr = dispatch.add_parser("train", help="用派单目录示例、导入数据和已确认的派单训练模型")
    tr.add_argument("--promote", action="store_true", help="留出集准确率不低于当前模型时启用")
    tr.add_argument("--force", action="store_true", help="与 --promote 一起：无论准确率都启用")
    tr.set_defaults(func=cmd_dispatch_train)
    ev = dispatch.add_parser("evaluate", help="按受理时的派单逻辑逐行判定并统计准确率")
    ev.add_argument("file")
    ev.add_argument("--text-columns", type=_columns, required=True)
    ev.add_argument("--label-column", required=True)
    ev.add_argument("--json", action="store_true", help="最后一行输出一个 JSON 对象")
    ev.add_argument("--keywords-only", action="store_true", help="不用模型，只用关键词兜底（对照）")
    ev.set_defaults(func=cmd_dispatch_evaluate)
    dispatch.add_parser("rollback", help="回退到上一版本模型").set_defaults(func=cmd_dispatch_rollback)
    pr = dispatch.add_parser("promote", help="启用指定版本的模型")
    pr.add_argument("version")
    pr.add_argument("--force", action="store_true")
    pr.set_defaults(func=cmd_dispatch_promote)

    sub.add_parser("access-table", help="按 OpenAPI 文档生成接口权限表（docs/access.md）").set_defaults(
        func=cmd_access_table
    )
    rb = sub.add_parser("rulebook", help="规则库").add_subparsers(dest="rulebook_command", required=True)
    rb.add_parser("check", help="校验规则库").set_defaults(func=cmd_rulebook_check)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    try:
        args.func(settings, args)
    except InvalidInput as exc:
        for p in exc.problems:
            where = "" if p.field in ("file", "training") else f"{p.field}："
            print(f"错误：{where}{p.message}（{p.code}）", file=sys.stderr)
        raise SystemExit(1) from exc
    except DomainError as exc:
        print(f"错误：{exc.message}（{exc.code}）", file=sys.stderr)
        raise SystemExit(1) from exc
