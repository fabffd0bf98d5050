// callvault UI: quality management. The form designer (the page's
// inputs read into the draft's JSON, saved and published through the
// API), the evaluation form (answers saved and submitted through the API,
// playback times marked and played, questions shown as their conditions
// hold) and the report's chart (uPlot). Without this script the designer
// edits the draft's JSON, the evaluation form posts to its page and the
// report's numbers are in tables.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  designer();
  evaluation();
  reportChart();
});

// api calls the API with the session cookie and the page's CSRF token;
// it answers the JSON, or throws the server's message.
async function api(url, method, csrf, body) {
  const headers = { Accept: "application/json", "X-CSRF-TOKEN": csrf };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  let info = {};
  try {
    info = await res.json();
  } catch (err) {
    // an answer without a body
  }
  if (!res.ok) throw new Error(info.message || res.statusText);
  return info;
}

// clockOf formats seconds as m:ss, or h:mm:ss from an hour on, as the
// server does (recordings.go, clock).
function clockOf(t) {
  const s = Math.max(0, Math.floor(t));
  const mm = Math.floor(s / 60) % 60, ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? Math.floor(s / 3600) + ":" + String(mm).padStart(2, "0") + ":" + ss : Math.floor(s / 60) + ":" + ss;
}

// --- the form designer ---

const parts = "[data-answer], [data-question], [data-group]";

// own lists the inputs named name that belong to el itself, not to a
// group, question or answer inside it.
function own(el, name) {
  const mine = el.matches(parts) ? el : null;
  return [...el.querySelectorAll(`[data-f="${name}"]`)].find((x) => x.closest(parts) === mine);
}

function fieldValue(el, name) {
  const input = own(el, name);
  if (!input) return "";
  return input.type === "checkbox" ? input.checked : input.value;
}

function numberOf(v) {
  return v === "" ? null : Number(v);
}

function designer() {
  const form = document.getElementById("qm-designer");
  if (!form) return;
  const csrf = form.querySelector("input[name=csrf]").value;
  const groups = document.getElementById("qm-groups");
  const errorBox = document.getElementById("designer-error");
  const status = document.getElementById("designer-status");
  const tpl = (id) => document.getElementById(id).content.firstElementChild.cloneNode(true);
  const questions = () => [...form.querySelectorAll("[data-question]")];

  const freeID = (prefix, taken) => {
    let n = 1;
    while (taken.includes(prefix + n)) n++;
    return prefix + n;
  };
  const answerRow = (id, text, points) => {
    const row = tpl("tpl-answer");
    own(row, "id").value = id;
    own(row, "text").value = text;
    own(row, "points").value = points;
    return row;
  };
  const answerIDs = (q) => [...q.querySelectorAll("[data-answer]")].map((a) => fieldValue(a, "id"));

  // The answers a type has: yes/no two (Yes 1, No 0 when not two
  // already), multiple choice at least two, text none.
  const setType = (q, type) => {
    q.dataset.type = type;
    const body = q.querySelector("[data-answers]");
    const rows = body.querySelectorAll("[data-answer]");
    if (type === "text") {
      body.replaceChildren();
    } else if (type === "yesno" && rows.length !== 2) {
      body.replaceChildren(answerRow("yes", form.dataset.yes, 1), answerRow("no", form.dataset.no, 0));
    } else if (type === "choice") {
      for (let i = rows.length; i < 2; i++) body.append(answerRow(freeID("a", answerIDs(q)), "", 0));
    }
  };

  // Each question's condition lists the other questions and, for the one
  // chosen, its answers; the server refuses a condition on a question
  // that does not come earlier, and the page says so.
  const refreshConditions = () => {
    const all = questions().map((q) => ({
      el: q,
      id: fieldValue(q, "id"),
      text: fieldValue(q, "text"),
      answers: [...q.querySelectorAll("[data-answer]")].map((a) => ({ id: fieldValue(a, "id"), text: fieldValue(a, "text") })),
    }));
    const fill = (select, options, wanted) => {
      if (wanted && !options.some((o) => o.value === wanted)) options.push({ value: wanted, label: wanted });
      const sig = JSON.stringify(options);
      if (select.dataset.sig !== sig) {
        select.replaceChildren(...options.map((o) => new Option(o.label, o.value)));
        select.dataset.sig = sig;
      }
      select.value = wanted;
      if (select.selectedIndex < 0 && select.options.length) select.selectedIndex = 0;
      select.dataset.value = select.value;
    };
    for (const q of all) {
      const whenQ = own(q.el, "whenQuestion");
      const whenA = own(q.el, "whenAnswer");
      const others = all.filter((o) => o.el !== q.el && o.id !== "" && o.answers.length > 0);
      fill(whenQ, [{ value: "", label: form.dataset.always }].concat(others.map((o) => ({ value: o.id, label: o.text ? o.id + " — " + o.text : o.id }))), whenQ.value || whenQ.dataset.value || "");
      const cond = all.find((o) => o.id === whenQ.value);
      fill(whenA, cond ? cond.answers.map((a) => ({ value: a.id, label: a.text || a.id })) : [], whenQ.value ? (whenA.value || whenA.dataset.value || "") : "");
      whenA.disabled = !whenQ.value;
    }
  };

  const formJSON = () => ({
    name: fieldValue(form, "name"),
    description: fieldValue(form, "description"),
    questionGroups: [...groups.querySelectorAll("[data-group]")].map((g) => ({
      name: fieldValue(g, "name"),
      weight: numberOf(fieldValue(g, "weight")),
      questions: [...g.querySelectorAll("[data-question]")].map((q) => {
        const type = fieldValue(q, "type");
        const out = {
          id: fieldValue(q, "id"),
          text: fieldValue(q, "text"),
          help: fieldValue(q, "help"),
          type,
          answers: type === "text" ? [] : [...q.querySelectorAll("[data-answer]")].map((a) => ({
            id: fieldValue(a, "id"),
            text: fieldValue(a, "text"),
            points: numberOf(fieldValue(a, "points")),
          })),
          naAllowed: fieldValue(q, "naAllowed"),
          required: fieldValue(q, "required"),
          critical: fieldValue(q, "critical"),
          fatal: fieldValue(q, "fatal"),
        };
        const when = fieldValue(q, "whenQuestion");
        if (when) out.visibleWhen = { question: when, answer: fieldValue(q, "whenAnswer") };
        return out;
      }),
    })),
  });

  const show = (err) => {
    errorBox.textContent = err ? form.dataset.notAccepted + " " + err.message : "";
    errorBox.hidden = !err;
  };
  const save = async () => {
    status.textContent = form.dataset.saving;
    try {
      const saved = await api(form.dataset.api, "PUT", csrf, formJSON());
      show(null);
      status.textContent = form.dataset.saved;
      return saved;
    } catch (err) {
      status.textContent = "";
      show(err);
      throw err;
    }
  };

  form.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-act]");
    if (!button) return;
    const act = button.dataset.act;
    const part = button.closest(parts);
    if (act === "add-group") {
      const g = tpl("tpl-group");
      groups.append(g);
      own(g, "name").focus();
    } else if (act === "add-question") {
      const q = tpl("tpl-question");
      own(q, "id").value = freeID("q", questions().map((x) => fieldValue(x, "id")));
      part.querySelector("[data-questions]").append(q);
      own(q, "text").focus();
    } else if (act === "add-answer") {
      const row = answerRow(freeID("a", answerIDs(part)), "", 0);
      part.querySelector("[data-answers]").append(row);
      own(row, "text").focus();
    } else if (act === "up" && part.previousElementSibling) {
      part.previousElementSibling.before(part);
    } else if (act === "down" && part.nextElementSibling) {
      part.nextElementSibling.after(part);
    } else if (act === "remove") {
      part.remove();
    }
    refreshConditions();
  });
  form.addEventListener("change", (ev) => {
    if (ev.target.matches('[data-f="type"]')) setType(ev.target.closest("[data-question]"), ev.target.value);
    refreshConditions();
  });
  form.addEventListener("input", () => {
    status.textContent = "";
    refreshConditions();
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    save().catch(() => {});
  });
  document.getElementById("publish").addEventListener("click", async () => {
    try {
      await save();
      const v = await api(form.dataset.api + "/publish", "POST", csrf);
      window.location.assign(form.dataset.page + "?done=published&version=" + encodeURIComponent(v.version));
    } catch (err) {
      show(err);
    }
  });
  refreshConditions();
}

// --- the evaluation page ---

function evaluation() {
  const box = document.getElementById("qm-eval");
  if (!box) return;
  const player = document.getElementById(box.dataset.player);
  // A saved or marked time plays the call from there (the link opens
  // the media at that time without this script).
  box.addEventListener("click", (ev) => {
    const link = ev.target.closest("a.seek");
    if (!link || !player) return;
    ev.preventDefault();
    const t = parseFloat(link.dataset.seek);
    if (!isFinite(t)) return;
    player.currentTime = t;
    player.play().catch(() => {});
  });
  const form = document.getElementById("eval-form");
  if (!form) return;
  const csrf = form.querySelector("input[name=csrf]").value;
  const questions = [...form.querySelectorAll("fieldset[data-question]")];
  const errorBox = document.getElementById("eval-error");
  const status = document.getElementById("eval-status");

  const chosen = (id) => {
    const checked = form.querySelector(`input[type=radio][name="answer.${CSS.escape(id)}"]:checked`);
    return checked ? checked.value : "";
  };
  // As qm.Visible: a question with a condition is shown when the
  // condition's question is shown and answered with that answer.
  const applyVisibility = () => {
    const shown = {};
    for (const q of questions) {
      const id = q.dataset.question;
      const when = q.dataset.whenQuestion;
      shown[id] = !when || (shown[when] === true && chosen(when) === q.dataset.whenAnswer);
      q.hidden = !shown[id];
    }
  };
  for (const q of questions) {
    const mark = q.querySelector("button[data-mark]");
    if (!mark || !player) continue;
    mark.addEventListener("click", () => {
      const ms = Math.round(player.currentTime * 1000);
      q.querySelector(`input[name="at.${CSS.escape(q.dataset.question)}"]`).value = String(ms);
      const link = q.querySelector("a.seek");
      const sec = (ms / 1000).toFixed(3);
      link.dataset.seek = sec;
      link.href = link.href.replace(/#.*$/, "") + "#t=" + sec;
      link.querySelector(".at").textContent = clockOf(ms / 1000);
      link.hidden = false;
    });
  }

  // The answers as the API takes them (readAnswers in qm.go reads the
  // same fields when the form is posted without this script).
  const input = () => {
    const value = (name) => {
      const el = form.elements.namedItem(name);
      return el ? el.value.trim() : "";
    };
    const answers = [];
    for (const q of questions) {
      const id = q.dataset.question;
      const a = { question: id, answer: null, na: false, comment: value("comment." + id) };
      if (q.dataset.type === "text") {
        a.text = value("text." + id);
        const na = form.elements.namedItem("na." + id);
        a.na = !!(na && na.checked);
      } else {
        const v = chosen(id);
        if (v === form.dataset.na) a.na = true;
        else if (v !== "") a.answer = v;
      }
      const at = value("at." + id);
      if (at !== "") a.atMs = Number(at);
      if (a.answer !== null || a.na || a.text || a.comment || a.atMs !== undefined) answers.push(a);
    }
    return { answers, comment: value("comment") };
  };

  form.addEventListener("change", applyVisibility);
  form.addEventListener("input", () => { status.textContent = ""; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const submit = ev.submitter && ev.submitter.value === "submit";
    status.textContent = form.dataset.saving;
    try {
      await api(form.dataset.api + (submit ? "/submit" : ""), submit ? "POST" : "PUT", csrf, input());
      errorBox.hidden = true;
      if (submit) {
        window.location.assign(form.dataset.done);
        return;
      }
      status.textContent = form.dataset.saved;
      const state = document.getElementById("eval-state");
      if (state) {
        state.textContent = form.dataset.draft;
        state.className = "tag qm-state-draft";
      }
    } catch (err) {
      status.textContent = "";
      errorBox.textContent = form.dataset.notAccepted + " " + err.message;
      errorBox.hidden = false;
    }
  });
  applyVisibility();
}

// --- the report's chart ---

// reportChart draws each agent's average total per interval (UTC), a
// line per agent, gaps where an agent has no evaluation.
function reportChart() {
  const el = document.getElementById("report-chart");
  const dataEl = document.getElementById("report-data");
  if (!el || !dataEl || !window.uPlot) return;
  const data = JSON.parse(dataEl.textContent);
  const lang = document.documentElement.lang;
  const pct = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const day = new Intl.DateTimeFormat(lang, { timeZone: "UTC", month: "short", day: "numeric" });
  const date = (t) => day.format(new Date(t * 1000));
  const palette = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d", "#4d7c0f", "#1d4ed8"];
  const opts = {
    width: Math.max(320, el.clientWidth),
    height: 320,
    tzDate: (t) => uPlot.tzDate(new Date(t * 1000), "Etc/UTC"),
    scales: { x: { time: true }, y: { range: [0, 100] } },
    series: [{ label: data.xLabel, value: (u, v) => (v == null ? "—" : date(v)) }].concat(data.series.map((s, i) => ({
      label: s.label,
      stroke: palette[i % palette.length],
      width: 2,
      spanGaps: true,
      points: { show: true },
      value: (u, v) => (v == null ? "—" : pct.format(v) + " %"),
    }))),
    axes: [
      // Weeks and months: a tick per interval, not uPlot's days.
      { values: (u, splits) => splits.map(date), splits: data.x.length <= 16 ? () => data.x : undefined },
      { label: data.yLabel, values: (u, splits) => splits.map((v) => pct.format(v)) },
    ],
  };
  const plot = new uPlot(opts, [data.x].concat(data.series.map((s) => s.values)), el);
  window.addEventListener("resize", () => plot.setSize({ width: Math.max(320, el.clientWidth), height: 320 }));
}
