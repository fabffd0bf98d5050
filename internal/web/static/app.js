// callvault UI: small progressive enhancements. Every page works without
// this script; it only saves clicks.
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  // Language switcher: apply on change (the Apply button does it without JS).
  for (const sel of document.querySelectorAll("select[data-autosubmit]")) {
    sel.addEventListener("change", () => sel.form.submit());
  }

  // Certificate rows: a click anywhere on the row opens the details
  // (the first cell's link does it from the keyboard).
  for (const row of document.querySelectorAll("tr[data-href]")) {
    row.addEventListener("click", (ev) => {
      if (ev.target.closest("a, button, input, label")) return;
      window.location.href = row.dataset.href;
    });
  }

  // Quick filter: hide rows that do not contain the text while typing.
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.querySelector(input.dataset.filter);
    if (!table) continue;
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      for (const row of table.tBodies[0].rows) {
        row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
      }
    });
  }

  // Upload Certificate: fill Subject Name, Serial Number, Subject DN and
  // Issuer DN from the chosen file before saving. The server parses it
  // (the same code the upload uses), so what is shown is what is stored.
  const form = document.getElementById("upload-form");
  if (form) {
    const file = form.querySelector("#certificate");
    const errorBox = form.querySelector("#describe-error");
    const fields = ["subjectName", "serialNumber", "subjectDN", "issuerDN"];
    file.addEventListener("change", async () => {
      for (const f of fields) form.querySelector("#" + f).value = "";
      errorBox.hidden = true;
      if (!file.files.length) return;
      const body = new FormData();
      body.append("certificate", file.files[0]);
      body.append("csrf", form.querySelector("input[name=csrf]").value);
      try {
        const res = await fetch(form.dataset.describe, { method: "POST", body, credentials: "same-origin" });
        const info = await res.json();
        if (!res.ok) throw new Error(info.error || res.statusText);
        for (const f of fields) form.querySelector("#" + f).value = info[f] || "";
        form.dataset.described = "1";
      } catch (err) {
        errorBox.textContent = err.message;
        errorBox.hidden = false;
      }
    });
  }

  // A job's page: follow its progress through the API (the session
  // cookie serves GET /api/v2/jobs/{id}); when the state changes, reload,
  // so the server renders the new state with its errors and summary.
  // Without this script the page refreshes itself (a noscript meta).
  const job = document.getElementById("job");
  if (job && !("final" in job.dataset)) {
    const bar = document.getElementById("job-progress");
    const nf = new Intl.NumberFormat(document.documentElement.lang);
    const set = (id, n) => {
      const el = document.getElementById(id);
      if (el) el.textContent = nf.format(n);
    };
    const poll = async () => {
      try {
        const res = await fetch(job.dataset.job, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (res.ok) {
          const j = await res.json();
          let max = j.total, value = j.done + j.failed;
          if (!(max > 0)) { // nothing counted yet: empty while waiting, full when done
            max = 1;
            value = j.state === "completed" ? 1 : 0;
          }
          bar.max = max;
          bar.value = Math.min(value, max);
          set("job-done-n", j.done);
          set("job-total", j.total);
          set("job-failed", j.failed);
          if (j.state !== job.dataset.state) {
            window.location.reload();
            return;
          }
        }
      } catch (err) {
        // a network hiccup: try again
      }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
});
