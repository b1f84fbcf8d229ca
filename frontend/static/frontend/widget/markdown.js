// A small Markdown subset (paragraphs, line breaks, lists, fenced and inline code, bold, italic,
// links) rendered with DOM calls only: text from the model, a tool or a person is only ever
// set as textContent, never parsed as HTML, so no markup or script in it can reach the page.

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
const INLINE =
  /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s\n][^*\n]*\*)|(\[[^\]\n]+\]\([^)\s]+\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

function el(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function link(href, text) {
  if (!SAFE_LINK.test(href)) return document.createTextNode(text);
  const a = el("a", text);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}

function inline(parent, text) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) parent.append(text.slice(last, match.index));
    const [whole, code, bold, italic, markdownLink, url] = match;
    if (code) parent.append(el("code", code.slice(1, -1)));
    else if (bold) inline(parent.appendChild(el("strong")), bold.slice(2, -2));
    else if (italic) inline(parent.appendChild(el("em")), italic.slice(1, -1));
    else if (markdownLink) {
      const [, label, href] = markdownLink.match(/^\[([^\]]+)\]\(([^)]+)\)$/);
      parent.append(link(href, label));
    } else if (url) parent.append(link(url, url));
    last = match.index + whole.length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

function lines(parent, block) {
  block.split("\n").forEach((line, i) => {
    if (i) parent.append(el("br"));
    inline(parent, line);
  });
}

const BULLET = /^\s*[-*•]\s+/;
const NUMBERED = /^\s*\d+[.)]\s+/;

function paragraphOrList(fragment, block) {
  const rows = block.split("\n");
  for (const [pattern, tag] of [
    [BULLET, "ul"],
    [NUMBERED, "ol"],
  ]) {
    if (rows.every((row) => pattern.test(row))) {
      const list = fragment.appendChild(el(tag));
      for (const row of rows) inline(list.appendChild(el("li")), row.replace(pattern, ""));
      return;
    }
  }
  const heading = block.match(/^#{1,6}\s+(.*)$/);
  if (heading && rows.length === 1) {
    inline(fragment.appendChild(el("p")).appendChild(el("strong")), heading[1]);
    return;
  }
  lines(fragment.appendChild(el("p")), block);
}

/** Markdown text → a DocumentFragment. An unclosed code fence (still streaming) is code too. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const parts = String(text).replace(/\r\n?/g, "\n").split(/^```/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const newline = part.indexOf("\n");
      const language = newline === -1 ? "" : part.slice(0, newline).trim();
      const body = newline === -1 ? "" : part.slice(newline + 1).replace(/\n$/, "");
      const code = fragment.appendChild(el("pre")).appendChild(el("code", body));
      if (/^[\w+-]{1,20}$/.test(language)) code.dataset.language = language;
      return;
    }
    for (const block of part.split(/\n\s*\n/)) {
      if (block.trim()) paragraphOrList(fragment, block.replace(/^\n+|\n+$/g, ""));
    }
  });
  return fragment;
}
