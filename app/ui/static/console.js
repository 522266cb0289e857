// The console's own script: the CSRF token on every htmx request, the live
// list (server-sent events from /ui/events ask the list to refresh itself),
// and the selection for bulk actions, kept across refreshes.
"use strict";

document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]');
  if (token) event.detail.headers["X-CSRF-Token"] = token.content;
});

function selected() {
  return new Set([...document.querySelectorAll('input[name="ids"]:checked')].map((box) => box.value));
}

function updateBulk() {
  const count = selected().size;
  for (const button of document.querySelectorAll("[data-bulk]")) button.disabled = count === 0;
  const shown = document.querySelector("[data-selected-count]");
  if (shown) shown.textContent = count ? `${count} selected` : "";
}

let keep = new Set();
document.addEventListener("htmx:beforeSwap", () => { keep = selected(); });
document.addEventListener("htmx:afterSwap", () => {
  for (const box of document.querySelectorAll('input[name="ids"]')) box.checked = keep.has(box.value);
  updateBulk();
});
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("[data-select-all]")) {
    for (const box of document.querySelectorAll('input[name="ids"]')) box.checked = target.checked;
  }
  updateBulk();
});

function live() {
  const list = document.querySelector("[data-live]");
  if (!list || !window.EventSource) return;
  const badge = document.querySelector(".live");
  let timer = null;
  const refresh = () => {
    clearTimeout(timer);
    // Changes come in bursts: one refresh for each burst, not one per change.
    timer = setTimeout(() => htmx.trigger(list, "refresh"), 250);
  };
  const source = new EventSource(list.dataset.live);
  source.addEventListener("open", () => badge && badge.classList.add("on"));
  source.addEventListener("error", () => badge && badge.classList.remove("on"));
  source.addEventListener("changed", refresh);
}

document.addEventListener("DOMContentLoaded", () => { live(); updateBulk(); });
