"""Everyday requests written by us to measure emergency and refusal detection (precision and recall).

Shared by ``tests/dispatcher/test_classifier.py`` and ``bench/dispatch_accuracy.py``. None of these
sentences is in the catalogue or comes from ../shared.
"""

from __future__ import annotations

EMERGENCIES: list[tuple[str, str]] = [
    ("快来人啊，我家厨房着火了，火苗都窜到房顶了", "119"),
    ("家里燃气泄漏了，闻到很大煤气味，阀门关不上", "119"),
    ("我们被困在电梯里出不来了，里面有老人和孩子", "119"),
    ("我爸突然倒在地上叫不醒了，嘴唇发紫，快派救护车", "120"),
    ("路口两车相撞堵在路中间，需要交警来处理", "122"),
    ("有人拿着刀在小区门口追着砍人，快派警察来", "110"),
    ("薛城区巨山街道平安路附近起火了，情况紧急！", "119"),
    ("我家孩子掉河里了", "120"),
    ("来电称小区门口有人闹事打人，请求马上处理", "110"),
    ("对面楼三层冒出好大的黑烟，好像烧起来了", "119"),
    ("我老婆摔倒了头一直在流血，止不住", "120"),
    ("高速出口这儿一辆货车翻了，司机卡在里面", "122"),
    ("有个人正在撬我家邻居的门，快来人", "110"),
    ("有人抢劫，快来", "110"),
    ("来电称薛城区常庄街道抢劫，请求马上处理。", "110"),
]
"""Live emergencies in everyday words, with the line they must be transferred to."""

NOT_EMERGENCIES: list[str] = [
    "上个月我母亲在医院突然昏迷，医生半天才来处理，我要投诉这个医生",
    "去年小区着过一次火，到现在消防通道还是被车堵着",
    "上个月我们这条街发生过两次抢劫，晚上路灯也不亮，希望派出所加强巡逻",
    "前几天出了车祸，保险公司到现在都不给理赔",
    "村里的炼油厂污染环境，纪委也不管",
    "我们单位电梯经常坏，上周还把人关在里面半小时，物业一直不修",
    "楼上邻居每天半夜装修噪音太大",
    "河边没有护栏，孩子放学经常在那儿玩，太危险了",
    "上次打120，救护车过了四十分钟才到，要求给个说法",
]
"""Complaints and reports that mention alarming words but are not happening now."""

OUT_OF_SCOPE: list[tuple[str, str]] = [
    ("对法院的判决不服，要求改判", "litigation"),
    ("劳动仲裁的裁决我不认，要求撤销仲裁结果", "arbitration"),
    ("我要实名举报镇长收受贿赂，请求纪委查处", "discipline_inspection"),
    ("帮我查一下前夫现在住在哪里、手机号是多少", "secrets_privacy"),
    ("法院判了对方还钱，一年了还不执行，你们替我去法院催", "litigation"),
    ("我要申请公开我们村征地补偿的红头文件，请给我寄一份盖章的", "information_disclosure"),
]
"""Requests that only a court, arbitration, discipline inspection or the like can answer."""

ACCEPTED_NEAR_MISSES: list[str] = [
    "村里的炼油厂污染环境，纪委也不管",
    "老板拖欠工资半年了，再不给我就去法院起诉他",
    "想打官司但是没钱请律师，怎么申请法律援助",
    "物业乱收停车费，说不交就强制执行锁车",
    "在哪里能查到今年的惠民补贴政策文件",
]
"""Accepted matters that mention courts, discipline inspection or disclosure in passing."""
