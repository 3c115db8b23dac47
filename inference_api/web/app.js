// The search page: asks the JSON API of turkish_clip/server.py and draws the grid. No external resources.
"use strict";
const $ = (id) => document.getElementById(id);
const initialQuery = new URLSearchParams(location.search).get("q");  // ?q=... runs that search on load
let latest = 0;  // only the newest request may draw the grid

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

async function api(path, params) {
  const response = await fetch(path + "?" + new URLSearchParams(params));
  let body;
  try { body = await response.json(); } catch (e) { body = {error: "the server's answer was not JSON (" + response.status + ")"}; }
  if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
  return body;
}

function card(item, caption) {
  const figure = document.createElement("figure");
  figure.className = "card";
  figure.dataset.path = item.path;
  const img = document.createElement("img");
  img.src = item.url;
  img.alt = item.path;
  img.loading = "lazy";
  figure.append(img);
  const text = document.createElement("figcaption");
  caption(text);
  figure.append(text);
  figure.addEventListener("click", () => openLightbox(item));
  return figure;
}

function bar(fraction) {
  const div = document.createElement("div");
  div.className = "bar";
  div.style.width = Math.max(0, Math.min(1, fraction)) * 100 + "%";
  return div;
}

async function search(query, top) {
  const ticket = ++latest;
  setStatus("aranıyor…");
  $("grid").replaceChildren();
  const body = await api("/api/search", {q: query, top: top});
  if (ticket !== latest) return;
  const cards = body.results.map((item, i) => card(item, (text) => {
    text.innerHTML = '<span class="rank"></span><span class="score"></span> <span class="name"></span>';
    text.querySelector(".rank").textContent = "#" + (i + 1);
    text.querySelector(".score").textContent = item.score.toFixed(4);
    text.querySelector(".name").textContent = item.path;
    text.append(bar((item.score + 1) / 2));
  }));
  cards.forEach((c, i) => { c.dataset.score = body.results[i].score; c.classList.add("result"); });
  $("grid").replaceChildren(...cards);
  setStatus("“" + body.query + "” için en iyi " + body.results.length + " sonuç (kosinüs benzerliği)");
}

async function classify(labels) {
  const ticket = ++latest;
  setStatus("sınıflandırılıyor…");
  $("grid").replaceChildren();
  const body = await api("/api/classify", {labels: labels});
  if (ticket !== latest) return;
  const cards = body.images.map((item) => card(item, (text) => {
    const name = document.createElement("div");
    name.textContent = item.path;
    const list = document.createElement("ul");
    list.className = "probs";
    body.labels.forEach((label, k) => {
      const li = document.createElement("li");
      li.className = label === item.best ? "best" : "";
      li.innerHTML = '<span class="label"></span><span class="prob"></span>';
      li.querySelector(".label").textContent = label;
      li.querySelector(".prob").textContent = (item.probs[k] * 100).toFixed(1) + "%";
      li.append(bar(item.probs[k]));
      list.append(li);
    });
    text.append(name, list);
  }));
  cards.forEach((c) => c.classList.add("classified"));
  $("grid").replaceChildren(...cards);
  const shown = body.images.length < body.total ? " (en emin " + body.images.length + " tanesi)" : "";
  setStatus(body.total + " görsel, " + body.labels.length + " etiket" + shown);
}

function openLightbox(item) {
  $("lightbox-image").src = item.url;
  $("lightbox-caption").textContent = item.path;
  $("lightbox").hidden = false;
}

function run(task) {
  const before = latest;
  task().catch((error) => { if (latest === before + 1) setStatus(error.message, true); });
}

$("lightbox").addEventListener("click", () => { $("lightbox").hidden = true; });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("lightbox").hidden = true; });
$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const query = $("query").value;
  history.replaceState(null, "", "?q=" + encodeURIComponent(query));
  run(() => search(query, $("top").value));
});
$("classify-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run(() => classify($("labels").value));
});

api("/api/info", {}).then((info) => {
  $("info").textContent = info.folder + " · " + info.images + " görsel" +
    (info.skipped ? " (" + info.skipped + " okunamadı)" : "") + " · metin modeli: " + info.text_model +
    " (" + info.text_format + ")";
  if (!$("top").value) $("top").value = info.default_top;
  document.body.dataset.ready = "true";
  if (initialQuery && latest === 0) { $("query").value = initialQuery; run(() => search(initialQuery, $("top").value)); }
}).catch((error) => setStatus(error.message, true));
