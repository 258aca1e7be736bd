// The review console's page. Plain JS, no build step, nothing loaded from anywhere but the console.
// Cards are built with textContent only: a post's text is hostile and never parsed as HTML. Images
// come from /thumb/<post_id> (fetched and re-encoded by the server); the page never sees a URL.
"use strict";

const origin = window.location.origin; // never the page URL: it may carry user:password
const cards = new Map(); // post_id -> {data, el}
let order = []; // post_ids, flagged first then newest change first
let cursor = 0;
let maxCards = 300;
let labelNames = [];
let source = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function api(path, options) {
  return fetch(new URL(path, origin), Object.assign({ credentials: "same-origin", cache: "no-store" }, options));
}

function filters() {
  return {
    flagged: $("f-flagged").checked,
    label: $("f-label").value,
    undecided: $("f-undecided").checked,
  };
}

function matches(data) {
  const f = filters();
  if (f.flagged && !data.flagged) return false;
  if (f.undecided && data.decision) return false;
  if (f.label && !(data.labels.length && data.labels[0].label === f.label)) return false; // the top label
  return true;
}

function before(a, b) {
  // true when card a sorts before card b
  if (a.flagged !== b.flagged) return a.flagged;
  return a.seq > b.seq;
}

function renderCard(data) {
  const card = el("article", {
    class: "card" + (data.flagged ? " flagged" : ""),
    "data-post-id": data.post_id,
    "data-decided": data.decision ? "true" : "false",
    tabindex: "0",
  });
  const thumb = el("div", { class: "thumb" });
  if (data.has_image && (data.image_status === "ok" || data.image_status === "failed")) {
    const img = el("img", { alt: "post image", loading: "lazy", "data-role": "thumb" });
    img.src = new URL("/thumb/" + encodeURIComponent(data.post_id), origin).href;
    img.addEventListener("error", () => thumb.replaceChildren("image unavailable"));
    thumb.append(img);
    if (data.flagged) {
      img.classList.add("blurred");
      img.title = "flagged: click to show";
      const veil = el("span", { class: "veil" }, "flagged · click to show");
      img.addEventListener("click", () => {
        img.classList.remove("blurred");
        veil.remove();
      });
      thumb.append(veil);
    }
  } else {
    thumb.append(data.has_image ? "image " + data.image_status : "no image");
  }

  const body = el("div", { class: "body" });
  body.append(
    data.text ? el("p", { class: "text" }, data.text) : el("p", { class: "text none" }, "(no text)"),
  );
  const meta = el(
    "div",
    { class: "meta" },
    data.flagged ? el("span", { class: "badge flag" }, "flagged") : el("span", { class: "badge clear" }, "not flagged"),
    el("span", { class: "badge" }, "image " + data.image_status),
    data.cached ? el("span", { class: "badge" }, "cached") : null,
    el("span", { class: "badge", title: data.model_version }, "model " + data.model_version.slice(0, 28)),
    el("span", { class: "badge", title: "post_id" }, data.post_id.slice(0, 40)),
  );
  body.append(meta);

  const top3 = el("ul", { class: "top3" });
  for (const ls of data.labels) {
    const bar = el("span");
    bar.style.width = Math.round(Math.max(0, Math.min(1, ls.score)) * 100) + "%";
    top3.append(el("li", {}, el("span", {}, ls.label), el("div", { class: "bar" }, bar), el("span", {}, ls.score.toFixed(2))));
  }
  body.append(top3);

  const table = el("table");
  for (const [name, score] of Object.entries(data.scores).sort((a, b) => b[1] - a[1])) {
    table.append(el("tr", {}, el("td", {}, name), el("td", {}, Number(score).toFixed(3))));
  }
  body.append(el("details", {}, el("summary", {}, "all scores"), table));

  const toggles = el("div", { class: "toggles", role: "group", "aria-label": "true labels" });
  const chosen = new Set(data.decision ? data.decision.labels : []);
  for (const name of Object.keys(data.scores)) {
    const button = el("button", { type: "button", "data-label": name, "aria-pressed": chosen.has(name) ? "true" : "false" }, name);
    button.addEventListener("click", () => {
      button.setAttribute("aria-pressed", button.getAttribute("aria-pressed") === "true" ? "false" : "true");
    });
    toggles.append(button);
  }
  body.append(toggles);

  const status = el("span", { class: "status", role: "status" });
  if (data.decision) {
    status.className = "status done";
    status.textContent = describe(data.decision);
  }
  const decide = el("button", { type: "button", "data-action": "decide" }, "Submit labels");
  const benign = el("button", { type: "button", "data-action": "benign" }, "Benign");
  decide.addEventListener("click", () => {
    const labels = [...toggles.querySelectorAll('button[aria-pressed="true"]')].map((b) => b.dataset.label);
    submit(data.post_id, labels);
  });
  benign.addEventListener("click", () => submit(data.post_id, []));
  body.append(el("div", { class: "actions" }, decide, benign, status));

  card.append(thumb, body);
  return card;
}

function describe(decision) {
  const what = decision.labels.length ? decision.labels.join(", ") : "benign";
  return "decided: " + what + " by " + decision.moderator_id;
}

async function submit(postId, labels) {
  const entry = cards.get(postId);
  if (!entry) return;
  const status = entry.el.querySelector(".status");
  const buttons = entry.el.querySelectorAll("button[data-action]");
  buttons.forEach((b) => (b.disabled = true));
  status.className = "status";
  status.textContent = "sending…";
  try {
    const response = await api("/api/cards/" + encodeURIComponent(postId) + "/decision", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ labels }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || "HTTP " + response.status);
    upsert(answer.card, true);
  } catch (err) {
    status.className = "status error";
    status.setAttribute("role", "alert");
    status.textContent = "not recorded: " + err.message;
    buttons.forEach((b) => (b.disabled = false));
  }
}

function upsert(data, force) {
  const old = cards.get(data.post_id);
  if (old && old.data.seq >= data.seq) return; // a copy we already show: keep its toggles as they are
  if (old) remove(data.post_id);
  if (!force && !matches(data)) return;
  const node = renderCard(data);
  if (old) keepState(old.el, node, data);
  let lo = 0, hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(cards.get(order[mid]).data, data)) lo = mid + 1;
    else hi = mid;
  }
  const next = lo < order.length ? cards.get(order[lo]).el : null;
  $("cards").insertBefore(node, next);
  order.splice(lo, 0, data.post_id);
  cards.set(data.post_id, { data, el: node });
  if (old) old.el.remove();
  while (order.length > maxCards) remove(order[order.length - 1]); // the page keeps a bounded number
}

function keepState(oldNode, node, data) {
  // A card changed while a moderator works on it (a rescore, say): keep their toggles and reveal.
  if (!data.decision) {
    for (const pressed of oldNode.querySelectorAll('button[data-label][aria-pressed="true"]')) {
      const same = node.querySelector('button[data-label="' + CSS.escape(pressed.dataset.label) + '"]');
      if (same) same.setAttribute("aria-pressed", "true");
    }
  }
  const oldImg = oldNode.querySelector("img[data-role=thumb]");
  const img = node.querySelector("img.blurred");
  if (oldImg && img && !oldImg.classList.contains("blurred")) img.click();
  if (document.activeElement === oldNode) setTimeout(() => node.focus(), 0);
}

function remove(postId) {
  const entry = cards.get(postId);
  if (!entry) return;
  cards.delete(postId);
  const i = order.indexOf(postId);
  if (i >= 0) order.splice(i, 1);
  entry.el.remove();
}

function summary(dropped) {
  const flagged = order.filter((id) => cards.get(id).data.flagged).length;
  let text = order.length + " cards shown (" + flagged + " flagged, at most " + maxCards + " kept)";
  if (dropped) text += " · " + dropped + " older updates skipped to keep up";
  $("summary").textContent = text;
}

async function reload() {
  const f = filters();
  const query = new URLSearchParams();
  if (f.flagged) query.set("flagged", "1");
  if (f.label) query.set("label", f.label);
  if (f.undecided) query.set("undecided", "1");
  const response = await api("/api/cards?" + query.toString());
  if (!response.ok) throw new Error("HTTP " + response.status);
  const snapshot = await response.json();
  for (const id of [...order]) remove(id);
  for (const data of snapshot.cards) {
    learnLabels(data);
    upsert(data, false);
  }
  cursor = snapshot.cursor;
  summary(0);
  listen();
}

function learnLabels(data) {
  for (const name of Object.keys(data.scores)) {
    if (!labelNames.includes(name) && labelNames.length < 64) {
      labelNames.push(name);
      $("f-label").append(el("option", { value: name }, name));
    }
  }
}

function listen() {
  if (source) source.close();
  source = new EventSource(new URL("/api/events?cursor=" + cursor, origin).href);
  source.addEventListener("open", () => {
    $("conn").textContent = "live";
    $("conn").className = "conn live";
  });
  source.addEventListener("error", () => {
    // Reconnect ourselves, from the cursor we reached (the browser's own retry reuses the old URL).
    $("conn").textContent = "reconnecting…";
    $("conn").className = "conn down";
    source.close();
    setTimeout(listen, 2000);
  });
  source.addEventListener("cards", (event) => {
    const push = JSON.parse(event.data);
    for (const data of push.cards) {
      learnLabels(data);
      upsert(data, false);
    }
    cursor = push.cursor;
    summary(push.dropped);
  });
}

function focused() {
  const node = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".card") : null;
  return node && cards.has(node.dataset.postId) ? node : null;
}

function onKey(event) {
  if (event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
  const card = focused();
  const all = [...$("cards").children];
  if (event.key === "j" || event.key === "k") {
    const i = card ? all.indexOf(card) : -1;
    const target = all[event.key === "j" ? Math.min(all.length - 1, i + 1) : Math.max(0, i - 1)];
    if (target) target.focus();
    event.preventDefault();
    return;
  }
  if (!card) return;
  if (/^[1-9]$/.test(event.key)) {
    const toggle = card.querySelectorAll("button[data-label]")[Number(event.key) - 1];
    if (toggle) toggle.click();
  } else if (event.key === "Enter" && event.target === card) {
    card.querySelector('button[data-action="decide"]').click();
  } else if (event.key === "b") {
    card.querySelector('button[data-action="benign"]').click();
  } else if (event.key === "v") {
    const img = card.querySelector("img.blurred");
    if (img) img.click();
  } else if (event.key === "s") {
    const details = card.querySelector("details");
    details.open = !details.open;
  } else {
    return;
  }
  event.preventDefault();
}

async function start() {
  try {
    const me = await (await api("/api/me")).json();
    $("who").textContent = "signed in as " + me.moderator_id;
    maxCards = me.page_max_cards;
    await reload();
  } catch (err) {
    $("conn").textContent = "error: " + err.message;
    $("conn").className = "conn down";
  }
  for (const id of ["f-flagged", "f-label", "f-undecided"]) $(id).addEventListener("change", () => reload());
  document.addEventListener("keydown", onKey);
}

start();
