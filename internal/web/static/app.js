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
});
