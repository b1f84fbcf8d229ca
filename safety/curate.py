"""Curating the public keyword lists for a shop assistant (``safety_seed --curate``).

Sources (see ``safety/data/keywords/ATTRIBUTION.md``): LDNOOBW ``en`` and ``zh`` (CC-BY-4.0),
fwwdn/sensitive-stop-words sexual, weapons/explosives and advertising lists (Apache-2.0),
plus a few jailbreak and self-harm phrases written for this project.

Rules, in order:

1. Terms with a benign sense in a shop (products, anatomy and health, names and places,
   ordinary words: "nipple" on a baby bottle, "panties", "vibrator", 乳液, 成人尺码, 丝袜,
   靠背, 按摩棒 ...) are dropped (``EXCLUDE``); so are Chinese single characters (乳, 奶, 性)
   except a handful that are only vulgar, and the advertising list except the illicit services.
2. Each kept term gets a category, severity and action from the maps below; ambiguous terms
   (profanity, anatomy slang, "how to kill") get ``flag``, which only marks the text
   borderline for the classifier and the alignment tier.
3. Data-driven demotion: a ``block``/``escalate`` term that hits 2 or more benign rows of the
   training splits (benign shop messages, Davidson "neither", DiaSafety safe responses, COLD
   non-offensive) while hitting unsafe rows less than 4 times as often is demoted to ``flag``
   (the note column says so).
"""

import csv
import re
from collections import Counter
from pathlib import Path

from .datasets import load_all, shared_data_dir
from .keywords import KeywordMatcher, Term
from .normalize import is_cjk

OUT = Path(__file__).resolve().parent / "data" / "keywords"

EN_SLURS = """beaner beaners coon coons darkie fag faggot jigaboo jiggaboo jiggerboo kike nigga nigger
nig_nog paki raghead slanteye spic towelhead wetback tranny bulldyke carpet_muncher carpetmuncher
fudge_packer fudgepacker honkey pikey white_power shemale"""
EN_MINORS = "jailbait jail_bait pthc pedobear nambla"
EN_VIOLENCE = "rape raping rapist date_rape daterape"
EN_PROFANITY = """fuck fucking fuckin fucktards motherfucker clusterfuck shit shitty bullshit piece_of_shit
god_damn apeshit bastard bastardo bitch bitches asshole arsehole assmunch bollocks tosser twat wank cunt
whore slut shitblimp pissing fuck_buttons 🖕"""
EN_FLAG_SEXUAL = """anal boob boobs boner busty butthole buttcheeks camel_toe cock cocks pussy tits titties
titty hooker horny humping orgasm semen pubes smut spread_legs strap_on strapon threesome xxx nsfw
nsfw_images ejaculation incest masturbate masturbating masturbation s&m dominatrix ecchi shota
paedophile pedophile neonazi swastika how_to_kill how_to_murder spastic barely_legal voyeur voyeurweb
voyuer wet_dream golden_shower g-spot rimming tea_bagging shibari kinbaku nawashi menage_a_trois
missionary_position bimbos mound_of_venus venus_mound prince_albert_piercing strappado bastinado
dingleberry dingleberries make_me_come girls_gone_wild leather_restraint leather_straight_jacket
bullet_vibe circlejerk suicide_girls big_breasts"""
EN_EXCLUDE = """ass butt nipple nipples panties panty nude nudity sexy sex sexual sexually sexuality escort
erotic erotism genitals vagina penis rectum vulva anus clitoris intercourse tit dick beaver snatch suck
sucks xx viagra cialis vibrator bondage tied_up topless undressing domination kinky hardcore hard_core
lovemaking swinger twink twinkie poof mong negro playboy strip_club hot_chick big_black tight_white
girl_on girl_on_top taste_my tongue_in_a huge_fat bbw juggs cum sadism santorum scat yaoi lolita sexo
pegging scissoring snowballing wrapping_men pleasure_chest shrimping skeet violet_wand bung_hole
bunghole chocolate_rosebuds jelly_donut baby_juice baby_batter alaskan_pipeline babeland bareback
barenaked cornhole fecal fingering homoerotic octopussy sultry_women tainted_love tushy eunuch grope
dog_style urethra_play"""

ZH_KEEP_SINGLE = {"屄": ("sexual", 2, "block"), "肏": ("profanity", 2, "flag"), "𨳒": ("profanity", 1, "flag"),
                  "閪": ("profanity", 1, "flag"), "㞗": ("profanity", 1, "flag"), "𨳊": ("profanity", 1, "flag")}  # fmt: skip
ZH_EXCLUDE = """13. 13点 十三点 九游 乳房 交配 包皮 卵子 处女 外阴 屁股 成人 撒尿 月经 激情 祖宗 私服 精子 老二 老味
老母 肥西 野鸡 玉杵 刚度 口肯 吹箫 鬼公 贝肉 肉棒 密洞 阳萎 你妈 你娘 他娘 你全家 靠背 姣西 你老闆 你老味 你老母
硬膠 粉腸 笨實 小肉粒 裤袜 美腿 肛门 好嫩 大波 按摩棒 插进 拔出来 放尿 丝袜 体位 调教 情趣用品 乳沟 人妻 熟女
舞女 色界 色猫 色区 奈美 松岛枫 汤加丽 杨思敏 夏川纯 双臀 性感妖娆 性感诱惑 性息 色色 文做 捏弄 酥痒 套弄 男奴
亚情 一本道 原味内衣 前凸后翘 嫩女 欲火 胸推 推油 全套 桑拿 技师 小姐 兼职 兼值 招聘 网络 客服 淘宝 代购 本店 到货
微店 扣扣 QQ 有意者 全职 网购 网络工作 代理 专业代理 销售热线 免费订购热线 低价出售 款到发货 回复可见 连锁加盟 加盟连锁
免费二级域名 免费使用 免费索取 原音铃声 视频来源 下载速度 高清在线 全集在线 在线播放 txt下载 六位qq 6位qq 位的qq
个qb 送qb 资金周转 救市 股市圈钱 崩盘 资金短缺 证监会 质押贷款 小额贷款 周小川 刘明康 尚福林 孔丹 腾讯客服电话
帮忙点一下 帮忙点下 请点击进入 详情请进入 广告代理 找个妈妈 找个爸爸 婴儿汤 买小车 玛雅网 电脑传讯 曾道人 阿波罗网
中国复兴党 四海帮 改卷内幕 答an da案 隐形耳机 无抵押贷款 LY JS BT SM 3P 狼友 咪咪 乳方 出售猎狗 出售各类猎狗
猎枪哪里有卖 阿兰德龙户外 户外军刀网 野营刀专卖 手工猎刀户外刀具 中国户外刀具网 阳江刀具批发网 阳江刀具直销网
阳江刀具专卖 阳江刀具军品网 刀具直销网 冷钢刀具直销网 冷钢刀具专卖 冷钢刀具军品网 野营刀具专卖 野营刀具军品网
硝酸甘油 fuck 丝诱 舔脚 仙鹤气枪出售"""
ZH_INSULT = re.compile(
    r"(操|干|幹|日|塞|驶|懆|灨|赣|贼|赛|肏).{0,2}(你|妳|您)|你(个|是|他|她|它|马|妈的|奶奶)|傻[逼比]|婊子|贱[人货B]|杂种|王八蛋|狗日|狗狼|骚[逼比货]|荡妇|烂[逼货]|妈[个的]?[B比逼]"
)
ZH_VIOLENCE = {
    "强奸",
    "轮奸",
    "强奸你",
    "插死你",
    "干死你",
    "干死客服",
    "轮暴",
    "强暴",
    "迷奸",
    "强jian",
    "强奸处女",
    "暴奸",
    "逼奸",
    "体奸",
}
ZH_ILLEGAL = {
    "卖淫",
    "嫖娼",
    "招妓",
    "妓女",
    "妓院",
    "嫖客",
    "迷药",
    "援交",
    "援助交际",
    "应召",
    "失身粉",
    "春药",
    "招鸡",
    "校鸡",
    "楼凤",
}
ZH_MINORS = {"幼交", "美幼"}
ZH_FLAG = {"他妈", "他妈的", "妈的", "娘的", "他妈地", "她妈的", "她妈地", "它妈的", "它妈地", "妈妈的", "他奶奶", "他奶奶的",
           "奶奶的熊", "仆街", "册那", "狗屁", "吃屎", "白痴", "白癡", "笨蛋", "下贱", "下三烂", "瘪三", "小瘪三", "老瘪三",
           "刚瘪三", "瓜娃子", "瓜婆娘", "瓜批", "龟儿子", "机机歪歪", "靠北", "靠母", "靠爸", "靠腰", "个老子的", "干你",
           "干你良", "插你", "射你", "想上你", "扒光", "色情", "放荡", "叫床", "打炮", "打飞机", "屁眼", "后庭", "花柳", "鸡鸡",
           "小鸡鸡", "龟头", "阴道", "阴茎", "阴部", "阴毛", "阴唇", "阴户", "阴核", "阳具", "射精", "性无能", "巨乳", "奶子",
           "精液", "发浪", "美少妇", "阴阜", "双峰微颤", "湿透的内裤", "肉壁", "肉缝", "肉棍子", "冚家鏟", "咸家鏟", "咸家伶",
           "冚家拎", "屎忽", "躝癱", "懒8", "懒八", "懒叫", "懒教", "干七八", "自慰", "手淫", "全裸", "蜜液", "淫秽", "白烂",
           "熟妇", "熟母", "丝袜", "性欲", "色欲", "欲女", "偷欢", "一夜情", "一夜欢", "一ye情", "炮友", "砲友", "g点",
           "舔阴", "内射", "女优"}  # fmt: skip
ZH_SPAM = {"代开发票", "刻章办", "私家侦探", "私人侦探", "针孔摄象", "调查婚外情", "信用卡提现", "地下钱庄", "六合彩",
           "足球投注", "替考试", "出售答案", "考中答案", "套牌车", "蚁力神"}  # fmt: skip
ZH_ADS_OTHER = {"售肾": ("illegal_dangerous", 3, "block"), "借腹生子": ("illegal_dangerous", 2, "escalate"),
                "代孕妈妈": ("illegal_dangerous", 2, "escalate"), "代生孩子": ("illegal_dangerous", 2, "escalate"),
                "完全自杀手册": ("self_harm", 3, "escalate"), "用刀横向切腹": ("self_harm", 3, "escalate"),
                "包夜": ("sexual", 1, "flag"), "毒龙": ("sexual", 1, "flag"), "口爆": ("sexual", 2, "block"),
                "足交": ("sexual", 2, "block"), "口暴": ("sexual", 2, "block"), "口交": ("sexual", 2, "block"),
                "吞精": ("sexual", 2, "block"), "操逼": ("sexual", 2, "block"), "婊子": ("harassment_hate", 2, "block"),
                "妓女": ("illegal_dangerous", 2, "block"), "楼凤": ("illegal_dangerous", 2, "block"),
                "性伴侣": ("sexual", 1, "flag"), "技师": None}  # fmt: skip

# Written for this project (source "project").
PROJECT_TERMS = [
    ("ignore all previous instructions", "en", "jailbreak", 2, "block"),
    ("ignore previous instructions", "en", "jailbreak", 2, "block"),
    ("ignore your instructions", "en", "jailbreak", 2, "block"),
    ("disregard all previous instructions", "en", "jailbreak", 2, "block"),
    ("reveal your system prompt", "en", "jailbreak", 2, "block"),
    ("do anything now", "en", "jailbreak", 2, "flag"),
    ("developer mode", "en", "jailbreak", 1, "flag"),
    ("jailbreak", "en", "jailbreak", 1, "flag"),
    ("忽略之前的所有指令", "zh", "jailbreak", 2, "block"),
    ("忽略之前的指令", "zh", "jailbreak", 2, "block"),
    ("忽略以上所有指令", "zh", "jailbreak", 2, "block"),
    ("输出你的系统提示词", "zh", "jailbreak", 2, "block"),
    ("开发者模式", "zh", "jailbreak", 1, "flag"),
    ("kill myself", "en", "self_harm", 3, "escalate"),
    ("end my life", "en", "self_harm", 3, "escalate"),
    ("commit suicide", "en", "self_harm", 3, "escalate"),
    ("suicide", "en", "self_harm", 1, "flag"),
    ("self harm", "en", "self_harm", 1, "flag"),
    ("我不想活了", "zh", "self_harm", 3, "escalate"),
    ("想自杀", "zh", "self_harm", 3, "escalate"),
    ("自杀", "zh", "self_harm", 1, "flag"),
    ("割腕", "zh", "self_harm", 2, "escalate"),
    ("pipe bomb", "en", "illegal_dangerous", 3, "block"),
    ("make a bomb", "en", "illegal_dangerous", 3, "block"),
    ("child porn", "en", "sexual_minors", 3, "block"),
    ("儿童色情", "zh", "sexual_minors", 3, "block"),
]


def _words(block: str) -> set[str]:
    return {w.replace("_", " ") for w in block.split()}


def _ldnoobw_en(root: Path) -> list[tuple]:
    slurs, minors, violence = _words(EN_SLURS), _words(EN_MINORS), _words(EN_VIOLENCE)
    profanity, flag, exclude = _words(EN_PROFANITY), _words(EN_FLAG_SEXUAL), _words(EN_EXCLUDE)
    rows = []
    for term in (root / "ldnoobw" / "en").read_text(encoding="utf-8").splitlines():
        term = term.strip()
        if not term or term in exclude:
            continue
        if term in slurs:
            rows.append((term, "en", "harassment_hate", 3, "block", "ldnoobw"))
        elif term in minors:
            rows.append((term, "en", "sexual_minors", 3, "block", "ldnoobw"))
        elif term in violence:
            rows.append((term, "en", "violence", 3, "block", "ldnoobw"))
        elif term in profanity:
            rows.append((term, "en", "profanity", 1, "flag", "ldnoobw"))
        elif term in flag:
            rows.append((term, "en", "sexual", 1, "flag", "ldnoobw"))
        else:
            rows.append((term, "en", "sexual", 2, "block", "ldnoobw"))
    return rows


def _zh_term(term: str, source: str, default: tuple) -> tuple | None:
    if term in ZH_KEEP_SINGLE:
        return (term, "zh", *ZH_KEEP_SINGLE[term], source)
    if len(term) < 2 or term in _words(ZH_EXCLUDE):
        return None
    if term in ZH_MINORS:
        return (term, "zh", "sexual_minors", 3, "block", source)
    if term in ZH_VIOLENCE:
        return (term, "zh", "violence", 3, "block", source)
    if term in ZH_ILLEGAL:
        return (term, "zh", "illegal_dangerous", 2, "block", source)
    if term in ZH_FLAG:
        return (
            term,
            "zh",
            "profanity" if default[0] == "profanity" else "sexual",
            1,
            "flag",
            source,
        )
    if ZH_INSULT.search(term):
        return (term, "zh", "harassment_hate", 2, "block", source)
    return (term, "zh", *default, source)


def _zh(root: Path) -> list[tuple]:
    rows = []
    for term in (root / "ldnoobw" / "zh").read_text(encoding="utf-8").splitlines():
        term = term.strip()
        vulgar_sexual = any(k in term for k in "屌鸡机几雞屄逼奸淫交乳阴射")
        default = ("sexual", 2, "block") if vulgar_sexual else ("profanity", 1, "flag")
        row = _zh_term(term, "ldnoobw", default)
        if row:
            rows.append(row)
    base = root / "zh_sensitive_fwwdn"
    for term in (base / "色情类.txt").read_text(encoding="utf-8").splitlines():
        row = _zh_term(term.strip().rstrip(",").strip(), "fwwdn", ("sexual", 2, "block"))
        if row:
            rows.append(row)
    for term in (base / "涉枪涉爆违法信息关键词.txt").read_text(encoding="utf-8").splitlines():
        term = term.strip()
        severity = 3 if re.search(r"炸|弹|雷管|火药|TNT|C4|硝", term, re.I) else 2
        row = _zh_term(term, "fwwdn", ("illegal_dangerous", severity, "block"))
        if row:
            rows.append(row)
    for term in (base / "广告.txt").read_text(encoding="utf-8").splitlines():
        term = term.strip()
        if term in ZH_SPAM:
            rows.append((term, "zh", "spam", 1, "escalate", "fwwdn"))
        elif ZH_ADS_OTHER.get(term):
            rows.append((term, "zh", *ZH_ADS_OTHER[term], "fwwdn"))
    return rows


def curate(root: Path | None = None) -> tuple[list[dict], dict]:
    """The curated terms (dicts) and a summary of what the data-driven pass demoted."""
    root = root or shared_data_dir()
    raw = _ldnoobw_en(root) + _zh(root)
    raw += [(*t, "project") for t in PROJECT_TERMS]
    seen, rows = set(), []
    for term, lang, category, severity, action, source in raw:
        key = (term.lower(), lang)
        if key in seen or not term:
            continue
        seen.add(key)
        rows.append(
            {"term": term, "language": lang, "category": category, "severity": severity,
             "action": action, "source": source, "note": ""}
        )  # fmt: skip

    data = [r for r in load_all(root) if r.split == "train"]
    benign = [r.text for r in data if not r.unsafe]
    unsafe = [r.text for r in data if r.unsafe]
    terms = [
        Term(i, r["term"], r["category"], r["severity"], r["action"],
             not any(is_cjk(c) for c in r["term"]))
        for i, r in enumerate(rows)
    ]  # fmt: skip
    matcher = KeywordMatcher(terms)
    benign_hits, unsafe_hits = Counter(), Counter()
    for texts, counter in ((benign, benign_hits), (unsafe, unsafe_hits)):
        for text in texts:
            for i in {h.term.id for h in matcher.find(text)}:
                counter[i] += 1
    demoted = []
    for i, r in enumerate(rows):
        b, u = benign_hits[i], unsafe_hits[i]
        if r["action"] != "flag" and b >= 2 and u < 4 * b:
            r["action"], r["severity"] = "flag", 1
            r["note"] = f"demoted: {b} benign vs {u} unsafe training hits"
            demoted.append(r["term"])
    return rows, {"terms": len(rows), "demoted": demoted}


def write_tsv(rows: list[dict], path: Path | None = None) -> Path:
    path = path or OUT / "keywords.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(
            f, ["term", "language", "category", "severity", "action", "source", "note"],
            delimiter="\t", lineterminator="\n",
        )  # fmt: skip
        writer.writeheader()
        for r in sorted(rows, key=lambda r: (r["language"], r["category"], r["term"])):
            writer.writerow(r)
    return path


def read_tsv(path: Path | None = None) -> list[dict]:
    path = path or OUT / "keywords.tsv"
    with open(path, encoding="utf-8", newline="") as f:
        return [
            {**r, "severity": int(r["severity"])}
            for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
