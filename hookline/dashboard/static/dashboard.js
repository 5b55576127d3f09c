// hookline dashboard: live updates by polling /dashboard/live. No framework, no build step.
// Values from the server are only ever set with textContent, properties and attributes:
// never as HTML.
"use strict";
(function () {
  const POLL_MS = 2000;

  function markBroken(img) {
    // Neither the archived copy nor the upstream's link can be shown (links expire): a small,
    // fixed-size note instead of a large blank box. The link still leads to the original.
    const link = img.closest("a");
    if (!link || link.classList.contains("broken")) return;
    link.classList.add("broken");
    link.title = "The image could not be loaded (the upstream's links expire); open it to try again.";
    const note = document.createElement("span");
    note.className = "broken-note";
    note.textContent = img.width > 64 ? "image unavailable" : "no image";
    link.appendChild(note);
  }

  function imageFailed(img) {
    // An archived image that cannot be shown falls back to the upstream URL, once.
    if (!img.dataset.original) img.dataset.original = img.getAttribute("src");
    const fallback = img.dataset.fallback;
    if (fallback && !img.dataset.triedFallback && img.getAttribute("src") !== fallback) {
      img.dataset.triedFallback = "1";
      img.src = fallback;
      return;
    }
    markBroken(img);
  }

  function wireFallbacks(root) {
    root.querySelectorAll("img[data-fallback]").forEach(function (img) {
      if (img.dataset.wired) return;
      img.dataset.wired = "1";
      img.addEventListener("error", function () { imageFailed(img); });
      // It may have failed before this script ran (it is deferred): its error event is gone.
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) imageFailed(img);
    });
  }

  function wireConfirms(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  function setBadge(el, status) {
    if (!el) return;
    el.textContent = status;
    el.className = "badge badge-" + status;
  }

  function showThumbs(cell, thumbs, size, limit) {
    // Progress previews are replaced by the final images (or the archived copies) as they come.
    if (!cell) return;
    const wanted = thumbs.slice(0, limit);
    const shown = Array.from(cell.querySelectorAll("img")).map(function (img) {
      return img.dataset.original || img.getAttribute("src");
    });
    if (shown.join("\n") === wanted.map(function (t) { return t[0]; }).join("\n")) return;
    cell.replaceChildren();
    wanted.forEach(function (thumb, i) {
      const link = document.createElement("a");
      link.href = thumb[2];
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      const img = document.createElement("img");
      img.src = thumb[0];
      img.dataset.original = thumb[0];
      img.dataset.fallback = thumb[1];
      img.alt = "result image " + (i + 1);
      img.width = size;
      img.height = size;
      img.referrerPolicy = "no-referrer";
      link.appendChild(img);
      cell.appendChild(link);
    });
    wireFallbacks(cell);
  }

  function collect() {
    const params = new URLSearchParams();
    const jobs = [];
    document.querySelectorAll("[data-job]").forEach(function (el) {
      if (!el.dataset.terminal || el.dataset.live === "job") jobs.push(el.dataset.job);
    });
    if (jobs.length) params.set("jobs", jobs.slice(0, 100).join(","));
    const detail = document.querySelector("[data-live=job]");
    if (detail) params.set("job", detail.dataset.job);
    const deliveries = [];
    document.querySelectorAll("tr[data-delivery]").forEach(function (row) {
      const badge = row.querySelector("[data-field=status]");
      if (!badge || badge.textContent !== "delivered") deliveries.push(row.dataset.delivery);
    });
    if (deliveries.length) params.set("deliveries", deliveries.slice(0, 200).join(","));
    const list = document.querySelector("[data-watch-new='1']");
    if (list) {
      params.set("watch_new", "1");
      const here = new URLSearchParams(window.location.search);
      ["status", "provider", "q"].forEach(function (name) {
        if (here.get(name)) params.set(name, here.get(name));
      });
    }
    return params.toString();
  }

  function showNote() {
    const note = document.querySelector("[data-live-note]");
    if (note) note.hidden = false;
  }

  function apply(answer) {
    Object.entries(answer.jobs || {}).forEach(function ([id, job]) {
      document.querySelectorAll("[data-job='" + CSS.escape(id) + "']").forEach(function (el) {
        setBadge(el.querySelector("[data-field=status]"), job.status);
        const bar = el.querySelector("progress[data-field=progress]");
        if (bar) bar.value = job.progress;
        const label = el.querySelector("[data-field=progress-label]");
        if (label) label.textContent = job.label;
        showThumbs(el.querySelector("[data-field=thumb]"), job.thumbs, 64, 1);
        showThumbs(el.querySelector("[data-field=images]"), job.thumbs, 160, 8);
        if (job.terminal) el.dataset.terminal = "1";
      });
    });
    Object.entries(answer.deliveries || {}).forEach(function ([id, delivery]) {
      document.querySelectorAll("tr[data-delivery='" + CSS.escape(id) + "']").forEach(function (row) {
        setBadge(row.querySelector("[data-field=status]"), delivery.status);
        const attempts = row.querySelector("[data-field=attempts]");
        if (attempts) attempts.textContent = String(delivery.attempts);
        const last = row.querySelector("[data-field=last]");
        if (last) last.textContent = delivery.last;
        const next = row.querySelector("[data-field=next]");
        if (next && delivery.waiting_for) {
          // Held behind an earlier delivery of its chain: link to the one it waits for.
          const link = document.createElement("a");
          link.href = "/dashboard/deliveries/" + encodeURIComponent(delivery.waiting_for);
          link.className = "waiting";
          link.textContent = delivery.next;
          next.replaceChildren(link);
        } else if (next) {
          next.textContent = delivery.next;
        }
        const action = row.querySelector("[data-field=action]");
        if (action && delivery.status === "delivered") action.textContent = "";
      });
    });
    Object.entries(answer.counts || {}).forEach(function ([id, counts]) {
      const detail = document.querySelector("[data-live=job]");
      if (detail && detail.dataset.job === id && detail.dataset.counts !== counts) showNote();
    });
    const list = document.querySelector("[data-watch-new='1']");
    if (list && answer.newest && answer.newest !== list.dataset.newest) showNote();
  }

  async function poll() {
    const params = collect();
    if (!params) return; // nothing on this page changes
    if (!document.hidden) {
      try {
        const response = await fetch("/dashboard/live?" + params, {
          credentials: "same-origin",
          headers: { accept: "application/json" },
        });
        if (response.status === 401) {
          window.location.reload(); // the session expired: the reload lands on the login form
          return;
        }
        if (response.ok) apply(await response.json());
      } catch (error) {
        // hookline is restarting or the network blinked: try again on the next tick.
      }
    }
    window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireFallbacks(document);
    wireConfirms(document);
    window.setTimeout(poll, POLL_MS);
  });
})();
