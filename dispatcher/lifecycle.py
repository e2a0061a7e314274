"""工单生命周期：every status and every allowed transition, as data.

The services never set a status directly: they ask :func:`transition` for the status an action
leads to, and an action not allowed in the current status is refused with a stable code
(``ticket.illegal_transition``, HTTP 409).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RETURN_REQUESTED = "return_requested"
    REPLIED = "replied"
    CALLBACK_PENDING = "callback_pending"
    CLOSED = "closed"
    ANSWERED = "answered"
    TRANSFERRED = "transferred"
    NOT_ACCEPTED = "not_accepted"
    MERGED = "merged"
    ARBITRATION = "arbitration"
    REPEAT = "repeat"


STATUS_LABELS: dict[Status, str] = {
    Status.DISPATCHED: "已派单",
    Status.ACCEPTED: "办理中",
    Status.RETURN_REQUESTED: "退单审核中",
    Status.REPLIED: "已答复待审核",
    Status.CALLBACK_PENDING: "待回访",
    Status.CLOSED: "已办结",
    Status.ANSWERED: "已直接答复",
    Status.TRANSFERRED: "已转紧急热线",
    Status.NOT_ACCEPTED: "不予受理",
    Status.MERGED: "已并单",
    Status.ARBITRATION: "待编制部门裁定",
    Status.REPEAT: "重复来电（已关联原工单）",
}

OPEN_STATUSES: frozenset[Status] = frozenset(
    {Status.DISPATCHED, Status.ACCEPTED, Status.RETURN_REQUESTED, Status.ARBITRATION, Status.REPLIED}
)
"""Statuses in which a handling unit's deadline is running."""


class Action(StrEnum):
    DISPATCH = "dispatch"  # 受理后派单
    DIRECT_ANSWER = "direct_answer"  # 直接答复
    TRANSFER = "transfer"  # 转接紧急热线
    REFUSE = "refuse"  # 登记不予受理
    ACCEPT = "accept"  # 签收
    REPLY = "reply"  # 答复
    REQUEST_RETURN = "request_return"  # 申请退单
    APPROVE_RETURN = "approve_return"  # 退单审核通过，改派
    REJECT_RETURN = "reject_return"  # 退单驳回
    APPROVE_REPLY = "approve_reply"  # 中心审核答复通过，进入回访
    REJECT_REPLY = "reject_reply"  # 答复不合格，退回承办单位
    CLOSE = "close"  # 办结
    REDO = "redo"  # 重办
    MERGE = "merge"  # 并单
    REDISPATCH = "redispatch"  # 中心改派
    RECALCULATE = "recalculate"  # 日历变更后重算时限（状态不变）
    REFER_ARBITRATION = "refer_arbitration"  # 中心提请机构编制部门裁定
    ESCALATE_RETURN = "escalate_return"  # 退单次数超限，直接提请裁定
    ARBITRATE = "arbitrate"  # 机构编制部门裁定承办单位（终局）
    LINK_REPEAT = "link_repeat"  # 重复来电关联原工单
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    DECIDE_EXTENSION = "decide_extension"  # 审核延期
    ADD_ASSIST = "add_assist"  # 增加协办单位
    DISPATCH_DOWN = "dispatch_down"  # 向下一级派单
    ANSWER_TASK = "answer_task"  # 协办/下级单位答复
    RELEASE_TASK = "release_task"  # 解除协办/下派任务
    SUPERVISE = "supervise"  # 下发督办单
    RESPOND_SUPERVISION = "respond_supervision"  # 回复督办单
    MERGE_PRIMARY = "merge_primary"  # 作为主单接收并单
    REMIND = "remind"  # 催办（自动或人工）
    MARK_OVERDUE = "mark_overdue"  # 超期标记
    NOTICE = "notice"  # 通报
    ALERT = "alert"  # 其他时限提醒：签收超时、子任务超期、延期待审到期、督办单逾期
    CALLBACK_ATTEMPT = "callback_attempt"  # 回访未接通


@dataclass(frozen=True, slots=True)
class Transition:
    sources: frozenset[Status | None]
    target: Status | None
    """``None`` keeps the current status."""
    label: str


_RUNNING = frozenset({Status.DISPATCHED, Status.ACCEPTED})
_HANDLING = frozenset({Status.DISPATCHED, Status.ACCEPTED, Status.RETURN_REQUESTED, Status.ARBITRATION})
_SUPERVISABLE = frozenset(OPEN_STATUSES | {Status.CALLBACK_PENDING})

TRANSITIONS: dict[Action, Transition] = {
    Action.DISPATCH: Transition(frozenset({None}), Status.DISPATCHED, "受理派单"),
    Action.DIRECT_ANSWER: Transition(frozenset({None}), Status.ANSWERED, "直接答复"),
    Action.TRANSFER: Transition(frozenset({None}), Status.TRANSFERRED, "转接紧急热线"),
    Action.REFUSE: Transition(frozenset({None}), Status.NOT_ACCEPTED, "登记不予受理"),
    Action.ACCEPT: Transition(frozenset({Status.DISPATCHED}), Status.ACCEPTED, "签收"),
    Action.REPLY: Transition(frozenset({Status.ACCEPTED}), Status.REPLIED, "答复"),
    Action.REQUEST_RETURN: Transition(_RUNNING, Status.RETURN_REQUESTED, "申请退单"),
    Action.APPROVE_RETURN: Transition(frozenset({Status.RETURN_REQUESTED}), Status.DISPATCHED, "退单通过改派"),
    Action.REJECT_RETURN: Transition(frozenset({Status.RETURN_REQUESTED}), Status.ACCEPTED, "退单驳回"),
    Action.APPROVE_REPLY: Transition(frozenset({Status.REPLIED}), Status.CALLBACK_PENDING, "答复审核通过"),
    Action.REJECT_REPLY: Transition(frozenset({Status.REPLIED}), Status.ACCEPTED, "答复退回"),
    Action.CLOSE: Transition(frozenset({Status.CALLBACK_PENDING, Status.REPLIED}), Status.CLOSED, "办结"),
    Action.REDO: Transition(frozenset({Status.CALLBACK_PENDING, Status.CLOSED}), Status.DISPATCHED, "重办"),
    Action.MERGE: Transition(_RUNNING, Status.MERGED, "并单"),
    Action.REDISPATCH: Transition(_RUNNING, Status.DISPATCHED, "改派"),
    Action.RECALCULATE: Transition(frozenset(OPEN_STATUSES), None, "重算办理时限"),
    Action.REFER_ARBITRATION: Transition(frozenset({Status.RETURN_REQUESTED}), Status.ARBITRATION, "提请裁定"),
    Action.ESCALATE_RETURN: Transition(_RUNNING, Status.ARBITRATION, "退单超限提请裁定"),
    Action.ARBITRATE: Transition(frozenset({Status.ARBITRATION}), Status.DISPATCHED, "裁定承办单位"),
    Action.LINK_REPEAT: Transition(frozenset({None}), Status.REPEAT, "重复来电关联"),
    Action.REQUEST_EXTENSION: Transition(_RUNNING, None, "申请延期"),
    Action.DECIDE_EXTENSION: Transition(_HANDLING | {Status.REPLIED}, None, "审核延期"),
    Action.ADD_ASSIST: Transition(_RUNNING, None, "增加协办单位"),
    Action.DISPATCH_DOWN: Transition(_RUNNING, None, "向下级派单"),
    Action.ANSWER_TASK: Transition(_RUNNING, None, "子任务答复"),
    Action.RELEASE_TASK: Transition(_RUNNING, None, "解除子任务"),
    Action.SUPERVISE: Transition(_SUPERVISABLE, None, "下发督办单"),
    Action.RESPOND_SUPERVISION: Transition(_SUPERVISABLE | {Status.CLOSED}, None, "回复督办单"),
    Action.MERGE_PRIMARY: Transition(_RUNNING, None, "并入工单"),
    Action.REMIND: Transition(_HANDLING, None, "催办"),
    Action.MARK_OVERDUE: Transition(_HANDLING, None, "超期"),
    Action.NOTICE: Transition(_HANDLING, None, "通报"),
    Action.ALERT: Transition(_SUPERVISABLE | {Status.CLOSED}, None, "时限提醒"),
    Action.CALLBACK_ATTEMPT: Transition(frozenset({Status.CALLBACK_PENDING}), None, "回访未接通"),
}


class IllegalTransition(Exception):
    code = "ticket.illegal_transition"
    http_status = 409

    def __init__(self, action: Action, status: Status | None) -> None:
        self.action = action
        self.status = status
        label = STATUS_LABELS[status] if status else "新建"
        self.message = f"工单当前状态为“{label}”，不能执行“{TRANSITIONS[action].label}”"
        super().__init__(self.message)


def transition(status: Status | None, action: Action) -> Status:
    """The status ``action`` leads to from ``status``; refuses actions the table does not allow."""
    rule = TRANSITIONS[action]
    if status not in rule.sources:
        raise IllegalTransition(action, status)
    if rule.target is None:
        assert status is not None
        return status
    return rule.target


def allowed_actions(status: Status | None) -> list[Action]:
    return [a for a, t in TRANSITIONS.items() if status in t.sources]
