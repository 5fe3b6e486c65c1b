// The API's session, from the browser: register, log in, me, refresh, log out.
"use strict";

const walk = document.getElementById("walk");
const log = document.getElementById("log");
const email = `door-${Date.now()}@example.com`;
const password = `door-${crypto.getRandomValues(new Uint32Array(2)).join("-")}`;
const state = { access: null, refresh: null };
document.getElementById("email").textContent = email;
document.getElementById("password").textContent = password;

async function call(method, url, body, token) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method, headers, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  log.textContent += `${method} ${url} ${body ? JSON.stringify(body) : ""}\n` +
    `-> ${response.status} ${text}\n\n`;
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function keep(result) {
  if (result.status === 200 && result.body.access_token) {
    state.access = result.body.access_token;
    state.refresh = result.body.refresh_token;
  }
  return result;
}

const steps = {
  register: () => call("POST", walk.dataset.register, { email, password }),
  login: async () => keep(await call("POST", walk.dataset.login, { email, password })),
  me: () => call("GET", walk.dataset.me, null, state.access),
  refresh: async () => keep(await call("POST", walk.dataset.refresh, { refresh_token: state.refresh })),
  logout: () => call("POST", walk.dataset.logout, { refresh_token: state.refresh }),
  "refresh-again": () => call("POST", walk.dataset.refresh, { refresh_token: state.refresh }),
};

walk.addEventListener("click", async (event) => {
  const step = event.target.dataset.step;
  if (!step) return;
  event.target.disabled = true;
  try {
    const result = await steps[step]();
    event.target.dataset.status = result.status;
  } finally {
    event.target.disabled = false;
  }
});
