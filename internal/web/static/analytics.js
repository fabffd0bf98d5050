// callvault UI: speech analytics. The waveform player of a recording
// (wavesurfer.js and its regions plugin), the trends chart (uPlot) and
// the topic form's as-you-type dictionary check. Each page works without
// this script: the events are links into the audio, the chart's numbers
// are in tables, and the topic is checked again when it is saved.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const player = waveform();
  seekLinks(player);
  trendsChart();
  topicCheck();
});

// cssVar reads a colour of app.css (one place for the page and the canvas).
function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue("--" + name).trim();
}

// waveform draws the analysed call from the analysis's peaks with the
// page's <audio> as the media (so the browser streams the call with Range
// requests and never decodes all of it), a lane per channel, and a marker
// per event; a click on a marker plays from its start. Returns the seek
// function, or null without a waveform.
function waveform() {
  const box = document.getElementById("waveform");
  const dataEl = document.getElementById("analysis-data");
  if (!box || !dataEl || !window.WaveSurfer || !WaveSurfer.Regions) return null;
  const data = JSON.parse(dataEl.textContent);
  const audio = document.getElementById(data.audio);
  if (!audio) return null;
  const ws = WaveSurfer.create({
    container: box.querySelector(".wave"),
    media: audio,
    peaks: data.peaks.map((channel) => channel.map((v) => v / 100)),
    duration: data.durationMs / 1000,
    height: data.peaks.length > 1 ? 56 : 80, // of each channel
    splitChannels: data.channels.map((c) => ({ waveColor: cssVar("wave-" + c.color), progressColor: cssVar("wave-" + c.color + "-played") })),
    normalize: false,
    barWidth: 2,
    barGap: 1,
    barRadius: 1,
    cursorColor: cssVar("wave-cursor"),
    cursorWidth: 2,
    // wavesurfer styles its shadow DOM with a <style> element, which the
    // page's Content-Security-Policy admits with this nonce only.
    cspNonce: box.dataset.styleNonce,
  });
  const regions = ws.registerPlugin(WaveSurfer.Regions.create());
  const seek = (t) => {
    if (isFinite(t)) ws.setTime(Math.max(0, t));
  };
  // Markers go on once the channels are known (a marker of one speaker
  // sits on that speaker's lane).
  ws.once("ready", () => {
    data.events.forEach((e, i) => {
      const region = regions.addRegion({
        id: "ev-" + i,
        start: e.startMs / 1000,
        end: Math.max(e.endMs, e.startMs + 100) / 1000,
        color: cssVar("mark-" + e.type),
        content: e.type === "topic" ? e.label : undefined,
        channelIdx: e.channel,
        drag: false,
        resize: false,
      });
      if (region.element) {
        region.element.title = e.label;
        region.element.dataset.type = e.type;
      }
    });
    box.dataset.ready = "1";
  });
  regions.on("region-clicked", (region, ev) => {
    ev.stopPropagation(); // not also a seek to the clicked point
    seek(region.start);
  });
  return seek;
}

// seekLinks makes the event list's links seek the player (the waveform's,
// or the plain audio element) instead of opening the media file.
function seekLinks(seek) {
  const list = document.getElementById("analysis-events");
  if (!list || !list.dataset.audio) return;
  const audio = document.getElementById(list.dataset.audio);
  if (!audio) return;
  for (const link of list.querySelectorAll("a.seek")) {
    link.addEventListener("click", (ev) => {
      ev.preventDefault();
      const t = parseFloat(link.dataset.seek);
      if (seek) seek(t);
      else if (isFinite(t)) audio.currentTime = t;
    });
  }
}

// trendsChart draws the trends page's chart: a line per topic or category
// of the recordings it was found in per interval (UTC), with uPlot's
// legend; categories dashed.
function trendsChart() {
  const el = document.getElementById("trends-chart");
  const dataEl = document.getElementById("trends-data");
  if (!el || !dataEl || !window.uPlot) return;
  const data = JSON.parse(dataEl.textContent);
  const lang = document.documentElement.lang;
  const nf = new Intl.NumberFormat(lang);
  const day = new Intl.DateTimeFormat(lang, { timeZone: "UTC", month: "short", day: "numeric" });
  const date = (t) => day.format(new Date(t * 1000));
  const palette = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d", "#4d7c0f", "#1d4ed8"];
  const opts = {
    width: Math.max(320, el.clientWidth),
    height: 320,
    tzDate: (t) => uPlot.tzDate(new Date(t * 1000), "Etc/UTC"),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    series: [{ label: data.xLabel, value: (u, v) => (v == null ? "—" : date(v)) }].concat(data.series.map((s, i) => ({
      label: s.label,
      stroke: palette[i % palette.length],
      width: 2,
      dash: s.kind === "category" ? [6, 4] : undefined,
      points: { show: true },
      value: (u, v) => (v == null ? "—" : nf.format(v)),
    }))),
    axes: [
      { values: (u, splits) => splits.map(date) },
      { label: data.yLabel, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? nf.format(v) : "")) },
    ],
  };
  const plot = new uPlot(opts, [data.x].concat(data.series.map((s) => s.values)), el);
  window.addEventListener("resize", () => plot.setSize({ width: Math.max(320, el.clientWidth), height: 320 }));
}

// topicCheck runs the server's dictionary check of the topic form while
// one types (debounced): a word the recogniser does not know is named at
// once, short phrases are warned about.
function topicCheck() {
  const form = document.getElementById("topic-form");
  if (!form) return;
  const box = document.getElementById("topic-check");
  const phrases = form.querySelector("textarea[name=phrases]");
  let timer = 0;
  let latest = 0;
  const line = (cls, text) => {
    const p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    return p;
  };
  const check = async () => {
    if (phrases.value.trim() === "") {
      box.replaceChildren();
      return;
    }
    const mine = ++latest;
    box.replaceChildren(line("hint", box.dataset.checking));
    try {
      const res = await fetch(form.dataset.check, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" } });
      const info = await res.json();
      if (mine !== latest) return; // a newer check is on its way
      if (!res.ok) {
        const err = line("error", info.error || res.statusText);
        err.id = "topic-check-error";
        box.replaceChildren(err);
        return;
      }
      const out = (info.warnings || []).map((w) => line("warning", w));
      box.replaceChildren(...(out.length ? out : [line("ok", box.dataset.ok)]));
    } catch (err) {
      if (mine === latest) box.replaceChildren(line("error", err.message));
    }
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  };
  for (const el of form.querySelectorAll("input, textarea, select")) {
    el.addEventListener("input", later);
    el.addEventListener("change", later);
  }
  if (phrases.value.trim() !== "") check(); // a refused form, shown again
}
