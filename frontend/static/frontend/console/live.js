// Parts of a console page that keep themselves current: an element with data-live-src is
// refetched every data-live-interval ms and replaced when the server's HTML (rendered and
// escaped by Django) has changed. With data-live-follow, a part scrolled to its end stays there.

for (const part of document.querySelectorAll("[data-live-src]")) {
  const interval = Number(part.dataset.liveInterval) || 3000;
  let last = part.innerHTML;
  const refresh = async () => {
    if (document.visibilityState === "visible") {
      try {
        const response = await fetch(part.dataset.liveSrc, { credentials: "same-origin" });
        if (response.ok) {
          const html = await response.text();
          if (html !== last) {
            const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
            part.innerHTML = html;
            last = html;
            part.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
            if ("liveFollow" in part.dataset && atEnd)
              window.scrollTo(0, document.body.scrollHeight);
          }
        }
      } catch {
        // Offline for a moment: the next tick tries again.
      }
    }
    setTimeout(refresh, interval);
  };
  setTimeout(refresh, interval);
}
