// mislabel review page. Vanilla JS, no build step; talks only to this server's /api.
//
// Every action goes through one promise chain, so key presses typed ahead apply in order to
// the sample on screen at their turn. The page shows a decision as saved only after the
// server answered, and the server answers only after the decision is committed.
"use strict";

(() => {
  const TOKEN = document.querySelector('meta[name="mislabel-token"]').content;
  const CLIENT = Math.random().toString(36).slice(2, 10);
  const POLL_MS = 1500;
  const $ = (id) => document.getElementById(id);

  const S = {
    meta: null,
    items: [], // [{id, status, label}] in review order under the filters
    index: new Map(), // id -> position in items
    pos: -1, // position shown; -1 = nothing left (done view)
    seq: 0, // newest event seen, for /api/changes
    mine: [], // seqs of this tab's decisions, newest last (undo stack)
    sample: null, // details of the sample on screen
    render: 0, // bumps on every show(), so a slow answer cannot overwrite a newer one
    polling: false,
  };

  // ------------------------------------------------------------------ plumbing

  let chain = Promise.resolve();
  function enqueue(fn) {
    chain = chain.then(fn).catch((err) => toast(err.message || String(err), true));
    return chain;
  }

  async function api(method, url, body) {
    const opts = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-Mislabel-Token"] = TOKEN;
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    if (!r.ok) {
      let msg = `${r.status} ${r.statusText}`;
      const text = await r.text().catch(() => "");
      try {
        const j = JSON.parse(text);
        msg = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
      } catch {
        if (text) msg = text;
      }
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return r.json();
  }

  let toastTimer = 0;
  function toast(message, isError = false) {
    const t = $("toast");
    t.textContent = message;
    t.classList.toggle("error", isError);
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 5000 : 1800);
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  const pct = (p) => `${(100 * p).toFixed(1)}%`;

  function statusText(status, label) {
    switch (status) {
      case "pending": return "not reviewed";
      case "accepted": return `accepted → ${label}`;
      case "kept": return `kept ${label}`;
      case "relabeled": return `relabeled → ${label}`;
      case "removed": return "removed";
      case "skipped": return "skipped";
      default: return status;
    }
  }

  // ------------------------------------------------------------------ queue

  function setItem(id, status, label) {
    const i = S.index.get(id);
    if (i !== undefined) {
      S.items[i].status = status;
      S.items[i].label = label;
    }
  }

  // The next pending sample after `from` (wrapping), else the next skipped one, else -1.
  function nextOpen(from) {
    const n = S.items.length;
    for (const want of ["pending", "skipped"]) {
      for (let k = 1; k <= n; k++) {
        const i = (((from + k) % n) + n) % n;
        if (S.items[i].status === want) return i;
      }
    }
    return -1;
  }

  function filterParams() {
    const q = new URLSearchParams();
    q.set("scope", $("f-scope").value);
    if ($("f-given").value) q.set("given", $("f-given").value);
    if ($("f-suggested").value) q.set("suggested", $("f-suggested").value);
    const lo = Number($("f-min").value || 0);
    const hi = Number($("f-max").value === "" ? 1 : $("f-max").value);
    if (!(lo >= 0 && hi <= 1 && lo <= hi)) throw new Error("Score filter must satisfy 0 ≤ from ≤ to ≤ 1.");
    q.set("min_score", String(lo));
    q.set("max_score", String(hi));
    return q;
  }

  async function loadQueue() {
    const r = await api("GET", `/api/queue?${filterParams()}`);
    S.items = r.items;
    S.index = new Map(r.items.map((it, i) => [it.id, i]));
    S.seq = r.seq;
    renderProgress(r.progress);
    await show(nextOpen(-1));
  }

  // ------------------------------------------------------------------ rendering

  function renderProgress(p) {
    $("progress-text").textContent =
      `${p.reviewed} of ${p.total} reviewed` + (p.skipped ? ` · ${p.skipped} skipped` : "");
    $("progress-fill").style.width = p.total ? `${(100 * p.reviewed) / p.total}%` : "0";
    renderQueueInfo();
  }

  function renderQueueInfo() {
    const done = S.items.filter((it) => it.status !== "pending" && it.status !== "skipped").length;
    $("queue-info").textContent = `this view: ${S.items.length} samples, ${done} reviewed`;
    $("position").textContent = S.pos >= 0 ? `${S.pos + 1} / ${S.items.length}` : `– / ${S.items.length}`;
  }

  function setActionsEnabled(on) {
    for (const id of ["b-accept", "b-keep", "b-remove", "b-skip", "other-class"]) $(id).disabled = !on;
    for (const b of $("classes").querySelectorAll("button")) b.disabled = !on;
  }

  function renderClasses() {
    const box = $("classes");
    box.replaceChildren();
    const classes = S.meta.classes;
    const shown = classes.length <= 30 ? classes : classes.slice(0, 9);
    shown.forEach((name, i) => {
      const b = el("button", { type: "button", "data-label": name, title: `relabel as ${name}` });
      if (i < 9) b.append(el("kbd", { text: String(i + 1) }), " ");
      b.append(name);
      b.addEventListener("click", () => enqueue(() => decide("relabeled", name)));
      box.append(b);
    });
    const sel = $("other-class");
    for (const name of classes) sel.append(el("option", { value: name, text: name }));
    for (const id of ["f-given", "f-suggested"]) {
      for (const name of classes) $(id).append(el("option", { value: name, text: name }));
    }
  }

  function renderMedia(s) {
    const box = $("media");
    box.replaceChildren();
    if (s.file_url) {
      const img = el("img", { src: s.file_url, alt: s.path, id: "sample-image" });
      img.addEventListener("error", () => {
        box.replaceChildren(el("div", { class: "placeholder", text: `could not load ${s.path}` }));
      });
      box.append(img);
    } else if (s.text !== null) {
      box.append(el("div", { class: "text", id: "sample-text", text: s.text }));
    } else if (s.features !== null) {
      const table = el("table", { id: "sample-features" });
      for (const [k, v] of Object.entries(s.features)) {
        table.append(el("tr", {}, el("th", { text: k }), el("td", { text: typeof v === "string" ? v : JSON.stringify(v) })));
      }
      box.append(table);
    } else if (s.path) {
      box.append(el("div", { class: "placeholder", text: `file not found under the data root: ${s.path}` }));
    } else {
      box.append(el("div", { class: "placeholder", text: "this sample has no file, text or features" }));
    }
  }

  function renderSample(s) {
    const previous = S.sample;
    S.sample = s;
    $("sid").textContent = `#${s.id}`;
    const badge = $("status");
    badge.className = `badge ${s.status}`;
    badge.textContent = statusText(s.status, s.label);
    $("path").textContent = s.path || "";
    $("given").textContent = s.votes && s.votes.length ? `${s.given_label} (consensus)` : s.given_label;
    $("suggested").textContent = `${s.suggested_label} (${pct(s.suggested_prob)})`;
    $("score").textContent = `${s.score.toFixed(3)}${s.is_issue ? " · flagged" : ""}`;
    $("accept-name").textContent = s.suggested_label;
    $("keep-name").textContent = s.given_label;
    if (!previous || previous.id !== s.id) renderMedia(s); // a poll re-render keeps the image

    const top = $("top");
    top.replaceChildren();
    for (const t of s.top) {
      const fill = el("div", { class: "fill" });
      fill.style.width = pct(Math.max(0, Math.min(1, t.prob)));
      top.append(el("div", { class: "row" },
        el("span", { class: "name", text: t.label, title: t.label }),
        el("div", { class: "track" }, fill),
        el("span", { class: "pct", text: pct(t.prob) })));
    }

    renderVotes(s);

    for (const b of $("classes").querySelectorAll("button")) {
      const name = b.getAttribute("data-label");
      b.classList.toggle("is-given", name === s.given_label);
      b.classList.toggle("is-suggested", name === s.suggested_label);
      b.classList.toggle("is-final", s.status !== "pending" && name === s.label);
    }

    const hist = $("history");
    hist.replaceChildren();
    for (const e of s.history) {
      const when = new Date(e.created_at * 1000).toLocaleTimeString();
      const what = e.action === "undo" ? `undo of [${e.target_seq}]` : statusText(e.action, e.label);
      hist.append(el("li", { class: e.undone ? "undone" : "", text: `[${e.seq}] ${what} · ${when}` }));
    }
    if (!s.history.length) hist.append(el("li", { class: "muted", text: "no decisions yet" }));
    setActionsEnabled(true);
    renderQueueInfo();
  }

  // Every annotator's vote when the labels are a consensus (issues.csv has `votes`).
  function renderVotes(s) {
    const box = $("votes");
    box.replaceChildren();
    box.hidden = !s.votes || !s.votes.length;
    if (box.hidden) return;
    const head = s.agreement === null || s.agreement === undefined
      ? `Votes (${s.votes.length})`
      : `Votes (${s.votes.length}, ${pct(s.agreement)} agree)`;
    box.append(el("div", { class: "votes-head muted", text: head }));
    const list = el("ul", { id: "vote-list" });
    for (const v of s.votes) {
      const agrees = v.label === s.given_label;
      list.append(el("li", { class: agrees ? "vote agrees" : "vote differs" },
        el("span", { class: "who", text: v.annotator, title: v.annotator }),
        el("span", { class: "what", text: v.label, title: v.label })));
    }
    box.append(list);
  }

  function renderDone() {
    S.sample = null;
    const empty = S.items.length === 0;
    $("media").replaceChildren(el("div", { class: "placeholder done" },
      el("h2", { text: empty ? "No samples match these filters" : "All samples in this view are reviewed" }),
      el("p", { text: empty ? "Change the filters above." : "Use ← to look back, change the filters, or export the corrected labels." })));
    for (const id of ["sid", "path", "given", "suggested", "score", "accept-name", "keep-name"]) $(id).textContent = "";
    $("status").className = "badge";
    $("status").textContent = empty ? "" : "done";
    $("top").replaceChildren();
    $("votes").replaceChildren();
    $("votes").hidden = true;
    $("history").replaceChildren();
    setActionsEnabled(false);
    renderQueueInfo();
  }

  async function show(pos) {
    S.pos = pos;
    const ticket = ++S.render;
    if (pos < 0) {
      renderDone();
      return;
    }
    const s = await api("GET", `/api/samples/${S.items[pos].id}`);
    if (ticket === S.render) renderSample(s);
  }

  // ------------------------------------------------------------------ actions

  async function decide(action, label = null) {
    if (S.pos < 0 || !S.sample) return;
    const id = S.items[S.pos].id;
    const r = await api("POST", "/api/decisions", { id, action, label, client: CLIENT });
    S.mine.push(r.seq);
    setItem(r.id, r.status, r.label);
    renderProgress(r.progress);
    toast(`#${r.id} ${statusText(r.status, r.label)} · saved`);
    await show(nextOpen(S.pos));
  }

  async function undo() {
    const seq = S.mine.length ? S.mine[S.mine.length - 1] : null;
    let r;
    try {
      r = await api("POST", "/api/undo", { seq, client: CLIENT });
    } catch (err) {
      if (err.status === 409 && seq !== null) {
        S.mine.pop(); // undone already (another tab): try the one before
        return undo();
      }
      throw err;
    }
    if (seq !== null) S.mine.pop();
    setItem(r.id, r.status, r.label);
    renderProgress(r.progress);
    toast(`undid ${statusText(r.undone.action, r.undone.label)} on #${r.undone.id}`);
    const i = S.index.get(r.id);
    await show(i !== undefined ? i : S.pos);
  }

  async function move(delta) {
    const n = S.items.length;
    if (!n) return;
    const from = S.pos < 0 ? (delta > 0 ? -1 : n) : S.pos;
    const to = from + delta;
    if (to < 0 || to >= n) return;
    await show(to);
  }

  async function poll() {
    if (S.polling) return;
    S.polling = true;
    try {
      const r = await api("GET", `/api/changes?since=${S.seq}`);
      const current = S.pos >= 0 ? S.items[S.pos].id : null;
      let touched = false;
      for (const c of r.changes) {
        setItem(c.id, c.status, c.label);
        if (c.id === current) touched = true;
      }
      S.seq = r.seq;
      renderProgress(r.progress);
      if (touched) {
        const ticket = S.render;
        const s = await api("GET", `/api/samples/${current}`);
        if (ticket === S.render) renderSample(s);
      }
    } finally {
      S.polling = false;
    }
  }

  // ------------------------------------------------------------------ input

  const KEYS = {
    a: () => decide("accepted"),
    k: () => decide("kept"),
    r: () => decide("removed"),
    s: () => decide("skipped"),
    u: () => undo(),
    n: () => show(nextOpen(S.pos)),
    ArrowRight: () => move(1),
    ArrowLeft: () => move(-1),
  };

  function onKey(e) {
    const t = e.target;
    if (t && ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.altKey) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
      e.preventDefault();
      enqueue(undo);
      return;
    }
    if (e.ctrlKey || e.metaKey) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (KEYS[key]) {
      e.preventDefault();
      enqueue(KEYS[key]);
    } else if (/^[1-9]$/.test(key)) {
      const name = S.meta && S.meta.classes[Number(key) - 1];
      if (name !== undefined) {
        e.preventDefault();
        enqueue(() => decide("relabeled", name));
      }
    } else if (key === "c") {
      e.preventDefault();
      $("other-class").focus();
    }
  }

  function wire() {
    document.addEventListener("keydown", onKey);
    for (const b of document.querySelectorAll(".actions button[data-action]")) {
      b.addEventListener("click", () => enqueue(() => decide(b.getAttribute("data-action"))));
    }
    $("b-undo").addEventListener("click", () => enqueue(undo));
    $("b-prev").addEventListener("click", () => enqueue(() => move(-1)));
    $("b-next").addEventListener("click", () => enqueue(() => move(1)));
    $("other-class").addEventListener("change", (e) => {
      const name = e.target.value;
      e.target.value = "";
      e.target.blur();
      if (name) enqueue(() => decide("relabeled", name));
    });
    $("filters").addEventListener("change", () => enqueue(loadQueue));
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); enqueue(loadQueue); });
    setInterval(() => enqueue(poll), POLL_MS);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) enqueue(poll);
    });
  }

  async function start() {
    S.meta = await api("GET", "/api/meta");
    renderClasses();
    wire();
    await loadQueue();
    document.body.setAttribute("data-ready", "1");
  }

  enqueue(start);
})();
