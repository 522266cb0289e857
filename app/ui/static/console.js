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

// The silence form: one more matcher row, a copy of the last one, emptied
// and numbered next (matchers.<i>.name, .value, .is_regex).
document.addEventListener("click", (event) => {
  if (!event.target.matches("[data-add-matcher]")) return;
  const rows = event.target.closest("fieldset").querySelector("table.matcher-rows tbody");
  const last = rows.lastElementChild;
  const index = rows.children.length;
  const row = last.cloneNode(true);
  for (const error of row.querySelectorAll(".error")) error.remove();
  for (const input of row.querySelectorAll("input")) {
    input.name = input.name.replace(/^matchers\.\d+\./, `matchers.${index}.`);
    const label = input.getAttribute("aria-label");
    if (label) input.setAttribute("aria-label", label.replace(/^matcher \d+/, `matcher ${index + 1}`));
    input.removeAttribute("aria-invalid");
    if (input.type === "checkbox") input.checked = false; else input.value = "";
  }
  rows.appendChild(row);
  row.querySelector("input").focus();
});

document.addEventListener("DOMContentLoaded", () => { live(); updateBulk(); });
