// Small enhancements; every page works without them.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    source.select?.();
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Forms marked data-confirm ask first; without JavaScript they submit as they are.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Links marked data-dialog open the confirmation dialog in place; without JavaScript they lead
// to the same confirmation as a page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-dialog]");
  if (link) {
    const dialog = document.getElementById(link.dataset.dialog);
    if (dialog && typeof dialog.showModal === "function") {
      event.preventDefault();
      dialog.showModal();
    }
    return;
  }
  const close = event.target.closest("[data-close]");
  if (close) close.closest("dialog")?.close();
});

// A snippet's Copy asks the server for the text (audited when it holds the secret) and copies it;
// without JavaScript the same button shows the text as a page.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy-post]");
  if (!button || !button.form) return;
  event.preventDefault();
  const body = new URLSearchParams(new FormData(button.form));
  body.set("purpose", "copy");
  const label = button.textContent;
  try {
    const response = await fetch(button.form.action, { method: "POST", body, credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    // Keyport asks who you are first: go there; the page brings you back to press Copy again.
    if (response.redirected) { window.location.assign(response.url); return; }
    await navigator.clipboard.writeText(await response.text());
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = label; }, 1500);
});
