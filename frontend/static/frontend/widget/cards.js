// Tool results as cards. The result shapes are documented in assistant/agent/spec.py. Every
// value is set as text (product names come from the shop's catalogue and are not trusted).

import { link } from "./markdown.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function card(kind, title) {
  const root = el("section", `card card-${kind}`);
  root.append(el("h3", "card-title", title));
  return root;
}

function status(t, value) {
  return el("span", `badge badge-${String(value).replace(/[^\w-]/g, "")}`, t(`status.${value}`));
}

function row(label, value) {
  const line = el("div", "card-row");
  line.append(
    el("span", "card-label", label),
    typeof value === "object" ? value : el("span", "", value),
  );
  return line;
}

function items(t, list) {
  const ul = el("ul", "card-items");
  for (const item of list || []) {
    const text = typeof item === "string" ? item : `${t("card.quantity", item)} ${item.name}`;
    ul.append(el("li", "", text));
  }
  return ul;
}

function money(amount, currency) {
  return `${amount} ${currency}`;
}

function order(t, result) {
  const root = card("order", t("card.order", { number: result.order_number }));
  root.append(row(t("card.placed", { date: result.placed_at }), status(t, result.status)));
  root.append(row(t("card.total"), money(result.total, result.currency)));
  root.append(items(t, result.items));
  for (const shipment of result.shipments || []) root.append(parcel(t, shipment));
  return root;
}

function recentOrders(t, result) {
  const root = card("orders", t("card.recentOrders"));
  for (const o of result.orders) {
    const entry = el("div", "card-entry");
    entry.append(
      row(t("card.order", { number: o.order_number }), status(t, o.status)),
      el("div", "card-muted", `${o.placed_at} · ${money(o.total, o.currency)}`),
      items(t, o.items),
    );
    root.append(entry);
  }
  return root;
}

function parcel(t, shipment) {
  const entry = el("div", "card-entry");
  const trackText = t("card.track", { number: shipment.tracking_number });
  const track = shipment.tracking_url
    ? link(shipment.tracking_url, trackText)
    : el("span", "", `${shipment.carrier} ${shipment.tracking_number}`);
  if (track.classList) track.classList.add("card-link");
  entry.append(row(shipment.carrier, status(t, shipment.status)), track);
  const latest = shipment.latest_event;
  if (latest) entry.append(el("div", "card-muted", t("card.latest", latest)));
  if (shipment.items) entry.append(items(t, shipment.items));
  return entry;
}

function tracking(t, result) {
  const root = card("tracking", t("card.parcels", { number: result.order_number }));
  root.append(status(t, result.status));
  for (const shipment of result.shipments) root.append(parcel(t, shipment));
  return root;
}

function eligibility(t, result) {
  const root = card("eligibility", t("card.eligibility", { number: result.order_number }));
  const ul = el("ul", "card-items");
  for (const item of result.items) {
    const note = item.eligible
      ? t("card.returnBy", { date: item.deadline })
      : t("card.notReturnable", { reason: item.reason });
    const li = el("li", item.eligible ? "eligible" : "not-eligible", `${item.name} — ${note}`);
    ul.append(li);
  }
  root.append(ul);
  return root;
}

function printLabel(t, result) {
  // The label is built in a new window with DOM calls, like everything else.
  const view = window.open("", "_blank", "width=480,height=600");
  if (!view) return;
  const doc = view.document;
  doc.title = `${t("card.returnLabel")} ${result.rma_number}`;
  const box = doc.body.appendChild(doc.createElement("div"));
  box.style.cssText = "font:16px sans-serif;border:3px dashed #000;padding:24px;margin:24px";
  for (const [tag, text] of [
    ["h1", t("card.returnLabel")],
    ["p", t("card.rma")],
    ["h2", result.rma_number],
    ["p", t("card.labelHint")],
  ]) {
    box.appendChild(doc.createElement(tag)).textContent = text;
  }
  view.print();
}

function returnLabel(t, result, title) {
  const root = card("return", title);
  const label = el("div", "return-label");
  label.append(
    el("div", "card-label", t("card.rma")),
    el("div", "rma-number", result.rma_number),
    el("div", "card-muted", t("card.labelHint")),
  );
  const print = el("button", "card-button", t("card.printLabel"));
  print.type = "button";
  print.addEventListener("click", () => printLabel(t, result));
  root.append(
    label,
    status(t, result.status),
    row(t("card.refund"), money(result.refund_amount, result.currency)),
    items(t, result.items),
    print,
  );
  return root;
}

function returnStatus(t, result) {
  if (!result.returns)
    return returnLabel(t, result, t("card.returnTitle", { rma: result.rma_number }));
  const root = card("returns", t("card.recentReturns"));
  for (const r of result.returns) {
    const entry = el("div", "card-entry");
    entry.append(
      row(r.rma_number, status(t, r.status)),
      el("div", "card-muted", `${r.created_at} · ${money(r.refund_amount, r.currency)}`),
      items(t, r.items),
    );
    root.append(entry);
  }
  return root;
}

const BUILDERS = {
  order_lookup: (t, result) => (result.orders ? recentOrders(t, result) : order(t, result)),
  shipment_track: tracking,
  return_eligibility: eligibility,
  return_create: (t, result) => returnLabel(t, result, t("card.returnLabel")),
  return_status: returnStatus,
};

/** A card element for a successful tool result, or null for tools that have none. */
export function buildCard(t, name, result) {
  const build = BUILDERS[name];
  if (!build || !result || result.error) return null;
  const root = build(t, result);
  root.dataset.tool = name;
  return root;
}

/** What the customer reads while a tool runs ("Looking up order 12345…"). */
export function progressText(t, name, args) {
  const a = args && typeof args === "object" ? args : {};
  if (name === "order_lookup" && !a.order_number) return t("progress.order_lookup_recent");
  if (name === "return_status" && !a.rma_number) return t("progress.return_status_recent");
  const known =
    Object.hasOwn(BUILDERS, name) || name === "code_complete" || name === "handoff_to_human";
  return t(known ? `progress.${name}` : "progress.other", {
    order: String(a.order_number ?? "").replace(/^#/, ""),
    rma: a.rma_number ?? "",
  });
}
