// The widget's words in English and Simplified Chinese. Order, shipment and return statuses
// are the domain's values (assistant/shop/models.py).

const STRINGS = {
  en: {
    open: "Chat with us",
    title: "Shop assistant",
    minimise: "Minimise the chat",
    log: "Conversation",
    placeholder: "Write a message…",
    inputLabel: "Your message",
    send: "Send",
    human: "Talk to a human",
    end: "End chat",
    you: "You",
    assistant: "Assistant",
    system: "Notice",
    reconnecting: "Connection lost. Reconnecting…",
    failed: "The reply could not be finished.",
    retry: "Retry",
    waiting: "A member of our team will reply here.",
    humanAsked: "We've asked a member of our team to join. They will reply here.",
    humanReason: "The customer asked for a person.",
    error: "Something went wrong: {message}",
    csatQuestion: "How did we do?",
    csatStar: "{n} out of 5",
    csatComment: "Anything to add? (optional)",
    csatSubmit: "Send rating",
    csatThanks: "Thank you for your feedback!",
    newChat: "Start a new conversation",
    consent:
      "Let my future conversations help improve this assistant (personal details removed, " +
      "privacy-protected training). You can change this at any time.",
    greeting: "Hi! Ask me about your orders, deliveries and returns.",
    progress: {
      order_lookup: "Looking up order {order}…",
      order_lookup_recent: "Looking up your recent orders…",
      shipment_track: "Tracking the parcels of order {order}…",
      return_eligibility: "Checking what can be returned from order {order}…",
      return_create: "Opening a return for order {order}…",
      return_status: "Looking up return {rma}…",
      return_status_recent: "Looking up your returns…",
      code_complete: "Writing code…",
      handoff_to_human: "Finding a person to help…",
      other: "Working on it…",
    },
    card: {
      order: "Order {number}",
      recentOrders: "Your recent orders",
      placed: "Placed {date}",
      total: "Total",
      items: "Items",
      track: "Track parcel {number}",
      latest: "Latest: {description}, {location} ({at})",
      parcels: "Parcels of order {number}",
      eligibility: "Returns for order {number}",
      returnBy: "Return by {date}",
      notReturnable: "Not returnable: {reason}",
      returnLabel: "Return label",
      rma: "RMA number",
      labelHint: "Write the RMA number on the parcel and drop it at any carrier point.",
      printLabel: "Print return label",
      refund: "Refund",
      returnTitle: "Return {rma}",
      recentReturns: "Your returns",
      quantity: "{quantity} ×",
    },
    status: {
      pending: "Pending payment",
      paid: "Paid",
      processing: "Processing",
      shipped: "Shipped",
      delivered: "Delivered",
      cancelled: "Cancelled",
      label_created: "Label created",
      in_transit: "In transit",
      out_for_delivery: "Out for delivery",
      exception: "Delivery exception",
      returned_to_sender: "Returned to sender",
      requested: "Requested",
      approved: "Approved, awaiting the parcel",
      received: "Received at the warehouse",
      refunded: "Refunded",
      rejected: "Rejected",
    },
  },
  "zh-hans": {
    open: "在线咨询",
    title: "购物助手",
    minimise: "收起对话",
    log: "对话记录",
    placeholder: "输入消息…",
    inputLabel: "您的消息",
    send: "发送",
    human: "转人工客服",
    end: "结束对话",
    you: "您",
    assistant: "助手",
    system: "通知",
    reconnecting: "连接已断开，正在重新连接…",
    failed: "回复未能完成。",
    retry: "重试",
    waiting: "我们的客服人员会在这里回复您。",
    humanAsked: "已为您转接人工客服，客服人员会在这里回复您。",
    humanReason: "顾客要求人工服务。",
    error: "出错了：{message}",
    csatQuestion: "您对这次服务满意吗？",
    csatStar: "{n} 分（满分 5 分）",
    csatComment: "还有什么想告诉我们的吗？（可选）",
    csatSubmit: "提交评价",
    csatThanks: "感谢您的评价！",
    newChat: "开始新的对话",
    consent: "允许用我之后的对话改进助手（去除个人信息，隐私保护训练），可随时更改。",
    greeting: "您好！可以问我订单、物流和退货的问题。",
    progress: {
      order_lookup: "正在查询订单 {order}…",
      order_lookup_recent: "正在查询您最近的订单…",
      shipment_track: "正在跟踪订单 {order} 的包裹…",
      return_eligibility: "正在查看订单 {order} 中可退货的商品…",
      return_create: "正在为订单 {order} 创建退货…",
      return_status: "正在查询退货 {rma}…",
      return_status_recent: "正在查询您的退货…",
      code_complete: "正在编写代码…",
      handoff_to_human: "正在为您转接人工客服…",
      other: "正在处理…",
    },
    card: {
      order: "订单 {number}",
      recentOrders: "您最近的订单",
      placed: "下单日期 {date}",
      total: "合计",
      items: "商品",
      track: "跟踪包裹 {number}",
      latest: "最新：{description}，{location}（{at}）",
      parcels: "订单 {number} 的包裹",
      eligibility: "订单 {number} 的退货",
      returnBy: "请在 {date} 前退货",
      notReturnable: "不可退货：{reason}",
      returnLabel: "退货标签",
      rma: "退货单号",
      labelHint: "请在包裹上写明退货单号，并交给任意快递网点。",
      printLabel: "打印退货标签",
      refund: "退款",
      returnTitle: "退货 {rma}",
      recentReturns: "您的退货",
      quantity: "{quantity} ×",
    },
    status: {
      pending: "待付款",
      paid: "已付款",
      processing: "处理中",
      shipped: "已发货",
      delivered: "已送达",
      cancelled: "已取消",
      label_created: "已创建运单",
      in_transit: "运输中",
      out_for_delivery: "派送中",
      exception: "派送异常",
      returned_to_sender: "已退回发件人",
      requested: "已申请",
      approved: "已批准，等待寄回",
      received: "仓库已收货",
      refunded: "已退款",
      rejected: "已拒绝",
    },
  },
};

export const LOCALES = Object.keys(STRINGS);

/** "zh", "zh-CN", "zh-Hans" and the like are Chinese; anything else is English. */
export function localeOf(value) {
  return String(value || "")
    .toLowerCase()
    .startsWith("zh")
    ? "zh-hans"
    : "en";
}

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? String(values[name]) : whole,
  );
}

/** The string at a dotted key ("card.order") in the locale, with {placeholders} filled. */
export function translate(locale, key, values = {}) {
  const find = (table) => key.split(".").reduce((node, part) => node?.[part], table);
  const text = find(STRINGS[locale]) ?? find(STRINGS.en) ?? key;
  return fill(text, values);
}
