// wa-monitor dashboard, the one script of ours. Without it every page works the same, minus
// two comforts: the overview refreshes its figures, and filter links leave out empty fields.
"use strict";

// On a phone the lists are cards, each cell a line with its column's name: cells that do not
// say their column's name (data-label) get it from the table's head.
(function () {
  for (const table of document.querySelectorAll("table.reviews")) {
    const heads = Array.from(table.querySelectorAll("thead th")).map(function (th) {
      return th.textContent.trim();
    });
    for (const row of table.querySelectorAll("tbody tr")) {
      Array.from(row.children).forEach(function (cell, i) {
        if (cell.tagName === "TD" && cell.colSpan === 1 && !cell.dataset.label && heads[i]) {
          cell.dataset.label = heads[i];
        }
      });
    }
  }
})();

// The review filters: a field left empty is not sent, so the shared link says only what was
// chosen (/wa-monitor/reviews?project=Lawley, not ?from=&to=&project=Lawley&...).
(function () {
  const form = document.querySelector("form.filters");
  if (!form) return;
  form.addEventListener("submit", function () {
    for (const field of form.querySelectorAll("input, select")) {
      if (field.name && field.value === "") field.disabled = true;
    }
  });
  // Back to this page from the next one: the browser may restore the disabled fields.
  window.addEventListener("pageshow", function () {
    for (const field of form.querySelectorAll("[disabled]")) field.disabled = false;
  });
})();

// A reviewer's Send goes once: a double click (or a second click while the bridge answers)
// would post the form again, and the page would show the second answer ("… is sending this
// feedback right now") instead of the first's "sent". The server stays the guard (one claim).
(function () {
  const form = document.querySelector("form[data-testid=send-form]");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
    form.setAttribute("aria-busy", "true");
  });
  // Back to this page from the next one: the browser may restore it as it was left.
  window.addEventListener("pageshow", function () {
    delete form.dataset.sending;
    form.removeAttribute("aria-busy");
  });
})();

// The overview: refresh the figures (cards, tables, health, the chart) from the page's JSON
// twin every refresh_seconds. Only the figures change: no form, no input and no scroll
// position is touched, so nothing a person is typing is lost.

(function () {
  const box = document.querySelector("[data-refresh]");
  if (!box) return;
  const url = box.dataset.refresh;
  const seconds = Number(box.dataset.seconds) || 30;
  const note = document.querySelector("[data-refresh-note]");

  function setText(selector, value) {
    const el = document.querySelector(selector);
    if (el && el.textContent !== String(value)) el.textContent = String(value);
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    const s = Math.floor(seconds);
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.floor(s / 60) + " min ago";
    if (s < 172800) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago";
    return Math.floor(s / 86400) + " days ago";
  }

  function local(iso) {
    if (!iso) return "—";
    // The server sends local times with their offset: show them as the page does.
    return iso.slice(0, 19).replace("T", " ");
  }

  function show(data) {
    for (const [key, value] of Object.entries(data.cards)) setText('[data-card="' + key + '"]', value);
    const body = document.querySelector("#day-table tbody");
    const rows = data.projects.map(function (p) {
      const tr = document.createElement("tr");
      const name = document.createElement("td");
      name.textContent = p.project;
      const drops = document.createElement("td");
      drops.className = "num";
      drops.textContent = String(p.drops);
      tr.append(name, drops);
      return tr;
    });
    body.replaceChildren(...rows);
    setText("[data-total]", data.total);
    showInvalid(data.invalid);
    const health = document.querySelector("[data-health]");
    health.className = "health health-" + data.health.level;
    setText("[data-health-message]", data.health.message);
    setText("[data-health-last]", local(data.health.last_message_at));
    setText("[data-health-age]", age(data.health.last_processed_age_seconds));
    setText("[data-health-waiting]", data.health.waiting === null ? "—" : data.health.waiting);
    showBridges(data.health.bridges);
    showChart(data.chart);
  }

  // Each bridge's line of the banner (several bridges), worded as the server words it. A bridge
  // the page was not rendered with appears on the next load.
  function showBridges(bridges) {
    for (const b of bridges || []) {
      const line = document.querySelector('[data-health-bridge="' + CSS.escape(b.name) + '"]');
      if (!line) continue;
      const set = function (part, value) {
        const el = line.querySelector(part);
        if (el && el.textContent !== value) el.textContent = value;
      };
      set("[data-bridge-newest]", local(b.newest_message_at));
      const behind = Math.round((b.lag_seconds || 0) / 60);  // under half a minute: not behind
      set("[data-bridge-lag]", behind ? ", " + behind + " min behind" : "");
      set("[data-bridge-monitor]", b.running ? "running" : "stopped");
    }
  }

  // The 30-day chart: the server's own SVG (its figures escaped there) swapped in when it
  // changed, and the legend rebuilt from the projects and their colours.
  const SVG = "http://www.w3.org/2000/svg";
  let shownSvg = null;
  function showChart(drawn) {
    const box = document.querySelector(".chart-box");
    if (!drawn || !box || drawn.svg === shownSvg) return;
    const parsed = new DOMParser().parseFromString(drawn.svg, "image/svg+xml").documentElement;
    const old = box.querySelector("svg.chart");
    if (parsed.nodeName !== "svg" || !old) return;
    old.replaceWith(document.importNode(parsed, true));
    shownSvg = drawn.svg;
    const items = drawn.legend.map(function (entry) {
      const li = document.createElement("li");
      const swatch = document.createElementNS(SVG, "svg");
      swatch.setAttribute("width", "12");
      swatch.setAttribute("height", "12");
      swatch.setAttribute("aria-hidden", "true");
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("width", "12");
      rect.setAttribute("height", "12");
      rect.setAttribute("fill", entry.colour);
      swatch.append(rect);
      li.append(swatch, " " + entry.project);
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "No drops in these 30 days.";
      items.push(li);
    }
    box.querySelector(".legend").replaceChildren(...items);
  }

  // The day's invalid drop numbers, rebuilt from the JSON as the server words them (each cell
  // with its column's name, which a phone shows on the cards).
  const INVALID_LABELS = ["Time", "Project", "Drop", "Agent", "Phone", "Why", "What happened", "Answer in the group"];
  function showInvalid(invalid) {
    if (!invalid) return;
    setText("[data-invalid-total]", invalid.total);
    const table = document.querySelector("#invalid-table");
    if (!table) return;
    const rows = invalid.posts.map(function (p) {
      const tr = document.createElement("tr");
      tr.className = "reply-" + (p.reply || "none");
      const cells = [p.time, p.project, p.drop_number, p.user_name || "—", p.submitted_by || "—",
        p.reason, p.action_words, p.reply_words].map(function (text, i) {
        const td = document.createElement("td");
        td.textContent = text;
        td.dataset.label = INVALID_LABELS[i];
        return td;
      });
      // The agent's name is a person's text: isolated, as the server renders it.
      const name = document.createElement("bdi");
      name.textContent = closedBidi(cells[3].textContent);
      cells[3].replaceChildren(name);
      if (p.action === "flag") {
        const link = document.createElement("a");
        link.href = table.dataset.reviews + "?drop=" + encodeURIComponent(p.drop_number);
        link.textContent = p.drop_number;
        cells[2].replaceChildren(link);
      }
      cells[7].className = "reply";
      tr.append(...cells);
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 8;
      td.className = "empty";
      td.textContent = "No invalid drop numbers on this day.";
      tr.append(td);
      rows.push(tr);
    }
    table.querySelector("tbody").replaceChildren(...rows);
  }

  // A person's text with every bidi embedding, override and isolate it leaves open closed at
  // its end (as web/context.py closed_bidi): an open isolate would take the PDI that ends the
  // <bdi>'s own isolation and reorder the rest of the row.
  function closedBidi(text) {
    const open = [];
    for (const c of text) {
      if ("\u202a\u202b\u202d\u202e".includes(c)) open.push("\u202c");
      else if ("\u2066\u2067\u2068".includes(c)) open.push("\u2069");
      else if (c === "\u202c" && open[open.length - 1] === "\u202c") open.pop();
      else if (c === "\u2069" && open.includes("\u2069")) while (open.pop() !== "\u2069");
    }
    return text + open.reverse().join("");
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401) {
        note.textContent = "Your session ended: reload the page to log in again.";
        note.classList.add("stale");
        return;
      }
      if (!response.ok) throw new Error(response.status);
      const data = await response.json();
      show(data);
      // The server's clock in the environment's zone, never the browser's own zone.
      note.textContent = "Figures refresh every " + seconds + " seconds; last at " + data.read_at + ".";
      note.classList.remove("stale");
    } catch (err) {
      note.textContent = "Could not refresh the figures (" + err.message + "); trying again.";
      note.classList.add("stale");
    }
  }

  setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();

// wa-monitor review page: say when the review changed after the page was opened (another
// reviewer's save, the agent's resubmission), from the page's JSON twin. The form is never
// touched: the reviewer's unsaved input stays, and the server refuses a save that did not see
// the change. Without this script the refusal still says who changed it and when.
(function () {
  const box = document.querySelector("[data-watch]");
  if (!box) return;
  const url = box.dataset.watch;
  const version = Number(box.dataset.version);
  const seconds = Number(box.dataset.seconds) || 30;
  let timer = null;

  async function look() {
    if (document.hidden) return;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      if (data.version === version) return;
      box.textContent = data.last_change + " Your unsaved input is still on this page; saving will be refused until you reload (copy what you typed first).";
      box.hidden = false;
      clearInterval(timer);
    } catch (err) {
      // Offline for a moment: look again at the next tick.
    }
  }

  timer = setInterval(look, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) look(); });
})();

// The verdict form: "All OK" in one click, and keyboard shortcuts (listed on the page). No
// shortcut fires while the reviewer types in a text box, a select has focus, or a modifier key
// is held: the letters go where they are typed. Without this script the form works the same,
// minus these; "All OK and save" is the server's and needs no script.
(function () {
  const form = document.querySelector("form.verdict");
  if (!form) return;
  const rows = Array.from(form.querySelectorAll("tr[data-step]"));
  let current = -1;

  function showMark(row) {
    const checked = row.querySelector("input[type=radio]:checked");
    row.classList.remove("mark-passed", "mark-wrong", "mark-missing");
    if (checked) row.classList.add("mark-" + checked.value);
  }

  function allOk() {
    for (const row of rows) {
      row.querySelector("input[type=radio][value=passed]").checked = true;
      showMark(row);
    }
  }

  const allOkButton = form.querySelector("[data-all-ok]");
  if (allOkButton) {
    allOkButton.hidden = false;
    allOkButton.addEventListener("click", allOk);
  }
  form.addEventListener("change", function (event) {
    const row = event.target.closest("tr[data-step]");
    if (row) showMark(row);
  });

  function goTo(index, focus) {
    if (index < 0 || index >= rows.length) return;
    if (current >= 0) rows[current].classList.remove("current");
    current = index;
    const row = rows[current];
    row.classList.add("current");
    if (focus) {
      const radio = row.querySelector("input[type=radio]:checked") || row.querySelector("input[type=radio]");
      radio.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  form.addEventListener("focusin", function (event) {
    const row = event.target.closest("tr[data-step]");
    if (row) goTo(rows.indexOf(row), false);
  });

  function mark(value) {
    if (current < 0) goTo(0, false);
    const row = rows[current];
    row.querySelector("input[type=radio][value=" + value + "]").checked = true;
    showMark(row);
    if (value === "wrong") {
      row.querySelector("input[type=text]").focus();
    } else {
      goTo(Math.min(current + 1, rows.length - 1), true);
    }
  }

  function typing(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(el.type);
  }

  function submitWith(name, value) {
    const button = value === null
      ? form.querySelector("button[data-key=save]")
      : form.querySelector('button[name="' + name + '"][value="' + value + '"]');
    if (button) form.requestSubmit(button);
  }

  const stepKeys = "1234567890-=";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (event.key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      return;
    }
    if (typing(document.activeElement)) return;
    const key = event.key;
    let done = true;
    if (key === "j") goTo(current + 1, true);
    else if (key === "k") goTo(Math.max(current - 1, 0), true);
    else if (key === "o") mark("passed");
    else if (key === "w") mark("wrong");
    else if (key === "m") mark("missing");
    else if (key === "a") allOk();
    else if (key === "s") submitWith("", null);
    else if (key === "n") submitWith("then", "next");
    else if (key === "[" || key === "]") {
      const link = document.querySelector('.queue-nav a[data-key="' + (key === "[" ? "previous" : "next") + '"]');
      if (link) window.location.assign(link.href);
    } else if (stepKeys.includes(key) && key !== "") goTo(stepKeys.indexOf(key), true);
    else done = false;
    if (done) event.preventDefault();
  });
})();

// Who else has this review open: the page renews its own mark while it is open and visible
// (a mark not renewed for two minutes is gone), and says who else is on it. It never blocks:
// the review's version decides whose save stands.
(function () {
  const note = document.querySelector("[data-presence]");
  if (!note) return;
  const url = note.dataset.presence;
  const seconds = Number(note.dataset.seconds) || 45;
  const token = document.querySelector("input[name=csrf]");
  if (!token) return;

  async function renew() {
    if (document.hidden) return;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new URLSearchParams({ csrf: token.value }),
      });
      if (!response.ok) return;
      const data = await response.json();
      const names = data.others.map(function (p) { return p.username; });
      note.hidden = names.length === 0;
      note.textContent = names.length
        ? "Also open now by " + names.join(", ") + ": whoever saves first wins, the other is told."
        : "";
    } catch (err) {
      // Offline for a moment: renew at the next tick.
    }
  }

  setInterval(renew, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) renew(); });
})();
