// The per-cycle timeline viewer of a bitsmith report (timeline.py describes the data).
// Zoomed out it draws the overview buckets; zoomed in to at most DETAIL_PAGES pages it
// draws the runs of those pages, parsing each page the first time it is needed. The
// readout under the canvas is exact at any zoom: it reads the cursor's own page.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("tl-data").textContent);
  const canvas = document.getElementById("tl-canvas");
  const ctx = canvas.getContext("2d");
  const LABEL_W = 180, ROW_H = 22, AXIS_H = 20, DETAIL_PAGES = 16, MIN_SPAN = 8;
  const BUSY = "#2f6fb0", STALL = "#c0392b", SHADE = "rgba(0,0,0,0.07)";
  const last = Math.max(data.cycles - 1, 0);
  const parsed = new Map();
  const view = { start: 0, span: Math.max(data.cycles, 1), cursor: 0, timer: null };

  function page(index) {
    let runs = parsed.get(index);
    if (runs === undefined) {
      const text = data.pages[index] || "";
      runs = text ? text.split(",").map(Number) : [];
      parsed.set(index, runs);
    }
    return runs;
  }

  // [lane index, step] of every unit busy in `cycle`, in display order.
  function busyAt(cycle) {
    const runs = page(Math.floor(cycle / data.page));
    const busy = [];
    for (let i = 0; i < runs.length; i += 4) {
      if (runs[i + 1] <= cycle && cycle < runs[i + 2]) busy.push([runs[i], runs[i + 3]]);
    }
    return busy.sort((a, b) => a[0] - b[0]);
  }

  function clampView() {
    view.span = Math.min(Math.max(view.span, MIN_SPAN), Math.max(data.cycles, 1));
    view.start = Math.min(Math.max(view.start, 0), Math.max(data.cycles - view.span, 0));
  }

  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(canvas.parentElement.clientWidth - 2, 400);  // less the border
    const height = AXIS_H + data.lanes.length * ROW_H;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const plotW = width - LABEL_W;
    const x = (cycle) => LABEL_W + ((cycle - view.start) / view.span) * plotW;
    const end = view.start + view.span;
    ctx.font = "12px sans-serif";
    ctx.textBaseline = "middle";
    data.lanes.forEach((lane, row) => {
      const y = AXIS_H + row * ROW_H;
      if (row % 2 === 0) { ctx.fillStyle = SHADE; ctx.fillRect(LABEL_W, y, plotW, ROW_H); }
      ctx.fillStyle = "#222";
      ctx.fillText(lane.label, 4, y + ROW_H / 2);
    });
    const detailed = view.span <= DETAIL_PAGES * data.page;
    if (detailed) drawRuns(x, end);
    if (!detailed || end > data.completeUntil) drawOverview(x, detailed ? data.completeUntil : view.start, end);
    drawAxis(x, plotW, end);
    const cx = x(view.cursor), cw = Math.max(plotW / view.span, 1);
    ctx.fillStyle = "rgba(255,170,0,0.35)";
    ctx.fillRect(cx, AXIS_H, cw, height - AXIS_H);
    ctx.fillStyle = "#e08000";
    ctx.fillRect(cx, AXIS_H, 1, height - AXIS_H);
    readout();
  }

  function drawRuns(x, end) {
    for (let p = Math.floor(view.start / data.page); p * data.page < end && p < data.pages.length; p++) {
      const runs = page(p);
      for (let i = 0; i < runs.length; i += 4) {
        const [lane, first, stop, step] = [runs[i], runs[i + 1], runs[i + 2], runs[i + 3]];
        if (stop <= view.start || first >= end) continue;
        const x0 = x(Math.max(first, view.start)), x1 = x(Math.min(stop, end));
        const y = AXIS_H + lane * ROW_H + 3;
        ctx.fillStyle = data.lanes[lane].stall ? STALL : BUSY;
        ctx.fillRect(x0, y, Math.max(x1 - x0, 1), ROW_H - 6);
        if (x1 - x0 > 28 && (first >= view.start || p === Math.floor(view.start / data.page))) {
          ctx.fillStyle = "#fff";
          ctx.fillText("s" + step, x0 + 3, y + (ROW_H - 6) / 2);
        }
      }
    }
  }

  function drawOverview(x, from, end) {
    const first = Math.floor(from / data.bucket);
    data.lanes.forEach((lane, row) => {
      const counts = data.overview[row];
      ctx.fillStyle = lane.stall ? STALL : BUSY;
      for (let b = first; b * data.bucket < end && b < counts.length; b++) {
        if (!counts[b]) continue;
        const lo = Math.max(b * data.bucket, from), hi = Math.min((b + 1) * data.bucket, end);
        ctx.globalAlpha = Math.min(1, 0.25 + (0.75 * counts[b]) / data.bucket);
        ctx.fillRect(x(lo), AXIS_H + row * ROW_H + 3, Math.max(x(hi) - x(lo), 1), ROW_H - 6);
      }
    });
    ctx.globalAlpha = 1;
  }

  function drawAxis(x, plotW, end) {
    const raw = view.span / Math.max(plotW / 90, 1);
    const power = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    const tick = [1, 2, 5, 10].map((m) => m * power).find((t) => t >= raw) || power * 10;
    ctx.fillStyle = "#555";
    ctx.textBaseline = "top";
    for (let c = Math.ceil(view.start / tick) * tick; c <= end; c += tick) {
      ctx.fillRect(x(c), AXIS_H - 5, 1, 5);
      ctx.fillText(String(c), x(c) + 2, 2);
    }
    ctx.textBaseline = "middle";
  }

  function readout() {
    document.getElementById("tl-cycle").textContent = String(view.cursor);
    const field = document.getElementById("tl-jump");
    if (document.activeElement !== field) field.value = String(view.cursor);
    document.getElementById("tl-window").textContent =
      "showing cycles " + Math.floor(view.start) + "–" + Math.ceil(view.start + view.span) + " of " + data.cycles;
    const list = document.getElementById("tl-busy");
    list.textContent = "";
    if (view.cursor >= data.completeUntil) {
      const item = document.createElement("li");
      item.textContent = "detail kept up to cycle " + data.completeUntil + " only (see the note above)";
      list.appendChild(item);
      return;
    }
    const busy = busyAt(view.cursor);
    for (const [lane, step] of busy) {
      const item = document.createElement("li");
      item.dataset.lane = data.lanes[lane].key;
      item.dataset.step = String(step);
      item.className = data.lanes[lane].stall ? "stall" : "busy";
      item.textContent = data.lanes[lane].label + " (step " + step + ")";
      list.appendChild(item);
    }
    if (!busy.length) {
      const item = document.createElement("li");
      item.textContent = "every unit idle";
      list.appendChild(item);
    }
  }

  function moveTo(cycle) {
    view.cursor = Math.min(Math.max(Math.round(cycle), 0), last);
    if (view.cursor < view.start || view.cursor >= view.start + view.span) {
      view.start = view.cursor - view.span / 10;
      clampView();
    }
    draw();
  }

  function zoom(factor, around) {
    const centre = around === undefined ? view.cursor : around;
    const span = view.span;
    view.span = span * factor;
    clampView();
    view.start = centre - ((centre - view.start) * view.span) / span;
    clampView();
    draw();
  }

  function play() {
    const button = document.getElementById("tl-play");
    if (view.timer !== null) {
      clearInterval(view.timer);
      view.timer = null;
      button.textContent = "▶ play";
      return;
    }
    button.textContent = "⏸ pause";
    view.timer = setInterval(() => {
      if (view.cursor >= last) { play(); return; }
      moveTo(view.cursor + Math.max(1, Math.round(view.span / 200)));
    }, 40);
  }

  const on = (id, handler) => document.getElementById(id).addEventListener("click", handler);
  on("tl-prev", () => moveTo(view.cursor - 1));
  on("tl-next", () => moveTo(view.cursor + 1));
  on("tl-play", play);
  on("tl-go", () => moveTo(Number(document.getElementById("tl-jump").value) || 0));
  on("tl-zoom-in", () => zoom(0.5));
  on("tl-zoom-out", () => zoom(2));
  on("tl-fit", () => { view.start = 0; view.span = data.cycles; clampView(); draw(); });
  document.getElementById("tl-jump").addEventListener("keydown", (event) => {
    if (event.key === "Enter") moveTo(Number(event.target.value) || 0);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT") return;
    const keys = { ArrowRight: () => moveTo(view.cursor + 1), ArrowLeft: () => moveTo(view.cursor - 1),
      "+": () => zoom(0.5), "=": () => zoom(0.5), "-": () => zoom(2), " ": play,
      Home: () => moveTo(0), End: () => moveTo(last) };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  const cycleAt = (event) => {
    const box = canvas.getBoundingClientRect();
    return view.start + ((event.clientX - box.left - LABEL_W) / (box.width - LABEL_W)) * view.span;
  };
  canvas.addEventListener("click", (event) => { if (cycleAt(event) >= view.start) moveTo(Math.floor(cycleAt(event))); });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom(event.deltaY < 0 ? 0.8 : 1.25, cycleAt(event));
  }, { passive: false });
  window.addEventListener("resize", draw);
  document.getElementById("tl-title").textContent = data.title + " — " + data.cycles + " cycles";
  document.getElementById("tl-jump").max = String(last);
  draw();
})();
