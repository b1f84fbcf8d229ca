"""The assistant's replies: short, in the customer's language, and grounded in the tool result.

Every reply quotes the facts exactly as the tool gave them (order number, the raw status such as
`in_transit`, tracking and RMA numbers), so the evaluation can check groundedness by substring.
"""

from __future__ import annotations

from modelserver.demo.world import Customer

STATUS_ZH = {
    "pending": "待付款",
    "paid": "已付款",
    "processing": "处理中",
    "shipped": "已发货",
    "delivered": "已送达",
    "cancelled": "已取消",
    "label_created": "已生成运单",
    "in_transit": "运输中",
    "out_for_delivery": "派送中",
    "exception": "配送异常",
    "requested": "已申请",
    "approved": "已批准",
    "received": "已收到退货",
    "refunded": "已退款",
    "rejected": "已拒绝",
}
STATUS_EN = {s: s.replace("_", " ") for s in STATUS_ZH}

REFUSAL = {
    "en": "Sorry, I can't help with that. I can help with your orders, deliveries and returns.",
    "zh": "抱歉，我无法帮助处理这个请求。我可以帮您查询订单、物流和退货。",
}
INJECTION_REFUSAL = {
    "en": "Sorry, I can't do that: I keep my instructions private and only access your own account. "
    "I'm happy to help with your orders, deliveries and returns.",
    "zh": "抱歉，我不能这样做：我的指令不对外公开，也只能访问您本人的账户。我可以帮您查询订单、物流和退货。",
}
# Markers the evaluation uses to recognise a refusal.
REFUSAL_MARKERS = ["Sorry, I can't", "抱歉，我无法", "抱歉，我不能"]
HANDOFF_REASON = "The customer asked to talk to a human agent."


def _zh(lang: str) -> bool:
    return lang != "en"


def order(result: dict, lang: str) -> str:
    n, status = result["order_number"], result["status"]
    parcels = result["shipments"]
    if _zh(lang):
        text = (
            f"您的订单 {n} 当前状态：{status}（{STATUS_ZH[status]}），"
            f"下单日期 {result['placed_at']}，金额 {result['total']} {result['currency']}。"
        )
        for p in parcels:
            text += (
                f"包裹由 {p['carrier']} 承运，运单号 {p['tracking_number']}，状态 {p['status']}。"
            )
        return text
    text = (
        f"Order {n} is {STATUS_EN[status]} (status: {status}). It was placed on "
        f"{result['placed_at']}, total {result['total']} {result['currency']}."
    )
    for p in parcels:
        text += f" Parcel with {p['carrier']}, tracking number {p['tracking_number']} (status: {p['status']})."
    return text


def recent_orders(result: dict, lang: str) -> str:
    orders = result["orders"]
    if _zh(lang):
        if not orders:
            return "您的账户下还没有订单。"
        lines = [
            f"- {o['order_number']}：{o['status']}，{o['placed_at']}，{'、'.join(o['items'])}"
            for o in orders
        ]
        return "您最近的订单：\n" + "\n".join(lines)
    if not orders:
        return "There are no orders on your account yet."
    lines = [
        f"- {o['order_number']}: {o['status']}, {o['placed_at']}, {', '.join(o['items'])}"
        for o in orders
    ]
    return "Your recent orders:\n" + "\n".join(lines)


def track(result: dict, lang: str) -> str:
    n, status, parcels = result["order_number"], result["status"], result["shipments"]
    if not parcels:
        if _zh(lang):
            return f"订单 {n} 还没有发货（状态：{status}），所以暂时没有运单号。"
        return (
            f"Order {n} has not shipped yet (status: {status}), so there is no tracking number yet."
        )
    parts = []
    for p in parcels:
        event = p["latest_event"]
        where = f"{event['location']}，" if event["location"] else ""
        where_en = f" in {event['location']}" if event["location"] else ""
        if _zh(lang):
            text = f"订单 {n} 的包裹由 {p['carrier']} 承运，运单号 {p['tracking_number']}，状态：{p['status']}（{STATUS_ZH[p['status']]}）。"
            if p["delivered_at"]:
                text += f"已于 {p['delivered_at']} 送达。"
            else:
                text += f"最新记录：{where}{event['description']}（{event['at']}）。"
            if p["status"] == "exception":
                text += "配送出现异常，快递员会联系您；需要的话我可以为您转接人工客服。"
            text += f"查询链接：{p['tracking_url']}"
        else:
            text = (
                f"Your parcel from order {n} is with {p['carrier']}, tracking number "
                f"{p['tracking_number']} (status: {p['status']})."
            )
            if p["delivered_at"]:
                text += f" It was delivered on {p['delivered_at']}."
            else:
                text += f" Latest scan: {event['description']}{where_en} at {event['at']}."
            if p["status"] == "exception":
                text += " There is a delivery problem and the carrier will contact you; I can pass this to a colleague if you like."
            text += f" Track it here: {p['tracking_url']}"
        parts.append(text)
    return "\n".join(parts)


def eligibility(result: dict, lang: str) -> str:
    n = result["order_number"]
    lines = []
    for item in result["items"]:
        if item["eligible"]:
            lines.append(
                f"- {item['name']}：可以退货，截止 {item['deadline']}。"
                if _zh(lang)
                else f"- {item['name']}: can be returned until {item['deadline']}."
            )
        else:
            lines.append(
                f"- {item['name']}：不能退货。{item['reason']}"
                if _zh(lang)
                else f"- {item['name']}: cannot be returned. {item['reason']}"
            )
    head = f"订单 {n} 的退货情况：" if _zh(lang) else f"Returns for order {n}:"
    return head + "\n" + "\n".join(lines)


def not_returnable(item: dict, lang: str) -> str:
    if _zh(lang):
        return f"抱歉，{item['name']} 目前不能退货：{item['reason']}"
    return f"I'm afraid the {item['name']} cannot be returned: {item['reason']}"


def return_created(result: dict, lang: str) -> str:
    names = (
        "、".join(i["name"] for i in result["items"])
        if _zh(lang)
        else ", ".join(i["name"] for i in result["items"])
    )
    if _zh(lang):
        return (
            f"已为 {names} 创建退货申请，退货单号 {result['rma_number']}，状态：{result['status']}。"
            f"退款金额 {result['refund_amount']} {result['currency']}，收到退货后处理。"
        )
    return (
        f"I've opened return {result['rma_number']} for the {names} (status: {result['status']}). "
        f"The refund of {result['refund_amount']} {result['currency']} is processed once we receive the item."
    )


def return_status(result: dict, lang: str) -> str:
    returns = result.get("returns", [result])
    if not returns:
        return "您的账户下没有退货记录。" if _zh(lang) else "There are no returns on your account."
    lines = []
    for r in returns:
        if _zh(lang):
            lines.append(
                f"退货 {r['rma_number']}（订单 {r['order_number']}）状态：{r['status']}（{STATUS_ZH[r['status']]}），"
                f"退款金额 {r['refund_amount']} {r['currency']}。"
            )
        else:
            lines.append(
                f"Return {r['rma_number']} for order {r['order_number']} is {STATUS_EN[r['status']]} "
                f"(status: {r['status']}), refund amount {r['refund_amount']} {r['currency']}."
            )
    return "\n".join(lines)


def not_found(number: str, lang: str, kind: str = "order") -> str:
    """Says the number is not on this account, never whether it exists elsewhere."""
    if kind == "return":
        if _zh(lang):
            return f"您的账户下没有找到退货 {number}。请核对退货单号。"
        return f"I couldn't find return {number} on your account. Please check the RMA number."
    if _zh(lang):
        return f"您的账户下没有找到订单 {number}。我只能查看您本人账户的订单，请核对订单号。"
    return (
        f"I couldn't find order {number} on your account. I can only see orders placed with "
        "your own account, so please check the number."
    )


def handoff(lang: str) -> str:
    if _zh(lang):
        return "已为您转接人工客服，工作人员会尽快加入对话。"
    return "I've passed this conversation to a human colleague; they will join shortly."


def smalltalk(intent: str, lang: str, customer: Customer) -> str:
    if intent == "policy":
        excluded = (
            "、".join(customer.non_returnable) if _zh(lang) else ", ".join(customer.non_returnable)
        )
        if _zh(lang):
            return f"商品送达后 {customer.window_days} 天内可以退货；{excluded} 不能退货。"
        return f"You can return items within {customer.window_days} days of delivery; {excluded} cannot be returned."
    zh = {
        "greeting": "您好！请问有什么可以帮您？我可以查询订单、物流和退货。",
        "thanks": "不客气！还有其他可以帮您的吗？",
        "bot": f"我是 {customer.shop_name} 的 AI 助手，可以帮您查询订单、物流和退货，也可以为您转接人工客服。",
    }
    en = {
        "greeting": "Hello! How can I help you today? I can look up your orders, deliveries and returns.",
        "thanks": "You're welcome! Is there anything else I can help with?",
        "bot": f"I'm an AI assistant for {customer.shop_name}. I can look up your orders, deliveries and returns, or pass you to a human colleague.",
    }
    return (zh if _zh(lang) else en)[intent]
