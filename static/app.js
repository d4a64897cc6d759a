// Small enhancements; every page works without them.
"use strict";

// Buttons that need the script (Copy of a field) are hidden until it runs; a credential's key
// fields get theirs here.
for (const button of document.querySelectorAll("button[data-copy][hidden]")) button.hidden = false;
for (const field of document.querySelectorAll("article.credential label > input")) {
  const copy = document.createElement("button");
  copy.type = "button";
  copy.dataset.copy = field.id || (field.id = `key-${Math.random().toString(36).slice(2)}`);
  copy.textContent = "Copy";
  field.parentElement.after(copy);
}
// The OpenStack fields of the service form show only for an OpenStack service.
const kind = document.querySelector("form select#kind[name=kind]");
const openstackOnly = kind && kind.form.querySelector("fieldset.openstack-only");
if (openstackOnly && [...kind.options].some((o) => o.value === "openstack")) {
  const follow = () => { openstackOnly.hidden = kind.value !== "openstack"; };
  kind.addEventListener("change", follow);
  follow();
}

// A new project's short name follows its name until it is typed in itself.
const projectName = document.querySelector("form input#name[name=name]");
const projectSlug = projectName && projectName.form.querySelector("input#slug[name=slug]");
if (projectSlug) {
  let typed = projectSlug.value !== "";
  projectSlug.addEventListener("input", () => { typed = projectSlug.value !== ""; });
  projectName.addEventListener("input", () => {
    if (!typed) {
      projectSlug.value = projectName.value.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean).join("-").slice(0, 40).replace(/-$/, "");
    }
  });
}

// A key's "Configure your client" reloads the page with its panel open: scroll back to it.
const configured = new URLSearchParams(location.search).get("configure");
if (configured && !location.hash) document.getElementById(`credential-${configured}`)?.scrollIntoView();

// Puts `text` on the clipboard. Browsers give the clipboard only to https pages and localhost:
// elsewhere the text is selected for the user to copy, and the answer says so.
async function copyText(text, source) {
  try {
    await navigator.clipboard.writeText(text);
    return "Copied";
  } catch {
    if (source && source.select) {
      source.focus();
      source.select();
    } else if (source) {
      window.getSelection().selectAllChildren(source);
    } else {
      return "Copy not allowed here";
    }
    return "Selected: press Ctrl+C";
  }
}

function flash(button, label) {
  const before = button.dataset.label || button.textContent;
  button.dataset.label = before;
  button.textContent = label;
  setTimeout(() => { button.textContent = before; }, 2500);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  // `data-copy` names the element to copy, or is empty for the field just before the button.
  const source = button.dataset.copy ? document.getElementById(button.dataset.copy) : button.previousElementSibling;
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  flash(button, await copyText(text, source));
});

// Forms marked data-confirm (or their button, for a form that rows share) ask first and then say
// so with confirm=yes; without JavaScript the server answers the same question with a
// confirmation page.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = event.submitter;
  const question = (button && button.dataset && button.dataset.confirm) || (form.dataset && form.dataset.confirm);
  if (!question) return;
  if (!window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (!form.querySelector("input[name=confirm]")) {
    const yes = document.createElement("input");
    yes.type = "hidden";
    yes.name = "confirm";
    yes.value = "yes";
    form.append(yes);
  }
});

// A key's Regenerate and Delete open the page's one dialog for that action, filled in for the
// key; without JavaScript (or without the dialog) they lead to the same confirmation as a page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("article.credential p.actions a");
  const action = link && /\/(regenerate|delete)$/.exec(link.pathname);
  if (action) {
    const dialog = document.getElementById(`${action[1]}-dialog`);
    const card = link.closest("article");
    if (dialog && typeof dialog.showModal === "function") {
      event.preventDefault();
      // The key's name and public part, as its card shows them.
      const name = card.querySelector("h4").textContent;
      const key = card.querySelector("label > input").value;
      const variant = card.dataset.variant || "key";
      for (const part of dialog.querySelectorAll("[data-variant]")) {
        const mine = part.dataset.variant === variant;
        part.hidden = !mine;
        for (const input of part.querySelectorAll("input")) input.disabled = !mine;
        if (mine && part.dataset.text) {
          part.textContent = part.dataset.text.replaceAll("‹name›", name).replaceAll("‹key›", key);
        }
      }
      for (const slot of dialog.querySelectorAll("[data-fill=name]")) slot.textContent = name;
      for (const input of dialog.querySelectorAll("[data-fill-value=key]")) input.value = key;
      dialog.querySelector("form").action = link.href;
      const rotation = dialog.querySelector("[data-rotation-link]");
      if (rotation) rotation.href = link.href.replace(/regenerate$/, "rotation");
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
  let text;
  try {
    const response = await fetch(button.form.action, { method: "POST", body, credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    // Keyport asks who you are first: go there; the page brings you back to press Copy again.
    if (response.redirected) { window.location.assign(response.url); return; }
    text = await response.text();
  } catch {
    flash(button, "Copy failed: the server did not answer");
    return;
  }
  try {
    await navigator.clipboard.writeText(text);
    flash(button, "Copied");
  } catch {
    // No clipboard on a plain-HTTP address: the text goes into a field, selected, to copy.
    let field = button.form.querySelector("textarea.copy-fallback");
    if (!field) {
      field = document.createElement("textarea");
      field.className = "copy-fallback mono";
      field.readOnly = true;
      field.rows = 6;
      field.setAttribute("aria-label", "Snippet to copy");
      button.form.append(field);
    }
    field.value = text;
    field.focus();
    field.select();
    flash(button, "Selected below: press Ctrl+C");
  }
});
