// semfield viewer: camera controls, progressive frame requests, click/box segmentation, text queries and exports,
// talking to `semfield serve`'s JSON API (src/semfield/serve/viewer_server.h). Plain JS, no build step.
'use strict';

(function () {
  // ---- small vector helpers (3-vectors as arrays) ----
  const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const norm = (a) => Math.sqrt(dot(a, a));
  const normalize = (a) => scale(a, 1 / (norm(a) || 1));
  // Rodrigues' rotation of v about the unit axis k by angle a.
  const rotate = (v, k, a) => {
    const c = Math.cos(a), s = Math.sin(a);
    return add(add(scale(v, c), scale(cross(k, v), s)), scale(k, dot(k, v) * (1 - c)));
  };

  // ---- the camera: camera-to-world pose in OpenGL axes (x right, y up, looking down -z), plus the distance to
  // the point it orbits. Dataset cameras are used exactly as the run stores them until the user moves.
  class OrbitCamera {
    constructor() { this.x = [1, 0, 0]; this.y = [0, 1, 0]; this.z = [0, 0, 1]; this.p = [0, 0, 3]; this.d = 3;
      this.focal = 1.2; this.up = [0, 0, 1]; }
    setPose(c2w, centre) {
      const m = c2w;
      this.x = [m[0], m[4], m[8]]; this.y = [m[1], m[5], m[9]]; this.z = [m[2], m[6], m[10]];
      this.p = [m[3], m[7], m[11]];
      this.d = Math.max(0.05, dot(sub(centre, this.p), scale(this.z, -1)));
    }
    target() { return sub(this.p, scale(this.z, this.d)); }
    orthonormalize() {
      this.z = normalize(this.z);
      this.x = normalize(sub(this.x, scale(this.z, dot(this.x, this.z))));
      this.y = cross(this.z, this.x);
    }
    orbit(dx, dy) {
      const t = this.target();
      const yaw = -dx * 0.008, pitch = -dy * 0.008;
      const rot = (k, a) => {
        this.x = rotate(this.x, k, a); this.y = rotate(this.y, k, a); this.z = rotate(this.z, k, a);
        this.p = add(t, rotate(sub(this.p, t), k, a));
      };
      rot(this.up, yaw);
      const before = { x: this.x, y: this.y, z: this.z, p: this.p };
      rot(normalize(this.x), pitch);
      if (Math.abs(dot(this.z, this.up)) > 0.985) Object.assign(this, before);  // do not flip over the pole
      this.orthonormalize();
    }
    pan(dx, dy, pixels) {
      const s = this.d / (this.focal * pixels);
      this.p = add(this.p, add(scale(this.x, -dx * s), scale(this.y, dy * s)));
    }
    zoom(factor) {
      const t = this.target();
      this.d = Math.min(1e3, Math.max(0.02, this.d * factor));
      this.p = add(t, scale(this.z, this.d));
    }
    json(width, height) {
      const { x, y, z, p } = this;
      return { c2w: [x[0], y[0], z[0], p[0], x[1], y[1], z[1], p[1], x[2], y[2], z[2], p[2], 0, 0, 0, 1],
        focal: this.focal, width, height };
    }
  }

  const $ = (id) => document.getElementById(id);
  const frameCanvas = $('frame'), overlayCanvas = $('overlay'), marksCanvas = $('marks');
  const sessionId = (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : 'tab-' + Math.random().toString(36).slice(2) + Date.now().toString(36);

  const state = {
    info: null,
    camera: new OrbitCamera(),
    version: 0,            // bumps on every camera change
    changedAt: 0,          // when the camera last changed (ms)
    shown: { version: -1, stage: 0, full: false, mode: null },  // full: the frame is final (stage EXACT)
    inFlight: false,
    seq: 0,
    frameTimes: [],        // arrival times of recent frames, for the fps figure
    coarseFrames: 0,       // frames shown at the moving-camera resolution
    lastMs: 0, lastRoundTrip: 0, lastSize: 0,
    points: [],            // prompts of the current view: {x, y, positive} in full-resolution pixels
    box: null,             // [x0, y0, x1, y1] in full-resolution pixels
    promptVersion: -1,     // camera version the prompts belong to
    hasSelection: false,
    text: '',
    preparedVersion: -1,
    errorVersion: -1,      // a frame error is shown once per camera version and mode
    busy: 0,               // clicks / queries / exports in progress
  };

  const resolution = () => parseInt($('resolution').value, 10);
  const mode = () => $('mode').value;
  const stillDelay = 150;  // ms without camera motion before the full-resolution frame
  const exactDelay = 500;  // ms still after a preview before the exact (slower) render is asked for
  // Frame stages: coarse while the camera moves; a full-resolution preview (rendered against the scene's mesh,
  // quick) once it stops; then the exact volume render, which replaces the preview.
  const COARSE = 0, PREVIEW = 1, EXACT = 2;
  const previewable = (m) => !!(state.info && state.info.preview && state.info.preview.available) &&
    (m === 'rgb' || m === 'depth');

  function message(text, isError) {
    const el = $('message');
    el.textContent = text;
    el.className = isError ? 'error' : '';
  }

  async function post(path, body) {
    const response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body) });
    let data = null;
    try { data = await response.json(); } catch (e) { data = { error: `${path}: HTTP ${response.status}` }; }
    if (!response.ok) {
      const error = new Error(data && data.error ? data.error : `${path}: HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error('cannot decode image'));
      img.src = url;
    });
  }

  function drawTo(canvas, img) {
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = true;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (img) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  }

  function cameraChanged() {
    state.version += 1;
    state.changedAt = performance.now();
    drawMarks();
  }

  function setCanvasSize() {
    const r = resolution();
    frameCanvas.width = frameCanvas.height = r;
    overlayCanvas.width = overlayCanvas.height = r;
    state.shown.version = -1;
    state.points = []; state.box = null; state.promptVersion = -1;
    cameraChanged();
  }

  // ---- progressive frames: one request in flight; coarse while the camera moves, then preview, then exact ----
  async function requestFrame(stage) {
    const r = resolution();
    const size = stage === COARSE ? coarseSize(r) : r;
    const version = state.version, m = mode();
    // The server gives previews and coarse frames the quick overlay (the selection at the surface) and exact
    // full frames the refined one; a coarse preview also composites fewer field samples.
    const body = { session: sessionId, seq: ++state.seq, mode: m, camera: state.camera.json(size, size),
      overlay: $('show-overlay').checked && state.hasSelection, quality: stage === COARSE ? 'coarse' : 'full',
      render: stage < EXACT && previewable(m) ? 'preview' : 'exact' };
    if (m === 'relevancy' && state.text) body.text = state.text;
    state.inFlight = true;
    const start = performance.now();
    try {
      const data = await post('/api/frame', body);
      const [img, mask] = await Promise.all([loadImage(data.image), data.mask ? loadImage(data.mask) : null]);
      drawTo(frameCanvas, img);
      if (body.overlay) drawTo(overlayCanvas, mask); else if (!state.hasSelection) drawTo(overlayCanvas, null);
      // An exact frame at full size is final, whichever stage asked for it.
      const shownStage = data.render === 'exact' && size === r ? EXACT : stage;
      state.shown = { version, stage: shownStage, full: shownStage === EXACT, mode: m, at: performance.now() };
      if (stage === COARSE) state.coarseFrames += 1;
      const now = performance.now();
      state.frameTimes.push(now);
      while (state.frameTimes.length && now - state.frameTimes[0] > 1000) state.frameTimes.shift();
      state.lastMs = data.ms; state.lastRoundTrip = now - start; state.lastSize = size;
      if (!data.cached && (stage === COARSE || !state.msPerPixel)) {
        // Running estimates of the server's cost per pixel and of the fixed cost of a round trip.
        const perPixel = data.ms / (size * size), overhead = Math.max(0, state.lastRoundTrip - data.ms);
        state.msPerPixel = state.msPerPixel ? 0.7 * state.msPerPixel + 0.3 * perPixel : perPixel;
        state.overheadMs = state.overheadMs ? 0.7 * state.overheadMs + 0.3 * overhead : overhead;
      }
      state.lastMaskPixels = data.mask_pixels;
      showStats();
    } catch (e) {
      if (e.status !== 409) {
        // do not retry a failing frame until something changes
        state.shown = { version, stage: EXACT, full: true, mode: m };
        message(e.message, true);
      }
    } finally {
      state.inFlight = false;
    }
  }

  // Moving frames: a fixed fraction of the resolution, or (auto) the largest size whose estimated round trip
  // keeps the frame rate at 10 fps or more.
  const frameBudgetMs = 90;
  function coarseSize(r) {
    const choice = $('coarse').value;
    if (choice !== 'auto') return Math.max(16, Math.round(r / parseInt(choice, 10)));
    if (!state.msPerPixel) return Math.max(16, Math.round(r / 4));
    const budget = Math.max(10, frameBudgetMs - (state.overheadMs || 0));
    const side = Math.sqrt(budget / state.msPerPixel);
    return Math.max(16, Math.min(r / 2, Math.floor(side / 8) * 8));
  }

  async function prepareClicks() {
    // Renders the segmentation view of a still camera ahead of the click, so the click itself is quick.
    if (!state.info || !state.info.segment.available || state.preparedVersion === state.version) return;
    const r = resolution(), version = state.version;
    state.preparedVersion = version;
    state.inFlight = true;
    try { await post('/api/prepare', { session: sessionId, camera: state.camera.json(r, r) }); }
    catch (e) { /* a failed prepare only makes the next click slower */ }
    finally { state.inFlight = false; }
  }

  function showStats() {
    const fps = state.frameTimes.length;
    $('stats').textContent = `frame ${state.lastMs.toFixed(0)} ms (round trip ${state.lastRoundTrip.toFixed(0)} ms)` +
      ` · ${fps} fps · ${state.lastSize}×${state.lastSize}${[' (coarse)', ' (preview)', ''][state.shown.stage]}` +
      (state.hasSelection ? ` · mask ${state.lastMaskPixels || 0} px` : '');
  }

  function tick() {
    if (state.info && !state.inFlight && state.busy === 0) {
      const still = performance.now() - state.changedAt >= stillDelay;
      const stale = state.shown.version !== state.version || state.shown.mode !== mode();
      const m = mode();
      if (stale) requestFrame(!still ? COARSE : previewable(m) ? PREVIEW : EXACT);
      else if (still && state.shown.stage === COARSE) requestFrame(previewable(m) ? PREVIEW : EXACT);
      else if (still && state.shown.stage === PREVIEW && performance.now() - state.shown.at >= exactDelay)
        requestFrame(EXACT);
      else if (still && !state.hasSelection) prepareClicks();
    }
    requestAnimationFrame(tick);
  }

  // ---- prompts ----
  function drawMarks() {
    const ctx = marksCanvas.getContext('2d');
    ctx.clearRect(0, 0, marksCanvas.width, marksCanvas.height);
    if (state.promptVersion !== state.version) return;
    const s = marksCanvas.width / resolution();
    for (const p of state.points) {
      ctx.beginPath();
      ctx.arc((p.x + 0.5) * s, (p.y + 0.5) * s, 5, 0, 2 * Math.PI);
      ctx.fillStyle = p.positive ? '#40c057' : '#fa5252';
      ctx.fill();
      ctx.strokeStyle = 'white';
      ctx.stroke();
    }
    if (state.box) {
      const [x0, y0, x1, y1] = state.box;
      ctx.strokeStyle = '#ffd43b';
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 * s, y0 * s, (x1 - x0 + 1) * s, (y1 - y0 + 1) * s);
    }
  }

  async function sendPrompts() {
    const r = resolution();
    const body = { session: sessionId, camera: state.camera.json(r, r),
      positive: state.points.filter((p) => p.positive).map((p) => [p.x, p.y]),
      negative: state.points.filter((p) => !p.positive).map((p) => [p.x, p.y]) };
    if (state.box) body.box = state.box;
    if (body.positive.length === 0 && !state.box) { message('add a positive click or a box first', true); return; }
    state.busy += 1;
    const start = performance.now();
    try {
      const data = await post('/api/click', body);
      const mask = await loadImage(data.mask);
      state.hasSelection = true;
      if ($('show-overlay').checked) drawTo(overlayCanvas, mask);
      const total = performance.now() - start;
      state.lastClickMs = total;
      message(`mask: ${data.pixels} pixels (server ${data.ms.toFixed(0)} ms, click to overlay ${total.toFixed(0)} ms)`);
    } catch (e) {
      message(e.message, true);
    } finally {
      state.busy -= 1;
    }
  }

  function addPoint(px, py, positive) {
    const r = resolution();
    const x = Math.min(r - 1, Math.max(0, px)), y = Math.min(r - 1, Math.max(0, py));
    if (state.promptVersion !== state.version) { state.points = []; state.box = null; }
    state.promptVersion = state.version;
    state.points.push({ x, y, positive });
    drawMarks();
    sendPrompts();
  }

  // ---- pointer and wheel ----
  let drag = null;
  const toPixels = (event) => {
    const rect = marksCanvas.getBoundingClientRect();
    const r = resolution();
    return [(event.clientX - rect.left) / rect.width * r, (event.clientY - rect.top) / rect.height * r];
  };
  marksCanvas.addEventListener('contextmenu', (e) => e.preventDefault());
  marksCanvas.addEventListener('pointerdown', (e) => {
    marksCanvas.setPointerCapture(e.pointerId);
    const tool = document.querySelector('input[name=tool]:checked').value;
    drag = { x: e.clientX, y: e.clientY, lastX: e.clientX, lastY: e.clientY, button: e.button, shift: e.shiftKey,
      ctrl: e.ctrlKey || e.metaKey, moved: false, box: tool === 'box' && e.button === 0, start: toPixels(e) };
  });
  marksCanvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.lastX, dy = e.clientY - drag.lastY;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    if (!drag.moved) return;
    drag.lastX = e.clientX; drag.lastY = e.clientY;
    if (drag.box) {
      const [x1, y1] = toPixels(e);
      const r = resolution();
      const clamp = (v) => Math.min(r - 1, Math.max(0, Math.floor(v)));
      state.box = [clamp(Math.min(drag.start[0], x1)), clamp(Math.min(drag.start[1], y1)),
        clamp(Math.max(drag.start[0], x1)), clamp(Math.max(drag.start[1], y1))];
      if (state.promptVersion !== state.version) state.points = [];
      state.promptVersion = state.version;
      drawMarks();
      return;
    }
    const rect = marksCanvas.getBoundingClientRect();
    if (drag.button === 1 || drag.button === 2 || drag.ctrl) state.camera.pan(dx, dy, rect.width);
    else state.camera.orbit(dx, dy);
    cameraChanged();
  });
  marksCanvas.addEventListener('pointerup', (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.box && d.moved) { sendPrompts(); return; }
    if (d.moved) return;
    const [x, y] = toPixels(e);
    addPoint(Math.floor(x), Math.floor(y), !(d.shift || d.button === 2));
  });
  marksCanvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    state.camera.zoom(Math.exp(e.deltaY * 0.001));
    cameraChanged();
  }, { passive: false });

  // ---- controls ----
  function jumpTo(index) {
    const record = state.info.cameras[index];
    if (!record) return;
    state.camera.focal = record.camera.focal;
    state.camera.setPose(record.camera.c2w, state.info.centre);
    cameraChanged();
  }

  async function download(url, filename) {
    state.busy += 1;
    message(`exporting ${filename}…`);
    try {
      const response = await fetch(url);
      if (!response.ok) {
        let text = `HTTP ${response.status}`;
        try { text = (await response.json()).error; } catch (e) { /* keep the status */ }
        throw new Error(text);
      }
      const blob = await response.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = filename;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      message(`exported ${filename} (${blob.size} bytes)`);
    } catch (e) {
      message(e.message, true);
    } finally {
      state.busy -= 1;
    }
  }

  $('cameras').addEventListener('change', (e) => jumpTo(parseInt(e.target.value, 10)));
  $('mode').addEventListener('change', () => { state.changedAt = performance.now(); message(''); });
  $('resolution').addEventListener('change', setCanvasSize);
  $('show-overlay').addEventListener('change', () => { if (!$('show-overlay').checked) drawTo(overlayCanvas, null);
    state.shown.version = -1; });
  $('lift').addEventListener('click', async () => {
    try {
      const data = await post('/api/lift', { session: sessionId });
      message(`lifted to 3D: ${data.voxels} voxels selected`);
      state.points = []; state.box = null; state.promptVersion = -1; drawMarks();
    } catch (e) { message(e.message, true); }
  });
  $('clear').addEventListener('click', async () => {
    try { await post('/api/reset', { session: sessionId }); } catch (e) { message(e.message, true); return; }
    state.hasSelection = false; state.points = []; state.box = null; state.promptVersion = -1;
    drawTo(overlayCanvas, null); drawMarks(); message('selection cleared');
  });
  $('export-ply').addEventListener('click', () => download(`/api/export/mesh?session=${sessionId}&format=ply`, 'object.ply'));
  $('export-glb').addEventListener('click', () => download(`/api/export/mesh?session=${sessionId}&format=glb`, 'object.glb'));
  $('export-mask').addEventListener('click', () => download(`/api/export/mask?session=${sessionId}`, 'mask.png'));
  $('query-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('query-text').value.trim();
    if (!text) { message('type a phrase to query', true); return; }
    const r = resolution();
    state.busy += 1;
    try {
      const data = await post('/api/query', { session: sessionId, camera: state.camera.json(r, r), text });
      state.text = text;
      $('mode').value = 'relevancy';
      drawTo(frameCanvas, await loadImage(data.image));
      state.shown = { version: state.version, stage: EXACT, full: true, mode: 'relevancy' };
      message(`"${text}": ${data.pixels} pixels with relevancy > 0.5 (${data.ms.toFixed(0)} ms)`);
    } catch (err) {
      message(err.message, true);
    } finally {
      state.busy -= 1;
    }
  });

  // ---- start ----
  async function start() {
    try {
      const response = await fetch('/api/info');
      state.info = await response.json();
    } catch (e) {
      message('cannot reach the server: ' + e.message, true);
      return;
    }
    const info = state.info;
    $('run-name').textContent = info.run;
    state.camera.up = info.up;
    for (const option of $('mode').options) {
      const m = info.modes[option.value];
      if (m && !m.available) option.title = m.reason;
    }
    info.cameras.forEach((record, i) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = `${record.name} (${record.split})`;
      $('cameras').appendChild(option);
    });
    if (!info.segment.available) message(info.segment.reason, true);
    if (info.cameras.length) { $('cameras').value = '0'; jumpTo(0); }
    requestAnimationFrame(tick);
  }

  // For tests and the curious: the state, and whether the full frame of the current camera is on screen.
  window.viewer = {
    state, sessionId,
    idle: () => !!state.info && !state.inFlight && state.busy === 0 && state.shown.version === state.version &&
      state.shown.full && state.shown.mode === mode(),
  };
  start();
})();
