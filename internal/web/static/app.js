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

  // Screen recordings: the bar under the video, of the video's duration,
  // with the masked (paused) periods shaded where they fall. A click on a
  // masked period seeks to its start, anywhere else on the bar to that
  // point; the playhead follows playback. The server renders the periods
  // as data attributes (offsets in seconds); positions are set here, as
  // the CSP allows no inline styles.
  for (const box of document.querySelectorAll(".screen-timeline")) {
    const video = document.getElementById(box.dataset.video);
    const bar = box.querySelector(".bar");
    if (!video || !bar) continue;
    const head = bar.querySelector(".playhead");
    const played = bar.querySelector(".played");
    const pos = box.querySelector(".bar-scale .pos");
    const endLabel = box.querySelector(".bar-scale .end");
    const masks = [...bar.querySelectorAll(".mask")];
    const known = parseFloat(box.dataset.duration) || 0;
    // The metadata's duration when it has one (the masks are placed on
    // it); else the video's own, once loaded.
    const duration = () => known > 0 ? known : (isFinite(video.duration) && video.duration > 0 ? video.duration : 0);
    const percent = (t, d) => (Math.min(Math.max(t / d, 0), 1) * 100) + "%";
    const layout = () => {
      const d = duration();
      for (const m of masks) {
        const start = parseFloat(m.dataset.start);
        const end = "toEnd" in m.dataset ? d : Math.min(parseFloat(m.dataset.end), d);
        m.hidden = !(d > 0 && end > start);
        if (m.hidden) continue;
        m.style.left = percent(start, d);
        m.style.width = percent(end - start, d);
      }
      bar.setAttribute("aria-valuemax", d.toFixed(3));
      if (endLabel && d > 0) endLabel.textContent = clock(d);
    };
    const show = () => {
      const d = duration(), t = video.currentTime;
      const at = d > 0 ? percent(t, d) : "0%";
      head.style.left = at;
      played.style.width = at;
      bar.setAttribute("aria-valuenow", t.toFixed(3));
      bar.setAttribute("aria-valuetext", clock(t));
      if (pos) pos.textContent = clock(t);
    };
    const seek = (t) => {
      const d = duration();
      if (!(d > 0) || !isFinite(t)) return;
      video.currentTime = Math.min(Math.max(t, 0), d);
      show();
    };
    bar.addEventListener("click", (ev) => {
      const mask = ev.target.closest(".mask");
      if (mask) {
        seek(parseFloat(mask.dataset.start));
        return;
      }
      const r = bar.getBoundingClientRect();
      seek((ev.clientX - r.left) / r.width * duration());
    });
    bar.addEventListener("keydown", (ev) => {
      const step = { ArrowRight: 5, ArrowUp: 5, ArrowLeft: -5, ArrowDown: -5, PageUp: 30, PageDown: -30 }[ev.key];
      if (step) seek(video.currentTime + step);
      else if (ev.key === "Home") seek(0);
      else if (ev.key === "End") seek(duration());
      else return;
      ev.preventDefault();
    });
    for (const link of box.querySelectorAll("a.mask-link")) {
      link.addEventListener("click", (ev) => {
        ev.preventDefault();
        seek(parseFloat(link.dataset.start));
      });
    }
    // timeupdate comes a few times a second; while playing, each frame.
    const follow = () => {
      show();
      if (!video.paused && !video.ended) requestAnimationFrame(follow);
    };
    video.addEventListener("play", () => requestAnimationFrame(follow));
    for (const type of ["timeupdate", "seeked"]) video.addEventListener(type, show);
    for (const type of ["loadedmetadata", "durationchange"]) video.addEventListener(type, () => { layout(); show(); });
    layout();
    show();
  }
});

// clock formats seconds as m:ss, or h:mm:ss from an hour on, as the
// server does (recordings.go, clock).
function clock(t) {
  const s = Math.max(0, Math.floor(t));
  const mm = Math.floor(s / 60) % 60, ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? Math.floor(s / 3600) + ":" + String(mm).padStart(2, "0") + ":" + ss : Math.floor(s / 60) + ":" + ss;
}
