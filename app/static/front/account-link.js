// The pages that mailed links open: they send the link's token (and a new password) to the
// API when asked to, never on their own (mail scanners open links too).
"use strict";

const form = document.getElementById("link");
const outcome = document.getElementById("outcome");
const token = new URLSearchParams(window.location.search).get("token") || "";
// The token leaves the address bar, so it is not kept in the history or shown over a shoulder.
window.history.replaceState(null, "", window.location.pathname);

if (!token) {
  outcome.textContent = "This page needs the link from the message, token included.";
  form.hidden = true;
} else {
  form.querySelector("button").disabled = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { token };
  if (form.dataset.action === "reset") body.new_password = form.elements.new_password.value;
  form.querySelector("button").disabled = true;
  const response = await fetch(form.dataset.api, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.ok) {
    form.hidden = true;
    outcome.textContent = form.dataset.done;
    outcome.dataset.status = "done";
    return;
  }
  const fields = answer.fields || {};
  const messages = Object.values(fields).flat().map((each) => each.message);
  outcome.textContent = messages.length ? messages.join(" ") : answer.detail || "Something went wrong.";
  outcome.dataset.status = answer.code || String(response.status);
  form.querySelector("button").disabled = false;
});
