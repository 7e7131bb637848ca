// ccproxy permissions page: lists pending requests live (SSE) and decides them.
// With a token configured this page is served only to a signed-in browser (login.js exchanges
// the token for an HttpOnly cookie). Everything is rendered with textContent.
"use strict";

const API = "api";
const list = document.getElementById("requests");
const statusLine = document.getElementById("status");
const empty = document.getElementById("empty");
const template = document.getElementById("request-template");
const cards = new Map();

function refreshEmpty() {
  empty.hidden = cards.size > 0;
}

async function decide(request, card, allow) {
  const body = { allow: allow };
  const error = card.querySelector(".error");
  error.textContent = "";
  const message = card.querySelector(".message").value.trim();
  if (message) body.message = message;
  const editor = card.querySelector(".editor");
  if (allow && !editor.hidden) {
    try {
      body.updated_input = JSON.parse(editor.value);
    } catch (e) {
      error.textContent = "Edited input is not valid JSON: " + e.message;
      return;
    }
  }
  const response = await fetch(API + "/requests/" + encodeURIComponent(request.id) + "/decision", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.ok || response.status === 409 || response.status === 404) {
    removeCard(request.id);
  } else {
    error.textContent = "Decision failed: HTTP " + response.status;
  }
}

function addCard(request) {
  if (cards.has(request.id)) return;
  const card = template.content.firstElementChild.cloneNode(true);
  card.dataset.id = request.id;
  card.querySelector(".tool").textContent = request.tool_name;
  const expires = new Date(request.expires_at * 1000).toLocaleTimeString();
  card.querySelector(".meta").textContent =
    "id " + request.id + (request.tool_use_id ? " · " + request.tool_use_id : "") +
    " · denied automatically at " + expires;
  const text = JSON.stringify(request.input, null, 2);
  card.querySelector(".input").textContent = text;
  const editor = card.querySelector(".editor");
  editor.value = text;
  card.querySelector(".allow").addEventListener("click", () => decide(request, card, true));
  card.querySelector(".deny").addEventListener("click", () => decide(request, card, false));
  card.querySelector(".edit").addEventListener("click", () => { editor.hidden = !editor.hidden; });
  list.appendChild(card);
  cards.set(request.id, card);
  refreshEmpty();
}

function removeCard(id) {
  const card = cards.get(id);
  if (card) card.remove();
  cards.delete(id);
  refreshEmpty();
}

function connect() {
  const events = new EventSource(API + "/events");
  events.onopen = () => { statusLine.textContent = "Live."; };
  events.onerror = () => { statusLine.textContent = "Disconnected; retrying…"; };
  events.addEventListener("created", (e) => addCard(JSON.parse(e.data)));
  events.addEventListener("decided", (e) => removeCard(JSON.parse(e.data).id));
  events.addEventListener("expired", (e) => removeCard(JSON.parse(e.data).id));
}

connect();
refreshEmpty();
