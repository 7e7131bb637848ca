// ccproxy usage dashboard sign-in: exchanges the token (typed in, or passed once as
// /metrics/dashboard#token=...) for an HttpOnly cookie, then reloads to show the page.
"use strict";

const form = document.getElementById("login");
const input = document.getElementById("token");
const statusLine = document.getElementById("status");

async function signIn(token) {
  const response = await fetch("dashboard/session", {
    method: "POST",
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: "{}",
    credentials: "same-origin",
  });
  if (!response.ok) {
    throw new Error(response.status === 401 ? "the token was refused" : "HTTP " + response.status);
  }
  location.replace(location.pathname + location.search);
}

function attempt(token) {
  statusLine.className = "";
  statusLine.textContent = "Signing in…";
  signIn(token).catch((e) => {
    statusLine.textContent = "Could not sign in: " + e.message;
    statusLine.className = "error";
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = input.value.trim();
  if (token) attempt(token);
});
// Enabled only now: a form sent before this script runs would carry the token elsewhere.
form.querySelector("button").disabled = false;

const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (match) {
  history.replaceState(null, "", location.pathname + location.search);
  attempt(decodeURIComponent(match[1]));
}
